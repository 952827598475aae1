package io.ordersync;

import io.ordersync.support.AppTestSupport;
import io.ordersync.support.PretixTestServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The pretix webhook without ordersync.pretix.webhook-secret takes posts from anyone who can reach it (pretix sends no
 * credentials). A flood of them is bounded (found by a review): posts per second (429), fetches waiting (503) — both
 * answers pretix sends again later (it retries anything over 299 but a 410) — and refused posts kept as rejected
 * events (60 an hour). With the secret set, pretix's own posts are not rate-limited.
 */
class PretixWebhookFloodTest extends AppTestSupport {

    private final HttpClient http = HttpClient.newHttpClient();
    private PretixTestServer pretix;

    @AfterEach
    void stopPretix() {
        if (pretix != null) {
            pretix.close();
        }
    }

    private void start(Map<String, String> extra) throws Exception {
        pretix = PretixTestServer.start();
        Map<String, String> props = pretix.settings();
        props.putAll(extra);
        startWithCrm(5, "5s, 5m", props);
    }

    private HttpResponse<String> webhook(String query, String organizer, String code, int id) throws Exception {
        String body = "{\"notification_id\": " + id + ", \"organizer\": \"" + organizer + "\", \"event\": \"democon\", \"code\": \""
                + code + "\", \"action\": \"pretix.event.order.placed\"}";
        return http.send(HttpRequest.newBuilder(URI.create(app.url("/api/sources/pretix/webhook" + query)))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void anonymousPostsOverTheRateLimitAre429AndPretixsRetryIsTaken() throws Exception {
        start(Map.of("ordersync.pretix.webhook-rate-limit", "5"));
        pretix.slow(10_000); // the fetches stay under way: this test is about the posts
        List<HttpResponse<String>> answers = new ArrayList<>();
        long started = System.nanoTime();
        for (int i = 0; i < 40; i++) {
            answers.add(webhook("", PretixTestServer.ORGANIZER, "FLOOD" + i, 1000 + i));
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        long taken = answers.stream().filter(r -> r.statusCode() == 200).count();
        List<HttpResponse<String>> limited = answers.stream().filter(r -> r.statusCode() == 429).toList();
        assertThat(taken + limited.size()).as("every answer a 200 or a 429").isEqualTo(40);
        // five a second, and one more second's worth for a window that turned while the posts ran
        assertThat(taken).as("taken in %.2f s", seconds).isBetween(5L, 5L * ((long) Math.ceil(seconds) + 1));
        assertThat(limited).isNotEmpty().allSatisfy(r -> {
            assertThat(r.headers().firstValue("Retry-After")).hasValue("5");
            assertThat(r.body()).contains("pretix sends this one again later");
        });
        assertThat(app.count("SELECT COUNT(*) FROM pretix_fetch")).as("a fetch per post taken, none per post refused").isEqualTo(taken);
        assertThat(app.count("SELECT COUNT(*) FROM intake_message WHERE source = 'pretix-webhook'")).isEqualTo(taken);
        // pretix sends a refused one again 5 s later: taken
        Thread.sleep(1100);
        assertThat(webhook("", PretixTestServer.ORGANIZER, "FLOOD39", 1039).statusCode()).isEqualTo(200);
    }

    @Test
    void withTheSecretPretixsPostsAreNotRateLimited() throws Exception {
        start(Map.of("ordersync.pretix.webhook-rate-limit", "5", "ordersync.pretix.webhook-secret", "s3cret-of-the-webhook"));
        pretix.slow(10_000);
        for (int i = 0; i < 30; i++) {
            HttpResponse<String> r = webhook("?secret=s3cret-of-the-webhook", PretixTestServer.ORGANIZER, "OWN" + i, 2000 + i);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }
        // without it: refused before anything else (401), and not counted against anything
        assertThat(webhook("", PretixTestServer.ORGANIZER, "ANON1", 3000).statusCode()).isEqualTo(401);
    }

    /** A secret that reads "null": a post without ?secret= matched it (the missing value was compared as "null"; an attack). */
    @Test
    void aSecretThatReadsNullIsNotMatchedByAMissingOne() throws Exception {
        start(Map.of("ordersync.pretix.webhook-secret", "null"));
        assertThat(webhook("", PretixTestServer.ORGANIZER, "NUL1", 5000).statusCode()).isEqualTo(401);
        assertThat(webhook("?secret=null&secret=null", PretixTestServer.ORGANIZER, "NUL2", 5001).statusCode()).isEqualTo(401);
        assertThat(webhook("?secret=null", PretixTestServer.ORGANIZER, "NUL3", 5002).statusCode()).isEqualTo(200);
    }

    @Test
    void overTheWaitingFetchesAWebhookIs503AndTakenOnceTheyDrain() throws Exception {
        start(Map.of("ordersync.pretix.max-waiting-fetches", "3", "ordersync.pretix.webhook-rate-limit", "0"));
        // (10 s: the three fetches still wait when the fourth post comes, however slow the machine; 3 s bet on it)
        pretix.slow(10_000);
        for (int i = 0; i < 3; i++) {
            assertThat(webhook("", PretixTestServer.ORGANIZER, "WAIT" + i, 4000 + i).statusCode()).isEqualTo(200);
        }
        Thread.sleep(1100); // the count is read at most once a second
        HttpResponse<String> refused = webhook("", PretixTestServer.ORGANIZER, "WAIT3", 4003);
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(503);
        assertThat(refused.headers().firstValue("Retry-After")).hasValue("30");
        assertThat(app.count("SELECT COUNT(*) FROM pretix_fetch WHERE order_code = 'WAIT3'")).isZero();
        // the fetches end (pretix answers 404 for codes it does not have: parked, not waiting): the next post is taken
        pretix.slow(0);
        await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM pretix_fetch WHERE parked IS NULL") == 0);
        Thread.sleep(1100);
        HttpResponse<String> retried = webhook("", PretixTestServer.ORGANIZER, "WAIT3", 4003);
        assertThat(retried.statusCode()).as(retried.body()).isEqualTo(200);
    }

    @Test
    void refusedAnonymousPostsAreKeptSixtyAnHour() throws Exception {
        start(Map.of("ordersync.pretix.webhook-rate-limit", "0"));
        for (int i = 0; i < 80; i++) {
            HttpResponse<String> r = webhook("", "someone-else", "REJ" + i, 5000 + i);
            assertThat(r.statusCode()).isEqualTo(400);
            assertThat(r.body()).contains("unknown organizer");
        }
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event WHERE source = 'pretix-webhook'")).isEqualTo(60);
    }

    /** A refused post is kept with its first 2 000 characters only: a flood of large bodies cannot fill the database. */
    @Test
    void aRefusedPostIsKeptWithItsFirst2000Characters() throws Exception {
        start(Map.of("ordersync.pretix.webhook-rate-limit", "0"));
        String body = "{\"notification_id\": 7001, \"organizer\": \"someone-else\", \"event\": \"democon\", \"code\": \"BIG1\", "
                + "\"action\": \"pretix.event.order.placed\", \"pad\": \"" + "x".repeat(30_000) + "\"}";
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/sources/pretix/webhook")))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body().length()).isLessThan(500);
        String kept = (String) app.query("SELECT payload FROM rejected_event WHERE source = 'pretix-webhook'").get(0).get("payload");
        assertThat(kept).hasSize(2001).isEqualTo(body.substring(0, 2000) + "…");
    }
}
