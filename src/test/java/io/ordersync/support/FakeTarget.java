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
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real HTTP server on loopback playing the external system: in-memory collections with lookup by any
 * field, create, patch, put; it records every request and can be told to fail.
 */
public final class FakeTarget implements AutoCloseable {

    /** One request as the target saw it. */
    public record Request(String method, String path, String query, String body, String authorization, Instant at,
                          Map<String, String> headers) {
        public String header(String name) {
            return headers.get(name.toLowerCase());
        }
    }

    /** A scripted failure: the next {@code count} matching requests get this status. */
    private record Failure(String pathPrefix, int status, String retryAfter, long stallMs) {
    }

    private static final ObjectMapper MAPPER = new ObjectMapper();

    static {
        // without TCP_NODELAY the JDK server's header and body writes meet the client's delayed ACK: 40 ms a response
        System.setProperty("sun.net.httpserver.nodelay", "true");
    }

    private final HttpServer server;
    private final Map<String, Map<String, ObjectNode>> collections;
    private final List<Request> requests = Collections.synchronizedList(new ArrayList<>());
    private final List<Failure> failures = Collections.synchronizedList(new ArrayList<>());
    private final AtomicLong ids;
    private volatile String expectedAuthorization;
    private volatile java.util.function.Predicate<String> authorizationCheck;
    private volatile String conflictField;
    private final java.util.concurrent.atomic.AtomicInteger missLookups = new java.util.concurrent.atomic.AtomicInteger();
    private volatile int permanentStatus;
    private volatile double randomFailureRate;
    private volatile double randomStallRate;
    private volatile long randomStallMs;
    private final java.util.Random random = new java.util.Random(42);
    /** Responses with Retry-After: when each was sent and the time it named. */
    private final List<Instant[]> retryAfters = Collections.synchronizedList(new ArrayList<>());

    /**
     * A target on a port of this test JVM's range (Ports): {@link #reopen} binds the same port again after an outage,
     * which a port of the ephemeral range (port 0) would not be sure of, the other test JVM or an outgoing connection
     * having taken it meanwhile.
     */
    public FakeTarget() throws IOException {
        this(Ports.free());
    }

    /** A target on a fixed port (0: any). */
    public FakeTarget(int port) throws IOException {
        this(port, new ConcurrentHashMap<>(), new AtomicLong(1000));
    }

    private FakeTarget(int port, Map<String, Map<String, ObjectNode>> collections, AtomicLong ids) throws IOException {
        this.collections = collections;
        this.ids = ids;
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.setExecutor(Executors.newFixedThreadPool(8));
        server.createContext("/", this::handle);
        server.start();
        this.port = server.getAddress().getPort();
    }

    public String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /**
     * Creates with an {@code Idempotency-Key} already seen return the object created the first time instead
     * of a new one, as APIs that support idempotency keys do (off by default: most tests prove what ordersync
     * achieves without it).
     */
    public FakeTarget honourIdempotencyKeys() {
        this.honourKeys = true;
        return this;
    }

    /** How many creates were answered with the object of an earlier create with the same key. */
    public int replayedCreates() {
        return replayed.get();
    }

    private volatile boolean honourKeys;
    private final Map<String, ObjectNode> byKey = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicInteger replayed = new java.util.concurrent.atomic.AtomicInteger();

    /** Whether every request is kept for {@link #requests()} (off for long benchmark runs). */
    public FakeTarget recordRequests(boolean on) {
        this.recording = on;
        return this;
    }

    private volatile boolean recording = true;
    /** Per collection: "field\0value" to the ids of the objects with that value, for lookups by field. */
    private final Map<String, Map<String, java.util.Set<String>>> indexes = new ConcurrentHashMap<>();
    private final AtomicLong served = new AtomicLong();

    private void index(String coll, ObjectNode o, boolean add) {
        Map<String, java.util.Set<String>> index = indexes.computeIfAbsent(coll, k -> new ConcurrentHashMap<>());
        String id = o.path("id").asText();
        o.fields().forEachRemaining(e -> {
            if (e.getValue().isValueNode()) {
                String key = e.getKey() + "\0" + e.getValue().asText();
                if (add) {
                    index.computeIfAbsent(key, k -> new java.util.LinkedHashSet<>()).add(id);
                } else {
                    java.util.Set<String> ids = index.get(key);
                    if (ids != null) {
                        ids.remove(id);
                    }
                }
            }
        });
    }

