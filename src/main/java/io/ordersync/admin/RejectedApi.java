package io.ordersync.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.db.Tx;
import io.ordersync.intake.IntakeService;
import io.ordersync.order.InvalidDocumentException;
import io.ordersync.order.OrderStore;
import org.apache.camel.Exchange;

import java.sql.PreparedStatement;
import java.util.List;
import java.util.Map;

/** Rejected events: list, show, re-submit after an edit, discard. */
public final class RejectedApi {

    private final IntakeService intake;
    private final OrderStore store;
    private final ObjectMapper mapper;

    public RejectedApi(IntakeService intake, OrderStore store, ObjectMapper mapper) {
        this.intake = intake;
        this.store = store;
        this.mapper = mapper;
    }

    /** {@code GET /api/rejected?offset=&limit=}: newest first, without payloads. */
    public void list(Exchange exchange) throws Exception {
        Map<String, String> q = OrdersApi.queryOr400(exchange, mapper);
        if (q == null) {
            return;
        }
        Long offset = Json.longOf(q.get("offset"));
        Long limit = Json.longOf(q.get("limit"));
        // as /api/orders and /api/queue: a bad page is a 400, not a silent default (an offset over 2^31 was a 500)
        if (offset != null && (offset < 0 || offset > 10_000_000) || limit != null && (limit < 1 || limit > 1000)) {
            Json.reply(mapper, exchange, 400, Map.of("error", "offset must be 0 to 10000000 and limit 1 to 1000"));
            return;
        }
        int off = offset == null ? 0 : offset.intValue();
        int lim = limit == null ? 50 : limit.intValue();
        List<Map<String, Object>> rows = store.query("SELECT id, source, reason, received_at FROM rejected_event "
                + "ORDER BY id DESC OFFSET ? ROWS FETCH NEXT ? ROWS ONLY", off, lim);
        long total = ((Number) store.query("SELECT COUNT(*) AS n FROM rejected_event").get(0).get("n")).longValue();
        Json.reply(mapper, exchange, 200, Map.of("total", total, "offset", off, "limit", lim, "rows", rows));
    }

    /** {@code GET /api/rejected/{id}}: with the payload as received. */
    public void show(Exchange exchange) throws Exception {
        Long id = Json.longParam(exchange, "id");
        List<Map<String, Object>> rows = id == null ? List.of()
                : store.query("SELECT id, source, reason, received_at, payload FROM rejected_event WHERE id = ?", id);
        if (rows.isEmpty()) {
            Json.reply(mapper, exchange, 404, Map.of("error", "no rejected event " + exchange.getIn().getHeader("id")));
            return;
        }
        Json.reply(mapper, exchange, 200, rows.get(0));
    }

    /**
     * {@code POST /api/rejected/{id}/resubmit}: the body is the (edited) document, or empty for the stored one.
     * Accepted: 202 and the rejected event is removed. Still invalid: 400 with the reason; the event stays.
     */
    public void resubmit(Exchange exchange) throws Exception {
        Long id = Json.longParam(exchange, "id");
        String body = exchange.getIn().getBody(String.class);
        try {
            // the rejected event is locked, then deleted, in the transaction that accepts it: a discard, a second
            // resubmit or an erase of its buyer that comes between finds it gone (404), or waits and then finds it gone.
            // Read outside, a discarded event was still synced, and two resubmits at once both took it in (a review)
            IntakeService.Accepted a = id == null ? null : Tx.runRetrying(store.dataSource(), c -> {
                List<Map<String, Object>> rows = io.ordersync.order.OrderStore.rows(c,
                        "SELECT payload FROM rejected_event WHERE id = ? FOR UPDATE", id);
                if (rows.isEmpty()) {
                    return null;
                }
                try (PreparedStatement ps = c.prepareStatement("DELETE FROM rejected_event WHERE id = ?")) {
                    ps.setLong(1, id);
                    ps.executeUpdate();
                }
                String payload = body == null || body.isBlank() ? (String) rows.get(0).get("payload") : body;
                try {
                    return intake.accept(c, payload, "re-submitted rejected event #" + id);
                } catch (InvalidDocumentException e) {
                    throw new IllegalArgumentException(e.getMessage(), e); // rolled back: the event stays
                }
            });
            if (a == null) {
                Json.reply(mapper, exchange, 404, Map.of("error", "no rejected event " + exchange.getIn().getHeader("id")));
                return;
            }
            Json.replyText(mapper, exchange, 202, Map.of("event", a.eventSlug(), "order", a.orderCode(),
                    "queued", a.queued().stream().map(q -> Map.of("id", q.id(), "provider", q.provider(), "action", q.action())).toList()));
        } catch (IllegalArgumentException e) {
            Json.reply(mapper, exchange, 400, Map.of("error", e.getMessage()));
        } catch (RuntimeException e) {
            if (!Tx.isDataError(e)) {
                throw e;
            }
            // as POST /api/events answers it (a NUL in a text, which PostgreSQL's text cannot hold): the event stays
            Json.reply(mapper, exchange, 400, Map.of("error", "the database refused a value of the document: "
                    + io.ordersync.intake.HttpIntakeProcessor.sqlMessage(e)));
        }
    }

    /** {@code POST /api/rejected/{id}/discard}. */
    public void discard(Exchange exchange) throws Exception {
        Long id = Json.longParam(exchange, "id");
        int n = id == null ? 0 : Tx.runDurable(store.dataSource(), c -> {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM rejected_event WHERE id = ?")) {
                ps.setLong(1, id);
                return ps.executeUpdate();
            }
        });
        if (n == 0) {
            Json.reply(mapper, exchange, 404, Map.of("error", "no rejected event " + exchange.getIn().getHeader("id")));
        } else {
            Json.reply(mapper, exchange, 200, Map.of("discarded", id));
        }
    }
}
