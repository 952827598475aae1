package io.ordersync.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.camel.Exchange;

import java.util.Map;

/** UI login and logout: a session cookie (HttpOnly, SameSite=Strict) for the admin user or token. */
public final class SessionApi {

    private final AdminAuth auth;
    private final ObjectMapper mapper;

    /** {@code cookieSecure}: {@code ordersync.admin.cookie-secure}, true, false, or auto (Secure when the request came over HTTPS). */
    public SessionApi(AdminAuth auth, ObjectMapper mapper, String cookieSecure) {
        this.cookieSecure = cookieSecure == null ? "auto" : cookieSecure.trim().toLowerCase(java.util.Locale.ROOT);
        this.auth = auth;
        this.mapper = mapper;
    }

    /** {@code POST /api/login} with {@code {"username", "password"}} or {@code {"token"}}. */
    public void login(Exchange exchange) throws Exception {
        String type = AdminAuth.requestHeader(exchange, "Content-Type");
        if (type == null || !type.toLowerCase(java.util.Locale.ROOT).startsWith("application/json")) {
            // a cross-site page can send text/plain without a preflight (and lock the admin out): JSON only
            Json.replyText(mapper, exchange, 415, Map.of("error", "send the login as JSON (Content-Type: application/json)"));
            return;
        }
        JsonNode in = Json.body(mapper, exchange);
        if (in == null) {
            Json.replyText(mapper, exchange, 400, Map.of("error", "body must be JSON"));
            return;
        }
        if (!auth.configured()) {
            Json.replyText(mapper, exchange, 401, Map.of("error", "no admin credentials are configured"));
            return;
        }
        String client = auth.clientOf(exchange);
        java.time.Duration locked = auth.lockedFor(client, text(in, "username"));
        if (locked != null) {
            exchange.getMessage().setHeader("Retry-After", String.valueOf(Math.max(1, locked.toSeconds())));
            Json.replyText(mapper, exchange, 429, Map.of("error", "too many failed logins from this client or for this user; try again in "
                    + Math.max(1, locked.toSeconds()) + " s"));
            return;
        }
        String session;
        try {
            session = auth.login(text(in, "username"), text(in, "password"), text(in, "token"), client);
        } catch (UiSessions.Unavailable e) {
            unavailable(exchange, e, false);
            return;
        }
        if (session == null) {
            Json.replyText(mapper, exchange, 401, Map.of("error", "wrong user name, password or token"));
            return;
        }
        exchange.getMessage().setHeader("Set-Cookie", AdminAuth.COOKIE + "=" + session + "; Path=/; Max-Age="
                + AdminAuth.SESSION_TTL.toSeconds() + "; HttpOnly; SameSite=Strict" + (secure(exchange) ? "; Secure" : ""));
        Json.replyText(mapper, exchange, 200, Map.of("ok", true));
    }

    /** {@code POST /api/logout}. */
    public void logout(Exchange exchange) throws Exception {
        try {
            // the session of the cookie, or of a bearer token that is a session's value (API.md allows both)
            java.util.List<String> values = new java.util.ArrayList<>(AdminAuth.cookies(AdminAuth.requestHeader(exchange, "Cookie")));
            String authorization = AdminAuth.requestHeader(exchange, "Authorization");
            if (authorization != null && authorization.startsWith("Bearer ")) {
                values.add(authorization.substring(7).trim());
            }
            auth.logout(values);
        } catch (UiSessions.Unavailable e) {
            // the cookie is not cleared: the session still lives on the other instances
            unavailable(exchange, e, true);
            return;
        }
        exchange.getMessage().setHeader("Set-Cookie", AdminAuth.COOKIE + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
                + (secure(exchange) ? "; Secure" : ""));
        // the logout route has JSON binding on: the binding writes the object (text would be sent as a JSON string)
        Json.reply(mapper, exchange, 200, Map.of("ok", true));
    }

    private final String cookieSecure;

    /** {@code bound}: the route has JSON binding on (logout), which writes the object itself. */
    private void unavailable(Exchange exchange, UiSessions.Unavailable e, boolean bound) throws Exception {
        LOG.warn("A UI session could not be stored or ended: {}", e.getMessage());
        exchange.getMessage().setHeader("Retry-After", "5");
        Map<String, String> error = Map.of("error", "the session could not be stored or ended (database unavailable); try again");
        if (bound) {
            Json.reply(mapper, exchange, 503, error);
        } else {
            Json.replyText(mapper, exchange, 503, error);
        }
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SessionApi.class);

    /** Whether the session cookie is Secure: configured so, or the request came over HTTPS (directly or via a proxy). */
    private boolean secure(Exchange exchange) {
        if ("true".equals(cookieSecure)) {
            return true;
        }
        if ("false".equals(cookieSecure)) {
            return false;
        }
        // a forged header only makes the cookie stricter, so it may be trusted for this
        String proto = AdminAuth.requestHeader(exchange, "X-Forwarded-Proto");
        String uri = exchange.getIn().getHeader(Exchange.HTTP_URL, String.class);
        return "https".equalsIgnoreCase(proto) || (uri != null && uri.startsWith("https:"));
    }

    private static String text(JsonNode in, String field) {
        return in.hasNonNull(field) ? in.get(field).asText() : null;
    }
}
