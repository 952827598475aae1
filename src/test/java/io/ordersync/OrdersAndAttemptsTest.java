package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import io.ordersync.order.Retention;
import io.ordersync.support.Ports;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 17, points 1, 2 and 7: every delivery try stored (redacted, cut) and shown with the order; the order list
 * (search, filters, paging, hostile parameters); erasure of an order or an e-mail address; the retention purge.
 * On H2 (the default), and the list, erase and purge on PostgreSQL.
 */
class OrdersAndAttemptsTest extends AppTestSupport {

    private HttpServer server;
    private final AtomicInteger calls = new AtomicInteger();

    @AfterEach
    void stopServer() {
        if (server != null) {
            server.stop(0);
        }
    }

    /** A target whose first answer is a 503 that echoes the token and names secrets, then 200 with a token in the body. */
    private String startTarget(int bigBody) throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            try (ex) {
                ex.getRequestBody().readAllBytes();
                int n = calls.incrementAndGet();
                String auth = ex.getRequestHeaders().getFirst("Authorization");
                String body = n == 1
                        ? "{\"error\": \"maintenance\", \"echo\": \"" + auth + "\", \"password\": \"hunter2-visible\", \"pad\": \"" + "x".repeat(bigBody) + "\"}"
                        : "{\"id\": \"m-1\", \"api_token\": \"rt-9999-visible\"}";
                byte[] b = body.getBytes(StandardCharsets.UTF_8);
                ex.getResponseHeaders().set("Content-Type", "application/json");
                ex.sendResponseHeaders(n == 1 ? 503 : 200, b.length);
                ex.getResponseBody().write(b);
            }
        });
        server.start();
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private OrdersyncApp startMembers(String url, Map<String, String> extra) throws Exception {
        Files.createDirectories(mappings);
        Files.writeString(mappings.resolve("members.yaml"), """
                identifier: members
                triggers: [order.placed, order.paid, order.changed]
                target:
                  base_url: "{{test.m.url}}"
                  auth: {type: bearer, token: "{{test.m.token}}"}
                  circuit_breaker: {enabled: false}
                retry: {max_attempts: 5, backoff: [100ms]}
                objects:
                  - id: member
                    source: Order
                    remote_type: member
                    id_field: {source: email, remote: email}
                    upsert: {method: PUT, path: "/members/{id_value}"}
                    properties:
                      - {source: invoice_address_name, remote: name}
                      - {value: pw-literal-visible, remote: account_password}
                """);
        Map<String, String> props = new HashMap<>(Map.of("test.m.url", url, "test.m.token", "tok-SECRET-123456",
                "ordersync.redelivery.maximum", "0"));
        props.putAll(extra);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        return app;
    }

    @Test
    void everyTryIsStoredRedactedCutAndShownWithTheOrder() throws Exception {
        startMembers(startTarget(5000), Map.of("ordersync.attempts.body-limit", "300"));
        assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();

        JsonNode order = JSON.readTree(app.get("/api/orders/democon/ABC12").body());
        JsonNode attempts = order.path("attempts");
        assertThat(attempts).hasSize(2);
        JsonNode failed = attempts.get(0);
        JsonNode ok = attempts.get(1);
        assertThat(failed.path("status").asInt()).isEqualTo(503);
        assertThat(failed.path("method").asText()).isEqualTo("PUT");
        assertThat(failed.path("url").asText()).endsWith("/members/tester%40example.org");
        assertThat(failed.path("mapping_id").asText()).isEqualTo("member");
        assertThat(failed.path("latency_ms").asLong()).isGreaterThanOrEqualTo(0);
        // the echoed token and the secret field are redacted, the 5 000 characters cut to the limit
        String failedBody = failed.path("response_body").asText();
        assertThat(failedBody).contains("[redacted]").contains("maintenance").doesNotContain("tok-SECRET-123456").doesNotContain("hunter2")
                .contains("[", "characters]");
        assertThat(failedBody.length()).isLessThan(360);
        assertThat(ok.path("status").asInt()).isEqualTo(200);
        assertThat(ok.path("request_body").asText()).contains("John Doe").doesNotContain("pw-literal-visible");
        assertThat(ok.path("response_body").asText()).contains("m-1").doesNotContain("rt-9999-visible");
        // the order itself beside its status
        JsonNode summary = order.path("summary");
        assertThat(summary.path("name").asText()).isEqualTo("John Doe");
        assertThat(summary.path("email").asText()).isEqualTo("tester@example.org");
        assertThat(summary.path("total").asText()).isEqualTo("46.00");
        assertThat(summary.path("positions")).isNotEmpty();
        assertThat(summary.path("positions").get(0).path("product").asText()).isNotEmpty();
        // the provider's health over time counts the failed and the delivered sync, and their latency
        JsonNode stats = JSON.readTree(app.get("/api/providers/members/stats?window=1h").body());
        JsonNode now = stats.path("points").get(59);
        assertThat(now.path("syncs").asInt() + stats.path("points").get(58).path("syncs").asInt()).isEqualTo(2);
        assertThat(stats.path("points").findValues("failures").stream().mapToInt(JsonNode::asInt).sum()).isEqualTo(1);
        assertThat(stats.path("points").findValues("p95").stream().anyMatch(n -> !n.isNull())).isTrue();
        assertThat(app.get("/api/providers/members/stats?window=7d").statusCode()).isEqualTo(400);
        assertThat(app.get("/api/providers/nope/stats").statusCode()).isEqualTo(404);
        // nowhere in the table
        String dump = app.query("SELECT * FROM sync_tries").toString();
        assertThat(dump).doesNotContain("tok-SECRET-123456", "hunter2", "pw-literal-visible", "rt-9999-visible");

        // an order retried for days: 250 older tries besides these two; the answer shows the newest 200, oldest first,
        // and attempts_total says how many there are (API.md)
        com.fasterxml.jackson.databind.node.ArrayNode older = JSON.createArrayNode();
        java.time.Instant start = java.time.Instant.parse("2026-01-01T00:00:00Z");
        for (int i = 0; i < 250; i++) {
            older.addObject().put("mapping_id", "member").put("method", "PUT").put("url", "http://x/members/" + i).put("status", 503)
                    .put("latency_ms", 1).put("attempted_at", start.plusSeconds(i).toString());
        }
        try (var c = app.dataSource().getConnection(); var ps = c.prepareStatement("INSERT INTO sync_tries (event_slug, order_code, "
                + "provider, try_count, first_at, last_at, tries) VALUES ('democon', 'ABC12', 'members', 250, ?, ?, ?)")) {
            ps.setObject(1, start.atOffset(java.time.ZoneOffset.UTC));
            ps.setObject(2, start.plusSeconds(249).atOffset(java.time.ZoneOffset.UTC));
            ps.setString(3, older.toString());
            ps.executeUpdate();
        }
        JsonNode many = JSON.readTree(app.get("/api/orders/democon/ABC12").body());
        assertThat(many.path("attempts_total").asInt()).isEqualTo(252);
        assertThat(many.path("attempts")).hasSize(200);
        assertThat(many.path("attempts").get(0).path("url").asText()).as("the oldest shown").isEqualTo("http://x/members/52");
        assertThat(many.path("attempts").get(199).path("status").asInt()).as("the newest last").isEqualTo(200);
    }

    /** A sync that ran past its lease finishes after the order was erased: nothing of the order is stored again. */
    @Test
    void anOrderErasedWhileALateSyncRunsStaysErased() throws Exception {
        io.ordersync.support.Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1h", "response_timeout_ms", "20000"));
        target.stallNext(1, "/contacts", 5000);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                "ordersync.queue.lease", "PT1S", "ordersync.queue.reaper-period-ms", "200")).start();
        app.post("/api/events", fixture("order-abc12").toString());
        // the reaper hands the row back (lease expired) while the first request still hangs; then the order is erased
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE slot = 'waiting'") == 1);
        await().atMost(Duration.ofSeconds(10)).until(() -> app.delete("/api/orders/democon/ABC12").statusCode() == 200);
        // the late sync finishes (its request answers after 5 s) and finds its claim lost
        Thread.sleep(6000);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM sync_result")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM sync_tries")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE order_code = 'ABC12'")).isZero();
    }

    @Test
    void theLargestBodyLimitStillStoresTheTriesAndTheOutcome() throws Exception {
        startMembers(startTarget(6000), Map.of("ordersync.attempts.body-limit", "4000"));
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();
        // the failed sync's try and the next sync's, a row each
        assertThat(app.count("SELECT COUNT(*) FROM sync_tries")).isEqualTo(2);
        assertThat(app.count("SELECT SUM(try_count) FROM sync_tries")).isEqualTo(2);
        assertThat(app.count("SELECT COUNT(*) FROM sync_result")).isEqualTo(1);
    }

    @Test
    void aTargetThatRefusesConnectionsIsATryWithAnErrorAndNoStatus() throws Exception {
        int port = Ports.free();
        startMembers("http://127.0.0.1:" + port, Map.of());
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_tries") >= 1);
        JsonNode a = JSON.readTree(app.get("/api/orders/democon/ABC12").body()).path("attempts").get(0);
        assertThat(a.path("status").isNull()).as(a.toString()).isTrue();
        assertThat(a.path("error").asText()).contains("PUT /members/").contains("failed");
    }

    private void postOrders(int n) throws Exception {
        for (int i = 0; i < n; i++) {
            ObjectNode doc = fixture("order-abc12");
            ObjectNode o = (ObjectNode) doc.path("order");
            o.put("code", String.format("C%03d", i)).put("email", i % 5 == 0 ? "Buyer" + i + "@Example.ORG" : "person" + i + "@example.org");
            ((ObjectNode) o.path("invoice_address")).put("name", i == 7 ? "Zoë 100%_real" : "Person " + i);
            if (i == 3) {
                doc.put("type", "order.placed");
            }
            assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        }
    }

    private JsonNode list(String query) throws Exception {
        var r = app.get("/api/orders" + query);
        assertThat(r.statusCode()).as(query + ": " + r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    @Test
    void theOrderListSearchesFiltersPagesAndRefusesBadParameters() throws Exception {
        startWithCrm();
        listErasePurge();
    }

    @Test
    void theOrderListEraseAndPurgeWorkOnPostgres() throws Exception {
        Map<String, String> db = new HashMap<>();
        Postgres.newDatabase().forEach((k, v) -> db.put((String) k, (String) v));
        startWithCrm(5, "5s", db);
        listErasePurge();
    }

    private void listErasePurge() throws Exception {
        postOrders(25);
        awaitQueueEmpty();
        assertThat(list("").path("total").asInt()).isEqualTo(25);
        JsonNode page = list("?limit=10&offset=20");
        assertThat(page.path("rows")).hasSize(5);
        // e-mail in any case, any part; order code; name with % and _ taken literally
        assertThat(list("?q=BUYER10%40example").path("rows")).singleElement().satisfies(r -> assertThat(r.path("code").asText()).isEqualTo("C010"));
        assertThat(list("?q=c02").path("total").asInt()).isEqualTo(5);
        assertThat(list("?q=" + URLEncoder.encode("100%_real", StandardCharsets.UTF_8)).path("rows")).singleElement()
                .satisfies(r -> assertThat(r.path("buyer_name").asText()).isEqualTo("Zoë 100%_real"));
        assertThat(list("?q=" + URLEncoder.encode("%", StandardCharsets.UTF_8)).path("total").asInt()).isEqualTo(1);
        assertThat(list("?q=" + URLEncoder.encode("' OR 1=1 --", StandardCharsets.UTF_8)).path("total").asInt()).isZero();
        assertThat(list("?state=synced&provider=crm").path("total").asInt()).isEqualTo(25);
        assertThat(list("?state=problem").path("total").asInt()).isZero();
        assertThat(list("?event=democon&from=2000-01-01&to=2999-12-31").path("total").asInt()).isEqualTo(25);
        assertThat(list("?to=2000-01-01").path("total").asInt()).isZero();
        JsonNode row = list("?q=C001").path("rows").get(0);
        assertThat(row.path("email").asText()).isEqualTo("person1@example.org");
        assertThat(row.path("status").asText()).isEqualTo("p");
        assertThat(row.path("synced_providers").asInt()).isEqualTo(1);
        for (String bad : List.of("?limit=0", "?limit=201", "?offset=-1", "?limit=x", "?state=bogus", "?from=yesterday",
                "?q=" + "a".repeat(201), "?to=%2B999999999-12-31", "?from=%2B300000-01-01", "?q=a%00b", "?q=C001&q=C002")) {
            var r = app.get("/api/orders" + bad);
            assertThat(r.statusCode()).as(bad).isEqualTo(400);
            assertThat(JSON.readTree(r.body()).path("error").asText()).isNotEmpty();
        }

        // request headers named like the parameters neither filter nor choose what is erased
        var headerQ = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(app.url("/api/orders")))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("q", "C001").header("limit", "1").GET().build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(JSON.readTree(headerQ.body()).path("total").asInt()).isEqualTo(25);
        assertThat(JSON.readTree(headerQ.body()).path("limit").asInt()).isEqualTo(50);
        var headerEmail = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(app.url("/api/orders")))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("email", "person1@example.org").DELETE().build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(headerEmail.statusCode()).isEqualTo(400);
        var headerCode = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(app.url("/api/orders/democon/NOPE")))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("code", "C001").DELETE().build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(headerCode.statusCode()).isEqualTo(404);
        assertThat(list("").path("total").asInt()).isEqualTo(25);
        // a bare @ or a partial address erases nothing, and another address's rejected events stay
        app.post("/api/events", "{\"type\": \"order.paid\", \"note\": \"xbuyer10@example.org.evil\"}");
        long rejected = app.count("SELECT COUNT(*) FROM rejected_event");
        assertThat(rejected).isGreaterThan(0);
        for (String bad : List.of("@", "buyer10@", "@example.org", "a@b")) {
            assertThat(app.delete("/api/orders?email=" + URLEncoder.encode(bad, StandardCharsets.UTF_8)).statusCode()).as(bad).isEqualTo(400);
        }

        // a rejected event that holds the address (in another case) as a whole JSON string goes with the e-mail's erase
        app.post("/api/events", "{\"type\": \"order.paid\", \"note\": \"Buyer10@Example.ORG\"}");
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isEqualTo(rejected + 1);
        // a park no alert has named yet (of a provider another instance alerts for: this one's alerts leave it)
        try (var c = app.dataSource().getConnection();
             var ps = c.prepareStatement("INSERT INTO park_news (provider, event_slug, order_code, message, created_at) "
                     + "VALUES ('elsewhere', 'democon', 'C001', 'parked', CURRENT_TIMESTAMP)")) {
            ps.executeUpdate();
        }

        // erase one order: what was removed, then nothing is held
        var erased = app.delete("/api/orders/democon/C001");
        assertThat(erased.statusCode()).isEqualTo(200);
        JsonNode deleted = JSON.readTree(erased.body()).path("deleted");
        assertThat(deleted.path("park_news").asInt()).isEqualTo(1);
        assertThat(app.count("SELECT COUNT(*) FROM park_news WHERE order_code = 'C001'")).isZero();
        assertThat(deleted.path("order_snapshot").asInt()).isEqualTo(1);
        assertThat(deleted.path("sync_result").asInt()).isGreaterThan(0);
        assertThat(deleted.path("order_log").asInt()).isGreaterThan(0);
        assertThat(deleted.path("sync_tries").asInt()).isGreaterThan(0);
        assertThat(app.get("/api/orders/democon/C001").statusCode()).isEqualTo(404);
        assertThat(app.delete("/api/orders/democon/C001").statusCode()).isEqualTo(404);
        assertThat(app.count("SELECT COUNT(*) FROM sync_tries WHERE order_code = 'C001'")).isZero();
        // by e-mail, in another case: the orders named, their data gone, the rejected event that holds the address
        // gone (the one of a longer address stays), and the address in no log line
        java.net.http.HttpResponse<String> byEmail;
        io.ordersync.support.LogCapture log = io.ordersync.support.LogCapture.root();
        try (log) {
            byEmail = app.delete("/api/orders?email=" + URLEncoder.encode("buyer10@EXAMPLE.org", StandardCharsets.UTF_8));
        }
        assertThat(byEmail.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(byEmail.body()).path("orders")).extracting(JsonNode::asText).containsExactly("democon/C010");
        assertThat(JSON.readTree(byEmail.body()).path("deleted").path("rejected_event").asInt()).isEqualTo(1);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'C010'")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM sync_result WHERE LOWER(id_value) = 'buyer10@example.org'")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isEqualTo(rejected);
        assertThat(log.events()).anySatisfy(e -> assertThat(e.getFormattedMessage()).startsWith("Erased the data of an e-mail address"));
        assertThat(log.events()).allSatisfy(e -> assertThat(e.getFormattedMessage() + e.getLoggerName()).doesNotContainIgnoringCase("buyer10"));
        assertThat(app.delete("/api/orders?email=not-an-address").statusCode()).isEqualTo(400);
        assertThat(app.delete("/api/orders").statusCode()).isEqualTo(400);
        assertThat(list("").path("total").asInt()).isEqualTo(23);

        // the purge: an order whose snapshot is older than the retention goes with everything about it
        app.query("SELECT 1"); // the store is up
        Retention purging = new Retention(app.dataSource(), app.store(), Duration.ofDays(30), Duration.ofDays(365));
        try (var c = app.dataSource().getConnection(); var ps = c.prepareStatement(
                "UPDATE order_snapshot SET received_at = ? WHERE order_code IN ('C002', 'C003')")) {
            ps.setObject(1, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC).minusDays(400));
            ps.executeUpdate();
        }
        try (var c = app.dataSource().getConnection(); var ps = c.prepareStatement(
                "UPDATE sync_tries SET first_at = ?, last_at = ? WHERE order_code = 'C004'")) {
            ps.setObject(1, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC).minusDays(40));
            ps.setObject(2, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC).minusDays(40));
            ps.executeUpdate();
        }
        // parks no alert named (alerts are off here): those older than a day go (README "Alerts")
        try (var c = app.dataSource().getConnection(); var ps = c.prepareStatement(
                "INSERT INTO park_news (provider, event_slug, order_code, message, created_at) VALUES ('crm', 'democon', ?, 'parked', ?)")) {
            ps.setString(1, "P-OLD");
            ps.setObject(2, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC).minusHours(25));
            ps.executeUpdate();
            ps.setString(1, "P-NEW");
            ps.setObject(2, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC).minusHours(23));
            ps.executeUpdate();
        }
        Map<String, Integer> purged = purging.purge(java.time.Instant.now());
        assertThat(purged).containsEntry("order_snapshot", 2).containsKey("sync_tries").containsKey("sync_result");
        assertThat(app.query("SELECT order_code FROM park_news")).extracting(r -> r.get("order_code")).containsExactly("P-NEW");
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code IN ('C002', 'C003')")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM sync_tries WHERE order_code = 'C004'")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'C004'")).isEqualTo(1);
        assertThat(list("").path("total").asInt()).isEqualTo(21);
    }

    /**
     * The settings reach the purge, and route retention-purge runs it by itself: orders (and their results, log and
     * tries), log lines and rejected events older than ordersync.retention.orders go; tries are kept with
     * ordersync.retention.attempts PT0S, however old (README "Data protection"; before, only purge() called by hand
     * with its own durations was tested).
     */
    @Test
    void theTimerPurgesWithTheConfiguredRetentionAndPT0SKeeps() throws Exception {
        startWithCrm(5, "5s", Map.of("ordersync.retention.orders", "P30D", "ordersync.retention.attempts", "PT0S",
                "ordersync.retention.purge-period-ms", "300"));
        for (String code : List.of("OLD01", "NEW01")) {
            ObjectNode doc = fixture("order-abc12");
            ((ObjectNode) doc.path("order")).put("code", code).put("email", code.toLowerCase() + "@example.org");
            app.post("/api/events", doc.toString());
        }
        assertThat(app.post("/api/events", "{\"not\": \"an order\"}").statusCode()).isEqualTo(400);
        awaitQueueEmpty();
        java.time.OffsetDateTime longAgo = java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC).minusDays(40);
        try (var c = app.dataSource().getConnection()) {
            for (String sql : List.of("UPDATE order_snapshot SET received_at = ? WHERE order_code = 'OLD01'",
                    "UPDATE order_log SET created_at = ? WHERE order_code = 'NEW01' AND kind = 'received'",
                    "UPDATE rejected_event SET received_at = ?",
                    "UPDATE sync_tries SET first_at = ?, last_at = ? WHERE order_code = 'NEW01'")) {
                try (var ps = c.prepareStatement(sql)) {
                    for (int i = 1; i <= ps.getParameterMetaData().getParameterCount(); i++) {
                        ps.setObject(i, sql.contains("sync_tries") ? longAgo.minusDays(400) : longAgo);
                    }
                    assertThat(ps.executeUpdate()).as(sql).isPositive();
                }
            }
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'OLD01'") == 0
                && app.count("SELECT COUNT(*) FROM rejected_event") == 0
                && app.count("SELECT COUNT(*) FROM order_log WHERE order_code = 'NEW01' AND kind = 'received'") == 0);
        for (String table : List.of("sync_result", "order_log", "sync_tries")) {
            assertThat(app.count("SELECT COUNT(*) FROM " + table + " WHERE order_code = 'OLD01'")).as(table).isZero();
        }
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'NEW01'")).isEqualTo(1);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE order_code = 'NEW01' AND kind = 'success'")).isEqualTo(1);
        assertThat(app.count("SELECT COUNT(*) FROM sync_result WHERE order_code = 'NEW01'")).isPositive();
        assertThat(app.count("SELECT COUNT(*) FROM sync_tries WHERE order_code = 'NEW01'")).as("PT0S: kept").isPositive();
    }

    @Test
    void anOrderWithSomethingQueuedIsNotPurgedAndSnapshotsFromBeforeTheSearchColumnsAreFilled() throws Exception {
        target.failAlways(400);
        startWithCrm();
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL") == 1);
        try (var c = app.dataSource().getConnection(); var st = c.createStatement()) {
            st.executeUpdate("UPDATE order_snapshot SET received_at = received_at - INTERVAL '400' DAY, email = NULL, order_status = NULL, buyer_name = NULL");
        }
        // and 600 stored before the search columns whose order has no status at all: the fill ends
        try (var c = app.dataSource().getConnection(); var ps = c.prepareStatement("INSERT INTO order_snapshot (event_slug, order_code, "
                + "event_type, document, received_at) VALUES ('old', ?, 'order.paid', '{\"order\": {\"status\": null}}', CURRENT_TIMESTAMP)")) {
            for (int i = 0; i < 600; i++) {
                ps.setString(1, "N" + i);
                ps.addBatch();
            }
            ps.executeBatch();
        }
        Retention retention = (Retention) app.context().getRegistry().lookupByName("ordersync.retention");
        java.util.concurrent.CompletableFuture.runAsync(retention::run).get(30, java.util.concurrent.TimeUnit.SECONDS);
        // parked for an operator: kept, and found by its e-mail again
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE event_slug = 'democon'")).isEqualTo(1);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_status IS NULL")).isZero();
        assertThat(list("?q=tester@example").path("rows")).singleElement()
                .satisfies(r -> assertThat(r.path("buyer_name").asText()).isEqualTo("John Doe"));
    }
}
