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

    static void install(CamelContext context) {
        // camel-main's server registers its router under a name with its port
        VertxPlatformHttpRouter router = context.getPropertiesComponent().resolveProperty("camel.server.port")
                .map(port -> VertxPlatformHttpRouter.lookup(context, VertxPlatformHttpRouter.getRouterNameFromPort(
                        Integer.parseInt(port.trim()))))
                .orElse(null);
        if (router == null) {
            router = VertxPlatformHttpRouter.lookup(context);
        }
        if (router == null) {
            // embedded in a host without Camel's Vert.x server: its HTTP layer decides
            return;
        }
        var props = context.getPropertiesComponent();
        org.slf4j.LoggerFactory.getLogger(HttpHardening.class).info(
                "ordersync listens on http://{}:{} (API, UI, intake){}",
                props.resolveProperty("camel.server.host").orElse("0.0.0.0"), props.resolveProperty("camel.server.port").orElse("?"),
                Boolean.parseBoolean(props.resolveProperty("camel.management.enabled").orElse("false").trim())
                        ? " and http://" + props.resolveProperty("camel.management.host").orElse("0.0.0.0") + ":"
                        + props.resolveProperty("camel.management.port").orElse("?") + " (health, metrics; no credentials)" : "");
        router.route().order(Integer.MIN_VALUE).handler(ctx -> {
            var headers = ctx.response().headers();
            headers.set("Content-Security-Policy", CONTENT_SECURITY_POLICY);
            headers.set("X-Content-Type-Options", "nosniff");
            headers.set("X-Frame-Options", "DENY");
            headers.set("Referrer-Policy", "no-referrer");
            ctx.next();
        });
        router.route(INTAKE_PATH).order(Integer.MIN_VALUE + 1).handler(ctx -> {
            String type = ctx.request().getHeader("Content-Type");
            if (type == null || !type.toLowerCase(Locale.ROOT).contains("json")) {
                ctx.request().headers().set("Content-Type", "application/json");
            }
            ctx.next();
        });
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
