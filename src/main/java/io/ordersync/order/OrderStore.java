package io.ordersync.order;

import io.ordersync.db.Tx;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Order snapshots, sync results, the order log and rejected events, in the database. */
public final class OrderStore {

    private final DataSource ds;

    public OrderStore(DataSource ds) {
        this.ds = ds;
    }

    public DataSource dataSource() {
        return ds;
    }

    static OffsetDateTime ts(Instant i) {
        return i == null ? null : i.atOffset(ZoneOffset.UTC);
    }

    public static Instant instant(ResultSet rs, String column) throws SQLException {
        OffsetDateTime t = rs.getObject(column, OffsetDateTime.class);
        return t == null ? null : t.toInstant();
    }

    /**
     * Stores the document as the order's snapshot unless the stored one is newer (by pretix's
     * {@code last_modified}); returns whether it was stored.
     */
    public boolean saveSnapshot(Connection c, OrderDocument doc, String json, Instant now) throws SQLException {
        String stored = null;
        boolean exists = false;
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT last_modified FROM order_snapshot WHERE event_slug = ? AND order_code = ? FOR UPDATE")) {
            ps.setString(1, doc.eventSlug());
            ps.setString(2, doc.orderCode());
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    exists = true;
                    stored = rs.getString(1);
                }
            }
        }
        if (exists) {
            String incoming = doc.lastModified();
            if (stored != null && incoming != null && isOlder(incoming, stored)) {
                return false;
            }
            try (PreparedStatement ps = c.prepareStatement(UPDATE_SNAPSHOT)) {
                bindUpdate(ps, doc, json, now);
                ps.executeUpdate();
            }
        } else {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO order_snapshot (event_slug, order_code, event_type, "
                    + "document, last_modified, received_at, email, order_status, buyer_name, order_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                ps.setString(1, doc.eventSlug());
                ps.setString(2, doc.orderCode());
                ps.setString(3, doc.type());
                ps.setString(4, json);
                ps.setString(5, doc.lastModified());
                ps.setObject(6, ts(now));
                searchColumns(ps, 7, doc.order());
                ps.executeUpdate();
            }
        }
        return true;
    }

    /** The order's e-mail (lower case), status, buyer name and total: what the order list searches and shows. */
    static void searchColumns(PreparedStatement ps, int first, com.fasterxml.jackson.databind.JsonNode order) throws SQLException {
        String[] v = searchValues(order);
        for (int k = 0; k < v.length; k++) {
            ps.setString(first + k, v[k]);
        }
    }

    /**
     * PostgreSQL: the stored versions of several orders (two text arrays: event slugs, order codes), locked, one
     * primary-key lookup each in the arrays' order ({@code ChunkedIntakeTest} checks the generic plan). The arrays as
     * {@code (SELECT ?)}, so that PostgreSQL uses that generic plan instead of planning every execution
     * ({@code GenericPlansTest}).
     */
    public static final String LOCK_STORED_VERSIONS = "SELECT s.event_slug, s.order_code, s.last_modified "
            + "FROM unnest((SELECT ?::text[]), (SELECT ?::text[])) WITH ORDINALITY AS u(e, o, n) CROSS JOIN LATERAL (SELECT x.event_slug, "
            + "x.order_code, x.last_modified FROM order_snapshot x WHERE x.event_slug = u.e AND x.order_code = u.o "
            + "FOR UPDATE) s ORDER BY u.n";

    private static final String UPDATE_SNAPSHOT = "UPDATE order_snapshot SET event_type = ?, document = ?, last_modified = ?, "
            + "received_at = ?, email = ?, order_status = ?, buyer_name = ?, order_total = ? WHERE event_slug = ? AND order_code = ?";

    private static void bindUpdate(PreparedStatement ps, OrderDocument doc, String json, Instant now) throws SQLException {
        ps.setString(1, doc.type());
        ps.setString(2, json);
        ps.setString(3, doc.lastModified());
        ps.setObject(4, ts(now));
        searchColumns(ps, 5, doc.order());
        ps.setString(9, doc.eventSlug());
        ps.setString(10, doc.orderCode());
    }

    /** The values of the search columns (e-mail, status, buyer name, total) for an order. */
    static String[] searchValues(com.fasterxml.jackson.databind.JsonNode order) {
        String email = normalEmail(order.path("email").asText(""));
        String name = order.path("invoice_address").path("name").asText("");
        return new String[]{email.isEmpty() ? null : truncate(email, 320), truncate(order.path("status").asText(null), 10),
                name.isEmpty() ? null : truncate(name, 400), truncate(order.path("total").asText(null), 40)};
    }

    /** An e-mail address as stored for search and erasure: Unicode NFC, no surrounding (also non-breaking) space, lower case. */
    public static String normalEmail(String email) {
        if (email == null) {
            return "";
        }
        String e = java.text.Normalizer.normalize(email, java.text.Normalizer.Form.NFC).replaceAll("^[\\s\\p{Z}]+|[\\s\\p{Z}]+$", "");
        return e.toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * Fills the search columns of snapshots stored before they existed (V8), in batches; returns how many.
     * Idempotent: several instances starting together fill the same values.
     */
    public int fillSearchColumns(com.fasterxml.jackson.databind.ObjectMapper mapper) {
        int total = 0;
        while (true) {
            int[] n = Tx.run(ds, c -> {
                // the keys of 500, then their documents one at a time until LOCKED_BYTES of them are rewritten: H2 writes
                // an updated row anew, document and all (500 of 32 KB read and rewritten in one transaction, beside a
                // backfill, were part of what ran a 96 MB heap out of memory: BackfillMemoryTest; a review)
                List<Map<String, Object>> rows = rows(c, "SELECT event_slug, order_code FROM order_snapshot "
                        + "WHERE email IS NULL AND order_status IS NULL ORDER BY event_slug, order_code FETCH FIRST 500 ROWS ONLY");
                int done = 0;
                long bytes = 0;
                try (PreparedStatement read = c.prepareStatement(SNAPSHOT);
                     PreparedStatement ps = c.prepareStatement("UPDATE order_snapshot SET email = ?, order_status = ?, buyer_name = ?, "
                        + "order_total = ? WHERE event_slug = ? AND order_code = ?")) {
                    for (Map<String, Object> r : rows) {
                        if (bytes >= LOCKED_BYTES) {
                            break;
                        }
                        done++;
                        String document;
                        read.setString(1, (String) r.get("event_slug"));
                        read.setString(2, (String) r.get("order_code"));
                        try (ResultSet rs = read.executeQuery()) {
                            document = rs.next() ? rs.getString(1) : "{}";
                        }
                        bytes += document.length();
                        com.fasterxml.jackson.databind.JsonNode order;
                        try {
                            order = mapper.readTree(document).path("order");
                        } catch (Exception e) {
                            order = mapper.createObjectNode();
                        }
                        searchColumns(ps, 1, order);
                        if (order.path("status").asText(null) == null) {
                            // no status (or null): marked, so the next batch does not read it again
                            ps.setString(2, "?");
                        }
                        ps.setString(5, (String) r.get("event_slug"));
                        ps.setString(6, (String) r.get("order_code"));
                        ps.addBatch();
                    }
                    ps.executeBatch();
                }
                return new int[]{rows.size(), done};
            });
            total += n[1];
            if (n[1] == n[0] && n[0] < 500) {
                return total;
            }
        }
    }

    /**
     * As {@link #saveSnapshot} for several documents of distinct orders, in the caller's transaction; returns for
     * each whether it was stored. On PostgreSQL in two or three round trips for all of them instead of two per
     * document: the stored versions are read and locked by one statement (in key order, so two instances
     * accepting the same orders lock them in the same order), then the new ones are inserted by one statement and
     * the newer ones updated by one batch. A new order another transaction inserted meanwhile is saved as
     * {@link #saveSnapshot} does. Elsewhere (H2, no round trips) one document after the other.
     */
    public boolean[] saveSnapshots(Connection c, List<OrderDocument> docs, List<String> jsons, Instant now, boolean postgres)
            throws SQLException {
        boolean[] stored = new boolean[docs.size()];
        if (!postgres) {
            for (int i = 0; i < docs.size(); i++) {
                stored[i] = saveSnapshot(c, docs.get(i), jsons.get(i), now);
            }
            return stored;
        }
        Map<List<String>, String> existing = new java.util.HashMap<>();
        // one primary-key lookup per document, whatever the statistics say: written as an IN over unnest(), the
        // planner chose a scan of the whole table in one benchmark run (2 418 buffers per call, BENCHMARKS.md issue 18
        // round six); a lateral lookup has no such choice.
        // The lookups run in key order, which is the order the rows are locked in.
        List<OrderDocument> byKey = new ArrayList<>(docs);
        byKey.sort(java.util.Comparator.comparing(OrderDocument::eventSlug).thenComparing(OrderDocument::orderCode));
        try (PreparedStatement ps = c.prepareStatement(LOCK_STORED_VERSIONS)) {
            ps.setArray(1, c.createArrayOf("text", byKey.stream().map(OrderDocument::eventSlug).toArray()));
            ps.setArray(2, c.createArrayOf("text", byKey.stream().map(OrderDocument::orderCode).toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    existing.put(key(rs.getString(1), rs.getString(2)), rs.getString(3));
                }
            }
        }
        List<Integer> inserts = new ArrayList<>();
        List<Integer> updates = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) {
            OrderDocument doc = docs.get(i);
            List<String> k = key(doc.eventSlug(), doc.orderCode());
            if (!existing.containsKey(k)) {
                inserts.add(i);
                continue;
            }
            String storedVersion = existing.get(k);
            if (storedVersion != null && doc.lastModified() != null && isOlder(doc.lastModified(), storedVersion)) {
                continue;
            }
            updates.add(i);
            stored[i] = true;
        }
        if (!inserts.isEmpty()) {
            java.util.Set<List<String>> inserted = new java.util.HashSet<>();
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO order_snapshot (event_slug, order_code, event_type, document, "
                    + "last_modified, received_at, email, order_status, buyer_name, order_total) SELECT u.e, u.o, u.t, u.d, u.lm, ?, "
                    + "u.em, u.st, u.bn, u.tot FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], "
                    + "?::text[], ?::text[]) AS u(e, o, t, d, lm, em, st, bn, tot) "
                    + "ON CONFLICT (event_slug, order_code) DO NOTHING RETURNING event_slug, order_code")) {
                ps.setObject(1, ts(now));
                bindColumns(c, ps, 2, docs, jsons, inserts);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        inserted.add(key(rs.getString(1), rs.getString(2)));
                    }
                }
            }
            for (int i : inserts) {
                OrderDocument doc = docs.get(i);
                // inserted by another transaction since the read: compared with it as one document at a time is
                stored[i] = inserted.contains(key(doc.eventSlug(), doc.orderCode())) || saveSnapshot(c, doc, jsons.get(i), now);
            }
        }
        if (!updates.isEmpty()) {
            // a batch of single-row updates (one round trip): each by the primary key, whatever the statistics say
            try (PreparedStatement ps = c.prepareStatement(UPDATE_SNAPSHOT)) {
                for (int i : updates) {
                    bindUpdate(ps, docs.get(i), jsons.get(i), now);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
        }
        return stored;
    }

    /** The snapshot columns of the documents at {@code which}, as nine arrays from parameter {@code first} on. */
    private static void bindColumns(Connection c, PreparedStatement ps, int first, List<OrderDocument> docs, List<String> jsons,
                                    List<Integer> which) throws SQLException {
        int n = which.size();
        String[][] cols = new String[9][n];
        for (int j = 0; j < n; j++) {
            int i = which.get(j);
            OrderDocument doc = docs.get(i);
            cols[0][j] = doc.eventSlug();
            cols[1][j] = doc.orderCode();
            cols[2][j] = doc.type();
            cols[3][j] = jsons.get(i);
            cols[4][j] = doc.lastModified();
            String[] search = searchValues(doc.order());
            for (int k = 0; k < 4; k++) {
                cols[5 + k][j] = search[k];
            }
        }
        for (int k = 0; k < 9; k++) {
            ps.setArray(first + k, c.createArrayOf("text", cols[k]));
        }
    }

    private static List<String> key(String eventSlug, String orderCode) {
        return List.of(eventSlug, orderCode);
    }

    /** Whether pretix last_modified {@code incoming} is before {@code stored} (as instants; as text when either does not parse). */
    public static boolean isOlder(String incoming, String stored) {
        try {
            return OffsetDateTime.parse(incoming).isBefore(OffsetDateTime.parse(stored));
        } catch (RuntimeException e) {
            return incoming.compareTo(stored) < 0;
        }
    }

    /** The stored document of an order, or null. */
    /** An order's stored snapshot, by event and order code (also read by a claim, {@code SyncQueue#claim}). */
    public static final String SNAPSHOT = "SELECT document FROM order_snapshot WHERE event_slug = ? AND order_code = ?";

    /**
     * The snapshot, its row locked until the commit: what queues an order outside intake (an operator's Sync now, a
     * backfill) and what deletes one (an erase, the retention purge) take this lock first, so that neither sees the
     * other half done. Without it, a purge or an erase that ran between a Sync now's read and its enqueue left a
     * queue row whose order was gone (parked as a system error).
     */
    public static final String SNAPSHOT_LOCKED = SNAPSHOT + " FOR UPDATE";

    /**
     * After how many characters of locked documents a backfill's chunk or a purge's batch stops taking more (it takes
     * one more document at most after reaching it, and always one): H2 writes a locked row anew, document and all, so
     * a hundred of 32 KB in one transaction ran a 96 MB heap out of memory and H2 closed the database
     * (BackfillMemoryTest).
     */
    public static final long LOCKED_BYTES = 1 << 20;

    public String snapshot(String eventSlug, String orderCode) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement(SNAPSHOT)) {
                ps.setString(1, eventSlug);
                ps.setString(2, orderCode);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? rs.getString(1) : null;
                }
            }
        });
    }

    public void log(Connection c, String eventSlug, String orderCode, String provider, String kind, String message,
                    Instant now) throws SQLException {
        log(c, List.of(new LogEntry(eventSlug, orderCode, provider, kind, message, now)));
    }

    /** One line of an order's sync log. */
    public record LogEntry(String eventSlug, String orderCode, String provider, String kind, String message, Instant at) {
    }

    /** Several log lines in one batched statement (a group commit's). */
    public void log(Connection c, List<LogEntry> entries) throws SQLException {
        if (entries.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO order_log "
                + "(event_slug, order_code, provider, kind, message, created_at) VALUES (?, ?, ?, ?, ?, ?)")) {
            for (LogEntry e : entries) {
                ps.setString(1, e.eventSlug());
                ps.setString(2, e.orderCode());
                ps.setString(3, e.provider());
                ps.setString(4, e.kind());
                ps.setString(5, truncate(e.message(), 4000));
                ps.setObject(6, ts(e.at()));
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    public void log(String eventSlug, String orderCode, String provider, String kind, String message, Instant at) {
        Tx.run(ds, c -> {
            log(c, eventSlug, orderCode, provider, kind, message, at);
            return null;
        });
    }

    /** One synced remote object. */
    public record Result(String mappingId, String remoteType, String idField, String idValue, String remoteId,
                         String externalLink, String displayName, String action, Instant syncedAt) {
    }

    /**
     * Stores the results of one sync, each replacing the earlier result of the same object (an upsert: the row
     * keeps its id): one batched statement for all of them (on PostgreSQL one round trip). Two
     * objects of one sync with the same mapping and id value (e.g. two tickets keyed by one attendee
     * e-mail) are one object at the target: the later result is kept.
     */
    public void saveResults(Connection c, String eventSlug, String orderCode, String provider, List<Result> all)
            throws SQLException {
        saveResults(c, List.of(new ResultsOf(eventSlug, orderCode, provider, all)));
    }

    /** The results of one sync: an order, a provider, its objects. */
    public record ResultsOf(String eventSlug, String orderCode, String provider, List<Result> results) {
    }

    private static final String RESULT_COLUMNS = "event_slug, order_code, provider, mapping_id, remote_type, id_field, "
            + "id_value, remote_id, external_link, display_name, action, synced_at";

    /** H2: update the object's row if there is one, else insert it (the row keeps its id). */
    static final String UPSERT_RESULT_H2 = "MERGE INTO sync_result (" + RESULT_COLUMNS + ") "
            + "KEY (event_slug, order_code, provider, mapping_id, id_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

    /** PostgreSQL: the same, atomic against a concurrent write of the same object. */
    static final String UPSERT_RESULT_POSTGRES = "INSERT INTO sync_result (" + RESULT_COLUMNS + ") "
            + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT ON CONSTRAINT sync_result_object DO UPDATE SET "
            + "remote_type = EXCLUDED.remote_type, id_field = EXCLUDED.id_field, remote_id = EXCLUDED.remote_id, "
            + "external_link = EXCLUDED.external_link, display_name = EXCLUDED.display_name, action = EXCLUDED.action, "
            + "synced_at = EXCLUDED.synced_at";

    private volatile Boolean postgres;

    private boolean postgres(Connection c) throws SQLException {
        Boolean p = postgres;
        if (p == null) {
            p = c.getMetaData().getDatabaseProductName().toLowerCase(java.util.Locale.ROOT).contains("postgres");
            postgres = p;
        }
        return p;
    }

    /** As {@link #saveResults(Connection, String, String, String, List)} for the syncs of a group commit: one batched statement. */
    public void saveResults(Connection c, List<ResultsOf> syncs) throws SQLException {
        List<ResultsOf> kept = new java.util.ArrayList<>();
        for (ResultsOf s : syncs) {
            Map<String, Result> byObject = new LinkedHashMap<>();
            for (Result r : s.results()) {
                String key = r.mappingId() + '\n' + truncate(r.idValue(), 1000);
                byObject.remove(key);
                byObject.put(key, r);
            }
            if (!byObject.isEmpty()) {
                kept.add(new ResultsOf(s.eventSlug(), s.orderCode(), s.provider(), List.copyOf(byObject.values())));
            }
        }
        if (kept.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement(postgres(c) ? UPSERT_RESULT_POSTGRES : UPSERT_RESULT_H2)) {
            for (ResultsOf s : kept) {
                for (Result r : s.results()) {
                    ps.setString(1, s.eventSlug());
                    ps.setString(2, s.orderCode());
                    ps.setString(3, s.provider());
                    ps.setString(4, r.mappingId());
                    ps.setString(5, r.remoteType());
                    ps.setString(6, r.idField());
                    ps.setString(7, truncate(r.idValue(), 1000));
                    ps.setString(8, truncate(r.remoteId(), 1000));
                    ps.setString(9, truncate(r.externalLink(), 2000));
                    ps.setString(10, truncate(r.displayName(), 1000));
                    ps.setString(11, r.action());
                    ps.setObject(12, ts(r.syncedAt()));
                    ps.addBatch();
                }
            }
            ps.executeBatch();
        }
    }

    public List<Map<String, Object>> results(String eventSlug, String orderCode) {
        return query("SELECT provider, mapping_id, remote_type, id_field, id_value, remote_id, external_link, display_name, "
                + "action, synced_at FROM sync_result WHERE event_slug = ? AND order_code = ? ORDER BY id", eventSlug, orderCode);
    }

    public List<Map<String, Object>> logEntries(String eventSlug, String orderCode) {
        return query("SELECT provider, kind, message, created_at FROM order_log WHERE event_slug = ? AND order_code = ? "
                + "ORDER BY id", eventSlug, orderCode);
    }

    public long reject(Connection c, String source, String payload, String reason, Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO rejected_event (source, payload, reason, received_at) VALUES (?, ?, ?, ?)", new String[]{"id"})) {
            ps.setString(1, source);
            // PostgreSQL's text holds no NUL: a body with one (not JSON anyway) was a 500 instead of a rejected event
            ps.setString(2, payload == null ? null : payload.replace('\u0000', '\uFFFD'));
            ps.setString(3, reason == null ? null : truncate(reason, 4000).replace('\u0000', '\uFFFD'));
            ps.setObject(4, ts(now));
            ps.executeUpdate();
            try (ResultSet keys = ps.getGeneratedKeys()) {
                return keys.next() ? keys.getLong(1) : -1;
            }
        }
    }

    public List<Map<String, Object>> rejected() {
        return query("SELECT id, source, reason, received_at, payload FROM rejected_event ORDER BY id");
    }

    /** A small read helper: rows as ordered maps with lower-case column names. */
    public List<Map<String, Object>> query(String sql, Object... args) {
        return Tx.run(ds, c -> rows(c, sql, args));
    }

    /** Rows of a query as ordered maps with lower-case column names, times as ISO instants. */
    public static List<Map<String, Object>> rows(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                List<Map<String, Object>> rows = new ArrayList<>();
                int n = rs.getMetaData().getColumnCount();
                while (rs.next()) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    for (int i = 1; i <= n; i++) {
                        String col = rs.getMetaData().getColumnLabel(i).toLowerCase(java.util.Locale.ROOT);
                        Object v = rs.getObject(i);
                        if (v instanceof OffsetDateTime odt) {
                            v = odt.toInstant().toString();
                        } else if (v instanceof Timestamp t) {
                            v = t.toInstant().toString();
                        } else if (v instanceof java.sql.Clob clob) {
                            v = clob.getSubString(1, (int) clob.length());
                        }
                        row.put(col, v);
                    }
                    rows.add(row);
                }
                return rows;
            }
        }
    }

    static String truncate(String s, int max) {
        return s == null || s.length() <= max ? s : s.substring(0, max - 1) + "…";
    }
}
