package io.ordersync.queue;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.db.Tx;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A claim reads the snapshots of its rows' orders (H2: in its transaction; PostgreSQL: right after it committed), so
 * that a sync starts without a transaction of its own: each claimed row gets its order's newest snapshot, rows of one order (several providers)
 * the same one, a row whose order has none gets nothing; keys with characters that a PostgreSQL array literal
 * would have to escape, and a large document, come back as stored.
 */
class ClaimedSnapshotsTest {

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void eachClaimedRowGetsItsOrdersNewestSnapshot(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            SyncQueue queue = new SyncQueue(ds);
            Instant t0 = Instant.parse("2026-12-04T10:00:00Z");
            String odd = "a\"b,{c} d\\e'";
            String large = "{\"big\":\"" + "ü".repeat(200_000) + "\"}";
            Tx.run(ds, c -> {
                snapshot(c, "democon", "ABC12", "{\"v\":1}", t0);
                snapshot(c, "democon", "ABC12", "{\"v\":2}", t0);
                snapshot(c, odd, odd, large, t0);
                snapshot(c, "other", "ABC12", "{\"other\":true}", t0);
                for (String provider : List.of("crm", "mail")) {
                    queue.enqueue(c, "democon", "ABC12", provider, "order.placed", t0);
                }
                queue.enqueue(c, odd, odd, "crm", "order.placed", t0);
                queue.enqueue(c, "other", "ABC12", "crm", "order.placed", t0);
                // queued, but its snapshot is gone (a row queued by hand, or purged)
                queue.enqueue(c, "democon", "NOSNAP", "crm", "order.placed", t0);
                return null;
            });
            Map<Long, String> snapshots = new HashMap<>();
            List<QueueEntry> claimed = queue.claim("i1", Duration.ofMinutes(5), 10, Set.of(), null, t0.plusSeconds(1), snapshots);

            assertThat(claimed).hasSize(5);
            Map<String, String> byRow = new HashMap<>();
            for (QueueEntry e : claimed) {
                byRow.put(e.eventSlug() + "/" + e.orderCode() + "/" + e.provider(), snapshots.get(e.id()));
            }
            assertThat(byRow.get("democon/ABC12/crm")).isEqualTo("{\"v\":2}");
            assertThat(byRow.get("democon/ABC12/mail")).isEqualTo("{\"v\":2}");
            assertThat(byRow.get("other/ABC12/crm")).isEqualTo("{\"other\":true}");
            assertThat(byRow.get(odd + "/" + odd + "/crm")).isEqualTo(large);
            assertThat(byRow.get("democon/NOSNAP/crm")).isNull();
            assertThat(snapshots).hasSize(4);

            // without a map, a claim reads no snapshot, and claims as before
            Tx.run(ds, c -> queue.enqueue(c, "democon", "LATER", "crm", "order.placed", t0));
            assertThat(queue.claim("i1", Duration.ofMinutes(5), 10, Set.of(), null, t0.plusSeconds(2))).hasSize(1);
        }
    }

    private static void snapshot(java.sql.Connection c, String event, String code, String document, Instant at)
            throws java.sql.SQLException {
        try (var del = c.prepareStatement("DELETE FROM order_snapshot WHERE event_slug = ? AND order_code = ?")) {
            del.setString(1, event);
            del.setString(2, code);
            del.executeUpdate();
        }
        try (var ps = c.prepareStatement("INSERT INTO order_snapshot (event_slug, order_code, event_type, document, "
                + "received_at) VALUES (?, ?, 'order.placed', ?, ?)")) {
            ps.setString(1, event);
            ps.setString(2, code);
            ps.setString(3, document);
            ps.setObject(4, at.atOffset(ZoneOffset.UTC));
            ps.executeUpdate();
        }
    }
}
