package io.ordersync.support;

import com.fasterxml.jackson.databind.JsonNode;
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
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A pretix instance for tests, answering as pretix's REST API documentation describes (doc/api/fundamentals.rst,
 * resources/orders.rst, items.rst, questions.rst, subevents.rst, vouchers.rst, events.rst in the pretix
 * repository): {@code Authorization: Token …} or 401 {@code {"detail": …}}; an organizer or event it does not
 * have is a 403, an order a 404; lists are pages of at most 50 {@code {count, next, previous, results}} with
 * absolute {@code next} links; {@code modified_since} is inclusive on {@code last_modified}; order lists carry
 * {@code X-Page-Generated}; canceled positions only with {@code include_canceled_positions=true}. Faults on
 * demand: 429 with Retry-After, any status, slow answers, down (the port refuses connections) and back.
 */
public final class PretixTestServer implements AutoCloseable {

    public static final String TOKEN = "pretix-api-t0ken-e1l6gq2ye72thbwk";
    public static final String ORGANIZER = "demo-org";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern EVENT_PATH = Pattern.compile("/api/v1/organizers/([^/]+)/events/([^/]+)/(.*)");
    private static final Pattern ORG_ORDERS = Pattern.compile("/api/v1/organizers/([^/]+)/orders/");

    /** One request as the server saw it. */
    public record Request(String path, String query, String authorization, Instant at, int status) {
    }

    private HttpServer server;
    private final int port;
    private final Map<String, ObjectNode> events = new ConcurrentHashMap<>();
    private final Map<String, List<ObjectNode>> items = new ConcurrentHashMap<>();
    private final Map<String, List<ObjectNode>> questions = new ConcurrentHashMap<>();
    private final Map<String, Map<String, ObjectNode>> subevents = new ConcurrentHashMap<>();
    private final Map<String, Map<String, ObjectNode>> vouchers = new ConcurrentHashMap<>();
    /** event → code → order, in creation order. */
    private final Map<String, Map<String, ObjectNode>> orders = new ConcurrentHashMap<>();
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger failNext = new AtomicInteger();
    private volatile int failStatus;
    private volatile String retryAfter;
    private volatile long delayMs;
    private volatile boolean echoAuthorizationOnError;
    private volatile Runnable beforeOrdersPage2;
    private volatile boolean itemsNextLoops;
    private volatile String itemsNextTo;

    private PretixTestServer(int port) throws IOException {
        this.server = create(port);
        this.port = server.getAddress().getPort();
    }

