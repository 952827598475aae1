package io.ordersync.queue;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.db.Tx;
import io.ordersync.order.OrderStore;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A failed sync goes back to waiting while the order is queued again (a change, a backfill) by another transaction
 * that commits after the failure looked for a waiting row and before it wrote its own. Before, the database refused
 * the second waiting row and the failure was not stored: the row stayed in flight until its lease ran out (5 minutes;
 * CI saw it in AdminApiTest's backfill, 2026-12-07). Now the failure goes into the waiting row, as when it was there
 * first.
 */
class ReleaseRaceTest {

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aWaitingRowCommittedDuringTheReleaseTakesTheFailure(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            SyncQueue queue = new SyncQueue(ds);
            Instant t0 = Instant.parse("2026-12-02T10:00:00Z");
            Tx.run(ds, c -> queue.enqueue(c, "democon", "ABC12", "crm", "order.placed", t0));
            List<QueueEntry> claimed = queue.claim("i1", Duration.ofMinutes(5), 10, List.of(), t0.plusSeconds(1));
            assertThat(claimed).hasSize(1);
            QueueEntry inFlight = claimed.get(0);
            try (Connection other = ds.getConnection()) {
                // the order queued again, not yet committed: the release cannot see it, and its write waits for it
                other.setAutoCommit(false);
                queue.enqueue(other, "democon", "ABC12", "crm", "order.changed", t0.plusSeconds(2));
                CompletableFuture<Boolean> released = CompletableFuture.supplyAsync(() -> Tx.run(ds, c ->
                        queue.release(c, inFlight, 1, t0.plusSeconds(60), null, "HTTP 503")));
                if (db.equals("postgresql")) {
                    io.ordersync.support.LockWaits.awaitWaiting(ds, 1);
                } else {
                    // H2 does not list this wait (for an uncommitted row of a unique index) in its sessions' BLOCKER_ID:
                    // a wait for it ran out here. A release that starts only after the commit (a loaded machine)
                    // meets no race, and the assertions below hold as well
                    Thread.sleep(700);
                }
                other.commit();
                assertThat(released.get(20, TimeUnit.SECONDS)).as("the failure is stored").isTrue();
            }
            assertThat(new OrderStore(ds).query("SELECT order_code, slot, failed_attempts, last_error FROM sync_queue"))
                    .extracting(r -> r.get("order_code") + " " + r.get("slot") + " " + r.get("failed_attempts") + " " + r.get("last_error"))
                    .containsExactly("ABC12 waiting 1 HTTP 503");
        }
    }
}
