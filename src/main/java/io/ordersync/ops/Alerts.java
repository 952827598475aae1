package io.ordersync.ops;

import io.ordersync.db.Tx;
import io.ordersync.delivery.ProviderBreakers;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.order.OrderStore;
import io.ordersync.queue.FailureMode;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Operational alerts (routes/alerts.camel.yaml): what an operator must hear about — rows parked, a provider
 * disabled (its file cannot run), its circuit breaker opened — and that a provider recovered. The decisions are
 * here; sending (a signed webhook, e-mail) is the route's. Each alert has a key (type and provider) that is sent
 * at most once per {@code minInterval}, across instances (table alert_sent).
 */
public final class Alerts {

    /** parked, disabled, breaker_open, recovered. */
    public static final String PARKED = "sync.parked";
    public static final String DISABLED = "provider.disabled";
    public static final String BREAKER_OPEN = "provider.breaker_opened";
    public static final String RECOVERED = "provider.recovered";

    private final DataSource ds;
    private final ProviderRegistry providers;
    private final ProviderBreakers breakers;
    private final Duration minInterval;
    private final String instance;
    private final Clock clock;
    /** The newest order_log id seen: parked rows logged after it are new. */
    private long lastLogId = -1;
    /** Providers with a problem alerted (or seen) and not yet recovered. */
    private final Map<String, Boolean> troubled = new HashMap<>();

    public Alerts(DataSource ds, ProviderRegistry providers, ProviderBreakers breakers, Duration minInterval, String instance, Clock clock) {
        this.ds = ds;
        this.providers = providers;
        this.breakers = breakers;
        this.minInterval = minInterval;
        this.instance = instance;
        this.clock = clock;
        // what was parked before this instance started was alerted then, or shows on the dashboard; rows parked
        // since (also before the first check) are news
        this.startedAt = clock.instant();
    }

    private final Instant startedAt;

    /** One check (the timer of route alerts-check): the alerts to send now, each a JSON-ready map. */
    public synchronized List<Map<String, Object>> check() {
        Instant now = clock.instant();
        List<Map<String, Object>> out = new ArrayList<>();
        Map<String, List<Map<String, Object>>> parkedNow = newlyParked();
        Map<String, Long> parkedTotals = parkedTotals();
        for (Map.Entry<String, ProviderRegistry.State> e : providers.states().entrySet()) {
            String p = e.getKey();
            boolean disabled = e.getValue().running() == null;
            boolean open = "open".equals(breakers.state(p));
            long parked = parkedTotals.getOrDefault(p, 0L);
            List<Map<String, Object>> fresh = parkedNow.getOrDefault(p, List.of());
            if (disabled) {
                alert(out, DISABLED, p, now, "Provider " + p + " is disabled: its mapping file cannot run ("
                        + String.join("; ", providers.errors(p)) + ")", Map.of("errors", providers.errors(p)));
            }
            if (open) {
                alert(out, BREAKER_OPEN, p, now, "Circuit breaker of " + p + " opened: the target kept failing; nothing is sent "
                        + "until a probe succeeds", Map.of("circuit", "open"));
            }
            if (!fresh.isEmpty()) {
                Map<String, Object> details = new LinkedHashMap<>();
                details.put("new", fresh.size());
                details.put("parked", parked);
                details.put("rows", fresh.size() > 20 ? fresh.subList(0, 20) : fresh);
                alert(out, PARKED, p, now, fresh.size() + " sync" + (fresh.size() == 1 ? "" : "s") + " of " + p + " parked ("
                        + parked + " parked in all): " + fresh.get(0).get("message"), details);
            }
            boolean problem = disabled || open || parked > 0;
            if (problem) {
                troubled.put(p, true);
            } else if (troubled.remove(p) != null) {
                alert(out, RECOVERED, p, now, "Provider " + p + " recovered: active, circuit closed, nothing parked", Map.of());
            }
        }
        troubled.keySet().retainAll(providers.states().keySet());
        return out;
    }

