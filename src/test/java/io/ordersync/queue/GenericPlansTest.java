package io.ordersync.queue;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.order.OrderStore;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * PostgreSQL plans a prepared statement afresh on every execution when its generic plan looks dearer than a custom
 * one. For a statement over arrays ({@code unnest(?)}) a custom plan knows their length and the generic plan guesses
 * ten elements: the claim's snapshot read and the intake's version lock were planned on every execution under load
 * (pg_stat_statements, BENCHMARKS.md issue 18 round sixteen). On one connection, with arrays of one to four
 * elements and thousands of orders stored, each must run on a generic plan after PostgreSQL's five custom ones.
 */
class GenericPlansTest {

    @ParameterizedTest
    @ValueSource(strings = {"snapshots of claimed rows", "intake's stored versions"})
    void anArrayStatementRunsOnAGenericPlan(String which) throws Exception {
        String sql = which.startsWith("snapshots") ? SyncQueue.SNAPSHOTS_PG : OrderStore.LOCK_STORED_VERSIONS;
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase()));
             Connection c = ds.getConnection()) {
            try (Statement s = c.createStatement()) {
                s.execute("INSERT INTO order_snapshot (event_slug, order_code, event_type, document, received_at) "
                        + "SELECT 'democon', 'P' || g, 'order.placed', '{}', now() FROM generate_series(1, 5000) g");
                s.execute("ANALYZE order_snapshot");
            }
            int found = 0;
            for (int i = 0; i < 30; i++) {
                int n = 1 + i % 4;
                String[] events = new String[n];
                String[] codes = new String[n];
                for (int k = 0; k < n; k++) {
                    events[k] = "democon";
                    codes[k] = "P" + (1 + i * 4 + k);
                }
                try (var ps = c.prepareStatement(sql)) {
                    ps.setArray(1, c.createArrayOf("text", events));
                    ps.setArray(2, c.createArrayOf("text", codes));
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            found++;
                        }
                    }
                }
            }
            assertThat(found).isEqualTo(73);
            String start = sql.substring(0, 30);
            try (var ps = c.prepareStatement("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    + "WHERE statement LIKE ? || '%'")) {
                ps.setString(1, start);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getLong(2)).as("custom plans").isLessThanOrEqualTo(5);
                    // pgjdbc prepares a statement on the server from its fifth execution on: 26 of the 30 are counted
                    assertThat(rs.getLong(1)).as("generic plans").isGreaterThanOrEqualTo(21);
                }
            }
        }
    }
}
