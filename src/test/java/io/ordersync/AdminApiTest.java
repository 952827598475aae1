package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The REST API: every endpoint needs credentials, does its job, and answers bad input clearly. */
class AdminApiTest extends AppTestSupport {

    private HttpResponse<String> raw(String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(app.url(path)))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        boolean typed = false;
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
            typed |= headers[i].equalsIgnoreCase("Content-Type");
        }
        if (body != null && !typed) {
            b.header("Content-Type", "application/json");
        }
        return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static final String[][] ENDPOINTS = {
            {"GET", "/api/providers"}, {"GET", "/api/providers/crm/file"}, {"GET", "/api/queue"}, {"POST", "/api/queue/retry"}, {"POST", "/api/queue/1/retry"},
            {"POST", "/api/queue/1/cancel"}, {"POST", "/api/queue/cancel"}, {"GET", "/api/orders/democon/ABC12"},
            {"POST", "/api/orders/democon/ABC12/sync"}, {"POST", "/api/providers/crm/backfill"}, {"GET", "/api/rejected"},
            {"GET", "/api/rejected/1"}, {"POST", "/api/rejected/1/resubmit"}, {"POST", "/api/rejected/1/discard"},
            {"POST", "/api/preview"}, {"POST", "/api/events"}, {"POST", "/api/logout"}};

    @Test
    void everyEndpointNeedsCredentials() throws Exception {
        startWithCrm();
        for (String[] e : ENDPOINTS) {
            HttpResponse<String> none = raw(e[0], e[1], "{}");
            assertThat(none.statusCode()).as(e[0] + " " + e[1]).isEqualTo(401);
            assertThat(none.body()).contains("authentication required");
            // wrong credentials: 401, or 429 once this client is locked out after five of them (AuthSecurityTest)
            assertThat(raw(e[0], e[1], "{}", "Authorization", "Bearer wrong").statusCode()).as(e[1]).isIn(401, 429);
            assertThat(raw(e[0], e[1], "{}", "Authorization", "Basic " + Base64.getEncoder().encodeToString("admin:wrong".getBytes()))
                    .statusCode()).as(e[1]).isIn(401, 429);
        }
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).as("nothing reached intake").isZero();
    }

    /** The REST binding parses bodies: what it cannot parse is a plain 400 that shows no exception, and changes nothing. */
    @Test
    void bodiesThatAreNotAJsonObjectAreA400WithoutInternals() throws Exception {
        startWithCrm();
        String admin = "Bearer " + OrdersyncApp.ADMIN_TOKEN;
        for (String bad : new String[]{"{not json", "[1, 2]", "\"text\"", "{\"ids\": [1,", "{\"a\": " + "[".repeat(5000)}) {
            for (String[] e : new String[][]{{"POST", "/api/queue/retry"}, {"POST", "/api/queue/cancel"}, {"POST", "/api/preview"},
                    {"POST", "/api/providers/crm/backfill"}, {"POST", "/api/orders/democon/ABC12/sync"}}) {
                for (String auth : new String[]{admin, "Bearer wrong"}) {
                    HttpResponse<String> r = raw(e[0], e[1], bad, "Authorization", auth);
                    assertThat(r.statusCode()).as(e[1] + " " + bad.length()).isIn(400, 401, 429);
                    assertThat(r.body()).as(e[1]).doesNotContain("Exception").doesNotContain("at io.").doesNotContain("at org.")
                            .doesNotContain("jackson");
                }
            }
        }
        // a body over camel.server.max-body-size is refused before anything parses it, with or without credentials
        String huge = "{\"ids\": [" + "1,".repeat(1_200_000) + "1]}";
        assertThat(raw("POST", "/api/queue/retry", huge, "Authorization", "Bearer wrong").statusCode()).isEqualTo(413);
        assertThat(raw("POST", "/api/queue/retry", huge, "Authorization", admin).statusCode()).isEqualTo(413);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).as("nothing was queued").isZero();
        // a JSON object still works after all that
        assertThat(raw("POST", "/api/queue/retry", "{\"ids\": []}", "Authorization", admin).statusCode()).isEqualTo(200);
    }

    @Test
    void uiPagesRedirectToTheLoginAndAGetChangesNothing() throws Exception {
        startWithCrm();
        HttpResponse<String> ui = raw("GET", "/ui/", null);
        assertThat(ui.statusCode()).isEqualTo(302);
        assertThat(ui.headers().firstValue("Location")).hasValue("/login");
        assertThat(raw("GET", "/login", null).statusCode()).isEqualTo(200);
        assertThat(raw("GET", "/api/queue/1/retry", null, "Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).statusCode())
                .as("retry is POST only").isNotEqualTo(200);
    }

    @Test
    void withoutConfiguredCredentialsEverythingIsRefusedWithAHint() throws Exception {
        startWithCrm(5, "5s", Map.of("ordersync.admin.token", ""));
        HttpResponse<String> r = raw("GET", "/api/providers", null, "Authorization", "Bearer ");
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.body()).contains("no admin credentials are configured");
    }

    @Test
    void loginWithUserAndPasswordGivesASessionCookieThatNeedsTheRequestHeaderToChangeState() throws Exception {
        startWithCrm(5, "5s", Map.of("ordersync.admin.username", "admin", "ordersync.admin.password", "pw"));
        assertThat(raw("POST", "/api/login", "{\"username\":\"admin\",\"password\":\"nope\"}").statusCode()).isEqualTo(401);
        // curl -d sends form content type: still a clear answer, and the body never becomes a header
        assertThat(raw("POST", "/api/login", "{\"username\":\"admin\",\"password\":\"pw\"}",
                "Content-Type", "application/x-www-form-urlencoded").statusCode()).isEqualTo(415);
        HttpResponse<String> login = raw("POST", "/api/login", "{\"username\":\"admin\",\"password\":\"pw\"}");
        assertThat(login.statusCode()).isEqualTo(200);
        String cookie = login.headers().firstValue("Set-Cookie").orElseThrow();
        assertThat(cookie).contains("HttpOnly").contains("SameSite=Strict");
        String session = cookie.substring(0, cookie.indexOf(';'));
        assertThat(raw("GET", "/api/providers", null, "Cookie", session).statusCode()).isEqualTo(200);
        assertThat(raw("GET", "/ui/", null, "Cookie", session).statusCode()).isEqualTo(200);
        assertThat(raw("POST", "/api/queue/retry", "{\"ids\":[]}", "Cookie", session).statusCode()).as("no CSRF header").isEqualTo(403);
        assertThat(raw("POST", "/api/queue/retry", "{\"ids\":[]}", "Cookie", session, "X-Ordersync-Request", "1").statusCode()).isEqualTo(200);
        assertThat(raw("GET", "/api/providers", null, "Authorization", "Basic " + Base64.getEncoder().encodeToString("admin:pw".getBytes()))
                .statusCode()).isEqualTo(200);
        var out = raw("POST", "/api/logout", null, "Cookie", session, "X-Ordersync-Request", "1");
        // an object, not a JSON string holding one
        assertThat(JSON.readTree(out.body()).path("ok").asBoolean()).as(out.body()).isTrue();
        assertThat(raw("GET", "/api/providers", null, "Cookie", session).statusCode()).isEqualTo(401);
    }

    /** Paging of the rejected events as of the other lists: out of range or not a number is a 400 (3000000000 was a 500). */
    @Test
    void rejectedEventsPageAsTheOtherLists() throws Exception {
        startWithCrm();
        for (String bad : new String[]{"offset=3000000000", "offset=-1", "limit=0", "limit=100000", "limit=x", "offset=x"}) {
            var r = app.get("/api/rejected?" + bad);
            assertThat(r.statusCode()).as(bad).isEqualTo(400);
            assertThat(JSON.readTree(r.body()).path("error").asText()).as(bad).contains("offset must be 0 to 10000000");
        }
        assertThat(app.get("/api/rejected?offset=0&limit=1000").statusCode()).isEqualTo(200);
    }

    @Test
    void providersShowStateCountsAndActivityWithoutSecrets() throws Exception {
        startWithCrm();
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();
        HttpResponse<String> r = app.get("/api/providers");
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode crm = JSON.readTree(r.body()).get(0);
        assertThat(crm.path("identifier").asText()).isEqualTo("crm");
        assertThat(crm.path("status").asText()).isEqualTo("active");
        assertThat(crm.path("synced_24h").asInt()).isEqualTo(1);
        assertThat(crm.path("last_success").asText()).isNotEmpty();
        assertThat(crm.path("queue").path("waiting").asInt()).isZero();
        assertThat(r.body()).doesNotContain("s3cret");
        HttpResponse<String> file = app.get("/api/providers/crm/file");
        assertThat(file.statusCode()).isEqualTo(200);
        assertThat(file.body()).contains("identifier: crm").contains("{{test.crm.token}}");
        assertThat(app.get("/api/providers/nope/file").statusCode()).isEqualTo(404);
    }

    /**
     * A row whose sync is under way: a retry answers 409 and a cancel skips it, both leaving it as it is (its
     * sync's outcome is stored); a waiting row is canceled by its id alone.
     */
    @Test
    void aRowInFlightIsNeitherRetriedNorCanceledAWaitingOneIsCanceled() throws Exception {
        startWithCrm(5, "1h", 30_000, Map.of("ordersync.redelivery.maximum", "0"));
        // the create takes 12 s, under the response timeout: the checks below run while it is under way, however slow
        // the machine (3 s was a bet on it)
        target.stallNext(1, "POST /contacts", 12_000);
        app.post("/api/events", fixture("order-xyz34").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> target.requests().stream().anyMatch(r -> r.method().equals("POST")));
        long id = (Long) app.query("SELECT id FROM sync_queue WHERE order_code = 'XYZ34'").get(0).get("id");
        Map<String, Object> before = app.query("SELECT slot, failed_attempts, claim_token, claimed_by FROM sync_queue WHERE id = ?", id).get(0);

        HttpResponse<String> retry = app.post("/api/queue/" + id + "/retry", "");
        assertThat(retry.statusCode()).isEqualTo(409);
        assertThat(JSON.readTree(retry.body()).path("error").asText()).isEqualTo("queue row " + id + " is being synced right now");
        JsonNode cancel = JSON.readTree(app.post("/api/queue/" + id + "/cancel", "").body());
        assertThat(cancel.path("canceled")).isEmpty();
        assertThat(app.query("SELECT slot, failed_attempts, claim_token, claimed_by FROM sync_queue WHERE id = ?", id)).containsExactly(before);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind IN ('retry', 'canceled')")).isZero();
        // the stalled create answers: the sync ends as it would have
        await().atMost(Duration.ofSeconds(40)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
        assertThat(target.objects("contacts")).hasSize(1);

        // a row waiting for its retry (the target failed it): canceled by its id, logged, never sent again
        target.failAlways(500);
        ObjectNode doc = fixture("order-xyz34");
        ((ObjectNode) doc.path("order")).put("code", "W1");
        app.post("/api/events", doc.toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE order_code = 'W1' AND failed_attempts = 1") == 1);
        long waiting = (Long) app.query("SELECT id FROM sync_queue WHERE order_code = 'W1'").get(0).get("id");
        JsonNode canceled = JSON.readTree(app.post("/api/queue/" + waiting + "/cancel", "").body());
        assertThat(canceled.path("canceled")).extracting(JsonNode::asLong).containsExactly(waiting);
        assertThat(canceled.path("id").asLong()).isEqualTo(waiting);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE order_code = 'W1'")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE order_code = 'W1' AND kind = 'canceled'")).isEqualTo(1);
        assertThat(app.post("/api/queue/" + waiting + "/retry", "").statusCode()).isEqualTo(404);
    }

    @Test
    void queueListingFiltersAndPagesAndBulkActionsWork() throws Exception {
        startWithCrm(1, "1h", Map.of());
        target.failAlways(500);
        for (int i = 0; i < 5; i++) {
            ObjectNode doc = fixture("order-xyz34");
            ((ObjectNode) doc.path("order")).put("code", "Q" + i);
            app.post("/api/events", doc.toString());
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'exceeded'") == 5);
        JsonNode page = JSON.readTree(app.get("/api/queue?provider=crm&state=parked&mode=exceeded&event=democon&limit=2&offset=1").body());
        assertThat(page.path("total").asInt()).isEqualTo(5);
        assertThat(page.path("rows")).hasSize(2);
        assertThat(page.path("rows").get(0).path("failure_description").asText()).isEqualTo("Temporary error, auto-retry limit exceeded");
        assertThat(app.get("/api/queue?state=bogus").statusCode()).isEqualTo(400);
        assertThat(app.get("/api/queue?limit=0").statusCode()).isEqualTo(400);

        long first = page.path("rows").get(0).path("id").asLong();
        JsonNode canceled = JSON.readTree(app.post("/api/queue/cancel", "{\"ids\": [" + first + ", 99999]}").body());
        assertThat(canceled.path("canceled")).hasSize(1);
        assertThat(canceled.path("skipped").get(0).asLong()).isEqualTo(99999);
        assertThat(app.post("/api/queue/cancel", "{}").statusCode()).isEqualTo(400);
        assertThat(app.post("/api/queue/abc/cancel", "").statusCode()).isEqualTo(400);

        target.failAlways(0);
        // a mistyped mode, a provider that is not a name, or one neither in the files nor in the queue: retried
        // nothing and answered 200 before
        assertThat(app.post("/api/queue/retry", "{\"provider\": \"crm\", \"mode\": \"exceded\"}").statusCode()).isEqualTo(400);
        assertThat(app.post("/api/queue/retry", "{\"provider\": [\"crm\"]}").statusCode()).isEqualTo(400);
        assertThat(app.post("/api/queue/retry", "{\"provider\": \"crm\", \"mode\": 1}").statusCode()).isEqualTo(400);
        HttpResponse<String> unknown = app.post("/api/queue/retry", "{\"provider\": \"crn\"}");
        assertThat(unknown.statusCode()).as(unknown.body()).isEqualTo(404);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'exceeded'")).isEqualTo(4);
        // a provider only another instance runs (its rows are here, its file is not): known, and its parked row retried
        try (var c = app.dataSource().getConnection(); var s = c.createStatement()) {
            s.executeUpdate("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, triggered_at, not_before, "
                    + "failed_attempts, need_manual_retry) SELECT event_slug, order_code, 'elsewhere', slot, triggered_by, triggered_at, "
                    + "not_before, failed_attempts, need_manual_retry FROM sync_queue WHERE id = " + page.path("rows").get(1).path("id").asLong());
        }
        HttpResponse<String> elsewhere = app.post("/api/queue/retry", "{\"provider\": \"elsewhere\", \"mode\": \"exceeded\"}");
        assertThat(elsewhere.statusCode()).as(elsewhere.body()).isEqualTo(200);
        assertThat(JSON.readTree(elsewhere.body()).path("retried").asInt()).isEqualTo(1);
        try (var c = app.dataSource().getConnection(); var s = c.createStatement()) {
            // this instance would drop it after the presence guard's wait; not this test's subject
            s.executeUpdate("DELETE FROM sync_queue WHERE provider = 'elsewhere'");
        }
        JsonNode retried = JSON.readTree(app.post("/api/queue/retry", "{\"provider\": \"crm\", \"mode\": \"exceeded\"}").body());
        assertThat(retried.path("retried").asInt()).isEqualTo(4);
        assertThat(app.post("/api/queue/retry", "{}").statusCode()).isEqualTo(400);
        assertThat(app.post("/api/queue/retry", "not json").statusCode()).isEqualTo(400);
        awaitQueueEmpty();
        assertThat(target.objects("tickets")).hasSize(4);
        assertThat(app.query("SELECT kind FROM order_log WHERE kind = 'canceled'")).hasSize(1);
    }

    @Test
    void syncNowAndBackfillQueueKnownOrders() throws Exception {
        startWithCrm();
        app.post("/api/events", fixture("order-abc12").toString());
        app.post("/api/events", fixture("order-xyz34").toString());
        awaitQueueEmpty();
        target.clearRequests();
        HttpResponse<String> now = app.post("/api/orders/democon/ABC12/sync", "{\"provider\": \"crm\"}");
        assertThat(now.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(now.body()).path("queued").get(0).path("provider").asText()).isEqualTo("crm");
        awaitQueueEmpty();
        assertThat(target.requests()).isNotEmpty();
        assertThat(app.post("/api/orders/democon/NOPE/sync", "{}").statusCode()).isEqualTo(404);
        assertThat(app.post("/api/orders/democon/ABC12/sync", "{\"provider\": \"nope\"}").statusCode()).isEqualTo(404);

        HttpResponse<String> backfill = app.post("/api/providers/crm/backfill", "{\"event\": \"democon\"}");
        assertThat(backfill.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(backfill.body()).path("queued").asInt()).isEqualTo(2);
        awaitQueueEmpty();
        assertThat(app.post("/api/providers/crm/backfill", "{}").statusCode()).isEqualTo(400);
        assertThat(app.post("/api/providers/nope/backfill", "{\"event\": \"democon\"}").statusCode()).isEqualTo(404);
        assertThat(target.objects("contacts")).hasSize(2);
    }

    @Test
    void syncNowAndBackfillKeepToTheProvidersFilter() throws Exception {
        // before: both queued every order asked for, and a mailing list whose filter takes only consenting
        // customers got everyone of the event from a backfill
        startWithPaidOnlyCrm(2000, Map.of());
        app.post("/api/events", fixture("order-abc12").toString()); // paid
        app.post("/api/events", fixture("order-xyz34").toString()); // pending: not queued
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
        target.clearRequests();

        HttpResponse<String> one = app.post("/api/orders/democon/XYZ34/sync", "{\"provider\": \"crm\"}");
        assertThat(one.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(one.body()).path("queued")).isEmpty();
        assertThat(JSON.readTree(one.body()).path("skipped").get(0).path("reason").asText()).contains("filter");
        HttpResponse<String> every = app.post("/api/orders/democon/XYZ34/sync", "{}");
        assertThat(JSON.readTree(every.body()).path("skipped").get(0).path("provider").asText()).isEqualTo("crm");
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        assertThat(JSON.readTree(app.post("/api/orders/democon/ABC12/sync", "{}").body()).path("queued")).hasSize(1);
        awaitQueueEmpty();

        HttpResponse<String> backfill = app.post("/api/providers/crm/backfill", "{\"event\": \"democon\"}");
        assertThat(backfill.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(backfill.body()).path("queued").asInt()).isEqualTo(1);
        assertThat(JSON.readTree(backfill.body()).path("skipped").asInt()).isEqualTo(1);
        awaitQueueEmpty();
        assertThat(target.requests()).isNotEmpty().noneMatch(r -> (r.body() + r.query()).contains("anna@example.com"));
        assertThat(target.objects("contacts")).hasSize(1);
        assertThat(JSON.readTree(app.post("/api/providers/crm/backfill", "{\"event\": \"no-such-event\"}").body())
                .path("queued").asInt()).isZero();
    }

    @Test
    void aBackfillOfManyOrdersGoesChunkByChunkAndCountsWhatItLeftOut() throws Exception {
        startWithPaidOnlyCrm(2000, Map.of());
        target.failAlways(503); // nothing synced meanwhile: the backfill's rows are what is counted below
        for (int i = 0; i < 130; i++) { // more than one chunk of a hundred
            ObjectNode doc = fixture("order-abc12");
            ((ObjectNode) doc.path("order")).put("code", "B" + i);
            ((ObjectNode) doc.path("order")).put("status", i % 5 == 0 ? "n" : "p");
            doc.put("type", "order.canceled"); // not a trigger: intake queues none of them
            assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        }
        // a stored document an earlier version took in and this one no longer reads
        try (var c = app.dataSource().getConnection(); var st = c.createStatement()) {
            st.executeUpdate("INSERT INTO order_snapshot (event_slug, order_code, event_type, document, received_at) VALUES "
                    + "('democon', 'B999', 'order.paid', '{\"type\":\"order.paid\"}', CURRENT_TIMESTAMP)");
        }
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        // Sync now of that order: 409, nothing queued (API.md)
        HttpResponse<String> syncUnreadable = app.post("/api/orders/democon/B999/sync", "{}");
        assertThat(syncUnreadable.statusCode()).as(syncUnreadable.body()).isEqualTo(409);
        assertThat(syncUnreadable.body()).contains("the stored document of B999 is not valid");
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        // the pretix source is not configured here: its webhook is a 404 (never a 410, which would switch pretix's off)
        HttpResponse<String> noPretix = app.post("/api/sources/pretix/webhook", "{}");
        assertThat(noPretix.statusCode()).as(noPretix.body()).isEqualTo(404);
        assertThat(noPretix.body()).contains("the pretix source is not configured");
        JsonNode backfill = JSON.readTree(app.post("/api/providers/crm/backfill", "{\"event\": \"democon\"}").body());
        assertThat(backfill.path("queued").asInt()).isEqualTo(104);
        assertThat(backfill.path("skipped").asInt()).isEqualTo(26);
        assertThat(backfill.path("unreadable").asInt()).isEqualTo(1);
        assertThat(app.count("SELECT COUNT(DISTINCT order_code) FROM sync_queue WHERE triggered_by = 'backfill'")).as("queued by the backfill").isEqualTo(104);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue q JOIN order_snapshot s ON s.event_slug = q.event_slug"
                + " AND s.order_code = q.order_code WHERE s.document LIKE '%\"status\": \"n\"%' OR s.document LIKE '%\"status\":\"n\"%'")).isZero();
        // asked again (a backfill cut off midway): the same orders
        app.post("/api/providers/crm/backfill", "{\"event\": \"democon\"}");
        assertThat(app.count("SELECT COUNT(DISTINCT order_code) FROM sync_queue")).as("orders queued, again").isEqualTo(104);
        // each order waits once, or is in flight (claimed meanwhile, at most the provider's capacity of 4) beside it
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).as("rows, again").isBetween(104L, 108L);
        target.failAlways(0);
        awaitQueueEmpty();
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'dropped'")).isZero();
        // a row the dispatcher claimed while the CRM still answered 503 (a slow machine takes longer than a poll between
        // the backfill and the line above) logged a temporary failure and went through on its next try: nothing else
        assertThat(app.query("SELECT message FROM order_log WHERE kind = 'failure'"))
                .allSatisfy(r -> assertThat(r.get("message").toString()).startsWith("Temporary error, attempt"));
        assertThat(app.count("SELECT COUNT(DISTINCT order_code) FROM sync_result")).as("orders with results").isEqualTo(104);
    }

    @Test
    void aQueuedOrderThatNoLongerPassesTheFilterIsNotSent() throws Exception {
        // queued while paid, canceled before its sync went through: the filter (paid only) is checked again on the
        // order as it is when synced, and the canceled order is not sent
        startWithPaidOnlyCrm(2000, Map.of());
        target.failAlways(503);
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(15)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts > 0") == 1);
        ObjectNode canceled = fixture("order-abc12");
        canceled.put("type", "order.canceled");
        ((ObjectNode) canceled.path("order")).put("status", "c");
        ((ObjectNode) canceled.path("order")).put("last_modified", "2026-03-02T10:00:00Z");
        assertThat(app.post("/api/events", canceled.toString()).statusCode()).isEqualTo(202);
        target.clearRequests();
        target.failAlways(0);
        awaitQueueEmpty();
        assertThat(target.requests()).as("nothing sent for the canceled order").isEmpty();
        assertThat(app.query("SELECT message FROM order_log WHERE kind = 'dropped'")).singleElement()
                .satisfies(r -> assertThat(r.get("message").toString()).contains("does not pass the provider's filter"));
        assertThat(app.count("SELECT COUNT(*) FROM sync_result")).isZero();
    }

    @Test
    void rejectedEventsCanBeShownFixedResubmittedAndDiscarded() throws Exception {
        startWithCrm();
        app.post("/api/events", "{\"type\": \"order.placed\", \"event\": {\"slug\": \"democon\"}, \"order\": {\"code\": 12}}");
        app.post("/api/events", "{broken");
        JsonNode list = JSON.readTree(app.get("/api/rejected").body());
        assertThat(list.path("total").asInt()).isEqualTo(2);
        assertThat(list.path("rows").get(0).has("payload")).isFalse();
        long fixable = list.path("rows").get(1).path("id").asLong();
        long junk = list.path("rows").get(0).path("id").asLong();
        JsonNode shown = JSON.readTree(app.get("/api/rejected/" + fixable).body());
        assertThat(shown.path("reason").asText()).contains("order.code must be a string");
        assertThat(shown.path("payload").asText()).contains("\"code\": 12");
        assertThat(app.get("/api/rejected/999").statusCode()).isEqualTo(404);

        HttpResponse<String> stillBad = app.post("/api/rejected/" + fixable + "/resubmit", "");
        assertThat(stillBad.statusCode()).isEqualTo(400);
        ObjectNode fixed = fixture("order-xyz34");
        HttpResponse<String> ok = app.post("/api/rejected/" + fixable + "/resubmit", fixed.toString());
        assertThat(ok.statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
        assertThat(app.post("/api/rejected/" + junk + "/discard", "").statusCode()).isEqualTo(200);
        assertThat(app.post("/api/rejected/" + junk + "/discard", "").statusCode()).isEqualTo(404);
        assertThat(JSON.readTree(app.get("/api/rejected").body()).path("total").asInt()).isZero();
    }

    @Test
    void anIntakeTokenMayOnlyPostEvents() throws Exception {
        startWithCrm(5, "5s", Map.of("ordersync.intake.token", "shop"));
        assertThat(raw("POST", "/api/events", fixture("order-abc12").toString(), "Authorization", "Bearer shop").statusCode()).isEqualTo(202);
        assertThat(raw("GET", "/api/providers", null, "Authorization", "Bearer shop").statusCode()).isEqualTo(401);
    }
}
