package io.ordersync.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The demo's external system: a tiny CRM on loopback (contacts and tickets: look up, create, patch) with a
 * page listing its objects. It misbehaves on purpose: the first three requests about flaky@… answer 503
 * (a retry), and the first contact for blocked@… is refused with 422 (a permanent error, parked until
 * someone clicks Retry now — the sandbox has cleared its block list by then).
 */
public final class Sandbox implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpServer server;
    private final Map<String, Map<String, ObjectNode>> collections = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong(100);
    private final AtomicInteger flaky = new AtomicInteger();
    private final AtomicInteger blocked = new AtomicInteger();
    /** The demo's pretix: organizer "demo", event democon, its orders by code (answers under /pretix/api/v1/…). */
    private final Map<String, ObjectNode> pretixOrders = new ConcurrentHashMap<>();
    private volatile String pretixToken = "";

    public Sandbox(int port) throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.setExecutor(Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "sandbox-http");
            t.setDaemon(true);
            return t;
        }));
        server.createContext("/", this::handle);
        server.start();
    }

    public String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            String query = ex.getRequestURI().getRawQuery() == null ? "" : URLDecoder.decode(ex.getRequestURI().getRawQuery(), StandardCharsets.UTF_8);
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            if (path.equals("/") || path.equals("/ui")) {
                send(ex, 200, "text/html; charset=utf-8", page());
                return;
            }
            if (path.startsWith("/pretix/")) {
                pretix(ex, path.substring("/pretix".length()));
                return;
            }
            if ((query.contains("flaky@") || body.contains("flaky@")) && flaky.getAndIncrement() < 3) {
                send(ex, 503, "application/json", "{\"error\":\"sandbox is busy, try again\"}");
                return;
            }
            String[] parts = path.replaceFirst("^/api/", "").split("/");
            Map<String, ObjectNode> objects = collections.computeIfAbsent(parts[0], k -> new ConcurrentHashMap<>());
            String method = ex.getRequestMethod();
            if (parts.length == 1 && method.equals("GET")) {
                ArrayNode results = JSON.createArrayNode();
                String[] kv = query.split("=", 2);
                for (ObjectNode o : objects.values()) {
                    if (kv.length == 2 && kv[1].equals(o.path(kv[0]).asText())) {
                        results.add(o);
                    }
                }
                send(ex, 200, "application/json", JSON.createObjectNode().set("results", results).toString());
            } else if (parts.length == 1 && method.equals("POST")) {
                ObjectNode o = (ObjectNode) JSON.readTree(body);
                if (o.path("email").asText().startsWith("blocked@") && blocked.getAndIncrement() == 0) {
                    send(ex, 422, "application/json", "{\"error\":\"e-mail address is on the block list\"}");
                    return;
                }
                o.put("id", String.valueOf(ids.incrementAndGet()));
                objects.put(o.get("id").asText(), o);
                send(ex, 201, "application/json", o.toString());
            } else if (parts.length == 2 && method.equals("PATCH") && objects.containsKey(parts[1])) {
                ObjectNode o = objects.get(parts[1]);
                JSON.readTree(body).fields().forEachRemaining(e -> o.set(e.getKey(), e.getValue()));
                send(ex, 200, "application/json", o.toString());
            } else if (parts.length == 2 && method.equals("GET") && objects.containsKey(parts[1])) {
                send(ex, 200, "application/json", objects.get(parts[1]).toString());
            } else {
                send(ex, 404, "application/json", "{\"error\":\"not found\"}");
            }
        }
    }

    private String page() {
        StringBuilder sb = new StringBuilder("<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=3>"
                + "<title>Sandbox CRM</title><style>body{font:14px system-ui;margin:2rem}table{border-collapse:collapse;margin-bottom:2rem}"
                + "td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:left}</style><h1>Sandbox CRM</h1>"
                + "<p>The demo's external system. ordersync syncs into it; this page refreshes itself.</p>");
        for (Map.Entry<String, Map<String, ObjectNode>> c : new LinkedHashMap<>(collections).entrySet()) {
            sb.append("<h2>").append(esc(c.getKey())).append(" (").append(c.getValue().size()).append(")</h2><table>");
            for (ObjectNode o : c.getValue().values()) {
                sb.append("<tr><td id=\"").append(esc(c.getKey())).append('-').append(esc(o.path("id").asText())).append("\">")
                        .append(esc(o.path("id").asText())).append("</td><td><code>").append(esc(o.toString())).append("</code></td></tr>");
            }
            sb.append("</table>");
        }
        return sb.toString();
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", type);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(bytes);
        }
    }

    /** The demo's pretix accepts this API token ({@code Authorization: Token …}). */
    public void pretixToken(String token) {
        this.pretixToken = token;
    }

    /** An order as the demo's pretix holds it (pretix's REST shape). */
    public void pretixOrder(ObjectNode order) {
        pretixOrders.put(order.path("code").asText(), order);
    }

    public String pretixUrl() {
        return url() + "/pretix";
    }

    /** The few answers of pretix's REST API ordersync's pretix source reads, in pretix's shapes. */
    private void pretix(HttpExchange ex, String path) throws IOException {
        if (pretixToken.isEmpty() || !("Token " + pretixToken).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
            send(ex, 401, "application/json", "{\"detail\":\"Invalid token.\"}");
            return;
        }
        String event = "/api/v1/organizers/demo/events/democon/";
        if (path.equals(event)) {
            send(ex, 200, "application/json", "{\"name\":{\"en\":\"DemoCon 2026\"},\"slug\":\"democon\",\"live\":true,\"testmode\":false,"
                    + "\"currency\":\"EUR\",\"date_from\":\"2026-05-04T09:00:00+02:00\",\"date_to\":null,\"timezone\":\"Europe/Berlin\","
                    + "\"has_subevents\":false,\"location\":null,\"meta_data\":{}}");
        } else if (path.equals(event + "items/")) {
            send(ex, 200, "application/json", "{\"count\":1,\"next\":null,\"previous\":null,\"results\":[{\"id\":1345,"
                    + "\"name\":{\"en\":\"Conference ticket\"},\"internal_name\":null,\"default_price\":\"249.00\",\"category\":null,"
                    + "\"active\":true,\"admission\":true,\"has_variations\":false,\"variations\":[],\"addons\":[],\"bundles\":[]}]}");
        } else if (path.equals(event + "questions/")) {
            send(ex, 200, "application/json", "{\"count\":1,\"next\":null,\"previous\":null,\"results\":[{\"id\":1,"
                    + "\"question\":{\"en\":\"Meal\"},\"type\":\"C\",\"required\":false,\"items\":[1345],\"identifier\":\"MEAL\","
                    + "\"options\":[{\"id\":1,\"identifier\":\"VEG\",\"position\":0,\"answer\":{\"en\":\"Vegetarian\"}},"
                    + "{\"id\":2,\"identifier\":\"MEAT\",\"position\":1,\"answer\":{\"en\":\"Meat\"}}]}]}");
        } else if (path.startsWith(event + "orders/") && path.endsWith("/")) {
            ObjectNode o = pretixOrders.get(path.substring((event + "orders/").length(), path.length() - 1));
            if (o == null) {
                send(ex, 404, "application/json", "{\"detail\":\"Not found.\"}");
            } else {
                send(ex, 200, "application/json", o.toString());
            }
        } else {
            send(ex, 403, "application/json", "{\"detail\":\"The requested organizer/event does not exist or you have no permission to view this resource.\"}");
        }
    }

    /** The objects of a collection, for tests. */
    public Map<String, ObjectNode> objects(String collection) {
        return collections.getOrDefault(collection, Map.of());
    }


    @Override
    public void close() {
        server.stop(0);
    }
}
