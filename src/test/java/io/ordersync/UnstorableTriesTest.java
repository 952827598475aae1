package io.ordersync;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.db.GroupCommit;
import io.ordersync.order.AttemptLog;
import io.ordersync.queue.SyncOutcome;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The tries of a sync are stored with its outcome, but tries the database refuses must not cost the outcome: the
 * sync is not done again, its results and log line are stored, the other syncs committed in the same group keep their
 * tries, and the loss is logged. The database refuses the tries of some orders here (a check constraint added after
 * the start), among orders synced at the same time so that several share a group commit. On H2 and PostgreSQL.
 */
class UnstorableTriesTest extends AppTestSupport {

    private static final int ORDERS = 30;

    private final ListAppender<ILoggingEvent> triesLog = new ListAppender<>();
    private final ch.qos.logback.classic.Logger attemptLogger =
            (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(AttemptLog.class);

    @AfterEach
    void detach() {
        attemptLogger.detachAppender(triesLog);
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void triesTheDatabaseRefusesCostNeitherTheOutcomeNorTheOtherSyncsTries(String db) throws Exception {
        Map<String, String> props = databaseSettings(db);
        // eight workers, and every outcome's commit slowed down (a trigger on the queue row's delete): the workers
        // that finish meanwhile are committed together, refused tries and stored ones in the same groups
        Path file = Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1h", "response_timeout_ms", "2000"));
        Files.writeString(file, Files.readString(file).replace("concurrency: 2", "concurrency: 8"));
        props.put("test.crm.url", target.url());
        props.put("test.crm.token", "s3cret");
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute("ALTER TABLE sync_tries ADD CONSTRAINT tries_refused CHECK (order_code NOT LIKE 'BAD%')");
            if (db.equals("postgresql")) {
                s.execute("CREATE FUNCTION slow_delete() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN OLD; END $$ "
                        + "LANGUAGE plpgsql");
                s.execute("CREATE TRIGGER slow_delete BEFORE DELETE ON sync_queue FOR EACH ROW EXECUTE FUNCTION slow_delete()");
            } else {
                s.execute("CREATE TRIGGER slow_delete BEFORE DELETE ON sync_queue FOR EACH ROW CALL \"" + SlowDelete.class.getName() + "\"");
            }
        }
        GroupCommit.Stats before = app.context().getRegistry().lookupByNameAndType("ordersync.syncOutcome", SyncOutcome.class)
                .successCommits();
        triesLog.start();
        attemptLogger.addAppender(triesLog);

        int bad = 0;
        for (int i = 0; i < ORDERS; i++) {
            ObjectNode doc = fixture("order-abc12");
            String code = i % 3 == 1 ? String.format("BAD%02d", i) : String.format("OK%03d", i);
            bad += code.startsWith("BAD") ? 1 : 0;
            ((ObjectNode) doc.path("order")).put("code", code).put("email", "person" + i + "@example.org");
            assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        }
        awaitQueueEmpty();

        // every order synced once, its results and success stored
        assertThat(app.count("SELECT COUNT(DISTINCT order_code) FROM sync_result")).isEqualTo(ORDERS);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success'")).isEqualTo(ORDERS);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'failure'")).isZero();
        // the tries of every other order stored, one row each; none of the refused ones
        assertThat(app.count("SELECT COUNT(*) FROM sync_tries")).isEqualTo(ORDERS - bad);
        assertThat(app.count("SELECT COUNT(*) FROM sync_tries WHERE order_code LIKE 'OK%'")).isEqualTo(ORDERS - bad);
        // in groups: fewer commits than outcomes
        GroupCommit.Stats after = app.context().getRegistry().lookupByNameAndType("ordersync.syncOutcome", SyncOutcome.class)
                .successCommits();
        assertThat(after.items() - before.items()).isEqualTo(ORDERS);
        assertThat(after.commits() - before.commits()).isLessThan(ORDERS - 5);
        // and each loss said, once per order
        assertThat(triesLog.list).filteredOn(e -> e.getFormattedMessage().startsWith("The tries of "))
                .hasSize(bad)
                .allSatisfy(e -> assertThat(e.getFormattedMessage()).startsWith("The tries of democon/BAD"))
                .allSatisfy(e -> assertThat(e.getFormattedMessage()).contains(" to crm were not stored: "));
    }

    /** H2: the trigger that slows down the delete of a queue row (an outcome's commit). */
    public static final class SlowDelete implements org.h2.api.Trigger {
        @Override
        public void fire(Connection conn, Object[] oldRow, Object[] newRow) throws java.sql.SQLException {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
