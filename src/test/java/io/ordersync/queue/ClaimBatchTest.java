package io.ordersync.queue;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.db.Tx;
import io.ordersync.order.OrderStore;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A claim puts its rows in flight with one batched statement; when the database refuses one (a sibling of the
 * same order and provider got in flight between the claim's read and its write, e.g. on another instance), the
 * others are still claimed, row by row.
 */
class ClaimBatchTest {

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aRowTheDatabaseRefusesIsSkippedAndTheRestOfTheBatchIsClaimed(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            SyncQueue queue = new SyncQueue(ds);
            Instant t0 = Instant.parse("2026-12-02T10:00:00Z");
            enqueue(ds, queue, "ABC12", t0);
            List<QueueEntry> first = queue.claim("i1", Duration.ofMinutes(5), 10, List.of(), t0.plusSeconds(1));
            assertThat(first).hasSize(1);
            // the order changes while in flight: a waiting sibling; and another order waits
            long sibling = enqueue(ds, queue, "ABC12", t0.plusSeconds(2));
            long other = enqueue(ds, queue, "XYZ34", t0.plusSeconds(2));
            // the claim's read saw both as claimable (as a second instance's could, racing the first)
            List<QueueEntry> read = List.of(waiting(sibling, "ABC12", t0), waiting(other, "XYZ34", t0));
            List<QueueEntry> claimed = Tx.run(ds, c -> SyncQueue.markInFlight(c, read, "i2", t0.plusSeconds(300), t0.plusSeconds(3)));

            assertThat(claimed).extracting(QueueEntry::id).containsExactly(other);
            assertThat(claimed.get(0).claimToken()).isNotBlank();
            assertThat(claimed.get(0).claimedBy()).isEqualTo("i2");
            assertThat(new OrderStore(ds).query("SELECT order_code, slot, claimed_by FROM sync_queue ORDER BY id"))
                    .extracting(r -> r.get("order_code") + " " + r.get("slot") + " " + r.get("claimed_by"))
                    .containsExactly("ABC12 inflight i1", "ABC12 waiting null", "XYZ34 inflight i2");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aBatchOfClaimableRowsIsClaimedWholeEachWithItsOwnToken(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            SyncQueue queue = new SyncQueue(ds);
            Instant t0 = Instant.parse("2026-12-02T10:00:00Z");
            for (int i = 0; i < 20; i++) {
                enqueue(ds, queue, "C" + i, t0);
            }
            List<QueueEntry> claimed = queue.claim("i1", Duration.ofMinutes(5), 16, List.of(), t0.plusSeconds(1));
            assertThat(claimed).hasSize(16);
            assertThat(claimed).extracting(QueueEntry::claimToken).doesNotHaveDuplicates().doesNotContainNull();
            assertThat(((Number) new OrderStore(ds).query("SELECT COUNT(*) AS n FROM sync_queue WHERE slot = 'inflight'")
                    .get(0).get("n")).intValue()).isEqualTo(16);
            // each row is completed by its own token only
            assertThat(Tx.<Boolean>run(ds, c -> queue.complete(c, claimed.get(0)))).isTrue();
            assertThat(Tx.<Boolean>run(ds, c -> queue.complete(c, claimed.get(0)))).isFalse();
        }
    }

    /**
     * PostgreSQL claims in one statement. A sibling put in flight by a transaction that commits while the statement
     * runs is not in the statement's snapshot: the database refuses the row when the statement puts it in flight too.
     * The whole statement fails and changes nothing, and the claim is made again row by row: the other rows are claimed,
     * the refused one waits.
     */
    @org.junit.jupiter.api.Test
    void onPostgresASiblingCommittedDuringTheClaimStatementMakesItClaimRowByRow() throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase("postgresql")))) {
            SyncQueue queue = new SyncQueue(ds);
            Instant t0 = Instant.now().minusSeconds(60);
            enqueue(ds, queue, "ABC12", t0);
            enqueue(ds, queue, "XYZ34", t0);
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor();
            try (java.sql.Connection other = ds.getConnection()) {
                // another instance's claim of an in-flight row of ABC12, not committed yet
                other.setAutoCommit(false);
                try (var s = other.createStatement()) {
                    s.executeUpdate("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, triggered_at, "
                            + "not_before, claim_token, claimed_by, lease_until) VALUES ('democon', 'ABC12', 'crm', 'inflight', "
                            + "'order.placed', now(), now(), 'other-token', 'i2', now() + interval '5 minutes')");
                }
                java.util.concurrent.Future<List<QueueEntry>> claim = pool.submit(() ->
                        queue.claim("i1", Duration.ofMinutes(5), 10, List.of(), Instant.now()));
                // the statement waits on the other transaction's key (event, order, provider, inflight)
                try (java.sql.Connection watch = ds.getConnection()) {
                    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> {
                        try (var st = watch.createStatement(); var rs = st.executeQuery("SELECT COUNT(*) FROM pg_stat_activity "
                                + "WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH RECURSIVE ev%'")) {
                            rs.next();
                            return rs.getInt(1) == 1;
                        }
                    });
                }
                assertThat(claim).isNotDone();
                other.commit();
                List<QueueEntry> claimed = claim.get(30, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(claimed).extracting(QueueEntry::orderCode).containsExactly("XYZ34");
                assertThat(claimed.get(0).claimedBy()).isEqualTo("i1");
                assertThat(claimed.get(0).claimToken()).isNotBlank();
            } finally {
                pool.shutdownNow();
            }
            assertThat(new OrderStore(ds).query("SELECT order_code, slot, claimed_by FROM sync_queue ORDER BY order_code, slot"))
                    .extracting(r -> r.get("order_code") + " " + r.get("slot") + " " + r.get("claimed_by"))
                    .containsExactly("ABC12 inflight i2", "ABC12 waiting null", "XYZ34 inflight i1");
        }
    }

    /**
     * On PostgreSQL the claim commits before its rows' snapshots are read. When that read fails, the rows are in
     * flight already: they are handed over without snapshots (each sync reads its order's own) instead of being lost
     * to the dispatcher until their leases expire.
     */
    @org.junit.jupiter.api.Test
    void onPostgresAFailedSnapshotReadStillHandsOverTheClaimedRows() throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase("postgresql")))) {
            // the real pool, with the snapshot read failing as a dropped connection would make it fail
            javax.sql.DataSource failing = (javax.sql.DataSource) java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                    new Class<?>[]{javax.sql.DataSource.class}, (proxy, m, args) -> {
                        Object r = m.invoke(ds, args);
                        if (!m.getName().equals("getConnection")) {
                            return r;
                        }
                        java.sql.Connection real = (java.sql.Connection) r;
                        return java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[]{java.sql.Connection.class},
                                (p2, cm, cargs) -> {
                                    if (cm.getName().equals("prepareStatement") && SyncQueue.SNAPSHOTS_PG.equals(cargs[0])) {
                                        throw new java.sql.SQLException("injected: connection reset");
                                    }
                                    try {
                                        return cm.invoke(real, cargs);
                                    } catch (java.lang.reflect.InvocationTargetException e) {
                                        throw e.getCause();
                                    }
                                });
                    });
            SyncQueue queue = new SyncQueue(failing);
            Instant t0 = Instant.now().minusSeconds(60);
            enqueue(ds, queue, "ABC12", t0);
            enqueue(ds, queue, "XYZ34", t0);
            java.util.Map<Long, String> snapshots = new java.util.HashMap<>();
            List<QueueEntry> claimed = queue.claim("i1", Duration.ofMinutes(5), 10, List.of(), "crm", Instant.now(), snapshots);
            assertThat(claimed).extracting(QueueEntry::orderCode).containsExactlyInAnyOrder("ABC12", "XYZ34");
            assertThat(snapshots).isEmpty();
            assertThat(new OrderStore(ds).query("SELECT slot, claimed_by FROM sync_queue"))
                    .extracting(r -> r.get("slot") + " " + r.get("claimed_by")).containsOnly("inflight i1");
        }
    }

    /**
     * PostgreSQL plans a prepared statement afresh for every execution when its generic plan looks dearer than a
     * custom one; the claim was such a statement (1.3 ms of planning per claim). On one connection, claims of several
     * sizes must run on a generic plan after PostgreSQL's five custom ones (pg_prepared_statements counts both).
     */
    @org.junit.jupiter.api.Test
    void onPostgresClaimsRunOnAGenericPlan() throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase("postgresql")));
             java.sql.Connection one = ds.getConnection()) {
            // every claim on the one connection (a statement's plans are counted per connection)
            java.sql.Connection kept = (java.sql.Connection) java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                    new Class<?>[]{java.sql.Connection.class}, (proxy, m, args) -> m.getName().equals("close") ? null : m.invoke(one, args));
            javax.sql.DataSource single = (javax.sql.DataSource) java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                    new Class<?>[]{javax.sql.DataSource.class}, (proxy, m, args) -> m.getName().equals("getConnection") ? kept : m.invoke(ds, args));
            SyncQueue queue = new SyncQueue(single);
            // a backlog, as at full load: a generic plan's guess for a LIMIT parameter (a tenth of the rows) grows with it
            try (var ps = one.prepareStatement("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, "
                    + "triggered_at, not_before) VALUES ('democon', ?, 'crm', 'waiting', 'order.placed', now(), now() - interval '1 minute')")) {
                for (int i = 0; i < 5000; i++) {
                    ps.setString(1, "C" + i);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            try (var st = one.createStatement()) {
                st.execute("ANALYZE sync_queue");
            }
            int claimed = 0;
            for (int i = 0; i < 30; i++) {
                claimed += queue.claim("i1", Duration.ofMinutes(5), 1 + i % 4, List.of(), "crm", Instant.now()).size();
            }
            assertThat(claimed).isEqualTo(73);
            try (var st = one.createStatement(); var rs = st.executeQuery("SELECT generic_plans, custom_plans "
                    + "FROM pg_prepared_statements WHERE statement LIKE 'WITH RECURSIVE ev%'")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getLong(2)).as("custom plans").isLessThanOrEqualTo(5);
                // pgjdbc prepares a statement on the server from its fifth execution on: 26 of the 30 are counted
                assertThat(rs.getLong(1)).as("generic plans").isGreaterThanOrEqualTo(21);
                assertThat(rs.next()).isFalse();
            }
        }
    }

    @org.junit.jupiter.api.Test
    void theClaimStatementsLimitIsAtLeastTheClaimsInAFewSizes() {
        assertThat(SyncQueue.claimSqlLimit(1)).isEqualTo(16);
        assertThat(SyncQueue.claimSqlLimit(16)).isEqualTo(16);
        assertThat(SyncQueue.claimSqlLimit(17)).isEqualTo(32);
        assertThat(SyncQueue.claimSqlLimit(100)).isEqualTo(128);
        assertThat(SyncQueue.claimSqlLimit(128)).isEqualTo(128);
    }

    private static long enqueue(HikariDataSource ds, SyncQueue queue, String code, Instant at) {
        return Tx.run(ds, c -> queue.enqueue(c, "democon", code, "crm", "order.placed", at)).id();
    }

    private static QueueEntry waiting(long id, String code, Instant at) {
        return new QueueEntry(id, "democon", code, "crm", "waiting", "order.placed", at, at, 0, null, null, null, null, null);
    }

}