    private HttpServer create(int port) throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        s.setExecutor(Executors.newFixedThreadPool(4));
        s.createContext("/", this::handle);
        s.start();
        return s;
    }

    /** A server with event {@code democon} as the hand-written fixture order-abc12.json names it, and its order ABC12. */
    public static PretixTestServer start() throws IOException {
        PretixTestServer p = new PretixTestServer(0);
        p.addEvent("democon");
        JsonNode fixture = JSON.readTree(Fixtures.read("fixtures/order-abc12.json"));
        ObjectNode order = (ObjectNode) fixture.path("order").deepCopy();
        order.put("event", "democon");
        p.orders.get("democon").put("ABC12", order);
        return p;
    }

    /** ordersync's settings for this server (url, organizer, token), in a map the caller may add to. */
    public java.util.Map<String, String> settings() {
        java.util.Map<String, String> props = new java.util.HashMap<>();
        props.put("ordersync.pretix.url", url());
        props.put("ordersync.pretix.organizer", ORGANIZER);
        props.put("ordersync.pretix.token", TOKEN);
        return props;
    }

    public String url() {
        return "http://127.0.0.1:" + port;
    }

    /** An event with the catalogue the fixture's lookup tables describe, in the shapes of pretix's API. */
    public void addEvent(String slug) throws IOException {
        events.put(slug, (ObjectNode) JSON.readTree("""
                {"name": {"en": "DemoCon 2026"}, "slug": "%s", "live": true, "testmode": false, "currency": "EUR",
                 "date_from": "2026-05-04T09:00:00+02:00", "date_to": null, "date_admission": null, "is_public": true,
                 "presale_start": null, "presale_end": null, "location": null, "geo_lat": null, "geo_lon": null,
                 "has_subevents": false, "meta_data": {}, "timezone": "Europe/Berlin", "plugins": ["pretix.plugins.banktransfer"],
                 "seating_plan": null, "seat_category_mapping": {}}""".formatted(slug)));
        items.put(slug, List.of((ObjectNode) JSON.readTree("""
                {"id": 1345, "name": {"en": "Regular ticket"}, "internal_name": null, "sales_channels": ["web"],
                 "default_price": "23.00", "original_price": null, "category": null, "active": true, "description": null,
                 "free_price": false, "tax_rate": "0.00", "tax_rule": null, "admission": true, "personalized": true,
                 "position": 0, "picture": null, "available_from": null, "available_until": null, "require_voucher": false,
                 "hide_without_voucher": false, "allow_cancel": true, "min_per_order": null, "max_per_order": null,
                 "checkin_attention": false, "has_variations": true, "require_approval": false, "meta_data": {},
                 "variations": [{"id": 7, "value": {"en": "Student"}, "default_price": "10.00", "price": "10.00",
                                 "original_price": null, "active": true, "description": null, "position": 0, "meta_data": {}}],
                 "addons": [], "bundles": []}"""), (ObjectNode) JSON.readTree("""
                {"id": 1400, "name": {"en": "Workshop"}, "internal_name": "WS-A", "sales_channels": ["web"],
                 "default_price": "23.00", "original_price": null, "category": null, "active": true, "description": null,
                 "free_price": false, "tax_rate": "0.00", "tax_rule": null, "admission": false, "personalized": false,
                 "position": 1, "picture": null, "available_from": null, "available_until": null, "require_voucher": false,
                 "hide_without_voucher": false, "allow_cancel": true, "min_per_order": null, "max_per_order": null,
                 "checkin_attention": false, "has_variations": false, "require_approval": false, "meta_data": {},
                 "variations": [], "addons": [], "bundles": []}""")));
        questions.put(slug, List.of((ObjectNode) JSON.readTree("""
                {"id": 12, "question": {"en": "Meal"}, "help_text": {}, "type": "C", "required": false, "items": [1345],
                 "position": 1, "identifier": "WY3TP9SL", "ask_during_checkin": false, "hidden": false,
                 "print_on_invoice": false, "dependency_question": null, "dependency_value": null, "dependency_values": [],
                 "options": [{"id": 31, "identifier": "VEG", "position": 0, "answer": {"en": "Vegetarian"}},
                             {"id": 32, "identifier": "MEAT", "position": 1, "answer": {"en": "Meat"}}]}""")));
        subevents.put(slug, new ConcurrentHashMap<>());
        vouchers.put(slug, new ConcurrentHashMap<>());
        orders.putIfAbsent(slug, java.util.Collections.synchronizedMap(new LinkedHashMap<>()));
    }

    /** {@code n} more orders of the event like ABC12, with codes {@code <prefix>00001…} and their own e-mail addresses. */
    public List<String> addOrders(String event, String prefix, int n) throws IOException {
        JsonNode template = JSON.readTree(Fixtures.read("fixtures/order-abc12.json")).path("order");
        List<String> codes = new ArrayList<>();
        Map<String, ObjectNode> byCode = orders.get(event);
        for (int i = 1; i <= n; i++) {
            String code = prefix + String.format("%05d", i);
            ObjectNode o = template.deepCopy();
            o.put("code", code);
            o.put("event", event);
            o.put("email", code.toLowerCase() + "@example.org");
            // placed, not paid yet
            o.put("status", "n");
            o.put("datetime", OffsetDateTime.parse("2026-03-01T10:00:00Z").plusSeconds(byCode.size()).toString());
            o.put("last_modified", now());
            for (JsonNode p : o.path("positions")) {
                ((ObjectNode) p).put("order", code);
                ((ObjectNode) p).put("attendee_email", code.toLowerCase() + "." + p.path("positionid").asText() + "@example.org");
            }
            byCode.put(code, o);
            codes.add(code);
        }
        return codes;
    }

    /** Changes an order as pretix would on an edit: its phone, and its last_modified. */
    public void modify(String event, String code, String phone) {
        ObjectNode o = orders.get(event).get(code);
        synchronized (o) {
            o.put("phone", phone);
            o.put("last_modified", now());
        }
    }

    /** Marks an order paid (status p), as pretix does when a payment arrives. */
    public void markPaid(String event, String code) {
        ObjectNode o = orders.get(event).get(code);
        synchronized (o) {
            o.put("status", "p");
            o.put("last_modified", now());
        }
    }

    /** A new product of the event, as pretix's items resource shows it. */
    public void addItem(String event, int id, String name) {
        ObjectNode item = items.get(event).get(0).deepCopy();
        item.put("id", id);
        item.putObject("name").put("en", name);
        item.putNull("internal_name");
        item.put("has_variations", false);
        item.putArray("variations");
        items.compute(event, (k, v) -> {
            List<ObjectNode> more = new ArrayList<>(v);
            more.add(item);
            return List.copyOf(more);
        });
    }

    /** A sub-event as pretix's subevents resource shows it. */
    public void addSubevent(String event, int id, String name, String dateFrom) {
        ObjectNode o = JSON.createObjectNode();
        o.put("id", id);
        o.putObject("name").put("en", name);
        o.put("event", event).put("active", true).put("is_public", true).put("date_from", dateFrom).putNull("date_to")
                .putNull("date_admission").putNull("presale_start").putNull("presale_end").putNull("location")
                .putNull("geo_lat").putNull("geo_lon").putNull("seating_plan");
        o.putArray("item_price_overrides");
        o.putArray("variation_price_overrides");
        o.putObject("meta_data");
        subevents.get(event).put(String.valueOf(id), o);
    }

    /** A voucher as pretix's vouchers resource shows it. */
    public void addVoucher(String event, int id, String code) {
        ObjectNode o = JSON.createObjectNode();
        o.put("id", id).put("code", code).put("max_usages", 1).put("redeemed", 1).putNull("valid_until")
                .put("block_quota", false).put("allow_ignore_quota", false).put("price_mode", "set").put("value", "12.00")
                .putNull("item").putNull("variation").putNull("quota").put("tag", "").put("comment", "").putNull("seat").putNull("subevent");
        vouchers.get(event).put(String.valueOf(id), o);
    }

    public ObjectNode order(String event, String code) {
        return orders.get(event).get(code);
    }

    private static String now() {
        // pretix's format: microseconds, UTC; a little later than any earlier call
        try {
            Thread.sleep(0, 1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Instant.now().toString();
    }

    /** The next {@code count} requests are answered with {@code status} (and this Retry-After, if not null). */
    public void failNext(int count, int status, String retryAfter) {
        this.failStatus = status;
        this.retryAfter = retryAfter;
        this.failNext.set(count);
    }

    public void slow(long ms) {
        this.delayMs = ms;
    }

    private volatile int maxPageSize = 50;

    /** Lists are answered in pages of at most {@code n} results (pretix's own limit is 50). */
    public void maxPageSize(int n) {
        this.maxPageSize = n;
    }

    private volatile long trickleMs;
    private volatile long padBytes;

    /** Answers carry a field {@code pad} of this many characters, sent chunked (0: none): an answer over ordersync's limit. */
    public void padAnswers(long bytes) {
        this.padBytes = bytes;
    }

    /** Answers send their headers at once, then their body one byte every {@code ms} (0: at once). */
    public void trickle(long ms) {
        this.trickleMs = ms;
    }

    /** An error answer repeats the request's Authorization header (as a careless proxy would): ordersync must not keep it. */
    public void echoAuthorizationOnError(boolean on) {
        this.echoAuthorizationOnError = on;
    }

    /** Runs once, right before the second page of an order list is answered (an order changed while pages are read). */
    public void beforeOrdersPage2(Runnable r) {
        this.beforeOrdersPage2 = r;
    }

    /** A broken pretix (or proxy): the items list's next link points back to itself. */
    public void itemsNextLoops(boolean on) {
        this.itemsNextLoops = on;
    }

    /** A broken or hostile pretix (or proxy): the items list's next link is this URL (null: pretix's own link). */
    public void itemsNextTo(String url) {
        this.itemsNextTo = url;
    }

    /** pretix goes away: its port refuses connections until {@link #restart}. */
    public void stop() {
        server.stop(0);
    }

    public void restart() throws IOException {
        server = create(port);
    }

    public List<Request> requests() {
        return List.copyOf(requests);
    }

    public long requestsTo(String pathPart) {
        return requests.stream().filter(r -> r.path().contains(pathPart)).count();
    }

    @Override
    public void close() {
        server.stop(0);
    }

    // ---- the API ----

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getRawPath();
        String query = ex.getRequestURI().getRawQuery();
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        int[] status = {200};
        try {
            if (delayMs > 0) {
                Thread.sleep(delayMs);
            }
            if (failNext.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                if (retryAfter != null) {
                    ex.getResponseHeaders().set("Retry-After", retryAfter);
                }
                status[0] = failStatus;
                send(ex, failStatus, error(failStatus == 429 ? "Request was throttled." : "Server error.", auth));
                return;
            }
            if (!("Token " + TOKEN).equals(auth)) {
                status[0] = 401;
                ex.getResponseHeaders().set("WWW-Authenticate", "Token");
                send(ex, 401, error(auth == null ? "Authentication credentials were not provided." : "Invalid token.", auth));
                return;
            }
            Map<String, String> params = params(query);
            Matcher org = ORG_ORDERS.matcher(path);
            if (org.matches()) {
                if (!ORGANIZER.equals(org.group(1))) {
                    status[0] = 403;
                    send(ex, 403, error("The requested organizer/event does not exist or you have no permission to view this resource.", null));
                    return;
                }
                List<ObjectNode> all = new ArrayList<>();
                orders.values().forEach(m -> {
                    synchronized (m) {
                        all.addAll(m.values());
                    }
                });
                status[0] = orderList(ex, all, params);
                return;
            }
            Matcher m = EVENT_PATH.matcher(path);
            if (!m.matches() || !ORGANIZER.equals(m.group(1)) || !events.containsKey(m.group(2))) {
                status[0] = 403;
                send(ex, 403, error("The requested organizer/event does not exist or you have no permission to view this resource.", null));
                return;
            }
            String event = m.group(2);
            String rest = m.group(3);
            if (rest.isEmpty()) {
                send(ex, 200, events.get(event));
            } else if (rest.equals("items/")) {
                ObjectNode page = page(ex, new ArrayList<JsonNode>(items.get(event)), params);
                if (itemsNextLoops) {
                    page.put("next", url() + path + (query == null ? "" : "?" + query));
                } else if (itemsNextTo != null) {
                    page.put("next", itemsNextTo);
                }
                send(ex, 200, page);
            } else if (rest.equals("questions/")) {
                send(ex, 200, page(ex, new ArrayList<JsonNode>(questions.get(event)), params));
            } else if (rest.startsWith("subevents/") || rest.startsWith("vouchers/")) {
                String id = rest.substring(rest.indexOf('/') + 1).replace("/", "");
                ObjectNode o = (rest.startsWith("sub") ? subevents : vouchers).get(event).get(id);
                status[0] = o == null ? 404 : 200;
                send(ex, status[0], o == null ? error("Not found.", null) : o);
            } else if (rest.equals("orders/")) {
                List<ObjectNode> list;
                Map<String, ObjectNode> byCode = orders.get(event);
                synchronized (byCode) {
                    list = new ArrayList<>(byCode.values());
                }
                status[0] = orderList(ex, list, params);
            } else if (rest.startsWith("orders/") && rest.endsWith("/")) {
                String code = URLDecoder.decode(rest.substring(7, rest.length() - 1), StandardCharsets.UTF_8);
                ObjectNode o = orders.get(event).get(code);
                status[0] = o == null ? 404 : 200;
                send(ex, status[0], o == null ? error("Not found.", null) : view(o, params));
            } else {
                status[0] = 404;
                send(ex, 404, error("Not found.", null));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            status[0] = 500;
            send(ex, 500, error("Server error: " + e, null));
        } finally {
            requests.add(new Request(path, query, auth, Instant.now(), status[0]));
            ex.close();
        }
    }

    private int orderList(HttpExchange ex, List<ObjectNode> list, Map<String, String> params) throws IOException {
        Runnable hook = beforeOrdersPage2;
        if ("2".equals(params.get("page")) && hook != null) {
            beforeOrdersPage2 = null;
            hook.run();
            // the list as it stands now
            list = new ArrayList<>();
            for (Map<String, ObjectNode> m : orders.values()) {
                synchronized (m) {
                    list.addAll(m.values());
                }
            }
        }
        String generated = Instant.now().toString();
        List<ObjectNode> selected = new ArrayList<>();
        String since = params.get("modified_since");
        Instant sinceAt = since == null ? null : OffsetDateTime.parse(since).toInstant();
        for (ObjectNode o : list) {
            synchronized (o) {
                if (sinceAt != null && Instant.parse(o.path("last_modified").asText()).isBefore(sinceAt)) {
                    continue;
                }
                if ("false".equals(params.get("testmode")) && o.path("testmode").asBoolean()) {
                    continue;
                }
                selected.add(view(o, params));
            }
        }
        String ordering = params.getOrDefault("ordering", "datetime");
        Comparator<ObjectNode> by = switch (ordering.replace("-", "")) {
            case "last_modified" -> Comparator.comparing(o -> Instant.parse(o.path("last_modified").asText()));
            case "code" -> Comparator.comparing(o -> o.path("code").asText());
            default -> Comparator.comparing(o -> o.path("datetime").asText());
        };
        by = by.thenComparing(o -> o.path("code").asText());
        selected.sort(ordering.startsWith("-") ? by.reversed() : by);
        ex.getResponseHeaders().set("X-Page-Generated", generated);
        send(ex, 200, page(ex, new ArrayList<JsonNode>(selected), params));
        return 200;
    }

    /** An order as the API shows it: canceled positions only when asked for. */
    private static ObjectNode view(ObjectNode o, Map<String, String> params) {
        ObjectNode copy;
        synchronized (o) {
            copy = o.deepCopy();
        }
        if (!"true".equals(params.get("include_canceled_positions"))) {
            ArrayNode kept = JSON.createArrayNode();
            copy.path("positions").forEach(p -> {
                if (!p.path("canceled").asBoolean()) {
                    kept.add(p);
                }
            });
            copy.set("positions", kept);
        }
        return copy;
    }

    private ObjectNode page(HttpExchange ex, List<JsonNode> all, Map<String, String> params) {
        int size = Math.min(maxPageSize, Math.max(1, Integer.parseInt(params.getOrDefault("page_size", "50"))));
        int page = Math.max(1, Integer.parseInt(params.getOrDefault("page", "1")));
        int from = (page - 1) * size;
        ObjectNode out = JSON.createObjectNode();
        out.put("count", all.size());
        String base = url() + ex.getRequestURI().getRawPath() + "?";
        String query = ex.getRequestURI().getRawQuery() == null ? "" : ex.getRequestURI().getRawQuery().replaceAll("(^|&)page=\\d+", "");
        query = query.startsWith("&") ? query.substring(1) : query;
        String sep = query.isEmpty() ? "" : "&";
        out.put("next", from + size < all.size() ? base + query + sep + "page=" + (page + 1) : null);
        out.put("previous", page > 1 ? base + query + sep + "page=" + (page - 1) : null);
        ArrayNode results = out.putArray("results");
        for (int i = from; i < Math.min(all.size(), from + size); i++) {
            results.add(all.get(i));
        }
        return out;
    }

    private ObjectNode error(String detail, String authorization) {
        ObjectNode e = JSON.createObjectNode();
        e.put("detail", detail + (echoAuthorizationOnError && authorization != null ? " (you sent Authorization: " + authorization + ")" : ""));
        return e;
    }

    private static Map<String, String> params(String query) {
        Map<String, String> p = new LinkedHashMap<>();
        if (query != null) {
            for (String kv : query.split("&")) {
                int eq = kv.indexOf('=');
                if (eq > 0) {
                    p.put(URLDecoder.decode(kv.substring(0, eq), StandardCharsets.UTF_8), URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8));
                }
            }
        }
        return p;
    }

    private void send(HttpExchange ex, int status, JsonNode body) throws IOException {
        byte[] b = JSON.writeValueAsBytes(body);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        long pad = padBytes;
        if (pad > 0 && body.isObject()) {
            ex.sendResponseHeaders(status, 0);
            try (OutputStream out = ex.getResponseBody()) {
                out.write("{\"pad\": \"".getBytes(StandardCharsets.UTF_8));
                byte[] chunk = "x".repeat(65536).getBytes(StandardCharsets.UTF_8);
                for (long left = pad; left > 0; left -= chunk.length) {
                    out.write(chunk, 0, (int) Math.min(chunk.length, left));
                }
                out.write("\", ".getBytes(StandardCharsets.UTF_8));
                out.write(b, 1, b.length - 1);
            } catch (IOException closedByTheClient) {
                // ordersync stops reading at its limit
            }
            return;
        }
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            long every = trickleMs;
            if (every == 0) {
                out.write(b);
                return;
            }
            for (byte x : b) {
                out.write(x);
                out.flush();
                try {
                    Thread.sleep(every);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }
}
