package io.ordersync.delivery;

import io.ordersync.mapping.MappingConfigException;
import io.ordersync.mapping.Provider;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.ops.SyncMetrics;
import io.ordersync.order.InvalidDocumentException;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.OrderStore;
import io.ordersync.order.ParsedDocuments;
import io.ordersync.queue.QueueEntry;
import io.ordersync.spi.SyncProvider;
import io.ordersync.spi.SyncProviders;
import org.apache.camel.Exchange;
import org.apache.camel.ExchangePattern;
import org.apache.camel.ExchangePropertyKey;
import org.apache.camel.Message;
import org.apache.camel.component.http.HttpMethods;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import io.ordersync.order.AttemptLog;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeoutException;

/**
 * The steps of the provider routes ({@code routes/provider.camel.yaml}) that need Java: each is a small
 * adapter between the exchange and the decisions of {@link Sync}, or a classification of what a target
 * answered. The flow itself (the loop over objects, lookup, write, throttle, circuit breaker, the call of
 * the target) is in the route file.
 */
public final class DeliverySteps {

    /** Exchange property holding the {@link QueueEntry} being synced. */
    public static final String ENTRY = "ordersync.entry";
    /** Exchange property: whether any try of this queue row sent a request (an AtomicBoolean, kept across redeliveries). */
    public static final String SENT = "ordersync.sent";
    /** Exchange property: whether a 401 already made this sync fetch a new OAuth2 token (an AtomicBoolean, kept across redeliveries). */
    public static final String OAUTH2_RETRIED = "ordersync.oauth2.retried";
    /** Exchange property: the OAuth2 token the request was sent with. */
    static final String OAUTH2_TOKEN = "ordersync.oauth2.token";
    /**
     * Exchange property, set by the last step of provider-&lt;id&gt;-sync: the sync went through to its end (every
     * request answered as it should be). A stop that cuts the provider route before its outcome step stores the
     * success then, instead of handing the row back to be sent again.
     */
    public static final String SYNCED = "ordersyncSynced";
    /** Exchange property: whether the step before asked for a request to be sent (read by the route). */
    public static final String SEND = "ordersyncSend";
    /** Exchange property: the tries of this sync (a list of AttemptLog.Attempt, kept across redeliveries), stored with its outcome. */
    public static final String ATTEMPTS = "ordersync.attempts";
    /** Exchange property: System.nanoTime() when the current request was handed to the target. */
    static final String STARTED = "ordersync.attempt.started";
    /** Headers a route provider's route can set to report the remote object. */
    public static final String REMOTE_ID = "OrdersyncRemoteId";
    public static final String EXTERNAL_LINK = "OrdersyncExternalLink";

    private final ProviderRegistry providers;
    private final OrderStore store;
    private final ParsedDocuments documents;
    private final ProviderGate gate;
    private final SyncMetrics metrics;
    private final SyncProviders javaProviders;
    private final Duration maxInProcessRetryAfter;
    private final Duration maxRetryAfter;
    private final OAuth2Tokens tokens;
    private final java.util.function.LongFunction<String> claimedSnapshots;

    /** The database's time, read here (DatabaseClock): every time the queue stores or compares. */
    private final java.time.Clock clock;

    /**
     * {@code claimedSnapshots}: the snapshot a row's claim read, by row id ({@code Dispatcher::takeSnapshot}); null
     * where there is none, and the sync reads the order's snapshot itself.
     */
    public DeliverySteps(ProviderRegistry providers, OrderStore store, ParsedDocuments documents, ProviderGate gate,
                         SyncMetrics metrics, SyncProviders javaProviders, Duration maxInProcessRetryAfter, Duration maxRetryAfter,
                         OAuth2Tokens tokens, java.util.function.LongFunction<String> claimedSnapshots,
                         java.time.Clock clock) {
        this.clock = clock;
        this.tokens = tokens;
        this.claimedSnapshots = claimedSnapshots;
        this.providers = providers;
        this.store = store;
        this.documents = documents;
        this.gate = gate;
        this.metrics = metrics;
        this.javaProviders = javaProviders;
        this.maxInProcessRetryAfter = maxInProcessRetryAfter;
        this.maxRetryAfter = maxRetryAfter;
    }

