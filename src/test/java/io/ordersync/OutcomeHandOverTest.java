package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A worker hands its sync's success to the group commit and takes its next row; the row stays claimed until the
 * outcome is committed. A graceful stop stores the outcomes handed over before the dispatcher hands back its claims:
 * no row whose sync was done is handed back and synced again after a restart. A success the database refuses is
 * handled as the sync's failure. On H2 and PostgreSQL.
 */
class OutcomeHandOverTest extends AppTestSupport {

    private static final int ORDERS = 4;
    /** How long the delete of one queue row (the outcome's commit) is held. */
    private static final long HELD_MS = 1500;

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aStopStoresTheOutcomesHandedOverAndHandsBackNoneOfTheirRows(String db) throws Exception {
        Map<String, String> props = databaseSettings(db);
        startWithCrm(5, "1h", props);
        try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
            if (db.equals("postgresql")) {
                s.execute("CREATE FUNCTION slow_delete() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(" + HELD_MS / 1000.0
                        + "); RETURN OLD; END $$ LANGUAGE plpgsql");
                s.execute("CREATE TRIGGER slow_delete BEFORE DELETE ON sync_queue FOR EACH ROW EXECUTE FUNCTION slow_delete()");
            } else {
                s.execute("CREATE TRIGGER slow_delete BEFORE DELETE ON sync_queue FOR EACH ROW CALL \"" + SlowDelete.class.getName() + "\"");
            }
        }
        for (int i = 0; i < ORDERS; i++) {
            ObjectNode doc = fixture("order-abc12");
            ((ObjectNode) doc.path("order")).put("code", String.format("HO%03d", i)).put("email", "person" + i + "@example.org");
            assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        }
        // every sync has sent its requests and handed its outcome over; the commits take HELD_MS a row
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("tickets").size() == 2 * ORDERS);
        long pending = app.count("SELECT COUNT(*) FROM sync_queue");
        assertThat(pending).as("outcomes still being committed when the stop begins (the test's premise)").isPositive();
        int requests = target.requests().size();

        app.stop();
        app.start();

        // nothing was handed back: every row's outcome was stored before the stop ended
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success'")).isEqualTo(ORDERS);
        assertThat(app.count("SELECT COUNT(DISTINCT order_code) FROM sync_result")).isEqualTo(ORDERS);
        // and nothing is synced again after the restart
        Thread.sleep(1500);
        assertThat(target.requests()).hasSize(requests);
        assertThat(target.objects("contacts")).hasSize(ORDERS);
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aSuccessTheDatabaseRefusesIsHandledAsTheSyncsFailureAndTheOthersAreSynced(String db) throws Exception {
        Map<String, String> props = databaseSettings(db);
        startWithCrm(5, "1h", props);
        try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
            // the outcome's results of one order are refused: its group's commit fails, then its own
            s.execute("ALTER TABLE sync_result ADD CONSTRAINT result_refused CHECK (order_code NOT LIKE 'BAD%')");
        }
        for (String code : new String[]{"OK001", "BAD01", "OK002", "OK003"}) {
            ObjectNode doc = fixture("order-abc12");
            ((ObjectNode) doc.path("order")).put("code", code).put("email", code.toLowerCase() + "@example.org");
            assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE slot = 'waiting'"
                + " AND need_manual_retry IS NOT NULL") == 1 && app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success'") == 3);
        // the refused one: parked as a system error with the database's message, logged as a failure, not in flight
        assertThat(app.queue().get(0).get("order_code")).isEqualTo("BAD01");
        assertThat((String) app.queue().get(0).get("last_error")).containsIgnoringCase("result_refused");
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isEqualTo(1);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'internal'")).isEqualTo(1);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'failure' AND order_code = 'BAD01'")).isEqualTo(1);
        assertThat(app.count("SELECT COUNT(*) FROM sync_result WHERE order_code LIKE 'OK%'")).isEqualTo(9);
        // and the provider's workers go on: one more order is synced
        ObjectNode doc = fixture("order-abc12");
        ((ObjectNode) doc.path("order")).put("code", "OK004").put("email", "ok004@example.org");
        assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success'") == 4);
    }

    /** H2: the trigger that holds the delete of a queue row (an outcome's commit). */
    public static final class SlowDelete implements org.h2.api.Trigger {
        @Override
        public void fire(Connection conn, Object[] oldRow, Object[] newRow) {
            try {
                Thread.sleep(HELD_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
