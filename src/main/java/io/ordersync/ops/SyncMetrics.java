package io.ordersync.ops;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.ordersync.order.OrderStore;
import org.apache.camel.CamelContext;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * ordersync's own meters, in the Prometheus registry camel-main exposes at /observe/metrics: syncs by
 * provider and outcome, queue depth by state and mode, delivery latency (enqueue → delivered) and HTTP
 * responses by provider and status.
 */
public final class SyncMetrics {

    private final CamelContext context;
    private final OrderStore store;
    private volatile MeterRegistry registry;
    private volatile MultiGauge queueDepth;

    /** The database's time as the queue reads it (DatabaseClock): the enqueue times the latency starts from are in it. */
    private final java.time.Clock clock;

    public SyncMetrics(CamelContext context, OrderStore store, java.time.Clock clock) {
        this.context = context;
        this.store = store;
        this.clock = clock;
    }

    /** The registry camel-micrometer set up, or a private one when metrics are off (embedded use). */
    public MeterRegistry registry() {
        MeterRegistry r = registry;
        if (r == null) {
            synchronized (this) {
                if (registry == null) {
                    Set<MeterRegistry> found = context.getRegistry().findByType(MeterRegistry.class);
                    registry = found.isEmpty() ? new SimpleMeterRegistry() : found.iterator().next();
                    queueDepth = MultiGauge.builder("ordersync_queue_rows")
                            .description("Sync queue rows by provider, state and failure mode").register(registry);
                }
                r = registry;
            }
        }
        return r;
    }

    private final HealthHistory history = new HealthHistory(java.time.Clock.systemUTC());

    /** Health over time (the dashboard's charts). */
    public HealthHistory history() {
        return history;
    }

    /** {@code outcome}: success, failure, or filtered (not sent: the order does not pass the filter; no failure). */
    public void synced(String provider, String outcome) {
        if (!"filtered".equals(outcome)) {
            history.synced(provider, "success".equals(outcome));
        }
        Counter.builder("ordersync_syncs").description("Finished syncs by provider and outcome")
                .tags("provider", provider, "outcome", outcome).register(registry()).increment();
    }

    /** Time from the trigger that queued the order to its delivery. */
    public void delivered(String provider, Instant triggeredAt) {
        if (triggeredAt == null) {
            return;
        }
        Timer.builder("ordersync_delivery_latency").description("Enqueue to delivered")
                .tags("provider", provider).publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(5))
                .maximumExpectedValue(Duration.ofHours(6)).register(registry())
                .record(Duration.between(triggeredAt, clock.instant()));
    }

    public void httpResponse(String provider, int status) {
        Counter.builder("ordersync_http_responses").description("HTTP responses from targets")
                .tags("provider", provider, "status", String.valueOf(status)).register(registry()).increment();
    }

    /** Re-reads the queue depth (called periodically by the queue-reaper route). */
    public void refreshQueueDepth() {
        registry();
        List<MultiGauge.Row<?>> rows = new ArrayList<>();
        for (Map<String, Object> c : store.query("SELECT provider, slot, need_manual_retry AS mode, COUNT(*) AS n FROM sync_queue "
                + "GROUP BY provider, slot, need_manual_retry")) {
            String state = "inflight".equals(c.get("slot")) ? "in_flight" : c.get("mode") != null ? "parked" : "waiting";
            long n = ((Number) c.get("n")).longValue();
            rows.add(MultiGauge.Row.of(Tags.of("provider", (String) c.get("provider"), "state", state,
                    "mode", c.get("mode") == null ? "" : (String) c.get("mode")), n));
        }
        queueDepth.register(rows, true);
    }
}
