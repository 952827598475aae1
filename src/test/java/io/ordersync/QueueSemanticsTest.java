package io.ordersync;

import io.ordersync.db.Database;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Tx;
import io.ordersync.order.OrderStore;
import io.ordersync.queue.FailureMode;
import io.ordersync.queue.QueueEntry;
import io.ordersync.queue.SyncQueue;
import com.zaxxer.hikari.HikariDataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** The sync queue's pretix semantics, against a real H2 database migrated by Flyway. */
class QueueSemanticsTest {

    @TempDir
    Path tmp;
    private HikariDataSource ds;
    private SyncQueue queue;
    private OrderStore store;
    private final Instant t0 = Instant.parse("2026-05-01T10:00:00Z");

    /** The database the queue runs on; PostgresQueueSemanticsTest runs the same tests on PostgreSQL. */
    protected Properties database() {
        Properties p = new Properties();
        p.setProperty("ordersync.db.url", "jdbc:h2:file:" + tmp.resolve("q").toAbsolutePath());
        return p;
    }

    @BeforeEach
    void open() {
        ds = Database.open(OrdersyncSettings.from(database()));
        store = new OrderStore(ds);
        queue = new SyncQueue(ds);
    }

    @AfterEach
    void close() {
        ds.close();
    }

    private SyncQueue.Enqueued enqueue(String event, String code, String trigger, Instant at) {
        return Tx.run(ds, c -> queue.enqueue(c, event, code, "crm", trigger, at));
    }

    private List<QueueEntry> claim(int limit, Instant now) {
        return queue.claim("test", Duration.ofMinutes(5), limit, Set.of(), now);
    }

    @Test
    void aClaimReadsItsRowsFromTheIndexHoweverLongTheBacklog() throws Exception {
        Instant due = t0.minusSeconds(3600);
        try (var c = ds.getConnection(); var ps = c.prepareStatement("INSERT INTO sync_queue (event_slug, order_code, "
                + "provider, slot, triggered_by, triggered_at, not_before) VALUES ('democon', ?, 'crm', 'waiting', "
                + "'order.placed', ?, ?)")) {
            for (int i = 0; i < 3000; i++) {
                ps.setString(1, "O" + i);
                ps.setObject(2, due.plusMillis(i).atOffset(java.time.ZoneOffset.UTC));
                ps.setObject(3, due.plusMillis(i).atOffset(java.time.ZoneOffset.UTC));
                ps.addBatch();
            }
            ps.executeBatch();
        }
        boolean postgres = database().getProperty("ordersync.db.url").startsWith("jdbc:postgresql:");
        List<String> plan = new java.util.ArrayList<>();
        try (var c = ds.getConnection()) {
            if (postgres) {
                try (var s = c.createStatement()) {
                    s.execute("ANALYZE sync_queue");
                }
            }
            try (var ps = c.prepareStatement("EXPLAIN ANALYZE " + SyncQueue.candidatesSql(0, true))) {
                ps.setString(1, "democon");
                ps.setObject(2, t0.atOffset(java.time.ZoneOffset.UTC));
                ps.setString(3, "crm");
                ps.setInt(4, 16);
                try (var rs = ps.executeQuery()) {
                    while (rs.next()) {
                        plan.add(rs.getString(1));
                    }
                }
            }
        }
        String text = String.join("\n", plan);
        if (postgres) {
            assertThat(text).contains("sync_queue_event_due").doesNotContain("Sort");
            // the claim itself, one statement: each event's rows from the same index, no step reads the backlog
            List<String> claimPlan = new java.util.ArrayList<>();
            try (var c = ds.getConnection(); var ps = c.prepareStatement("EXPLAIN ANALYZE " + SyncQueue.claimSqlPostgres(0, true, 16))) {
                var now = t0.atOffset(java.time.ZoneOffset.UTC);
                ps.setObject(1, now);
                ps.setString(2, "crm");
                ps.setInt(3, 16);
                ps.setObject(4, now);
                ps.setString(5, "explain-token");
                ps.setString(6, "explain");
                ps.setObject(7, now.plusMinutes(5));
                try (var rs = ps.executeQuery()) {
                    while (rs.next()) {
                        claimPlan.add(rs.getString(1));
                    }
                }
            }
            String claimText = String.join("\n", claimPlan);
            assertThat(claimText).contains("sync_queue_event_due").doesNotContain("Seq Scan");
            var removed = java.util.regex.Pattern.compile("Rows Removed by Filter: (\\d+)").matcher(claimText);
            while (removed.find()) {
                assertThat(Integer.parseInt(removed.group(1))).as(claimText).isLessThanOrEqualTo(16);
            }
            var rows = java.util.regex.Pattern.compile("actual time=[0-9.]+\\.\\.[0-9.]+ rows=(\\d+)").matcher(claimText);
            int nodes = 0;
            while (rows.find()) {
                nodes++;
                assertThat(Integer.parseInt(rows.group(1))).as(claimText).isLessThanOrEqualTo(16);
            }
            assertThat(nodes).as(claimText).isGreaterThan(5);
            assertThat(((Number) store.query("SELECT COUNT(*) AS n FROM sync_queue WHERE claimed_by = 'explain'").get(0).get("n"))
                    .intValue()).isEqualTo(16);
        } else {
            // H2: the outer query scans about the 16 rows it returns, not the 3 000 waiting (it sorted them all before)
            var m = java.util.regex.Pattern.compile("scanCount: (\\d+)").matcher(text);
            assertThat(m.find()).isTrue();
            assertThat(Integer.parseInt(m.group(1))).isLessThanOrEqualTo(17);
            assertThat(text).contains("index sorted");
        }
        assertThat(claim(16, t0)).hasSize(16);
    }

