package io.ordersync.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.db.Tx;
import io.ordersync.delivery.ProviderBreakers;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.InvalidDocumentException;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.OrderStore;
import io.ordersync.queue.QueueEntry;
import io.ordersync.queue.SyncQueue;
import org.apache.camel.Exchange;

import javax.sql.DataSource;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Queue listing and the actions of an operator: retry, cancel, sync an order now, backfill. */
public final class OperationsApi {

    private static final Set<String> STATES = Set.of("waiting", "retrying", "in_flight", "parked", "problems");

    private static final List<String> MODES = java.util.Arrays.stream(io.ordersync.queue.FailureMode.values())
            .map(io.ordersync.queue.FailureMode::code).toList();

    private final DataSource ds;
    private final SyncQueue queue;
    private final io.ordersync.queue.QueueView view;
    private final OrderStore store;
    private final ProviderRegistry providers;
    private final ObjectMapper mapper;
    private final ProviderBreakers breakers;
    private final DocumentParser parser;

    /** The database's time, read here (DatabaseClock): every time the queue stores or compares. */
    private final java.time.Clock clock;

    public OperationsApi(DataSource ds, SyncQueue queue, io.ordersync.queue.QueueView view, OrderStore store, ProviderRegistry providers, ObjectMapper mapper,
                         ProviderBreakers breakers, DocumentParser parser, java.time.Clock clock) {
        this.clock = clock;
        this.parser = parser;
        this.breakers = breakers;
        this.ds = ds;
        this.queue = queue;
        this.view = view;
        this.store = store;
        this.providers = providers;
        this.mapper = mapper;
    }

    /** {@code GET /api/queue?provider=&state=&mode=&event=&offset=&limit=}. */
    public void list(Exchange exchange) throws Exception {
        Map<String, String> q = OrdersApi.queryOr400(exchange, mapper);
        if (q == null) {
            return;
        }
        String state = q.get("state");
        if (state != null && !STATES.contains(state)) {
            Json.reply(mapper, exchange, 400, Map.of("error", "state must be one of " + String.join(", ", STATES)));
            return;
        }
        Long offset = Json.longOf(q.get("offset"));
        Long limit = Json.longOf(q.get("limit"));
        if ((offset != null && (offset < 0 || offset > Integer.MAX_VALUE)) || (limit != null && (limit < 1 || limit > 1000))) {
            Json.reply(mapper, exchange, 400, Map.of("error", "offset must be 0 to " + Integer.MAX_VALUE + " and limit between 1 and 1000"));
            return;
        }
        io.ordersync.queue.QueueView.Filter f = new io.ordersync.queue.QueueView.Filter(q.get("provider"), state, q.get("mode"), q.get("event"));
        int off = offset == null ? 0 : offset.intValue();
        int lim = limit == null ? 50 : limit.intValue();
        List<Map<String, Object>> rows = new ArrayList<>();
        for (QueueEntry e : view.list(f, off, lim)) {
            Map<String, Object> row = AdminApi.row(e, providers);
            rows.add(row);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("total", view.count(f));
        out.put("offset", off);
        out.put("limit", lim);
        out.put("rows", rows);
        Json.reply(mapper, exchange, 200, out);
    }

    /** {@code GET /api/queue/groups?provider=&mode=&event=}: the problems grouped by provider, failure mode and cause. */
    public void groups(Exchange exchange) throws Exception {
        Map<String, String> q = OrdersApi.queryOr400(exchange, mapper);
        if (q == null) {
            return;
        }
        io.ordersync.queue.QueueView.Filter f = new io.ordersync.queue.QueueView.Filter(q.get("provider"), null, q.get("mode"), q.get("event"));
        List<Map<String, Object>> groups = new ArrayList<>();
        for (io.ordersync.queue.QueueView.Group g : view.groups(f)) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("provider", g.provider());
            m.put("mode", g.mode());
            io.ordersync.queue.FailureMode mode = java.util.Arrays.stream(io.ordersync.queue.FailureMode.values())
                    .filter(x -> x.code().equals(g.mode())).findFirst().orElse(null);
            m.put("description", mode == null ? "Temporary error, will retry" : mode.description());
            m.put("cause", g.cause());
            m.put("count", g.count());
            m.put("ids", g.ids());
            m.put("example", g.example());
            groups.add(m);
        }
        Json.reply(mapper, exchange, 200, Map.of("groups", groups));
    }

