package io.ordersync.admin;

import org.apache.camel.Exchange;

import java.io.IOException;
import java.io.InputStream;
import java.util.Map;

/** Serves the admin UI from the classpath ({@code ui/}); no front-end build step. */
public final class StaticFiles {

    private static final Map<String, String> TYPES = Map.of("html", "text/html; charset=utf-8", "js",
            "text/javascript; charset=utf-8", "css", "text/css; charset=utf-8", "svg", "image/svg+xml", "png", "image/png");

    /** {@code GET /ui/...}: a file of the UI; every other path gets the single page, which routes by its hash. */
    public void ui(Exchange exchange) throws IOException {
        String path = exchange.getIn().getHeader(Exchange.HTTP_PATH, String.class);
        String name = path == null ? "" : path.replaceFirst("^/?ui/?", "");
        if (name.isEmpty() || !name.matches("[a-z0-9_-]+\\.(js|css|svg|png|html)")) {
            name = "index.html";
        }
        serve(exchange, VENDORED.getOrDefault(name, "ui/" + name));
    }

    /** Libraries the UI uses, served from their webjars (no front-end build): uPlot draws the dashboard's charts. */
    static final Map<String, String> VENDORED = Map.of(
            "uplot.js", "META-INF/resources/webjars/uplot/1.6.30/dist/uPlot.iife.min.js",
            "uplot.css", "META-INF/resources/webjars/uplot/1.6.30/dist/uPlot.min.css");

    /** {@code GET /login}. */
    public void login(Exchange exchange) throws IOException {
        serve(exchange, "ui/login.html");
    }

    /** {@code GET /}: to the UI. */
    public void root(Exchange exchange) {
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, 302);
        exchange.getMessage().setHeader("Location", "/ui/");
        exchange.getMessage().setBody("");
    }

    private static void serve(Exchange exchange, String resource) throws IOException {
        try (InputStream in = StaticFiles.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, 404);
                exchange.getMessage().setBody("not found");
                return;
            }
            String ext = resource.substring(resource.lastIndexOf('.') + 1);
            exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, TYPES.getOrDefault(ext, "application/octet-stream"));
            exchange.getMessage().setHeader("Cache-Control", "no-cache");
            exchange.getMessage().setHeader("X-Frame-Options", "DENY");
            exchange.getMessage().setBody(in.readAllBytes());
        }
    }
}
