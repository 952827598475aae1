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
            // at most 4 requests in any window of 0.9 s (100 ms allowed for the way from the throttle to the target)
            for (int i = 0; i < reqs.size(); i++) {
                Instant from = reqs.get(i).at();
                long inWindow = reqs.stream().filter(r -> !r.at().isBefore(from) && r.at().isBefore(from.plusMillis(900))).count();
                assertThat(inWindow).as("requests within 0.9 s of request %d (%s)", i, timeline).isLessThanOrEqualTo(4);
            }
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

    /** Two instances on one PostgreSQL, b with its own token; both have seen the other run the provider. */
    private Instances start(String rateLimit, String concurrency) throws Exception {
        Path file = Fixtures.mapping(mappings, "guarded", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "5000",
                "rate_limit", rateLimit, "breaker", "false"));
        if (!concurrency.equals("4")) {
            Files.writeString(file, Files.readString(file).replace("concurrency: 4", "concurrency: " + concurrency));
        }
        Map<String, String> props = crmOn(Postgres.newDatabase());
        props.put("ordersync.redelivery.maximum", "0");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, withId(props, "a", "s3cret")).start();
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
