package io.ordersync.order;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.db.Tx;
import io.ordersync.mapping.Secrets;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Every delivery try of a sync (table sync_tries, one row per sync): the request and the answer as far as an
 * operator needs them to see what went wrong — bodies cut to a limit, every credential value and every JSON field
 * whose name marks a secret replaced by [redacted]; request headers are never stored. Written with the sync's
 * outcome.
 */
public final class AttemptLog {

    /** One try: a request sent (with its answer, or the error that came instead) or a call of a route or provider. */
    public record Attempt(Instant at, String mappingId, String remoteType, String purpose, String method, String url,
                          Integer status, long latencyMs, String requestBody, String responseBody, String error) {
    }

    static final String REDACTED = "[redacted]";

    private final DataSource ds;
    private final int bodyLimit;
    private final List<String> secretFieldWords;
    /** The secret-field words by their first (lower-case ASCII) character. */
    private final String[][] wordsByFirst;
    /** Words that start outside ASCII: looked for in a lower-cased copy. */
    private final List<String> nonAsciiWords = new java.util.ArrayList<>();
    private final ObjectMapper mapper = new ObjectMapper().enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    /** "name": "value", name=value, name: value — for bodies that are not one JSON document (form data, NDJSON, prefixed JSON). */
    private final java.util.regex.Pattern fieldPattern;

    /** {@code secretFieldWords}: a JSON field whose lower-cased name contains one of them has its value redacted. */
    public AttemptLog(DataSource ds, int bodyLimit, Collection<String> secretFieldWords) {
        this.ds = ds;
        this.bodyLimit = Math.max(0, Math.min(bodyLimit, 4000));
        this.secretFieldWords = secretFieldWords.stream().map(w -> w.trim().toLowerCase(Locale.ROOT)).filter(w -> !w.isEmpty()).toList();
        String words = this.secretFieldWords.stream().map(java.util.regex.Pattern::quote).reduce((a, b) -> a + "|" + b).orElse("(?!)");
        this.wordsByFirst = new String[128][];
        for (String w : this.secretFieldWords) {
            char first = w.charAt(0);
            if (!w.chars().allMatch(ch -> ch < 128)) {
                // lower-casing may change its length (İ → i̇): compared with a lower-cased copy, as configured
                nonAsciiWords.add(w);
                continue;
            }
            String[] old = wordsByFirst[first];
            String[] grown = old == null ? new String[1] : java.util.Arrays.copyOf(old, old.length + 1);
            grown[grown.length - 1] = w;
            wordsByFirst[first] = grown;
        }
        this.fieldPattern = java.util.regex.Pattern.compile("(?i)(\"?[\\w.\\-]*(?:" + words + ")[\\w.\\-]*\"?\\s*[:=]\\s*)(\"(?:[^\"\\\\]|\\\\.)*\"|[^&\\s,;}\\]]+)");
    }

    /** Stores the tries of one sync, redacted with these secret values (the provider's credentials, tokens, ordersync's own). */
    public void record(Connection c, String eventSlug, String orderCode, String provider, List<Attempt> attempts,
                       Set<String> secrets) throws SQLException {
        record(c, List.of(prepare(eventSlug, orderCode, provider, attempts, secrets)));
    }

    /** The tries of one sync as they are stored: redacted and cut, ready for {@link #record(Connection, List)}. */
    public record Tries(String eventSlug, String orderCode, String provider, List<Row> rows) {
    }

    /** One try as stored. */
    public record Row(String mappingId, String remoteType, String purpose, String method, String url, Integer status,
                      int latencyMs, String requestBody, String responseBody, String error, Instant at) {
    }

    /**
     * Redacts and cuts the tries of one sync — in the worker's thread, before a group commit, which then only
     * writes them.
     */
    public Tries prepare(String eventSlug, String orderCode, String provider, List<Attempt> attempts, Set<String> secrets) {
        List<Row> rows = new java.util.ArrayList<>(attempts == null ? 0 : attempts.size());
        if (attempts != null) {
            for (Attempt a : attempts) {
                rows.add(new Row(cut(a.mappingId(), 100), cut(a.remoteType(), 100), cut(a.purpose(), 20), cut(a.method(), 10),
                        cut(Secrets.redact(a.url(), secrets), 2000), a.status(),
                        (int) Math.min(Integer.MAX_VALUE, Math.max(0, a.latencyMs())), body(a.requestBody(), secrets),
                        body(a.responseBody(), secrets), cut(Secrets.redact(a.error(), secrets), 2000),
                        // microseconds, as the database keeps every other time
                        (a.at() == null ? Instant.now() : a.at()).truncatedTo(java.time.temporal.ChronoUnit.MICROS)));
            }
        }
        return new Tries(eventSlug, orderCode, provider, rows);
    }

