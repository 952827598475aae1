package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A target's Retry-After pauses its provider on every instance on the database, not only on the one that got the
 * answer (before, the others went on sending), and a manual retry on any instance lifts it on all. On an embedded H2
 * the pause outlasts a restart.
 */
class SharedRetryAfterTest extends AppTestSupport {

    @Test
    void aRetryAfterPausesEveryInstanceAndARetryOnAnyLiftsIt() throws Exception {
        Fixtures.mapping(mappings, "guarded", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "5000",
                "rate_limit", "0", "breaker", "false"));
        Map<String, String> props = crmOn(Postgres.newDatabase());
        props.put("ordersync.redelivery.maximum", "0");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, withId(props, "a")).start();
        try (OrdersyncApp b = new OrdersyncApp(tmp.resolve("b"), mappings, withId(props, "b")).start()) {
            target.failNext(1, "/contacts", 429, "600");
            Instant before = Instant.now();
            post(app, 0);
            // b learns the pause a's target asked for within about a second, and shows it
            await().atMost(Duration.ofSeconds(10)).until(() -> !pausedUntil(b).isNull());
            Instant until = Instant.parse(pausedUntil(b).asText());
            assertThat(until).isBetween(before.plus(Duration.ofMinutes(9)), Instant.now().plus(Duration.ofMinutes(10)).plusSeconds(1));
            assertThat(target.requests()).hasSize(1);
            // orders accepted by either instance: neither sends anything while the pause lasts
            for (int i = 1; i <= 6; i++) {
                post(i % 2 == 0 ? app : b, i);
            }
            Thread.sleep(3000);
            assertThat(target.requests()).as("requests during the pause").hasSize(1);
            assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isEqualTo(7);
            // a manual retry on b lifts the pause on a too: everything goes
            Object id = b.query("SELECT id FROM sync_queue ORDER BY id").get(0).get("id");
            assertThat(b.post("/api/queue/" + id + "/retry", "").statusCode()).isEqualTo(200);
            await().atMost(Duration.ofSeconds(15)).until(() -> pausedUntil(app).isNull() && pausedUntil(b).isNull());
            // the retried row and the six that were never claimed during the pause
            awaitQueueEmpty();
            assertThat(target.objects("contacts")).hasSize(7);
            assertThat(app.count("SELECT COUNT(*) FROM provider_pause")).isZero();
        }
    }

    @Test
    void onTheDefaultH2APauseOutlastsARestart() throws Exception {
        Fixtures.mapping(mappings, "guarded", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "5000",
                "rate_limit", "0", "breaker", "false"));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret")).start();
        target.failNext(1, "/contacts", 429, "600");
        post(app, 0);
        // written to the database within about a second of the answer
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM provider_pause") == 1);
        Instant until = Instant.parse(pausedUntil(app).asText());
        app.restart();
        assertThat(Instant.parse(await().atMost(Duration.ofSeconds(10)).until(() -> pausedUntil(app), p -> !p.isNull()).asText()))
                .as("the same pause after the restart").isBetween(until.minusMillis(1), until.plusMillis(1));
        post(app, 1);
        Thread.sleep(2000);
        assertThat(target.requests()).as("requests during the pause, across the restart").hasSize(1);
        Object first = app.query("SELECT id FROM sync_queue ORDER BY id").get(0).get("id");
        assertThat(app.post("/api/queue/" + first + "/retry", "").statusCode()).isEqualTo(200);
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(2);
        await().atMost(Duration.ofSeconds(5)).until(() -> app.count("SELECT COUNT(*) FROM provider_pause") == 0);
        assertThat(pausedUntil(app).isNull()).isTrue();
    }

    /** A pause written by hand (or by a hostile writer of the table) is cut to ordersync.delivery.max-retry-after. */
    @Test
    void aPauseReadFromTheTableIsCutToTheLongestAllowed() throws Exception {
        Fixtures.mapping(mappings, "guarded", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "5000",
                "rate_limit", "0", "breaker", "false"));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                "ordersync.delivery.max-retry-after", "PT2M")).start();
        try (var c = app.dataSource().getConnection(); var ps = c.prepareStatement(
                "INSERT INTO provider_pause (provider, paused_until, instance_id) VALUES ('guarded', ?, 'elsewhere')")) {
            ps.setObject(1, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC).plusYears(100));
            ps.executeUpdate();
        }
        JsonNode p = await().atMost(Duration.ofSeconds(10)).until(() -> pausedUntil(app), n -> !n.isNull());
        assertThat(Instant.parse(p.asText())).isBefore(Instant.now().plus(Duration.ofMinutes(2)).plusSeconds(2));
        post(app, 0);
        Thread.sleep(1500);
        assertThat(target.requests()).isEmpty();
    }

    private void post(OrdersyncApp on, int i) throws Exception {
        ObjectNode doc = fixture("order-xyz34");
        ((ObjectNode) doc.path("order")).put("code", "P" + i).put("email", "p" + i + "@example.org");
        assertThat(on.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
    }

    private static JsonNode pausedUntil(OrdersyncApp on) throws Exception {
        return JSON.readTree(on.get("/api/providers").body()).get(0).path("paused_until");
    }

    private static Map<String, String> withId(Map<String, String> props, String id) {
        Map<String, String> out = new HashMap<>(props);
        out.put("ordersync.instance-id", id);
        return out;
    }
}
