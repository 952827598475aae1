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

    /** A row counts until a manual retry after its answer (a lift keeps the row, with its time). */
    private static final String PAUSES_THAT_COUNT = "SELECT COUNT(*) FROM provider_pause p LEFT JOIN provider_lift l "
            + "ON l.provider = p.provider WHERE l.lifted_at IS NULL OR p.paused_at > l.lifted_at";

    @Test
    void aRetryAfterPausesEveryInstanceAndARetryOnAnyLiftsIt() throws Exception {
        try (OrdersyncApp b = twoOnPostgres()) {
            target.failNext(1, "/contacts", 429, "600");
            Instant before = Instant.now();
            post(app, 0);
            // the instance that did not get the answer learns the pause within about a second, and shows it. Either may
            // have claimed the row: both are waited for (before: b only, which in CI was the one that got the answer,
            // while a, not yet told, sent the next orders; 2026-12-07)
            await().atMost(Duration.ofSeconds(10)).until(() -> !pausedUntil(b).isNull() && !pausedUntil(app).isNull());
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
            assertThat(app.count(PAUSES_THAT_COUNT)).as("the pause, lifted in the table").isZero();
        }
    }

    @Test
    void onTheDefaultH2APauseOutlastsARestart() throws Exception {
        guarded("5000");
        app = alone(Map.of());
        target.failNext(1, "/contacts", 429, "600");
        post(app, 0);
        // written to the database within about a second of the answer
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count(PAUSES_THAT_COUNT) == 1);
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
        await().atMost(Duration.ofSeconds(5)).until(() -> app.count(PAUSES_THAT_COUNT) == 0);
        assertThat(pausedUntil(app).isNull()).isTrue();
    }

    /**
     * A pause written by hand (or by a hostile writer of the table) ends at the latest ordersync.delivery.max-retry-after
     * after it appeared; the cap does not move on with the clock.
     */
    @Test
    void aPauseReadFromTheTableEndsAtTheLongestAllowed() throws Exception {
        guarded("5000");
        // (10 s: time enough for the checks below inside the pause on a loaded machine)
        app = alone(Map.of("ordersync.delivery.max-retry-after", "PT10S"));
        try (var c = app.dataSource().getConnection(); var ps = c.prepareStatement("INSERT INTO provider_pause "
                + "(provider, paused_until, paused_at, instance_id) VALUES ('guarded', ?, ?, 'elsewhere')")) {
            ps.setObject(1, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC).plusYears(100));
            ps.setObject(2, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC).plusYears(99));
            ps.executeUpdate();
        }
        JsonNode p = await().atMost(Duration.ofSeconds(10)).until(() -> pausedUntil(app), n -> !n.isNull());
        assertThat(Instant.parse(p.asText())).isBefore(Instant.now().plusSeconds(11));
        post(app, 0);
        Thread.sleep(1000);
        assertThat(target.requests()).as("while the pause lasts").isEmpty();
        await().atMost(Duration.ofSeconds(25)).until(() -> target.objects("contacts").size() == 1);
        assertThat(pausedUntil(app).isNull()).isTrue();
    }

    /** A Retry-After answered while the instance stops (its last syncs finish) is written for the next start. */
    @Test
    void aPauseGotWhileStoppingOutlastsTheRestart() throws Exception {
        guarded("10000");
        app = alone(Map.of("ordersync.redelivery.maximum", "0"));
        target.failNextSlowly("/contacts", 429, "600", 2000);
        post(app, 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> !target.requests().isEmpty());
        app.stop();
        app.start();
        post(app, 1);
        Thread.sleep(3000);
        assertThat(target.requests()).as("requests after the restart, during the pause").hasSize(1);
        assertThat(pausedUntil(app).isNull()).isFalse();
    }

    /**
     * An operator retries on a right after b's target answered 429, before b wrote its pause: the retry holds (the
     * pause's answer came before the lift), on both.
     */
    @Test
    void aRetryRightAfterTheAnswerOnAnotherInstanceHolds() throws Exception {
        try (OrdersyncApp b = twoOnPostgres()) {
            for (int attempt = 0; attempt < 3; attempt++) {
                int before = target.requests().size();
                target.failNext(1, "/contacts", 429, "600");
                post(b, attempt);
                await().atMost(Duration.ofSeconds(10)).until(() -> target.requests().size() > before);
                await().atMost(Duration.ofSeconds(5)).until(() -> b.count(
                        "SELECT COUNT(*) FROM sync_queue WHERE not_before > CURRENT_TIMESTAMP") >= 1);
                Object id = b.query("SELECT id FROM sync_queue ORDER BY id DESC").get(0).get("id");
                assertThat(app.post("/api/queue/" + id + "/retry", "").statusCode()).isEqualTo(200);
                // lifted on both (a wrong pause of 600 s would also keep the queue from emptying below)
                await().atMost(Duration.ofSeconds(10)).alias("attempt " + attempt + ": lifted on both")
                        .until(() -> pausedUntil(app).isNull() && pausedUntil(b).isNull());
                awaitQueueEmpty();
            }
        }
    }

    /** Provider "guarded": no rate limit, no breaker, a backoff of 1 s. */
    private void guarded(String responseTimeoutMs) throws Exception {
        Fixtures.mapping(mappings, "guarded", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", responseTimeoutMs,
                "rate_limit", "0", "breaker", "false"));
    }

    /** Instances a (this.app) and b on one PostgreSQL, provider "guarded", no in-process redelivery; returns b. */
    private OrdersyncApp twoOnPostgres() throws Exception {
        guarded("5000");
        Map<String, String> props = crmOn(Postgres.newDatabase());
        props.put("ordersync.redelivery.maximum", "0");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, withId(props, "a")).start();
        return new OrdersyncApp(tmp.resolve("b"), mappings, withId(props, "b")).start();
    }

    /** One instance on the default embedded H2. */
    private OrdersyncApp alone(Map<String, String> extra) throws Exception {
        Map<String, String> props = new HashMap<>(Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret"));
        props.putAll(extra);
        return new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
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