    /** The tries of several syncs (a group commit's) in one batched statement. */
    public void record(Connection c, List<Tries> syncs) throws SQLException {
        if (syncs.stream().allMatch(t -> t.rows().isEmpty())) {
            return;
        }
        // behind a savepoint: tries that cannot be stored must not cost the syncs' outcomes
        java.sql.Savepoint sp = c.setSavepoint();
        try {
            insert(c, syncs);
        } catch (SQLException | RuntimeException e) {
            try {
                c.rollback(sp);
            } catch (SQLException rollbackFailed) {
                // the connection is gone (the pool closed it when the insert found it broken), and the outcomes'
                // transaction with it: the insert's failure says why, "Connection is closed" would not
                e.addSuppressed(rollbackFailed);
                throw e;
            }
            if (syncs.size() > 1) {
                // one sync's tries may be the cause: each again behind its own savepoint, so only those are lost
                for (Tries t : syncs) {
                    record(c, List.of(t));
                }
                return;
            }
            Tries t = syncs.get(0);
            org.slf4j.LoggerFactory.getLogger(AttemptLog.class).warn("The tries of {}/{} to {} were not stored: {}", t.eventSlug(),
                    t.orderCode(), t.provider(), e.getMessage());
        }
    }

    /**
     * Stores the tries of several syncs as the first writes of the caller's transaction, without a savepoint (on
     * PostgreSQL a savepoint is a round trip of its own, in every group commit). When they cannot be stored, the
     * transaction is rolled back, which loses nothing since nothing else was written in it yet, and false is
     * returned: the caller goes on without them (and stores them with {@link #record(Connection, List)}, which
     * keeps each sync's tries apart). When the rollback fails too (the connection broke), the insert's failure is thrown.
     */
    public boolean recordFirst(Connection c, List<Tries> syncs) throws SQLException {
        if (syncs.stream().allMatch(t -> t.rows().isEmpty())) {
            return true;
        }
        try {
            insert(c, syncs);
            return true;
        } catch (SQLException | RuntimeException e) {
            try {
                c.rollback();
            } catch (SQLException rollbackFailed) {
                // the connection is gone: the insert's failure says why
                e.addSuppressed(rollbackFailed);
                throw e;
            }
            return false;
        }
    }

