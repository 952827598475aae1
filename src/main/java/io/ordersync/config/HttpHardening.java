package io.ordersync.config;

import org.apache.camel.CamelContext;
import org.apache.camel.component.platform.http.vertx.VertxPlatformHttpRouter;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.Locale;

/**
 * What every answer of ordersync's HTTP server gets before Camel's routes see the request, as Vert.x
 * handlers that run first:
 * <ul>
 * <li>security headers on every response: a Content-Security-Policy that allows only ordersync's own
 * scripts (the login page's inline script by its hash) and no framing, {@code nosniff}, no referrer;</li>
 * <li>{@code POST /api/events} takes a JSON document whatever its {@code Content-Type}: a form or multipart
 * type (curl's {@code -d} sends {@code application/x-www-form-urlencoded}) is replaced by
 * {@code application/json}, so Vert.x's body handler does not decode the JSON as a form and answer a
 * plain-text 400.</li>
 * <li>request bodies being read share a budget of heap ({@code ordersync.http.body-budget-bytes}, by default a
 * sixteenth of the heap and at least two bodies of {@code camel.server.max-body-size}): Vert.x reads a body whole
 * before any route, authentication included, sees the request, so forty unauthenticated uploads of 2 MiB at once
 * exhausted a 144 MB heap. A request whose body does not fit gets a JSON 503 with {@code Retry-After} before its
 * body is read; a body counts with its {@code Content-Length}, or the largest allowed when it has none.</li>
 * <li>a body in a form type on any other path gets a JSON 415 without reaching its route (Camel's JSON binding
 * answered a plain-text 400, and a multipart body reached the route empty), and a body over
 * {@code camel.server.max-body-size} a JSON 413 (Vert.x's own is plain text).</li>
 * </ul>
 */
final class HttpHardening {

    static final String INTAKE_PATH = "/api/events";

    /** The policy of every response; the login page's one inline script is allowed by its SHA-256. */
    static final String CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self' " + loginScriptHash()
            + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
            + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private HttpHardening() {
    }

    /**
     * The paths ordersync serves (README "Embedding"): its API, its UI, the login page and {@code /}. Embedded, the
     * handlers below see only these; the platform's own paths keep their behaviour (before, a host's form posts got
     * ordersync's 415 and its pages ordersync's CSP, found by a review). As wide as the routes' own matching: the UI's
     * route takes every path that starts with {@code /ui} (Vert.x's prefix match: {@code /uiX} too), and an exact path
     * ({@code /login}) takes a trailing slash (found by an attack: {@code /login/} and {@code /uiX} had no hardening).
     */
    static final String ORDERSYNC_PATHS = "/api(/.*)?|/ui.*|/login/*|/";

    static void install(CamelContext context) {
        // camel-main's server registers its router under a name with its port; a platform's server may have any port
        java.util.Set<VertxPlatformHttpRouter> routers = new java.util.LinkedHashSet<>();
        context.getPropertiesComponent().resolveProperty("camel.server.port")
                .map(port -> VertxPlatformHttpRouter.lookup(context, VertxPlatformHttpRouter.getRouterNameFromPort(
                        Integer.parseInt(port.trim()))))
                .ifPresent(routers::add);
        if (routers.isEmpty()) {
            routers.addAll(context.getRegistry().findByType(VertxPlatformHttpRouter.class));
        }
        boolean wholeServer = Boolean.TRUE.equals(context.getRegistry().lookupByNameAndType(Ordersync.OWNS_HTTP_SERVER, Boolean.class));
        if (routers.isEmpty()) {
            // embedded in a host without Camel's Vert.x server: its HTTP layer decides, and is told so
            org.slf4j.LoggerFactory.getLogger(HttpHardening.class).warn("No Vert.x platform-http server found: ordersync's "
                    + "security headers, request body budget and JSON answers to form bodies are left to the platform's HTTP layer");
            return;
        }
        for (VertxPlatformHttpRouter router : routers) {
            install(context, router, wholeServer);
        }
    }

