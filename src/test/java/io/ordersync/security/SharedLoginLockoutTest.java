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
        // a password typed into the user name field: counted for the client (in the table from its third failure), the
        // name is not in the table at all
        for (int i = 0; i < 3; i++) {
            assertThat(get(app, basic("my-Secret-Passw0rd", "x")).statusCode()).isEqualTo(401);
            assertThat(app.count("SELECT COUNT(*) FROM login_failure")).isEqualTo(i < 2 ? 0 : 1);
        }
        assertThat(app.query("SELECT key_hash, failures FROM login_failure")).extracting(r -> r.get("key_hash") + " " + r.get("failures"))
                .containsExactly(sha256("client:127.0.0.1") + " 3");
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
        // twelve failures (a lock of 128 s), so that a restart slowed down by a loaded machine still ends inside the
        // lock (the 4 s of seven bet on the machine's speed)
        try (var c = app.dataSource().getConnection(); var s = c.createStatement()) {
            assertThat(s.executeUpdate("UPDATE login_failure SET failures = 12")).isEqualTo(2);
        }
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

    /**
     * A spray of addresses that each fail once or twice costs the database nothing (before: a row and a transaction per
     * request); the admin user's failures are in the table from the first.
     */
    @Test
    void aSprayOfAddressesWritesNothing() throws Exception {
        app = new OrdersyncApp(tmp.resolve("data"), mappings, credentials(new HashMap<>(Map.of("test.crm.url", target.url(),
                "test.crm.token", "s3cret")))).start();
        int port = URI.create(app.url("/")).getPort();
        for (int i = 0; i < 300; i++) {
            String from = "127.0." + (2 + i / 250) + "." + (1 + i % 250);
            for (int twice = 0; twice < 2; twice++) {
                try (java.net.Socket s = new java.net.Socket()) {
                    s.bind(new java.net.InetSocketAddress(from, 0));
                    s.connect(new java.net.InetSocketAddress("127.0.0.1", port));
                    s.getOutputStream().write(("GET /api/providers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                            + "Authorization: Bearer nope\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                    assertThat(new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII)).endsWith("401");
                }
            }
        }
        assertThat(app.count("SELECT COUNT(*) FROM login_failure")).as("rows after 600 failures from 300 addresses").isZero();
        assertThat(status(app, "guess")).isEqualTo(401);
        assertThat(app.query("SELECT key_hash FROM login_failure")).extracting(r -> r.get("key_hash")).containsExactly(sha256("user:" + USER));
    }

    /** The intake token's holder cannot reset the admin's count between guesses; nor can a user name with "local:". */
    @Test
    void theIntakeTokenAndALocalPrefixDoNotResetOrDodgeTheCount() throws Exception {
        Map<String, String> props = credentials(new HashMap<>(Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret")));
        props.put("ordersync.intake.token", "intake-token-0123456789");
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        for (int i = 0; i < 4; i++) {
            assertThat(status(app, "guess" + i)).isEqualTo(401);
            assertThat(http.send(HttpRequest.newBuilder(URI.create(app.url("/api/events")))
                    .header("Authorization", "Bearer intake-token-0123456789").header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(fixture("order-xyz34").toString())).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(202);
        }
        assertThat(get(app, basic("local:" + USER, PASSWORD)).statusCode()).isEqualTo(401);
        assertThat(status(app, PASSWORD)).isEqualTo(429);
    }

    /**
     * PostgreSQL gone: the first failed login finds out (the connection timeout), the ones after it do not wait for the
     * database, and the instance still locks by its own count.
     */
    @Test
    void aDatabaseOutageCostsOneLoginItsTimeoutNotEvery() throws Exception {
        io.zonky.test.db.postgres.embedded.EmbeddedPostgres pg = io.zonky.test.db.postgres.embedded.EmbeddedPostgres.builder().start();
        app = new OrdersyncApp(tmp.resolve("data"), mappings, credentials(crmOn(Postgres.newDatabase(pg, "outage")))).start();
        assertThat(status(app, PASSWORD)).isEqualTo(200);
        pg.close();
        assertThat(status(app, "guess0")).isEqualTo(401);
        long slowest = 0;
        int locked = 0;
        for (int i = 1; i < 8; i++) {
            long t = System.nanoTime();
            int status = status(app, "guess" + i);
            slowest = Math.max(slowest, (System.nanoTime() - t) / 1_000_000);
            locked += status == 429 ? 1 : 0;
        }
        assertThat(slowest).as("ms for a failed login while the database is known to be down").isLessThan(1000);
        assertThat(locked).as("guesses refused by this instance's own count").isGreaterThanOrEqualTo(2);
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
