package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Intake over HTTP and the JDBC outbox: validation, rejected events, snapshots, exactly-once consumption. */
class IntakeTest extends AppTestSupport {

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            unparseable JSON        | {"type": "order.placed", "event": {            | not valid JSON
            not an object           | [1, 2, 3]                                       | document must be a JSON object
            missing type            | {"event": {"slug": "x"}, "order": {"code": "A"}} | missing type
            missing event.slug      | {"type": "order.placed", "event": {}, "order": {"code": "A"}} | missing event.slug
            missing order.code      | {"type": "order.placed", "event": {"slug": "x"}, "order": {}} | missing order.code
            order.code not a string | {"type": "order.placed", "event": {"slug": "x"}, "order": {"code": 12}} | order.code must be a string, got number
            positions not a list    | {"type": "order.placed", "event": {"slug": "x"}, "order": {"code": "A", "positions": {}}} | order.positions must be an array
            empty body              | ' '                                             | empty document
            """)
    void badDocumentsGet400AndAreKept(String name, String body, String reason) throws Exception {
        startWithCrm();
        HttpResponse<String> r = app.post("/api/events", body);
        assertThat(r.statusCode()).isEqualTo(400);
        JsonNode json = JSON.readTree(r.body());
        assertThat(json.path("error").asText()).contains(reason);
        List<Map<String, Object>> rejected = app.query("SELECT id, source, reason, payload FROM rejected_event");
        assertThat(rejected).hasSize(1);
        assertThat(json.path("rejected_id").isIntegralNumber()).isTrue();
        assertThat(json.path("rejected_id").asLong()).isEqualTo(((Number) rejected.get(0).get("id")).longValue());
        assertThat(rejected.get(0)).containsEntry("source", "http");
        assertThat((String) rejected.get(0).get("reason")).contains(reason);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
    }

    /**
     * An internal error while accepting (here the snapshot table gone, an error of neither the document nor an
     * unreachable database) is a 500 with the rejected event's id: the document is kept, and once the fault is repaired
     * its resubmit syncs the order. Nothing of the stack trace reaches the answer.
     */
    @Test
    void anInternalErrorIsA500WithTheRejectedIdAndTheEventIsKept() throws Exception {
        startWithCrm();
        ObjectNode doc = fixture("order-xyz34");
        try (var c = app.dataSource().getConnection(); var s = c.createStatement()) {
            s.execute("ALTER TABLE order_snapshot RENAME TO order_snapshot_away");
        }
        HttpResponse<String> r = app.post("/api/events", doc.toString());
        try (var c = app.dataSource().getConnection(); var s = c.createStatement()) {
            s.execute("ALTER TABLE order_snapshot_away RENAME TO order_snapshot");
        }
        assertThat(r.statusCode()).isEqualTo(500);
        JsonNode json = JSON.readTree(r.body());
        assertThat(json.path("error").asText()).startsWith("internal error while accepting: ");
        assertThat(r.body()).doesNotContain("at io.").doesNotContain("order_snapshot");
        long id = json.path("rejected_id").asLong();
        assertThat(app.query("SELECT payload FROM rejected_event WHERE id = ?", id)).singleElement()
                .satisfies(row -> assertThat(JSON.readTree((String) row.get("payload"))).isEqualTo(doc));
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isZero();
        assertThat(app.post("/api/rejected/" + id + "/resubmit", "").statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isZero();
    }

    @ParameterizedTest(name = "{0} over its limit")
    @CsvSource(delimiter = '|', textBlock = """
            event.slug         | 201 | event.slug is 201 characters long, over the limit of 200
            order.code         | 101 | order.code is 101 characters long, over the limit of 100
            type               | 201 | type is 201 characters long, over the limit of 200
            order.last_modified | 65 | order.last_modified is 65 characters long, over the limit of 64
            """)
    void overLongIdentifiersAreRejectedWithAReasonOverHttpAndFromTheOutbox(String field, int length, String reason)
            throws Exception {
        startWithCrm();
        ObjectNode doc = fixture("order-abc12");
        String[] path = field.split("\\.");
        ObjectNode parent = path.length == 1 ? doc : (ObjectNode) doc.path(path[0]);
        parent.put(path[path.length - 1], "x".repeat(length));
        HttpResponse<String> r = app.post("/api/events", doc.toString());
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(r.body()).path("error").asText()).isEqualTo(reason);
        // from the outbox: rejected once with the same reason, not re-read as if the database were down
        app.insertOutbox(doc.toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM order_outbox") == 0);
        assertThat(app.query("SELECT source, reason FROM rejected_event ORDER BY id"))
                .extracting(m -> m.get("source") + ": " + m.get("reason"))
                .containsExactly("http: " + reason, "outbox: " + reason);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isZero();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            trailing garbage   | {"type": "order.placed"} x                    | not valid JSON
            a lone string      | "order"                                       | document must be a JSON object
            deep nesting       | DEEP                                          | not valid JSON
            a number too long  | BIGNUM                                        | not valid JSON
            a duplicate key    | {"type": "a", "type": "b", "event": {"slug": "x"}, "order": {"code": "A"}} | not valid JSON
            """)
    void rejectionReasonsAreWrittenForPeople(String name, String body, String reason) throws Exception {
        startWithCrm();
        String payload = body.equals("DEEP") ? "[".repeat(2000) + "]".repeat(2000)
                : body.equals("BIGNUM") ? "{\"type\": " + "9".repeat(2000) + "}" : body;
        HttpResponse<String> r = app.post("/api/events", payload);
        assertThat(r.statusCode()).isEqualTo(400);
        String error = JSON.readTree(r.body()).path("error").asText();
        assertThat(error).startsWith(reason).doesNotContain("Source:", "REDACTED", "StreamReadFeature", "com.fasterxml");
        assertThat((String) app.query("SELECT reason FROM rejected_event").get(0).get("reason")).isEqualTo(error);
    }

    @Test
    void aLoneSurrogateIsRefusedWithItsPathAndAnEscapedPairIsKept() throws Exception {
        startWithCrm();
        // two codes that differ only in a lone surrogate: stored, both would be "A?", one order
        String template = fixture("order-abc12").toString().replace("\"ABC12\"", "\"A@@\"");
        for (String lone : List.of("\\ud800", "\\uDBFF", "\\udc00x")) {
            HttpResponse<String> r = app.post("/api/events", template.replace("@@", lone));
            assertThat(r.statusCode()).as(lone).isEqualTo(400);
            assertThat(JSON.readTree(r.body()).path("error").asText()).startsWith("order.code has a lone UTF-16 surrogate");
        }
        ObjectNode named = fixture("order-abc12");
        String body = named.toString().replace("\"ABC12\"", "\"B1\"")
                .replaceFirst("\"email\": ?\"", "\"email\":\"\\\\ud83d\\\\ude00");
        assertThat(body).contains("\\ud83d\\ude00");
        HttpResponse<String> ok = app.post("/api/events", body);
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(202);
        String stored = (String) app.query("SELECT document FROM order_snapshot WHERE order_code = 'B1'").get(0).get("document");
        assertThat(JSON.readTree(stored).path("order").path("email").asText()).startsWith(new String(Character.toChars(0x1F600)));
        // a key, deep in the document, and from the outbox too
        app.insertOutbox(template.replace("@@", "2").replace("\"positions\"", "\"x\\ud801\": 1, \"positions\""));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM order_outbox") == 0);
        assertThat(app.query("SELECT source, reason, payload FROM rejected_event ORDER BY id"))
                .hasSize(4)
                .allSatisfy(m -> assertThat((String) m.get("payload")).as("the refused document is kept as sent")
                        .containsPattern("\\\\u[dD][89a-fA-F]"))
                .last().satisfies(m -> {
                    assertThat(m.get("source")).isEqualTo("outbox");
                    assertThat((String) m.get("reason")).isEqualTo("a key in order has a lone UTF-16 surrogate, "
                            + "which cannot be stored: send the whole pair, or none");
                });
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isEqualTo(1);
        // not escaped but in the text itself, as a JMS message or a body in CESU-8 or UTF-32 brings it
        app.insertOutbox(template.replace("@@", "\uD800"));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM order_outbox") == 0);
        assertThat((String) app.query("SELECT reason FROM rejected_event ORDER BY id DESC").get(0).get("reason"))
                .startsWith("order.code has a lone UTF-16 surrogate (U+D800) at character 1");
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isEqualTo(1);
    }

    @ParameterizedTest(name = "Content-Type: {0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"", "application/x-www-form-urlencoded", "text/plain",
            "multipart/form-data; boundary=x"})
    void jsonWithoutAJsonContentTypeIsAccepted(String contentType) throws Exception {
        startWithCrm();
        java.net.http.HttpRequest.Builder request = java.net.http.HttpRequest
                .newBuilder(java.net.URI.create(app.url("/api/events")))
                .header("Authorization", "Bearer " + io.ordersync.support.OrdersyncApp.ADMIN_TOKEN);
        if (!contentType.isEmpty()) {
            // curl -d sends application/x-www-form-urlencoded unless told otherwise
            request.header("Content-Type", contentType);
        }
        HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(request.POST(java.net.http.HttpRequest.BodyPublishers.ofString(fixture("order-abc12").toString())).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v).startsWith("application/json"));
        assertThat(JSON.readTree(r.body()).path("order").asText()).isEqualTo("ABC12");
    }

    @Test
    void aDocumentOverTheSizeLimitIsRejected() throws Exception {
        startWithCrm(5, "5s", Map.of("ordersync.intake.max-document-bytes", "2000"));
        HttpResponse<String> r = app.post("/api/events", fixture("order-abc12").toString());
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("over the limit of 2000 bytes");
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isEqualTo(1);
    }

    @Test
    void badOutboxRowsAreRejectedAndTheRestGoesOn() throws Exception {
        startWithCrm();
        app.insertOutbox("{not json");
        app.insertOutbox(fixture("order-xyz34").toString());
        app.insertOutbox("{\"type\": \"order.placed\", \"event\": {\"slug\": \"democon\"}}");
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM order_outbox") == 0);
        awaitQueueEmpty();
        List<Map<String, Object>> rejected = app.query("SELECT source, reason FROM rejected_event ORDER BY id");
        assertThat(rejected).extracting(m -> m.get("source")).containsOnly("outbox");
        assertThat(rejected).extracting(m -> (String) m.get("reason"))
                .satisfiesExactly(r -> assertThat(r).contains("not valid JSON"), r -> assertThat(r).isEqualTo("missing order"));
        assertThat(target.objects("contacts")).hasSize(1);
    }

    @Test
    void unknownFieldsAreIgnoredAndOnlyTheNewestSnapshotCounts() throws Exception {
        startWithCrm();
        target.failAlways(503); // keep the row waiting while both versions arrive
        ObjectNode newer = fixture("order-xyz34");
        newer.put("some_future_field", "ignored");
        ((ObjectNode) newer.path("order")).put("last_modified", "2026-03-03T09:00:00Z");
        ((ObjectNode) newer.path("order")).put("email", "anna.new@example.com");
        ObjectNode older = fixture("order-xyz34");
        older.put("type", "order.changed");
        assertThat(app.post("/api/events", newer.toString()).statusCode()).isEqualTo(202);
        HttpResponse<String> late = app.post("/api/events", older.toString());
        assertThat(late.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(late.body()).path("snapshot").asText()).isEqualTo("kept newer stored snapshot");
        target.failAlways(0);
        io.ordersync.db.Tx.run(app.dataSource(), c -> c.createStatement().executeUpdate(
                "UPDATE sync_queue SET not_before = CURRENT_TIMESTAMP - INTERVAL '1' HOUR, failed_attempts = 0"));
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).extracting(c -> c.path("email").asText()).containsExactly("anna.new@example.com");
    }

    /**
     * A late document older than the stored one, after the newer one was synced: it still queues a sync (README:
     * "still triggers a sync"), which sends the stored, newer state; the snapshot stays the newer one.
     */
    @Test
    void aLateOlderDocumentAfterTheNewerWasSyncedStillTriggersASyncOfTheNewerState() throws Exception {
        startWithCrm();
        ObjectNode newer = fixture("order-xyz34");
        ((ObjectNode) newer.path("order")).put("last_modified", "2026-03-03T09:00:00Z").put("email", "anna.new@example.com");
        assertThat(app.post("/api/events", newer.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        target.clearRequests();
        ObjectNode older = fixture("order-xyz34");
        older.put("type", "order.changed");
        HttpResponse<String> late = app.post("/api/events", older.toString());
        assertThat(late.statusCode()).isEqualTo(202);
        JsonNode answer = JSON.readTree(late.body());
        assertThat(answer.path("snapshot").asText()).isEqualTo("kept newer stored snapshot");
        assertThat(answer.path("queued")).extracting(q -> q.path("provider").asText()).containsExactly("crm");
        awaitQueueEmpty();
        assertThat(app.query("SELECT kind FROM order_log WHERE order_code = 'XYZ34' ORDER BY id")).extracting(m -> m.get("kind"))
                .containsExactly("received", "success", "received");
        assertThat(app.query("SELECT last_modified FROM order_snapshot WHERE order_code = 'XYZ34'").get(0).get("last_modified"))
                .isEqualTo("2026-03-03T09:00:00Z");
        assertThat(target.objects("contacts")).extracting(c -> c.path("email").asText()).containsExactly("anna.new@example.com");
        // the sync ran (it looked the objects up), found nothing to change and wrote nothing
        assertThat(target.requests()).isNotEmpty().allSatisfy(r -> assertThat(r.method()).isEqualTo("GET"));
        assertThat(target.requests()).anySatisfy(r -> assertThat(r.query()).contains("anna.new"));
    }

    @Test
    void outboxRowsAreConsumedExactlyOnceAlsoWhenStoppedMidBatch() throws Exception {
        startWithCrm();
        target.failAlways(503); // deliveries are not the point here; keep the target quiet
        int n = 600;
        // each received event's log line held 3 ms (a trigger, until the restart): the 600 take about 2 s, longer than a stop, also on a
        // fast machine (without it, one consumed all 600 between the first 50 and the stop)
        try (java.sql.Connection c = app.dataSource().getConnection(); java.sql.Statement s = c.createStatement()) {
            s.execute("CREATE TRIGGER slow_log BEFORE INSERT ON order_log FOR EACH ROW CALL \"" + SlowInsert.class.getName() + "\"");
        }
        // fill the outbox while its consumer is stopped, then stop ordersync in the middle of consuming
        app.context().getRouteController().stopRoute("intake-outbox");
        OrdersyncAppFiller.fill(app, fixture("order-xyz34"), n);
        app.context().getRouteController().startRoute("intake-outbox");
        await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'") >= 50);
        // the stop is graceful, not forced after Camel's timeout: nothing more is claimed once it began, so the
        // provider's route (its target failing, its rows redelivered) is not fed new rows while the stop waits for it
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> shutdownLog = new ch.qos.logback.core.read.ListAppender<>();
        ch.qos.logback.classic.Logger shutdownLogger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(
                org.apache.camel.impl.engine.DefaultShutdownStrategy.class);
        shutdownLog.start();
        shutdownLogger.addAppender(shutdownLog);
        try {
            app.stop();
        } finally {
            shutdownLogger.detachAppender(shutdownLog);
        }
        assertThat(shutdownLog.list).extracting(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                .noneMatch(m -> m.startsWith("Timeout occurred during graceful shutdown"));
        assertThat(app.countWhileStopped("SELECT COUNT(*) FROM order_outbox")).as("stopped mid-way").isPositive();
        app.start();
        io.ordersync.db.Tx.run(app.dataSource(), c -> c.createStatement().execute("DROP TRIGGER slow_log"));
        await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM order_outbox") == 0);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isEqualTo(n);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).isEqualTo(n);
        assertThat(app.query("SELECT order_code, COUNT(*) AS c FROM order_log WHERE kind = 'received' GROUP BY order_code HAVING COUNT(*) > 1"))
                .as("no event accepted twice").isEmpty();
        assertThat(app.count("SELECT COUNT(DISTINCT order_code) FROM sync_queue")).isEqualTo(n);
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isZero();
    }

    /**
     * A poll's rows are accepted in chunks of 8, one transaction each. A row the database refuses in the middle of
     * a chunk (PostgreSQL refuses a NUL character in the buyer's name, a search column; H2 stores it) fails the
     * chunk: its rows are then accepted one by one, the bad one moved to the rejected events, every other row
     * accepted exactly once, two events of one order in their order.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"h2", "postgresql"})
    void aRowTheDatabaseRefusesInTheMiddleOfAChunkCostsOnlyThatRow(String db) throws Exception {
        Map<String, String> props = new java.util.HashMap<>();
        if (db.equals("postgresql")) {
            io.ordersync.support.Postgres.newDatabase().forEach((k, v) -> props.put((String) k, (String) v));
        }
        startWithCrm(5, "5s", props);
        app.context().getRouteController().stopRoute("intake-outbox");
        ObjectNode placed = fixture("order-abc12");
        ObjectNode bad = fixture("order-xyz34");
        ((ObjectNode) bad.path("order").path("invoice_address")).put("name", "Anna\u0000Nul");
        ((ObjectNode) bad.path("order")).put("code", "NUL01");
        app.insertOutbox(placed.toString());
        for (int i = 0; i < 5; i++) {
            ObjectNode other = fixture("order-xyz34");
            ((ObjectNode) other.path("order")).put("code", "OK" + i);
            app.insertOutbox(other.toString());
        }
        app.insertOutbox(bad.toString());
        ObjectNode changed = placed.deepCopy();
        changed.put("type", "order.changed");
        ((ObjectNode) changed.path("order")).put("email", "changed@example.org");
        ((ObjectNode) changed.path("order")).put("last_modified", "2026-12-01T10:00:00Z");
        app.insertOutbox(changed.toString());
        app.context().getRouteController().startRoute("intake-outbox");

        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM order_outbox") == 0);
        awaitQueueEmpty();
        List<Map<String, Object>> rejected = app.query("SELECT source, reason FROM rejected_event");
        if (db.equals("postgresql")) {
            assertThat(rejected).hasSize(1);
            assertThat((String) rejected.get(0).get("reason")).startsWith("internal error while accepting");
        } else {
            assertThat(rejected).isEmpty();
        }
        assertThat(app.query("SELECT order_code, COUNT(*) AS n FROM order_log WHERE kind = 'received' GROUP BY order_code ORDER BY order_code"))
                .extracting(r -> r.get("order_code") + "=" + ((Number) r.get("n")).intValue())
                .containsExactlyElementsOf(db.equals("postgresql")
                        ? List.of("ABC12=2", "OK0=1", "OK1=1", "OK2=1", "OK3=1", "OK4=1")
                        : List.of("ABC12=2", "NUL01=1", "OK0=1", "OK1=1", "OK2=1", "OK3=1", "OK4=1"));
        assertThat(app.query("SELECT message FROM order_log WHERE order_code = 'ABC12' AND kind = 'received' ORDER BY id"))
                .extracting(r -> (String) r.get("message")).satisfiesExactly(m -> assertThat(m).startsWith("order.placed"),
                        m -> assertThat(m).startsWith("order.changed"));
        assertThat(target.objects("contacts")).extracting(c -> c.path("email").asText()).contains("changed@example.org");
    }

    /** Writes n distinct orders into the outbox in one transaction. */
    static final class OrdersyncAppFiller {
        static void fill(io.ordersync.support.OrdersyncApp app, ObjectNode template, int n) {
            io.ordersync.db.Tx.run(app.dataSource(), c -> {
                try (var ps = c.prepareStatement("INSERT INTO order_outbox (payload) VALUES (?)")) {
                    for (int i = 0; i < n; i++) {
                        ObjectNode doc = template.deepCopy();
                        ObjectNode order = (ObjectNode) doc.path("order");
                        order.put("code", "O" + i);
                        order.put("email", order.path("email").asText().replace("{code}", "o" + i));
                        ps.setString(1, doc.toString());
                        ps.addBatch();
                    }
                    ps.executeBatch();
                }
                return null;
            });
        }
    }

    /** H2: holds the insert of each log line 3 ms (intake slowed, so that a stop comes in the middle of it). */
    public static final class SlowInsert implements org.h2.api.Trigger {
        @Override
        public void fire(java.sql.Connection conn, Object[] oldRow, Object[] newRow) {
            try {
                Thread.sleep(3);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
