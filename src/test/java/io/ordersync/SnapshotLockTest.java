package io.ordersync;

import io.ordersync.order.Retention;
import io.ordersync.queue.SyncQueue;
import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An order queued outside intake (an operator's Sync now, a backfill) while it is erased or purged (found by a
 * review): Sync now read the snapshot, then queued the order in a transaction of its own; an erase or a purge that
 * ran between the two left a queue row whose order was gone, and the row parked as a system error. Both sides now
 * take the snapshot's row lock first ({@code OrderStore.SNAPSHOT_LOCKED}): a Sync now that comes second finds the
 * order gone (404), and a purge that comes second finds it queued and keeps it. On the default H2 and on PostgreSQL.
 */
class SnapshotLockTest extends AppTestSupport {

    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"h2", "postgresql"})
    void aSyncNowOfAnOrderErasedWhileItRunsQueuesNothing(String db) throws Exception {
        startWithAbc12Synced(db);

        HttpResponse<String> synced;
        try (Connection erase = app.dataSource().getConnection()) {
            // an erase (or a purge) under way: the snapshot deleted, not yet committed
            erase.setAutoCommit(false);
            try (Statement s = erase.createStatement()) {
                assertThat(s.executeUpdate("DELETE FROM order_snapshot WHERE order_code = 'ABC12'")).isEqualTo(1);
            }
            CompletableFuture<HttpResponse<String>> sync = async(() -> app.post("/api/orders/democon/ABC12/sync", "{}"));
            // shorter than H2's lock timeout (2 s); before the fix the Sync now had queued the order by now
            Thread.sleep(1200);
            assertThat(sync).as("a Sync now waits for the erase that holds the order").isNotDone();
            erase.commit();
            synced = sync.get(30, TimeUnit.SECONDS);
        }
        assertThat(synced.statusCode()).as(synced.body()).isEqualTo(404);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).as("no queue row for an order that is gone").isZero();
    }

    /**
     * The erase itself (DELETE /api/orders/…) meets a Sync now that holds the snapshot's lock and has queued the
     * order: it waits, and then deletes the row the Sync now queued with the rest of the order. The row is queued due
     * in an hour, so that no claim takes it between the two.
     */
    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"h2", "postgresql"})
    void anEraseDeletesWhatASyncNowHoldingTheLockQueued(String db) throws Exception {
        startWithAbc12Synced(db);
        SyncQueue queue = app.context().getRegistry().lookupByNameAndType("ordersync.syncQueue", SyncQueue.class);
        HttpResponse<String> erased;
        try (Connection syncNow = app.dataSource().getConnection()) {
            syncNow.setAutoCommit(false);
            try (Statement s = syncNow.createStatement()) {
                s.executeQuery("SELECT document FROM order_snapshot WHERE order_code = 'ABC12' FOR UPDATE").close();
            }
            queue.enqueue(syncNow, "democon", "ABC12", "crm", "manual", Instant.now().plusSeconds(3600));
            CompletableFuture<HttpResponse<String>> erase = async(() -> app.delete("/api/orders/democon/ABC12"));
            Thread.sleep(1000);
            assertThat(erase).as("the erase waits for the Sync now").isNotDone();
            syncNow.commit();
            erased = erase.get(30, TimeUnit.SECONDS);
        }
        assertThat(erased.statusCode()).as(erased.body()).isEqualTo(200);
        assertThat(erased.body()).contains("\"sync_queue\":1");
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isZero();
    }

    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"h2", "postgresql"})
    void aPurgeKeepsAnOrderQueuedWhileItRan(String db) throws Exception {
        startWithAbc12Synced(db);
        try (Connection c = app.dataSource().getConnection(); PreparedStatement ps = c.prepareStatement(
                "UPDATE order_snapshot SET received_at = ? WHERE order_code = 'ABC12'")) {
            ps.setObject(1, OffsetDateTime.now(ZoneOffset.UTC).minusDays(400));
            ps.executeUpdate();
        }
        Retention purging = new Retention(app.dataSource(), app.store(), Duration.ofDays(30), Duration.ofDays(365));
        SyncQueue queue = app.context().getRegistry().lookupByNameAndType("ordersync.syncQueue", SyncQueue.class);

        Map<String, Integer> purged;
        try (Connection syncNow = app.dataSource().getConnection()) {
            // what a Sync now does in its transaction: the snapshot's lock, then the order queued
            syncNow.setAutoCommit(false);
            try (Statement s = syncNow.createStatement()) {
                s.executeQuery("SELECT document FROM order_snapshot WHERE order_code = 'ABC12' FOR UPDATE").close();
            }
            // the purge reads its candidates (the order has no queue row yet) and meets the lock
            CompletableFuture<Map<String, Integer>> purge = CompletableFuture.supplyAsync(() -> purging.purge(Instant.now()));
            Thread.sleep(800);
            queue.enqueue(syncNow, "democon", "ABC12", "crm", "manual", Instant.now());
            syncNow.commit();
            purged = purge.get(30, TimeUnit.SECONDS);
        }
        assertThat(purged).doesNotContainKey("order_snapshot");
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'ABC12'"))
                .as("the order a Sync now queued is kept").isEqualTo(1);
        // synced again, not parked (a parked row stays in the queue)
        awaitQueueEmpty();
    }

    /** ordersync on this database with order ABC12 taken in and synced, nothing queued. */
    private void startWithAbc12Synced(String db) throws Exception {
        startWithCrm(1, "1h", databaseSettings(db));
        assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
    }
}