    public FakeTarget requireAuthorization(String value) {
        this.expectedAuthorization = value;
        return this;
    }

    /** A create whose {@code field} value an object of the collection has already is answered 409 (as most APIs do). */
    public FakeTarget conflictOnCreate(String field) {
        this.conflictField = field;
        return this;
    }

    /** The next {@code n} lookups find nothing (a search index that lags behind the writes). */
    public FakeTarget missNextLookups(int n) {
        missLookups.set(n);
        return this;
    }

    /** Every request's Authorization header must pass this check (an OAuth2 access token, say), or it is a 401. */
    public FakeTarget requireAuthorization(java.util.function.Predicate<String> check) {
        this.authorizationCheck = check;
        return this;
    }

    /**
     * The next {@code count} requests whose path starts with {@code pathPrefix} fail with {@code status}; a prefix
     * with a method ("POST /contacts") fails only requests of that method.
     */
    public FakeTarget failNext(int count, String pathPrefix, int status, String retryAfter) {
        for (int i = 0; i < count; i++) {
            failures.add(new Failure(pathPrefix, status, retryAfter, 0));
        }
        return this;
    }

    /** The next matching request waits {@code ms}, then fails with {@code status} and Retry-After (a slow 429). */
    public FakeTarget failNextSlowly(String pathPrefix, int status, String retryAfter, long ms) {
        failures.add(new Failure(pathPrefix, status, retryAfter, ms));
        return this;
    }

    /** The next {@code count} requests wait {@code ms} before answering (to exceed a response timeout). */
    public FakeTarget stallNext(int count, String pathPrefix, long ms) {
        for (int i = 0; i < count; i++) {
            failures.add(new Failure(pathPrefix, 0, null, ms));
        }
        return this;
    }

    /**
     * Random faults: {@code failureRate} of the requests get 503, or 429 with Retry-After: 1 (half each);
     * {@code stallRate} of them wait {@code stallMs} first. Seeded, so a run is repeatable.
     */
    public FakeTarget randomFaults(double failureRate, double stallRate, long stallMs) {
        this.randomFailureRate = failureRate;
        this.randomStallRate = stallRate;
        this.randomStallMs = stallMs;
        return this;
    }

    public List<Instant[]> retryAfters() {
        synchronized (retryAfters) {
            return new ArrayList<>(retryAfters);
        }
    }

    public int port() {
        return server.getAddress().getPort();
    }

    /** The same system back after an outage: a new server on the same port, with the same objects. */
    public FakeTarget reopen() throws IOException {
        FakeTarget back = new FakeTarget(port, collections, ids);
        back.expectedAuthorization = expectedAuthorization;
        back.randomFaults(randomFailureRate, randomStallRate, randomStallMs);
        back.honourKeys = honourKeys;
        back.byKey.putAll(byKey);
        return back;
    }

    private int port;

    /** Every request fails with this status until set to 0. */
    public FakeTarget failAlways(int status) {
        this.permanentStatus = status;
        return this;
    }

    public List<Request> requests() {
        synchronized (requests) {
            return new ArrayList<>(requests);
        }
    }

    public List<Request> writes() {
        List<Request> out = new ArrayList<>();
        for (Request r : requests()) {
            if (!r.method().equals("GET")) {
                out.add(r);
            }
        }
        return out;
    }

    /** Forgets every object (someone emptied the target), as {@code POST /_reset} does. */
    public void clearObjects() {
        collections.clear();
        indexes.clear();
    }

    public void clearRequests() {
        requests.clear();
    }

    /** The objects of a collection, e.g. {@code contacts}. */
    public List<ObjectNode> objects(String collection) {
        return new ArrayList<>(collections.getOrDefault(collection, Map.of()).values());
    }

