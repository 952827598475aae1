package io.ordersync.queue;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.db.Tx;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * On PostgreSQL a claim locks its rows ({@code FOR UPDATE SKIP LOCKED}) and marks them in flight. When the lock is
 * taken by the transaction and the update made behind a savepoint (a subtransaction), PostgreSQL gives the row a
 * MultiXact as its xmax, which every later reader of the row looks up (BENCHMARKS.md, issue 18 round five). The
 * heap's tuple headers (pageinspect) must show none after claims, also after the row-by-row fallback.
 */
class ClaimsWithoutMultiXactsTest {

    /** HEAP_XMAX_IS_MULTI in a tuple's t_infomask. */
    private static final int XMAX_IS_MULTI = 0x1000;

    @Test
    void claimsLeaveNoMultiXactOnTheQueueRows() throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase()))) {
            SyncQueue queue = new SyncQueue(ds);
            Instant t0 = Instant.now().minusSeconds(60);
            Tx.run(ds, c -> {
                for (int i = 0; i < 40; i++) {
                    queue.enqueue(c, "democon", "O" + i, "crm", "order.placed", t0);
                }
                return null;
            });
            List<QueueEntry> first = queue.claim("a", Duration.ofMinutes(5), 20, Set.of(), Instant.now());
            // the fallback: a batch with a row the database refuses (its sibling is in flight), then row by row
            Tx.run(ds, c -> queue.enqueue(c, "democon", "O0", "crm", "order.changed", t0));
            List<QueueEntry> waiting = Tx.run(ds, c -> {
                List<QueueEntry> out = new java.util.ArrayList<>();
                try (var ps = c.prepareStatement("SELECT id, event_slug, order_code, provider, slot, triggered_by, "
                        + "triggered_at, not_before, failed_attempts, need_manual_retry, last_error, claim_token, claimed_by, "
                        + "lease_until FROM sync_queue WHERE slot = 'waiting' ORDER BY id"); ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(new QueueEntry(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5),
                                rs.getString(6), Instant.now(), Instant.now(), 0, null, null, null, null, null));
                    }
                }
                return out;
            });
            List<QueueEntry> second = Tx.run(ds, c -> SyncQueue.markInFlight(c, waiting, true, "b",
                    Instant.now().plusSeconds(300), Instant.now()));
            assertThat(first).hasSize(20);
            // all waiting rows but the sibling of the in-flight O0
            assertThat(second).hasSize(20).noneMatch(e -> e.orderCode().equals("O0"));
            assertThat(multiXacts(ds)).isZero();
        }
    }

    /** Tuples of sync_queue whose xmax is a MultiXact. */
    private static long multiXacts(HikariDataSource ds) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE EXTENSION IF NOT EXISTS pageinspect");
            try (ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM generate_series(0, pg_relation_size('sync_queue') / "
                    + "current_setting('block_size')::int - 1) AS b, LATERAL heap_page_items(get_raw_page('sync_queue', b::int)) "
                    + "AS t WHERE t.t_infomask & " + XMAX_IS_MULTI + " <> 0")) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }
}