    /**
     * Binds the steps under the names routes/provider.camel.yaml and errors.camel.yaml use: each as a Processor,
     * called directly, without the bean binding of a bean step on every request; and this object for the loop's
     * condition and the Java provider's call.
     */
    public void bindInto(org.apache.camel.spi.Registry r) {
        r.bind("ordersync.delivery", this);
        r.bind("ordersync.delivery.begin", (org.apache.camel.Processor) this::begin);
        // the loop's condition, for the ref language: a method-call expression copies the exchange on every call
        r.bind("ordersync.delivery.nextObject", (org.apache.camel.Predicate) this::nextObject);
        r.bind("ordersync.delivery.lookup", (org.apache.camel.Processor) this::lookup);
        r.bind("ordersync.delivery.decide", (org.apache.camel.Processor) this::decide);
        r.bind("ordersync.delivery.record", (org.apache.camel.Processor) this::record);
        r.bind("ordersync.delivery.finish", (org.apache.camel.Processor) this::finish);
        r.bind("ordersync.delivery.admit", (org.apache.camel.Processor) this::admit);
        r.bind("ordersync.delivery.prepare", (org.apache.camel.Processor) this::prepare);
        r.bind("ordersync.delivery.failed", (org.apache.camel.Processor) this::failed);
        r.bind("ordersync.delivery.received", (org.apache.camel.Processor) this::received);
        r.bind("ordersync.delivery.afterBreaker", (org.apache.camel.Processor) this::afterBreaker);
        r.bind("ordersync.retryAfterDelay", (org.apache.camel.Processor) this::retryAfterDelay);
    }

    private static Sync sync(Exchange exchange) {
        return exchange.getProperty(Sync.PROPERTY, Sync.class);
    }

    // ---- the provider route ----

    /** Whether any try of the exchange's queue row sent a request: made at its first use, kept across redeliveries. */
    public static java.util.concurrent.atomic.AtomicBoolean sentFlag(Exchange exchange) {
        java.util.concurrent.atomic.AtomicBoolean sent = exchange.getProperty(SENT, java.util.concurrent.atomic.AtomicBoolean.class);
        if (sent == null) {
            sent = new java.util.concurrent.atomic.AtomicBoolean();
            exchange.setProperty(SENT, sent);
        }
        return sent;
    }

    /** Loads the order's newest snapshot and plans its objects for the provider's current version. */
    public void begin(Exchange exchange) {
        if (Preview.of(exchange)) {
            // a preview brings its sync (a document, maybe an unsaved mapping) with it
            return;
        }
        // a redelivery starts the sync again: the row is in the property by then, the body is an answer
        exchange.removeProperty(SYNCED);
        QueueEntry entry = exchange.getProperty(ENTRY, QueueEntry.class);
        if (entry == null) {
            entry = exchange.getIn().getBody(QueueEntry.class);
            exchange.setProperty(ENTRY, entry);
        }
        if (exchange.getProperty(OAUTH2_RETRIED) == null) {
            exchange.setProperty(OAUTH2_RETRIED, new java.util.concurrent.atomic.AtomicBoolean());
        }
        java.util.concurrent.atomic.AtomicBoolean sent = sentFlag(exchange);
        if (exchange.getProperty(ATTEMPTS) == null) {
            // made here, outside the circuit breaker: the breaker runs the call on a copy of the exchange, which
            // shares this list but would drop a property it set itself when the call fails
            exchange.setProperty(ATTEMPTS, java.util.Collections.synchronizedList(new java.util.ArrayList<AttemptLog.Attempt>()));
        }
        Provider provider = providers.active(entry.provider());
        if (provider == null) {
            throw new MappingConfigException("provider '" + entry.provider() + "' is not active: "
                    + String.join("; ", providers.errors(entry.provider())));
        }
        // the first start of a claimed row's sync: the snapshot its claim read (taken once); a redelivery reads the
        // newest. A provider with a filter always reads the newest: an event that makes the order fail the filter
        // after the claim (a cancellation, a consent withdrawn) queues no sibling row that would sync it later
        String claimed = claimedSnapshots.apply(entry.id());
        String json = provider.filter().isEmpty() ? claimed : null;
        if (json == null) {
            json = store.snapshot(entry.eventSlug(), entry.orderCode());
        }
        if (json == null) {
            throw new IllegalStateException("no snapshot stored for order " + entry.eventSlug() + "/" + entry.orderCode());
        }
        OrderDocument doc;
        try {
            doc = documents.parse(entry.eventSlug(), entry.orderCode(), json);
        } catch (InvalidDocumentException e) {
            throw new IllegalStateException("stored snapshot no longer parses: " + e.getMessage(), e);
        }
        // the provider's filter, or during a deploy that changes it the version another live instance runs: an order
        // the new version of a widened filter takes is not dropped by an instance that still runs the old one
        boolean passes = io.ordersync.mapping.Filters.orderMatches(provider.filter(), doc)
                || providers.admittedElsewhere(provider.identifier(), doc);
        // a redelivery: the objects the failed try wrote go with this one's outcome
        Sync earlier = exchange.getProperty(Sync.PROPERTY, Sync.class);
        exchange.setProperty(Sync.PROPERTY, new Sync(provider, doc, sent, passes, earlier == null ? List.of() : earlier.written())
                .clock(clock));
    }

