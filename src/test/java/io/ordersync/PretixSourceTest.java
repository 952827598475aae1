package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.FakeTarget;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.PretixTestServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * pretix as a source, against a pretix test server that answers as pretix's API documentation says
 * (PretixTestServer): webhook → fetch → sync, forged and foreign webhooks, pretix down, 429, a wrong token,
 * polling across a restart, webhooks and polling together, and an import of 5 000 orders (100 pages of 50,
 * pretix's largest page) with a restart in the middle.
 */
class PretixSourceTest extends AppTestSupport {

    private PretixTestServer pretix;
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void stopPretix() {
        if (pretix != null) {
            pretix.close();
        }
    }

    private OrdersyncApp startWithPretix(Map<String, String> extra) throws Exception {
        if (pretix == null) {
            pretix = PretixTestServer.start();
        }
        Map<String, String> props = pretix.settings();
        props.putAll(extra);
        return startWithCrm(5, "5s, 5m", props);
    }

    private HttpResponse<String> webhook(Object notificationId, String organizer, String event, String code, String action) throws Exception {
        ObjectNode body = JSON.createObjectNode();
        if (notificationId instanceof Number n) {
            body.put("notification_id", n.longValue());
        } else {
            body.put("notification_id", String.valueOf(notificationId));
        }
        body.put("organizer", organizer).put("event", event).put("code", code).put("action", action);
        return postWebhook(body.toString());
    }

    private HttpResponse<String> postWebhook(String body) throws Exception {
        // as pretix sends it: JSON, no credentials
        return http.send(HttpRequest.newBuilder(URI.create(app.url("/api/sources/pretix/webhook")))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private long received(String code) {
        return app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received' AND order_code = ?", code);
    }

    /** Target objects without the ids the target gave them. */
    private static List<JsonNode> withoutIds(List<ObjectNode> objects) {
        return objects.stream().map(o -> {
            ObjectNode c = o.deepCopy();
            c.remove("id");
            return (JsonNode) c;
        }).sorted(java.util.Comparator.comparing(JsonNode::toString)).toList();
    }

    @Test
    void aWebhookFetchesTheOrderAndItSyncsAsTheHandWrittenDocumentDoes() throws Exception {
        startWithPretix(Map.of());
        HttpResponse<String> r = webhook(123455, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("tickets").size() == 2);
        assertThat(target.objects("contacts")).hasSize(1);
        // pretix may send a notification twice: recognised; fetched again (ids cannot be trusted), and not synced again
        HttpResponse<String> again = webhook(123455, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed");
        assertThat(again.statusCode()).isEqualTo(200);
        assertThat(again.body()).contains("duplicate");
        await().atMost(Duration.ofSeconds(10)).until(() -> pretix.requestsTo("/orders/ABC12/") == 2
                && app.count("SELECT COUNT(*) FROM pretix_fetch") == 0);
        awaitQueueEmpty();
        assertThat(received("ABC12")).isEqualTo(1);
        assertThat(pretix.requests()).allSatisfy(q -> assertThat(q.authorization()).isEqualTo("Token " + PretixTestServer.TOKEN));
        // the placed webhook read an order that is paid already: it is placed and paid (both triggers)
        assertThat(app.query("SELECT event_type FROM order_snapshot WHERE order_code = 'ABC12'"))
                .extracting(m -> m.get("event_type")).containsExactly("order.paid");
        assertThat(app.query("SELECT message FROM order_log WHERE kind = 'received' AND order_code = 'ABC12'"))
                .extracting(m -> (String) m.get("message")).singleElement().asString().startsWith("order.paid and order.placed received");

        // the same order as the hand-written document of fixtures/order-abc12.json, into a second ordersync and target
        try (FakeTarget other = new FakeTarget().requireAuthorization("Bearer s3cret")) {
            java.nio.file.Path otherMappings = tmp.resolve("other-mappings");
            Fixtures.mapping(otherMappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
            OrdersyncApp second = new OrdersyncApp(tmp.resolve("other-data"), otherMappings,
                    Map.of("test.crm.url", other.url(), "test.crm.token", "s3cret")).start();
            try {
                assertThat(second.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
                await().atMost(Duration.ofSeconds(20)).until(() -> other.objects("tickets").size() == 2);
            } finally {
                second.close();
            }
            assertThat(withoutIds(target.objects("contacts"))).isEqualTo(withoutIds(other.objects("contacts")));
            assertThat(withoutIds(target.objects("tickets"))).isEqualTo(withoutIds(other.objects("tickets")));
        }
    }

    @Test
    void forgedAndForeignWebhooksInjectNothing() throws Exception {
        startWithPretix(Map.of("ordersync.pretix.events", "democon"));
        // another organizer, an event this ordersync does not take: 400 with the reason, kept as rejected events
        HttpResponse<String> foreign = webhook(1, "someone-else", "democon", "ABC12", "pretix.event.order.paid");
        assertThat(foreign.statusCode()).isEqualTo(400);
        assertThat(foreign.body()).contains("unknown organizer 'someone-else'").as("the organizer is not told to a stranger")
                .doesNotContain(PretixTestServer.ORGANIZER);
        HttpResponse<String> otherEvent = webhook(2, PretixTestServer.ORGANIZER, "otherconf", "ABC12", "pretix.event.order.paid");
        assertThat(otherEvent.statusCode()).isEqualTo(400);
        assertThat(otherEvent.body()).contains("unknown event 'otherconf'").as("the events taken are not told to a stranger")
                .doesNotContain("democon");
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event WHERE source = 'pretix-webhook'")).isEqualTo(2);
        assertThat(app.query("SELECT reason FROM rejected_event WHERE reason LIKE 'unknown event%'")).singleElement()
                .satisfies(r -> assertThat((String) r.get("reason")).as("the operator is told").contains("the events [democon]"));
        // bodies that are not pretix's: a clear 4xx, nothing queued
        assertThat(postWebhook("{not json").statusCode()).isEqualTo(400);
        assertThat(postWebhook("[]").statusCode()).isEqualTo(400);
        assertThat(postWebhook("x".repeat(70_000)).statusCode()).isEqualTo(413);
        // 64 KiB of UTF-8, not 64 Ki characters (before: 30 000 characters of three bytes each passed)
        assertThat(postWebhook("\u20ac".repeat(30_000)).statusCode()).isEqualTo(413);
        assertThat(webhook(3, PretixTestServer.ORGANIZER, "democon", "../../x", "pretix.event.order.paid").statusCode()).isEqualTo(400);
        // an action no rule maps: 200 (pretix must not retry it), nothing fetched
        HttpResponse<String> ignored = webhook(4, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.item.changed");
        assertThat(ignored.statusCode()).isEqualTo(200);
        assertThat(ignored.body()).contains("triggers nothing");
        // a forged webhook with data of its own: only a trigger, what is synced is what pretix says
        ObjectNode forged = JSON.createObjectNode().put("notification_id", 5).put("organizer", PretixTestServer.ORGANIZER)
                .put("event", "democon").put("code", "ABC12").put("action", "pretix.event.order.paid");
        forged.putObject("order").put("email", "attacker@evil.example");
        assertThat(postWebhook(forged.toString()).statusCode()).isEqualTo(200);
        // a code pretix does not have: one fetch, a 404, parked with the reason; nothing synced for it
        assertThat(webhook(6, PretixTestServer.ORGANIZER, "democon", "NOPE1", "pretix.event.order.paid").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("contacts").size() == 1
                && app.count("SELECT COUNT(*) FROM pretix_fetch WHERE parked IS NOT NULL") == 1);
        assertThat(target.objects("contacts").get(0).path("email").asText()).isEqualTo("tester@example.org");
        JsonNode status = JSON.readTree(app.get("/api/sources/pretix").body());
        assertThat(status.path("parked").asLong()).isEqualTo(1);
        assertThat(status.path("problems").get(0).path("error").asText()).contains("NOPE1").contains("404");
        assertThat(status.toString()).doesNotContain(PretixTestServer.TOKEN);
        assertThat(pretix.requestsTo("/orders/NOPE1/")).isEqualTo(1);
    }

    @Test
    void pretixDownThenA429ThenBackAndAWrongTokenParks() throws Exception {
        startWithPretix(Map.of());
        pretix.addOrders("democon", "D", 2);
        pretix.stop();
        assertThat(webhook(10, PretixTestServer.ORGANIZER, "democon", "D00001", "pretix.event.order.placed").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch WHERE attempts > 0 AND parked IS NULL") == 1);
        assertThat(target.objects("contacts")).isEmpty();
        pretix.restart();
        // back after the backoff (5 s): fetched and synced, once
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 1);
        assertThat(app.count("SELECT COUNT(*) FROM pretix_fetch")).isZero();

        // 429 with Retry-After: 2: nothing is asked of pretix before those two seconds have passed
        pretix.failNext(1, 429, "2");
        assertThat(webhook(11, PretixTestServer.ORGANIZER, "democon", "D00002", "pretix.event.order.placed").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 2);
        List<PretixTestServer.Request> reqs = pretix.requests();
        PretixTestServer.Request throttled = reqs.stream().filter(q -> q.status() == 429).findFirst().orElseThrow();
        PretixTestServer.Request nextOne = reqs.get(reqs.indexOf(throttled) + 1);
        assertThat(Duration.between(throttled.at(), nextOne.at())).isGreaterThanOrEqualTo(Duration.ofMillis(1900));
    }

    /**
     * pretix answers 403 for an event the token may not see (README: 401/403 park the fetch with the reason); an
     * order with a canceled position is fetched with it (include_canceled_positions), as pretix's own data sync sees it.
     */
    @Test
    void a403ParksTheFetchAndCanceledPositionsAreFetched() throws Exception {
        pretix = PretixTestServer.start();
        ((ObjectNode) pretix.order("democon", "ABC12").path("positions").get(1)).put("canceled", true);
        startWithPretix(Map.of("ordersync.pretix.events", "democon,ghostcon"));
        // ghostcon is one of ordersync's events, but pretix does not show it to this token
        assertThat(webhook(30, PretixTestServer.ORGANIZER, "ghostcon", "GHO12", "pretix.event.order.placed").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch WHERE parked IS NOT NULL") == 1);
        assertThat((String) app.query("SELECT last_error FROM pretix_fetch").get(0).get("last_error")).contains("403");
        assertThat(pretix.requestsTo("/ghostcon/")).isEqualTo(1);

        webhook(31, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.paid");
        await().atMost(Duration.ofSeconds(20)).until(() -> received("ABC12") == 1);
        JsonNode doc = JSON.readTree((String) app.query("SELECT document FROM order_snapshot WHERE order_code = 'ABC12'").get(0).get("document"));
        assertThat(doc.path("order").path("positions")).hasSize(2);
        assertThat(doc.path("order").path("positions").get(1).path("canceled").asBoolean()).isTrue();
    }

    /**
     * pretix slower than ordersync.pretix.timeout-ms: the fetch fails as recoverable and is tried again; an order
     * that names a product the cached catalogue lacks makes ordersync read the catalogue again at once (README).
     */
    @Test
    void aSlowPretixTimesOutAndAnUnknownProductRereadsTheCatalogue() throws Exception {
        pretix = PretixTestServer.start();
        startWithPretix(Map.of("ordersync.pretix.timeout-ms", "500"));
        pretix.slow(1500);
        webhook(40, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed");
        await().atMost(Duration.ofSeconds(15)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch WHERE attempts > 0 AND parked IS NULL") == 1);
        assertThat(received("ABC12")).isZero();
        pretix.slow(0);
        // after the backoff (5 s): fetched, with its catalogue
        await().atMost(Duration.ofSeconds(30)).until(() -> received("ABC12") == 1);
        long itemReads = pretix.requestsTo("/items/");

        // a new product, and an order of it: the cached catalogue lacks it, so it is read again at once
        pretix.addItem("democon", 1500, "Gala dinner");
        String code = pretix.addOrders("democon", "G", 1).get(0);
        ((ObjectNode) pretix.order("democon", code).path("positions").get(0)).put("item", 1500).putNull("variation");
        webhook(41, PretixTestServer.ORGANIZER, "democon", code, "pretix.event.order.placed");
        await().atMost(Duration.ofSeconds(20)).until(() -> received(code) == 1);
        assertThat(pretix.requestsTo("/items/")).isGreaterThan(itemReads);
        assertThat((String) app.query("SELECT document FROM order_snapshot WHERE order_code = ?", code).get(0).get("document"))
                .contains("Gala dinner");
    }

    /**
     * pretix sends its answer a byte at a time, each wait shorter than ordersync.pretix.timeout-ms: the fetch fails
     * after twice that timeout, as a timeout, instead of holding the fetch worker for the whole body (before: about
     * 4 minutes for an order at 200 ms a byte, and every other fetch waited behind it).
     */
    @Test
    void aPretixAnswerThatTricklesFailsAfterTwiceTheTimeout() throws Exception {
        pretix = PretixTestServer.start();
        startWithPretix(Map.of("ordersync.pretix.timeout-ms", "1000"));
        pretix.trickle(200);
        long t0 = System.nanoTime();
        webhook(42, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed");
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch WHERE attempts > 0 AND parked IS NULL") == 1);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(15));
        assertThat((String) app.query("SELECT last_error FROM pretix_fetch").get(0).values().iterator().next())
                .contains("no complete answer within 2000 ms");
        pretix.trickle(0);
        await().atMost(Duration.ofSeconds(30)).until(() -> received("ABC12") == 1);
    }

    /**
     * An answer of pretix over the 16 MiB ordersync reads (found by a review): the failure was taken as a network
     * failure, recoverable, and the same answer was fetched again at each backoff for ever. The same order gets the
     * same answer, so the fetch is parked as refused, with the reason; a webhook for it after pretix is fixed fetches
     * it again.
     */
    @Test
    @org.junit.jupiter.api.Timeout(120)
    void anAnswerOverTheLimitParksTheFetchWithTheReason() throws Exception {
        pretix = PretixTestServer.start();
        startWithPretix(Map.of());
        pretix.padAnswers(17L * 1024 * 1024);
        webhook(43, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed");
        await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch WHERE parked IS NOT NULL") == 1);
        assertThat((String) app.query("SELECT last_error FROM pretix_fetch").get(0).get("last_error"))
                .contains("more than the 16777216 bytes ordersync reads");
        pretix.padAnswers(0);
        webhook(44, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed");
        await().atMost(Duration.ofSeconds(30)).until(() -> received("ABC12") == 1);
    }

    /** Test-mode orders are not polled (pretix's advice: they can vanish); the others of the same poll are. */
    @Test
    void testModeOrdersAreNotPolled() throws Exception {
        pretix = PretixTestServer.start();
        List<String> codes = pretix.addOrders("democon", "T", 3);
        pretix.order("democon", codes.get(1)).put("testmode", true);
        startWithPretix(Map.of("ordersync.pretix.poll-interval-ms", "300", "ordersync.pretix.events", "democon"));
        await().atMost(Duration.ofSeconds(30)).until(() -> received(codes.get(0)) == 1 && received(codes.get(2)) == 1);
        long polls = pretix.requestsTo("/orders/");
        await().atMost(Duration.ofSeconds(10)).until(() -> pretix.requestsTo("/orders/") >= polls + 3);
        assertThat(received(codes.get(1))).isZero();
        assertThat(pretix.requests()).filteredOn(r -> r.path().endsWith("/orders/")).allSatisfy(r -> assertThat(r.query()).contains("testmode=false"));
    }

    @Test
    void aWrongTokenParksWithAReasonAndIsNeverShown() throws Exception {
        pretix = PretixTestServer.start();
        pretix.echoAuthorizationOnError(true);
        startWithPretix(Map.of("ordersync.pretix.token", "wrong-t0ken-123456"));
        assertThat(webhook(20, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch WHERE parked IS NOT NULL") == 1);
        String error = (String) app.query("SELECT last_error FROM pretix_fetch").get(0).get("last_error");
        assertThat(error).contains("401").contains("ordersync.pretix.token").doesNotContain("wrong-t0ken-123456");
        String status = app.get("/api/sources/pretix").body();
        assertThat(status).contains("\"token\":\"set\"").doesNotContain("wrong-t0ken-123456");
        // retry after fixing: due again (and parked again here, the token is still wrong)
        assertThat(app.post("/api/sources/pretix/retry", "{}").body()).contains("\"retried\":1");
        await().atMost(Duration.ofSeconds(20)).until(() -> pretix.requestsTo("/orders/ABC12/") == 2
                && app.count("SELECT COUNT(*) FROM pretix_fetch WHERE parked IS NOT NULL") == 1);
        assertThat(target.objects("contacts")).isEmpty();
    }

    @Test
    void pollingTakesEachChangeOnceAcrossARestart() throws Exception {
        pretix = PretixTestServer.start();
        List<String> codes = pretix.addOrders("democon", "P", 60);
        startWithPretix(Map.of("ordersync.pretix.poll-interval-ms", "300", "ordersync.pretix.events", "democon"));
        // 60 new orders (two pages) and ABC12, whose last_modified is older than polling: not taken
        await().atMost(Duration.ofSeconds(60)).until(() -> target.objects("contacts").size() == 60);
        pretix.modify("democon", codes.get(0), "+49 1");
        pretix.markPaid("democon", codes.get(1));
        await().atMost(Duration.ofSeconds(20)).until(() -> received(codes.get(0)) == 2 && received(codes.get(1)) == 2);
        assertThat(app.query("SELECT event_type FROM order_snapshot WHERE order_code = ?", codes.get(1)))
                .extracting(m -> m.get("event_type")).containsExactly("order.paid");
        // stopped: a change while it is down is taken after the restart, nothing else is taken again
        app.stop();
        pretix.modify("democon", codes.get(2), "+49 2");
        app.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> received(codes.get(2)) == 2);
        awaitQueueEmpty();
        long polls = pretix.requestsTo("/orders/");
        await().atMost(Duration.ofSeconds(10)).until(() -> pretix.requestsTo("/orders/") >= polls + 5);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).isEqualTo(63);
        assertThat(received("ABC12")).isZero();
    }

    @Test
    void webhooksAndPollingTogetherSyncEachStateOnce() throws Exception {
        pretix = PretixTestServer.start();
        List<String> codes = pretix.addOrders("democon", "W", 5);
        startWithPretix(Map.of("ordersync.pretix.poll-interval-ms", "200"));
        for (int i = 0; i < codes.size(); i++) {
            webhook(100 + i, PretixTestServer.ORGANIZER, "democon", codes.get(i), "pretix.event.order.placed");
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 5);
        pretix.markPaid("democon", codes.get(0));
        webhook(200, PretixTestServer.ORGANIZER, "democon", codes.get(0), "pretix.event.order.paid");
        await().atMost(Duration.ofSeconds(20)).until(() -> received(codes.get(0)) == 2);
        long before = pretix.requestsTo("/orders/");
        await().atMost(Duration.ofSeconds(10)).until(() -> pretix.requestsTo("/orders/") >= before + 5);
        awaitQueueEmpty();
        for (String code : codes) {
            assertThat(received(code)).as(code).isEqualTo(code.equals(codes.get(0)) ? 2 : 1);
        }
    }

    /**
     * Found by a review: a failure of ordersync's own database while a fetch's answer was taken in (here PostgreSQL
     * ends the connection, as at a restart or a failover) parked the fetch as refused by pretix, and the order's
     * change was not taken in until an operator retried it.
     */
    @Test
    void aDatabaseFailureWhileAFetchIsTakenInIsTriedAgainNotRefused() throws Exception {
        java.util.Properties db = io.ordersync.support.Postgres.newDatabase();
        Map<String, String> props = new HashMap<>();
        db.forEach((k, v) -> props.put((String) k, (String) v));
        startWithPretix(props);
        String url = db.getProperty("ordersync.db.url");
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(url, db.getProperty("ordersync.db.user"),
                db.getProperty("ordersync.db.password"));
             java.sql.Connection other = java.sql.DriverManager.getConnection(url, db.getProperty("ordersync.db.user"),
                     db.getProperty("ordersync.db.password"));
             java.sql.Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.execute("LOCK TABLE order_snapshot IN ACCESS EXCLUSIVE MODE");
            assertThat(webhook(7001, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed").statusCode())
                    .isEqualTo(200);
            // the fetch waits on the lock to take the order in: its connection is ended, as a restart would
            await().atMost(Duration.ofSeconds(20)).until(() -> {
                // pg_stat_activity is read once per transaction: asked outside the one that holds the lock
                try (java.sql.Statement t = other.createStatement(); java.sql.ResultSet rs = t.executeQuery(
                        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                + "AND query LIKE '%FROM order_snapshot WHERE event_slug%FOR UPDATE%'")) {
                    rs.next();
                    return rs.getInt(1) > 0;
                }
            });
            await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT attempts FROM pretix_fetch") >= 1);
            Map<String, Object> fetch = app.query("SELECT parked, last_error FROM pretix_fetch").get(0);
            assertThat(fetch.get("parked")).as("not refused: %s", fetch).isNull();
            assertThat(String.valueOf(fetch.get("last_error"))).contains("ordersync's database");
            c.commit();
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("tickets").size() == 2);
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch") == 0);
        assertThat(received("ABC12")).isEqualTo(1);
    }

    /**
     * Found by a review: a poll more pages behind than the fixed limit of 1 000 (50 000 changes after a long outage)
     * failed at page 1 001 before it could store its cursor, and every poll read the same newest 1 000 pages again:
     * the older changes were never taken in. pretix answers in pages of one here, so 1 050 changes make 1 050 pages.
     */
    @Test
    void aPollWithMorePagesThanTheFixedLimitReadsThemAllAndMovesItsCursor() throws Exception {
        pretix = PretixTestServer.start();
        pretix.maxPageSize(1);
        pretix.addOrders("democon", "F", 1050);
        startWithPretix(Map.of("ordersync.pretix.poll-interval-ms", "300", "ordersync.pretix.events", "democon"));
        await().atMost(Duration.ofSeconds(150)).until(() -> app.count("SELECT COUNT(*) FROM order_snapshot") == 1050);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("each change taken in once").isEqualTo(1050);
        // the cursor moved: the next polls read one page each, not the backlog again
        await().atMost(Duration.ofSeconds(10)).until(() -> !app.query("SELECT modified_since FROM pretix_cursor").isEmpty());
        long before = pretix.requestsTo("/orders/");
        Thread.sleep(2_000);
        long read = pretix.requestsTo("/orders/") - before;
        assertThat(read).as("pages read by the polls of 2 s").isBetween(1L, 15L);
    }

    @Test
    void anImportOf5000OrdersOver100PagesResumesAfterARestart() throws Exception {
        pretix = PretixTestServer.start();
        pretix.addOrders("democon", "I", 4999);
        startWithPretix(Map.of("ordersync.pretix.import-page-pause-ms", "0"));
        long started = System.nanoTime();
        HttpResponse<String> r = app.post("/api/sources/pretix/import", "{\"event\": \"democon\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT done FROM pretix_import") >= 1000);
        app.stop();
        long doneAtStop = app.countWhileStopped("SELECT done FROM pretix_import");
        assertThat(doneAtStop).isBetween(1000L, 4999L);
        app.start();
        await().atMost(Duration.ofSeconds(120)).until(() -> "done".equals(app.query("SELECT state FROM pretix_import").get(0).get("state")));
        double seconds = (System.nanoTime() - started) / 1e9;
        JsonNode status = JSON.readTree(app.get("/api/sources/pretix").body());
        JsonNode imp = status.path("imports").get(0);
        assertThat(imp.path("total").asInt()).isEqualTo(5000);
        assertThat(imp.path("done").asInt() + imp.path("unchanged").asInt()).isEqualTo(5000);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isEqualTo(5000);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("each order taken in once").isEqualTo(5000);
        System.out.printf("pretix import: 5000 orders (100 pages) into the queue in %.1f s, %.0f orders/s, with a restart%n",
                seconds, 5000 / seconds);
        await().atMost(Duration.ofSeconds(180)).until(() -> target.objects("contacts").size() == 5000);
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(5000);
    }

    /** The command line: {@code ordersync pretix-import --event democon} against the running ordersync, with progress. */
    @Test
    void theCommandLineImportsAnEventAndShowsProgress() throws Exception {
        pretix = PretixTestServer.start();
        pretix.addOrders("democon", "C", 120);
        startWithPretix(Map.of("ordersync.pretix.import-page-pause-ms", "100"));
        CommandRun run = command("pretix-import", "--event", "democon", "--url", app.url(""));
        assertThat(run.code()).as(run.err()).isZero();
        assertThat(run.out()).contains("import #1 of democon started").contains("121 / 121 orders").contains("import #1 done");
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isEqualTo(121);
        // a slug pretix cannot have: refused by ordersync with the reason, exit 1
        CommandRun refused = command("pretix-import", "--event", "../x", "--url", app.url(""));
        assertThat(refused.code()).isEqualTo(1);
        assertThat(refused.err()).contains("give the event");
    }

    /**
     * An order erased while its fetch waits for pretix's answer (found by a review): the erase deletes the pending
     * fetch, and the fetch, when pretix answers, must not store the order again. Before, it did (the order was new
     * to ordersync by then) and synced it to the CRM once more.
     */
    @Test
    void anOrderErasedWhileItIsFetchedIsNotStoredAgain() throws Exception {
        startWithPretix(Map.of());
        assertThat(webhook(7001, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("contacts").size() == 1);
        awaitQueueEmpty();
        long writes = target.writes().size();
        pretix.slow(3000);
        assertThat(webhook(7002, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.paid").statusCode()).isEqualTo(200);
        // the fetch timer (every 200 ms) has claimed the row and waits for pretix's answer (3 s)
        Thread.sleep(1_000);
        HttpResponse<String> erased = app.delete("/api/orders/democon/ABC12");
        assertThat(erased.statusCode()).as(erased.body()).isEqualTo(200);
        assertThat(erased.body()).contains("\"pretix_fetch\":1");
        // pretix answers after 3 s; then nothing of the order is stored, queued or sent
        Thread.sleep(4_000);
        pretix.slow(0);
        assertThat(app.count("SELECT COUNT(*) FROM pretix_fetch")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'ABC12'")).as("erased stays erased").isZero();
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        assertThat(target.writes()).hasSize((int) writes);
    }

    /** Many webhooks for one order at once (pretix retrying, several actions): every one answered, one sync of the state. */
    @Test
    void concurrentWebhooksForOneOrderSyncItOnce() throws Exception {
        // 60 posts at once: over the anonymous rate limit (PretixWebhookFloodTest), which this test is not about
        startWithPretix(Map.of("ordersync.pretix.webhook-rate-limit", "0"));
        pretix.slow(200);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(16);
        List<java.util.concurrent.Future<HttpResponse<String>>> answers = new java.util.ArrayList<>();
        for (int i = 0; i < 60; i++) {
            int id = 1000 + i % 40; // 20 of them repeat a notification id
            String action = i % 2 == 0 ? "pretix.event.order.placed" : "pretix.event.order.paid";
            answers.add(pool.submit(() -> webhook(id, PretixTestServer.ORGANIZER, "democon", "ABC12", action)));
        }
        for (var a : answers) {
            assertThat(a.get().statusCode()).isEqualTo(200);
        }
        pool.shutdown();
        await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch") == 0 && received("ABC12") == 1);
        awaitQueueEmpty();
        assertThat(app.count("SELECT COUNT(*) FROM intake_message WHERE source = 'pretix-webhook'")).isEqualTo(40);
        assertThat(pretix.requestsTo("/orders/ABC12/")).as("merged into few fetches").isBetween(1L, 3L);
        assertThat(received("ABC12")).as("one state, one sync").isEqualTo(1);
        assertThat(target.objects("contacts")).hasSize(1);
    }

    /**
     * A webhook that comes while the order's fetch is under way, after pretix answered with the order: that fetch
     * takes in what it read and leaves its row, so the order is fetched again and its new state synced.
     */
    @Test
    void aWebhookDuringTheFetchFetchesTheOrderAgain() throws Exception {
        startWithPretix(Map.of());
        pretix.slow(1500);
        webhook(1, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed");
        // the order has been read (unpaid); the fetch now reads the catalogue it refers to
        await().atMost(Duration.ofSeconds(15)).until(() -> pretix.requestsTo("/items/") >= 1);
        pretix.markPaid("democon", "ABC12");
        assertThat(webhook(2, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.paid").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(30)).until(() -> received("ABC12") == 2 && app.count("SELECT COUNT(*) FROM pretix_fetch") == 0);
        awaitQueueEmpty();
        assertThat(pretix.requestsTo("/orders/ABC12/")).isEqualTo(2);
        assertThat(target.objects("contacts")).singleElement().satisfies(c -> assertThat(c.path("status").asText()).isEqualTo("paid"));
    }

    /** An order with a sub-event and a voucher: their names come from pretix's subevents and vouchers resources. */
    @Test
    void subEventsAndVouchersTheOrderRefersToAreNamed() throws Exception {
        pretix = PretixTestServer.start();
        pretix.addSubevent("democon", 17, "Day 1", "2026-05-04T09:00:00Z");
        pretix.addVoucher("democon", 55, "SUMMER25");
        ObjectNode order = pretix.order("democon", "ABC12");
        ((ObjectNode) order.path("positions").get(0)).put("subevent", 17).put("voucher", 55);
        ((ObjectNode) order.path("positions").get(1)).put("subevent", 18);
        startWithPretix(Map.of());
        webhook(1, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed");
        await().atMost(Duration.ofSeconds(20)).until(() -> received("ABC12") == 1);
        JsonNode doc = JSON.readTree((String) app.query("SELECT document FROM order_snapshot WHERE order_code = 'ABC12'").get(0).get("document"));
        assertThat(doc.path("subevents").path("17").path("name").path("en").asText()).isEqualTo("Day 1");
        assertThat(doc.path("subevents").has("18")).as("a sub-event pretix does not have is left out").isFalse();
        assertThat(doc.path("vouchers").path("55").asText()).isEqualTo("SUMMER25");
        assertThat(doc.path("questions").path("WY3TP9SL").path("options").path("VEG").path("en").asText()).isEqualTo("Vegetarian");
        assertThat(doc.path("items").path("1345").path("variations").path("7").path("en").asText()).isEqualTo("Student");
        // a second order of the same event: the catalogue comes from the cache (no second items or event request)
        pretix.addOrders("democon", "S", 1);
        webhook(2, PretixTestServer.ORGANIZER, "democon", "S00001", "pretix.event.order.placed");
        await().atMost(Duration.ofSeconds(20)).until(() -> received("S00001") == 1);
        assertThat(pretix.requestsTo("/items/")).isEqualTo(1);
        assertThat(pretix.requestsTo("/questions/")).isEqualTo(1);
        assertThat(pretix.requests().stream().filter(r -> r.path().endsWith("/events/democon/")).count()).isEqualTo(1);
        assertThat(pretix.requestsTo("/subevents/18/")).as("asked once per order, not in a loop").isEqualTo(1);
    }

    /** Found by an attack review: what an unauthenticated webhook can no longer do. */
    @Test
    void aForgedWebhookCanNeitherSquatANotificationIdNorChooseTheType() throws Exception {
        startWithPretix(Map.of());
        // an id taken ahead of pretix does not make pretix's real notification a no-op
        webhook(5003, PretixTestServer.ORGANIZER, "democon", "ZZZZZ", "pretix.event.order.paid");
        HttpResponse<String> real = webhook(5003, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.placed");
        assertThat(real.statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("contacts").size() == 1);
        // a forged check-in for a changed order does not hide the change: the state decides the type
        pretix.modify("democon", "ABC12", "+49 555");
        webhook(5004, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.checkin");
        await().atMost(Duration.ofSeconds(20)).until(() -> received("ABC12") == 2);
        assertThat(app.query("SELECT message FROM order_log WHERE kind = 'received' AND order_code = 'ABC12' ORDER BY id DESC"))
                .first().satisfies(m -> assertThat((String) m.get("message")).startsWith("order.changed and order.checkin received")
                        .contains("queued for crm"));
        // (the crm maps no field of the change, so its second sync has nothing to write: it was queued, above)
        awaitQueueEmpty();
    }

    /**
     * Hostile bodies on the unauthenticated webhook (found by an attack), on H2 and PostgreSQL: a charset Java does
     * not know was Camel's plain-text 500 with an ERROR and stack trace per request; a raw NUL byte, and a notification
     * id holding an escaped NUL, were 500s on PostgreSQL (its text holds no NUL); a key given twice was read as its
     * last value. Each is now a JSON 4xx, nothing fetched, and the import endpoint refuses a key given twice too.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "on {0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"h2", "postgresql"})
    void hostileWebhookBodiesGetAJsonAnswerAndFetchNothing(String db) throws Exception {
        startWithPretix(databaseSettings(db));
        String valid = "{\"notification_id\": 9, \"organizer\": \"" + PretixTestServer.ORGANIZER + "\", \"event\": \"democon\", "
                + "\"code\": \"ABC12\", \"action\": \"pretix.event.order.placed\"";
        Map<String, String[]> cases = new java.util.LinkedHashMap<>();
        cases.put("charset", new String[]{"application/json; charset=bogus-xyz", valid + "}", "415", "charset"});
        cases.put("raw NUL", new String[]{"application/json", valid + ", \"x\": \"a\u0000b\"}", "400", "not a JSON object"});
        cases.put("NUL id", new String[]{"application/json", valid.replace("\"notification_id\": 9", "\"notification_id\": \"\\u0000\"") + "}",
                "400", "notification_id"});
        cases.put("twice", new String[]{"application/json", valid + ", \"code\": \"XYZ34\"}", "400", "a key given twice"});
        for (Map.Entry<String, String[]> c : cases.entrySet()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/sources/pretix/webhook")))
                    .header("Content-Type", c.getValue()[0]).POST(HttpRequest.BodyPublishers.ofString(c.getValue()[1])).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(c.getKey() + ": " + r.body()).isEqualTo(Integer.parseInt(c.getValue()[2]));
            assertThat(r.headers().firstValue("Content-Type")).as(c.getKey()).hasValue("application/json");
            assertThat(JSON.readTree(r.body()).path("error").asText()).as(c.getKey()).contains(c.getValue()[3]);
        }
        assertThat(app.count("SELECT COUNT(*) FROM pretix_fetch")).as("nothing fetched").isZero();
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event WHERE source = 'pretix-webhook'")).isEqualTo(3);
        HttpResponse<String> importTwice = app.post("/api/sources/pretix/import", "{\"event\": \"democon\", \"event\": \"ghostcon\"}");
        assertThat(importTwice.statusCode()).as(importTwice.body()).isEqualTo(400);
        // anything after the object (before: taken, an audit of API.md)
        HttpResponse<String> trailing = app.post("/api/sources/pretix/import", "{\"event\": \"democon\"} x");
        assertThat(trailing.statusCode()).as(trailing.body()).isEqualTo(400);
        assertThat(app.count("SELECT COUNT(*) FROM pretix_import")).isZero();
    }

    @Test
    void aWebhookSecretKeepsStrangersOut() throws Exception {
        startWithPretix(Map.of("ordersync.pretix.webhook-secret", "hook-s3cret-77"));
        assertThat(webhook(1, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.paid").statusCode()).isEqualTo(401);
        HttpResponse<String> wrong = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/sources/pretix/webhook?secret=guess")))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(wrong.statusCode()).isEqualTo(401);
        ObjectNode body = JSON.createObjectNode().put("notification_id", 2).put("organizer", PretixTestServer.ORGANIZER)
                .put("event", "democon").put("code", "ABC12").put("action", "pretix.event.order.paid");
        // the secret counts in the URL only: a request header named secret (before: let in), or the secret given twice
        for (String[] attempt : new String[][]{{"/api/sources/pretix/webhook", "hook-s3cret-77"},
                {"/api/sources/pretix/webhook?secret=hook-s3cret-77&secret=guess", "x"}}) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(app.url(attempt[0]))).header("secret", attempt[1])
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(attempt[0] + ": " + r.body()).isEqualTo(401);
        }
        HttpResponse<String> right = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/sources/pretix/webhook?secret=hook-s3cret-77")))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(right.statusCode()).as(right.body()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("contacts").size() == 1);
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isZero();
        assertThat(app.get("/api/sources/pretix").body()).doesNotContain("hook-s3cret-77");
    }

    /** An order changed while a poll reads its pages is not skipped (pages are read newest first). */
    @Test
    void anOrderChangedBetweenPollPagesIsNotMissed() throws Exception {
        pretix = PretixTestServer.start();
        List<String> codes = pretix.addOrders("democon", "P", 60);
        pretix.beforeOrdersPage2(() -> pretix.modify("democon", codes.get(0), "+49 9"));
        startWithPretix(Map.of("ordersync.pretix.poll-interval-ms", "300", "ordersync.pretix.events", "democon"));
        await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM order_snapshot") == 60);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("contacts").size() == 60);
    }

    /** A next link that points back to itself (a broken pretix or proxy) is refused, not followed for ever. */
    /**
     * A next link to another server is not followed: the token goes with every request to pretix, so a link to
     * another port, another host or pretix's address as a user name before another host would hand it over.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"other port", "user info", "longer host"})
    void aNextLinkThatLeavesPretixIsNotFollowedAndGetsNoToken(String kind) throws Exception {
        try (FakeTarget elsewhere = new FakeTarget().recordRequests(true)) {
            pretix = PretixTestServer.start();
            String rest = "/api/v1/organizers/" + PretixTestServer.ORGANIZER + "/events/democon/items/?page=2";
            pretix.itemsNextTo(switch (kind) {
                case "other port" -> elsewhere.url() + rest;
                // http://127.0.0.1:<pretix's port>@127.0.0.1:<other port>/…: the user name looks like pretix's address
                case "user info" -> pretix.url() + "@127.0.0.1:" + elsewhere.port() + rest;
                // http://127.0.0.1:<pretix's port><more digits>/…: pretix's URL as a prefix of another authority
                default -> pretix.url() + "0" + rest;
            });
            startWithPretix(Map.of());
            webhook(1, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.paid");
            await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch WHERE parked IS NOT NULL") == 1);
            assertThat((String) app.query("SELECT last_error FROM pretix_fetch").get(0).get("last_error"))
                    .contains("is not on " + pretix.url()).doesNotContain(PretixTestServer.TOKEN);
            assertThat(elsewhere.requests()).isEmpty();
            assertThat(pretix.requestsTo("/items/")).isEqualTo(1);
            // nothing was taken in from a half-read catalogue, nothing sent
            assertThat(received("ABC12")).isZero();
            assertThat(target.writes()).isEmpty();
            assertThat(app.get("/api/sources/pretix").body()).contains("is not on").doesNotContain(PretixTestServer.TOKEN);
        }
    }

    @Test
    void aNextLinkPointingBackIsNotFollowed() throws Exception {
        pretix = PretixTestServer.start();
        pretix.itemsNextLoops(true);
        startWithPretix(Map.of());
        webhook(1, PretixTestServer.ORGANIZER, "democon", "ABC12", "pretix.event.order.paid");
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch WHERE attempts > 0") == 1);
        assertThat(pretix.requestsTo("/items/")).isLessThanOrEqualTo(2);
        assertThat((String) app.query("SELECT last_error FROM pretix_fetch").get(0).get("last_error")).contains("was read before");
        pretix.itemsNextLoops(false);
        // the fetch is tried again after its backoff and goes through
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("contacts").size() == 1);
    }
}
