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
    private final ObjectMapper mapper = new ObjectMapper().enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    /** "name": "value", name=value, name: value — for bodies that are not one JSON document (form data, NDJSON, prefixed JSON). */
    private final java.util.regex.Pattern fieldPattern;

    /** {@code secretFieldWords}: a JSON field whose lower-cased name contains one of them has its value redacted. */
    public AttemptLog(DataSource ds, int bodyLimit, Collection<String> secretFieldWords) {
        this.ds = ds;
        this.bodyLimit = Math.max(0, Math.min(bodyLimit, 4000));
        this.secretFieldWords = secretFieldWords.stream().map(w -> w.trim().toLowerCase(Locale.ROOT)).filter(w -> !w.isEmpty()).toList();
        String words = this.secretFieldWords.stream().map(java.util.regex.Pattern::quote).reduce((a, b) -> a + "|" + b).orElse("(?!)");
        this.fieldPattern = java.util.regex.Pattern.compile("(?i)(\"?[\\w.\\-]*(?:" + words + ")[\\w.\\-]*\"?\\s*[:=]\\s*)(\"(?:[^\"\\\\]|\\\\.)*\"|[^&\\s,;}\\]]+)");
    }

    /** Stores the tries of one sync, redacted with these secret values (the provider's credentials, tokens, ordersync's own). */
    public void record(Connection c, String eventSlug, String orderCode, String provider, List<Attempt> attempts,
                       Set<String> secrets) throws SQLException {
        if (attempts == null || attempts.isEmpty()) {
            return;
        }
        // behind a savepoint: tries that cannot be stored must not cost the sync's outcome
        java.sql.Savepoint sp = c.setSavepoint();
        try {
            insert(c, eventSlug, orderCode, provider, attempts, secrets);
        } catch (SQLException | RuntimeException e) {
            c.rollback(sp);
            org.slf4j.LoggerFactory.getLogger(AttemptLog.class).warn("The tries of {}/{} to {} were not stored: {}", eventSlug, orderCode,
                    provider, e.getMessage());
        }
    }

    private void insert(Connection c, String eventSlug, String orderCode, String provider, List<Attempt> attempts,
                        Set<String> secrets) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO sync_attempt (event_slug, order_code, provider, mapping_id, "
                + "remote_type, purpose, method, url, status, latency_ms, request_body, response_body, error, attempted_at) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            for (Attempt a : attempts) {
                ps.setString(1, eventSlug);
                ps.setString(2, orderCode);
                ps.setString(3, provider);
                ps.setString(4, cut(a.mappingId(), 100));
                ps.setString(5, cut(a.remoteType(), 100));
                ps.setString(6, cut(a.purpose(), 20));
                ps.setString(7, cut(a.method(), 10));
                ps.setString(8, cut(Secrets.redact(a.url(), secrets), 2000));
                if (a.status() == null) {
                    ps.setNull(9, Types.INTEGER);
                } else {
                    ps.setInt(9, a.status());
                }
                ps.setInt(10, (int) Math.min(Integer.MAX_VALUE, Math.max(0, a.latencyMs())));
                ps.setString(11, body(a.requestBody(), secrets));
                ps.setString(12, body(a.responseBody(), secrets));
                ps.setString(13, cut(Secrets.redact(a.error(), secrets), 2000));
                ps.setObject(14, a.at().atOffset(ZoneOffset.UTC));
                ps.addBatch();
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

    private boolean containsWord(String body) {
        String lower = body.toLowerCase(Locale.ROOT);
        for (String w : secretFieldWords) {
            if (lower.contains(w)) {
                return true;
            }
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
