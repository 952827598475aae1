package io.ordersync.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.JsonNode;
import io.ordersync.delivery.Preview;
import io.ordersync.mapping.MappingConfigException;
import io.ordersync.mapping.Provider;
import io.ordersync.mapping.ProviderLoader;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.InvalidDocumentException;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.OrderStore;
import io.ordersync.queue.FailureMode;
import io.ordersync.queue.QueueEntry;
import io.ordersync.queue.SyncQueue;
import org.apache.camel.Exchange;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/** The order view and manual retry of the REST API, called from routes/api.camel.yaml. */
public final class AdminApi {

    private final SyncQueue queue;
    private final io.ordersync.queue.QueueView view;
    private final OrderStore store;
    private final ObjectMapper mapper;
    private final ProviderRegistry providers;
    private final DocumentParser parser;

    private final io.ordersync.delivery.ProviderBreakers breakers;
    private final Preview preview;
    private final io.ordersync.delivery.ProviderGate gate;
    private final io.ordersync.order.AttemptLog attempts;

    /** The database's time, read here (DatabaseClock): every time the queue stores or compares. */
    private final java.time.Clock clock;

    public AdminApi(SyncQueue queue, io.ordersync.queue.QueueView view, OrderStore store, ObjectMapper mapper, ProviderRegistry providers, DocumentParser parser,
                    io.ordersync.delivery.ProviderBreakers breakers, io.ordersync.delivery.ProviderGate gate, Preview preview,
                    io.ordersync.order.AttemptLog attempts, io.ordersync.ops.HealthHistory history,
                    java.time.Clock clock) {
        this.clock = clock;
        this.history = history;
        this.attempts = attempts;
        this.preview = preview;
        this.breakers = breakers;
        this.gate = gate;
        this.queue = queue;
        this.view = view;
        this.store = store;
        this.mapper = mapper;
        this.providers = providers;
        this.parser = parser;
    }

    /** {@code GET /api/providers}: every provider with its state, its file's errors and its queue counts. */
    public void providers(Exchange exchange) throws Exception {
        Map<String, Map<String, Object>> counts = new LinkedHashMap<>();
        for (Map<String, Object> c : view.counts()) {
            Map<String, Object> m = counts.computeIfAbsent((String) c.get("provider"), k -> new LinkedHashMap<>(
                    Map.of("waiting", 0L, "in_flight", 0L, "parked", new LinkedHashMap<String, Object>())));
            long n = ((Number) c.get("n")).longValue();
            if ("inflight".equals(c.get("slot"))) {
                m.put("in_flight", (Long) m.get("in_flight") + n);
            } else if (c.get("mode") == null) {
                m.put("waiting", (Long) m.get("waiting") + n);
            } else {
                @SuppressWarnings("unchecked")
                Map<String, Object> parked = (Map<String, Object>) m.get("parked");
                parked.merge((String) c.get("mode"), n, (a, b) -> (Long) a + (Long) b);
            }
        }
        List<Map<String, Object>> out = new ArrayList<>();
        providers.states().forEach((id, state) -> {
            Map<String, Object> p = new LinkedHashMap<>();
            p.put("identifier", id);
            Provider running = state.running();
            p.put("display_name", running != null ? running.displayName()
                    : state.latest().config() != null && state.latest().config().displayName() != null
                    ? state.latest().config().displayName() : id);
            p.put("status", state.status());
            p.put("file", String.valueOf(state.latest().file()));
            p.put("kind", running == null ? null : running.kind().name().toLowerCase(Locale.ROOT));
            p.put("triggers", running == null ? List.of() : running.triggers());
            p.put("errors", state.latest().errors().stream().map(e -> {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("file", e.file());
                m.put("line", e.line());
                m.put("column", e.column());
                m.put("path", e.path());
                m.put("message", e.message());
                m.put("text", e.toString());
                return m;
            }).toList());
            p.put("queue", counts.getOrDefault(id, Map.of("waiting", 0L, "in_flight", 0L, "parked", Map.of())));
            p.put("circuit", breakers.state(id));
            // the provider's limits are shared by the instances that run it: this one's part of them
            p.put("instances", providers.instances(id));
            if (running != null) {
                p.put("share", Map.of("concurrency", providers.concurrencyShare(running),
                        "rate_limit", running.rateLimit() > 0 ? providers.rateShare(id) : 0));
            }
            java.time.Instant pausedUntil = gate.pausedUntil(id, clock.instant());
            p.put("paused_until", pausedUntil == null ? null : pausedUntil.toString());
            Map<String, Object> activity = activity(id);
            p.putAll(activity);
            out.add(p);
        });
        reply(exchange, 200, out);
    }