    @Test
    void repeatTriggersCoalesceIntoTheWaitingRow() {
        SyncQueue.Enqueued first = enqueue("democon", "ABC12", "order.placed", t0);
        SyncQueue.Enqueued second = enqueue("democon", "ABC12", "order.paid", t0.plusSeconds(1));
        assertThat(first.action()).isEqualTo("created");
        assertThat(second.action()).isEqualTo("updated");
        assertThat(second.id()).isEqualTo(first.id());
        List<Map<String, Object>> rows = store.query("SELECT triggered_by FROM sync_queue");
        assertThat(rows).extracting(r -> r.get("triggered_by")).containsExactly("order.paid");
    }

    @Test
    void eventsOfOneOrderAcceptedAtTheSameTimeMakeOneWaitingRow() throws Exception {
        int threads = 8;
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
        try {
            java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(threads);
            List<java.util.concurrent.Future<SyncQueue.Enqueued>> done = new java.util.ArrayList<>();
            for (int i = 0; i < threads; i++) {
                Instant at = t0.plusSeconds(i);
                done.add(pool.submit(() -> {
                    start.await();
                    return enqueue("democon", "ABC12", "order.changed", at);
                }));
            }
            List<SyncQueue.Enqueued> results = new java.util.ArrayList<>();
            for (var f : done) {
                results.add(f.get(30, java.util.concurrent.TimeUnit.SECONDS));
            }
            assertThat(results).extracting(SyncQueue.Enqueued::action).containsOnlyOnce("created");
            assertThat(results).extracting(SyncQueue.Enqueued::id).containsOnly(results.get(0).id());
            assertThat(store.query("SELECT slot FROM sync_queue")).extracting(r -> r.get("slot")).containsExactly("waiting");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void oneMoreWaitingRowMayExistWhileOneIsInFlight() {
        enqueue("democon", "ABC12", "order.placed", t0);
        List<QueueEntry> claimed = claim(10, t0.plusSeconds(1));
        assertThat(claimed).hasSize(1);
        SyncQueue.Enqueued during = enqueue("democon", "ABC12", "order.changed", t0.plusSeconds(2));
        SyncQueue.Enqueued again = enqueue("democon", "ABC12", "order.changed", t0.plusSeconds(3));
        assertThat(during.action()).isEqualTo("created");
        assertThat(again.id()).isEqualTo(during.id());
        assertThat(store.query("SELECT slot FROM sync_queue ORDER BY id")).extracting(r -> r.get("slot"))
                .containsExactly("inflight", "waiting");
        // the waiting sibling is not claimed while its order is in flight for the same provider
        assertThat(claim(10, t0.plusSeconds(4))).isEmpty();
        Tx.run(ds, c -> queue.complete(c, claimed.get(0)));
        assertThat(claim(10, t0.plusSeconds(5))).extracting(QueueEntry::triggeredBy).containsExactly("order.changed");
    }

    @Test
    void aNewTriggerClearsAParkedFailure() {
        enqueue("democon", "ABC12", "order.placed", t0);
        QueueEntry e = claim(1, t0).get(0);
        Tx.run(ds, c -> queue.release(c, e, 5, t0, FailureMode.EXCEEDED, "boom"));
        assertThat(claim(1, t0.plusSeconds(60))).as("parked rows are not claimed").isEmpty();
        enqueue("democon", "ABC12", "order.paid", t0.plusSeconds(61));
        List<QueueEntry> again = claim(1, t0.plusSeconds(62));
        assertThat(again).hasSize(1);
        assertThat(again.get(0).failedAttempts()).isZero();
    }

    @Test
    void aFailureWhileANewerRowWaitsMovesTheFailureStateToIt() {
        enqueue("democon", "ABC12", "order.placed", t0);
        QueueEntry e = claim(1, t0).get(0);
        enqueue("democon", "ABC12", "order.changed", t0.plusSeconds(1));
        Instant next = t0.plusSeconds(300);
        assertThat(Tx.<Boolean>run(ds, c -> queue.release(c, e, 1, next, null, "HTTP 503"))).isTrue();
        List<Map<String, Object>> rows = store.query("SELECT slot, failed_attempts, last_error, triggered_by FROM sync_queue");
        assertThat(rows).hasSize(1);
        assertThat(rows.get(0)).containsEntry("slot", "waiting").containsEntry("failed_attempts", 1)
                .containsEntry("last_error", "HTTP 503").containsEntry("triggered_by", "order.changed");
        assertThat(claim(1, t0.plusSeconds(10))).as("backoff applies to the merged row").isEmpty();
    }

    /**
     * Found by a review: a failure that parks, while a newer trigger's row waits, parked the newer row too (a buyer's
     * fix made in pretix while the old data was refused was never sent; so was an operator's Sync now). The newer row
     * keeps its own state, as README says of a new trigger and as pretix does.
     */
    @Test
    void aFailureThatParksWhileANewerRowWaitsLeavesTheNewerRowDue() {
        for (FailureMode mode : new FailureMode[]{FailureMode.PERMANENT, FailureMode.EXCEEDED}) {
            String code = "P" + mode.code();
            enqueue("democon", code, "order.placed", t0);
            QueueEntry e = claim(1, t0).get(0);
            enqueue("democon", code, "order.changed", t0.plusSeconds(1));
            assertThat(Tx.<Boolean>run(ds, c -> queue.release(c, e, 5, t0.plusSeconds(300), mode, "HTTP 422"))).isTrue();
            List<Map<String, Object>> rows = store.query("SELECT slot, failed_attempts, need_manual_retry, last_error, triggered_by "
                    + "FROM sync_queue WHERE order_code = ?", code);
            assertThat(rows).as(mode.code()).hasSize(1);
            assertThat(rows.get(0)).containsEntry("slot", "waiting").containsEntry("failed_attempts", 0)
                    .containsEntry("need_manual_retry", null).containsEntry("last_error", "HTTP 422")
                    .containsEntry("triggered_by", "order.changed");
            List<QueueEntry> next = claim(1, t0.plusSeconds(2));
            assertThat(next).as("the newer row is due at once").extracting(QueueEntry::orderCode).containsExactly(code);
            Tx.run(ds, c -> queue.complete(c, next.get(0)));
        }
    }

    @Test
    void rowsAreDueOnlyAfterNotBefore() {
        enqueue("democon", "ABC12", "order.placed", t0);
        QueueEntry e = claim(1, t0).get(0);
        Tx.run(ds, c -> queue.release(c, e, 1, t0.plusSeconds(5), null, "503"));
        assertThat(claim(1, t0.plusSeconds(4))).isEmpty();
        assertThat(claim(1, t0.plusSeconds(5))).hasSize(1);
    }

    @Test
    void claimsAreFairAcrossEvents() {
        for (int i = 0; i < 50; i++) {
            enqueue("busycon", "B" + i, "order.placed", t0);
        }
        enqueue("smallcon", "S1", "order.placed", t0.plusSeconds(1));
        enqueue("tinycon", "T1", "order.placed", t0.plusSeconds(2));
        List<QueueEntry> batch = claim(5, t0.plusSeconds(10));
        assertThat(batch).hasSize(5);
        assertThat(batch).extracting(QueueEntry::eventSlug).contains("smallcon", "tinycon");
        // no more than the limit is put in flight (PostgreSQL's claim reads more candidates than it claims)
        assertThat(((Number) store.query("SELECT COUNT(*) AS n FROM sync_queue WHERE slot = 'inflight'").get(0).get("n"))
                .intValue()).isEqualTo(5);
    }

    @Test
    void aLostClaimCannotCompleteOrFail() {
        enqueue("democon", "ABC12", "order.placed", t0);
        QueueEntry e = claim(1, t0).get(0);
        // the lease expired and the reaper handed the row back
        Tx.run(ds, c -> queue.release(c, e, 1, t0, null, "lease expired"));
        assertThat(Tx.<Boolean>run(ds, c -> queue.complete(c, e))).isFalse();
        assertThat(Tx.<Boolean>run(ds, c -> queue.release(c, e, 2, t0, FailureMode.PERMANENT, "late"))).isFalse();
        assertThat(store.query("SELECT need_manual_retry FROM sync_queue").get(0).get("need_manual_retry")).isNull();
    }

    @Test
    void manualRetryResetsAttemptsAndMakesTheRowDueNow() {
        enqueue("democon", "ABC12", "order.placed", t0);
        QueueEntry e = claim(1, t0).get(0);
        Tx.run(ds, c -> queue.release(c, e, 5, t0.plusSeconds(9999), FailureMode.EXCEEDED, "boom"));
        assertThat(queue.retry(e.id(), t0.plusSeconds(1))).isTrue();
        List<QueueEntry> again = claim(1, t0.plusSeconds(1));
        assertThat(again).hasSize(1);
        assertThat(again.get(0).failedAttempts()).isZero();
        assertThat(queue.retry(e.id(), t0.plusSeconds(2))).as("a row in flight cannot be retried").isFalse();
    }
}
