package io.ordersync.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.order.OrderStore;
import io.ordersync.order.Retention;
import org.apache.camel.Exchange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The order list (search, filters, paging over the stored snapshots and the queue) and the erasure of what
 * ordersync holds about an order or an e-mail address (API.md "Orders").
 */
public final class OrdersApi {

    private static final Logger LOG = LoggerFactory.getLogger(OrdersApi.class);
    static final Set<String> STATES = Set.of("problem", "pending", "synced");
    static final int MAX_LIMIT = 200;

    private final OrderStore store;
    private final Retention retention;
    private final ObjectMapper mapper;

    public OrdersApi(OrderStore store, Retention retention, ObjectMapper mapper) {
        this.store = store;
        this.retention = retention;
        this.mapper = mapper;
    }

    /**
     * {@code GET /api/orders?q=&event=&provider=&state=&from=&to=&offset=&limit=}: newest first. {@code q} finds
     * the e-mail, order code or buyer name (any part, any case); {@code state}: problem (a row parked or failed),
     * pending (queued), synced (nothing queued, results stored); {@code from}/{@code to}: dates (UTC) the order
     * was last received.
     */
    public void list(Exchange exchange) throws Exception {
        Map<String, String> query;
        try {
            query = query(exchange);
        } catch (IllegalArgumentException e) {
            Json.reply(mapper, exchange, 400, Map.of("error", e.getMessage()));
            return;
        }
        String q = query.get("q");
        String event = query.get("event");
        String provider = query.get("provider");
        String state = query.get("state");
        if (q != null && q.chars().anyMatch(ch -> ch < 0x20 || ch == 0x7f)) {
            Json.reply(mapper, exchange, 400, Map.of("error", "q may not contain control characters"));
            return;
        }
        for (String[] p : new String[][]{{"q", q}, {"event", event}, {"provider", provider}}) {
            if (p[1] != null && p[1].length() > 200) {
                Json.reply(mapper, exchange, 400, Map.of("error", p[0] + " is longer than 200 characters"));
                return;
            }
        }
        if (state != null && !STATES.contains(state)) {
            Json.reply(mapper, exchange, 400, Map.of("error", "state must be one of problem, pending, synced"));
            return;
        }
        LocalDate from;
        LocalDate to;
        try {
            from = query.get("from") == null ? null : LocalDate.parse(query.get("from"));
            to = query.get("to") == null ? null : LocalDate.parse(query.get("to"));
        } catch (DateTimeParseException e) {
            Json.reply(mapper, exchange, 400, Map.of("error", "from and to are dates, e.g. 2026-03-01"));
            return;
        }
        if (from != null && (from.getYear() < 1970 || from.getYear() > 9999) || to != null && (to.getYear() < 1970 || to.getYear() > 9999)) {
            Json.reply(mapper, exchange, 400, Map.of("error", "from and to are dates between 1970 and 9999"));
            return;
        }
        Long offset;
        Long limit;
        try {
            offset = query.get("offset") == null ? null : Long.parseLong(query.get("offset"));
            limit = query.get("limit") == null ? null : Long.parseLong(query.get("limit"));
        } catch (NumberFormatException e) {
            Json.reply(mapper, exchange, 400, Map.of("error", "offset and limit are numbers"));
            return;
        }
        if (offset != null && (offset < 0 || offset > 10_000_000) || limit != null && (limit < 1 || limit > MAX_LIMIT)) {
            Json.reply(mapper, exchange, 400, Map.of("error", "offset must be 0 to 10000000 and limit 1 to " + MAX_LIMIT));
            return;
        }
        StringBuilder where = new StringBuilder(" WHERE 1 = 1");
        List<Object> args = new ArrayList<>();
        if (q != null) {
            String like = "%" + q.toLowerCase(Locale.ROOT).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%";
            where.append(" AND (s.email LIKE ? ESCAPE '\\' OR LOWER(s.order_code) LIKE ? ESCAPE '\\' OR LOWER(s.buyer_name) LIKE ? ESCAPE '\\')");
            args.add(like);
            args.add(like);
            args.add(like);
        }
        if (event != null) {
            where.append(" AND s.event_slug = ?");
            args.add(event);
        }
        String sameOrder = " x.event_slug = s.event_slug AND x.order_code = s.order_code";
        if (provider != null) {
            where.append(" AND (EXISTS (SELECT 1 FROM sync_queue x WHERE").append(sameOrder).append(" AND x.provider = ?)")
                    .append(" OR EXISTS (SELECT 1 FROM sync_result x WHERE").append(sameOrder).append(" AND x.provider = ?))");
            args.add(provider);
            args.add(provider);
        }
        if ("problem".equals(state)) {
            where.append(" AND EXISTS (SELECT 1 FROM sync_queue x WHERE").append(sameOrder)
                    .append(" AND (x.need_manual_retry IS NOT NULL OR x.failed_attempts > 0))");
        } else if ("pending".equals(state)) {
            where.append(" AND EXISTS (SELECT 1 FROM sync_queue x WHERE").append(sameOrder).append(")");
        } else if ("synced".equals(state)) {
            where.append(" AND NOT EXISTS (SELECT 1 FROM sync_queue x WHERE").append(sameOrder).append(")")
                    .append(" AND EXISTS (SELECT 1 FROM sync_result x WHERE").append(sameOrder).append(")");
        }
        if (from != null) {
            where.append(" AND s.received_at >= ?");
            args.add(from.atStartOfDay().atOffset(ZoneOffset.UTC));
        }
        if (to != null) {
            where.append(" AND s.received_at < ?");
            args.add(to.plusDays(1).atStartOfDay().atOffset(ZoneOffset.UTC));
        }
        int off = offset == null ? 0 : offset.intValue();
        int lim = limit == null ? 50 : limit.intValue();
        List<Object> pageArgs = new ArrayList<>(args);
        pageArgs.add(off);
        pageArgs.add(lim);
        List<Map<String, Object>> rows = store.query("SELECT s.event_slug AS event, s.order_code AS code, s.email, s.order_status AS status, "
                + "s.buyer_name, s.order_total AS total, s.received_at, "
                + "(SELECT COUNT(*) FROM sync_queue x WHERE" + sameOrder + " AND x.need_manual_retry IS NOT NULL) AS parked, "
                + "(SELECT COUNT(*) FROM sync_queue x WHERE" + sameOrder + " AND x.need_manual_retry IS NULL) AS queued, "
                + "(SELECT COUNT(DISTINCT x.provider) FROM sync_result x WHERE" + sameOrder + ") AS synced_providers "
                + "FROM order_snapshot s" + where + " ORDER BY s.received_at DESC, s.event_slug, s.order_code "
                + "OFFSET ? ROWS FETCH NEXT ? ROWS ONLY", pageArgs.toArray());
        long total = ((Number) store.query("SELECT COUNT(*) AS n FROM order_snapshot s" + where, args.toArray()).get(0).get("n")).longValue();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("total", total);
        out.put("offset", off);
        out.put("limit", lim);
        out.put("rows", rows);
        Json.reply(mapper, exchange, 200, out);
    }