    /** The loop's condition: moves to the next object; false when all are done. */
    public boolean nextObject(Exchange exchange) {
        return sync(exchange).nextObject();
    }

    public void lookup(Exchange exchange) {
        exchange.setProperty(SEND, sync(exchange).lookup() != null);
    }

    public void decide(Exchange exchange) throws Exception {
        exchange.setProperty(SEND, sync(exchange).decide() != null);
    }

    public void record(Exchange exchange) {
        sync(exchange).record();
    }

    public void finish(Exchange exchange) throws Exception {
        exchange.setProperty(SEND, sync(exchange).finish() != null);
    }

    // ---- the provider-call route ----

    /**
     * The circuit breaker's flags of the previous call of this sync, which must not be read as this call's. By
     * name, in one step: a removeProperties pattern compiled a regular expression for every property of every call
     * (9 % of ordersync's CPU in the e2e profile), and seven removeProperty steps were seven more steps per call.
     */
    private static final String[] BREAKER_FLAGS = {"CamelCircuitBreakerState", "CamelCircuitBreakerSuccessfulExecution",
            "CamelCircuitBreakerResponseFromFallback", "CamelCircuitBreakerResponseShortCircuited",
            "CamelCircuitBreakerResponseTimedOut", "CamelCircuitBreakerResponseRejected", "CamelCircuitBreakerResponseIgnored"};

    /**
     * Clears the previous call's circuit breaker flags; no request while the target's Retry-After pause lasts (the
     * row waits, no attempt counted).
     */
    public void admit(Exchange exchange) {
        for (String flag : BREAKER_FLAGS) {
            exchange.removeProperty(flag);
        }
        if (Preview.of(exchange)) {
            // a preview sends nothing: the provider's pause is not its business
            return;
        }
        Provider p = sync(exchange).provider();
        Instant paused = gate.pausedUntil(p.identifier(), clock.instant());
        if (paused != null) {
            throw new DeferredDeliveryException("target asked for a pause (Retry-After) until " + paused
                    + "; no request sent", paused, false);
        }
    }

    /**
     * Puts the request into the message, as the target's endpoint expects it: for HTTP the method, URL, query,
     * the provider's headers and the JSON body; for an endpoint the JSON with its headers; for a route the
     * mapped object (a map) with headers naming it.
     */
    public void prepare(Exchange exchange) {
        Sync s = sync(exchange);
        Provider p = s.provider();
        Transport.Request req = s.request();
        Message in = exchange.getIn();
        // nothing of an earlier answer (its headers) may travel with this request
        in.getHeaders().clear();
        in.setBody(null);
        s.markSent();
        if (!Preview.of(exchange)) {
            exchange.setProperty(STARTED, System.nanoTime());
        }
        switch (p.kind()) {
            case HTTP, WEBHOOK -> {
                exchange.setPattern(ExchangePattern.InOut);
                String url = p.baseUrl() + req.path();
                int q = url.indexOf('?');
                // the enum itself: a String would go through a type-converter lookup on every request
                in.setHeader(Exchange.HTTP_METHOD, HttpMethods.valueOf(req.method()));
                in.setHeader(Exchange.HTTP_URI, q < 0 ? url : url.substring(0, q));
                if (q >= 0) {
                    in.setHeader(Exchange.HTTP_QUERY, url.substring(q + 1));
                }
                in.setHeader("Accept", "application/json");
                p.headers().forEach(in::setHeader);
                if (p.oauth2() != null && !Preview.of(exchange)) {
                    String token = tokens.token(p.oauth2(), Duration.ofMillis(p.responseTimeoutMs()));
                    exchange.setProperty(OAUTH2_TOKEN, token);
                    in.setHeader("Authorization", "Bearer " + token);
                }
                req.headers().forEach(in::setHeader);
                if ("POST".equals(req.method()) && req.idValue() != null) {
                    // targets that honour idempotency keys (Stripe-style) make a repeated create a no-op
                    in.setHeader("Idempotency-Key", idempotencyKey(p, req));
                }
                if (req.body() != null) {
                    in.setHeader(Exchange.CONTENT_TYPE, "application/json; charset=utf-8");
                    in.setBody(req.body());
                }
            }
            case ENDPOINT -> {
                exchange.setPattern(ExchangePattern.InOnly);
                in.setHeader(Exchange.CONTENT_TYPE, "application/json");
                req.headers().forEach(in::setHeader);
                in.setBody(req.body());
            }
            case ROUTE, JAVA -> {
                exchange.setPattern(ExchangePattern.InOut);
                SyncProvider.MappedObject o = s.mappedObject();
                in.setHeader("OrdersyncProvider", o.provider());
                in.setHeader("OrdersyncMapping", o.mapping());
                in.setHeader("OrdersyncIdValue", o.idValue());
                in.setBody(p.kind() == Provider.Kind.JAVA ? o : asMap(o));
            }
        }
    }

