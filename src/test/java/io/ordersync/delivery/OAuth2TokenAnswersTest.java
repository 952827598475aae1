package io.ordersync.delivery;

import com.sun.net.httpserver.HttpServer;
import io.ordersync.mapping.MappingConfigException;
import io.ordersync.mapping.Provider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What each answer of a token endpoint (a real HTTP server on loopback) makes of the fetch: the client refused (400,
 * 401, 403) is a configuration error that says why; an endpoint that is down (5xx, another status, an answer too large
 * to be a token) is recoverable; an answer without a token is a configuration error. OAuth2Test has the whole run
 * against mock-oauth2-server.
 */
class OAuth2TokenAnswersTest {

    private static final String SECRET = "client-s3cret-77";
    private HttpServer server;
    private final AtomicReference<Integer> status = new AtomicReference<>(200);
    private final AtomicReference<byte[]> body = new AtomicReference<>(new byte[0]);
    private final AtomicInteger requests = new AtomicInteger();

    @BeforeEach
    void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/token", ex -> {
            requests.incrementAndGet();
            ex.getRequestBody().readAllBytes();
            byte[] b = body.get();
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.sendResponseHeaders(status.get(), b.length == 0 ? -1 : b.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(b);
            } catch (java.io.IOException closedByTheClient) {
                // the client stopped reading a large answer
            }
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private Provider.OAuth2Spec spec() {
        return new Provider.OAuth2Spec("http://127.0.0.1:" + server.getAddress().getPort() + "/token", "ordersync", SECRET, "crm", false);
    }

    private void answer(int code, String text) {
        status.set(code);
        body.set(text.getBytes(StandardCharsets.UTF_8));
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource(delimiter = '|', textBlock = """
            400 | {"error": "invalid_scope", "error_description": "scope crm is unknown"} | config      | refused client 'ordersync' (400 invalid_scope: scope crm is unknown); check target.auth.client_id, client_secret and scope
            401 | {"error": "invalid_client"}                                          | config      | refused client 'ordersync' (401 invalid_client); check
            403 | <html>Forbidden</html>                                               | config      | refused client 'ordersync' (403); check
            500 | {"error": "server_error"}                                            | recoverable | answered 500
            503 | <html>down for maintenance</html>                                    | recoverable | answered 503
            302 | ''                                                                   | recoverable | answered 302
            200 | {"token_type": "bearer"}                                             | config      | answered without an access_token
            200 | <html>a login page</html>                                            | config      | answered without an access_token
            """)
    void eachAnswerOfTheTokenEndpointIsClassified(int code, String text, String kind, String message) {
        answer(code, text);
        OAuth2Tokens tokens = new OAuth2Tokens(Clock.systemUTC());
        assertThatThrownBy(() -> tokens.token(spec(), Duration.ofSeconds(5)))
                .isInstanceOf(kind.equals("config") ? MappingConfigException.class : RecoverableDeliveryException.class)
                .hasMessageContaining(message)
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain(SECRET));
        assertThat(tokens.current()).isEmpty();
    }

    @Test
    void aTokenIsFetchedOnceAndKeptUntilShortlyBeforeItExpires() {
        answer(200, "{\"access_token\": \"tok-1\", \"token_type\": \"bearer\", \"expires_in\": 3600}");
        OAuth2Tokens tokens = new OAuth2Tokens(Clock.systemUTC());
        assertThat(tokens.token(spec(), Duration.ofSeconds(5))).isEqualTo("tok-1");
        assertThat(tokens.token(spec(), Duration.ofSeconds(5))).isEqualTo("tok-1");
        assertThat(requests.get()).isEqualTo(1);
        assertThat(tokens.current()).containsExactly("tok-1");
    }

    /** A token URL that answers a large file: read up to 1 MiB, then dropped; recoverable, and the next fetch works. */
    @Test
    void anAnswerTooLargeToBeATokenIsNotReadWhole() {
        status.set(200);
        byte[] large = new byte[OAuth2Tokens.MAX_ANSWER_BYTES + 1];
        java.util.Arrays.fill(large, (byte) 'x');
        body.set(large);
        OAuth2Tokens tokens = new OAuth2Tokens(Clock.systemUTC());
        assertThatThrownBy(() -> tokens.token(spec(), Duration.ofSeconds(10)))
                .isInstanceOf(RecoverableDeliveryException.class)
                .hasMessageEndingWith(": an answer of more than 1048576 bytes, not read");
        answer(200, "{\"access_token\": \"tok-2\", \"expires_in\": 3600}");
        assertThat(tokens.token(spec(), Duration.ofSeconds(5))).isEqualTo("tok-2");
    }

    /**
     * An endpoint that echoes the request: the secret, as sent in the form, URL-encoded, or in the Basic credentials,
     * does not reach the error, also where the cut to 200 characters would have left a part of it (a review).
     */
    @Test
    void aRefusalThatEchoesTheSecretDoesNotCarryIt() {
        String secret = "s3cret/with+chars=";
        Provider.OAuth2Spec spec = new Provider.OAuth2Spec("http://127.0.0.1:" + server.getAddress().getPort() + "/token",
                "ordersync", secret, null, false);
        String basic = java.util.Base64.getEncoder().encodeToString(("ordersync:" + java.net.URLEncoder.encode(secret,
                StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
        answer(401, "{\"error\": \"invalid_client " + secret + "\", \"error_description\": \"" + "x".repeat(190) + secret
                + " form client_secret=" + java.net.URLEncoder.encode(secret, StandardCharsets.UTF_8) + " header Basic " + basic + "\"}");
        OAuth2Tokens tokens = new OAuth2Tokens(Clock.systemUTC());
        assertThatThrownBy(() -> tokens.token(spec, Duration.ofSeconds(5)))
                .isInstanceOf(MappingConfigException.class)
                .satisfies(e -> assertThat(e.getMessage()).contains("(401 invalid_client [redacted]: " + "x".repeat(190) + "[redacted]")
                        .doesNotContain("s3cret").doesNotContain(basic.substring(0, 12)));
    }

    /** The endpoint's words go into stored errors and logs: one line, at most 200 characters each. */
    @Test
    void aRefusalsWordsAreOneShortLine() {
        String forged = "bad\n2026-12-07T10:00:00Z ERROR [main] forged line\r\u001b[31m\u0085\u2028\u202e";
        answer(400, "{\"error\": \"" + "e".repeat(5000) + "\", \"error_description\": \""
                + forged.replace("\n", "\\n").replace("\r", "\\r").replace("\u001b", "\\u001b").replace("\u0085", "\\u0085")
                .replace("\u2028", "\\u2028").replace("\u202e", "\\u202e") + "\"}");
        OAuth2Tokens tokens = new OAuth2Tokens(Clock.systemUTC());
        assertThatThrownBy(() -> tokens.token(spec(), Duration.ofSeconds(5)))
                .isInstanceOf(MappingConfigException.class)
                .satisfies(e -> assertThat(e.getMessage())
                        .doesNotContain("\n").doesNotContain("\r").doesNotContain("\u001b").doesNotContain("\u0085")
                        .doesNotContain("\u2028").doesNotContain("\u202e")
                        .contains("(400 " + "e".repeat(200) + "…: bad 2026-12-07T10:00:00Z ERROR [main] forged line")
                        .doesNotContain("e".repeat(201)));
    }
}