    /** {@code DELETE /api/orders/{event}/{code}}: erases the order; says what was removed (404: nothing was held). */
    public void erase(Exchange exchange) throws Exception {
        // from the path itself: a request header named event or code must not choose the order
        String[] path = pathSegments(exchange);
        if (path.length < 2) {
            Json.reply(mapper, exchange, 400, Map.of("error", "DELETE /api/orders/{event}/{code}"));
            return;
        }
        String event = path[path.length - 2];
        String code = path[path.length - 1];
        try {
            Map<String, Integer> deleted = retention.erase(event, code);
            if (deleted.isEmpty()) {
                Json.reply(mapper, exchange, 404, Map.of("error", "ordersync holds nothing about order " + code + " of event " + event));
                return;
            }
            LOG.info("Erased order {}/{} on request: {}", event, code, deleted);
            Json.reply(mapper, exchange, 200, Map.of("erased", event + "/" + code, "deleted", deleted));
        } catch (Retention.Busy busy) {
            Json.reply(mapper, exchange, 409, Map.of("error", busy.getMessage()));
        }
    }

    /** {@code DELETE /api/orders?email=…}: erases every order of that buyer e-mail; says which, and what was removed. */
    public void eraseByEmail(Exchange exchange) throws Exception {
        String email;
        try {
            email = query(exchange).get("email");
        } catch (IllegalArgumentException e) {
            Json.reply(mapper, exchange, 400, Map.of("error", e.getMessage()));
            return;
        }
        if (email == null || email.length() > 320 || !OrderStore.normalEmail(email).matches("[^@\\s\"]+@[^@\\s\"]+\\.[^@\\s\"]+")) {
            Json.reply(mapper, exchange, 400, Map.of("error", "email must be an e-mail address (at most 320 characters)"));
            return;
        }
        try {
            Map<String, Object> out = retention.eraseByEmail(email);
            // the address itself stays out of the log: it is what was to be forgotten
            LOG.info("Erased the data of an e-mail address on request: orders {}, {}", out.get("orders"), out.get("deleted"));
            Json.reply(mapper, exchange, 200, out);
        } catch (Retention.Busy busy) {
            Json.reply(mapper, exchange, 409, Map.of("error", busy.getMessage()));
        }
    }

