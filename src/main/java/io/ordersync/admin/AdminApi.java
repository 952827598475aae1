package io.ordersync.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
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
    private final OrderStore store;
    private final ObjectMapper mapper;

    public AdminApi(SyncQueue queue, OrderStore store, ObjectMapper mapper) {
        this.queue = queue;
        this.store = store;
        this.mapper = mapper;
    }

    /** {@code GET /api/orders/{event}/{code}}: queue rows, results and log of one order. */
    public void order(Exchange exchange) throws Exception {
        String event = exchange.getIn().getHeader("event", String.class);
        String code = exchange.getIn().getHeader("code", String.class);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (QueueEntry e : queue.forOrder(event, code)) {
            rows.add(row(e));
        }
        List<Map<String, Object>> results = store.results(event, code);
        List<Map<String, Object>> log = store.logEntries(event, code);
        if (rows.isEmpty() && results.isEmpty() && log.isEmpty() && store.snapshot(event, code) == null) {
            reply(exchange, 404, Map.of("error", "no order " + code + " of event " + event));
            return;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("event", event);
        out.put("order", code);
        out.put("queue", rows);
        out.put("results", results);
        out.put("log", log);
        reply(exchange, 200, out);
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
        Optional<QueueEntry> row = queue.find(id);
        if (row.isEmpty()) {
            reply(exchange, 404, Map.of("error", "no queue row " + id + " (already synced or dropped?)"));
        } else if (row.get().inFlight()) {
            reply(exchange, 409, Map.of("error", "queue row " + id + " is being synced right now"));
        } else if (queue.retry(id, Instant.now())) {
            store.log(row.get().eventSlug(), row.get().orderCode(), row.get().provider(), "retry", "manual retry requested");
            reply(exchange, 200, row(queue.find(id).orElse(row.get())));
        } else {
            reply(exchange, 409, Map.of("error", "queue row " + id + " changed meanwhile; try again"));
        }
    }

    static Map<String, Object> row(QueueEntry e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", e.id());
        m.put("provider", e.provider());
        m.put("state", e.inFlight() ? "in_flight" : e.needManualRetry() != null ? "parked" : e.failedAttempts() > 0 ? "retrying" : "waiting");
        m.put("triggered_by", e.triggeredBy());
        m.put("not_before", String.valueOf(e.notBefore()));
        m.put("failed_attempts", e.failedAttempts());
        m.put("failure_mode", e.needManualRetry());
        if (e.needManualRetry() != null) {
            m.put("failure_description", FailureMode.valueOf(e.needManualRetry().toUpperCase(Locale.ROOT)).description());
        }
        m.put("last_error", e.lastError());
        m.put("claimed_by", e.claimedBy());
        return m;
    }

    private void reply(Exchange exchange, int status, Object body) throws Exception {
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, status);
        exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "application/json");
        exchange.getMessage().setBody(mapper.writeValueAsString(body));
    }
}
