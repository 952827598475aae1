package io.ordersync.db;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A group whose commit failed is written again item by item, so only the item at fault fails. Two ways that went
 * wrong, found by an attack on round twenty-two of issue 18: an Error while one item was written on its own failed
 * the items already committed before it (and never wrote those after it); and a database that went out of reach
 * meanwhile made every remaining item wait for a connection in turn.
 */
class GroupCommitItemByItemTest {

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void anItemCommittedOnItsOwnIsNotToldAFailureWhenALaterItemThrowsAnError(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            CountDownLatch writing = new CountDownLatch(1);
            CountDownLatch released = new CountDownLatch(1);
            GroupCommit<String> group = new GroupCommit<>(ds, 64, (c, items) -> {
                if (items.contains("first")) {
                    writing.countDown();
                    released.await(10, TimeUnit.SECONDS);
                }
                GroupCommitTest.insert(c, items);
                // e.g. an OutOfMemoryError while this one item is written on its own
                if (items.equals(List.of("err"))) {
                    throw new OutOfMemoryError("simulated");
                }
            });
            Map<String, Optional<RuntimeException>> told = new ConcurrentHashMap<>();
            CountDownLatch all = new CountDownLatch(5);
            java.util.function.Function<String, java.util.function.Consumer<RuntimeException>> cb = item -> f -> {
                told.put(item, Optional.ofNullable(f));
                all.countDown();
            };
            group.submit("first", cb.apply("first"));
            assertThat(writing.await(10, TimeUnit.SECONDS)).isTrue();
            // one group: ok1, a value too long (the group's batch fails), err, ok2
            group.submit("ok1", cb.apply("ok1"));
            group.submit("x".repeat(300), cb.apply("bad"));
            group.submit("err", cb.apply("err"));
            group.submit("ok2", cb.apply("ok2"));
            released.countDown();
            assertThat(all.await(20, TimeUnit.SECONDS)).isTrue();
            assertThat(group.awaitIdle(java.time.Duration.ofSeconds(10))).isTrue();

            // ok1 and ok2 were committed in transactions of their own: told so; only the value too long and err failed
            assertThat(GroupCommitTest.count(ds, "ok1")).isEqualTo(1);
            assertThat(GroupCommitTest.count(ds, "ok2")).isEqualTo(1);
            assertThat(GroupCommitTest.count(ds, "err")).isZero();
            assertThat(told.get("ok1")).as("ok1 is committed; its callback must say so").isEmpty();
            assertThat(told.get("ok2")).as("ok2 is written after err's Error").isEmpty();
            assertThat(told.get("bad")).isPresent();
            assertThat(told.get("err")).get().extracting(Throwable::getCause).isInstanceOf(OutOfMemoryError.class);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void whenTheDatabaseBecomesUnavailableWhileAFailedGroupIsWrittenItemByItemItDoesNotWaitOncePerItem(String db) throws Exception {
        java.util.Properties p = Postgres.newDatabase(db);
        p.setProperty("ordersync.db.pool-size", "2");
        p.setProperty("ordersync.db.connection-timeout-ms", "1000");
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(p))) {
            CountDownLatch writing = new CountDownLatch(1);
            CountDownLatch released = new CountDownLatch(1);
            CountDownLatch groupFailing = new CountDownLatch(1);
            GroupCommit<String> group = new GroupCommit<>(ds, 64, (c, items) -> {
                if (items.contains("first")) {
                    writing.countDown();
                    released.await(10, TimeUnit.SECONDS);
                }
                if (items.size() > 1) {
                    groupFailing.countDown();
                    Thread.sleep(300); // the test takes every connection meanwhile (the database is out of reach)
                }
                GroupCommitTest.insert(c, items);
            });
            int n = 12;
            CountDownLatch all = new CountDownLatch(n + 1);
            Map<String, Optional<RuntimeException>> told = new ConcurrentHashMap<>();
            group.submit("first", f -> all.countDown());
            assertThat(writing.await(10, TimeUnit.SECONDS)).isTrue();
            group.submit("x".repeat(300), f -> {
                told.put("bad", Optional.ofNullable(f));
                all.countDown();
            });
            for (int i = 1; i < n; i++) {
                String item = "i" + i;
                group.submit(item, f -> {
                    told.put(item, Optional.ofNullable(f));
                    all.countDown();
                });
            }
            released.countDown();
            assertThat(groupFailing.await(10, TimeUnit.SECONDS)).isTrue();
            java.util.List<java.sql.Connection> held = new java.util.ArrayList<>();
            try {
                held.add(ds.getConnection());
                held.add(ds.getConnection()); // the writer's, once its group is rolled back
                long t0 = System.nanoTime();
                assertThat(all.await(60, TimeUnit.SECONDS)).isTrue();
                long ms = (System.nanoTime() - t0) / 1_000_000;
                // the database out of reach: one wait for a connection (1 s), not one per item (12 s before)
                assertThat(ms).isLessThan(6000);
                assertThat(told).hasSize(n);
                assertThat(told.values()).anySatisfy(f -> assertThat(f).hasValueSatisfying(e -> assertThat(Tx.isDatabaseUnavailable(e)).isTrue()));
            } finally {
                for (java.sql.Connection c : held) {
                    c.close();
                }
            }
            // the items told "committed" (some may have been, before the test had both connections) are stored
            for (Map.Entry<String, Optional<RuntimeException>> e : told.entrySet()) {
                assertThat(GroupCommitTest.count(ds, e.getKey().equals("bad") ? "x".repeat(300) : e.getKey())).isEqualTo(e.getValue().isEmpty() ? 1 : 0);
            }
        }
    }
}