    /** Puts an object into the target directly, as if someone had created it there. */
    public ObjectNode put(String collection, ObjectNode node) {
        String id = node.hasNonNull("id") ? node.get("id").asText() : String.valueOf(ids.incrementAndGet());
        node.put("id", id);
        Map<String, ObjectNode> objects = collections.computeIfAbsent(collection, k -> new ConcurrentHashMap<>());
        synchronized (objects) {
            objects.put(id, node);
            index(collection, node, true);
        }
        return node;
    }

    /**
     * Counts requests for one order that overlap in time: the requests of one sync run one after another, so an
     * overlap means the order was being synced twice at once (two instances holding it). Orders are recognised
     * by the test fixtures' keys: e-mail {@code o<n>@...} and ticket id {@code O<n>-<position>}.
     */
    public FakeTarget trackOverlaps() {
        this.trackOverlaps = true;
        return this;
    }

    private final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.atomic.AtomicInteger maxInFlight = new java.util.concurrent.atomic.AtomicInteger();

    /** The most requests that were being answered at once (counted until just before each answer is sent), since the start. */
    public int maxInFlight() {
        return maxInFlight.get();
    }

    /** How many requests arrived while another request for the same order was being answered. */
    public int overlaps() {
        return overlaps.get();
    }

    private static final java.util.regex.Pattern ORDER_KEY = java.util.regex.Pattern.compile("\\b[oO](\\d+)(?:@|%40|-\\d)");
    private volatile boolean trackOverlaps;
    private final java.util.concurrent.atomic.AtomicInteger overlaps = new java.util.concurrent.atomic.AtomicInteger();
    private final Map<String, java.util.concurrent.atomic.AtomicInteger> busy = new ConcurrentHashMap<>();

    private String orderKey(String path, String query, String body) {
        java.util.regex.Matcher m = ORDER_KEY.matcher((query == null ? "" : query) + " " + body);
        if (m.find()) {
            return m.group(1);
        }
        String[] parts = path.replaceFirst("^/", "").split("/");
        if (parts.length == 2) {
            ObjectNode o = collections.getOrDefault(parts[0], Map.of()).get(parts[1]);
            if (o != null) {
                m = ORDER_KEY.matcher(o.toString());
                if (m.find()) {
                    return m.group(1);
                }
            }
        }
        return null;
    }

    private void handle(HttpExchange ex) throws IOException {
        String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        String path = ex.getRequestURI().getPath();
        String query = ex.getRequestURI().getRawQuery();
        if (path.equals("/_await") && ex.getRequestMethod().equals("GET")) {
            awaitCount(ex, parseQuery(query));
            return;
        }
        String key = trackOverlaps ? orderKey(path, query, body) : null;
        java.util.concurrent.atomic.AtomicInteger counter = key == null ? null : busy.computeIfAbsent(key, k -> new java.util.concurrent.atomic.AtomicInteger());
        if (counter != null && counter.incrementAndGet() > 1) {
            overlaps.incrementAndGet();
        }
        CURRENT.set(counter);
        int now = inFlight.incrementAndGet();
        maxInFlight.accumulateAndGet(now, Math::max);
        IN_FLIGHT.set(inFlight);
        try {
            handle(ex, body, path, query);
        } finally {
            leave();
        }
    }

    /** A {@code GET /_await}: answered once {@code collection} holds {@code count} objects (or at its timeout). */
    private record Await(String collection, long count, java.util.concurrent.CountDownLatch reached) {
        void check(String coll, long size) {
            if (coll.equals(collection) && size >= count) {
                reached.countDown();
            }
        }
    }

    private final List<Await> awaits = new java.util.concurrent.CopyOnWriteArrayList<>();

