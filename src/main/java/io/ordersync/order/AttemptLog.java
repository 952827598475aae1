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
import java.sql.Types;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Every delivery try of a sync (table sync_attempt): the request and the answer as far as an operator needs them
 * to see what went wrong — bodies cut to a limit, every credential value and every JSON field whose name marks
 * a secret replaced by [redacted]; request headers are never stored. Written with the sync's outcome.
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
                        body(a.responseBody(), secrets), cut(Secrets.redact(a.error(), secrets), 2000), a.at()));
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
            c.rollback(sp);
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

    private static void insert(Connection c, List<Tries> syncs) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO sync_attempt (event_slug, order_code, provider, mapping_id, "
                + "remote_type, purpose, method, url, status, latency_ms, request_body, response_body, error, attempted_at) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            for (Tries t : syncs) {
                for (Row a : t.rows()) {
                    ps.setString(1, t.eventSlug());
                    ps.setString(2, t.orderCode());
                    ps.setString(3, t.provider());
                    ps.setString(4, a.mappingId());
                    ps.setString(5, a.remoteType());
                    ps.setString(6, a.purpose());
                    ps.setString(7, a.method());
                    ps.setString(8, a.url());
                    if (a.status() == null) {
                        ps.setNull(9, Types.INTEGER);
                    } else {
                        ps.setInt(9, a.status());
                    }
                    ps.setInt(10, a.latencyMs());
                    ps.setString(11, a.requestBody());
                    ps.setString(12, a.responseBody());
                    ps.setString(13, a.error());
                    ps.setObject(14, a.at().atOffset(ZoneOffset.UTC));
                    ps.addBatch();
                }
            }
            ps.executeBatch();
        }
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

    /** The newest {@code limit} tries of one order, oldest first. */
    public List<Map<String, Object>> forOrder(String eventSlug, String orderCode, int limit) {
        List<Map<String, Object>> rows = new java.util.ArrayList<>(Tx.run(ds, c -> OrderStore.rows(c, "SELECT id, provider, mapping_id, "
                + "remote_type, purpose, method, url, status, latency_ms, request_body, response_body, error, attempted_at FROM sync_attempt "
                + "WHERE event_slug = ? AND order_code = ? ORDER BY attempted_at DESC, id DESC FETCH FIRST " + Math.max(1, limit) + " ROWS ONLY",
                eventSlug, orderCode)));
        java.util.Collections.reverse(rows);
        return rows;
    }

    /** How many tries of one order are stored. */
    public long count(String eventSlug, String orderCode) {
        return ((Number) Tx.run(ds, c -> OrderStore.rows(c, "SELECT COUNT(*) AS n FROM sync_attempt WHERE event_slug = ? AND order_code = ?",
                eventSlug, orderCode)).get(0).get("n")).longValue();
    }
}
