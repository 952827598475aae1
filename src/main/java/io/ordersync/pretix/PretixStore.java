package io.ordersync.pretix;

import io.ordersync.db.Tx;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The pretix source's tables (V7__pretix_source.sql): fetches to do, polling cursors, imports. */
public final class PretixStore {

    private final DataSource ds;
    /** How long a claimed fetch or import belongs to this instance before another may take it up. */
    private final Duration lease;

    public PretixStore(DataSource ds, Duration lease) {
        this.ds = ds;
        this.lease = lease;
    }

    public DataSource dataSource() {
        return ds;
    }

    static OffsetDateTime ts(Instant i) {
        return i == null ? null : i.atOffset(ZoneOffset.UTC);
    }

    // ---- fetches ----

    /** A claimed fetch row. */
    record Fetch(long id, String event, String code, String type, int version, int attempts) {
    }

    /**
     * Queues a fetch of the order (inside the caller's transaction): a new row, or — when one waits — the new
     * trigger merged into it, due now, unparked, its version raised so that a fetch already under way does
     * not delete it.
     */
    void enqueueFetch(Connection c, String event, String code, String type, String source, Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE pretix_fetch SET trigger_type = ?, source = ?, not_before = ?, "
                + "parked = NULL, attempts = 0, version = version + 1 WHERE event_slug = ? AND order_code = ?")) {
            ps.setString(1, type);
            ps.setString(2, source);
            ps.setObject(3, ts(now));
            ps.setString(4, event);
            ps.setString(5, code);
            if (ps.executeUpdate() == 1) {
                return;
            }
        }
        var sp = c.setSavepoint();
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO pretix_fetch (event_slug, order_code, trigger_type, source, "
                + "not_before, created_at) VALUES (?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, event);
            ps.setString(2, code);
            ps.setString(3, type);
            ps.setString(4, source);
            ps.setObject(5, ts(now));
            ps.setObject(6, ts(now));
            ps.executeUpdate();
        } catch (SQLException e) {
            if (!Tx.isConstraintViolation(e)) {
                throw e;
            }
            // another instance inserted it between our update and insert: merge into its row
            c.rollback(sp);
            enqueueFetch(c, event, code, type, source, now);
        }
    }

    /** Claims up to {@code limit} due fetches (their not_before moves a lease ahead). */
    List<Fetch> claimFetches(int limit, Instant now) {
        List<Fetch> due = Tx.run(ds, c -> {
            List<Fetch> rows = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT id, event_slug, order_code, trigger_type, version, attempts "
                    + "FROM pretix_fetch WHERE parked IS NULL AND not_before <= ? ORDER BY not_before FETCH FIRST " + limit + " ROWS ONLY")) {
                ps.setObject(1, ts(now));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        rows.add(new Fetch(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getInt(5), rs.getInt(6)));
                    }
                }
            }
            return rows;
        });
        if (due.isEmpty()) {
            return due;
        }
        return Tx.run(ds, c -> {
            List<Fetch> claimed = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("UPDATE pretix_fetch SET not_before = ? WHERE id = ? AND version = ? "
                    + "AND parked IS NULL AND not_before <= ?")) {
                for (Fetch f : due) {
                    ps.setObject(1, ts(now.plus(lease)));
                    ps.setLong(2, f.id());
                    ps.setInt(3, f.version());
                    ps.setObject(4, ts(now));
                    if (ps.executeUpdate() == 1) {
                        claimed.add(f);
                    }
                }
            }
            return claimed;
        });
    }

    /**
     * The fetch is done (in the transaction that accepted its document): gone, unless a newer trigger came meanwhile.
     * False when its row is gone already: the order was erased while it was fetched (or the instance that took the
     * fetch up after this one's lease ran out stored it), and what this fetch read must not be stored.
     */
    boolean fetchDone(Connection c, long id, int version) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM pretix_fetch WHERE id = ? AND version = ?")) {
            ps.setLong(1, id);
            ps.setInt(2, version);
            if (ps.executeUpdate() == 1) {
                return true;
            }
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM pretix_fetch WHERE id = ?")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    /** A failed fetch: due again after its backoff (or pretix's Retry-After), or parked with the reason. */
    void fetchFailed(long id, int version, int attempts, PretixException e, Instant now) {
        Tx.runDurable(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE pretix_fetch SET attempts = ?, not_before = ?, parked = ?, "
                    + "last_error = ? WHERE id = ? AND version = ?")) {
                Instant next = now.plus(PretixHttp.backoff(attempts + 1));
                if (e.retryAt() != null && e.retryAt().isAfter(next)) {
                    next = e.retryAt();
                }
                ps.setInt(1, attempts + 1);
                ps.setObject(2, ts(e.recoverable() ? next : now));
                ps.setString(3, e.recoverable() ? null : "refused");
                ps.setString(4, cut(e.getMessage()));
                ps.setLong(5, id);
                ps.setInt(6, version);
                return ps.executeUpdate();
            }
        });
    }

    /**
     * Fetches parked for longer than {@code age} are forgotten (an order pretix does not have, a flood of forged
     * codes). Counted from the parking, not from the row's first trigger: a fetch that retried for days while pretix
     * was down, and then parked, is still listed for {@code age}. A parked row's not_before is the moment it parked
     * ({@link #fetchFailed}); a later trigger or a retry unparks it.
     */
    int pruneParked(Instant now, Duration age) {
        return Tx.runDurable(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM pretix_fetch WHERE parked IS NOT NULL AND not_before < ?")) {
                ps.setObject(1, ts(now.minus(age)));
                return ps.executeUpdate();
            }
        });
    }

    /** Fetches not parked (waiting, or under way), counted up to {@code most} (index pretix_fetch_waiting, V25). */
    long waitingFetches(int most) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM (SELECT 1 FROM pretix_fetch WHERE parked IS NULL "
                    + "FETCH FIRST ? ROWS ONLY) w")) {
                ps.setInt(1, most);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getLong(1);
                }
            }
        });
    }

    /** Parked fetches due again now (after the token or the order was fixed); returns how many. */
    int retryParked(Instant now) {
        return Tx.runDurable(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE pretix_fetch SET parked = NULL, attempts = 0, not_before = ?, "
                    + "version = version + 1 WHERE parked IS NOT NULL")) {
                ps.setObject(1, ts(now));
                return ps.executeUpdate();
            }
        });
    }

    // ---- snapshots ----

    /**
     * The stored snapshot's last_modified and order status of an order, or null when there is none; locked, so
     * that two readers of the same state (a fetch and a poll) cannot both take it in.
     */
    String[] snapshot(Connection c, String event, String code, com.fasterxml.jackson.databind.ObjectMapper mapper) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT last_modified, document FROM order_snapshot WHERE event_slug = ? AND order_code = ? FOR UPDATE")) {
            ps.setString(1, event);
            ps.setString(2, code);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                String status;
                try {
                    status = mapper.readTree(rs.getString(2)).path("order").path("status").asText(null);
                } catch (Exception unreadable) {
                    status = null;
                }
                return new String[]{rs.getString(1), status};
            }
        }
    }

    // ---- polling ----

    String cursor(String key) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT modified_since FROM pretix_cursor WHERE event_slug = ?")) {
                ps.setString(1, key);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? rs.getString(1) : null;
                }
            }
        });
    }

    void saveCursor(Connection c, String key, String since, Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE pretix_cursor SET modified_since = ?, updated_at = ? WHERE event_slug = ?")) {
            ps.setString(1, since);
            ps.setObject(2, ts(now));
            ps.setString(3, key);
            if (ps.executeUpdate() == 1) {
                return;
            }
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO pretix_cursor (event_slug, modified_since, updated_at) VALUES (?, ?, ?)")) {
            ps.setString(1, key);
            ps.setString(2, since);
            ps.setObject(3, ts(now));
            ps.executeUpdate();
        }
    }

    // ---- imports ----

    /** An import asked for: its id, and whether it was started now (false: the import of the event that runs). */
    record Started(long id, boolean started) {
    }

    /**
     * Starts an import of the event, or answers with the one that runs: one running import per event (V24's
     * unique running_event). Two starts at once: the second's insert fails on the constraint, and its retry finds
     * the first's import.
     */
    Started startImport(String event, Instant now) {
        return Tx.runRetrying(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT id FROM pretix_import WHERE running_event = ?")) {
                ps.setString(1, event);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        return new Started(rs.getLong(1), false);
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO pretix_import (event_slug, state, next_page, started_at, updated_at, "
                    + "running_event) VALUES (?, 'running', 1, ?, ?, ?)", new String[]{"id"})) {
                ps.setString(1, event);
                ps.setObject(2, ts(now));
                ps.setObject(3, ts(now));
                ps.setString(4, event);
                ps.executeUpdate();
                try (ResultSet rs = ps.getGeneratedKeys()) {
                    rs.next();
                    return new Started(rs.getLong(1), true);
                }
            }
        });
    }

    /**
     * Cancels a running import: it reads no further page (a page it is reading is not stored). Null when there is no
     * such import, else its state before: "running" when it was canceled now.
     */
    String cancelImport(long id, Instant now) {
        return Tx.runDurable(ds, c -> {
            String state;
            try (PreparedStatement ps = c.prepareStatement("SELECT state FROM pretix_import WHERE id = ? FOR UPDATE")) {
                ps.setLong(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return null;
                    }
                    state = rs.getString(1);
                }
            }
            if ("running".equals(state)) {
                try (PreparedStatement ps = c.prepareStatement("UPDATE pretix_import SET state = 'canceled', running_event = NULL, "
                        + "lease_until = NULL, updated_at = ? WHERE id = ?")) {
                    ps.setObject(1, ts(now));
                    ps.setLong(2, id);
                    ps.executeUpdate();
                }
            }
            return state;
        });
    }

    /** The state of an import, or null when it is gone. */
    String importState(Connection c, long id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT state FROM pretix_import WHERE id = ?")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    /** A running import nobody holds, now held by this instance: {id, event, next page}; null when there is none. */
    Object[] claimImport(Instant now) {
        return Tx.run(ds, c -> {
            Object[] row = null;
            try (PreparedStatement ps = c.prepareStatement("SELECT id, event_slug, next_page FROM pretix_import WHERE state = 'running' "
                    + "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY id FETCH FIRST 1 ROWS ONLY")) {
                ps.setObject(1, ts(now));
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        row = new Object[]{rs.getLong(1), rs.getString(2), rs.getInt(3)};
                    }
                }
            }
            if (row == null) {
                return null;
            }
            // and still running: a cancel that committed since the SELECT leaves the import alone
            try (PreparedStatement ps = c.prepareStatement("UPDATE pretix_import SET lease_until = ? WHERE id = ? "
                    + "AND (lease_until IS NULL OR lease_until <= ?) AND state = 'running'")) {
                ps.setObject(1, ts(now.plus(lease)));
                ps.setLong(2, (Long) row[0]);
                ps.setObject(3, ts(now));
                return ps.executeUpdate() == 1 ? row : null;
            }
        });
    }

    /**
     * One page of an import taken in (in the transaction that accepted its orders). False when the import is no
     * longer at that page: another instance took it up after this one's lease ran out and stored the page first
     * (the caller rolls back, so that the page is counted once).
     */
    boolean importPage(Connection c, long id, int page, Integer total, int accepted, int unchanged, boolean last, Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE pretix_import SET next_page = ?, total = COALESCE(?, total), "
                + "done = done + ?, unchanged = unchanged + ?, state = ?, last_error = NULL, failures = 0, updated_at = ?, lease_until = ?, "
                + "running_event = CASE WHEN ? THEN NULL ELSE running_event END "
                + "WHERE id = ? AND next_page = ? AND state = 'running'")) {
            ps.setInt(1, page + 1);
            ps.setObject(2, total);
            ps.setInt(3, accepted);
            ps.setInt(4, unchanged);
            ps.setString(5, last ? "done" : "running");
            ps.setObject(6, ts(now));
            ps.setObject(7, ts(last ? null : now.plus(lease)));
            ps.setBoolean(8, last);
            ps.setLong(9, id);
            ps.setInt(10, page);
            return ps.executeUpdate() == 1;
        }
    }

    /**
     * Lets go of an import this instance held at {@code page} (it stops): the next start, or another instance, takes
     * it up at once. Not if the import moved on meanwhile: another instance holds it.
     */
    void releaseImport(long id, int page) {
        Tx.runDurable(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE pretix_import SET lease_until = NULL WHERE id = ? "
                    + "AND next_page = ? AND state = 'running'")) {
                ps.setLong(1, id);
                ps.setInt(2, page);
                return ps.executeUpdate();
            }
        });
    }

    /**
     * Page {@code page} of an import failed: tried again after the backoff of a fetch that failed as often (pretix
     * unavailable), or the import failed (refused). Not if the import moved on meanwhile: the instance that took it
     * up after this one's lease ran out holds it, and this one's failure is not its.
     */
    void importFailed(long id, int page, PretixException e, Instant now) {
        Tx.runDurable(ds, c -> {
            int failures;
            try (PreparedStatement ps = c.prepareStatement("SELECT failures FROM pretix_import WHERE id = ? AND next_page = ? "
                    + "AND state = 'running' FOR UPDATE")) {
                ps.setLong(1, id);
                ps.setInt(2, page);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return 0;
                    }
                    failures = rs.getInt(1) + 1;
                }
            }
            try (PreparedStatement ps = c.prepareStatement("UPDATE pretix_import SET state = ?, last_error = ?, updated_at = ?, "
                    + "lease_until = ?, failures = ?, running_event = CASE WHEN ? THEN running_event ELSE NULL END "
                    + "WHERE id = ? AND next_page = ? AND state = 'running'")) {
                Instant next = e.retryAt() != null ? e.retryAt() : now.plus(PretixHttp.backoff(failures));
                ps.setString(1, e.recoverable() ? "running" : "failed");
                ps.setString(2, cut(e.getMessage()));
                ps.setObject(3, ts(now));
                ps.setObject(4, ts(next));
                ps.setInt(5, failures);
                ps.setBoolean(6, e.recoverable());
                ps.setLong(7, id);
                ps.setInt(8, page);
                return ps.executeUpdate();
            }
        });
    }

    List<Map<String, Object>> imports() {
        return Tx.run(ds, c -> {
            List<Map<String, Object>> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT id, event_slug, state, next_page, total, done, unchanged, last_error, "
                    + "started_at, updated_at FROM pretix_import ORDER BY id DESC FETCH FIRST 50 ROWS ONLY");
                 ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("id", rs.getLong(1));
                    m.put("event", rs.getString(2));
                    m.put("state", rs.getString(3));
                    m.put("next_page", rs.getInt(4));
                    m.put("total", rs.getObject(5));
                    m.put("done", rs.getInt(6));
                    m.put("unchanged", rs.getInt(7));
                    m.put("last_error", rs.getString(8));
                    m.put("started_at", String.valueOf(rs.getObject(9, OffsetDateTime.class)));
                    m.put("updated_at", String.valueOf(rs.getObject(10, OffsetDateTime.class)));
                    out.add(m);
                }
            }
            return out;
        });
    }

    /** Counts for the status answer: fetches waiting, failing, parked (with their reasons). */
    Map<String, Object> fetchStatus() {
        return Tx.run(ds, c -> {
            Map<String, Object> m = new LinkedHashMap<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*), SUM(CASE WHEN attempts > 0 AND parked IS NULL THEN 1 ELSE 0 END), "
                    + "SUM(CASE WHEN parked IS NOT NULL THEN 1 ELSE 0 END) FROM pretix_fetch"); ResultSet rs = ps.executeQuery()) {
                rs.next();
                m.put("fetches", rs.getLong(1));
                m.put("retrying", rs.getLong(2));
                m.put("parked", rs.getLong(3));
            }
            List<Map<String, Object>> parked = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT event_slug, order_code, last_error FROM pretix_fetch WHERE parked IS NOT NULL "
                    + "OR attempts > 0 ORDER BY id DESC FETCH FIRST 20 ROWS ONLY"); ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    parked.add(Map.of("event", rs.getString(1), "code", rs.getString(2), "error", String.valueOf(rs.getString(3))));
                }
            }
            m.put("problems", parked);
            return m;
        });
    }

    private static String cut(String s) {
        return s == null || s.length() <= 4000 ? s : s.substring(0, 3999) + "…";
    }
}
