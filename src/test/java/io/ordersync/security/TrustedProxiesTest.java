package io.ordersync.security;

import io.ordersync.admin.ClientAddress;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Behind a reverse proxy every connection comes from the proxy: without {@code ordersync.admin.trusted-proxies} a few
 * wrong credentials from anyone locked every client out (the admin token too). With the proxy trusted, the client is
 * the address it names in X-Forwarded-For; what a client writes into that header itself is not believed.
 */
class TrustedProxiesTest extends AppTestSupport {

    private static final String TOKEN = "the-admin-token-0123456789";
    private final HttpClient http = HttpClient.newHttpClient();

    @Test
    void theClientIsTheRightmostAddressNoTrustedProxyWrote() {
        ClientAddress none = new ClientAddress(List.of());
        assertThat(none.of("127.0.0.1", List.of("10.0.0.1"))).as("no proxy trusted: the header is ignored").isEqualTo("127.0.0.1");
        ClientAddress one = new ClientAddress(List.of("127.0.0.1"));
        assertThat(one.of("127.0.0.1", List.of("10.0.0.1"))).isEqualTo("10.0.0.1");
        assertThat(one.of("192.0.2.7", List.of("10.0.0.1"))).as("a peer that is no trusted proxy").isEqualTo("192.0.2.7");
        assertThat(one.of("127.0.0.1", List.of("6.6.6.6, 10.0.0.1"))).as("what the client wrote left of it").isEqualTo("10.0.0.1");
        assertThat(one.of("127.0.0.1", List.of("6.6.6.6", "10.0.0.1"))).as("two header lines").isEqualTo("10.0.0.1");
        assertThat(one.of("127.0.0.1", List.of())).isEqualTo("127.0.0.1");
        ClientAddress two = new ClientAddress(List.of("127.0.0.1", "10.0.0.0/8", "fd00::/8"));
        assertThat(two.of("127.0.0.1", List.of("198.51.100.4, 10.1.2.3"))).as("through two trusted proxies").isEqualTo("198.51.100.4");
        assertThat(two.of("127.0.0.1", List.of("10.1.2.3, 10.4.5.6"))).as("all trusted: the leftmost").isEqualTo("10.1.2.3");
        assertThat(two.of("127.0.0.1", List.of("2001:db8::1, fd00::5"))).isEqualTo("2001:db8::1");
        assertThat(two.of("127.0.0.1", List.of("[2001:db8::2]"))).isEqualTo("[2001:db8::2]");
        // an entry that is no address literal (a host name: no DNS; garbage) stops the walk at the trusted hop right of it
        assertThat(two.of("127.0.0.1", List.of("198.51.100.4, localhost, 10.1.2.3"))).isEqualTo("10.1.2.3");
        assertThat(two.of("127.0.0.1", List.of("evil\r\nX-Injected: 1"))).isEqualTo("127.0.0.1");
        assertThat(two.of("127.0.0.1", List.of("1".repeat(100_000)))).isEqualTo("127.0.0.1");
        // only the last 20 entries are read
        String many = String.join(", ", java.util.Collections.nCopies(30, "10.9.9.9"));
        assertThat(two.of("127.0.0.1", List.of("198.51.100.4, " + many))).isEqualTo("10.9.9.9");
    }

    @Test
    void aSettingThatIsNoAddressStopsTheStart() {
        for (String bad : new String[]{"example.com", "10.0.0.0/33", "::1/129", "10.0.0.0/x", "10.0.0.256"}) {
            assertThatThrownBy(() -> new ClientAddress(List.of(bad))).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("ordersync.admin.trusted-proxies");
        }
    }

    @Test
    void behindATrustedProxyAGuesserLocksOnlyItself() throws Exception {
        app = start(Map.of("ordersync.admin.trusted-proxies", "127.0.0.1"));
        for (int i = 0; i < 6; i++) {
            assertThat(bearer("nope" + i, "10.0.0.1")).isIn(401, 429);
        }
        assertThat(bearer(TOKEN, "10.0.0.1")).as("the guesser's address").isEqualTo(429);
        assertThat(bearer(TOKEN, "10.0.0.2")).as("another client behind the same proxy").isEqualTo(200);
        assertThat(bearer(TOKEN, "10.0.0.9, 10.0.0.1")).as("a chain the guesser wrote itself").isEqualTo(429);
    }

    @Test
    void withoutTheSettingTheHeaderIsNotBelieved() throws Exception {
        app = start(Map.of());
        for (int i = 0; i < 6; i++) {
            assertThat(bearer("nope" + i, "10.0.0." + (i + 1))).isIn(401, 429);
        }
        assertThat(bearer(TOKEN, "10.0.0.200")).as("a made-up address does not escape the lock").isEqualTo(429);
    }

    private OrdersyncApp start(Map<String, String> extra) throws Exception {
        Map<String, String> props = new HashMap<>(Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                "ordersync.admin.token", TOKEN));
        props.putAll(extra);
        return new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
    }

    private int bearer(String token, String forwardedFor) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(app.url("/api/providers"))).header("Authorization", "Bearer " + token)
                .header("X-Forwarded-For", forwardedFor).GET().build(), HttpResponse.BodyHandlers.ofString()).statusCode();
    }
}
