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
    /** Providers with a problem alerted (or seen) and not yet recovered. */
    private final Map<String, Boolean> troubled = new HashMap<>();

    public Alerts(DataSource ds, ProviderRegistry providers, ProviderBreakers breakers, Duration minInterval, String instance, Clock clock) {
        this.ds = ds;
        this.providers = providers;
        this.breakers = breakers;
        this.minInterval = minInterval;
        this.instance = instance;
        this.clock = clock;
    }

    /** Parks named in one alert at most (the rest are named by the next one). */
    static final int NEWS_PER_ALERT = 10_000;

    /** One check (the timer of route alerts-check): the alerts to send now, each a JSON-ready map. */
    public synchronized List<Map<String, Object>> check() {
        Instant now = clock.instant();
        List<Map<String, Object>> out = new ArrayList<>();
        Map<String, News> parkedNow = parkNews(now);
        Map<String, Long> parkedTotals = parkedTotals();
        for (Map.Entry<String, ProviderRegistry.State> e : providers.states().entrySet()) {
            String p = e.getKey();
            boolean disabled = e.getValue().running() == null;
            boolean open = "open".equals(breakers.state(p));
            long parked = parkedTotals.getOrDefault(p, 0L);
            News fresh = parkedNow.get(p);
            if (disabled) {
                alert(out, DISABLED, p, now, "Provider " + p + " is disabled: its mapping file cannot run ("
                        + String.join("; ", providers.errors(p)) + ")", Map.of("errors", providers.errors(p)));
            }
            if (open) {
                alert(out, BREAKER_OPEN, p, now, "Circuit breaker of " + p + " opened: the target kept failing; nothing is sent "
                        + "until a probe succeeds", Map.of("circuit", "open"));
            }
            if (fresh != null) {
                int n = fresh.ids().size();
                Map<String, Object> details = new LinkedHashMap<>();
                details.put("new", n);
                details.put("parked", parked);
                details.put("rows", fresh.rows());
                // the parks named are deleted in the transaction that claims the alert: named by one alert of one
                // instance; while the alert waits for its interval they stay, and the next one names them
                alert(out, PARKED, p, now, n + " sync" + (n == 1 ? "" : "s") + " of " + p + " parked (" + parked + " parked in all)"
                        + (fresh.rows().isEmpty() ? "" : ": " + fresh.rows().get(0).get("message")), details, c -> named(c, fresh.ids()));
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
        alert(out, type, provider, now, summary, details, c -> null);
    }

    private void alert(List<Map<String, Object>> out, String type, String provider, Instant now, String summary,
                       Map<String, Object> details, Tx.Work<?> withClaim) {
        if (!claim(type + ":" + provider, now, withClaim)) {
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

    /**
     * Whether this instance may send the alert with this key now (not sent by anyone within the interval); when it
     * may, {@code withClaim} runs in the claim's transaction.
     */
    boolean claim(String key, Instant now, Tx.Work<?> withClaim) {
        return Tx.run(ds, c -> {
            boolean claimed;
            try (PreparedStatement ps = c.prepareStatement("UPDATE alert_sent SET sent_at = ? WHERE alert_key = ? AND sent_at < ?")) {
                ps.setObject(1, now.atOffset(ZoneOffset.UTC));
                ps.setString(2, key);
                ps.setObject(3, now.minus(minInterval).atOffset(ZoneOffset.UTC));
                claimed = ps.executeUpdate() == 1;
            }
            if (!claimed && OrderStore.rows(c, "SELECT alert_key FROM alert_sent WHERE alert_key = ?", key).isEmpty()) {
                claimed = insert(c, key, now);
            }
            if (claimed) {
                withClaim.run(c);
            }
            return claimed;
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

    /** A provider's parks not yet named by an alert (table park_news): their ids, and the first 20 as shown. */
    record News(List<Long> ids, List<Map<String, Object>> rows) {
    }

    /**
     * The parks not yet named by an alert, per provider whose alert may be sent now, oldest first
     * ({@link #NEWS_PER_ALERT} at most each), from table park_news: each park is written there in the transaction
     * that parks its row (SyncQueue.release), so a park is seen once it commits, whatever the order of the commits,
     * and after a restart. While a provider's alert waits for its interval its parks are not read (a flood of 10 000
     * would be read at every check).
     */
    private Map<String, News> parkNews(Instant now) {
        Map<String, News> out = new HashMap<>();
        for (Map<String, Object> p : Tx.run(ds, c -> OrderStore.rows(c, "SELECT DISTINCT provider FROM park_news"))) {
            String provider = String.valueOf(p.get("provider"));
            // only a provider of this instance's files is alerted here (the others' parks wait for their instances)
            if (!providers.states().containsKey(provider) || sentWithinInterval(PARKED + ":" + provider, now)) {
                continue;
            }
            List<Long> ids = new ArrayList<>();
            for (Map<String, Object> r : Tx.run(ds, c -> OrderStore.rows(c, "SELECT id FROM park_news WHERE provider = ? ORDER BY id "
                    + "FETCH FIRST " + NEWS_PER_ALERT + " ROWS ONLY", provider))) {
                ids.add(((Number) r.get("id")).longValue());
            }
            if (ids.isEmpty()) {
                continue;
            }
            java.util.Set<Long> named = new java.util.HashSet<>(ids);
            List<Map<String, Object>> shown = new ArrayList<>();
            for (Map<String, Object> r : Tx.run(ds, c -> OrderStore.rows(c, "SELECT id, event_slug, order_code, message FROM park_news "
                    + "WHERE provider = ? ORDER BY id FETCH FIRST 20 ROWS ONLY", provider))) {
                if (!named.contains(((Number) r.get("id")).longValue())) {
                    continue; // committed between the two reads: named by the next alert
                }
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("event", r.get("event_slug"));
                row.put("order", r.get("order_code"));
                String m = String.valueOf(r.get("message"));
                row.put("message", m.length() > 300 ? m.substring(0, 300) + "…" : m);
                shown.add(row);
            }
            out.put(provider, new News(ids, shown));
        }
        return out;
    }

    /** Whether the alert with this key was sent within the interval (the claim decides; this spares the reads). */
    private boolean sentWithinInterval(String key, Instant now) {
        List<Map<String, Object>> rows = Tx.run(ds, c -> OrderStore.rows(c, "SELECT sent_at FROM alert_sent WHERE alert_key = ?", key));
        return !rows.isEmpty() && Instant.parse(String.valueOf(rows.get(0).get("sent_at"))).isAfter(now.minus(minInterval));
    }

    /** Deletes the parks an alert names (by id: a park with a lower id that commits later is named by the next). */
    private static Object named(Connection c, List<Long> ids) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM park_news WHERE id = ?")) {
            int n = 0;
            for (long id : ids) {
                ps.setLong(1, id);
                ps.addBatch();
                if (++n % 500 == 0) {
                    ps.executeBatch();
                }
            }
            ps.executeBatch();
        }
        return null;
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