    /** What these placeholders resolve to (those that resolve). */
    private java.util.Set<String> resolvedValues(java.util.Set<String> placeholders) {
        java.util.Set<String> out = new java.util.HashSet<>();
        for (String p : placeholders) {
            try {
                out.add(providers.loader().resolvePlaceholder(p));
            } catch (RuntimeException unresolved) {
                // nothing to redact
            }
        }
        return out;
    }

    /** The placeholders ({@code {{…}}}) the saved mapping file of a provider uses; none when it has no file. */
    private java.util.Set<String> savedPlaceholders(String id) {
        var state = providers.states().get(id);
        java.util.Set<String> out = new java.util.HashSet<>();
        if (state == null || state.latest().file() == null) {
            return out;
        }
        try {
            out.addAll(MappingEditor.placeholders(MappingEditor.readText(state.latest().file())));
        } catch (java.io.IOException | RuntimeException unreadable) {
            // no placeholders then
        }
        return out;
    }

    /** {@code GET /api/providers/{id}/file}: the mapping file as it is on disk (secrets are placeholders, never values). */
    public void providerFile(Exchange exchange) throws Exception {
        String id = exchange.getIn().getHeader("id", String.class);
        ProviderRegistry.State state = providers.states().get(id);
        if (state == null || state.latest().file() == null) {
            reply(exchange, 404, Map.of("error", "no provider '" + id + "'"));
            return;
        }
        String text;
        try {
            text = MappingEditor.readText(state.latest().file());
        } catch (MappingEditor.UnreadableFile unreadable) {
            reply(exchange, 422, Map.of("error", unreadable.getMessage()));
            return;
        }
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, 200);
        exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "text/yaml; charset=utf-8");
        exchange.getMessage().setBody(text);
    }

    /** Last success and failure of a provider and its successful syncs in the last 24 hours, from the order log. */
    private Map<String, Object> activity(String provider) {
        Map<String, Object> m = new LinkedHashMap<>();
        List<Map<String, Object>> last = store.query("SELECT kind, MAX(created_at) AS at FROM order_log WHERE provider = ? "
                + "AND kind IN ('success', 'failure') GROUP BY kind", provider);
        m.put("last_success", null);
        m.put("last_failure", null);
        for (Map<String, Object> r : last) {
            m.put("last_" + r.get("kind"), r.get("at"));
        }
        m.put("synced_24h", ((Number) store.query("SELECT COUNT(*) AS n FROM order_log WHERE provider = ? AND kind = 'success' "
                + "AND created_at > ?", provider, clock.instant().atOffset(java.time.ZoneOffset.UTC).minusHours(24)).get(0).get("n")).longValue());
        return m;
    }

    /**
     * {@code POST /api/preview}: {@code {"provider": id, "document": {...}, "remote": {...}, "mapping": "yaml"}}
     * → the HTTP requests a sync would send; nothing is sent. {@code mapping} previews an unsaved edit.
     */
    public void preview(Exchange exchange) throws Exception {
        JsonNode in = Json.body(mapper, exchange);
        if (in == null || !in.isObject()) {
            reply(exchange, 400, Map.of("error", "body must be JSON: {\"provider\": …, \"document\": {…}}"));
            return;
        }
        String id = in.path("provider").asText("");
        Provider provider;
        java.util.Set<String> callerSecrets = java.util.Set.of();
        if (in.hasNonNull("mapping")) {
            // an unsaved mapping may resolve only the placeholders its saved file uses: a caller cannot read any
            // other setting or environment variable through it (the admin password, another provider's key)
            java.util.Set<String> allowed = savedPlaceholders(id);
            ProviderLoader.Loaded l = providers.loader().restrictedTo(allowed, providers.credentials(id))
                    .load(id + ".yaml", in.get("mapping").asText(), null);
            // and every value those placeholders resolve to is redacted from the answer, wherever the caller put it
            java.util.Set<String> resolved = resolvedValues(allowed);
            callerSecrets = resolved;
            if (!l.valid()) {
                reply(exchange, 422, Map.of("error", "the mapping has errors", "errors",
                        l.messages().stream().map(m -> io.ordersync.mapping.Secrets.redact(m, resolved)).toList()));
                return;
            }
            provider = l.provider();
        } else {
            if (!providers.states().containsKey(id)) {
                reply(exchange, 404, Map.of("error", "no provider '" + id + "'"));
                return;
            }
            provider = providers.active(id);
            if (provider == null) {
                reply(exchange, 422, Map.of("error", "provider '" + id + "' cannot run", "errors", providers.errors(id)));
                return;
            }
        }
        OrderDocument doc;
        try {
            if (in.path("order").isObject()) {
                // a stored order: its newest snapshot
                String json = store.snapshot(in.path("order").path("event").asText(""), in.path("order").path("code").asText(""));
                if (json == null) {
                    reply(exchange, 404, Map.of("error", "no stored order " + in.path("order").path("code").asText("")
                            + " of event " + in.path("order").path("event").asText("")));
                    return;
                }
                doc = parser.parse(json);
            } else {
                doc = parser.validate(in.path("document"));
            }
        } catch (InvalidDocumentException e) {
            reply(exchange, 400, Map.of("error", "document: " + e.getMessage()));
            return;
        }
        try {
            reply(exchange, 200, preview.run(provider, doc, in.path("remote"), callerSecrets));
        } catch (MappingConfigException e) {
            reply(exchange, 422, Map.of("error", e.getMessage()));
        }
    }

    /** {@code GET /api/providers/{id}/stats?window=1h|24h}: syncs, failures and latency percentiles over time. */
    public void stats(Exchange exchange) throws Exception {
        String id = exchange.getIn().getHeader("id", String.class);
        // from the query string only: a request header named window chose it (an audit of API.md)
        String window;
        try {
            window = OrdersApi.query(exchange).getOrDefault("window", "1h");
        } catch (IllegalArgumentException twice) {
            reply(exchange, 400, Map.of("error", twice.getMessage()));
            return;
        }
        if (!"1h".equals(window) && !"24h".equals(window)) {
            reply(exchange, 400, Map.of("error", "window is 1h or 24h"));
            return;
        }
        if (!providers.states().containsKey(id)) {
            reply(exchange, 404, Map.of("error", "no provider " + id));
            return;
        }
        reply(exchange, 200, history.series(id, window));
    }

    /** The history the dashboard's charts read (SyncMetrics records it). */
    private final io.ordersync.ops.HealthHistory history;

    /** {@code GET /api/orders/{event}/{code}}: queue rows, results and log of one order. */
    public void order(Exchange exchange) throws Exception {
        String[] key = OrdersApi.orderKeyOr400(exchange, mapper);
        if (key == null) {
            return;
        }
        String event = key[0];
        String code = key[1];
        List<Map<String, Object>> rows = new ArrayList<>();
        for (QueueEntry e : view.forOrder(event, code)) {
            rows.add(row(e, providers));
        }
        List<Map<String, Object>> results = store.results(event, code);
        List<Map<String, Object>> log = store.logEntries(event, code);
        String snapshot = store.snapshot(event, code);
        if (rows.isEmpty() && results.isEmpty() && log.isEmpty() && snapshot == null) {
            reply(exchange, 404, Map.of("error", "no order " + code + " of event " + event));
            return;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("event", event);
        out.put("order", code);
        out.put("queue", rows);
        out.put("summary", summary(snapshot));
        out.put("results", results);
        // the newest 200 (an order retried for days has thousands); attempts_total says how many there are
        out.put("attempts", attempts.forOrder(event, code, 200));
        out.put("attempts_total", attempts.count(event, code));
        out.put("log", log);
        reply(exchange, 200, out);
    }

    /** The order as the shop sent it, in brief: buyer, e-mail, status, total, date, positions; null without a snapshot. */
    private Map<String, Object> summary(String json) {
        if (json == null) {
            return null;
        }
        io.ordersync.order.OrderDocument doc;
        try {
            doc = parser.parse(json);
        } catch (Exception e) {
            return Map.of("error", "the stored document no longer parses: " + e.getMessage());
        }
        com.fasterxml.jackson.databind.JsonNode o = doc.order();
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("type", doc.type());
        s.put("email", o.path("email").asText(null));
        s.put("name", o.path("invoice_address").path("name").asText(null));
        s.put("company", o.path("invoice_address").path("company").asText(null));
        s.put("status", o.path("status").asText(null));
        s.put("total", o.path("total").asText(null));
        s.put("datetime", o.path("datetime").asText(null));
        s.put("last_modified", doc.lastModified());
        s.put("event_name", io.ordersync.order.SourceFields.value("event_name", doc, null));
        List<Map<String, Object>> positions = new ArrayList<>();
        for (com.fasterxml.jackson.databind.JsonNode p : doc.positions()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("position", p.path("positionid").asText(null));
            m.put("product", io.ordersync.order.SourceFields.value("product", doc, p));
            m.put("attendee", io.ordersync.order.SourceFields.value("attendee_name", doc, p));
            m.put("price", p.path("price").asText(null));
            m.put("canceled", p.path("canceled").asBoolean(false));
            positions.add(m);
        }
        s.put("positions", positions);
        return s;
    }

    /** {@code POST /api/queue/{id}/retry}: clears the failure mode, resets attempts, due now. */
    public void retry(Exchange exchange) throws Exception {
        String idText = exchange.getIn().getHeader("id", String.class);
        long id;
        try {
            id = Long.parseLong(idText);
        } catch (NumberFormatException e) {
            reply(exchange, 400, Map.of("error", "queue id must be a number, got '" + idText + "'"));
            return;
        }
        Optional<QueueEntry> row = view.find(id);
        if (row.isEmpty()) {
            reply(exchange, 404, Map.of("error", "no queue row " + id + " (already synced or dropped?)"));
        } else if (row.get().inFlight()) {
            reply(exchange, 409, Map.of("error", "queue row " + id + " is being synced right now"));
        } else if (queue.retry(id, clock.instant())) {
            breakers.reset(row.get().provider());
            store.log(row.get().eventSlug(), row.get().orderCode(), row.get().provider(), "retry", "manual retry requested", clock.instant());
            reply(exchange, 200, row(view.find(id).orElse(row.get()), providers));
        } else {
            reply(exchange, 409, Map.of("error", "queue row " + id + " changed meanwhile; try again"));
        }
    }

    /** A queue row as API.md ("Queue") has it: in the queue's list, an order's detail and a retry's answer alike. */
    static Map<String, Object> row(QueueEntry e, ProviderRegistry providers) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", e.id());
        m.put("event", e.eventSlug());
        m.put("order", e.orderCode());
        m.put("provider", e.provider());
        m.put("state", e.inFlight() ? "in_flight" : e.needManualRetry() != null ? "parked" : e.failedAttempts() > 0 ? "retrying" : "waiting");
        m.put("triggered_by", e.triggeredBy());
        m.put("not_before", String.valueOf(e.notBefore()));
        m.put("failed_attempts", e.failedAttempts());
        Provider p = providers.active(e.provider());
        m.put("max_attempts", p == null ? null : p.maxAttempts());
        m.put("failure_mode", e.needManualRetry());
        // null while not parked, as failure_mode (before: left out, where API.md lists it in every row)
        m.put("failure_description", e.needManualRetry() == null ? null
                : FailureMode.valueOf(e.needManualRetry().toUpperCase(Locale.ROOT)).description());
        m.put("last_error", e.lastError());
        m.put("claimed_by", e.claimedBy());
        return m;
    }

    private void reply(Exchange exchange, int status, Object body) throws Exception {
        Json.reply(mapper, exchange, status, body);
    }
}
