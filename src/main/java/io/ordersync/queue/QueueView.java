package io.ordersync.queue;

import io.ordersync.db.Tx;
import io.ordersync.order.OrderStore;

import javax.sql.DataSource;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static io.ordersync.queue.SyncQueue.COLUMNS;

/** What the admin API reads from the sync queue: single rows, an order's rows, filtered pages and counts. Changes nothing. */
public final class QueueView {

    private final DataSource ds;
    private final OrderStore store;

    public QueueView(DataSource ds, OrderStore store) {
        this.ds = ds;
        this.store = store;
    }

    public Optional<QueueEntry> find(long id) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM sync_queue WHERE id = ?")) {
                ps.setLong(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Optional.of(SyncQueue.read(rs)) : Optional.empty();
                }
            }
        });
    }

    public List<QueueEntry> forOrder(String eventSlug, String orderCode) {
        return entries("SELECT " + COLUMNS + " FROM sync_queue WHERE event_slug = ? AND order_code = ? ORDER BY provider, id",
                eventSlug, orderCode);
    }

    /** Filters of the queue listing; null means any. state: waiting, retrying, in_flight, parked. */
    public record Filter(String provider, String state, String mode, String event) {
    }

    private static String where(Filter f, List<Object> args) {
        StringBuilder w = new StringBuilder(" WHERE 1 = 1");
        if (f.provider() != null) {
            w.append(" AND provider = ?");
            args.add(f.provider());
        }
        if (f.event() != null) {
            w.append(" AND event_slug = ?");
            args.add(f.event());
        }
        if (f.mode() != null) {
            w.append(" AND need_manual_retry = ?");
            args.add(f.mode());
        }
        if (f.state() != null) {
            switch (f.state()) {
                case "in_flight" -> w.append(" AND slot = 'inflight'");
                case "parked" -> w.append(" AND slot = 'waiting' AND need_manual_retry IS NOT NULL");
                case "retrying" -> w.append(" AND slot = 'waiting' AND need_manual_retry IS NULL AND failed_attempts > 0");
                case "waiting" -> w.append(" AND slot = 'waiting' AND need_manual_retry IS NULL AND failed_attempts = 0");
                case "problems" -> w.append(" AND slot = 'waiting' AND (need_manual_retry IS NOT NULL OR failed_attempts > 0)");
                default -> throw new IllegalArgumentException("state must be one of waiting, retrying, in_flight, parked, problems");
            }
        }
        return w.toString();
    }

    /** One page of the queue, newest problems first within the filter. */
    public List<QueueEntry> list(Filter f, int offset, int limit) {
        List<Object> args = new ArrayList<>();
        String sql = "SELECT " + COLUMNS + " FROM sync_queue" + where(f, args) + " ORDER BY id OFFSET ? ROWS FETCH NEXT ? ROWS ONLY";
        args.add(offset);
        args.add(limit);
        return entries(sql, args.toArray());
    }

    public long count(Filter f) {
        List<Object> args = new ArrayList<>();
        String sql = "SELECT COUNT(*) FROM sync_queue" + where(f, args);
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                for (int i = 0; i < args.size(); i++) {
                    ps.setObject(i + 1, args.get(i));
                }
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getLong(1);
                }
            }
        });
    }

    /** Rows with a failure grouped by what went wrong (see {@link #cause}); the largest groups first. */
    public record Group(String provider, String mode, String cause, long count, List<Long> ids, String example) {
    }

    private static final java.util.regex.Pattern EMAIL = java.util.regex.Pattern.compile("[^\\s/\"'<>@?&=]+(@|%40)[^\\s/\"'<>?&]+");
    private static final java.util.regex.Pattern NUMBER = java.util.regex.Pattern.compile("\\d+");
    private static final java.util.regex.Pattern QUERY = java.util.regex.Pattern.compile("\\?\\S*");

    /**
     * What a failure says without what differs from order to order: e-mail addresses, numbers and query strings
     * replaced, cut to 160 characters. "PUT /members/a%40b.org → HTTP 400: …" and the same of another member are
     * one cause.
     */
    public static String cause(String error) {
        if (error == null || error.isBlank()) {
            return "";
        }
        String c = QUERY.matcher(error).replaceAll("?…");
        c = EMAIL.matcher(c).replaceAll("…");
        c = NUMBER.matcher(c).replaceAll("#");
        c = c.replaceAll("\\s+", " ").strip();
        return c.length() > 160 ? c.substring(0, 160) + "…" : c;
    }

    /** The problems (parked or retrying) of the filter, grouped by provider, failure mode and cause; at most 5000 rows read. */
    public List<Group> groups(Filter f) {
        List<Object> args = new ArrayList<>();
        Filter problems = new Filter(f.provider(), "problems", f.mode(), f.event());
        String sql = "SELECT " + COLUMNS + " FROM sync_queue" + where(problems, args) + " ORDER BY id FETCH FIRST 5000 ROWS ONLY";
        Map<String, List<QueueEntry>> by = new java.util.LinkedHashMap<>();
        for (QueueEntry e : entries(sql, args.toArray())) {
            String mode = e.needManualRetry() == null ? "retrying" : e.needManualRetry();
            by.computeIfAbsent(e.provider() + "\n" + mode + "\n" + cause(e.lastError()), k -> new ArrayList<>()).add(e);
        }
        List<Group> out = new ArrayList<>();
        by.forEach((k, rows) -> {
            String[] p = k.split("\n", 3);
            List<Long> ids = rows.stream().map(QueueEntry::id).limit(1000).toList();
            out.add(new Group(p[0], p[1], p[2], rows.size(), ids, rows.get(0).lastError()));
        });
        out.sort((a, b) -> Long.compare(b.count(), a.count()));
        return out;
    }

    /** Rows by provider, slot and failure mode, for dashboards and tests. */
    public List<Map<String, Object>> counts() {
        return store.query("SELECT provider, slot, need_manual_retry AS mode, COUNT(*) AS n FROM sync_queue "
                + "GROUP BY provider, slot, need_manual_retry ORDER BY provider, slot");
    }

    private List<QueueEntry> entries(String sql, Object... args) {
        return SyncQueue.entries(ds, sql, args);
    }
}
