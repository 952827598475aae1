package io.ordersync.admin;

import org.apache.camel.Exchange;
import org.apache.camel.Processor;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;

/**
 * Protects the UI and the REST API: a bearer admin token, HTTP basic with the admin user, or the session
 * cookie of a UI login. Runs first in every API and UI route (routeConfiguration {@code admin-auth}).
 * Cookie-authenticated requests that change state must carry {@code X-Ordersync-Request: 1}, which a
 * cross-site form cannot send. Without configured credentials every request is refused with a message
 * that says how to configure them.
 */
public final class AdminAuth implements Processor {

    /** Exchange property: who made the request (for records such as the mapping editor's history). */
    public static final String ACTOR = "ordersync.actor";

    /** Name of the UI session cookie. */
    public static final String COOKIE = "ordersync_session";
    static final Duration SESSION_TTL = UiSessions.TTL;

    private final String token;
    private final String username;
    private final String password;
    private final String intakeToken;
    /** The UI sessions, in the database: every instance on it knows them. */
    private final UiSessions sessions;

    /**
     * {@code failureMeter}: counts every failed login (the ordersync_login_failures_total meter); {@code sessions}: the
     * UI sessions, made with the same credentials; {@code failures}: where the instances count failed logins together
     * (the database), or null to count in this process only.
     */
    public AdminAuth(String token, String username, String password, String intakeToken, Runnable failureMeter,
                     UiSessions sessions, javax.sql.DataSource failures) {
        this.failureMeter = failureMeter;
        this.throttle = new LoginThrottle(failures == null ? null : new LoginFailureTable(failures));
        this.sessions = sessions;
        this.token = blankToNull(token);
        this.username = blankToNull(username);
        this.password = blankToNull(password);
        this.intakeToken = blankToNull(intakeToken);
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    public boolean configured() {
        return token != null || (username != null && password != null);
    }

    @Override
    public void process(Exchange exchange) {
        try {
            check(exchange);
        } catch (UiSessions.Unavailable e) {
            // the session may well be good: not a 401 that sends the user to the login, but "try again"
            LOG.warn("A UI session could not be checked: {}", e.getMessage());
            exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, 503);
            exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "application/json");
            exchange.getMessage().setHeader("Retry-After", "5");
            exchange.getMessage().setBody("{\"error\":\"the session could not be checked (database unavailable); try again\"}");
            exchange.setRouteStop(true);
        }
    }

    private void check(Exchange exchange) {
        String path = exchange.getIn().getHeader(Exchange.HTTP_PATH, String.class);
        if (path == null) {
            path = exchange.getIn().getHeader(Exchange.HTTP_URI, String.class);
        }
        String method = exchange.getIn().getHeader(Exchange.HTTP_METHOD, String.class);
        if (path != null && (path.equals("/login") || path.startsWith("/api/login"))) {
            return;
        }
        // credentials and the anti-CSRF header are read from the request's own headers: platform-http also puts
        // query and form fields into the message headers, and ?X-Ordersync-Request=1 must not count
        String auth = requestHeader(exchange, "Authorization");
        boolean ok = false;
        if (auth != null && (auth.startsWith("Bearer ") || auth.startsWith("Basic "))) {
            String client = clientOf(exchange);
            String user = auth.startsWith("Basic ") ? basicUser(auth) : null;
            Instant now = Instant.now();
            Duration locked = throttle.locked(now, client, userKey(user));
            if (locked != null) {
                tooMany(exchange, locked);
                return;
            }
            if (auth.startsWith("Bearer ")) {
                String t = auth.substring(7).trim();
                boolean admin = equal(t, token);
                boolean intake = !admin && path != null && path.equals("/api/events") && equal(t, intakeToken);
                String session = admin || intake ? null : sessions.actor(t);
                ok = admin || intake || session != null;
                exchange.setProperty(ACTOR, admin ? "admin token" : session != null ? session : "intake token");
            } else {
                String[] pair = basicPair(auth);
                ok = pair != null && equal(pair[0], username) && equal(pair[1], password);
                exchange.setProperty(ACTOR, "user " + username);
            }
            if (ok) {
                // only an admin credential clears the count: the intake token's holder must not reset it between guesses
                if (!(auth.startsWith("Bearer ") && equal(auth.substring(7).trim(), intakeToken))) {
                    throttle.succeeded(client, userKey(user));
                }
            } else {
                failedLogin(client, user, auth.startsWith("Basic ") ? "HTTP basic" : "bearer token", now);
            }
        } else {
            String session = null;
            // every ordersync_session cookie is tried: one planted before the real one (another path, a sibling
            // domain) must not shut the user out; a forged one costs no query (its MAC does not hold)
            for (String value : cookies(requestHeader(exchange, "Cookie"))) {
                session = sessions.actor(value);
                if (session != null) {
                    break;
                }
            }
            if (session != null) {
                exchange.setProperty(ACTOR, session);
                boolean safe = "GET".equals(method) || "HEAD".equals(method);
                ok = safe || "1".equals(requestHeader(exchange, "X-Ordersync-Request"));
                if (!ok) {
                    reject(exchange, 403, "state-changing requests from the UI need the header X-Ordersync-Request: 1");
                    return;
                }
            }
        }
        if (ok) {
            return;
        }
        if (path != null && (path.equals("/") || path.startsWith("/ui"))) {
            exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, 302);
            exchange.getMessage().setHeader("Location", "/login");
            exchange.getMessage().setBody("");
            exchange.setRouteStop(true);
            return;
        }
        reject(exchange, 401, configured() ? "authentication required: Authorization: Bearer <admin token>, HTTP basic, or log in at /login"
                : "no admin credentials are configured: set ordersync.admin.token or ordersync.admin.username and ordersync.admin.password");
    }

    private final LoginThrottle throttle;
    private final Runnable failureMeter;

    /** Who the client is behind the trusted reverse proxies (none by default). */
    private ClientAddress clients = new ClientAddress(List.of());

    /** Trusts these reverse proxies' X-Forwarded-For for the client's address ({@code ordersync.admin.trusted-proxies}). */
    public AdminAuth trustProxies(List<String> proxies) {
        this.clients = new ClientAddress(proxies);
        return this;
    }

    /**
     * The client's address as a throttle key: the connection's, as Vert.x saw it; behind a trusted reverse proxy the
     * address that proxy names in X-Forwarded-For. No other header or parameter is trusted for it.
     */
    String clientOf(Exchange exchange) {
        if (exchange.getIn() instanceof org.apache.camel.component.platform.http.vertx.HttpMessage m && m.getRequest() != null
                && m.getRequest().remoteAddress() != null) {
            String peer = m.getRequest().remoteAddress().hostAddress();
            return "client:" + (clients.trustsProxies() ? clients.of(peer, m.getRequest().headers().getAll("X-Forwarded-For")) : peer);
        }
        return "client:unknown";
    }

    /** A header of the HTTP request itself, not a query or form field of the same name. */
    static String requestHeader(Exchange exchange, String name) {
        if (exchange.getIn() instanceof org.apache.camel.component.platform.http.vertx.HttpMessage m && m.getRequest() != null) {
            return m.getRequest().getHeader(name);
        }
        // not served by Vert.x (embedded in another HTTP layer): the message header, as that layer set it
        return exchange.getIn().getHeader(name, String.class);
    }

    /** user name and password of a Basic header, or null when it is not valid base64 "user:password". */
    private static String[] basicPair(String auth) {
        String decoded;
        try {
            decoded = new String(Base64.getDecoder().decode(auth.substring(6).trim()), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException malformed) {
            return null;
        }
        int colon = decoded.indexOf(':');
        return colon > 0 ? new String[]{decoded.substring(0, colon), decoded.substring(colon + 1)} : null;
    }

    private static String basicUser(String auth) {
        String[] pair = basicPair(auth);
        return pair == null ? null : printable(pair[0]);
    }

    /** A user name as it is logged and used as a key: at most 64 printable characters. */
    static String printable(String user) {
        if (user == null) {
            return null;
        }
        String cut = user.length() > 64 ? user.substring(0, 64) : user;
        return cut.replaceAll("[^\\p{Print}]", "?");
    }

    /**
     * The throttle's key of a user name. Only the admin's is counted by all instances together (in the database); any
     * other is counted in this process: a password typed into the name field must not reach the database, even hashed.
     */
    private String userKey(String user) {
        if (user == null) {
            return null;
        }
        String name = printable(user);
        return (equal(name, printable(username)) ? "user:" : LoginThrottle.LOCAL + "user:") + name;
    }

    /** Counts the failure, logs it (never the password; at the 1st, 2nd, 4th, 8th … failure of a client only). */
    void failedLogin(String client, String user, String how, Instant now) {
        int n = throttle.failed(now, client, userKey(user));
        failureMeter.run();
        if (Integer.bitCount(n) == 1) {
            // the user name only when it is the admin's: a password typed into the name field must not reach the log
            String as = user == null ? "" : equal(user, printable(username)) ? " as user '" + user + "'" : " as an unknown user name";
            LOG.warn("Failed login ({}) from {}{}: {} failure{} in a row{}", how, client.substring("client:".length()),
                    as, n, n == 1 ? "" : "s",
                    n >= LoginThrottle.FREE_FAILURES ? "; locked out for a while" : "");
        }
    }

    /** A UI or API login attempt that is locked out: how long is left, or null. */
    Duration lockedFor(String client, String user) {
        return throttle.locked(Instant.now(), client, userKey(user));
    }

    private static void tooMany(Exchange exchange, Duration locked) {
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, 429);
        exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "application/json");
        exchange.getMessage().setHeader("Retry-After", String.valueOf(Math.max(1, locked.toSeconds())));
        exchange.getMessage().setBody("{\"error\":\"too many failed logins from this client or for this user; try again in "
                + Math.max(1, locked.toSeconds()) + " s\"}");
        exchange.setRouteStop(true);
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AdminAuth.class);

    private static void reject(Exchange exchange, int status, String message) {
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, status);
        exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "application/json");
        exchange.getMessage().setHeader("WWW-Authenticate", "Bearer realm=\"ordersync\"");
        exchange.getMessage().setBody("{\"error\":\"" + message.replace("\"", "'") + "\"}");
        exchange.setRouteStop(true);
    }

    /**
     * Checks a UI login; returns the cookie value of a new session, or null. Throttled like every other credential
     * check. Throws {@link UiSessions.Unavailable} when the session cannot be stored.
     */
    public String login(String user, String pass, String adminToken, String client) {
        boolean byToken = adminToken != null && equal(adminToken, token);
        boolean ok = byToken || (user != null && pass != null && equal(user, username) && equal(pass, password));
        if (!ok) {
            failedLogin(client, printable(user), "UI login", Instant.now());
            return null;
        }
        throttle.succeeded(client, userKey(user));
        return sessions.create(byToken ? "UI session opened with the admin token" : "UI session of " + username);
    }

    /** Ends the sessions of these cookie (or bearer) values, on every instance. */
    public void logout(List<String> values) {
        for (String value : values) {
            sessions.end(value);
        }
    }

    /** The first session cookie value of a Cookie header, or null. */
    static String cookie(String header) {
        List<String> all = cookies(header);
        return all.isEmpty() ? null : all.get(0);
    }

    /** The session cookie values of a Cookie header, in order, at most 8. */
    static List<String> cookies(String header) {
        if (header == null) {
            return List.of();
        }
        List<String> out = new java.util.ArrayList<>();
        for (String part : header.split(";")) {
            String p = part.trim();
            if (p.startsWith(COOKIE + "=") && out.size() < 8) {
                out.add(p.substring(COOKIE.length() + 1));
            }
        }
        return out;
    }

    /** Constant-time comparison; false when the expected value is not configured. */
    private static boolean equal(String given, String expected) {
        if (given == null || expected == null) {
            return false;
        }
        return MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), expected.getBytes(StandardCharsets.UTF_8));
    }
}
