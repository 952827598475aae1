package io.ordersync;

import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Erasing an order while an operator's retry makes its waiting row due (found by a review): the erase checked that
 * no sync of the order was under way, then deleted; a claim that came between the two took the row, and its sync
 * sent the order to the target while it was being erased. The erase now deletes the waiting rows first, so no claim
 * can take them, and only then checks. On the default H2 and on PostgreSQL.
 */
class EraseRaceTest extends AppTestSupport {

    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"h2", "postgresql"})
    void noSyncOfAnOrderBeginsOnceItsEraseHasBegun(String db) throws Exception {
        target.failAlways(400);
        startWithCrm(5, "1h", databaseSettings(db));
        assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
        // refused by the target: parked, waiting for an operator
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count(
                "SELECT COUNT(*) FROM sync_queue WHERE slot = 'waiting' AND need_manual_retry IS NOT NULL") == 1);
        long row = app.count("SELECT id FROM sync_queue");
        target.failAlways(0);
        target.clearRequests();

        // the erase is held between its check and its deletes by a lock on the order's snapshot
        HttpResponse<String> erased;
        CompletableFuture<HttpResponse<String>> retried;
        try (Connection lock = app.dataSource().getConnection()) {
            lock.setAutoCommit(false);
            try (Statement s = lock.createStatement()) {
                s.executeQuery("SELECT order_code FROM order_snapshot WHERE order_code = 'ABC12' FOR UPDATE").close();
            }
            CompletableFuture<HttpResponse<String>> erase = async(() -> app.delete("/api/orders/democon/ABC12"));
            io.ordersync.support.LockWaits.awaitWaiting(app.dataSource(), 1);
            // meanwhile an operator retries the parked row: before the fix a claim took it and the sync ran
            retried = async(() -> app.post("/api/queue/" + row + "/retry", "{}"));
            // both wait (the erase well within H2's lock timeout of 2 s)
            io.ordersync.support.LockWaits.awaitWaiting(app.dataSource(), 2);
            lock.commit();
            erased = erase.get(30, TimeUnit.SECONDS);
        }
        assertThat(erased.statusCode()).as(erased.body()).isEqualTo(200);
        HttpResponse<String> retry = retried.get(30, TimeUnit.SECONDS);
        assertThat(retry.statusCode()).as("the retry of a row the erase deleted: %s", retry.body()).isNotEqualTo(200);
        Thread.sleep(2000);
        assertThat(target.writes()).as("nothing of the order sent after its erase began").isEmpty();
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE order_code = 'ABC12'")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM sync_result")).isZero();
    }
}