    private void alert(List<Map<String, Object>> out, String type, String provider, Instant now, String summary, Map<String, Object> details) {
        if (!claim(type + ":" + provider, now)) {
            return;
        }
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("provider", provider);
        data.put("summary", summary.length() > 1000 ? summary.substring(0, 1000) + "…" : summary);
        data.put("instance", instance);
        data.putAll(details);
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("type", type);
        a.put("timestamp", now.toString());
        a.put("data", data);
        out.add(a);
    }

    /** Whether this instance may send the alert with this key now (not sent by anyone within the interval). */
    boolean claim(String key, Instant now) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE alert_sent SET sent_at = ? WHERE alert_key = ? AND sent_at < ?")) {
                ps.setObject(1, now.atOffset(ZoneOffset.UTC));
                ps.setString(2, key);
                ps.setObject(3, now.minus(minInterval).atOffset(ZoneOffset.UTC));
                if (ps.executeUpdate() == 1) {
                    return true;
                }
            }
            if (!OrderStore.rows(c, "SELECT alert_key FROM alert_sent WHERE alert_key = ?", key).isEmpty()) {
                return false;
            }
            return insert(c, key, now);
        });
    }

    private static boolean insert(Connection c, String key, Instant now) throws SQLException {
        java.sql.Savepoint sp = c.setSavepoint();
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO alert_sent (alert_key, sent_at) VALUES (?, ?)")) {
            ps.setString(1, key);
            ps.setObject(2, now.atOffset(ZoneOffset.UTC));
            ps.executeUpdate();
            return true;
        } catch (SQLException e) {
            if (!io.ordersync.db.Tx.isConstraintViolation(e)) {
                // not a duplicate: the database failed (a rollback to the savepoint would hide why)
                throw e;
            }
            // another instance claimed it at the same moment
            c.rollback(sp);
            return false;
        }
    }

    /** Rows parked since the last check, per provider, from the order log (where each park is written with its reason). */
    private Map<String, List<Map<String, Object>>> newlyParked() {
        Map<String, List<Map<String, Object>>> out = new HashMap<>();
        Object newest = Tx.run(ds, c -> OrderStore.rows(c, "SELECT MAX(id) AS m FROM order_log").get(0).get("m"));
        long upTo = newest == null ? lastLogId : ((Number) newest).longValue();
        if (upTo <= lastLogId) {
            return out;
        }
        StringBuilder sql = new StringBuilder("SELECT id, provider, event_slug, order_code, message FROM order_log WHERE id > ? "
                + "AND id <= ? AND created_at >= ? AND kind = 'failure' AND (");
        List<Object> args = new ArrayList<>();
        args.add(lastLogId);
        args.add(upTo);
        args.add(startedAt.atOffset(ZoneOffset.UTC));
        FailureMode[] modes = FailureMode.values();
        for (int i = 0; i < modes.length; i++) {
            sql.append(i == 0 ? "" : " OR ").append("message LIKE ?");
            args.add(modes[i].description() + ":%");
        }
        sql.append(") ORDER BY id FETCH FIRST 1000 ROWS ONLY");
        List<Map<String, Object>> rows = Tx.run(ds, c -> OrderStore.rows(c, sql.toString(), args.toArray()));
        lastLogId = upTo;
        for (Map<String, Object> r : rows) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("event", r.get("event_slug"));
            row.put("order", r.get("order_code"));
            String m = String.valueOf(r.get("message"));
            row.put("message", m.length() > 300 ? m.substring(0, 300) + "…" : m);
            out.computeIfAbsent(String.valueOf(r.get("provider")), k -> new ArrayList<>()).add(row);
        }
        return out;
    }

    private Map<String, Long> parkedTotals() {
        Map<String, Long> out = new HashMap<>();
        for (Map<String, Object> r : Tx.run(ds, c -> OrderStore.rows(c,
                "SELECT provider, COUNT(*) AS n FROM sync_queue WHERE need_manual_retry IS NOT NULL GROUP BY provider"))) {
            out.put(String.valueOf(r.get("provider")), ((Number) r.get("n")).longValue());
        }
        return out;
    }
}