    /**
     * The request's query parameters, from its query string only (Camel also turns request headers into message
     * headers: a header named q or email must not filter or choose what is erased); a repeated one is refused.
     */
    public static Map<String, String> query(Exchange exchange) {
        Map<String, String> out = new LinkedHashMap<>();
        String raw = exchange.getIn().getHeader(Exchange.HTTP_RAW_QUERY, String.class);
        if (raw == null) {
            raw = exchange.getIn().getHeader(Exchange.HTTP_QUERY, String.class);
        }
        if (raw == null || raw.isEmpty()) {
            return out;
        }
        for (String pair : raw.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String k = java.net.URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), java.nio.charset.StandardCharsets.UTF_8);
            String v = eq < 0 ? "" : java.net.URLDecoder.decode(pair.substring(eq + 1), java.nio.charset.StandardCharsets.UTF_8);
            if (out.containsKey(k)) {
                throw new IllegalArgumentException("parameter " + k + " is given more than once");
            }
            if (!v.isBlank()) {
                out.put(k, v.trim());
            }
        }
        return out;
    }

    /**
     * The order an operator's request names: of {@code /api/orders/{event}/{code}[/sync]} from the path, of
     * {@code /api/order[/sync]?event=&code=} from the query string; never from a request header (Camel turns
     * request headers into message headers: a header named code chose the order synced or shown). A repeated
     * parameter is an IllegalArgumentException.
     */
    static String[] orderKey(Exchange exchange) {
        String[] path = pathSegments(exchange);
        for (int i = 0; i + 2 < path.length; i++) {
            if (path[i].equals("orders")) {
                return new String[]{path[i + 1], path[i + 2]};
            }
        }
        Map<String, String> q = query(exchange);
        return new String[]{q.get("event"), q.get("code")};
    }

    /** The query string's parameters ({@link #query}); null after a 400 for a repeated one. */
    static Map<String, String> queryOr400(Exchange exchange, ObjectMapper mapper) throws Exception {
        try {
            return query(exchange);
        } catch (IllegalArgumentException e) {
            Json.reply(mapper, exchange, 400, Map.of("error", e.getMessage()));
            return null;
        }
    }

    /** The order the request names ({@link #orderKey}); null after a 400 when it names none, or repeats a parameter. */
    static String[] orderKeyOr400(Exchange exchange, ObjectMapper mapper) throws Exception {
        String[] key;
        try {
            key = orderKey(exchange);
        } catch (IllegalArgumentException e) {
            Json.reply(mapper, exchange, 400, Map.of("error", e.getMessage()));
            return null;
        }
        if (key[0] == null || key[1] == null) {
            Json.reply(mapper, exchange, 400, Map.of("error", "give the order: ?event=<slug>&code=<code>"));
            return null;
        }
        return key;
    }

    /** The request path's segments, decoded. */
    static String[] pathSegments(Exchange exchange) {
        String path = exchange.getIn().getHeader(Exchange.HTTP_PATH, String.class);
        if (path == null) {
            path = exchange.getIn().getHeader(Exchange.HTTP_URI, String.class);
        }
        if (path == null) {
            return new String[0];
        }
        int q = path.indexOf('?');
        String[] parts = (q < 0 ? path : path.substring(0, q)).split("/");
        return java.util.Arrays.stream(parts).filter(s -> !s.isEmpty())
                .map(s -> java.net.URLDecoder.decode(s.replace("+", "%2B"), java.nio.charset.StandardCharsets.UTF_8)).toArray(String[]::new);
    }
}
