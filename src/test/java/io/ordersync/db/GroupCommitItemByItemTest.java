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
            GroupCommitTest.HeldFirst held = new GroupCommitTest.HeldFirst();
            GroupCommit<String> group = new GroupCommit<>(ds, 64, (c, items) -> {
                held.holdIfFirst(items);
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
            held.awaitFirstWriting();
            // one group: ok1, a value too long (the group's batch fails), err, ok2
            group.submit("ok1", cb.apply("ok1"));
            group.submit("x".repeat(300), cb.apply("bad"));
            group.submit("err", cb.apply("err"));
            group.submit("ok2", cb.apply("ok2"));
            held.release();
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

    /**
     * The first item written on its own finds no connection: the pool's own exception (SQLTransientConnectionException,
     * what Hikari throws after its connection timeout), thrown by the writer so that the moment is certain (holding the
     * pool's connections from the test raced the writer for the one its failed group gave back). The items after it
     * are told the same without being tried: each try would wait for a connection again (3 s at the defaults).
     */
    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void whenTheDatabaseBecomesUnavailableWhileAFailedGroupIsWrittenItemByItemTheRestAreNotTried(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            GroupCommitTest.HeldFirst held = new GroupCommitTest.HeldFirst();
            List<String> tried = new java.util.concurrent.CopyOnWriteArrayList<>();
            GroupCommit<String> group = new GroupCommit<>(ds, 64, (c, items) -> {
                held.holdIfFirst(items);
                if (items.size() == 1 && !items.contains("first")) {
                    tried.add(items.get(0));
                    if (tried.size() == 1) {
                        throw new java.sql.SQLTransientConnectionException("ordersync - Connection is not available, request timed out after 3000ms");
                    }
                }
                GroupCommitTest.insert(c, items);
            });
            int n = 12;
            CountDownLatch all = new CountDownLatch(n + 1);
            Map<String, Optional<RuntimeException>> told = new ConcurrentHashMap<>();
            group.submit("first", f -> all.countDown());
            held.awaitFirstWriting();
            // one group: a value too long (the group's batch fails), then eleven good items
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
            held.release();
            assertThat(all.await(20, TimeUnit.SECONDS)).isTrue();
            // the first item on its own met the unreachable database; none after it was tried
            assertThat(tried).hasSize(1);
            assertThat(told).hasSize(n);
            assertThat(told.values()).allSatisfy(f -> assertThat(f).hasValueSatisfying(e -> assertThat(Tx.isDatabaseUnavailable(e)).isTrue()));
            for (int i = 1; i < n; i++) {
                assertThat(GroupCommitTest.count(ds, "i" + i)).isZero();
            }
        }
    }
}
