package io.ordersync.security;

import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Guessing credentials is throttled, malformed credentials are a plain 401, the session cookie is locked down. */
class AuthSecurityTest extends AppTestSupport {

    private final HttpClient http = HttpClient.newHttpClient();

    private HttpResponse<String> get(String path, String authorization) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(app.url(path))).GET();
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void guessingIsLockedOutWithAGrowingDelayAndCounted() throws Exception {
        startWithCrm(5, "5s", Map.of("ordersync.admin.username", "admin", "ordersync.admin.password", "correct-horse-9"));
        int locked = 0;
        for (int i = 0; i < 40; i++) {
            int status = get("/api/providers", basic("admin", "guess" + i)).statusCode();
            assertThat(status).isIn(401, 429);
            if (status == 429) {
                locked++;
            }
        }
        assertThat(locked).as("after five failures further guesses are refused unchecked").isGreaterThanOrEqualTo(30);
        // the right password is refused too while the lock lasts (a guess cannot be confirmed), with Retry-After
        HttpResponse<String> right = get("/api/providers", basic("admin", "correct-horse-9"));
        assertThat(right.statusCode()).isEqualTo(429);
        assertThat(right.headers().firstValue("Retry-After")).isPresent();
        assertThat(right.body()).contains("too many failed logins");
        // the UI login is throttled as well
        HttpResponse<String> ui = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/login")))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"username\": \"admin\", \"password\": \"correct-horse-9\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(ui.statusCode()).isEqualTo(429);
        // counted in the metrics
        String metrics = http.send(HttpRequest.newBuilder(URI.create(managementUrl("/observe/metrics"))).GET().build(),
                HttpResponse.BodyHandlers.ofString()).body();
        assertThat(metrics).containsPattern("ordersync_login_failures_total(\\{[^}]*})? [1-9]");
    }

    @Test
    void malformedCredentialsAreAPlain401() throws Exception {
        startWithCrm();
        for (String bad : new String[]{"Basic !!!", "Basic ", "Basic " + "A".repeat(10_000), "Basic Og==", "Bearer ", "Digest x"}) {
            HttpResponse<String> r = get("/api/providers", bad);
            assertThat(r.statusCode()).as(bad.substring(0, Math.min(bad.length(), 20))).isIn(401, 429, 431);
            assertThat(r.body()).doesNotContain("Exception").doesNotContain("at io.");
        }
    }

    /**
     * Failed logins cannot flood the log: a client's failures are logged at the 1st, 2nd, 4th, 8th … only, never with
     * what was tried, and malformed credentials log no stack trace (API.md, SECURITY.md).
     */
    @Test
    void failedLoginsAreLoggedAtPowersOfTwoWithoutWhatWasTried() throws Exception {
        startWithCrm();
        List<String> tried = new java.util.ArrayList<>();
        io.ordersync.support.LogCapture log = io.ordersync.support.LogCapture.root();
        try (log) {
            for (int i = 1; i <= 5; i++) {
                String guess = "guess-" + i + "-" + java.util.UUID.randomUUID();
                tried.add(guess);
                assertThat(get("/api/providers", "Bearer " + guess).statusCode()).isEqualTo(401);
            }
            for (String bad : new String[]{"Basic !!!", "Basic " + "A".repeat(10_000), "Digest x"}) {
                assertThat(get("/api/providers", bad).statusCode()).isIn(401, 429, 431);
            }
        }
        List<String> failures = log.events().stream().map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                .filter(m -> m.startsWith("Failed login")).toList();
        assertThat(failures).hasSize(3);
        assertThat(failures.get(0)).endsWith(": 1 failure in a row");
        assertThat(failures.get(1)).endsWith(": 2 failures in a row");
        assertThat(failures.get(2)).endsWith(": 4 failures in a row");
        assertThat(log.events()).allSatisfy(e -> {
            assertThat(e.getThrowableProxy()).as(e.getFormattedMessage()).isNull();
            for (String guess : tried) {
                assertThat(e.getFormattedMessage()).doesNotContain(guess);
            }
        });
    }

    @Test
    void theSessionCookieIsHttpOnlyStrictAndExpires() throws Exception {
        startWithCrm();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/login")))
                .header("Content-Type", "application/json").header("X-Forwarded-Proto", "https")
                .POST(HttpRequest.BodyPublishers.ofString("{\"token\": \"" + OrdersyncApp.ADMIN_TOKEN + "\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        String cookie = r.headers().firstValue("Set-Cookie").orElseThrow();
        assertThat(cookie).contains("HttpOnly").contains("SameSite=Strict").contains("Max-Age=43200").contains("Secure");
    }

    /** {@code ordersync.admin.cookie-secure}: auto follows the request's scheme (or X-Forwarded-Proto), true and false are fixed. */
    @org.junit.jupiter.params.ParameterizedTest(name = "cookie-secure={0}, X-Forwarded-Proto={1} -> Secure {2}")
    @org.junit.jupiter.params.provider.CsvSource({"auto, , false", "auto, https, true", "auto, http, false", "true, , true",
            "false, https, false", "TRUE, , true"})
    void theCookiesSecureFlagFollowsTheSetting(String setting, String forwardedProto, boolean secure) throws Exception {
        startWithCrm(5, "5s", Map.of("ordersync.admin.cookie-secure", setting));
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(app.url("/api/login"))).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"token\": \"" + OrdersyncApp.ADMIN_TOKEN + "\"}"));
        if (forwardedProto != null) {
            b.header("X-Forwarded-Proto", forwardedProto);
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        java.util.List<String> attributes = java.util.Arrays.stream(r.headers().firstValue("Set-Cookie").orElseThrow().split(";"))
                .map(String::trim).toList();
        assertThat(attributes.contains("Secure")).isEqualTo(secure);
    }

    /** Attacks found by a review: a query parameter posing as the anti-CSRF header, a form field posing as the client address. */
    @Test
    void parametersCannotPoseAsRequestHeadersOrTheClientAddress() throws Exception {
        startWithCrm(5, "5s", Map.of("ordersync.admin.username", "admin", "ordersync.admin.password", "correct-horse-9"));
        HttpResponse<String> login = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/login")))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"username\": \"admin\", \"password\": \"correct-horse-9\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        String cookie = login.headers().firstValue("Set-Cookie").orElseThrow().split(";")[0];
        // the anti-CSRF header must be a real header, not ?X-Ordersync-Request=1
        HttpResponse<String> csrf = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/queue/retry?X-Ordersync-Request=1")))
                .header("Cookie", cookie).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"ids\": []}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(csrf.statusCode()).isEqualTo(403);
        // a login body that is not JSON (a cross-site text/plain post needs no preflight) is refused unchecked
        HttpResponse<String> plain = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/login")))
                .header("Content-Type", "text/plain")
                .POST(HttpRequest.BodyPublishers.ofString("{\"username\": \"admin\", \"password\": \"x\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(plain.statusCode()).isEqualTo(415);
        // a guess in a form, whose fields would become Camel headers, is not even checked
        HttpResponse<String> form = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/logout")))
                .header("Authorization", "Bearer guess-form").header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("CamelVertxPlatformHttpRemoteAddress=10.9.8.1&CamelHttpResponseCode=200"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(form.statusCode()).isEqualTo(415);
        // guesses that claim another client address in a query parameter (also a Camel header) are still one client
        int locked = 0;
        for (int i = 0; i < 20; i++) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/logout?CamelVertxPlatformHttpRemoteAddress=10.9.8."
                            + i + "&CamelHttpResponseCode=200")))
                    .header("Authorization", "Bearer guess-" + i).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 429) {
                locked++;
            }
        }
        assertThat(locked).isGreaterThanOrEqualTo(10);
    }

    /**
     * Found by a review: Camel turns request headers into message headers, and the operator API read some of its
     * parameters from them. A header named code chose the order that {@code POST /api/order/sync?event=democon}
     * queued (202) and that {@code GET /api/order} showed; headers named state or limit set the queue's filters.
     */
    @Test
    void requestHeadersNamedLikeParametersChooseNothing() throws Exception {
        startWithCrm();
        assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
        app.post("/api/events", "{\"type\": \"order.paid\"}"); // not a document: kept under rejected
        awaitQueueEmpty();
        long rejected = app.count("SELECT MAX(id) FROM rejected_event");
        java.util.function.BiFunction<String, String[], HttpResponse<String>> send = (methodAndPath, headers) -> {
            String[] mp = methodAndPath.split(" ", 2);
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(app.url(mp[1])))
                    .header("Authorization", "Bearer " + io.ordersync.support.OrdersyncApp.ADMIN_TOKEN)
                    .header("Content-Type", "application/json").headers(headers)
                    .method(mp[0], mp[0].equals("GET") ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString("{}"));
            try {
                return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        };
        assertThat(send.apply("POST /api/order/sync?event=democon", new String[]{"code", "ABC12"}).statusCode()).isEqualTo(400);
        assertThat(send.apply("GET /api/order?event=democon", new String[]{"code", "ABC12"}).statusCode()).isEqualTo(400);
        assertThat(send.apply("POST /api/orders/democon/NOPE/sync", new String[]{"code", "ABC12"}).statusCode()).isEqualTo(404);
        assertThat(send.apply("GET /api/orders/democon/NOPE", new String[]{"code", "ABC12"}).statusCode()).isEqualTo(404);
        assertThat(send.apply("GET /api/rejected/999999", new String[]{"id", String.valueOf(rejected)}).statusCode()).isEqualTo(404);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).as("nothing queued").isZero();
        HttpResponse<String> queue = send.apply("GET /api/queue", new String[]{"state", "bogus", "limit", "1"});
        assertThat(queue.statusCode()).isEqualTo(200);
        assertThat(queue.body()).contains("\"limit\":50");
        assertThat(send.apply("GET /api/queue/groups", new String[]{"provider", "nope"}).body())
                .isEqualTo(app.get("/api/queue/groups").body());
        assertThat(send.apply("GET /api/rejected", new String[]{"limit", "1"}).body()).contains("\"limit\":50");
        // before: a header named window chose the stats' window (an audit of API.md)
        assertThat(send.apply("GET /api/providers/crm/stats", new String[]{"window", "24h"}).body()).contains("\"window\":\"1h\"");
        assertThat(app.get("/api/providers/crm/stats?window=24h").body()).contains("\"window\":\"24h\"");
        assertThat(app.get("/api/providers/crm/stats?window=24h&window=1h").statusCode()).isEqualTo(400);
        // the query string still works, and a repeated parameter is refused
        assertThat(app.get("/api/order?event=democon&code=ABC12").statusCode()).isEqualTo(200);
        assertThat(app.get("/api/queue?state=bogus").statusCode()).isEqualTo(400);
        assertThat(app.get("/api/queue?limit=1&limit=2").statusCode()).isEqualTo(400);
        assertThat(app.get("/api/rejected?limit=1").body()).contains("\"limit\":1");
    }

    private String managementUrl(String path) {
        return app.url(path).replace(":" + URI.create(app.url("/")).getPort() + "/",
                ":" + app.context().getPropertiesComponent().resolveProperty("camel.management.port").orElseThrow() + "/");
    }
}
