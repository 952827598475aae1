package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.EventPoster;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.PostgresOnDisk;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The PostgreSQL server crashes (its postmaster and every one of its processes killed with SIGKILL) right after
 * ordersync answered the last of 200 events posted in parallel with {@code 202}; started again on the same data,
 * it holds every accepted event, and every order is synced once. The server flushes its commits as production
 * servers do ({@code fsync=on}, {@code synchronous_commit=on}, PostgreSQL's defaults); zonky's embedded server
 * turns both off unless told, and {@code -Dordersync.pg-crash.unflushed=true} runs the test so, to see what a
 * server that does not flush loses.
 */
class PostgresCrashTest extends AppTestSupport {

    private static final int EVENTS = 200;
    private static final boolean UNFLUSHED = Boolean.getBoolean("ordersync.pg-crash.unflushed");

    private EmbeddedPostgres pg;
    /** What SyncOutcome logs during the run: how the syncs under way when the server died were taken. */
    private final ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> outcomeLog =
            new ch.qos.logback.core.read.ListAppender<>();
    private final ch.qos.logback.classic.Logger outcomes = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(
            io.ordersync.queue.SyncOutcome.class);

    @AfterEach
    void stopPostgres() throws Exception {
        outcomes.detachAppender(outcomeLog);
        if (app != null) {
            app.close();
            app = null;
        }
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void everyEventAnswered202SurvivesAPostgresCrash() throws Exception {
        Path dataDir = tmp.resolve("pgdata");
        int port = PostgresOnDisk.freePort();
        pg = PostgresOnDisk.start(dataDir, port, !UNFLUSHED);
        PostgresOnDisk.createDatabase(pg);
        try (Connection c = pg.getPostgresDatabase().getConnection(); Statement s = c.createStatement();
             var rs = s.executeQuery("SELECT current_setting('fsync'), current_setting('synchronous_commit')")) {
            rs.next();
            String expected = UNFLUSHED ? "off" : "on";
            assertThat(List.of(rs.getString(1), rs.getString(2))).as("the server's flushing").containsExactly(expected, expected);
        }
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "2000"));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, PostgresOnDisk.settings(port, target)).start();
        target.trackOverlaps();
        outcomeLog.start();
        outcomes.addAppender(outcomeLog);

        ObjectNode template = fixture("order-abc12");
        List<ObjectNode> docs = new ArrayList<>();
        for (int i = 0; i < EVENTS; i++) {
            ObjectNode doc = template.deepCopy();
            ((ObjectNode) doc.path("order")).put("code", "PGC" + i);
            ((ObjectNode) doc.path("order")).put("email", "pgc" + i + "@example.org");
            docs.add(doc);
        }
        assertThat(EventPoster.postAll(app.url("/api/events"), docs)).as("every event accepted").containsOnly(202);

        crash(dataDir);
        assertThat(target.objects("tickets").size()).as("the server crashed while orders were still to be synced")
                .isLessThan(2 * EVENTS);
        // zonky's handle: its stop finds no server; it gives up its lock on the data directory
        try {
            pg.close();
        } catch (Exception alreadyDead) {
            // nothing to stop
        }
        pg = PostgresOnDisk.start(dataDir, port, !UNFLUSHED);

        await("every accepted order synced").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(300))
                .untilAsserted(() -> {
                    assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).as("every event answered 202 is known")
                            .isEqualTo(EVENTS);
                    assertThat(target.objects("tickets")).hasSize(2 * EVENTS);
                    assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
                });
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("each event accepted once").isEqualTo(EVENTS);
        assertThat(target.objects("contacts")).hasSize(EVENTS);
        assertThat(target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/contacts")).count())
                .as("each order's contact created once").isEqualTo(EVENTS);
        assertThat(target.overlaps()).isZero();
        // a sync whose connection broke is the database being unavailable (retried, no attempt counted), not an
        // unexpected error (parked for an operator when its outcome can be stored)
        assertThat(outcomeLog.list).extracting(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                .noneMatch(m -> m.startsWith("Unexpected error"));
    }

    /** SIGKILL to the postmaster and every process it started, all at once: nothing gets to write what it holds. */
    private static void crash(Path dataDir) throws Exception {
        long pid = Long.parseLong(Files.readAllLines(dataDir.resolve("postmaster.pid")).get(0).trim());
        ProcessHandle postmaster = ProcessHandle.of(pid).orElseThrow();
        List<ProcessHandle> all = new ArrayList<>(postmaster.descendants().toList());
        all.add(0, postmaster);
        all.forEach(ProcessHandle::destroyForcibly);
        for (ProcessHandle p : all) {
            p.onExit().get(java.util.concurrent.TimeUnit.SECONDS.toMillis(10), java.util.concurrent.TimeUnit.MILLISECONDS);
        }
    }
}
