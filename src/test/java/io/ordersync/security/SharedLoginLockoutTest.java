package io.ordersync.security;

import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The instances on one database count failed logins together (table {@code login_failure}): before, each counted its
 * own, so behind a load balancer a guesser had as many tries as there were instances. On the default H2 the count
 * outlasts a restart. Only hashes of the client's address and of the admin's user name reach the table.
 */
class SharedLoginLockoutTest extends AppTestSupport {

    private static final String USER = "admin";
    private static final String PASSWORD = "correct-horse-9";
    private final HttpClient http = HttpClient.newHttpClient();

    @Test
    void guessesOnTwoInstancesAreCountedTogether() throws Exception {
        Map<String, String> props = credentials(crmOn(Postgres.newDatabase()));
        app = new OrdersyncApp(tmp.resolve("a"), mappings, withId(props, "a")).start();
        try (OrdersyncApp b = new OrdersyncApp(tmp.resolve("b"), mappings, withId(props, "b")).start()) {
            // before any failure: the right password works on both
            assertThat(status(app, PASSWORD)).isEqualTo(200);
            assertThat(status(b, PASSWORD)).isEqualTo(200);
            // four guesses on a, under the five free ones; the fifth, on b, locks b (for a second): b counted one itself
            for (int i = 0; i < 4; i++) {
                assertThat(status(app, "guess-a" + i)).isEqualTo(401);
            }
            assertThat(status(b, "guess-b0")).isEqualTo(401);
            HttpResponse<String> right = get(b, basic(USER, PASSWORD));
            assertThat(right.statusCode()).as("b after five failures on both together").isEqualTo(429);
            assertThat(right.headers().firstValue("Retry-After")).isPresent();
            // more guesses on b, each after the last lock (1, 2, 4 s): the lock grows to 8 s
            for (long wait : new long[]{1100, 2100, 4100}) {
                Thread.sleep(wait);
                assertThat(status(b, "guess-b" + wait)).isEqualTo(401);
            }
            // a, which counted four, learns within a second that the count is eight: the right password is refused
            Thread.sleep(1100);
            assertThat(status(app, PASSWORD)).as("a after guesses counted by b").isEqualTo(429);
            assertThat(status(b, PASSWORD)).isEqualTo(429);
            assertThat(app.query("SELECT failures FROM login_failure WHERE key_hash = ?", sha256("user:" + USER)))
                    .extracting(r -> ((Number) r.get("failures")).intValue()).containsExactly(8);
        }
    }

    @Test
    void onTheDefaultH2TheCountOutlastsARestartAndHoldsNoNameOrAddress() throws Exception {
        app = new OrdersyncApp(tmp.resolve("data"), mappings, credentials(new HashMap<>(Map.of("test.crm.url", target.url(),
                "test.crm.token", "s3cret")))).start();
        // a password typed into the user name field: counted for the client, the name is not in the table at all
        assertThat(get(app, basic("my-Secret-Passw0rd", "x")).statusCode()).isEqualTo(401);
        assertThat(app.query("SELECT key_hash FROM login_failure")).extracting(r -> r.get("key_hash"))
                .containsExactly(sha256("client:127.0.0.1"));
        // a success clears the count in the table
        assertThat(status(app, PASSWORD)).isEqualTo(200);
        assertThat(app.count("SELECT COUNT(*) FROM login_failure")).isZero();
        for (int i = 0; i < 5; i++) {
            assertThat(status(app, "guess" + i)).isEqualTo(401);
        }
        // two more, each after the last lock (1 s, 2 s): the lock is 4 s now
        for (long wait : new long[]{1100, 2100}) {
            Thread.sleep(wait);
            assertThat(status(app, "guess" + wait)).isEqualTo(401);
        }
        List<Map<String, Object>> rows = app.query("SELECT key_hash, failures FROM login_failure ORDER BY key_hash");
        assertThat(rows).extracting(r -> r.get("key_hash")).containsExactlyInAnyOrder(sha256("client:127.0.0.1"), sha256("user:" + USER));
        assertThat(rows).extracting(r -> ((Number) r.get("failures")).intValue()).containsOnly(7);
        assertThat(rows.toString()).doesNotContain("127.0.0.1").doesNotContain("my-Secret").doesNotContain(USER + "\"");
        app.restart();
        assertThat(status(app, PASSWORD)).as("the right password after the restart, still locked").isEqualTo(429);
    }

    @Test
    void aTableThatCannotBeWrittenLeavesTheCountToTheInstance() throws Exception {
        app = new OrdersyncApp(tmp.resolve("data"), mappings, credentials(new HashMap<>(Map.of("test.crm.url", target.url(),
                "test.crm.token", "s3cret")))).start();
        try (var c = app.dataSource().getConnection(); var s = c.createStatement()) {
            s.execute("ALTER TABLE login_failure RENAME TO login_failure_away");
        }
        for (int i = 0; i < 6; i++) {
            assertThat(status(app, "guess" + i)).isIn(401, 429);
        }
        assertThat(status(app, PASSWORD)).as("locked by this instance's own count").isEqualTo(429);
        try (var c = app.dataSource().getConnection(); var s = c.createStatement()) {
            s.execute("ALTER TABLE login_failure_away RENAME TO login_failure");
        }
    }

    @Test
    void aSuccessClearsTheCountOfAllInstances() throws Exception {
        Map<String, String> props = credentials(crmOn(Postgres.newDatabase()));
        app = new OrdersyncApp(tmp.resolve("a"), mappings, withId(props, "a")).start();
        try (OrdersyncApp b = new OrdersyncApp(tmp.resolve("b"), mappings, withId(props, "b")).start()) {
            for (int i = 0; i < 4; i++) {
                assertThat(status(app, "guess" + i)).isEqualTo(401);
            }
            Thread.sleep(1100);
            // b learns the four (at its next login attempt) and its success clears them for both
            assertThat(status(b, PASSWORD)).isEqualTo(200);
            assertThat(app.count("SELECT COUNT(*) FROM login_failure")).isZero();
            // so a's next guess is the first again, not the fifth: no lock
            assertThat(status(app, "guess4")).isEqualTo(401);
            assertThat(status(app, PASSWORD)).isEqualTo(200);
        }
    }

    private int status(OrdersyncApp on, String password) throws Exception {
        return get(on, basic(USER, password)).statusCode();
    }

    private HttpResponse<String> get(OrdersyncApp on, String authorization) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(on.url("/api/providers"))).header("Authorization", authorization)
                .GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    private static String sha256(String s) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    }

    private static Map<String, String> credentials(Map<String, String> props) {
        props.put("ordersync.admin.username", USER);
        props.put("ordersync.admin.password", PASSWORD);
        return props;
    }

    private static Map<String, String> withId(Map<String, String> props, String id) {
        Map<String, String> out = new HashMap<>(props);
        out.put("ordersync.instance-id", id);
        return out;
    }
}
