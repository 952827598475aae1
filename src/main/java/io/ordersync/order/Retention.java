package io.ordersync.order;

import io.ordersync.db.Tx;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Data protection: order data is personal data. The purge deletes what is older than its retention; an erase
 * deletes everything ordersync holds about one order (or every order of one e-mail) and says what it removed.
 */
public final class Retention {

    /** An erased order's waiting rows (slot written as SyncQueue.SLOT_IS_WAITING explains: H2's cached plan). */
    public static final String ERASE_WAITING = "DELETE FROM sync_queue WHERE event_slug = ? AND order_code = ? AND "
            + io.ordersync.queue.SyncQueue.SLOT_IS_WAITING;

    /** An order is being synced right now: erasing it would race with the sync writing its results. */
    public static final class Busy extends RuntimeException {
        public Busy(String message) {
            super(message);
        }
    }

    /** How long a park waits in park_news for an alert to name it (ops.Alerts). */
    static final Duration PARK_NEWS_KEPT = Duration.ofDays(1);

    private final DataSource ds;
    private final Duration retainAttempts;
    private final Duration retainOrders;

    private final OrderStore store;
    private volatile boolean filled;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Retention.class);

    /** The database's JDBC URL: an H2 file's copies of damaged versions are purged too. */
    private final String jdbcUrl;

    public Retention(DataSource ds, OrderStore store, Duration retainAttempts, Duration retainOrders) {
        this(ds, store, retainAttempts, retainOrders, null);
    }

    public Retention(DataSource ds, OrderStore store, Duration retainAttempts, Duration retainOrders, String jdbcUrl) {
        this.jdbcUrl = jdbcUrl;
        this.ds = ds;
        this.store = store;
        this.retainAttempts = retainAttempts;
        this.retainOrders = retainOrders;
    }

    /**
     * The purge job (route retention-purge): on its first run it fills the search columns of snapshots stored
     * before they existed, then purges what is older than its retention and logs what it deleted.
     */
    public void run() {
        if (!filled) {
            int n = store.fillSearchColumns(new com.fasterxml.jackson.databind.ObjectMapper());
            filled = true;
            if (n > 0) {
                LOG.info("Filled the search columns of {} orders stored before this version", n);
            }
        }
        Map<String, Integer> deleted = purge(Instant.now());
        if (!deleted.isEmpty()) {
            LOG.info("Retention: deleted {}", deleted);
        }
        if (!retainOrders.isZero()) {
            for (java.nio.file.Path f : io.ordersync.db.H2Recovery.deleteDamagedCopiesBefore(jdbcUrl, Instant.now().minus(retainOrders))) {
                LOG.info("Retention: deleted {}, the copy of a damaged database file kept by a recovery longer ago than "
                        + "ordersync.retention.orders", f);
            }
        }
    }

    /**
     * Deletes tries older than the attempts retention; orders with nothing queued whose snapshot is older than the
     * orders retention, with their results, log and tries; log lines and rejected events older than it. A zero
     * retention keeps that data. Returns the rows deleted per table.
     */
    public Map<String, Integer> purge(Instant now) {
        Map<String, Integer> out = new LinkedHashMap<>();
        // parks no alert named within a day (alerts are off, or the provider is gone): not news any more. First, so
        // that a failure of the purges below does not leave them for another hour
        out.put("park_news", batches("park_news", "created_at < ?", now.minus(PARK_NEWS_KEPT)));
        if (!retainAttempts.isZero()) {
            // a sync's tries go together, once the last of them is older than the retention
            out.put("sync_tries", batches("sync_tries", "last_at < ?", now.minus(retainAttempts)));
            // pretix imports that ended (done, failed, canceled) that long ago: their progress is history
            out.put("pretix_import", batches("pretix_import", "state <> 'running' AND updated_at < ?", now.minus(retainAttempts)));
        }
        if (!retainOrders.isZero()) {
            Instant before = now.minus(retainOrders);
            // in batches: one short transaction each, so intake and syncs are never held up by a long purge
            while (true) {
                // retried on a deadlock: a backfill locks snapshots in its own order
                Map<String, Integer> batch = new LinkedHashMap<>();
                int[] done = new int[1];
                List<String[]> old = Tx.runRetrying(ds, c -> {
                    batch.clear(); // counted again when a deadlock rolled the batch back
                    done[0] = 0;
                    List<String[]> keys = new ArrayList<>();
                    try (PreparedStatement ps = c.prepareStatement("SELECT s.event_slug, s.order_code FROM order_snapshot s "
                            + "WHERE s.received_at < ? AND NOT EXISTS (SELECT 1 FROM sync_queue q WHERE q.event_slug = s.event_slug "
                            + "AND q.order_code = s.order_code) ORDER BY s.received_at FETCH FIRST 200 ROWS ONLY")) {
                        ps.setObject(1, before.atOffset(ZoneOffset.UTC));
                        try (ResultSet rs = ps.executeQuery()) {
                            while (rs.next()) {
                                keys.add(new String[]{rs.getString(1), rs.getString(2)});
                            }
                        }
                    }
                    long locked = 0;
                    for (String[] k : keys) {
                        if (locked >= OrderStore.LOCKED_BYTES) {
                            break; // the rest in the next batch (OrderStore.LOCKED_BYTES: H2 writes a locked row anew)
                        }
                        done[0]++;
                        Long size = lockedForPurge(c, k[0], k[1], before);
                        if (size != null) {
                            locked += size;
                            add(batch, deleteOrder(c, k[0], k[1], before));
                        }
                    }
                    return keys;
                });
                add(out, batch);
                if (done[0] < old.size()) {
                    continue;
                }
                if (old.size() < 200) {
                    break;
                }
            }
            out.merge("order_log", batches("order_log", "created_at < ?", before), Integer::sum);
            out.merge("rejected_event", batches("rejected_event", "received_at < ?", before), Integer::sum);
        }
        // results and tries of orders that are gone (erased while a sync of them ran on): personal data without an owner
        String orphan = "NOT EXISTS (SELECT 1 FROM order_snapshot s WHERE s.event_slug = x.event_slug AND s.order_code = x.order_code) "
                + "AND NOT EXISTS (SELECT 1 FROM sync_queue q WHERE q.event_slug = x.event_slug AND q.order_code = x.order_code)";
        out.merge("sync_result", Tx.run(ds, c -> delete(c, "DELETE FROM sync_result x WHERE " + orphan)), Integer::sum);
        out.merge("sync_tries", Tx.run(ds, c -> delete(c, "DELETE FROM sync_tries x WHERE " + orphan)), Integer::sum);
        out.values().removeIf(n -> n == 0);
        return out;
    }

    /**
     * Erases one order: its snapshot, waiting queue rows, results, log, tries and pretix fetch. Refused while a
     * sync of it is in flight ({@link Busy}). Returns the rows deleted per table (empty: nothing was held).
     */
    public Map<String, Integer> erase(String eventSlug, String orderCode) {
        return busyOnConflict(() -> Tx.runRetrying(ds, c -> {
            // the waiting rows first: deleted (and locked until the commit), no claim takes them any more. Checked the
            // other way round, a claim could take one between the check and the delete, and its sync sent the order
            // to the target while (or after) it was erased
            int waiting = delete(c, ERASE_WAITING, eventSlug, orderCode);
            // then the snapshot's lock, which every queuing of an order outside intake takes (OrderStore.SNAPSHOT_LOCKED):
            // a Sync now or a backfill that holds it has committed when it is ours, and its rows are deleted here; one
            // that comes after finds the order gone
            OrderStore.rows(c, OrderStore.SNAPSHOT_LOCKED, eventSlug, orderCode);
            waiting += delete(c, ERASE_WAITING, eventSlug, orderCode);
            busy(c, "SELECT COUNT(*) FROM sync_queue WHERE event_slug = ? AND order_code = ? AND slot = 'inflight'", eventSlug, orderCode);
            Map<String, Integer> out = deleteOrder(c, eventSlug, orderCode, null);
            out.merge("sync_queue", waiting, Integer::sum);
            out.values().removeIf(n -> n == 0);
            return out;
        }));
    }

    /**
     * An erase that meets the order's rows locked by other work for longer than the database waits (H2's lock
     * timeout, a deadlock), after its retries: the order is busy, not a server error.
     */
    private static <T> T busyOnConflict(java.util.function.Supplier<T> erase) {
        try {
            return erase.get();
        } catch (RuntimeException e) {
            if (Tx.isConflict(e)) {
                throw new Busy("the order's data is being written by other work; try again in a moment");
            }
            throw e;
        }
    }

    /**
     * Erases every order whose buyer e-mail is this one (case-insensitive), the results that name it as their id
     * value, and the rejected events that contain it. Returns the orders erased and the rows deleted per table.
     */
    public Map<String, Object> eraseByEmail(String email) {
        String e = OrderStore.normalEmail(email);
        return busyOnConflict(() -> Tx.runRetrying(ds, c -> {
            String select = "SELECT event_slug, order_code FROM order_snapshot WHERE email = ? ORDER BY event_slug, order_code";
            Map<String, Integer> deleted = new LinkedHashMap<>();
            // the rejected events that contain the address first: a resubmit of one under way (it holds the event's
            // lock) commits before, and its order is found below; one that comes after finds the event gone (404).
            // The address as a whole JSON string ("…"), not as part of a longer one (xalice@example.org.evil)
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM rejected_event WHERE LOWER(payload) LIKE ? ESCAPE '\\'")) {
                ps.setString(1, "%\"" + e.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "\"%");
                deleted.merge("rejected_event", ps.executeUpdate(), Integer::sum);
            }
            // then the waiting rows, the snapshots' locks and the waiting rows queued meanwhile, as in erase()
            for (Map<String, Object> o : OrderStore.rows(c, select, e)) {
                deleted.merge("sync_queue", delete(c, ERASE_WAITING, (String) o.get("event_slug"), (String) o.get("order_code")), Integer::sum);
            }
            List<Map<String, Object>> orders = OrderStore.rows(c, select + " FOR UPDATE", e);
            for (Map<String, Object> o : orders) {
                deleted.merge("sync_queue", delete(c, ERASE_WAITING, (String) o.get("event_slug"), (String) o.get("order_code")), Integer::sum);
            }
            busy(c, "SELECT COUNT(*) FROM sync_queue q JOIN order_snapshot s ON s.event_slug = q.event_slug AND s.order_code = q.order_code "
                    + "WHERE s.email = ? AND q.slot = 'inflight'", e);
            for (Map<String, Object> o : orders) {
                add(deleted, deleteOrder(c, (String) o.get("event_slug"), (String) o.get("order_code"), null));
            }
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM sync_result WHERE LOWER(id_value) = ?")) {
                ps.setString(1, e);
                deleted.merge("sync_result", ps.executeUpdate(), Integer::sum);
            }
            deleted.values().removeIf(n -> n == 0);
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("orders", orders.stream().map(o -> o.get("event_slug") + "/" + o.get("order_code")).toList());
            out.put("deleted", deleted);
            return out;
        }));
    }

    private static void busy(Connection c, String sql, Object... args) throws SQLException {
        if (((Number) OrderStore.rows(c, sql, args).get(0).values().iterator().next()).longValue() > 0) {
            throw new Busy("a sync of this order is under way; try again in a moment");
        }
    }

    /**
     * The purge's candidate, its snapshot locked (OrderStore.SNAPSHOT_LOCKED) and checked again: the candidates were
     * read without a lock, and a Sync now or a backfill may have queued the order since, or intake taken it in again.
     * The document's length when it may go; null when it stays.
     */
    private static Long lockedForPurge(Connection c, String eventSlug, String orderCode, Instant before) throws SQLException {
        List<Map<String, Object>> locked = OrderStore.rows(c, "SELECT LENGTH(document) AS size FROM order_snapshot WHERE event_slug = ? "
                + "AND order_code = ? AND received_at < ? FOR UPDATE", eventSlug, orderCode, before.atOffset(ZoneOffset.UTC));
        if (locked.isEmpty() || !OrderStore.rows(c, "SELECT id FROM sync_queue WHERE event_slug = ? AND order_code = ? "
                + "FETCH FIRST 1 ROWS ONLY", eventSlug, orderCode).isEmpty()) {
            return null;
        }
        return ((Number) locked.get(0).get("size")).longValue();
    }

    /** Deletes what is held about one order (with {@code before}: the purge's, without its queue rows and pretix fetch). */
    private static Map<String, Integer> deleteOrder(Connection c, String eventSlug, String orderCode, Instant before) throws SQLException {
        Map<String, Integer> out = new LinkedHashMap<>();
        int snapshots = delete(c, "DELETE FROM order_snapshot WHERE event_slug = ? AND order_code = ?", eventSlug, orderCode);
        out.put("order_snapshot", snapshots);
        if (before == null) {
            out.put("sync_queue", delete(c, ERASE_WAITING, eventSlug, orderCode));
            out.put("pretix_fetch", delete(c, "DELETE FROM pretix_fetch WHERE event_slug = ? AND order_code = ?", eventSlug, orderCode));
        }
        out.put("sync_result", delete(c, "DELETE FROM sync_result WHERE event_slug = ? AND order_code = ?", eventSlug, orderCode));
        out.put("order_log", delete(c, "DELETE FROM order_log WHERE event_slug = ? AND order_code = ?", eventSlug, orderCode));
        out.put("sync_tries", delete(c, "DELETE FROM sync_tries WHERE event_slug = ? AND order_code = ?", eventSlug, orderCode));
        out.put("park_news", delete(c, "DELETE FROM park_news WHERE event_slug = ? AND order_code = ?", eventSlug, orderCode));
        return out;
    }

    /**
     * Deletes the rows of a table that match, in transactions of a few (a large purge never holds long locks): 5 000
     * rows, and 100 of sync_tries, whose row holds a sync's tries (up to 900 000 characters). H2 writes a deleted row's
     * last value into the page and the undo log: 5 000 tries rows of 20 KB were 100 MB in one transaction, past the
     * heap jvm.options gives (a review).
     */
    private int batches(String table, String condition, Instant before) {
        int size = table.equals("sync_tries") ? 100 : 5000;
        int total = 0;
        while (true) {
            int n = Tx.run(ds, c -> delete(c, "DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table + " WHERE " + condition
                    + " ORDER BY id FETCH FIRST " + size + " ROWS ONLY)", before));
            total += n;
            if (n < size) {
                return total;
            }
        }
    }

    private static int delete(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i] instanceof Instant t ? t.atOffset(ZoneOffset.UTC) : args[i]);
            }
            return ps.executeUpdate();
        }
    }

    private static void add(Map<String, Integer> into, Map<String, Integer> counts) {
        counts.forEach((k, v) -> into.merge(k, v, Integer::sum));
    }
}
