package io.ordersync.security;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.ordersync.admin.UiSessions;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.OrdersyncProcess;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * UI sessions live in the database: a login on one instance is good on another on the same database, a logout on
 * either ends it on both, a restart (and a kill -9 right after the login or the logout) keeps what was answered, a
 * change of the admin credentials ends every session, and the rows give no cookie that works.
 */
class UiSessionsTest extends AppTestSupport {

    private static final String USER = "admin";
    private static final String PASSWORD = "correct-horse-9";

    private final HttpClient http = HttpClient.newHttpClient();

    @Test
    void aLoginIsGoodOnEveryInstanceAndALogoutEndsItOnAll() throws Exception {
        Map<String, String> props = withUser(crmOn(Postgres.newDatabase()), PASSWORD);
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        try (OrdersyncApp b = new OrdersyncApp(tmp.resolve("b"), mappings, props).start()) {
            List<OrdersyncApp> both = List.of(app, b);
            // sixteen logins at once on two fresh instances: both race to create the secret the cookies are signed with
            ExecutorService pool = Executors.newFixedThreadPool(16);
            List<Future<String>> logins = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                OrdersyncApp on = both.get(i % 2);
                logins.add(pool.submit((Callable<String>) () -> login(on, USER, PASSWORD)));
            }
            List<String> cookies = new ArrayList<>();
            for (Future<String> f : logins) {
                cookies.add(f.get());
            }
            pool.shutdown();
            assertThat(cookies).doesNotContainNull().doesNotHaveDuplicates();
            assertThat(app.count("SELECT COUNT(*) FROM shared_secret WHERE name = 'ui-session'")).isEqualTo(1);
            // every session, made on either instance, is good on both; reads and (with the UI's header) changes
            for (String cookie : cookies) {
                for (OrdersyncApp on : both) {
                    assertThat(withCookie(on, "GET", "/api/providers", cookie, false).statusCode()).isEqualTo(200);
                }
            }
            String cookie = cookies.get(0);
            assertThat(withCookie(b, "POST", "/api/queue/retry", cookie, true).statusCode()).isEqualTo(200);
            assertThat(withCookie(b, "POST", "/api/queue/retry", cookie, false).statusCode()).isEqualTo(403);
            // what the mapping editor's history and the logs name as the actor
            assertThat(app.query("SELECT actor FROM ui_session")).extracting(r -> r.get("ACTOR") != null ? r.get("ACTOR") : r.get("actor"))
                    .containsOnly("UI session of admin");

            // a logout on b ends the session on a, at once; the other sessions live on
            HttpResponse<String> logout = withCookie(b, "POST", "/api/logout", cookie, true);
            assertThat(logout.statusCode()).isEqualTo(200);
            assertThat(logout.headers().firstValue("Set-Cookie").orElseThrow()).startsWith("ordersync_session=;").contains("Max-Age=0");
            assertThat(withCookie(app, "GET", "/api/providers", cookie, false).statusCode()).isEqualTo(401);
            HttpResponse<String> page = withCookie(app, "GET", "/ui/", cookie, false);
            assertThat(page.statusCode()).isEqualTo(302);
            assertThat(page.headers().firstValue("Location")).hasValue("/login");
            assertThat(withCookie(app, "GET", "/api/providers", cookies.get(1), false).statusCode()).isEqualTo(200);
            assertThat(app.count("SELECT COUNT(*) FROM ui_session")).isEqualTo(15);
        }
    }

    @Test
    void whatWasAnsweredSurvivesAKillOnH2() throws Exception {
        Path db = tmp.resolve("h2");
        Map<String, String> props = withUser(new HashMap<>(), PASSWORD);
        props.put("ordersync.db.url", "jdbc:h2:file:" + db.resolve("ordersync").toAbsolutePath());
        props.put("ordersync.mappings.dir", tmp.resolve("none").toAbsolutePath().toString());
        java.nio.file.Files.createDirectories(tmp.resolve("none"));
        try (OrdersyncProcess p = new OrdersyncProcess("sessions", tmp.resolve("logs"), props).start()) {
            Function<String, HttpRequest.Builder> at = path -> HttpRequest.newBuilder(URI.create(p.url(path)));
            String kept = loginAt(at, USER, PASSWORD);
            String ended = loginAt(at, USER, PASSWORD);
            // killed right after the login's answer: the session is on disk
            p.kill();
            p.start();
            assertThat(send(at.apply("/api/providers").header("Cookie", cookieHeader(kept)).GET()).statusCode()).isEqualTo(200);
            assertThat(send(at.apply("/api/providers").header("Cookie", cookieHeader(ended)).GET()).statusCode()).isEqualTo(200);
            // killed right after the logout's answer: the session stays ended
            assertThat(send(at.apply("/api/logout").header("Cookie", cookieHeader(ended)).header("X-Ordersync-Request", "1")
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{}"))).statusCode())
                    .isEqualTo(200);
            p.kill();
            p.start();
            assertThat(send(at.apply("/api/providers").header("Cookie", cookieHeader(ended)).GET()).statusCode()).isEqualTo(401);
            assertThat(send(at.apply("/api/providers").header("Cookie", cookieHeader(kept)).GET()).statusCode()).isEqualTo(200);
        }
    }

    /**
     * New credentials end every session, and credentials set back to earlier ones (a configuration rolled back, a
     * password changed and changed back) do not bring the sessions opened with them back: the first key made with
     * other credentials than the last replaces the shared secret (SECURITY.md).
     */
    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void newCredentialsEndEverySession(String db) throws Exception {
        Map<String, String> props = crmWithUser(databaseSettings(db));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        String byPassword = login(app, USER, PASSWORD);
        String byToken = tokenLogin(app);
        app.restart();
        assertThat(withCookie(app, "GET", "/api/providers", byPassword, false).statusCode()).isEqualTo(200);
        assertThat(withCookie(app, "GET", "/api/providers", byToken, false).statusCode()).isEqualTo(200);
        String secret = secret();
        app.close();
        // the password changed: the sessions opened with the old one end, though their rows are still there
        props.put("ordersync.admin.password", "battery-staple-10");
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        assertThat(withCookie(app, "GET", "/api/providers", byPassword, false).statusCode()).isEqualTo(401);
        assertThat(withCookie(app, "GET", "/api/providers", byToken, false).statusCode()).isEqualTo(401);
        // the secret replaced and the ended sessions' rows deleted (by the start's check, which a cookie waits for)
        assertThat(secret()).isNotEqualTo(secret);
        assertThat(app.count("SELECT COUNT(*) FROM ui_session")).isZero();
        assertThat(login(app, USER, PASSWORD)).isNull();
        String byNewPassword = login(app, USER, "battery-staple-10");
        assertThat(withCookie(app, "GET", "/api/providers", byNewPassword, false).statusCode()).isEqualTo(200);
        app.restart();
        // the same credentials again: the secret is kept, and so are the sessions
        assertThat(withCookie(app, "GET", "/api/providers", byNewPassword, false).statusCode()).isEqualTo(200);
        app.close();

        // set back to the first password: neither the sessions of its first use nor those of the second come back
        props.put("ordersync.admin.password", PASSWORD);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        for (String cookie : List.of(byPassword, byToken, byNewPassword)) {
            assertThat(withCookie(app, "GET", "/api/providers", cookie, false).statusCode()).isEqualTo(401);
        }
        String again = login(app, USER, PASSWORD);
        assertThat(withCookie(app, "GET", "/api/providers", again, false).statusCode()).isEqualTo(200);
        assertThat(app.count("SELECT COUNT(*) FROM shared_secret")).isEqualTo(2);
    }

    /**
     * A password changed and changed back, the instance with the second one used only through the API (the admin
     * token): the start with the second password replaced the secret, so the first one's sessions do not come back
     * (the first form of the fingerprint checked the credentials at the first use of the key only).
     */
    @Test
    void aPasswordChangedAndChangedBackWithoutALoginBetweenRevivesNoSession() throws Exception {
        Map<String, String> props = crmWithUser(databaseSettings("h2"));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        String stolen = login(app, USER, PASSWORD);
        app.close();
        props.put("ordersync.admin.password", "battery-staple-10");
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        assertThat(app.get("/api/providers").statusCode()).isEqualTo(200);
        app.close();
        props.put("ordersync.admin.password", PASSWORD);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        assertThat(withCookie(app, "GET", "/api/providers", stolen, false).statusCode()).isEqualTo(401);
    }

    /**
     * Two instances with different credentials on one database (a change rolled out one instance at a time): the one
     * started with the new credentials replaces the secret once, the other takes the new secret up and warns, and
     * neither replaces it again, so the sessions each opens keep working on it.
     */
    @Test
    void instancesWithDifferentCredentialsDoNotReplaceTheSecretInTurn() throws Exception {
        Map<String, String> props = withUser(crmOn(Postgres.newDatabase()), PASSWORD);
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        Logger sessionsLog = (Logger) org.slf4j.LoggerFactory.getLogger(UiSessions.class);
        log.start();
        sessionsLog.addAppender(log);
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        Map<String, String> changed = new HashMap<>(props);
        changed.put("ordersync.admin.password", "battery-staple-10");
        String onA = login(app, USER, PASSWORD);
        String first = secret();
        try (OrdersyncApp b = new OrdersyncApp(tmp.resolve("b"), mappings, changed).start()) {
            // b's start replaced the secret (its check runs beside the start)
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> !secret().equals(first));
            String rotated = secret();
            String onB = login(b, USER, "battery-staple-10");
            assertThat(rotated).isNotEqualTo(first);
            assertThat(withCookie(app, "GET", "/api/providers", onA, false).statusCode()).isEqualTo(401);
            String again = login(app, USER, PASSWORD);
            for (int i = 0; i < 3; i++) {
                Thread.sleep(1100);
                assertThat(withCookie(app, "GET", "/api/providers", again, false).statusCode()).isEqualTo(200);
                assertThat(withCookie(b, "GET", "/api/providers", onB, false).statusCode()).isEqualTo(200);
                assertThat(withCookie(b, "GET", "/api/providers", again, false).statusCode()).isEqualTo(401);
                assertThat(login(app, USER, PASSWORD)).isNotNull();
                assertThat(login(b, USER, "battery-staple-10")).isNotNull();
            }
            assertThat(secret()).isEqualTo(rotated);
            assertThat(log.list.stream().map(ILoggingEvent::getFormattedMessage).filter(m -> m.contains("uses other admin credentials")))
                    .hasSize(1);
            assertThat(log.list.stream().map(ILoggingEvent::getFormattedMessage).filter(m -> m.contains("sessions' shared secret was replaced")))
                    .hasSize(1);
        } finally {
            sessionsLog.detachAppender(log);
        }
    }

    private String secret() throws Exception {
        return String.valueOf(app.query("SELECT secret FROM shared_secret WHERE name = 'ui-session'").get(0).values().iterator().next());
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void theRowsGiveNoCookieAndForgedOrBrokenCookiesAreRefused(String db) throws Exception {
        Map<String, String> props = crmWithUser(databaseSettings(db));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        String cookie = login(app, USER, PASSWORD);
        assertThat(cookie).matches("[0-9a-f]{48}\\.[0-9a-f]{64}");
        String id = cookie.substring(0, 48);
        String mac = cookie.substring(49);
        // nothing stored is a part of the cookie
        for (Map<String, Object> row : app.query("SELECT * FROM ui_session")) {
            assertThat(row.values()).allSatisfy(v -> assertThat(String.valueOf(v)).doesNotContain(id).doesNotContain(mac));
        }
        // a row written into the table by someone who can write to the database is no login
        String forgedId = "ab".repeat(24);
        try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO ui_session (id_hash, actor, created_at, expires_at) VALUES ('"
                    + UiSessions.hash(forgedId) + "', 'forger', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP + INTERVAL '1' DAY)");
        }
        String flipped = cookie.substring(0, 112) + (cookie.charAt(112) == '0' ? '1' : '0');
        for (String bad : new String[]{forgedId + "." + mac, forgedId + "." + "0".repeat(64), flipped, cookie.toUpperCase(),
                cookie + "0", cookie.substring(1), id, cookie.replace('.', '-'), "x".repeat(4000), ""}) {
            HttpResponse<String> r = withCookie(app, "GET", "/api/providers", bad, false);
            assertThat(r.statusCode()).as(bad.length() > 20 ? bad.substring(0, 20) : bad).isEqualTo(401);
            assertThat(r.body()).doesNotContain("Exception");
        }

        // a session that ran out is refused and its row removed
        String expiring = login(app, USER, PASSWORD);
        try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.executeUpdate("UPDATE ui_session SET expires_at = CURRENT_TIMESTAMP - INTERVAL '1' SECOND WHERE id_hash = '"
                    + UiSessions.hash(expiring.substring(0, 48)) + "'");
        }
        assertThat(withCookie(app, "GET", "/api/providers", expiring, false).statusCode()).isEqualTo(401);
        assertThat(app.count("SELECT COUNT(*) FROM ui_session WHERE id_hash = ?",
                UiSessions.hash(expiring.substring(0, 48)))).isZero();
        assertThat(withCookie(app, "GET", "/api/providers", cookie, false).statusCode()).isEqualTo(200);

        // a session's cookie value sent as a bearer token is checked the same way (last: bearer guesses lock the client out)
        assertThat(send(HttpRequest.newBuilder(URI.create(app.url("/api/providers"))).header("Authorization", "Bearer " + cookie)
                .GET()).statusCode()).isEqualTo(200);
        for (String bad : new String[]{forgedId + "." + mac, flipped, expiring, id}) {
            assertThat(send(HttpRequest.newBuilder(URI.create(app.url("/api/providers"))).header("Authorization", "Bearer " + bad)
                    .GET()).statusCode()).isEqualTo(401);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aSessionThatCannotBeCheckedIsA503NotALogout(String db) throws Exception {
        Map<String, String> props = crmWithUser(databaseSettings(db));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        String cookie = login(app, USER, PASSWORD);
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        Logger root = (Logger) org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        log.start();
        root.addAppender(log);
        try {
            // the table cannot be read (as when the database fails): the session may well be good, so "try again"
            try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
                s.execute("ALTER TABLE ui_session RENAME TO ui_session_away");
            }
            HttpResponse<String> r = withCookie(app, "GET", "/api/providers", cookie, false);
            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(r.headers().firstValue("Retry-After")).hasValue("5");
            assertThat(r.body()).contains("could not be checked").doesNotContain("Exception").doesNotContain("ui_session");
            HttpResponse<String> in = http.send(HttpRequest.newBuilder(URI.create(app.url("/api/login")))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"username\": \"admin\", \"password\": \"" + PASSWORD + "\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(in.statusCode()).isEqualTo(503);
            assertThat(in.headers().firstValue("Set-Cookie")).isEmpty();
            // nor is a logout: the session could not be deleted, so the cookie is kept (not cleared while the session lives)
            HttpResponse<String> out = withCookie(app, "POST", "/api/logout", cookie, true);
            assertThat(out.statusCode()).isEqualTo(503);
            assertThat(out.headers().firstValue("Set-Cookie")).isEmpty();
            assertThat(out.body()).doesNotContain("Exception").doesNotContain("ui_session");
            // the admin token still works: it needs no session
            assertThat(app.get("/api/providers").statusCode()).isEqualTo(200);
            try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
                s.execute("ALTER TABLE ui_session_away RENAME TO ui_session");
            }
            assertThat(withCookie(app, "GET", "/api/providers", cookie, false).statusCode()).isEqualTo(200);
        } finally {
            root.detachAppender(log);
        }
        assertThat(log.list).anySatisfy(e -> assertThat(e.getFormattedMessage()).contains("could not be checked"));
        assertThat(log.list).allSatisfy(e -> assertThat(e.getFormattedMessage()).doesNotContain(cookie.substring(0, 48))
                .doesNotContain(cookie.substring(49)).doesNotContain(PASSWORD));
    }

    @Test
    void theSharedSecretDeletedOrMalformedIsWrittenBackOrReplacedAndTheInstancesAgreeAtOnce() throws Exception {
        Map<String, String> props = withUser(crmOn(Postgres.newDatabase()), PASSWORD);
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        Logger sessionsLog = (Logger) org.slf4j.LoggerFactory.getLogger(UiSessions.class);
        log.start();
        sessionsLog.addAppender(log);
        try (OrdersyncApp b = new OrdersyncApp(tmp.resolve("b"), mappings, props).start()) {
            String onA = login(app, USER, PASSWORD);
            String onB = login(b, USER, PASSWORD);
            String secret = String.valueOf(app.query("SELECT secret FROM shared_secret WHERE name = 'ui-session'").get(0).values().iterator().next());
            // deleted while both run (a restore, a failover, a mistaken "rotation"), and b restarted at once: b's first
            // login reads the secret anew and writes it back as it was (b knew it); every session lives on, on both
            try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
                s.executeUpdate("DELETE FROM shared_secret");
            }
            assertThat(withCookie(app, "GET", "/api/providers", onA, false).statusCode()).isEqualTo(200);
            String again = login(app, USER, PASSWORD);
            b.restart();
            String afterRestart = login(b, USER, PASSWORD);
            for (OrdersyncApp on : List.of(app, b)) {
                for (String cookie : List.of(onA, onB, again, afterRestart)) {
                    assertThat(withCookie(on, "GET", "/api/providers", cookie, false).statusCode()).isEqualTo(200);
                }
            }
            assertThat(app.query("SELECT secret FROM shared_secret WHERE name = 'ui-session'")).hasSize(1)
                    .allSatisfy(r -> assertThat(r.values()).containsExactly(secret));
            assertThat(log.list).anySatisfy(e -> assertThat(e.getFormattedMessage()).contains("was deleted from table shared_secret: written back"));

            // deleted, and b restarted before a read it again: b writes a new one; a takes it up at the first cookie
            // whose MAC does not hold with the old one (not only at its check every 10 s), so new sessions of either
            // instance are good on both at once
            try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
                s.executeUpdate("DELETE FROM shared_secret");
            }
            b.restart();
            String newOnB = login(b, USER, PASSWORD);
            Thread.sleep(1100);
            assertThat(withCookie(app, "GET", "/api/providers", newOnB, false).statusCode()).isEqualTo(200);
            String newOnA = login(app, USER, PASSWORD);
            assertThat(withCookie(b, "GET", "/api/providers", newOnA, false).statusCode()).isEqualTo(200);
            assertThat(withCookie(app, "GET", "/api/providers", onA, false).statusCode()).isEqualTo(401);
            String written = String.valueOf(app.query("SELECT secret FROM shared_secret WHERE name = 'ui-session'").get(0).values().iterator().next());
            assertThat(written).matches("[0-9a-f]{64}").isNotEqualTo(secret);

            // malformed, and b restarted: b replaces it (an error in the log); a's next login takes the new one up
            try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE shared_secret SET secret = 'zz'");
            }
            b.restart();
            String fixedOnB = login(b, USER, PASSWORD);
            assertThat(log.list).anySatisfy(e -> assertThat(e.getFormattedMessage()).contains("is not 64 hexadecimal digits: replaced"));
            String fixedOnA = login(app, USER, PASSWORD);
            for (OrdersyncApp on : List.of(app, b)) {
                assertThat(withCookie(on, "GET", "/api/providers", fixedOnA, false).statusCode()).isEqualTo(200);
                assertThat(withCookie(on, "GET", "/api/providers", fixedOnB, false).statusCode()).isEqualTo(200);
                assertThat(withCookie(on, "GET", "/api/providers", newOnA, false).statusCode()).isEqualTo(401);
            }
            assertThat(String.valueOf(app.query("SELECT secret FROM shared_secret WHERE name = 'ui-session'").get(0).values().iterator().next()))
                    .matches("[0-9a-f]{64}").isNotEqualTo(written);
        } finally {
            sessionsLog.detachAppender(log);
        }
    }

    /** The key is PBKDF2 of the credentials with the shared secret: a database copy and a cookie cost a guesser that per guess. */
    @Test
    void theKeyIsPbkdf2OfTheCredentialsSaltedWithTheSharedSecret() throws Exception {
        Map<String, String> props = crmWithUser(new HashMap<>());
        props.put("ordersync.admin.token", OrdersyncApp.DEFAULT);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        String cookie = login(app, USER, PASSWORD);
        String secret = String.valueOf(app.query("SELECT secret FROM shared_secret WHERE name = 'ui-session'").get(0).values().iterator().next());
        // the construction the documentation gives (API.md, "Session"): an unset token is empty
        String material = "ordersync ui session v1\0" + "0:" + "\0" + USER.length() + ":" + USER + "\0" + PASSWORD.length() + ":" + PASSWORD;
        byte[] key = javax.crypto.SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(new javax.crypto.spec.PBEKeySpec(
                material.toCharArray(), java.util.HexFormat.of().parseHex(secret), 600_000, 256)).getEncoded();
        javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
        mac.init(new javax.crypto.spec.SecretKeySpec(key, "HmacSHA256"));
        assertThat(cookie.substring(49)).isEqualTo(java.util.HexFormat.of().formatHex(mac.doFinal(cookie.substring(0, 48).getBytes())));
        // a single HMAC of the credentials (the first form, which let a guesser try millions a second) does not give it
        mac.init(new javax.crypto.spec.SecretKeySpec(java.util.HexFormat.of().parseHex(secret), "HmacSHA256"));
        byte[] fast = mac.doFinal(material.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        mac.init(new javax.crypto.spec.SecretKeySpec(fast, "HmacSHA256"));
        assertThat(cookie.substring(49)).isNotEqualTo(java.util.HexFormat.of().formatHex(mac.doFinal(cookie.substring(0, 48).getBytes())));
    }

    @Test
    void aLogoutEndsABearerSessionAndAPlantedCookieShutsNoOneOut() throws Exception {
        Map<String, String> props = crmWithUser(new HashMap<>());
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        String cookie = login(app, USER, PASSWORD);
        // a cookie planted before the real one (another path, a sibling domain): the real one still counts
        HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create(app.url("/api/providers")))
                .header("Cookie", "ordersync_session=" + "ab".repeat(24) + "." + "0".repeat(64) + "; ordersync_session=" + cookie).GET());
        assertThat(r.statusCode()).isEqualTo(200);
        // a session used as a bearer token is ended by a logout with it
        String bearer = login(app, USER, PASSWORD);
        HttpRequest.Builder providers = HttpRequest.newBuilder(URI.create(app.url("/api/providers"))).header("Authorization", "Bearer " + bearer);
        assertThat(send(providers.GET()).statusCode()).isEqualTo(200);
        assertThat(send(HttpRequest.newBuilder(URI.create(app.url("/api/logout"))).header("Authorization", "Bearer " + bearer)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{}"))).statusCode()).isEqualTo(200);
        assertThat(send(HttpRequest.newBuilder(URI.create(app.url("/api/providers"))).header("Authorization", "Bearer " + bearer).GET())
                .statusCode()).isEqualTo(401);
        assertThat(withCookie(app, "GET", "/api/providers", cookie, false).statusCode()).isEqualTo(200);

        // a password typed into the user name field does not reach the log; the admin's name does
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        Logger authLog = (Logger) org.slf4j.LoggerFactory.getLogger(io.ordersync.admin.AdminAuth.class);
        log.start();
        authLog.addAppender(log);
        try {
            // this client's 2nd, 3rd and 4th failure (the bearer above was its 1st): the 2nd and the 4th are logged
            assertThat(login(app, PASSWORD, "x")).isNull();
            assertThat(login(app, PASSWORD, "y")).isNull();
            assertThat(login(app, USER, "wrong")).isNull();
        } finally {
            authLog.detachAppender(log);
        }
        assertThat(log.list).extracting(ILoggingEvent::getFormattedMessage)
                .anySatisfy(m -> assertThat(m).contains("as an unknown user name"))
                .anySatisfy(m -> assertThat(m).contains("as user 'admin'"))
                .allSatisfy(m -> assertThat(m).doesNotContain(PASSWORD));
    }

    /** These database settings, the admin user, and the test CRM's file, target and token. */
    private Map<String, String> crmWithUser(Map<String, String> database) throws Exception {
        Map<String, String> props = withUser(database, PASSWORD);
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
        props.put("test.crm.url", target.url());
        props.put("test.crm.token", "s3cret");
        return props;
    }

    private static Map<String, String> withUser(Map<String, String> props, String password) {
        props.put("ordersync.admin.username", USER);
        props.put("ordersync.admin.password", password);
        return props;
    }

    private static Map<String, String> withUser(java.util.Properties db, String password) {
        Map<String, String> props = new HashMap<>();
        db.forEach((k, v) -> props.put((String) k, (String) v));
        return withUser(props, password);
    }

    private static String cookieHeader(String value) {
        return "theme=dark; ordersync_session=" + value + "; other=1";
    }

    private HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> withCookie(OrdersyncApp on, String method, String path, String cookie, boolean uiHeader) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(on.url(path))).header("Cookie", cookieHeader(cookie));
        if (uiHeader) {
            b.header("X-Ordersync-Request", "1");
        }
        if (method.equals("POST")) {
            b.header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                    path.endsWith("/retry") ? "{\"ids\": []}" : "{}"));
        } else {
            b.GET();
        }
        return send(b);
    }

    private String login(OrdersyncApp on, String user, String password) throws Exception {
        return loginAt(path -> HttpRequest.newBuilder(URI.create(on.url(path))), user, password);
    }

    private String tokenLogin(OrdersyncApp on) throws Exception {
        HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create(on.url("/api/login"))).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"token\": \"" + OrdersyncApp.ADMIN_TOKEN + "\"}")));
        assertThat(r.statusCode()).isEqualTo(200);
        return cookieOf(r);
    }

    /** The cookie value of a login, or null when it was refused. */
    private String loginAt(Function<String, HttpRequest.Builder> at, String user, String password) throws Exception {
        HttpResponse<String> r = send(at.apply("/api/login").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"username\": \"" + user + "\", \"password\": \"" + password + "\"}")));
        if (r.statusCode() == 401) {
            return null;
        }
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return cookieOf(r);
    }

    private static String cookieOf(HttpResponse<String> r) {
        String set = r.headers().firstValue("Set-Cookie").orElseThrow();
        assertThat(set).startsWith("ordersync_session=");
        return set.substring("ordersync_session=".length(), set.indexOf(';'));
    }
}