    /** {@code POST /api/queue/retry} with {@code {"ids": [..]}} or {@code {"provider": "crm", "mode": "exceeded"}}. */
    public void retryMany(Exchange exchange) throws Exception {
        JsonNode in = Json.body(mapper, exchange);
        if (in == null) {
            Json.reply(mapper, exchange, 400, Map.of("error", "body must be JSON"));
            return;
        }
        Instant now = clock.instant();
        if (in.has("ids") && ids(in) == null) {
            Json.reply(mapper, exchange, 400, Map.of("error", "ids must be a list of at most 10 000 queue ids (numbers)"));
        } else if (in.has("ids")) {
            int n = 0;
            List<Long> skipped = new ArrayList<>();
            for (JsonNode id : in.get("ids")) {
                var row = view.find(id.asLong());
                if (row.isPresent() && !row.get().inFlight() && queue.retry(id.asLong(), now)) {
                    breakers.reset(row.get().provider());
                    store.log(row.get().eventSlug(), row.get().orderCode(), row.get().provider(), "retry", "manual retry requested", clock.instant());
                    n++;
                } else {
                    skipped.add(id.asLong());
                }
            }
            Json.reply(mapper, exchange, 200, Map.of("retried", n, "skipped", skipped));
        } else if (in.hasNonNull("provider")) {
            String provider = in.get("provider").isTextual() ? in.get("provider").asText() : null;
            String mode = in.hasNonNull("mode") && in.get("mode").isTextual() ? in.get("mode").asText() : null;
            if (provider == null || (in.hasNonNull("mode") && !MODES.contains(mode))) {
                // a typo ("exceded") retried nothing and answered 200
                Json.reply(mapper, exchange, 400, Map.of("error", "provider must be a provider's identifier, and mode one of "
                        + String.join(", ", MODES)));
                return;
            }
            if (!providers.syncable().contains(provider)
                    && view.count(new io.ordersync.queue.QueueView.Filter(provider, null, null, null)) == 0) {
                // neither a provider of this instance's files nor one with queue rows (run by another instance)
                Json.reply(mapper, exchange, 404, Map.of("error", "no provider with this identifier here, and no queue row for one"));
                return;
            }
            int n = queue.retryParked(provider, mode, now);
            breakers.reset(provider);
            Json.reply(mapper, exchange, 200, Map.of("retried", n, "skipped", List.of()));
        } else {
            Json.reply(mapper, exchange, 400, Map.of("error", "give ids, or provider (and optionally mode)"));
        }
    }

    /** The {@code ids} of a request body, or null when they are not a list of at most 10 000 whole numbers. */
    static List<Long> ids(JsonNode in) {
        JsonNode ids = in.get("ids");
        if (ids == null || !ids.isArray() || ids.size() > 10_000) {
            return null;
        }
        List<Long> out = new ArrayList<>();
        for (JsonNode id : ids) {
            if (!id.isIntegralNumber() || !id.canConvertToLong()) {
                return null;
            }
            out.add(id.asLong());
        }
        return out;
    }

    /** {@code POST /api/queue/{id}/cancel}: removes a waiting row; the order is not synced to that provider. */
    public void cancel(Exchange exchange) throws Exception {
        Long id = Json.longParam(exchange, "id");
        if (id == null || id == Long.MIN_VALUE) {
            Json.reply(mapper, exchange, 400, Map.of("error", "queue id must be a number"));
            return;
        }
        Json.reply(mapper, exchange, 200, Map.of("canceled", cancelOne(id) ? List.of(id) : List.of(), "id", id));
    }

    /** {@code POST /api/queue/cancel} with {@code {"ids": [..]}}. */
    public void cancelMany(Exchange exchange) throws Exception {
        JsonNode in = Json.body(mapper, exchange);
        if (in == null || !in.has("ids") || ids(in) == null) {
            Json.reply(mapper, exchange, 400, Map.of("error", "give ids: a list of at most 10 000 queue ids (numbers)"));
            return;
        }
        List<Long> done = new ArrayList<>();
        List<Long> skipped = new ArrayList<>();
        for (JsonNode id : in.get("ids")) {
            (cancelOne(id.asLong()) ? done : skipped).add(id.asLong());
        }
        Json.reply(mapper, exchange, 200, Map.of("canceled", done, "skipped", skipped));
    }

    private boolean cancelOne(long id) {
        var row = view.find(id);
        if (row.isEmpty() || row.get().inFlight()) {
            return false;
        }
        QueueEntry e = row.get();
        return Tx.runDurable(ds, c -> {
            if (queue.cancel(c, id)) {
                store.log(c, e.eventSlug(), e.orderCode(), e.provider(), "canceled", "queue entry canceled by an operator", clock.instant());
                return true;
            }
            return false;
        });
    }

