package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.FakeTarget;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A provider's {@code target.concurrency} and {@code target.rate_limit} are the target's limits, not each instance's:
 * two instances on one database that run the provider share them (each takes the limit divided by the instances that
 * run it). Before, each instance used the whole limit, so two instances sent twice the concurrency and the rate.
 */
class SharedTargetLimitsTest extends AppTestSupport {

    @Test
    void twoInstancesShareTheConcurrency() throws Exception {
        target.close();
        // each instance sends its own token, so the requests tell which instance sent them
        target = new FakeTarget().requireAuthorization(a -> a != null && a.startsWith("Bearer s3cret"));
        // every request takes 150 ms: syncs that run at once are requests in flight at once
        target.randomFaults(0, 1.0, 150);
        try (Instances both = start("0", "2")) {
            post(both, 24);
            awaitQueueEmpty();
            assertThat(target.objects("contacts")).hasSize(24);
            assertThat(target.maxInFlight()).as("requests in flight at once at the target").isLessThanOrEqualTo(2);
            assertBothSent();
        }
    }

    @Test
    void twoInstancesShareTheRateLimit() throws Exception {
        target.close();
        target = new FakeTarget().requireAuthorization(a -> a != null && a.startsWith("Bearer s3cret"));
        try (Instances both = start("4", "4")) {
            post(both, 10);
            awaitQueueEmpty();
            List<FakeTarget.Request> reqs = target.requests();
            assertThat(reqs).hasSize(40);
            Instant t0 = reqs.get(0).at();
            String timeline = String.join(", ", reqs.stream().map(r -> Duration.between(t0, r.at()).toMillis() + " ms "
                    + r.authorization().substring(7)).toList());
            // at most 12 requests in any window of 1.9 s: the 8 of two periods and up to 4 a loaded machine held back on
            // their way from the throttle to the target (a 0.9 s window with 100 ms for that way was a bet on the machine);
            // each instance at the whole limit sends 15 or more in such a window, and all 40 in about 5 s
            for (int i = 0; i < reqs.size(); i++) {
                Instant from = reqs.get(i).at();
                long inWindow = reqs.stream().filter(r -> !r.at().isBefore(from) && r.at().isBefore(from.plusMillis(1900))).count();
                assertThat(inWindow).as("requests within 1.9 s of request %d (%s)", i, timeline).isLessThanOrEqualTo(12);
            }
            assertThat(Duration.between(t0, reqs.get(39).at())).as(timeline).isGreaterThanOrEqualTo(Duration.ofSeconds(8));
            assertBothSent();
            // the API says what each instance takes of the limits
            JsonNode guarded = JSON.readTree(app.get("/api/providers").body()).get(0);
            assertThat(guarded.path("instances").asInt()).isEqualTo(2);
            assertThat(guarded.path("share").path("rate_limit").asInt()).isEqualTo(2);
            assertThat(guarded.path("share").path("concurrency").asInt()).isEqualTo(2);
        }
        // alone again: the whole limit (the other's entries withdrawn at its stop)
        await().atMost(Duration.ofSeconds(10)).until(() -> registry(app).instances("guarded") == 1);
        assertThat(registry(app).rateShare("guarded")).isEqualTo(4);
    }

