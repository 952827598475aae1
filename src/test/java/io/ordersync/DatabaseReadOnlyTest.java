package io.ordersync;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * PostgreSQL takes no writes for a while (a standby after a failover, default_transaction_read_only): it answers
 * queries, so it looked reachable, and a refused write was taken for a bad document or an internal error (a review).
 * It is an outage: not ready, intake 503, nothing rejected or parked, the log bounded; afterwards everything is
 * synced once.
 */
class DatabaseReadOnlyTest extends AppTestSupport {

    private final ListAppender<ILoggingEvent> log = new ListAppender<>();
    private final Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);

    @AfterEach
    void detach() {
        root.detachAppender(log);
    }

    @Test
    void aReadOnlyDatabaseIsAnOutageAndNothingIsRejectedParkedOrDoubled() throws Exception {
        Properties db = Postgres.newDatabase();
        String url = db.getProperty("ordersync.db.url");
        String name = url.substring(url.lastIndexOf('/') + 1);
        String admin = url.substring(0, url.lastIndexOf('/') + 1) + "postgres";
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "2000"));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, crmOn(db)).start();
        // five orders wait for a target that fails, so that their syncs come due while the database is read-only
        target.failAlways(503);
        for (int i = 0; i < 5; i++) {
            assertThat(app.post("/api/events", order("RO" + i).toString()).statusCode()).isEqualTo(202);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts > 0") == 5);

        log.start();
        root.addAppender(log);
        // the target answers again, slowly: syncs are under way when the database turns read-only, and their
        // outcomes cannot be stored
        target.stallNext(10, "", 3000);
        target.failAlways(0);
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE slot = 'inflight'") > 0);
        readOnly(admin, name, db, true);
        long readOnlySince = System.nanoTime();
        await("readiness reports the read-only database").atMost(Duration.ofSeconds(30)).until(() -> health() == 503);
        assertThat(healthBody()).contains("database is read-only");
        HttpResponse<String> refused = app.post("/api/events", order("RO9").toString());
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(503);
        // the shop's outbox gets two events meanwhile (its own writes go to a primary; here a session that may write)
        try (Connection c = DriverManager.getConnection(url, db.getProperty("ordersync.db.user"), db.getProperty("ordersync.db.password"));
             var s = c.createStatement()) {
            s.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE");
            for (String code : new String[]{"OB0", "OB1"}) {
                try (var ps = c.prepareStatement("INSERT INTO order_outbox (payload) VALUES (?)")) {
                    ps.setString(1, order(code).toString());
                    ps.executeUpdate();
                }
            }
        }
        Thread.sleep(8000);
        long lines = log.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.WARN)).count();
        long readOnlySeconds = Duration.ofNanos(System.nanoTime() - readOnlySince).toSeconds();
        // claims wait a second at a time with one WARN each (README): not one per 50 ms claim cut by the log filter
        long claimWarnings = log.list.stream().filter(e -> e.getLoggerName().endsWith(".Dispatcher") && e.getLevel() == Level.WARN).count();
        assertThat(claimWarnings).as("the dispatcher's WARN lines in %d s read-only", readOnlySeconds).isBetween(1L, readOnlySeconds + 2);
        // an instance started meanwhile (a restart during the failover) fails its start with the reason
        assertThat(startFails(new OrdersyncApp(tmp.resolve("data2"), mappings, crmOn(db)))).as("started on a read-only database").isTrue();

        readOnly(admin, name, db, false);
        await("everything synced after the database takes writes again").atMost(Duration.ofSeconds(90)).ignoreExceptions().until(() ->
                app.count("SELECT COUNT(*) FROM sync_queue") == 0 && app.count("SELECT COUNT(*) FROM order_outbox") == 0
                        && target.objects("contacts").size() == 7);
        await().atMost(Duration.ofSeconds(30)).until(() -> health() == 200);
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).as("no event taken for a bad one").isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'RO9'")).as("the refused event").isZero();
        // the queue is empty: nothing was parked (a parked row stays for an operator)
        assertThat(log.list).extracting(ILoggingEvent::getFormattedMessage).noneMatch(m -> m.startsWith("Unexpected error"));
        assertThat(target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/contacts")).count())
                .as("each contact created once").isEqualTo(7);
        // about ten seconds read-only: 340 lines before (Camel logged each failed claim of the 50 ms timer with its own
        // exchange id), 22 after (2026-12-07)
        assertThat(lines).as("WARN and ERROR lines while read-only: " + log.list.stream().limit(20)
                .map(ILoggingEvent::getFormattedMessage).toList()).isLessThan(60);
    }

    /**
     * An H2 file opened read-only (ACCESS_MODE_DATA=r in the URL; a file the process may not write opens the same
     * way): the start fails with one reason, before any route starts (before: it failed in the first write, with that
     * statement). Opened for writing again, the order that waited in the queue is synced.
     */
    @Test
    void aStartOnAnH2FileOpenedReadOnlyFailsWithTheReasonAndLosesNothing() throws Exception {
        Path data = tmp.resolve("data");
        String url = "jdbc:h2:file:" + data.resolve("ordersync").toAbsolutePath();
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "2000"));
        Map<String, String> settings = crmOn(new Properties());
        settings.put("ordersync.db.url", url);
        app = new OrdersyncApp(data, mappings, settings).start();
        target.failAlways(503);
        assertThat(app.post("/api/events", order("RW1").toString()).statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts > 0") == 1);
        app.stop();
        target.failAlways(0);
        int requestsBefore = target.requests().size();

        settings.put("ordersync.db.url", url + ";ACCESS_MODE_DATA=r");
        log.start();
        root.addAppender(log);
        assertThat(startFails(new OrdersyncApp(data, mappings, settings))).as("started on a read-only database").isTrue();
        assertThat(target.requests()).as("nothing synced whose outcome could not be stored").hasSize(requestsBefore);

        settings.put("ordersync.db.url", url);
        app = new OrdersyncApp(data, mappings, settings).start();
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 1);
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isZero();
    }

    /** Whether the start failed for the database taking no writes, with the reason in the log, and nothing started. */
    private boolean startFails(OrdersyncApp instance) throws Exception {
        int before = log.list.size();
        Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(instance::start);
        try {
            // camel-main logs a failed start and returns (standalone, Application then exits: StartupFailureTest)
            boolean started = thrown == null && instance.context() != null && instance.context().isStarted();
            return !started && log.list.subList(before, log.list.size()).stream().anyMatch(e -> e.getLevel() == Level.ERROR
                    && e.getFormattedMessage().contains("the database takes no writes (a PostgreSQL standby, default_transaction_read_only, "
                    + "or an H2 file opened read-only"));
        } finally {
            instance.stop();
        }
    }

    private static ObjectNode order(String code) {
        ObjectNode doc = fixture("order-abc12");
        ((ObjectNode) doc.path("order")).put("code", code).put("email", code.toLowerCase(java.util.Locale.ROOT) + "@example.org");
        return doc;
    }

    /** Sets the database read-only (or back) and ends its sessions: the pool's new ones take the setting. */
    private static void readOnly(String adminUrl, String name, Properties db, boolean on) throws Exception {
        try (Connection c = DriverManager.getConnection(adminUrl, db.getProperty("ordersync.db.user"), db.getProperty("ordersync.db.password"));
             var s = c.createStatement()) {
            s.execute("ALTER DATABASE " + name + " SET default_transaction_read_only = " + (on ? "on" : "off"));
            s.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name + "' AND pid <> pg_backend_pid()");
        }
    }

    private String healthBody() throws Exception {
        String mgmt = app.context().resolvePropertyPlaceholders("{{camel.management.port}}");
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + mgmt + "/observe/health"))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    private int health() throws Exception {
        String mgmt = app.context().resolvePropertyPlaceholders("{{camel.management.port}}");
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + mgmt + "/observe/health"))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }
}