    /** The handlers, on every path of a server ordersync runs itself (standalone), on its own paths when embedded. */
    private static void install(CamelContext context, VertxPlatformHttpRouter router, boolean wholeServer) {
        java.util.function.Supplier<io.vertx.ext.web.Route> scope = () -> wholeServer ? router.route() : router.routeWithRegex(ORDERSYNC_PATHS);
        var props = context.getPropertiesComponent();
        org.slf4j.LoggerFactory.getLogger(HttpHardening.class).info(
                "ordersync listens on http://{}:{} (API, UI, intake){}",
                props.resolveProperty("camel.server.host").orElse("0.0.0.0"), props.resolveProperty("camel.server.port").orElse("?"),
                Boolean.parseBoolean(props.resolveProperty("camel.management.enabled").orElse("false").trim())
                        ? " and http://" + props.resolveProperty("camel.management.host").orElse("0.0.0.0") + ":"
                        + props.resolveProperty("camel.management.port").orElse("?") + " (health, metrics; no credentials)" : "");
        scope.get().order(Integer.MIN_VALUE).handler(ctx -> {
            var headers = ctx.response().headers();
            headers.set("Content-Security-Policy", CONTENT_SECURITY_POLICY);
            headers.set("X-Content-Type-Options", "nosniff");
            headers.set("X-Frame-Options", "DENY");
            headers.set("Referrer-Policy", "no-referrer");
            ctx.next();
        });
        long maxBody = props.resolveProperty("camel.server.max-body-size").map(v -> Long.parseLong(v.trim())).orElse(2L << 20);
        long budget = props.resolveProperty("ordersync.http.body-budget-bytes").filter(v -> !v.isBlank()).map(v -> Long.parseLong(v.trim()))
                .orElse(Math.max(2 * maxBody, Runtime.getRuntime().maxMemory() / 16));
        BodyBudget bodies = new BodyBudget(budget);
        scope.get().order(Integer.MIN_VALUE + 2).handler(ctx -> {
            long declared = bodies.claimOf(ctx.request().getHeader("Content-Length"), ctx.request().getHeader("Transfer-Encoding"), maxBody);
            // an HTTP/2 stream may carry a body without a length (and has no Transfer-Encoding): the largest allowed
            long claim = declared == 0 && ctx.request().version() == io.vertx.core.http.HttpVersion.HTTP_2
                    && !ctx.request().isEnded() ? maxBody : declared;
            if (claim > 0 && !INTAKE_PATH.equals(ctx.normalizedPath()) && isForm(ctx.request().getHeader("Content-Type"))) {
                // Vert.x would decode it as a form: Camel's JSON binding then answers a plain-text 400, and a multipart
                // body reaches the route empty. Intake takes any type (above); the login refuses these types anyway.
                // The connection stays: Vert.x reads the rest of the body and drops it (BodyTypesTest)
                answer(ctx, 415, "this endpoint takes JSON (Content-Type: application/json), or a mapping file or "
                        + "document as text (text/plain), not a form: curl -d sends a form type unless told otherwise");
                return;
            }
            if (claim == 0) {
                ctx.next();
            } else if (bodies.take(claim)) {
                // once: the response's end, or the connection's loss before it
                var given = new java.util.concurrent.atomic.AtomicBoolean();
                ctx.addEndHandler(done -> {
                    if (given.compareAndSet(false, true)) {
                        bodies.give(claim);
                    }
                });
                ctx.next();
            } else {
                ctx.response().putHeader("Retry-After", "1").putHeader("Connection", "close");
                answer(ctx, 503, "too many request bodies are being received at once; try again in a second")
                        // and the connection with it: its body is not read (Vert.x would wait for it before closing)
                        .onComplete(sent -> ctx.request().connection().close());
            }
        });
        // the body handler's answer to a body over camel.server.max-body-size, in JSON as every other error (Vert.x's
        // own is plain text)
        scope.get().order(Integer.MIN_VALUE).failureHandler(ctx -> {
            if (ctx.statusCode() == 413 && !ctx.response().headWritten()) {
                answer(ctx, 413, "the request body is over the limit of " + maxBody + " bytes (camel.server.max-body-size)");
            } else {
                ctx.next();
            }
        });
        router.route(INTAKE_PATH).order(Integer.MIN_VALUE + 1).handler(ctx -> {
            String type = ctx.request().getHeader("Content-Type");
            if (type == null || !type.toLowerCase(Locale.ROOT).contains("json")) {
                ctx.request().headers().set("Content-Type", "application/json");
            }
            ctx.next();
        });
    }

    /** Answers with a JSON error, without running the request's route. */
    private static io.vertx.core.Future<Void> answer(io.vertx.ext.web.RoutingContext ctx, int status, String error) {
        return ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json")
                .end("{\"error\":\"" + error + "\"}");
    }

    /** A form type, which Vert.x's body handler decodes as form fields. */
    static boolean isForm(String contentType) {
        if (contentType == null) {
            return false;
        }
        String t = contentType.trim().toLowerCase(Locale.ROOT);
        return t.startsWith("application/x-www-form-urlencoded") || t.startsWith("multipart/");
    }

    /** The bytes of request bodies being read, bounded. */
    static final class BodyBudget {
        private final long limit;
        private final java.util.concurrent.atomic.AtomicLong used = new java.util.concurrent.atomic.AtomicLong();

        BodyBudget(long limit) {
            this.limit = limit;
        }

        /**
         * What a request's body counts: its declared length; the largest allowed body when it is chunked or its length
         * does not parse (Vert.x refuses those itself); 0 without a body.
         */
        long claimOf(String contentLength, String transferEncoding, long maxBody) {
            if (contentLength != null) {
                try {
                    return Math.min(Math.max(0, Long.parseLong(contentLength.trim())), maxBody);
                } catch (NumberFormatException bad) {
                    return maxBody;
                }
            }
            return transferEncoding != null ? maxBody : 0;
        }

        /** Takes {@code bytes} from the budget if they fit; a body of any size fits into an unused budget. */
        boolean take(long bytes) {
            while (true) {
                long now = used.get();
                if (now > 0 && now + bytes > limit) {
                    return false;
                }
                if (used.compareAndSet(now, now + bytes)) {
                    return true;
                }
            }
        }

        void give(long bytes) {
            used.addAndGet(-bytes);
        }
    }

    /** {@code 'sha256-…'} of the inline script of ui/login.html, as CSP wants it. */
    static String loginScriptHash() {
        try (InputStream in = HttpHardening.class.getResourceAsStream("/ui/login.html")) {
            if (in == null) {
                return "";
            }
            String html = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            int start = html.indexOf("<script>");
            int end = html.indexOf("</script>", start);
            if (start < 0 || end < 0) {
                return "";
            }
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest(html.substring(start + "<script>".length(), end).getBytes(StandardCharsets.UTF_8));
            return "'sha256-" + Base64.getEncoder().encodeToString(digest) + "'";
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new IllegalStateException("cannot read ui/login.html", e);
        }
    }
}
