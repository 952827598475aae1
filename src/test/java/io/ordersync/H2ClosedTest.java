package io.ordersync;

import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * H2 closes its database after an error it cannot go on from (found by a review after CI saw it: an OutOfMemoryError
 * while H2 wrote its file made it close the store, and every later statement failed with "The database has been
 * closed"). The pool kept the dead connections, so intake answered 503 and the queue waited, for ever. Here the
 * database is closed as abruptly ({@code SHUTDOWN IMMEDIATELY}); ordersync opens it again by itself, and nothing
 * accepted before is lost.
 */
class H2ClosedTest extends AppTestSupport {

    @Test
    void aDatabaseH2ClosedIsOpenedAgainAndWorkGoesOn() throws Exception {
        startWithCrm();
        assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute("SHUTDOWN IMMEDIATELY");
        } catch (java.sql.SQLException closedUnderIt) {
            // the statement's own connection goes with the database
        }
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500)).until(() -> {
            HttpResponse<String> r = app.post("/api/events", fixture("order-xyz34").toString());
            return r.statusCode() == 202;
        });
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 2);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).as("the order accepted before is still there").isEqualTo(2);
        // every connection of the pool works: twenty queries at once take them all (before, the ones H2 had closed
        // stayed in the pool and failed whoever got them)
        java.util.concurrent.ExecutorService many = java.util.concurrent.Executors.newFixedThreadPool(20);
        try {
            java.util.List<java.util.concurrent.Future<Long>> counts = new java.util.ArrayList<>();
            for (int i = 0; i < 20; i++) {
                counts.add(many.submit(() -> {
                    try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement();
                         java.sql.ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM order_snapshot")) {
                        rs.next();
                        Thread.sleep(200); // held, so that the others take other connections
                        return rs.getLong(1);
                    }
                }));
            }
            for (var f : counts) {
                assertThat(f.get(30, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(2);
            }
        } finally {
            many.shutdownNow();
        }
    }
}
