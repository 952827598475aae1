package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.nimbusds.jwt.SignedJWT;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import no.nav.security.mock.oauth2.MockOAuth2Server;
import no.nav.security.mock.oauth2.token.DefaultOAuth2TokenCallback;
import okhttp3.mockwebserver.RecordedRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * OAuth2 client credentials against a real authorization server on loopback (no.nav.security:mock-oauth2-server):
 * the token is fetched once and shared by the provider's workers, fetched again before it expires, refreshed
 * once on a 401 of the target, and a client the server refuses parks the rows as a readable configuration error.
 * The target accepts only unexpired tokens of that server that it has not revoked.
 */
class OAuth2Test extends AppTestSupport {

    private static final String ISSUER = "crm-auth";
    private MockOAuth2Server oauth;
    private final Set<String> revoked = ConcurrentHashMap.newKeySet();
    /** Set: the next token the target sees is revoked on the spot. */
    private final java.util.concurrent.atomic.AtomicBoolean revokeNext = new java.util.concurrent.atomic.AtomicBoolean();
    private final java.util.concurrent.atomic.AtomicInteger refused = new java.util.concurrent.atomic.AtomicInteger();

    @BeforeEach
    void startAuthorizationServer() {
        oauth = new MockOAuth2Server();
        oauth.start();
        target.requireAuthorization((String) null);
        target.requireAuthorization((String header) -> {
            if (header == null || !header.startsWith("Bearer ")) {
                return false;
            }
            String token = header.substring(7);
            if (revokeNext.getAndSet(false)) {
                revoked.add(token);
            }
            boolean ok;
            try {
                SignedJWT jwt = SignedJWT.parse(token);
                ok = !revoked.contains(token) && jwt.getJWTClaimsSet().getIssuer().endsWith("/" + ISSUER)
                        && jwt.getJWTClaimsSet().getExpirationTime().toInstant().isAfter(Instant.now());
            } catch (Exception e) {
                ok = false;
            }
            if (!ok) {
                refused.incrementAndGet();
            }
            return ok;
        });
    }

    @AfterEach
    void stopAuthorizationServer() {
        oauth.shutdown();
    }

    private void startWithOAuth2(Map<String, String> extra) throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "3", "backoff", "5m", "response_timeout_ms", "2000"));
        Fixtures.crmWithOAuth2(mappings);
        Map<String, String> props = new java.util.HashMap<>(Map.of("test.crm.url", target.url(), "test.crm.token", "unused",
                "test.oauth.url", oauth.tokenEndpointUrl(ISSUER).toString(), "test.oauth.secret", "oauth-s3cret-client-99"));
        props.putAll(extra);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
    }

    private List<RecordedRequest> tokenRequests() throws InterruptedException {
        List<RecordedRequest> out = new ArrayList<>();
        while (true) {
            RecordedRequest r;
            try {
                r = oauth.takeRequest(200, TimeUnit.MILLISECONDS);
            } catch (RuntimeException none) {
                // the server throws when no request came within the time
                return out;
            }
            if (r == null) {
                return out;
            }
            if (r.getPath() != null && r.getPath().contains("/token")) {
                out.add(r);
            }
        }
    }

    private void postOrders(String prefix, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            ObjectNode doc = fixture("order-abc12");
            ((ObjectNode) doc.path("order")).put("code", prefix + i).put("email", prefix.toLowerCase() + i + "@example.org");
            assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        }
    }

    @Test
    void oneTokenIsFetchedAndSharedByTheWorkers() throws Exception {
        startWithOAuth2(Map.of());
        postOrders("A", 12);
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 12);
        awaitQueueEmpty();
        List<RecordedRequest> tokens = tokenRequests();
        assertThat(tokens).as("one token for 72 requests of two workers").hasSize(1);
        String form = tokens.get(0).getBody().readUtf8();
        assertThat(form).contains("grant_type=client_credentials").contains("scope=crm.write+crm.read");
        assertThat(tokens.get(0).getHeader("Authorization")).startsWith("Basic ");
        assertThat(target.requests().stream().filter(r -> r.authorization() == null || !r.authorization().startsWith("Bearer ey")))
                .isEmpty();
    }

    @Test
    void aTokenThatExpiresMidRunIsReplacedAndA401RefreshesOnce() throws Exception {
        startWithOAuth2(Map.of());
        // the first token lives 4 s: fetched again after half of that
        oauth.enqueueCallback(new DefaultOAuth2TokenCallback(ISSUER, "ordersync", "JWT", List.of(), Map.of(), 4));
        postOrders("B", 3);
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 3);
        Thread.sleep(2500);
        postOrders("C", 3);
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 6);
        assertThat(tokenRequests()).as("the short-lived token was replaced before it ran out").hasSize(2);
        assertThat(refused.get()).as("no request went out with an expired token").isZero();

        // the target revokes the token in use: one 401, a new token, the whole sync once more, through
        revokeNext.set(true);
        postOrders("D", 1);
        await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 7);
        assertThat(refused.get()).isEqualTo(1);
        assertThat(tokenRequests()).hasSize(1);
        awaitQueueEmpty();
    }

    @Test
    void aClientTheServerRefusesParksAsAReadableConfigurationError() throws Exception {
        startWithOAuth2(Map.of("ordersync.redelivery.maximum", "0"));
        // the authorization server has revoked the client: its token endpoint refuses it (invalid_client)
        oauth.enqueueCallback(new no.nav.security.mock.oauth2.token.OAuth2TokenCallback() {
            @Override
            public String issuerId() {
                return ISSUER;
            }

            @Override
            public String subject(com.nimbusds.oauth2.sdk.TokenRequest request) {
                throw new no.nav.security.mock.oauth2.OAuth2Exception(
                        com.nimbusds.oauth2.sdk.OAuth2Error.INVALID_CLIENT.setDescription("client ordersync is revoked"), "client ordersync is revoked");
            }

            @Override
            public String typeHeader(com.nimbusds.oauth2.sdk.TokenRequest request) {
                return "JWT";
            }

            @Override
            public List<String> audience(com.nimbusds.oauth2.sdk.TokenRequest request) {
                return List.of();
            }

            @Override
            public Map<String, Object> addClaims(com.nimbusds.oauth2.sdk.TokenRequest request) {
                return Map.of();
            }

            @Override
            public long tokenExpiry() {
                return 3600;
            }
        });
        postOrders("E", 1);
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'config'") == 1);
        String error = (String) app.query("SELECT last_error FROM sync_queue").get(0).get("last_error");
        assertThat(error).contains("refused client 'ordersync'").contains("401 invalid_client").contains("client ordersync is revoked")
                .doesNotContain("oauth-s3cret-client-99");
        assertThat(target.objects("contacts")).isEmpty();
        assertThat(app.get("/api/providers").body()).doesNotContain("oauth-s3cret-client-99");
    }
}
