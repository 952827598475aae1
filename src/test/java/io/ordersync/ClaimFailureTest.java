package io.ordersync;

import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import org.h2.api.Trigger;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A claim that fails for one provider (the database refuses its statement) while another provider's claim of the
 * same dispatch has committed: the other provider's rows are synced at once, not left in flight until their lease
 * runs out (and then counted as a failed try). H2 refuses the claims of {@code crm0} through a trigger.
 */
class ClaimFailureTest extends AppTestSupport {

    /** Refuses to move a row of provider crm0 to in flight, as a database failing that statement would. */
    public static final class RefuseCrm0Claims implements Trigger {
        private int provider;
        private int slot;

        @Override
        public void init(Connection c, String schema, String trigger, String table, boolean before, int type) throws SQLException {
            try (var rs = c.getMetaData().getColumns(null, schema, table, null)) {
                while (rs.next()) {
                    switch (rs.getString("COLUMN_NAME").toLowerCase()) {
                        case "provider" -> provider = rs.getInt("ORDINAL_POSITION") - 1;
                        case "slot" -> slot = rs.getInt("ORDINAL_POSITION") - 1;
                        default -> { }
                    }
                }
            }
        }

        @Override
        public void fire(Connection c, Object[] oldRow, Object[] newRow) throws SQLException {
            if (newRow != null && "crm0".equals(newRow[provider]) && "inflight".equals(newRow[slot])) {
                throw new SQLException("refused by the test: a claim of crm0");
            }
        }
    }

    @Test
    void rowsClaimedForOneProviderAreSyncedWhenAnotherProvidersClaimFails() throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        String crm = Files.readString(mappings.resolve("crm.yaml"));
        // two providers on either side of crm in any order of claims
        Files.writeString(mappings.resolve("crm0.yaml"), crm.replace("identifier: crm", "identifier: crm0"));
        Files.writeString(mappings.resolve("crmz.yaml"), crm.replace("identifier: crm", "identifier: crmz"));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                // long enough that a row left in flight would not come back while the test waits
                "ordersync.queue.lease", "PT5M", "ordersync.queue.presence-ttl", "PT3S")).start();
        try (Connection c = app.dataSource().getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE TRIGGER refuse_crm0 BEFORE UPDATE ON sync_queue FOR EACH ROW CALL '"
                    + RefuseCrm0Claims.class.getName() + "'");
        }
        for (int i = 0; i < 5; i++) {
            var doc = fixture("order-abc12");
            ((com.fasterxml.jackson.databind.node.ObjectNode) doc.path("order")).put("code", "F" + i);
            assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        }
        // crm and crmz: every order synced (once each), although every dispatch's claim for crm0 fails
        await().atMost(Duration.ofSeconds(20)).until(() ->
                app.count("SELECT COUNT(*) FROM sync_queue WHERE provider <> 'crm0'") == 0);
        assertThat(synced()).isEqualTo(10);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind IN ('failure', 'retry')")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE provider = 'crm0' AND slot = 'waiting'")).isEqualTo(5);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts > 0")).isZero();
        // found by an attack: a failing claim also stopped the instance announcing its providers, and another
        // instance then dropped the rows of crm, which this one runs fine. It goes on announcing (a lifetime of 3 s):
        // all three entries are renewed past the latest of them now (counted by progress, not after a sleep)
        java.time.OffsetDateTime latest = java.time.OffsetDateTime.parse((String) app.query(
                "SELECT MAX(seen_until) AS latest FROM provider_presence").get(0).get("latest"));
        await().atMost(Duration.ofSeconds(15)).until(() ->
                app.count("SELECT COUNT(*) FROM provider_presence WHERE seen_until > ?", latest) == 3);

        // the database takes the claims again: crm0's rows go too
        try (Connection c = app.dataSource().getConnection(); Statement st = c.createStatement()) {
            st.execute("DROP TRIGGER refuse_crm0");
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
        assertThat(synced()).isEqualTo(15);
    }

    /** Orders synced, per provider, by their stored results. */
    private long synced() {
        return app.count("SELECT COUNT(*) FROM (SELECT DISTINCT order_code, provider FROM sync_result) s");
    }
}
