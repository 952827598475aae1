package io.ordersync.admin;

import org.apache.camel.Exchange;
import org.apache.camel.Processor;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Protects the UI and the REST API: a bearer admin token, HTTP basic with the admin user, or the session
 * cookie of a UI login. Runs first in every API and UI route (routeConfiguration {@code admin-auth}).
 * Cookie-authenticated requests that change state must carry {@code X-Ordersync-Request: 1}, which a
 * cross-site form cannot send. Without configured credentials every request is refused with a message
 * that says how to configure them.
 */
public final class AdminAuth implements Processor {

    /** Name of the UI session cookie. */
    public static final String COOKIE = "ordersync_session";
    private static final Duration SESSION_TTL = Duration.ofHours(12);

    private final String token;
    private final String username;
    private final String password;
    private final String intakeToken;
    private final Map<String, Instant> sessions = new ConcurrentHashMap<>();
    private final SecureRandom random = new SecureRandom();

    public AdminAuth(String token, String username, String password, String intakeToken) {
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
        String path = exchange.getIn().getHeader(Exchange.HTTP_PATH, String.class);
        if (path == null) {
            path = exchange.getIn().getHeader(Exchange.HTTP_URI, String.class);
        }
        String method = exchange.getIn().getHeader(Exchange.HTTP_METHOD, String.class);
        if (path != null && (path.equals("/login") || path.startsWith("/api/login"))) {
            return;
        }
        String auth = exchange.getIn().getHeader("Authorization", String.class);
        boolean ok = false;
        if (auth != null && auth.startsWith("Bearer ")) {
            String t = auth.substring(7).trim();
            ok = equal(t, token) || (path != null && path.equals("/api/events") && equal(t, intakeToken)) || validSession(t);
        } else if (auth != null && auth.startsWith("Basic ")) {
            String decoded = new String(Base64.getDecoder().decode(auth.substring(6).trim()), StandardCharsets.UTF_8);
            int colon = decoded.indexOf(':');
            ok = colon > 0 && equal(decoded.substring(0, colon), username) && equal(decoded.substring(colon + 1), password);
        } else {
            String session = cookie(exchange.getIn().getHeader("Cookie", String.class));
            if (validSession(session)) {
                boolean safe = "GET".equals(method) || "HEAD".equals(method);
                ok = safe || "1".equals(exchange.getIn().getHeader("X-Ordersync-Request", String.class));
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

    private static void reject(Exchange exchange, int status, String message) {
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, status);
        exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "application/json");
        exchange.getMessage().setHeader("WWW-Authenticate", "Bearer realm=\"ordersync\"");
        exchange.getMessage().setBody("{\"error\":\"" + message.replace("\"", "'") + "\"}");
        exchange.setRouteStop(true);
    }

    /** Checks a UI login; returns a new session id, or null. */
    public String login(String user, String pass, String adminToken) {
        boolean ok = (adminToken != null && equal(adminToken, token))
                || (user != null && pass != null && equal(user, username) && equal(pass, password));
        if (!ok) {
            return null;
        }
        byte[] id = new byte[24];
        random.nextBytes(id);
        String session = HexFormat.of().formatHex(id);
        sessions.put(session, Instant.now().plus(SESSION_TTL));
        return session;
    }

    public void logout(String session) {
        if (session != null) {
            sessions.remove(session);
        }
    }

    private boolean validSession(String session) {
        if (session == null) {
            return false;
        }
        Instant until = sessions.get(session);
        if (until == null) {
            return false;
        }
        if (until.isBefore(Instant.now())) {
            sessions.remove(session);
            return false;
        }
        return true;
    }

    static String cookie(String header) {
        if (header == null) {
            return null;
        }
        for (String part : header.split(";")) {
            String p = part.trim();
            if (p.startsWith(COOKIE + "=")) {
                return p.substring(COOKIE.length() + 1);
            }
        }
        return null;
    }

    /** Constant-time comparison; false when the expected value is not configured. */
    private static boolean equal(String given, String expected) {
        if (given == null || expected == null) {
            return false;
        }
        return MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), expected.getBytes(StandardCharsets.UTF_8));
    }
}