    /**
     * A stop whose grace time runs out while a's one place is held by a sync whose request is not answered yet, and
     * a's other worker waits at the gate for that place. The waiting sync (and any row a claimed and no worker took)
     * has sent nothing: its row is handed back due now, no attempt counted, not parked. The running sync may still
     * reach the target: its row is due only once a's request cannot arrive any more. Before, the stop handed that
     * row back due at once too, and b could send the order while a's request was still on its way.
     */
    @Test
    void aStopThatRunsOutHandsBackTheUntriedRowsAndTheRunningOneDueOnceItsRequestCannotArrive() throws Exception {
        target.close();
        target = new FakeTarget().requireAuthorization(a -> a != null && a.startsWith("Bearer s3cret"));
        // every request is answered after 20 s: a's one place stays taken through its stop
        target.randomFaults(0, 1.0, 20_000);
        try (Instances both = start("0", "2", "30000", Map.of("camel.main.shutdown-timeout", "1"))) {
            post(both, 8);
            // a: its share (1) inside the gate, its other worker waiting there
            await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> assertThat(
                    app.count("SELECT COUNT(*) FROM sync_queue WHERE claimed_by = 'a'") >= 2 && gate(app).running("guarded") == 1)
                    .as("inside a's gate: %d; the queue: %s", gate(app).running("guarded"),
                            app.query("SELECT order_code, claimed_by FROM sync_queue ORDER BY id")).isTrue());
            // the sync inside the gate has reached the target (waited for: a sleep was a bet on the machine)
            java.util.concurrent.atomic.AtomicReference<List<String>> claimedNow = new java.util.concurrent.atomic.AtomicReference<>();
            java.util.concurrent.atomic.AtomicReference<List<String>> runningNow = new java.util.concurrent.atomic.AtomicReference<>();
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                claimedNow.set(app.query("SELECT order_code FROM sync_queue WHERE claimed_by = 'a'").stream()
                        .map(r -> (String) r.get("order_code")).toList());
                List<String> sent = target.requests().stream().filter(r -> "Bearer s3cret".equals(r.authorization()))
                        .map(r -> r.path() + "?" + r.query() + " " + r.body()).toList();
                runningNow.set(claimedNow.get().stream()
                        .filter(code -> sent.stream().anyMatch(r -> r.contains(code.toLowerCase() + "@") || r.contains(code.toLowerCase() + "%40")))
                        .toList());
                assertThat(runningNow.get()).as("a's rows %s, a's requests %s", claimedNow.get(), sent).hasSize(1);
            });
            List<String> claimed = claimedNow.get();
            List<String> running = runningNow.get();

            Instant stopped = Instant.now();
            app.stop();
            for (String code : claimed) {
                List<Map<String, Object>> row = both.b().query("SELECT * FROM sync_queue WHERE order_code = ?", code);
                assertThat(row).as(code).hasSize(1);
                if (code.equals(running.get(0))) {
                    // due once a's request cannot arrive any more (connect 5 s + response 30 s + 5 s), no attempt counted
                    assertThat(row.get(0)).as(row.toString()).containsEntry("claimed_by", null).containsEntry("slot", "waiting")
                            .containsEntry("failed_attempts", 0);
                    assertThat(Instant.parse((String) row.get(0).get("not_before")))
                            .isAfter(stopped.plusSeconds(35));
                } else {
                    // waiting again, or already taken by b (its share grew when a withdrew)
                    assertThat(row.get(0)).as(row.toString())
                            .containsEntry("failed_attempts", 0)
                            .containsEntry("need_manual_retry", null)
                            .containsEntry("last_error", null);
                    assertThat(row.get(0).get("claimed_by")).as(row.toString()).isNotEqualTo("a");
                }
            }
            assertThat(both.b().count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL")).as("rows parked").isZero();
        }
    }

    private static io.ordersync.delivery.ConcurrencyGate gate(OrdersyncApp on) {
        return on.context().getRegistry().lookupByNameAndType("ordersync.providers.concurrencyGate", io.ordersync.delivery.ConcurrencyGate.class);
    }

    /** Two instances on one PostgreSQL, b with its own token; both have seen the other run the provider. */
    private Instances start(String rateLimit, String concurrency) throws Exception {
        return start(rateLimit, concurrency, "5000", Map.of());
    }

    private Instances start(String rateLimit, String concurrency, String responseTimeoutMs, Map<String, String> aProps) throws Exception {
        Path file = Fixtures.mapping(mappings, "guarded", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", responseTimeoutMs,
                "rate_limit", rateLimit, "breaker", "false"));
        if (!concurrency.equals("4")) {
            Files.writeString(file, Files.readString(file).replace("concurrency: 4", "concurrency: " + concurrency));
        }
        Map<String, String> props = crmOn(Postgres.newDatabase());
        props.put("ordersync.redelivery.maximum", "0");
        Map<String, String> a = withId(props, "a", "s3cret");
        a.putAll(aProps);
        app = new OrdersyncApp(tmp.resolve("a"), mappings, a).start();
        OrdersyncApp b = new OrdersyncApp(tmp.resolve("b"), mappings, withId(props, "b", "s3cret-b")).start();
        // each sees the other once the other has announced (at its first claim) and it read the others (every second)
        await().atMost(Duration.ofSeconds(15)).until(() -> registry(app).instances("guarded") == 2 && registry(b).instances("guarded") == 2);
        return new Instances(b);
    }

    private record Instances(OrdersyncApp b) implements AutoCloseable {
        @Override
        public void close() throws Exception {
            b.close();
        }
    }

    private void post(Instances both, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            ObjectNode doc = fixture("order-xyz34");
            ((ObjectNode) doc.path("order")).put("code", "P" + i).put("email", "p" + i + "@example.org");
            assertThat((i % 2 == 0 ? app : both.b()).post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        }
    }

    private void assertBothSent() {
        assertThat(target.requests()).extracting(FakeTarget.Request::authorization).contains("Bearer s3cret", "Bearer s3cret-b");
    }

    private static ProviderRegistry registry(OrdersyncApp on) {
        return on.context().getRegistry().lookupByNameAndType("ordersync.providers", ProviderRegistry.class);
    }

    private static Map<String, String> withId(Map<String, String> props, String id, String token) {
        Map<String, String> out = new HashMap<>(props);
        out.put("ordersync.instance-id", id);
        out.put("test.crm.token", token);
        return out;
    }
}