    /**
     * {@code GET /_await?collection=tickets&count=N&timeoutMs=T}: answers {@code {"count": n}} as soon as the
     * collection holds N objects, or after T ms with what it holds then. The benchmarks wait with one such
     * request instead of polling {@code /_stats} from the measured JVM. The wait runs on a thread of its own,
     * so it takes none of the threads that serve the load.
     */
    private void awaitCount(HttpExchange ex, Map<String, String> q) throws IOException {
        if (expectedAuthorization != null && !expectedAuthorization.equals(ex.getRequestHeaders().getFirst("Authorization"))) {
            try (ex) {
                send(ex, 401, "{\"error\":\"unauthorized\"}");
            }
            return;
        }
        String coll = q.getOrDefault("collection", "");
        long count;
        long timeoutMs;
        try {
            count = Long.parseLong(q.getOrDefault("count", ""));
            timeoutMs = Long.parseLong(q.getOrDefault("timeoutMs", "60000"));
        } catch (NumberFormatException e) {
            try (ex) {
                send(ex, 400, "{\"error\":\"count and timeoutMs must be numbers\"}");
            }
            return;
        }
        Await w = new Await(coll, count, new java.util.concurrent.CountDownLatch(1));
        awaits.add(w);
        w.check(coll, collections.getOrDefault(coll, Map.of()).size());
        Thread t = new Thread(() -> {
            try (ex) {
                w.reached().await(timeoutMs, java.util.concurrent.TimeUnit.MILLISECONDS);
                awaits.remove(w);
                send(ex, 200, "{\"count\":" + collections.getOrDefault(coll, Map.of()).size() + "}");
            } catch (IOException | InterruptedException e) {
                awaits.remove(w);
            }
        }, "fake-target-await");
        t.setDaemon(true);
        t.start();
    }

    /** The order's busy counter of the request this thread answers; released just before the response goes out. */
    private static final ThreadLocal<java.util.concurrent.atomic.AtomicInteger> CURRENT = new ThreadLocal<>();

    /** The in-flight count of the target whose request this thread answers; also released before the response. */
    private static final ThreadLocal<java.util.concurrent.atomic.AtomicInteger> IN_FLIGHT = new ThreadLocal<>();

    private static void leave() {
        java.util.concurrent.atomic.AtomicInteger counter = CURRENT.get();
        if (counter != null) {
            counter.decrementAndGet();
            CURRENT.remove();
        }
        // before the response goes out: the client may send its next request the moment it has the answer
        java.util.concurrent.atomic.AtomicInteger busy = IN_FLIGHT.get();
        if (busy != null) {
            busy.decrementAndGet();
            IN_FLIGHT.remove();
        }
    }

    /** Every response sets this cookie (null: none), as a target behind a session or load balancer cookie would. */
    public FakeTarget setCookieOnResponses(String cookie) {
        this.setCookie = cookie;
        return this;
    }

    /** The client connections requests came on (remote address and port), in the order first seen. */
    public java.util.Set<String> connections() {
        return connections;
    }

    private volatile String setCookie;
    private final java.util.Set<String> connections = Collections.synchronizedSet(new java.util.LinkedHashSet<>());