    /** {@code POST /api/orders/{event}/{code}/sync} with optional {@code {"provider": "crm"}}: queue it now. */
    public void syncNow(Exchange exchange) throws Exception {
        String[] key = OrdersApi.orderKeyOr400(exchange, mapper);
        if (key == null) {
            return;
        }
        String event = key[0];
        String code = key[1];
        JsonNode in = Json.body(mapper, exchange);
        if (in == null) {
            Json.reply(mapper, exchange, 400, Map.of("error", "body must be JSON"));
            return;
        }
        String document = store.snapshot(event, code);
        if (document == null) {
            Json.reply(mapper, exchange, 404, Map.of("error", "no order " + code + " of event " + event));
            return;
        }
        OrderDocument doc;
        try {
            doc = parser.parse(document);
        } catch (InvalidDocumentException e) {
            Json.reply(mapper, exchange, 409, Map.of("error", "the stored document of " + code + " is not valid: " + e.getMessage()));
            return;
        }
        List<String> targets = new ArrayList<>();
        if (in.hasNonNull("provider")) {
            String p = in.get("provider").asText();
            if (!providers.syncable().contains(p)) {
                Json.reply(mapper, exchange, 404, Map.of("error", "no provider '" + p + "'"));
                return;
            }
            targets.add(p);
        } else {
            targets.addAll(providers.syncable());
        }
        // the provider's filter decides here as at intake: an operator's sync does not send an order it leaves out
        List<Map<String, Object>> skipped = new ArrayList<>();
        targets.removeIf(p -> {
            if (providers.passesFilter(p, doc)) {
                return false;
            }
            skipped.add(Map.of("provider", p, "reason", "the order does not pass the provider's filter"));
            return true;
        });
        Instant now = clock.instant();
        List<Map<String, Object>> queued = Tx.runRetrying(ds, true, c -> {
            if (snapshot(c, event, code) == null) {
                return null; // erased or purged since it was read
            }
            List<Map<String, Object>> out = new ArrayList<>();
            for (String p : targets) {
                SyncQueue.Enqueued q = queue.enqueue(c, event, code, p, "manual", now);
                breakers.reset(p);
                store.log(c, event, code, p, "retry", "sync requested by an operator", now);
                out.add(Map.of("id", q.id(), "provider", p, "action", q.action()));
            }
            return out;
        });
        if (queued == null) {
            Json.reply(mapper, exchange, 404, Map.of("error", "no order " + code + " of event " + event));
            return;
        }
        Json.reply(mapper, exchange, 202, Map.of("queued", queued, "skipped", skipped));
    }

    private static final int BACKFILL_CHUNK = 100;

    /** The order's document, its row locked until the commit ({@link OrderStore#SNAPSHOT_LOCKED}); null when it is gone. */
    private static String snapshot(java.sql.Connection c, String event, String code) throws java.sql.SQLException {
        try (PreparedStatement ps = c.prepareStatement(OrderStore.SNAPSHOT_LOCKED)) {
            ps.setString(1, event);
            ps.setString(2, code);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    /** {@code POST /api/providers/{id}/backfill} with {@code {"event": "democon"}}: queue every known order of the event. */
    public void backfill(Exchange exchange) throws Exception {
        String provider = exchange.getIn().getHeader("id", String.class);
        JsonNode in = Json.body(mapper, exchange);
        if (in == null || !in.hasNonNull("event")) {
            Json.reply(mapper, exchange, 400, Map.of("error", "give the event: {\"event\": \"<slug>\"}"));
            return;
        }
        if (!providers.syncable().contains(provider)) {
            Json.reply(mapper, exchange, 404, Map.of("error", "no provider '" + provider + "'"));
            return;
        }
        String event = in.get("event").asText();
        List<Map<String, Object>> orders = store.query("SELECT order_code FROM order_snapshot WHERE event_slug = ? ORDER BY order_code", event);
        Instant now = clock.instant();
        // a transaction per chunk of orders, each document read and let go in turn: a large event is neither held in
        // memory at once (H2 reads a whole result set) nor one long transaction. Queuing an order twice is harmless
        // (its waiting row is kept), so a backfill cut off midway can simply be asked for again
        int[] counts = new int[4];
        for (int from = 0; from < orders.size(); from += counts[3]) {
            int start = from;
            counts[3] = 0;
            // retried on a deadlock: intake locks the snapshots of a batch in its own order
            int[] c = Tx.runRetrying(ds, true, conn -> {
                int[] k = new int[4]; // queued, skipped, unreadable, orders read
                long locked = 0;
                // a hundred orders, or fewer whose documents hold OrderStore.LOCKED_BYTES: H2 writes a locked row anew,
                // document and all (100 of 32 KB in one transaction ran a 96 MB heap out of memory: BackfillMemoryTest)
                for (int i = start; i < orders.size() && k[3] < BACKFILL_CHUNK && locked < OrderStore.LOCKED_BYTES; i++) {
                    k[3]++;
                    String code = (String) orders.get(i).get("order_code");
                    String document = snapshot(conn, event, code);
                    if (document == null) {
                        continue; // purged meanwhile
                    }
                    locked += document.length();
                    OrderDocument doc;
                    try {
                        doc = parser.parse(document);
                    } catch (InvalidDocumentException e) {
                        k[2]++;
                        continue;
                    }
                    if (providers.passesFilter(provider, doc)) {
                        queue.enqueue(conn, event, code, provider, "backfill", now);
                        k[0]++;
                    } else {
                        k[1]++;
                    }
                }
                return k;
            });
            for (int k = 0; k < 3; k++) {
                counts[k] += c[k];
            }
            counts[3] = c[3];
        }
        int n = counts[0];
        Json.reply(mapper, exchange, 202, Map.of("queued", n, "skipped", counts[1], "unreadable", counts[2], "event", event,
                "provider", provider));
    }
}
