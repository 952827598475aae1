package io.ordersync.security;

import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * No request parameter reaches a response header: every route (login, UI, API, intake, errors, unknown paths),
 * logged in and not, gets parameters named like dangerous response headers; none comes back, a CR/LF costs no
 * 500, and every response carries the security headers.
 */
class ResponseHeadersSecurityTest extends AppTestSupport {

    private static final Map<String, String> ATTACK = Map.of(
            "Refresh", "0;url=https://evil.example/",
            "Set-Cookie", "ordersync_session=x",
            "Access-Control-Allow-Origin", "https://evil.example",
            "Content-Security-Policy", "default-src *",
            "Strict-Transport-Security", "max-age=0",
            "Location", "https://evil.example/",
            "X-Frame-Options", "ALLOWALL",
            "WWW-Authenticate", "Basic realm=evil",
            "Retry-After", "evil",
            "Cache-Control", "public, max-age=31536000");

    private static final List<String[]> ROUTES = List.of(
            new String[]{"GET", "/login"}, new String[]{"GET", "/"}, new String[]{"GET", "/ui/"}, new String[]{"GET", "/ui/app.js"},
            new String[]{"GET", "/api/providers"}, new String[]{"GET", "/api/queue"}, new String[]{"GET", "/api/orders/democon/ABC12"},
            new String[]{"GET", "/api/order"}, new String[]{"GET", "/api/rejected"}, new String[]{"POST", "/api/events"},
            new String[]{"POST", "/api/login"}, new String[]{"POST", "/api/queue/retry"}, new String[]{"POST", "/api/preview"},
            new String[]{"GET", "/api/nope"}, new String[]{"GET", "/no/such/page"});

    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();

    @Test
    void noParameterComesBackAsAResponseHeaderOnAnyRoute() throws Exception {
        startWithCrm();
        // the login page's one inline script, as served: the policy allows it by its hash, and no other inline script
        String page = http.send(HttpRequest.newBuilder(URI.create(app.url("/login"))).build(), HttpResponse.BodyHandlers.ofString()).body();
        java.util.regex.Matcher inline = java.util.regex.Pattern.compile("(?s)<script>(.*?)</script>").matcher(page);
        assertThat(inline.find()).as("the login page's inline script").isTrue();
        String scriptSrc = "script-src 'self' 'sha256-" + java.util.Base64.getEncoder().encodeToString(java.security.MessageDigest
                .getInstance("SHA-256").digest(inline.group(1).getBytes(java.nio.charset.StandardCharsets.UTF_8))) + "';";
        StringBuilder query = new StringBuilder("?");
        ATTACK.forEach((k, v) -> query.append(enc(k)).append('=').append(enc(v)).append('&'));
        for (String auth : new String[]{null, "Bearer " + OrdersyncApp.ADMIN_TOKEN}) {
            for (String[] route : ROUTES) {
                HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(app.url(route[1] + query)))
                        .method(route[0], route[0].equals("POST") ? HttpRequest.BodyPublishers.ofString("{}") : HttpRequest.BodyPublishers.noBody());
                if (auth != null) {
                    b.header("Authorization", auth);
                }
                ATTACK.forEach((k, v) -> b.header("X-Echo-" + k, v));
                HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
                String what = route[0] + " " + route[1] + (auth == null ? " (no login)" : " (admin)") + " → " + r.statusCode();
                assertThat(r.statusCode()).as(what).isLessThan(500);
                r.headers().map().forEach((name, values) -> {
                    assertThat(name.toLowerCase()).as(what).doesNotStartWith("x-echo").isNotIn("refresh", "access-control-allow-origin",
                            "strict-transport-security");
                    for (String v : values) {
                        assertThat(v).as(what + ": " + name).doesNotContain("evil").doesNotContain("ordersync_session=x")
                                .doesNotContain("max-age=31536000").doesNotContain("default-src *");
                    }
                });
                assertThat(r.headers().firstValue("Content-Security-Policy")).as(what)
                        .hasValueSatisfying(v -> assertThat(v).contains("frame-ancestors 'none'").contains("default-src 'self'")
                                .contains(scriptSrc).contains("object-src 'none'").contains("base-uri 'none'"));
                assertThat(r.headers().firstValue("X-Content-Type-Options")).as(what).contains("nosniff");
                assertThat(r.headers().firstValue("X-Frame-Options")).as(what).contains("DENY");
                // a URL with a buyer's e-mail in it (/api/orders?q=…) goes to no other site as a Referer
                assertThat(r.headers().firstValue("Referrer-Policy")).as(what).contains("no-referrer");
            }
        }
    }

    @Test
    void aLineBreakInAParameterCostsNoErrorAndNoHeader() throws Exception {
        startWithCrm();
        for (String path : new String[]{"/login", "/api/providers", "/api/events"}) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(app.url(path + "?Set-Cookie=a%0d%0aX-Injected:%201&Location=%0d%0a")))
                    .GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(path).isLessThan(500);
            assertThat(r.headers().map().keySet()).as(path).noneMatch(h -> h.equalsIgnoreCase("X-Injected"));
        }
    }

    @Test
    void camelsOwnHeaderNamesCannotBeSetByARequest() throws Exception {
        startWithCrm();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(app.url("/login?CamelHttpResponseCode=500&Content-Type=text/plain")))
                .GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v).startsWith("text/html"));
        HttpResponse<String> redirect = http.send(HttpRequest.newBuilder(URI.create(app.url("/?Content-Type=text/html&CamelHttpResponseCode=200")))
                .GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(redirect.statusCode()).isEqualTo(302);
        assertThat(redirect.headers().firstValue("Content-Type")).isEmpty();
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
