package io.ordersync.db;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Group commit on a real database: items handed in during a commit share the next one; a bad item fails alone. */
class GroupCommitTest {

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void anItemTheDatabaseRefusesFailsAloneTheOthersOfItsGroupAreCommitted(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            HeldFirst held = new HeldFirst();
            GroupCommit<String> group = new GroupCommit<>(ds, 64, (c, items) -> {
                held.holdIfFirst(items);
                insert(c, items);
            });
            ExecutorService pool = Executors.newFixedThreadPool(5);
            try {
                Future<?> first = pool.submit(() -> commit(group, "first"));
                held.awaitFirstWriting();
                // a value longer than the column: the whole group's batch fails
                String tooLong = "x".repeat(300);
                CountDownLatch handedIn = new CountDownLatch(4);
                List<Future<?>> good = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    String item = "g" + i;
                    good.add(pool.submit(() -> commit(group, item, handedIn)));
                }
                Future<?> bad = pool.submit(() -> commit(group, tooLong, handedIn));
                // all four wait behind the held group: they are written as one group (a sleep bet on the machine)
                assertThat(handedIn.await(10, TimeUnit.SECONDS)).isTrue();
                held.release();
                first.get(10, TimeUnit.SECONDS);
                for (Future<?> f : good) {
                    f.get(10, TimeUnit.SECONDS);
                }
                // its own failure, as the database gave it: a value too long (SQLState 22001)
                assertThatThrownBy(() -> bad.get(10, TimeUnit.SECONDS)).cause().isInstanceOf(Tx.TxException.class)
                        .satisfies(e -> assertThat(Tx.isDataError(e)).isTrue());
            } finally {
                pool.shutdownNow();
            }
            assertThat(count(ds, null)).isEqualTo(4);
            assertThat(count(ds, "g0") + count(ds, "g1") + count(ds, "g2")).isEqualTo(3);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void whenTheDatabaseIsUnavailableTheGroupFailsAtOnceWithoutATryPerItem(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            HeldFirst held = new HeldFirst();
            java.util.concurrent.atomic.AtomicInteger writes = new java.util.concurrent.atomic.AtomicInteger();
            GroupCommit<String> group = new GroupCommit<>(ds, 64, (c, items) -> {
                if (held.holdIfFirst(items)) {
                    return;
                }
                writes.incrementAndGet();
                insert(c, items);
                // the connection breaks (SQLState class 08) after the statements ran
                throw new java.sql.SQLTransientConnectionException("connection reset", "08006");
            });
            ExecutorService pool = Executors.newFixedThreadPool(5);
            try {
                Future<?> first = pool.submit(() -> commit(group, "first"));
                held.awaitFirstWriting();
                CountDownLatch handedIn = new CountDownLatch(4);
                List<Future<?>> others = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    String item = "u" + i;
                    others.add(pool.submit(() -> commit(group, item, handedIn)));
                }
                assertThat(handedIn.await(10, TimeUnit.SECONDS)).isTrue();
                held.release();
                first.get(10, TimeUnit.SECONDS);
                for (Future<?> f : others) {
                    assertThatThrownBy(() -> f.get(10, TimeUnit.SECONDS)).cause()
                            .satisfies(e -> assertThat(Tx.isDatabaseUnavailable(e)).isTrue());
                }
            } finally {
                pool.shutdownNow();
            }
            // one try for the group of four, none item by item; nothing of it committed
            assertThat(writes.get()).isEqualTo(1);
            assertThat(count(ds, null)).isZero();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void anErrorWhileWritingFailsTheGroupRollsItBackAndTheWriterGoesOn(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            HeldFirst held = new HeldFirst();
            GroupCommit<String> group = new GroupCommit<>(ds, 64, (c, items) -> {
                if (held.holdIfFirst(items)) {
                    return;
                }
                insert(c, items);
                if (items.contains("boom")) {
                    throw new StackOverflowError("a bug in a writer");
                }
            });
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                Future<?> first = pool.submit(() -> commit(group, "first"));
                held.awaitFirstWriting();
                CountDownLatch handedIn = new CountDownLatch(2);
                Future<?> boom = pool.submit(() -> commit(group, "boom", handedIn));
                Future<?> other = pool.submit(() -> commit(group, "other", handedIn));
                assertThat(handedIn.await(10, TimeUnit.SECONDS)).isTrue();
                held.release();
                first.get(10, TimeUnit.SECONDS);
                // both are told the failure: neither hangs
                assertThatThrownBy(() -> boom.get(10, TimeUnit.SECONDS)).isInstanceOf(java.util.concurrent.ExecutionException.class);
                assertThatThrownBy(() -> other.get(10, TimeUnit.SECONDS)).isInstanceOf(java.util.concurrent.ExecutionException.class);
            } finally {
                pool.shutdownNow();
            }
            // rolled back, not committed by the connection's return to auto-commit
            assertThat(count(ds, null)).isZero();
            // the writer goes on
            commit(group, "after");
            assertThat(count(ds, "after")).isEqualTo(1);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void anItemHandedInAloneIsCommittedAtOnceInItsOwnTransaction(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            GroupCommit<String> group = new GroupCommit<>(ds, 64, GroupCommitTest::insert);
            for (int i = 0; i < 3; i++) {
                commit(group, "a" + i);
                assertThat(count(ds, "a" + i)).isEqualTo(1);
            }
            assertThat(group.stats()).isEqualTo(new GroupCommit.Stats(3, 3));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void anInterruptedThreadHandsItsItemInAndKeepsItsInterrupt(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            GroupCommit<String> group = new GroupCommit<>(ds, 64, GroupCommitTest::insert);
            CompletableFuture<java.util.Optional<RuntimeException>> told = new CompletableFuture<>();
            Thread.currentThread().interrupt();
            try {
                group.submit("interrupted", f -> told.complete(java.util.Optional.ofNullable(f)));
                assertThat(Thread.currentThread().isInterrupted()).isTrue();
            } finally {
                Thread.interrupted();
            }
            assertThat(told.get(10, TimeUnit.SECONDS)).isEmpty();
            assertThat(count(ds, "interrupted")).isEqualTo(1);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void submittedItemsReturnAtOnceAndTheWriterThreadCommitsThoseArrivingMeanwhileInTheNextGroup(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            HeldFirst held = new HeldFirst();
            GroupCommit<String> group = new GroupCommit<>(ds, 64, (c, items) -> {
                held.holdIfFirst(items);
                insert(c, items);
            });
            java.util.Map<String, String> toldOn = new java.util.concurrent.ConcurrentHashMap<>();
            CountDownLatch told = new CountDownLatch(9);
            java.util.function.Function<String, java.util.function.Consumer<RuntimeException>> callback = item -> failure -> {
                // told once, without a failure, after the commit: the item is visible to any other connection
                assertThat(failure).isNull();
                assertThat(countUnchecked(ds, item)).isEqualTo(1);
                assertThat(toldOn.put(item, Thread.currentThread().getName())).isNull();
                told.countDown();
            };
            // returns while its commit is held: nobody waits for it
            group.submit("first", callback.apply("first"));
            held.awaitFirstWriting();
            for (int i = 0; i < 8; i++) {
                group.submit("o" + i, callback.apply("o" + i));
            }
            assertThat(group.awaitIdle(java.time.Duration.ofMillis(300))).as("idle while a commit is held").isFalse();
            assertThat(count(ds, null)).isZero();
            assertThat(toldOn).isEmpty();
            held.release();
            assertThat(told.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(group.awaitIdle(java.time.Duration.ofSeconds(10))).isTrue();
            assertThat(count(ds, null)).isEqualTo(9);
            // the first alone, the eight handed in meanwhile in one more transaction, all by the writer thread
            assertThat(group.stats()).isEqualTo(new GroupCommit.Stats(2, 9));
            assertThat(toldOn.values()).containsOnly("ordersync-group-commit");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void manyThreadsSubmittingAndCommittingAtOnceLoseNoItemAndTellEachOnce(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            GroupCommit<String> group = new GroupCommit<>(ds, 64, GroupCommitTest::insert);
            int threads = 8;
            int each = 150;
            java.util.Set<String> told = java.util.concurrent.ConcurrentHashMap.newKeySet();
            java.util.concurrent.atomic.AtomicInteger failures = new java.util.concurrent.atomic.AtomicInteger();
            java.util.concurrent.atomic.AtomicInteger twice = new java.util.concurrent.atomic.AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> runs = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int thread = t;
                    runs.add(pool.submit(() -> {
                        for (int i = 0; i < each; i++) {
                            String item = thread + "-" + i;
                            if (i % 5 == 0) {
                                // some wait for the outcome, as a caller that needs it would
                                commit(group, item);
                                told.add(item);
                            } else {
                                group.submit(item, f -> {
                                    if (f != null) {
                                        failures.incrementAndGet();
                                    }
                                    if (!told.add(item)) {
                                        twice.incrementAndGet();
                                    }
                                });
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : runs) {
                    f.get(60, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            assertThat(group.awaitIdle(java.time.Duration.ofSeconds(30))).isTrue();
            assertThat(failures).hasValue(0);
            assertThat(twice).hasValue(0);
            assertThat(told).hasSize(threads * each);
            assertThat(count(ds, null)).isEqualTo(threads * each);
            GroupCommit.Stats stats = group.stats();
            assertThat(stats.items()).isEqualTo(threads * each);
            assertThat(stats.commits()).as("items share commits").isLessThan(threads * each);
        }
    }

    /** Holds the group with "first" in the writer until released; also GroupCommitItemByItemTest's. */
    static final class HeldFirst {
        private final CountDownLatch writing = new CountDownLatch(1);
        private final CountDownLatch released = new CountDownLatch(1);

        /** In the writer: holds the group if it has "first"; whether it did. */
        boolean holdIfFirst(List<String> items) throws InterruptedException {
            if (!items.contains("first")) {
                return false;
            }
            writing.countDown();
            assertThat(released.await(10, TimeUnit.SECONDS)).isTrue();
            return true;
        }

        void awaitFirstWriting() throws InterruptedException {
            assertThat(writing.await(10, TimeUnit.SECONDS)).isTrue();
        }

        void release() {
            released.countDown();
        }
    }

    /** The items into a table of their own (created when missing); also GroupCommitItemByItemTest's writer. */
    static void insert(java.sql.Connection c, List<String> items) throws Exception {
        try (var s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS group_commit_item (item VARCHAR(100) NOT NULL)");
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO group_commit_item (item) VALUES (?)")) {
            for (String i : items) {
                ps.setString(1, i);
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    /** Hands the item in and waits until it is told, as a caller that needs the outcome would; throws its failure. */
    private static void commit(GroupCommit<String> group, String item) {
        commit(group, item, null);
    }

    /** Hands the item in, counts {@code handedIn} down (if given), and waits until it is told its outcome. */
    private static void commit(GroupCommit<String> group, String item, CountDownLatch handedIn) {
        CompletableFuture<java.util.Optional<RuntimeException>> told = new CompletableFuture<>();
        group.submit(item, f -> told.complete(java.util.Optional.ofNullable(f)));
        if (handedIn != null) {
            handedIn.countDown();
        }
        java.util.Optional<RuntimeException> failure;
        try {
            failure = told.get(20, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("not told within 20 s: " + item, e);
        }
        failure.ifPresent(f -> {
            throw f;
        });
    }

    private static int countUnchecked(HikariDataSource ds, String item) {
        try {
            return count(ds, item);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Rows of the item (all rows: null); also GroupCommitItemByItemTest's. */
    static int count(HikariDataSource ds, String item) throws Exception {
        try (var c = ds.getConnection(); var s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS group_commit_item (item VARCHAR(100) NOT NULL)");
            try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM group_commit_item" + (item == null ? "" : " WHERE item = ?"))) {
                if (item != null) {
                    ps.setString(1, item);
                }
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getInt(1);
                }
            }
        }
    }

}
