package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.icegreen.greenmail.junit5.GreenMailExtension;
import com.icegreen.greenmail.util.ServerSetupTest;
import com.sun.net.httpserver.HttpServer;
import io.ordersync.support.AppTestSupport;
import jakarta.mail.internet.MimeMessage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 17, point 6: operational alerts to a webhook receiver on loopback (checked against the Standard Webhooks
 * signature) and by e-mail to a real SMTP server (GreenMail): a row parked, a flood cut to one alert per
 * interval, a provider disabled, the recovery.
 */
class AlertsTest extends AppTestSupport {

    @RegisterExtension
    static GreenMailExtension mail = new GreenMailExtension(ServerSetupTest.SMTP.dynamicPort());

    private static final byte[] KEY = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.UTF_8);
    private HttpServer receiver;
    private final List<JsonNode> alerts = new CopyOnWriteArrayList<>();
    private final List<String> badSignatures = new CopyOnWriteArrayList<>();
    /** The receiver answers 503 to this many requests first. */
    private final java.util.concurrent.atomic.AtomicInteger failFirst = new java.util.concurrent.atomic.AtomicInteger();

    @AfterEach
    void stopReceiver() {
        if (receiver != null) {
            receiver.stop(0);
        }
    }

    private String startReceiver() throws Exception {
        receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/ops", ex -> {
            try (ex) {
                String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
                if (failFirst.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                    ex.sendResponseHeaders(503, -1);
                    return;
                }
                String id = ex.getRequestHeaders().getFirst("webhook-id");
                String ts = ex.getRequestHeaders().getFirst("webhook-timestamp");
                String sig = ex.getRequestHeaders().getFirst("webhook-signature");
                try {
                    Mac mac = Mac.getInstance("HmacSHA256");
                    mac.init(new SecretKeySpec(KEY, "HmacSHA256"));
                    String expected = "v1," + Base64.getEncoder().encodeToString(mac.doFinal((id + "." + ts + "." + body).getBytes(StandardCharsets.UTF_8)));
                    if (!expected.equals(sig) || Math.abs(System.currentTimeMillis() / 1000 - Long.parseLong(ts)) > 300) {
                        badSignatures.add(body);
                    }
                    alerts.add(JSON.readTree(body));
                } catch (Exception e) {
                    badSignatures.add(body + " " + e);
                }
                ex.sendResponseHeaders(204, -1);
            }
        });
        receiver.start();
        return "http://127.0.0.1:" + receiver.getAddress().getPort() + "/ops";
    }

    private List<JsonNode> of(String type) {
        return alerts.stream().filter(a -> a.path("type").asText().equals(type)).toList();
    }

    @Test
    void parkedDisabledAndRecoveredAlertsReachTheWebhookAndTheMailboxOncePerInterval() throws Exception {
        String url = startReceiver();
        target.failAlways(422);
        startWithCrm(5, "1h", Map.of("ordersync.alerts.webhook-url", url,
                "ordersync.alerts.webhook-secret", "whsec_" + Base64.getEncoder().encodeToString(KEY),
                "ordersync.alerts.mail.uri", "smtp://127.0.0.1:" + mail.getSmtp().getPort(),
                "ordersync.alerts.mail.to", "ops@example.org", "ordersync.alerts.check-period-ms", "200",
                "ordersync.alerts.min-interval", "PT1H"));
        // parked at once after the start (before the first check): news all the same
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> !of("sync.parked").isEmpty());
        JsonNode parked = of("sync.parked").get(0);
        assertThat(parked.path("data").path("provider").asText()).isEqualTo("crm");
        assertThat(parked.path("data").path("rows").get(0).path("order").asText()).isEqualTo("ABC12");
        assertThat(parked.path("data").path("summary").asText()).contains("Provider reported a permanent error").contains("422");
        assertThat(badSignatures).isEmpty();
        await().atMost(Duration.ofSeconds(20)).until(() -> mail.getReceivedMessages().length >= 1);
        MimeMessage m = mail.getReceivedMessages()[0];
        assertThat(m.getSubject()).startsWith("[ordersync] 1 sync of crm parked");
        assertThat(m.getAllRecipients()[0].toString()).isEqualTo("ops@example.org");
        assertThat(String.valueOf(m.getContent())).contains("\"type\":\"sync.parked\"").doesNotContain("s3cret");

        // a flood: more parked rows within the interval bring no second alert
        for (int i = 0; i < 5; i++) {
            var doc = fixture("order-abc12");
            ((com.fasterxml.jackson.databind.node.ObjectNode) doc.path("order")).put("code", "FLOOD" + i);
            app.post("/api/events", doc.toString());
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL") == 6);
        Thread.sleep(1000);
        assertThat(of("sync.parked")).hasSize(1);

        // a mapping file that cannot run: its provider is disabled
        Files.writeString(mappings.resolve("broken.yaml"), "identifier: broken\ntriggers: [order.paid]\nobjects: []\n");
        await().atMost(Duration.ofSeconds(20)).until(() -> !of("provider.disabled").isEmpty());
        assertThat(of("provider.disabled").get(0).path("data").path("provider").asText()).isEqualTo("broken");

        // the target is fixed, the parked rows retried: recovered
        target.failAlways(0);
        assertThat(app.post("/api/queue/retry", "{\"provider\": \"crm\", \"mode\": \"permanent\"}").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> !of("provider.recovered").isEmpty());
        assertThat(of("provider.recovered").get(0).path("data").path("provider").asText()).isEqualTo("crm");
        assertThat(badSignatures).isEmpty();
        assertThat(alerts.toString()).doesNotContain("s3cret");
    }

    /** The circuit breaker of a provider opens: provider.breaker_opened, once; the target back: provider.recovered. */
    @Test
    void aBreakerThatOpensIsAlertedOnceAndItsRecoveryToo() throws Exception {
        String url = startReceiver();
        io.ordersync.support.Fixtures.mapping(mappings, "guarded", Map.of("max_attempts", "20", "backoff", "1s",
                "response_timeout_ms", "2000", "rate_limit", "0", "breaker", "true"));
        app = new io.ordersync.support.OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(),
                "test.crm.token", "s3cret", "ordersync.redelivery.maximum", "0", "ordersync.alerts.webhook-url", url,
                "ordersync.alerts.webhook-secret", "whsec_" + Base64.getEncoder().encodeToString(KEY),
                "ordersync.alerts.check-period-ms", "200", "ordersync.alerts.min-interval", "PT1H")).start();
        target.failAlways(503);
        for (int i = 0; i < 8; i++) {
            var doc = fixture("order-xyz34");
            ((com.fasterxml.jackson.databind.node.ObjectNode) doc.path("order")).put("code", "B" + i).put("email", "b" + i + "@example.org");
            app.post("/api/events", doc.toString());
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> !of("provider.breaker_opened").isEmpty());
        JsonNode opened = of("provider.breaker_opened").get(0);
        assertThat(opened.path("data").path("provider").asText()).isEqualTo("guarded");
        assertThat(opened.path("data").path("summary").asText()).contains("Circuit breaker of guarded opened");
        target.failAlways(0);
        await().atMost(Duration.ofSeconds(40)).until(() -> !of("provider.recovered").isEmpty());
        awaitQueueEmpty();
        assertThat(of("provider.breaker_opened")).hasSize(1);
        assertThat(badSignatures).isEmpty();
    }

    /**
     * Found by a review: an alert is claimed (once per interval, across instances) before it is sent, and a receiver
     * that failed once lost it for good. The sending is tried three more times.
     */
    @Test
    void aReceiverThatFailsForAMomentStillGetsTheAlert() throws Exception {
        String url = startReceiver();
        failFirst.set(2);
        target.failAlways(422);
        startWithCrm(5, "1h", Map.of("ordersync.alerts.webhook-url", url,
                "ordersync.alerts.webhook-secret", "whsec_" + Base64.getEncoder().encodeToString(KEY),
                "ordersync.alerts.check-period-ms", "200", "ordersync.alerts.min-interval", "PT1H"));
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(30)).until(() -> !of("sync.parked").isEmpty());
        assertThat(failFirst.get()).as("both failures met").isZero();
        assertThat(of("sync.parked")).hasSize(1);
        assertThat(badSignatures).isEmpty();
    }

    /**
     * Found by a review: a webhook URL with its secret in the path (Slack, Teams, Discord) was logged in clear when a
     * delivery failed, in each retry's warning and in the final one.
     */
    @Test
    void aFailedDeliveryIsLoggedWithoutTheWebhooksSecretPath() throws Exception {
        java.util.concurrent.atomic.AtomicInteger tried = new java.util.concurrent.atomic.AtomicInteger();
        receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/services/T0001/B0001/", ex -> {
            try (ex) {
                tried.incrementAndGet();
                ex.sendResponseHeaders(500, -1);
            }
        });
        receiver.start();
        ch.qos.logback.classic.Logger root = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> log = new ch.qos.logback.core.read.ListAppender<>();
        log.start();
        root.addAppender(log);
        try {
            target.failAlways(422);
            startWithCrm(5, "1h", Map.of("ordersync.alerts.webhook-url", "http://127.0.0.1:" + receiver.getAddress().getPort()
                            + "/services/T0001/B0001/hooksecretXYZ123",
                    "ordersync.alerts.check-period-ms", "200", "ordersync.alerts.min-interval", "PT1H"));
            app.post("/api/events", fixture("order-abc12").toString());
            await().atMost(Duration.ofSeconds(40)).until(() -> log.list.stream()
                    .anyMatch(e -> e.getFormattedMessage().contains("not delivered to the webhook")));
            assertThat(tried.get()).as("the first try and three more").isEqualTo(4);
            assertThat(log.list).extracting(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                    .noneMatch(m -> m.contains("hooksecretXYZ123"));
            assertThat(log.list.stream().filter(e -> e.getFormattedMessage().contains("not delivered to the webhook")).findFirst()
                    .orElseThrow().getFormattedMessage()).contains("127.0.0.1").contains("500");
        } finally {
            root.detachAppender(log);
        }
    }

    /** A receiver that fails (500 after 2 s, every time) is logged and does not hold up syncing. */
    @Test
    void aFailingReceiverDoesNotHoldUpSyncing() throws Exception {
        java.util.concurrent.atomic.AtomicInteger tried = new java.util.concurrent.atomic.AtomicInteger();
        receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
        receiver.createContext("/ops", ex -> {
            try (ex) {
                tried.incrementAndGet();
                Thread.sleep(2000);
                ex.sendResponseHeaders(500, -1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        receiver.start();
        target.failAlways(422);
        startWithCrm(5, "1h", Map.of("ordersync.alerts.webhook-url", "http://127.0.0.1:" + receiver.getAddress().getPort() + "/ops",
                "ordersync.alerts.check-period-ms", "200", "ordersync.alerts.min-interval", "PT1H"));
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> tried.get() >= 1);
        target.failAlways(0);
        for (int i = 0; i < 20; i++) {
            var doc = fixture("order-xyz34");
            ((com.fasterxml.jackson.databind.node.ObjectNode) doc.path("order")).put("code", "R" + i).put("email", "r" + i + "@example.org");
            app.post("/api/events", doc.toString());
        }
        // every order synced while the receiver keeps failing; only the parked row is left
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 20);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NULL")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success'")).isEqualTo(20);
    }

    /**
     * Three instances on one PostgreSQL, each checking every 100 ms: a provider's rows parked on all of them bring one
     * sync.parked alert, not one per instance (table alert_sent).
     */
    @Test
    void instancesOnOneDatabaseSendEachAlertOnce() throws Exception {
        String url = startReceiver();
        target.failAlways(422);
        io.ordersync.support.Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1h", "response_timeout_ms", "2000"));
        Map<String, String> props = crmOn(io.ordersync.support.Postgres.newDatabase());
        props.putAll(Map.of("ordersync.alerts.webhook-url", url, "ordersync.alerts.webhook-secret", "whsec_" + Base64.getEncoder().encodeToString(KEY),
                "ordersync.alerts.check-period-ms", "100", "ordersync.alerts.min-interval", "PT1H"));
        List<io.ordersync.support.OrdersyncApp> apps = new java.util.ArrayList<>();
        try {
            for (String id : List.of("a", "b", "c")) {
                Map<String, String> own = new java.util.HashMap<>(props);
                own.put("ordersync.instance-id", id);
                apps.add(new io.ordersync.support.OrdersyncApp(tmp.resolve(id), mappings, own).start());
            }
            app = apps.get(0);
            for (int i = 0; i < 9; i++) {
                var doc = fixture("order-xyz34");
                ((com.fasterxml.jackson.databind.node.ObjectNode) doc.path("order")).put("code", "M" + i).put("email", "m" + i + "@example.org");
                apps.get(i % 3).post("/api/events", doc.toString());
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'permanent'") == 9);
            await().atMost(Duration.ofSeconds(10)).until(() -> !of("sync.parked").isEmpty());
            // every instance has checked many times since
            Thread.sleep(2000);
            assertThat(of("sync.parked")).hasSize(1);
            assertThat(badSignatures).isEmpty();
        } finally {
            app = null;
            for (var a : apps) {
                a.close();
            }
        }
    }

    /**
     * A park whose transaction commits after a newer park's (found by a review): the check read the order log after
     * the highest id it had seen, so the older id, committed later, was never alerted. Each park is now written to
     * table park_news where it happens, and an alert deletes the parks it names. The late park is named by the next
     * alert, once the interval has passed.
     */
    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"h2", "postgresql"})
    void aParkThatCommitsAfterANewerOneIsAlertedByTheNextAlert(String db) throws Exception {
        String url = startReceiver();
        target.failAlways(422);
        Map<String, String> props = new java.util.HashMap<>(databaseSettings(db));
        props.putAll(Map.of("ordersync.alerts.webhook-url", url, "ordersync.alerts.webhook-secret",
                "whsec_" + Base64.getEncoder().encodeToString(KEY), "ordersync.alerts.check-period-ms", "200",
                "ordersync.alerts.min-interval", "PT4S"));
        startWithCrm(5, "1h", props);
        try (java.sql.Connection late = app.dataSource().getConnection()) {
            // a park still committing: its id is taken before the park of ABC12's
            late.setAutoCommit(false);
            try (var ps = late.prepareStatement("INSERT INTO park_news (provider, event_slug, order_code, message, created_at) "
                    + "VALUES ('crm', 'democon', 'LATE1', 'Provider reported a permanent error: 422', CURRENT_TIMESTAMP)")) {
                ps.executeUpdate();
            }
            app.post("/api/events", fixture("order-abc12").toString());
            await().atMost(Duration.ofSeconds(20)).until(() -> !of("sync.parked").isEmpty());
            late.commit();
        }
        assertThat(of("sync.parked").get(0).path("data").path("rows").findValuesAsText("order")).containsExactly("ABC12");
        await().atMost(Duration.ofSeconds(20)).until(() -> of("sync.parked").size() == 2);
        JsonNode next = of("sync.parked").get(1);
        assertThat(next.path("data").path("rows").findValuesAsText("order")).containsExactly("LATE1");
        assertThat(next.path("data").path("new").asInt()).isEqualTo(1);
        Thread.sleep(5000);
        assertThat(of("sync.parked")).as("each park named once").hasSize(2);
        assertThat(app.count("SELECT COUNT(*) FROM park_news")).isZero();
        // 25 parks at once: the next alert counts them all and shows the first 20 (README "Alerts")
        try (java.sql.Connection c = app.dataSource().getConnection();
             var ps = c.prepareStatement("INSERT INTO park_news (provider, event_slug, order_code, message, created_at) "
                     + "VALUES ('crm', 'democon', ?, 'Provider reported a permanent error: 422', CURRENT_TIMESTAMP)")) {
            for (int i = 0; i < 25; i++) {
                ps.setString(1, "MANY" + (100 + i));
                ps.executeUpdate();
            }
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> of("sync.parked").size() == 3);
        JsonNode many = of("sync.parked").get(2).path("data");
        assertThat(many.path("new").asInt()).isEqualTo(25);
        assertThat(many.path("rows").findValuesAsText("order")).hasSize(20).startsWith("MANY100", "MANY101").endsWith("MANY119");
        assertThat(app.count("SELECT COUNT(*) FROM park_news")).isZero();
        // a flood: one alert names 10 000 (README), the next one the rest
        try (java.sql.Connection c = app.dataSource().getConnection();
             var ps = c.prepareStatement("INSERT INTO park_news (provider, event_slug, order_code, message, created_at) "
                     + "VALUES ('crm', 'democon', ?, 'Provider reported a permanent error: 422', CURRENT_TIMESTAMP)")) {
            c.setAutoCommit(false);
            for (int i = 0; i < 10_003; i++) {
                ps.setString(1, "FLOOD" + (10_000 + i));
                ps.addBatch();
            }
            ps.executeBatch();
            c.commit();
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> of("sync.parked").size() == 4);
        JsonNode flood = of("sync.parked").get(3).path("data");
        assertThat(flood.path("new").asInt()).isEqualTo(10_000);
        assertThat(flood.path("rows").findValuesAsText("order")).hasSize(20).startsWith("FLOOD10000");
        assertThat(app.count("SELECT COUNT(*) FROM park_news")).isEqualTo(3);
        await().atMost(Duration.ofSeconds(20)).until(() -> of("sync.parked").size() == 5);
        JsonNode rest = of("sync.parked").get(4).path("data");
        assertThat(rest.path("new").asInt()).isEqualTo(3);
        assertThat(rest.path("rows").findValuesAsText("order")).containsExactly("FLOOD20000", "FLOOD20001", "FLOOD20002");
        assertThat(app.count("SELECT COUNT(*) FROM park_news")).isZero();
        assertThat(badSignatures).isEmpty();
    }

    /**
     * Parks that no alert named before a restart (here: alerts were off) are named after it. Before, the check took
     * only what was logged after its own start, so a park in the last seconds before a stop was never alerted.
     */
    @Test
    void parksNotYetAlertedBeforeARestartAreAlertedAfterIt() throws Exception {
        String url = startReceiver();
        target.failAlways(422);
        startWithCrm(5, "1h", Map.of());
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL") == 1);
        app.close();
        Map<String, String> props = new java.util.HashMap<>(Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                "ordersync.alerts.webhook-url", url, "ordersync.alerts.webhook-secret", "whsec_" + Base64.getEncoder().encodeToString(KEY),
                "ordersync.alerts.check-period-ms", "200"));
        app = new io.ordersync.support.OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        await().atMost(Duration.ofSeconds(20)).until(() -> !of("sync.parked").isEmpty());
        assertThat(of("sync.parked").get(0).path("data").path("rows").findValuesAsText("order")).containsExactly("ABC12");
        assertThat(of("sync.parked").get(0).path("data").path("summary").asText()).contains("Provider reported a permanent error");
    }

    /** An erased order's parks are not named by an alert: the erase deletes them with the rest of the order. */
    @Test
    void anErasedOrdersParksAreNotNamed() throws Exception {
        target.failAlways(422);
        startWithCrm(5, "1h", Map.of());
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM park_news WHERE order_code = 'ABC12'") == 1);
        assertThat(app.delete("/api/orders/democon/ABC12").statusCode()).isEqualTo(200);
        assertThat(app.count("SELECT COUNT(*) FROM park_news")).isZero();
    }
}
