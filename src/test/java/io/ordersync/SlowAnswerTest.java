package io.ordersync;

import com.icegreen.greenmail.junit5.GreenMailExtension;
import com.icegreen.greenmail.util.ServerSetupTest;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.TrickleServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Peers that never finish an answer, on loopback: a body sent a byte at a time, each wait shorter than any read
 * timeout, or no answer at all. HttpClient's timeouts bound each wait for data, not the whole answer: before, a target
 * that trickled kept the sync (and a slot of the provider's concurrency) for the 28 hours its body would take, past
 * the claim's lease; a token endpoint that trickled held every worker of its providers behind the fetch's lock; a
 * silent alert receiver held the alerts' timer, and the e-mail behind it, for Camel's default three minutes.
 */
class SlowAnswerTest extends AppTestSupport {

    @RegisterExtension
    static GreenMailExtension mail = new GreenMailExtension(ServerSetupTest.SMTP.dynamicPort());

    private static String lastError(OrdersyncApp app) {
        List<Map<String, Object>> rows = app.query("SELECT last_error FROM sync_queue WHERE last_error IS NOT NULL");
        return rows.isEmpty() ? "" : String.valueOf(rows.get(0).values().iterator().next());
    }

    @Test
    @Timeout(90)
    void aTargetWhoseAnswerTricklesFailsAtConnectPlusResponseTimeout() throws Exception {
        try (TrickleServer crm = TrickleServer.trickling(200)) {
            Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1h", "response_timeout_ms", "2000"));
            app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", crm.url(), "test.crm.token", "s3cret",
                    "ordersync.redelivery.maximum", "0")).start();
            long t0 = System.nanoTime();
            assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
            await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts >= 1") == 1);
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
            // connect_timeout_ms 1000 + response_timeout_ms 2000; a timeout: recoverable, tried again at its backoff
            assertThat(lastError(app)).contains("no complete answer within 3000 ms (connect_timeout_ms + response_timeout_ms)");
            assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NULL")).isEqualTo(1);
            assertThat(crm.requests()).isEqualTo(1);
        }
    }

    /** An answer body over 16 MiB, declared or chunked, is not read: a recoverable failure that says why. */
    @org.junit.jupiter.params.ParameterizedTest(name = "chunked={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    @Timeout(90)
    void anAnswerBodyOver16MiBFailsTheSyncAsRecoverable(boolean chunked) throws Exception {
        try (TrickleServer crm = TrickleServer.oversized(17L * 1024 * 1024, chunked)) {
            Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1h", "response_timeout_ms", "5000"));
            app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", crm.url(), "test.crm.token", "s3cret",
                    "ordersync.redelivery.maximum", "0")).start();
            assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
            await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts >= 1") == 1);
            assertThat(lastError(app)).contains("more than the 16777216 bytes ordersync reads");
            assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NULL")).isEqualTo(1);
        }
    }

    @Test
    @Timeout(90)
    void aTokenEndpointWhoseAnswerTricklesFailsTheSyncInsteadOfHoldingTheWorkers() throws Exception {
        try (TrickleServer tokens = TrickleServer.trickling(200)) {
            Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1h", "response_timeout_ms", "2000"));
            Fixtures.crmWithOAuth2(mappings);
            app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "unused",
                    "test.oauth.url", tokens.url() + "/token", "test.oauth.secret", "oauth-s3cret-client-99",
                    "ordersync.redelivery.maximum", "0")).start();
            for (String code : List.of("T1", "T2")) {
                var doc = fixture("order-abc12");
                ((com.fasterxml.jackson.databind.node.ObjectNode) doc.path("order")).put("code", code).put("email", code + "@example.org");
                assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
            }
            // both workers: the one that fetched and the one that waited for its lock, each failed within its deadline
            await().atMost(Duration.ofSeconds(40)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts >= 1") == 2);
            assertThat(lastError(app)).contains("OAuth2 token endpoint").contains("no complete answer within 7000 ms");
            assertThat(target.requests()).as("nothing sent without a token").isEmpty();
        }
    }

    @Test
    @Timeout(120)
    void aSilentAlertReceiverDoesNotHoldTheAlertsEMailForMinutes() throws Exception {
        try (TrickleServer receiver = TrickleServer.silent()) {
            target.failAlways(422);
            Map<String, String> props = new HashMap<>(Map.of("ordersync.alerts.webhook-url", receiver.url() + "/ops",
                    "ordersync.alerts.mail.uri", "smtp://127.0.0.1:" + mail.getSmtp().getPort(),
                    "ordersync.alerts.mail.to", "ops@example.org", "ordersync.alerts.check-period-ms", "200",
                    "ordersync.alerts.min-interval", "PT1H"));
            startWithCrm(5, "1h", props);
            long t0 = System.nanoTime();
            app.post("/api/events", fixture("order-abc12").toString());
            await().atMost(Duration.ofSeconds(20)).until(() -> receiver.requests() >= 1);
            // the webhook is given up after twice its 10 s timeout, then the e-mail goes (before: after 3 minutes)
            await().atMost(Duration.ofSeconds(45)).until(() -> mail.getReceivedMessages().length >= 1);
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(45));
            assertThat(mail.getReceivedMessages()[0].getSubject()).startsWith("[ordersync] 1 sync of crm parked");
        }
    }
}
