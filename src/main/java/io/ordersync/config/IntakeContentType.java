package io.ordersync.config;

import org.apache.camel.CamelContext;
import org.apache.camel.component.platform.http.vertx.VertxPlatformHttpRouter;

/**
 * {@code POST /api/events} takes a JSON document whatever its {@code Content-Type}: before Vert.x's body
 * handler sees a request, a form or multipart type (curl's {@code -d} sends
 * {@code application/x-www-form-urlencoded}) is replaced by {@code application/json}, so the body handler
 * does not try to decode the JSON as a form and answer a plain-text 400.
 */
final class IntakeContentType {

    static final String PATH = "/api/events";

    private IntakeContentType() {
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
        router.route(PATH).order(Integer.MIN_VALUE).handler(ctx -> {
            String type = ctx.request().getHeader("Content-Type");
            if (type == null || !type.toLowerCase(java.util.Locale.ROOT).contains("json")) {
                ctx.request().headers().set("Content-Type", "application/json");
            }
            ctx.next();
        });
    }
}
