package io.ordersync;

import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Promises about syncs under way that no test held before (an audit of the docs against the tests): an erase while a
 * sync of the order runs is a 409 that keeps the order (API.md, RELIABILITY.md), and the dispatcher claims at most
 * twice a provider's concurrency (README: a claimed row's lease runs while it waits for a worker).
 */
class InFlightLimitsTest extends AppTestSupport {

    @Test
    void anEraseWhileASyncOfTheOrderRunsIs409AndKeepsTheOrderThen200() throws Exception {
        startWithCrm(5, "1h", 10_000, Map.of());
        target.stallNext(1, "/contacts", 3_000);
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE slot = 'inflight'") == 1);
        String email = fixture("order-abc12").path("order").path("email").asText();
        HttpResponse<String> byCode = app.delete("/api/orders/democon/ABC12");
        HttpResponse<String> byEmail = app.delete("/api/orders?email=" + email);
        assertThat(byCode.statusCode()).as(byCode.body()).isEqualTo(409);
        assertThat(byCode.body()).contains("a sync of this order is under way");
        assertThat(byEmail.statusCode()).as(byEmail.body()).isEqualTo(409);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'ABC12'")).as("nothing erased").isEqualTo(1);
        awaitQueueEmpty();
        HttpResponse<String> after = app.delete("/api/orders?email=" + email);
        assertThat(after.statusCode()).as(after.body()).isEqualTo(200);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'ABC12'")).isZero();
    }

    /**
     * A stop whose grace time (camel.main.shutdown-timeout, 10 s in the tests) runs out while two syncs wait for the
     * target (15 s): those two are handed back due once their last request can no longer arrive, and the two rows
     * claimed for the workers but never started are handed back due now; no attempt counted for any (README,
     * RELIABILITY.md; no test held the claimed-but-not-started rows before).
     */
    @Test
    void aStopHandsBackTheClaimedRowsNotStartedDueNow() throws Exception {
        startWithCrm(5, "1h", 20_000, Map.of());
        target.stallNext(200, "/contacts", 15_000);
        for (int i = 0; i < 10; i++) {
            String code = String.format("STP%02d", i);
            app.post("/api/events", fixture("order-abc12").toString().replace("ABC12", code)
                    .replace("\"email\":\"", "\"email\":\"" + code.toLowerCase() + "-"));
        }
        // two syncs wait for the target, two more rows are claimed for them (twice the concurrency)
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE slot = 'inflight'") == 4);
        app.stop();
        assertThat(app.countWhileStopped("SELECT COUNT(*) FROM sync_queue WHERE slot = 'inflight' OR claimed_by IS NOT NULL"))
                .as("nothing left claimed").isZero();
        assertThat(app.countWhileStopped("SELECT COUNT(*) FROM sync_queue")).isEqualTo(10);
        assertThat(app.countWhileStopped("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts > 0 OR need_manual_retry IS NOT NULL"))
                .as("no attempt counted, nothing parked").isZero();
        assertThat(app.countWhileStopped("SELECT COUNT(*) FROM sync_queue WHERE last_error LIKE '%grace time ran out while the sync was sending%' "
                + "AND not_before > CURRENT_TIMESTAMP")).as("the two that were sending: due later").isEqualTo(2);
        assertThat(app.countWhileStopped("SELECT COUNT(*) FROM sync_queue WHERE not_before <= CURRENT_TIMESTAMP"))
                .as("the two claimed and never started, and the six never claimed: due now").isEqualTo(8);
    }

    @Test
    void theDispatcherClaimsAtMostTwiceTheProvidersConcurrency() throws Exception {
        startWithCrm(5, "1h", 10_000, Map.of()); // the test CRM's concurrency: 2
        target.stallNext(200, "/contacts", 300);
        for (int i = 0; i < 30; i++) {
            String code = String.format("CAP%02d", i);
            app.post("/api/events", fixture("order-abc12").toString().replace("ABC12", code)
                    .replace("\"email\":\"", "\"email\":\"" + code.toLowerCase() + "-"));
        }
        long most = 0;
        long until = System.nanoTime() + Duration.ofSeconds(6).toNanos();
        while (System.nanoTime() < until) {
            most = Math.max(most, app.count("SELECT COUNT(*) FROM sync_queue WHERE slot = 'inflight'"));
            Thread.sleep(25);
        }
        assertThat(most).as("rows in flight at once").isBetween(2L, 4L);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).as("still a backlog: the cap was under test").isPositive();
    }
}