    private void handle(HttpExchange ex, String body, String path, String query) throws IOException {
        try (ex) {
            connections.add(String.valueOf(ex.getRemoteAddress()));
            if (setCookie != null) {
                ex.getResponseHeaders().add("Set-Cookie", setCookie);
            }
            Map<String, String> headers = new LinkedHashMap<>();
            ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(), v.get(0)));
            if (recording) {
                requests.add(new Request(ex.getRequestMethod(), path, query, body,
                        ex.getRequestHeaders().getFirst("Authorization"), Instant.now(), headers));
            }
            Failure f = nextFailure(ex.getRequestMethod(), path);
            if (f != null && f.stallMs() > 0) {
                try {
                    Thread.sleep(f.stallMs());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (f != null && f.status() != 0) {
                if (f.retryAfter() != null) {
                    ex.getResponseHeaders().add("Retry-After", f.retryAfter());
                }
                send(ex, f.status(), f.status() == 200 ? "<html>not json</html>" : "{\"error\":\"scripted failure\"}");
                return;
            }
            double roll;
            synchronized (random) {
                roll = random.nextDouble();
            }
            if (roll < randomFailureRate) {
                if (roll < randomFailureRate / 2) {
                    Instant now = Instant.now();
                    retryAfters.add(new Instant[]{now, now.plusSeconds(1)});
                    ex.getResponseHeaders().add("Retry-After", "1");
                    send(ex, 429, "{\"error\":\"slow down\"}");
                } else {
                    send(ex, 503, "{\"error\":\"random failure\"}");
                }
                return;
            }
            if (roll > 1 - randomStallRate) {
                try {
                    Thread.sleep(randomStallMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (permanentStatus > 0) {
                send(ex, permanentStatus, "{\"error\":\"always failing\"}");
                return;
            }
            if ((expectedAuthorization != null && !expectedAuthorization.equals(ex.getRequestHeaders().getFirst("Authorization")))
                    || (authorizationCheck != null && !authorizationCheck.test(ex.getRequestHeaders().getFirst("Authorization")))) {
                send(ex, 401, "{\"error\":\"unauthorized\"}");
                return;
            }
            Failure applied = null;
            if (ex.getRequestMethod().equals("POST")) {
                synchronized (appliedFailures) {
                    for (int i = 0; i < appliedFailures.size() && applied == null; i++) {
                        if (path.startsWith(appliedFailures.get(i).pathPrefix())) {
                            applied = appliedFailures.remove(i);
                        }
                    }
                }
            }
            if (applied != null) {
                ANSWER_INSTEAD.set(applied.status());
            }
            try {
                route(ex, path, query, body);
            } finally {
                ANSWER_INSTEAD.remove();
            }
        }
    }

    /** The first scripted failure for this request: its prefix is a path ("/contacts") or a method and a path ("POST /contacts"). */
    private Failure nextFailure(String method, String path) {
        synchronized (failures) {
            for (int i = 0; i < failures.size(); i++) {
                String prefix = failures.get(i).pathPrefix();
                if (prefix.startsWith("/") ? path.startsWith(prefix) : (method + " " + path).startsWith(prefix)) {
                    return failures.remove(i);
                }
            }
        }
        return null;
    }

    private void route(HttpExchange ex, String path, String query, String body) throws IOException {
        if (path.equals("/_stats")) {
            ObjectNode out = MAPPER.createObjectNode();
            collections.forEach((k, v) -> out.put(k, v.size()));
            out.put("_requests", served.get());
            out.put("_connections", connections.size());
            send(ex, 200, out.toString());
            return;
        }
        if (path.equals("/_reset") && ex.getRequestMethod().equals("POST")) {
            collections.clear();
            indexes.clear();
            requests.clear();
            served.set(0);
            connections.clear();
            send(ex, 200, "{}");
            return;
        }
        served.incrementAndGet();
        String[] parts = path.replaceFirst("^/", "").split("/");
        String coll = parts[0];
        Map<String, ObjectNode> objects = collections.computeIfAbsent(coll, k -> new ConcurrentHashMap<>());
        String method = ex.getRequestMethod();
        synchronized (objects) {
            if (parts.length == 1 && method.equals("GET")) {
                Map<String, String> filter = parseQuery(query);
                ArrayNode results = MAPPER.createArrayNode();
                java.util.Collection<ObjectNode> candidates = objects.values();
                if (!filter.isEmpty()) {
                    Map.Entry<String, String> first = filter.entrySet().iterator().next();
                    java.util.Set<String> ids = indexes.getOrDefault(coll, Map.of()).getOrDefault(first.getKey() + "\0" + first.getValue(), java.util.Set.of());
                    candidates = new ArrayList<>();
                    for (String id : ids) {
                        ObjectNode o = objects.get(id);
                        if (o != null) {
                            candidates.add(o);
                        }
                    }
                }
                for (ObjectNode o : candidates) {
                    boolean match = true;
                    for (Map.Entry<String, String> e : filter.entrySet()) {
                        if (!o.has(e.getKey()) || !o.get(e.getKey()).asText().equals(e.getValue())) {
                            match = false;
                        }
                    }
                    if (match) {
                        results.add(o);
                    }
                }
                if (!filter.isEmpty() && missLookups.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                    results = MAPPER.createArrayNode();
                }
                ObjectNode out = MAPPER.createObjectNode();
                out.set("results", results);
                send(ex, 200, out.toString());
            } else if (parts.length == 1 && method.equals("POST")) {
                String key = honourKeys ? ex.getRequestHeaders().getFirst("Idempotency-Key") : null;
                if (key != null && byKey.containsKey(coll + " " + key)) {
                    replayed.incrementAndGet();
                    send(ex, 201, byKey.get(coll + " " + key).toString());
                    return;
                }
                ObjectNode o = (ObjectNode) MAPPER.readTree(body);
                String unique = conflictField;
                if (unique != null && o.hasNonNull(unique) && objects.values().stream()
                        .anyMatch(x -> x.path(unique).asText().equals(o.path(unique).asText()))) {
                    send(ex, 409, "{\"error\":\"a " + coll + " with this " + unique + " exists\"}");
                    return;
                }
                if (key != null) {
                    byKey.put(coll + " " + key, o);
                }
                o.put("id", String.valueOf(ids.incrementAndGet()));
                objects.put(o.get("id").asText(), o);
                index(coll, o, true);
                if (!awaits.isEmpty()) {
                    awaits.forEach(w -> w.check(coll, objects.size()));
                }
                send(ex, 201, o.toString());
            } else if (parts.length == 2 && method.equals("GET")) {
                ObjectNode o = objects.get(parts[1]);
                send(ex, o == null ? 404 : 200, o == null ? "{\"error\":\"not found\"}" : o.toString());
            } else if (parts.length == 2 && method.equals("PATCH")) {
                ObjectNode o = objects.get(parts[1]);
                if (o == null) {
                    send(ex, 404, "{\"error\":\"not found\"}");
                    return;
                }
                JsonNode patch = MAPPER.readTree(body);
                index(coll, o, false);
                patch.fields().forEachRemaining(e -> o.set(e.getKey(), e.getValue()));
                index(coll, o, true);
                send(ex, 200, o.toString());
            } else if (parts.length == 2 && method.equals("DELETE")) {
                ObjectNode o = objects.remove(parts[1]);
                if (o == null) {
                    send(ex, 404, "{\"error\":\"not found\"}");
                    return;
                }
                index(coll, o, false);
                send(ex, 200, "{}");
            } else if (parts.length == 2 && method.equals("PUT")) {
                // upsert by key: the path segment is the object's key (e.g. an e-mail)
                String key = URLDecoder.decode(parts[1], StandardCharsets.UTF_8);
                ObjectNode existing = objects.get(key);
                ObjectNode o = existing != null ? existing : MAPPER.createObjectNode();
                if (existing != null) {
                    index(coll, o, false);
                }
                JsonNode in = MAPPER.readTree(body);
                in.fields().forEachRemaining(e -> o.set(e.getKey(), e.getValue()));
                o.put("id", key);
                objects.put(key, o);
                index(coll, o, true);
                send(ex, existing == null ? 201 : 200, o.toString());
            } else {
                send(ex, 405, "{\"error\":\"method not allowed\"}");
            }
        }
    }

    private static Map<String, String> parseQuery(String query) {
        Map<String, String> out = new LinkedHashMap<>();
        if (query == null || query.isEmpty()) {
            return out;
        }
        for (String pair : query.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0) {
                out.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
                        URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    /** Set while a request is applied whose answer is then replaced by a failure (see {@link #applyThenFailNext}). */
    private static final ThreadLocal<Integer> ANSWER_INSTEAD = new ThreadLocal<>();

    /**
     * The next {@code count} POSTs whose path starts with {@code pathPrefix} are applied (the object is created)
     * but answered with {@code status}: the gateway in front of a target that timed out after the work was done.
     */
    public FakeTarget applyThenFailNext(int count, String pathPrefix, int status) {
        synchronized (appliedFailures) {
            for (int i = 0; i < count; i++) {
                appliedFailures.add(new Failure(pathPrefix, status, null, 0));
            }
        }
        return this;
    }

    private final List<Failure> appliedFailures = new ArrayList<>();

    private static void send(HttpExchange ex, int status, String body) throws IOException {
        Integer instead = ANSWER_INSTEAD.get();
        if (instead != null) {
            status = instead;
            body = "{\"error\":\"bad gateway (the request was applied)\"}";
        }
        leave();
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
