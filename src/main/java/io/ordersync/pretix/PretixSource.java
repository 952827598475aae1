package io.ordersync.pretix;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.db.Tx;
import io.ordersync.intake.IntakeService;
import io.ordersync.mapping.Secrets;
import io.ordersync.order.InvalidDocumentException;
import io.ordersync.order.OrderStore;
import org.apache.camel.Exchange;
import org.apache.camel.ExchangePropertyKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * pretix as a source (routes/pretix.camel.yaml): the webhook intake, the steps of the fetch, poll and import
 * routes, and the import API. The truth is always what pretix's REST API answers with the token; a webhook is
 * only a trigger. Every order read goes through ordersync's intake like any other document (snapshot, queue),
 * unless ordersync already has that state of the order (same {@code last_modified}): so a webhook, a poll and
 * an import that read the same state sync it once.
 */
public final class PretixSource {

    private static final Logger LOG = LoggerFactory.getLogger(PretixSource.class);
    /** pretix order codes and event slugs as pretix allows them; anything else is not looked up. */
    private static final Pattern CODE = Pattern.compile("[A-Za-z0-9]{1,64}");
    private static final Pattern SLUG = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,199}");
    static final int MAX_WEBHOOK_BYTES = 65_536;


    /**
     * pretix's notification id is a number; a text one is taken too, within these characters (it goes into the
     * database: a NUL was a 500 on PostgreSQL, found by an attack).
     */
    static final java.util.regex.Pattern NOTIFICATION_ID = java.util.regex.Pattern.compile("[A-Za-z0-9_.:-]{1,100}");
    /** Fetches claimed at once: each may take a request timeout, all must end within the lease. */
    private static final int FETCH_BATCH = 5;
    /** Pages one poll or one run of an import reads at most (50 000 orders); more waits for the next run. */
    static final int MAX_PAGES = 1000;
    /** How long a parked fetch is listed before it is forgotten. */
    static final java.time.Duration PARKED_KEPT = java.time.Duration.ofDays(7);
    private volatile Instant nextPrune = Instant.EPOCH;

    private final PretixSettings settings;
    private final PretixStore store;
    private final PretixHttp http;
    private final PretixCatalog catalog;
    private final IntakeService intake;
    /** Reads a body with a key given twice refused (the last one won: what a proxy's log shows is not what ran). */
    private final com.fasterxml.jackson.databind.ObjectReader strict;
    private final ObjectMapper mapper;
    private final Clock clock;

    /**
     * The webhook without credentials (no ordersync.pretix.webhook-secret): posts taken per second
     * (ordersync.pretix.webhook-rate-limit; null: no limit), and the refused ones kept as rejected events (60 an
     * hour): a flood from anyone who can reach the URL costs bounded requests to pretix and bounded rows.
     */
    private final io.github.resilience4j.ratelimiter.RateLimiter anonymousRate;
    private final io.github.resilience4j.ratelimiter.RateLimiter rejectedKept = io.github.resilience4j.ratelimiter.RateLimiter.of(
            "pretix-webhook-rejected-kept", io.github.resilience4j.ratelimiter.RateLimiterConfig.custom().limitForPeriod(REJECTED_KEPT_PER_HOUR)
                    .limitRefreshPeriod(java.time.Duration.ofHours(1)).timeoutDuration(java.time.Duration.ZERO).build());
    static final int REJECTED_KEPT_PER_HOUR = 60;
    /** Fetches waiting (not parked) beyond which a webhook is answered 503: pretix retries it (5 s, 30 s, 1 min, …). */
    private final int maxWaitingFetches;
    /**
     * The count of waiting fetches, read at most once a second by one post at a time (a flood must not cost a
     * count per post, nor hold a connection each while one runs): the others use the last count.
     */
    private volatile long waitingFetches;
    private final java.util.concurrent.atomic.AtomicLong waitingReadAt = new java.util.concurrent.atomic.AtomicLong(System.nanoTime() - 2_000_000_000L);

    public PretixSource(PretixSettings settings, PretixStore store, PretixHttp http, PretixCatalog catalog, IntakeService intake,
                        ObjectMapper mapper, Clock clock) {
        this(settings, store, http, catalog, intake, mapper, clock, 0, Integer.MAX_VALUE);
    }

    public PretixSource(PretixSettings settings, PretixStore store, PretixHttp http, PretixCatalog catalog, IntakeService intake,
                        ObjectMapper mapper, Clock clock, int webhookRateLimit, int maxWaitingFetches) {
        this.anonymousRate = webhookRateLimit <= 0 ? null : io.github.resilience4j.ratelimiter.RateLimiter.of("pretix-webhook",
                io.github.resilience4j.ratelimiter.RateLimiterConfig.custom().limitForPeriod(webhookRateLimit)
                        .limitRefreshPeriod(java.time.Duration.ofSeconds(1)).timeoutDuration(java.time.Duration.ZERO).build());
        this.maxWaitingFetches = maxWaitingFetches;
        this.settings = settings;
        this.store = store;
        this.http = http;
        this.catalog = catalog;
        this.intake = intake;
        this.mapper = mapper;
        // a key given twice and anything after the object are refused, as on the other endpoints (before: {…} x was taken)
        this.strict = io.ordersync.order.DocumentParser.strictReader(mapper);
        this.clock = clock;
    }

    private static PretixWork work(Exchange exchange) {
        return exchange.getProperty(PretixWork.PROPERTY, PretixWork.class);
    }

    private Set<String> secrets() {
        return settings.token().isEmpty() ? Set.of() : Set.of(settings.token());
    }

    // ---- webhook intake: POST /api/sources/pretix/webhook ----

    /**
     * The webhook URL's ?secret=, from the query string only (before: also a request header named secret, which Camel
     * turns into a message header; an audit of API.md); null when missing or given twice.
     */
    private static String secretOf(Exchange exchange) {
        try {
            return io.ordersync.admin.OrdersApi.query(exchange).get("secret");
        } catch (IllegalArgumentException twice) {
            return null;
        }
    }

    /**
     * pretix's webhook body {@code {notification_id, organizer, event, code, action}}: checked, then a fetch of
     * the order is queued (or merged into one waiting) and 200 answered. A repeated notification_id is
     * recognised; an organizer or event this ordersync does not take is a 400 with the reason, kept as a
     * rejected event; an action no rule maps triggers nothing (200, so that pretix does not retry it).
     */
    public void webhook(Exchange exchange) throws Exception {
        if (!settings.enabled()) {
            reply(exchange, 404, Map.of("error", "the pretix source is not configured: set ordersync.pretix.url and ordersync.pretix.organizer"));
            return;
        }
        // without the secret, a post beyond the rate is refused before it is read
        if (settings.webhookSecret().isEmpty() && anonymousRate != null && !anonymousRate.acquirePermission()) {
            // pretix retries any answer over 299 but a 410 (5 s, 30 s, 1 min, 5 min, … for three days)
            LOG.warn("pretix webhook refused: over ordersync.pretix.webhook-rate-limit (set ordersync.pretix.webhook-secret)");
            reply(exchange, 429, Map.of("error", "too many webhooks without ordersync.pretix.webhook-secret; pretix sends this one again later"));
            exchange.getMessage().setHeader("Retry-After", "5");
            return;
        }
        String given = secretOf(exchange);
        if (!settings.webhookSecret().isEmpty() && (given == null || !java.security.MessageDigest.isEqual(
                settings.webhookSecret().getBytes(StandardCharsets.UTF_8), given.getBytes(StandardCharsets.UTF_8)))) {
            LOG.warn("pretix webhook refused: wrong or missing ?secret= (ordersync.pretix.webhook-secret)");
            reply(exchange, 401, Map.of("error", "the webhook URL must carry ?secret=<ordersync.pretix.webhook-secret>"));
            return;
        }
        if (!io.ordersync.intake.HttpIntakeProcessor.charsetKnown(exchange)) {
            reply(exchange, 415, Map.of("error", io.ordersync.intake.HttpIntakeProcessor.UNKNOWN_CHARSET));
            return;
        }
        String body = exchange.getIn().getBody(String.class);
        if (body == null || body.length() > MAX_WEBHOOK_BYTES || io.ordersync.order.DocumentParser.utf8Length(body) > MAX_WEBHOOK_BYTES) {
            reply(exchange, body == null ? 400 : 413, Map.of("error", body == null ? "empty body: pretix sends {notification_id, organizer, event, code, action}"
                    : "a pretix webhook is a few hundred bytes; this one is over " + MAX_WEBHOOK_BYTES));
            return;
        }
        JsonNode in;
        try {
            in = strict.readTree(body);
        } catch (Exception e) {
            in = null;
        }
        if (in == null || !in.isObject()) {
            rejectWebhook(exchange, body, "not a JSON object (or a key given twice): pretix sends {notification_id, organizer, event, code, action}");
            return;
        }
        String organizer = in.path("organizer").asText("");
        String event = in.path("event").asText("");
        String code = in.path("code").asText("");
        String action = in.path("action").asText("");
        JsonNode id = in.path("notification_id");
        if (!organizer.equals(settings.organizer())) {
            rejectWebhook(exchange, body, "unknown organizer '" + printable(organizer) + "': this ordersync takes orders of organizer '"
                    + settings.organizer() + "' (ordersync.pretix.organizer)", "unknown organizer '" + printable(organizer)
                    + "' (ordersync.pretix.organizer)");
            return;
        }
        if (!SLUG.matcher(event).matches() || !settings.covers(event)) {
            // the events ordersync takes are said to the operator (the rejected event), not to an anonymous caller
            rejectWebhook(exchange, body, "unknown event '" + printable(event) + "': this ordersync takes orders of "
                    + (settings.events().isEmpty() ? "every event" : "the events " + settings.events()) + " (ordersync.pretix.events)",
                    "unknown event '" + printable(event) + "' (ordersync.pretix.events)");
            return;
        }
        var type = settings.actions().typeOf(action);
        if (type.isEmpty()) {
            LOG.debug("pretix webhook {} for {}/{} ignored: action '{}' triggers nothing (ordersync.pretix.actions)",
                    printable(id.asText()), event, printable(code), printable(action));
            reply(exchange, 200, Map.of("ignored", "action '" + printable(action) + "' triggers nothing (ordersync.pretix.actions)"));
            return;
        }
        if (!CODE.matcher(code).matches()) {
            rejectWebhook(exchange, body, "'" + printable(code) + "' is not a pretix order code");
            return;
        }
        if (!(id.isIntegralNumber() || id.isTextual()) || !NOTIFICATION_ID.matcher(id.asText()).matches()) {
            rejectWebhook(exchange, body, "notification_id must be pretix's number");
            return;
        }
        if (waitingFetches() >= maxWaitingFetches) {
            LOG.warn("pretix webhook refused: {} fetches wait already (ordersync.pretix.max-waiting-fetches)", waitingFetches);
            reply(exchange, 503, Map.of("error", "too many fetches waiting; pretix sends this webhook again later"));
            exchange.getMessage().setHeader("Retry-After", "30");
            return;
        }
        Instant now = clock.instant();
        // a repeated notification is recognised, and still fetched: ids cannot be trusted (anyone can post one ahead
        // of pretix), and a fetch that finds a state ordersync has already costs one request and changes nothing
        String notification = organizer + "/" + event + "/" + code + "/" + action + "/" + id.asText();
        String key = notification.length() > 200 ? notification.substring(0, 200) : notification;
        boolean fresh = Tx.runRetrying(store.dataSource(), c -> {
            boolean first = IntakeService.firstTime(c, "pretix-webhook", key);
            store.enqueueFetch(c, event, code, type.get(), "webhook", now);
            return first;
        });
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("queued", "fetch of " + event + "/" + code);
        answer.put("type", type.get());
        if (!fresh) {
            answer.put("duplicate", "notification " + id.asText() + " was received before");
        }
        reply(exchange, 200, answer);
    }

    private void rejectWebhook(Exchange exchange, String body, String reason) throws Exception {
        rejectWebhook(exchange, body, reason, reason);
    }

    private void rejectWebhook(Exchange exchange, String body, String reason, String answer) throws Exception {
        // the trace keeps the start of the body, and without the secret only 60 posts an hour: a flood of large
        // bodies must not fill the database
        if (!settings.webhookSecret().isEmpty() || rejectedKept.acquirePermission()) {
            intake.reject("pretix-webhook", body.length() > 2000 ? body.substring(0, 2000) + "…" : body, reason);
            LOG.warn("pretix webhook refused: {}", reason);
        } else {
            LOG.warn("pretix webhook refused (not kept as a rejected event: over {} an hour without ordersync.pretix.webhook-secret): {}",
                    REJECTED_KEPT_PER_HOUR, reason);
        }
        reply(exchange, 400, Map.of("error", answer));
    }

    /** Fetches waiting now (parked ones not counted), read again when the last read is a second old. */
    private long waitingFetches() {
        long mono = System.nanoTime();
        long last = waitingReadAt.get();
        if (mono - last >= 1_000_000_000L && waitingReadAt.compareAndSet(last, mono)) {
            // counted up to the cap only: a flood's parked rows (kept for days) are not scanned
            waitingFetches = store.waitingFetches(maxWaitingFetches);
        }
        return waitingFetches;
    }

    private static String printable(String s) {
        String cut = s.length() > 64 ? s.substring(0, 64) + "…" : s;
        return cut.replaceAll("[^\\p{Print}]", "?");
    }

    private void reply(Exchange exchange, int status, Object body) throws Exception {
        exchange.getMessage().removeHeaders("*");
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, status);
        exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "application/json");
        exchange.getMessage().setBody(mapper.writeValueAsString(body));
    }

    // ---- route pretix-fetch ----

    /** The due fetches, claimed; none while pretix asked for a pause or the source is off. */
    public List<PretixWork> claimFetches() {
        if (!settings.enabled() || http.pausedUntil() != null) {
            return List.of();
        }
        Instant now = clock.instant();
        if (now.isAfter(nextPrune)) {
            nextPrune = now.plus(java.time.Duration.ofMinutes(10));
            int pruned = store.pruneParked(now, PARKED_KEPT);
            if (pruned > 0) {
                LOG.info("pretix: {} fetches parked for over {} forgotten", pruned, PARKED_KEPT);
            }
        }
        List<PretixWork> out = new ArrayList<>();
        for (PretixStore.Fetch f : store.claimFetches(FETCH_BATCH, clock.instant())) {
            PretixWork w = PretixWork.fetch(f.id(), f.event(), f.code(), f.type());
            w.version = f.version();
            w.attempts = f.attempts();
            out.add(w);
        }
        return out;
    }

    /** The GET of the order, with canceled positions and fees (pretix's data sync sees them too). */
    public void orderRequest(Exchange exchange) {
        PretixWork w = work(exchange);
        http.request(exchange, settings.eventApi(w.event) + "/orders/" + w.code + "/?include_canceled_positions=true&include_canceled_fees=true", false);
    }

    public void orderReceived(Exchange exchange) throws Exception {
        PretixWork w = work(exchange);
        JsonNode order = mapper.readTree(exchange.getMessage().getBody(String.class));
        if (!order.isObject() || !w.code.equals(order.path("code").asText())) {
            throw new PretixException("pretix answered the order " + w.event + "/" + w.code + " with something else", false, null);
        }
        w.orders.clear();
        w.orders.add(order);
    }

    // ---- routes pretix-poll and pretix-import ----

    /** One poll per configured event (or one over the organizer's every event), from the stored modified_since. */
    public List<PretixWork> polls() {
        if (!settings.enabled() || http.pausedUntil() != null) {
            return List.of();
        }
        List<PretixWork> out = new ArrayList<>();
        List<String> keys = settings.events().isEmpty() ? List.of("*") : settings.events();
        for (String key : keys) {
            String since = store.cursor(key);
            if (since == null) {
                // polling takes what changes from when it was switched on; an import takes the orders before
                since = clock.instant().minusSeconds(60).toString();
            }
            String base = "*".equals(key) ? settings.url() + "/api/v1/organizers/" + settings.organizer() : settings.eventApi(key);
            out.add(PretixWork.poll(key, since, base + "/orders/?modified_since=" + URLEncoder.encode(since, StandardCharsets.UTF_8)
                    + "&ordering=-last_modified&testmode=false&include_canceled_positions=true&include_canceled_fees=true&page_size=50"));
        }
        return out;
    }

    /** A running import nobody works on, or null. */
    public PretixWork claimImport() {
        if (!settings.enabled() || http.pausedUntil() != null) {
            return null;
        }
        Object[] row = store.claimImport(clock.instant());
        if (row == null) {
            return null;
        }
        long id = (Long) row[0];
        String event = (String) row[1];
        int page = (Integer) row[2];
        return PretixWork.importOf(id, event, page, settings.eventApi(event) + "/orders/?ordering=datetime&testmode=false"
                + "&include_canceled_positions=true&include_canceled_fees=true&page_size=50&page=" + page);
    }

    /** The loop condition of a poll or an import: the next page's GET into the message, or false when done. */
    public boolean nextPage(Exchange exchange) {
        PretixWork w = work(exchange);
        if (w.nextUrl == null) {
            return false;
        }
        if (exchange.getContext().isStopping()) {
            // ordersync stops: the pages taken in are stored; the import is left for the next start (or instance)
            if (w.kind == PretixWork.Kind.IMPORT) {
                store.releaseImport(w.rowId, w.page);
            }
            return false;
        }
        if (!w.visited.add(w.nextUrl) || w.visited.size() > w.pageLimit()) {
            throw new PretixException("pretix's next page link " + w.nextUrl + " was read before (or over " + w.pageLimit()
                    + " pages): not followed", true, null);
        }
        http.request(exchange, w.nextUrl, false);
        return true;
    }

    public void pageReceived(Exchange exchange) throws Exception {
        PretixWork w = work(exchange);
        JsonNode page = mapper.readTree(exchange.getMessage().getBody(String.class));
        if (w.kind == PretixWork.Kind.POLL && w.pageGenerated == null) {
            // pretix: the server time before the query, the modified_since of the next poll. Pages are read newest
            // first (ordering=-last_modified, as pretix's own sync client does): an order changed while they are
            // read moves to a page already read and comes with the next poll; nothing shifts past a page boundary
            w.pageGenerated = exchange.getMessage().getHeader("X-Page-Generated", String.class);
        }
        w.orders.clear();
        page.path("results").forEach(w.orders::add);
        w.total = page.hasNonNull("count") ? page.path("count").asInt() : null;
        if (w.perPage == 0) {
            w.perPage = w.orders.size();
        }
        String next = page.path("next").isTextual() ? page.path("next").asText() : null;
        w.nextUrl = next == null || next.isEmpty() ? null : http.sameOrigin(next);
    }

    // ---- all three: accept what was read ----

    /**
     * Takes the orders read into ordersync, in one transaction with the work's bookkeeping (the fetch row
     * deleted, the poll's cursor or the import's progress moved): an order whose state ordersync already has
     * (same last_modified, or an older one) is left alone; any other gets its document built and accepted.
     */
    public void accept(Exchange exchange) {
        PretixWork w = work(exchange);
        Instant now = clock.instant();
        int[] counts = Tx.runRetrying(store.dataSource(), c -> {
            int accepted = 0;
            int unchanged = 0;
            for (JsonNode order : w.orders) {
                String event = order.path("event").asText(w.kind == PretixWork.Kind.POLL && "*".equals(w.event) ? "" : w.event);
                String code = order.path("code").asText("");
                if (event.isEmpty() || !settings.covers(event) || code.isEmpty()) {
                    continue;
                }
                String lastModified = order.path("last_modified").asText(null);
                String[] stored = store.snapshot(c, event, code, mapper);
                if (stored != null && stored[0] != null && lastModified != null && !OrderStore.isOlder(stored[0], lastModified)) {
                    unchanged++;
                    continue;
                }
                List<String> types = PretixEnvelope.typesFor(order, stored == null ? null : stored[1], stored != null,
                        w.kind == PretixWork.Kind.FETCH ? w.type : null);
                ObjectNode doc = PretixEnvelope.build(types.get(0), event, catalog.of(event), order);
                try {
                    intake.accept(c, mapper.writeValueAsString(doc), "pretix " + w, types.subList(1, types.size()));
                } catch (InvalidDocumentException e) {
                    // pretix's answer does not make a valid document: kept for an operator, the rest goes on
                    intake.store().reject(c, "pretix", mapper.writeValueAsString(doc), e.getMessage(), now);
                }
                accepted++;
            }
            switch (w.kind) {
                case FETCH -> {
                    if (!store.fetchDone(c, w.rowId, w.version)) {
                        throw new FetchGone(w); // rolled back: an erased order is not stored again
                    }
                }
                case POLL -> {
                    if (w.nextUrl == null) {
                        store.saveCursor(c, w.event, w.pageGenerated != null ? w.pageGenerated : newest(w, now), now);
                    }
                }
                case IMPORT -> {
                    // w.page moves only after the commit: a transaction retried after a conflict stores the same page
                    if (!store.importPage(c, w.rowId, w.page, w.total, accepted, unchanged, w.nextUrl == null, now)) {
                        String state = store.importState(c, w.rowId);
                        throw "running".equals(state) ? new ImportTakenOver(w) : new ImportEnded(w, state);
                    }
                }
            }
            return new int[]{accepted, unchanged};
        });
        intake.committed();
        if (w.kind == PretixWork.Kind.IMPORT) {
            w.page++;
        }
        if (w.kind == PretixWork.Kind.IMPORT && w.nextUrl == null) {
            LOG.info("pretix import #{} of {} done", w.rowId, w.event);
        }
        LOG.debug("{}: {} accepted, {} unchanged", w, counts[0], counts[1]);
    }

    /**
     * This instance's lease on an import ran out while it read a page, another instance took the import up and
     * stored that page first: this one's transaction is rolled back (the page counted once) and it lets go.
     */
    static final class ImportTakenOver extends RuntimeException {
        ImportTakenOver(PretixWork w) {
            super(w + ": that page was stored by the instance that took the import up after this one's lease "
                    + "(ordersync.pretix.lease) ran out; this instance lets go of it", null, false, false);
        }
    }

    /**
     * The fetch's row was deleted while pretix answered: the order was erased (DELETE /api/orders/…), or the
     * instance that took the fetch up after this one's lease ran out stored it. What was read is not stored (found by
     * a review: an erase during a fetch brought the order back, and it was synced again).
     */
    static final class FetchGone extends RuntimeException {
        FetchGone(PretixWork w) {
            super(w + ": its fetch was deleted meanwhile (the order erased, or stored by another instance); what was read "
                    + "is not stored", null, false, false);
        }
    }

    /** The import was canceled (or is gone) while this instance read a page: that page is not stored, the import ends. */
    static final class ImportEnded extends RuntimeException {
        ImportEnded(PretixWork w, String state) {
            super(w + " is " + (state == null ? "gone" : state) + ": the page read is not stored, the import stops", null, false, false);
        }
    }

    /** Without pretix's X-Page-Generated: the newest last_modified read (modified_since is inclusive: nothing is missed). */
    private static String newest(PretixWork w, Instant now) {
        String newest = w.since;
        for (JsonNode o : w.orders) {
            String lm = o.path("last_modified").asText(null);
            if (lm != null && (newest == null || OrderStore.isOlder(newest, lm))) {
                newest = lm;
            }
        }
        return newest != null ? newest : now.toString();
    }

    /** doCatch of the pretix routes: the failure classified and recorded; nothing read is lost (it is read again). */
    public void failed(Exchange exchange) {
        PretixWork w = work(exchange);
        Exception caught = exchange.getProperty(ExchangePropertyKey.EXCEPTION_CAUGHT, Exception.class);
        if (caught instanceof ImportTakenOver || caught instanceof ImportEnded || caught instanceof FetchGone) {
            // not a failure of pretix: the import was taken up by another instance or canceled, or the fetch's order
            // erased (or stored by the instance that took the fetch up); this one lets go
            LOG.info("{}", caught.getMessage());
            return;
        }
        PretixException e = PretixHttp.classify(caught, String.valueOf(exchange.getProperty(PretixHttp.URL)));
        String message = Secrets.redact(e.getMessage(), secrets());
        PretixException safe = new PretixException(message, e.recoverable(), e.retryAt());
        Instant now = clock.instant();
        switch (w.kind) {
            case FETCH -> store.fetchFailed(w.rowId, w.version, w.attempts, safe, now);
            case IMPORT -> store.importFailed(w.rowId, w.page, safe, now);
            case POLL -> { }
        }
        LOG.warn("pretix {} failed{}: {}", w, safe.recoverable() ? " (tried again later)" : "", message);
    }

    // ---- the import API: POST and GET /api/sources/pretix/import, and the source's state ----

    /** {@code POST /api/sources/pretix/import} with {@code {"event": "<slug>"}}: 202 and the import. */
    public void startImport(Exchange exchange) throws Exception {
        if (!settings.enabled()) {
            reply(exchange, 404, Map.of("error", "the pretix source is not configured: set ordersync.pretix.url and ordersync.pretix.organizer"));
            return;
        }
        JsonNode in = bodyObject(exchange);
        String event = in == null ? "" : in.path("event").asText("");
        if (!SLUG.matcher(event).matches()) {
            reply(exchange, 400, Map.of("error", "give the event: {\"event\": \"<slug>\"}"));
            return;
        }
        if (!settings.covers(event)) {
            reply(exchange, 400, Map.of("error", "event '" + event + "' is not one of ordersync.pretix.events " + settings.events()));
            return;
        }
        PretixStore.Started s = store.startImport(event, clock.instant());
        if (!s.started()) {
            reply(exchange, 409, Map.of("error", "import #" + s.id() + " of " + event + " is running: one import per event at a time "
                    + "(cancel it to start another)", "id", s.id(), "event", event, "state", "running"));
            return;
        }
        LOG.info("pretix import #{} of {} started", s.id(), event);
        reply(exchange, 202, Map.of("id", s.id(), "event", event, "state", "running"));
    }

    /**
     * {@code POST /api/sources/pretix/import/{id}/cancel}: the import reads no further page; 200 with its state,
     * 404 for no such import, 409 for one that is no longer running (done, failed, canceled).
     */
    public void cancelImport(Exchange exchange) throws Exception {
        String raw = exchange.getIn().getHeader("id", String.class);
        long id;
        try {
            id = raw != null && raw.matches("[0-9]{1,18}") ? Long.parseLong(raw) : -1;
        } catch (NumberFormatException e) {
            id = -1;
        }
        if (id < 0) {
            reply(exchange, 404, Map.of("error", "no such import"));
            return;
        }
        String before = store.cancelImport(id, clock.instant());
        if (before == null) {
            reply(exchange, 404, Map.of("error", "no such import", "id", id));
        } else if (!"running".equals(before)) {
            reply(exchange, 409, Map.of("error", "import #" + id + " is " + before + ", not running", "id", id, "state", before));
        } else {
            LOG.info("pretix import #{} canceled", id);
            reply(exchange, 200, Map.of("id", id, "state", "canceled"));
        }
    }

    /** {@code GET /api/sources/pretix}: configuration (no token), fetches, imports with progress. */
    public void status(Exchange exchange) throws Exception {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("enabled", settings.enabled());
        m.put("url", settings.url());
        m.put("organizer", settings.organizer());
        m.put("events", settings.events().isEmpty() ? "all" : settings.events());
        m.put("token", settings.token().isEmpty() ? "not set" : "set");
        m.put("polling_ms", settings.pollIntervalMs());
        Instant paused = http.pausedUntil();
        m.put("paused_until", paused == null ? null : paused.toString());
        if (settings.enabled()) {
            m.putAll(store.fetchStatus());
            m.put("imports", store.imports());
        }
        reply(exchange, 200, m);
    }

    /** {@code POST /api/sources/pretix/retry}: parked fetches due again (after the token or the order was fixed). */
    public void retryParked(Exchange exchange) throws Exception {
        reply(exchange, 200, Map.of("retried", store.retryParked(clock.instant())));
    }

    private JsonNode bodyObject(Exchange exchange) {
        Object b = exchange.getIn().getBody();
        try {
            JsonNode n = b instanceof JsonNode j ? j : b instanceof Map<?, ?> || b instanceof List<?> ? mapper.valueToTree(b)
                    : strict.readTree(exchange.getIn().getBody(String.class));
            return n != null && n.isObject() ? n : null;
        } catch (Exception e) {
            return null;
        }
    }
}