    /** Deletes every try stored of an order, in the caller's transaction (an order erased while its sync ran). */
    public void forget(Connection c, String eventSlug, String orderCode) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM sync_tries WHERE event_slug = ? AND order_code = ?")) {
            ps.setString(1, eventSlug);
            ps.setString(2, orderCode);
            ps.executeUpdate();
        }
    }

    /**
     * Longest JSON text of tries in one row: the column holds 1 000 000 characters on H2; a sync whose tries need
     * more (hundreds of tries with long bodies) takes several rows.
     */
    static final int MAX_ROW_CHARS = 900_000;

    /** One row of sync_tries as written: some or all tries of one sync, as a JSON array. */
    public record Chunk(String json, int count, Instant first, Instant last) {
    }

    /** The tries of one sync as the JSON arrays of its rows, in the order they were made. */
    public static List<Chunk> chunks(List<Row> rows) {
        if (rows.isEmpty()) {
            return List.of();
        }
        // one generator for all of them: each generator takes buffers of its own
        java.io.StringWriter w = new java.io.StringWriter(512 * rows.size());
        int[] ends = new int[rows.size()];
        try (com.fasterxml.jackson.core.JsonGenerator g = JSON.createGenerator(w)) {
            g.writeStartArray();
            for (int i = 0; i < rows.size(); i++) {
                write(g, rows.get(i));
                g.flush();
                ends[i] = w.getBuffer().length();
            }
            g.writeEndArray();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e); // a StringWriter does not fail
        }
        StringBuffer all = w.getBuffer();
        if (all.length() <= MAX_ROW_CHARS) {
            return List.of(chunk(all.toString(), rows));
        }
        // too long for one row: as many tries to a row as fit (each try's text runs from after the "[" or "," before it)
        List<Chunk> out = new java.util.ArrayList<>();
        int from = 0;
        while (from < rows.size()) {
            int start = from == 0 ? 1 : ends[from - 1] + 1;
            int to = from + 1;
            while (to < rows.size() && ends[to] - start + 2 <= MAX_ROW_CHARS) {
                to++;
            }
            out.add(chunk("[" + all.substring(start, ends[to - 1]) + "]", rows.subList(from, to)));
            from = to;
        }
        return out;
    }

    /** The row holding these tries as {@code json}, with the time of the first and the last of them. */
    private static Chunk chunk(String json, List<Row> rows) {
        return new Chunk(json, rows.size(), rows.stream().map(Row::at).min(Instant::compareTo).orElseThrow(),
                rows.stream().map(Row::at).max(Instant::compareTo).orElseThrow());
    }

    private static final com.fasterxml.jackson.core.JsonFactory JSON = new com.fasterxml.jackson.core.JsonFactory();

    /** One try as a JSON object, with the names the API answers with. */
    private static void write(com.fasterxml.jackson.core.JsonGenerator g, Row r) throws java.io.IOException {
        g.writeStartObject();
        g.writeStringField("mapping_id", r.mappingId());
        g.writeStringField("remote_type", r.remoteType());
        g.writeStringField("purpose", r.purpose());
        g.writeStringField("method", r.method());
        g.writeStringField("url", r.url());
        if (r.status() == null) {
            g.writeNullField("status");
        } else {
            g.writeNumberField("status", r.status());
        }
        g.writeNumberField("latency_ms", r.latencyMs());
        g.writeStringField("request_body", r.requestBody());
        g.writeStringField("response_body", r.responseBody());
        g.writeStringField("error", r.error());
        g.writeStringField("attempted_at", r.at().toString());
        g.writeEndObject();
    }

    public static final String INSERT = "INSERT INTO sync_tries (event_slug, order_code, provider, try_count, first_at, last_at, tries) "
            + "VALUES (?, ?, ?, ?, ?, ?, ?)";

    private static void insert(Connection c, List<Tries> syncs) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(INSERT)) {
            for (Tries t : syncs) {
                for (Chunk chunk : chunks(t.rows())) {
                    insert(ps, t.eventSlug(), t.orderCode(), t.provider(), chunk);
                    ps.addBatch();
                }
            }
            ps.executeBatch();
        }
    }

    /** Binds one row of sync_tries (also for the migration of the rows of sync_attempt, V13). */
    public static void insert(PreparedStatement ps, String eventSlug, String orderCode, String provider, Chunk chunk)
            throws SQLException {
        ps.setString(1, eventSlug);
        ps.setString(2, orderCode);
        ps.setString(3, provider);
        ps.setInt(4, chunk.count());
        ps.setObject(5, chunk.first().atOffset(ZoneOffset.UTC));
        ps.setObject(6, chunk.last().atOffset(ZoneOffset.UTC));
        ps.setString(7, chunk.json());
    }

    /**
     * A body as stored: secret fields and values redacted, then cut to the limit (the cut body with its note fits
     * the 4000-character column whatever the limit). A JSON document is parsed and written again (so an escaped
     * credential, {@code tok\/en}, reads as itself and is found); anything else — form data, several JSON values,
     * a prefixed answer — has its secret-named fields redacted by pattern.
     */
    String body(String body, Set<String> secrets) {
        if (body == null || body.isEmpty()) {
            return body;
        }
        String text = body;
        boolean parsed = false;
        String t = body.stripLeading();
        // most bodies name no secret field and escape nothing: nothing to parse (the credential values are
        // redacted below in any case); 4 % of ordersync's CPU in the e2e profile went to parsing them all
        boolean suspect = body.indexOf('\\') >= 0 || containsWord(body);
        if (suspect && (t.startsWith("{") || t.startsWith("["))) {
            try {
                JsonNode tree = mapper.readTree(body);
                redactFields(tree);
                text = mapper.writeValueAsString(tree);
                parsed = true;
            } catch (Exception notOneDocument) {
                // redacted by pattern below
            }
        }
        if (suspect && !parsed && !secretFieldWords.isEmpty()) {
            text = fieldPattern.matcher(text).replaceAll(m -> java.util.regex.Matcher.quoteReplacement(m.group(1)
                    + (m.group(2).startsWith("\"") ? "\"" + REDACTED + "\"" : REDACTED)));
        }
        // values first (a credential cut in two by the limit would leave its start)
        text = Secrets.redact(text, secrets);
        int limit = Math.min(bodyLimit, 3950);
        return text.length() > limit ? text.substring(0, limit) + "… [" + text.length() + " characters]" : text;
    }

    /**
     * Whether the body contains one of the secret-field words, in any case: one pass over the body without a
     * lower-cased copy (lower-casing every body was 4 % of ordersync's CPU in the e2e profile).
     */
    boolean containsWord(String body) {
        for (int i = 0, n = body.length(); i < n; i++) {
            char ch = Character.toLowerCase(body.charAt(i));
            if (ch < 128 && wordsByFirst[ch] != null) {
                for (String w : wordsByFirst[ch]) {
                    if (body.regionMatches(true, i, w, 0, w.length())) {
                        return true;
                    }
                }
            }
        }
        if (!nonAsciiWords.isEmpty()) {
            String lower = body.toLowerCase(Locale.ROOT);
            return nonAsciiWords.stream().anyMatch(lower::contains);
        }
        return false;
    }

    private boolean redactFields(JsonNode node) {
        boolean changed = false;
        if (node instanceof ObjectNode o) {
            var it = o.fields();
            List<String> secret = new java.util.ArrayList<>();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                String name = e.getKey().toLowerCase(Locale.ROOT);
                if (secretFieldWords.stream().anyMatch(name::contains) && !e.getValue().isNull()) {
                    secret.add(e.getKey());
                } else {
                    changed |= redactFields(e.getValue());
                }
            }
            for (String k : secret) {
                o.put(k, REDACTED);
            }
            changed |= !secret.isEmpty();
        } else if (node != null && node.isArray()) {
            for (JsonNode child : node) {
                changed |= redactFields(child);
            }
        }
        return changed;
    }

    private static String cut(String s, int max) {
        return s == null || s.length() <= max ? s : s.substring(0, max - 1) + "…";
    }

    /**
     * The newest {@code limit} tries of one order, oldest first; {@code id} is the row of the sync they belong to
     * (the tries of one sync share it).
     */
    public List<Map<String, Object>> forOrder(String eventSlug, String orderCode, int limit) {
        int max = Math.max(1, limit);
        return Tx.run(ds, c -> {
            List<Map<String, Object>> tries = new java.util.ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT id, provider, tries FROM sync_tries WHERE event_slug = ? "
                    + "AND order_code = ? ORDER BY last_at DESC, id DESC")) {
                ps.setString(1, eventSlug);
                ps.setString(2, orderCode);
                try (java.sql.ResultSet rs = ps.executeQuery()) {
                    // the syncs newest first, until they hold enough tries (syncs to several providers may overlap in time)
                    while (tries.size() < max && rs.next()) {
                        long id = rs.getLong(1);
                        String provider = rs.getString(2);
                        JsonNode array;
                        try {
                            array = mapper.readTree(rs.getString(3));
                        } catch (java.io.IOException e) {
                            throw new SQLException("sync_tries row " + id + " holds no JSON array of tries", e);
                        }
                        for (JsonNode t : array) {
                            tries.add(tryMap(id, provider, t));
                        }
                    }
                }
            }
            tries.sort(java.util.Comparator.comparing((Map<String, Object> t) -> (String) t.get("attempted_at"),
                    java.util.Comparator.nullsFirst(java.util.Comparator.comparing(Instant::parse))));
            return new java.util.ArrayList<>(tries.subList(Math.max(0, tries.size() - max), tries.size()));
        });
    }

    private static Map<String, Object> tryMap(long id, String provider, JsonNode t) {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("id", id);
        m.put("provider", provider);
        for (String f : new String[]{"mapping_id", "remote_type", "purpose", "method", "url"}) {
            m.put(f, text(t, f));
        }
        JsonNode status = t.get("status");
        m.put("status", status == null || status.isNull() ? null : status.asInt());
        m.put("latency_ms", t.path("latency_ms").asInt());
        for (String f : new String[]{"request_body", "response_body", "error", "attempted_at"}) {
            m.put(f, text(t, f));
        }
        return m;
    }

    private static String text(JsonNode t, String field) {
        JsonNode v = t.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    /** How many tries of one order are stored. */
    public long count(String eventSlug, String orderCode) {
        return ((Number) Tx.run(ds, c -> OrderStore.rows(c, "SELECT COALESCE(SUM(try_count), 0) AS n FROM sync_tries "
                + "WHERE event_slug = ? AND order_code = ?", eventSlug, orderCode)).get(0).get("n")).longValue();
    }
}