    /** The mapped object as a route receives it: a map that marshals to JSON as it reads. */
    static Map<String, Object> asMap(SyncProvider.MappedObject o) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("provider", o.provider());
        m.put("event", o.event());
        m.put("order", o.order());
        m.put("mapping", o.mapping());
        m.put("remote_type", o.remoteType());
        m.put("id_field", o.idField());
        m.put("id", o.idValue());
        m.put("properties", o.properties());
        Map<String, Object> earlier = new LinkedHashMap<>();
        o.earlier().forEach((k, v) -> earlier.put(k, v.stream().map(r -> {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("remote_id", r.remoteId());
            x.put("external_link", r.link());
            x.put("action", r.action());
            return x;
        }).toList()));
        m.put("earlier", earlier);
        return m;
    }

    /** The Java provider's step (the {@code to} of a kind: java provider): syncs the object in the message. */
    public Object syncJava(Exchange exchange) throws Exception {
        Sync s = sync(exchange);
        SyncProvider p = javaProviders.get(s.provider().identifier());
        if (p == null) {
            throw new MappingConfigException("no Java provider is registered as '" + s.provider().identifier() + "'");
        }
        return p.sync(exchange.getIn().getBody(SyncProvider.MappedObject.class));
    }

    /**
     * The target failed to answer (connection refused, timeout, an exception of an endpoint or route): the
     * failure, classified. A create that timed out may still be applied by the target: it is tried again only
     * after the target had a whole timeout to finish it, so the next lookup finds it.
     */
    public void failed(Exchange exchange) {
        Exception e = exchange.getProperty(ExchangePropertyKey.EXCEPTION_CAUGHT, Exception.class);
        Sync s = sync(exchange);
        RuntimeException failure = classify(s, e, clock.instant(), maxRetryAfter);
        attempt(exchange, s, null, null, failure.getMessage());
        throw paced(s.provider(), failure, clock.instant());
    }

    /** Records the try that just ended (an answer, or the error that came instead) for the sync's attempt log. */
    @SuppressWarnings("unchecked")
    private void attempt(Exchange exchange, Sync s, Integer status, String answer, String error) {
        Long started = exchange.getProperty(STARTED, Long.class);
        if (started == null || Preview.of(exchange) || s.request() == null) {
            return;
        }
        exchange.removeProperty(STARTED);
        // made by begin(), outside the circuit breaker's copy of the exchange
        List<AttemptLog.Attempt> list = exchange.getProperty(ATTEMPTS, List.class);
        if (list == null) {
            return;
        }
        Transport.Request req = s.request();
        Provider p = s.provider();
        String url = p.kind() == Provider.Kind.HTTP || p.kind() == Provider.Kind.WEBHOOK ? p.baseUrl() + req.path() : req.path();
        long latency = (System.nanoTime() - started) / 1_000_000;
        list.add(new AttemptLog.Attempt(clock.instant().minusMillis(latency), req.mappingId(), req.remoteType(),
                req.purpose() == null ? null : req.purpose().name().toLowerCase(java.util.Locale.ROOT), req.method(), url, status,
                latency, req.body(), answer, error));
    }

    /**
     * A recoverable failure that names a time (Retry-After): the whole provider pauses until then, at most
     * {@code ordersync.delivery.max-retry-after}; a wait longer than in-process redelivery may take is left to
     * the queue (no worker sleeps through it).
     */
    private RuntimeException paced(Provider p, RuntimeException failure, Instant now) {
        if (!(failure instanceof RecoverableDeliveryException r) || r.notBefore() == null) {
            return failure;
        }
        Instant retryAt = r.notBefore().isAfter(now.plus(maxRetryAfter)) ? now.plus(maxRetryAfter) : r.notBefore();
        gate.pause(p.identifier(), retryAt, now);
        if (Duration.between(now, retryAt).compareTo(maxInProcessRetryAfter) > 0) {
            return new DeferredDeliveryException(r.getMessage() + " (Retry-After until " + retryAt + ")", retryAt);
        }
        return retryAt.equals(r.notBefore()) ? r : new RecoverableDeliveryException(r.getMessage(), retryAt, r.getCause());
    }

    /**
     * The failure a thrown exception means; pure, for tests. A Retry-After is capped at {@code maxRetryAfter}, as an HTTP
     * target's is (before: at one hour for routes, endpoints and Java providers; an audit of PROVIDERS.md).
     */
    static RuntimeException classify(Sync s, Throwable e, Instant now, Duration maxRetryAfter) {
        Provider p = s.provider();
        Transport.Request req = s.request();
        if (e instanceof DeliveryException de) {
            return de;
        }
        if (e instanceof SyncProvider.Recoverable r) {
            return new RecoverableDeliveryException(e.getMessage(), r.retryAfterSeconds() > 0
                    ? RetryAfter.at(String.valueOf(r.retryAfterSeconds()), now, maxRetryAfter) : null, null);
        }
        if (e instanceof SyncProvider.Permanent) {
            return new PermanentDeliveryException(e.getMessage());
        }
        boolean timedOut = has(e, SocketTimeoutException.class) || has(e, TimeoutException.class)
                || has(e, org.apache.camel.ExchangeTimedOutException.class);
        if (p.kind() == Provider.Kind.HTTP || p.kind() == Provider.Kind.WEBHOOK) {
            String what = req.method() + " " + req.path() + " " + (timedOut ? "timed out" : "failed") + ": " + rootMessage(e);
            if (timedOut && "POST".equals(req.method())) {
                return new DeferredDeliveryException(what + "; outcome unknown, next try after the target had time to finish",
                        now.plusMillis(p.responseTimeoutMs()));
            }
            return new RecoverableDeliveryException(what, null, e);
        }
        String where = p.kind() == Provider.Kind.JAVA ? "Java provider " + p.identifier() : io.ordersync.mapping.Secrets.shownUri(p.destination().uri());
        if (has(e, org.apache.camel.component.direct.DirectConsumerNotAvailableException.class)) {
            return new MappingConfigException(where + " has no consumer: is the route that reads it loaded and started?");
        }
        org.apache.camel.http.base.HttpOperationFailedException http = find(e, org.apache.camel.http.base.HttpOperationFailedException.class);
        if (http != null) {
            return Sync.failure(p, req, new Transport.Response(http.getStatusCode(), http.getResponseBody(),
                    http.getResponseHeaders() == null ? null : http.getResponseHeaders().get("Retry-After")), now, maxRetryAfter);
        }
        String what = where + (timedOut ? " timed out: " : " failed: ") + rootMessage(e);
        if (timedOut || has(e, IOException.class) || hasNamed(e, "jakarta.jms.JMSException")
                || has(e, java.sql.SQLTransientException.class) || has(e, java.sql.SQLRecoverableException.class)
                || io.ordersync.db.Tx.isDatabaseUnavailable(e)) {
            return new RecoverableDeliveryException(what, null, e);
        }
        return new PermanentDeliveryException(what);
    }

    /**
     * The answer arrived. For HTTP: a recoverable status fails here, inside the circuit breaker, so the breaker
     * counts it; a Retry-After pauses the whole provider (no request before it), and a wait longer than
     * in-process redelivery may wait is left to the queue. Every other answer goes to the sync's decisions.
     */
    public void received(Exchange exchange) throws Exception {
        Sync s = sync(exchange);
        Provider p = s.provider();
        Message out = exchange.getMessage();
        switch (p.kind()) {
            case HTTP, WEBHOOK -> {
                Integer status = out.getHeader(Exchange.HTTP_RESPONSE_CODE, Integer.class);
                Transport.Response r = new Transport.Response(status == null ? 0 : status, out.getBody(String.class),
                        out.getHeader("Retry-After", String.class));
                attempt(exchange, s, r.status(), r.body(), null);
                if (!Preview.of(exchange)) {
                    metrics.httpResponse(p.identifier(), r.status());
                }
                if (r.status() == 0) {
                    throw new RecoverableDeliveryException(s.request().method() + " " + s.request().path()
                            + ": no HTTP status in the answer", null, null);
                }
                if (p.recoverableStatuses().contains(r.status())) {
                    throw paced(p, Sync.failure(p, s.request(), r, clock.instant(), maxRetryAfter), clock.instant());
                }
                if (r.status() == 401 && p.oauth2() != null && exchange.getProperty(OAUTH2_TOKEN) != null) {
                    // the token expired early or was revoked: a new one, and the whole sync once more
                    tokens.invalidate(p.oauth2(), exchange.getProperty(OAUTH2_TOKEN, String.class));
                    java.util.concurrent.atomic.AtomicBoolean retried = exchange.getProperty(OAUTH2_RETRIED,
                            java.util.concurrent.atomic.AtomicBoolean.class);
                    if (retried != null && !retried.getAndSet(true)) {
                        throw new RecoverableDeliveryException(s.request().method() + " " + s.request().path()
                                + " answered 401 to the OAuth2 token: a new token is fetched and the sync tried again", null, null);
                    }
                }
                // read after the breaker: an answer that does not parse is not the target being down
                s.respond(r);
            }
            case ENDPOINT -> {
                attempt(exchange, s, null, null, null);
                s.respond(new Transport.Response(200, null, null));
            }
            case ROUTE, JAVA -> {
                attempt(exchange, s, null, out.getBody() == null ? null : String.valueOf(out.getBody()), null);
                String remoteId = out.getHeader(REMOTE_ID, String.class);
                if (remoteId != null) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("remote_id", remoteId);
                    m.put("external_link", out.getHeader(EXTERNAL_LINK, String.class));
                    s.replied(m);
                } else {
                    Object body = out.getBody();
                    s.replied(body instanceof SyncProvider.Synced || body instanceof Map<?, ?> ? body : null);
                }
            }
        }
        // what travelled with the request (credentials of an endpoint, a route's own headers) stays here
        out.getHeaders().clear();
        out.setBody(null);
    }

    /** After the circuit breaker: an open breaker let nothing through, so nothing was sent and the row waits. */
    public void afterBreaker(Exchange exchange) throws Exception {
        Sync s = sync(exchange);
        if (Boolean.TRUE.equals(exchange.getProperty(ExchangePropertyKey.CIRCUIT_BREAKER_RESPONSE_SHORT_CIRCUITED, Boolean.class))) {
            Provider p = s.provider();
            throw new DeferredDeliveryException("circuit breaker open: the target kept failing; no request sent, "
                    + "a probe follows after " + p.breaker().openFor().toSeconds() + " s",
                    clock.instant().plus(p.breaker().openFor()), false);
        }
        s.answerPending();
    }

    /**
     * The error handler's {@code onExceptionOccurred}: a Retry-After short enough to wait for in-process sets
     * Camel's redelivery delay for this failure (plus a little clock slack).
     */
    public void retryAfterDelay(Exchange exchange) {
        Exception e = exchange.getException();
        exchange.getIn().removeHeader(Exchange.REDELIVERY_DELAY);
        if (e instanceof RecoverableDeliveryException r && r.notBefore() != null) {
            long ms = Math.min(Duration.between(clock.instant(), r.notBefore()).toMillis(), maxInProcessRetryAfter.toMillis());
            exchange.getIn().setHeader(Exchange.REDELIVERY_DELAY, Math.max(0, ms) + 50);
        }
    }

    /** Stable for one object of one provider: provider, mapping, id value and body, hashed. */
    static String idempotencyKey(Provider provider, Transport.Request request) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest((provider.identifier() + "\n" + request.mappingId() + "\n"
                    + request.idValue() + "\n" + request.body()).getBytes(StandardCharsets.UTF_8));
            return "ordersync-" + HexFormat.of().formatHex(h, 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static boolean has(Throwable t, Class<? extends Throwable> type) {
        return find(t, type) != null;
    }

    private static <T extends Throwable> T find(Throwable t, Class<T> type) {
        for (int i = 0; t != null && i < 20; i++, t = t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }

    private static boolean hasNamed(Throwable t, String className) {
        for (int i = 0; t != null && i < 20; i++, t = t.getCause()) {
            for (Class<?> c = t.getClass(); c != null; c = c.getSuperclass()) {
                if (c.getName().equals(className)) {
                    return true;
                }
            }
        }
        return false;
    }

    static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = root.getMessage();
        return root.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }
}
