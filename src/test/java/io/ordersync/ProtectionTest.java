package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.FakeTarget;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Targets are protected: a rate limit (Camel's Throttle EIP) and a circuit breaker that pauses and resumes by itself. */
class ProtectionTest extends AppTestSupport {

    private void start(String rateLimit, String breaker) throws Exception {
        Fixtures.mapping(mappings, "guarded", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "2000",
                "rate_limit", rateLimit, "breaker", breaker));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                "ordersync.redelivery.maximum", "0")).start();
    }

    private void postOrders(int n) throws Exception {
        for (int i = 0; i < n; i++) {
            ObjectNode doc = fixture("order-xyz34");
            ((ObjectNode) doc.path("order")).put("code", "P" + i).put("email", "p" + i + "@example.org");
            app.post("/api/events", doc.toString());
        }
    }

    @Test
    void theRateLimitHoldsAtTheTarget() throws Exception {
        start("5", "false");
        postOrders(10);
        awaitQueueEmpty();
        List<FakeTarget.Request> reqs = target.requests();
        assertThat(reqs).hasSize(40);
        // at most 5 requests in any one-second window (100 ms allowed for the network between throttle and target)
        for (int i = 0; i < reqs.size(); i++) {
            Instant from = reqs.get(i).at();
            long inWindow = reqs.stream().filter(r -> !r.at().isBefore(from) && r.at().isBefore(from.plusMillis(900))).count();
            assertThat(inWindow).as("requests within 0.9 s of request " + i).isLessThanOrEqualTo(5);
        }
        assertThat(Duration.between(reqs.get(0).at(), reqs.get(reqs.size() - 1).at())).isGreaterThanOrEqualTo(Duration.ofSeconds(6));
    }

    @Test
    void theCircuitOpensOnADeadTargetAndClosesWhenItRecovers() throws Exception {
        start("0", "true");
        target.failAlways(503);
        postOrders(8);
        await().atMost(Duration.ofSeconds(15)).until(() -> "open".equals(circuit()));
        // while open: no request storm — nothing reaches the target until the probe
        int seen = target.requests().size();
        Thread.sleep(1500);
        assertThat(target.requests().size()).as("no requests while the circuit is open").isLessThanOrEqualTo(seen + 1);
        JsonNode provider = JSON.readTree(app.get("/api/providers").body()).get(0);
        assertThat(provider.path("circuit").asText()).isIn("open", "half_open");
        target.failAlways(0);
        await().atMost(Duration.ofSeconds(30)).until(() -> "closed".equals(circuit()));
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(8);
    }

    private String circuit() throws Exception {
        return JSON.readTree(app.get("/api/providers").body()).get(0).path("circuit").asText();
    }
}
