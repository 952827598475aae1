package io.ordersync.ops;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Health over time, per provider and per minute, for the last 24 hours of this instance: syncs finished, syncs
 * failed, and the latency of the requests sent (a bounded sample per minute, for percentiles). Kept in memory
 * (no external server): a restart starts it afresh; on several instances each shows its own share.
 */
public final class HealthHistory {

    static final int MINUTES = 24 * 60;
    /** Latencies kept per provider and minute: beyond it, a reservoir sample. */
    static final int SAMPLE = 256;

    /**
     * One minute of one provider, made when the minute has something, its sample grown as it fills: a whole day of
     * minutes with full samples was allocated at a provider's first sync, 5.9 MB each (20 providers filled the heap
     * of jvm.options; a review). Now at most MINUTES × SAMPLE × 4 bytes (1.5 MB) for a provider busy all day.
     */
    private static final class Minute {
        long minute = -1;
        int syncs;
        int failures;
        int seen;
        int[] latencies = new int[8];

        void reset(long m) {
            minute = m;
            syncs = 0;
            failures = 0;
            seen = 0;
        }
    }

    private final Clock clock;
    private final Map<String, Minute[]> providers = new ConcurrentHashMap<>();
    private final java.util.Random random = new java.util.Random();

    public HealthHistory(Clock clock) {
        this.clock = clock;
    }

    private Minute minute(String provider, Instant at) {
        long m = at.getEpochSecond() / 60;
        Minute[] ring = providers.computeIfAbsent(provider, p -> {
            return new Minute[MINUTES];
        });
        int i = (int) (m % MINUTES);
        Minute b = ring[i];
        if (b == null) {
            b = ring[i] = new Minute();
        }
        if (b.minute != m) {
            b.reset(m);
        }
        return b;
    }

    /** A sync finished: delivered, or failed (retried later or parked). */
    public void synced(String provider, boolean ok) {
        Instant now = clock.instant();
        synchronized (this) {
            Minute b = minute(provider, now);
            b.syncs++;
            if (!ok) {
                b.failures++;
            }
        }
    }

    /** A request to the provider's target took this long. */
    public void latency(String provider, long ms) {
        Instant now = clock.instant();
        synchronized (this) {
            Minute b = minute(provider, now);
            int value = (int) Math.min(Integer.MAX_VALUE, Math.max(0, ms));
            if (b.seen < SAMPLE) {
                if (b.seen == b.latencies.length) {
                    b.latencies = Arrays.copyOf(b.latencies, Math.min(SAMPLE, b.latencies.length * 2));
                }
                b.latencies[b.seen] = value;
            } else {
                int j = random.nextInt(b.seen + 1);
                if (j < SAMPLE) {
                    b.latencies[j] = value;
                }
            }
            b.seen++;
        }
    }

    /**
     * The series of one provider: {@code 1h} gives 60 points of a minute, {@code 24h} 24 points of an hour; each
     * with syncs, failures and latency p50/p95/p99 in ms (null where no request was sent).
     */
    public synchronized Map<String, Object> series(String provider, String window) {
        boolean day = "24h".equals(window);
        int points = day ? 24 : 60;
        int perPoint = day ? 60 : 1;
        long nowMinute = clock.instant().getEpochSecond() / 60;
        long first = nowMinute - (long) points * perPoint + 1;
        Minute[] ring = providers.get(provider);
        List<Map<String, Object>> out = new ArrayList<>(points);
        for (int p = 0; p < points; p++) {
            long from = first + (long) p * perPoint;
            int syncs = 0;
            int failures = 0;
            List<int[]> samples = new ArrayList<>();
            for (long m = from; m < from + perPoint; m++) {
                if (ring == null) {
                    break;
                }
                Minute b = ring[(int) (m % MINUTES)];
                if (b == null || b.minute != m) {
                    continue;
                }
                syncs += b.syncs;
                failures += b.failures;
                samples.add(Arrays.copyOf(b.latencies, Math.min(b.seen, SAMPLE)));
            }
            long[] all = samples.stream().flatMapToInt(Arrays::stream).asLongStream().sorted().toArray();
            Map<String, Object> point = new LinkedHashMap<>();
            point.put("t", Instant.ofEpochSecond(from * 60).toString());
            point.put("syncs", syncs);
            point.put("failures", failures);
            point.put("p50", percentile(all, 0.50));
            point.put("p95", percentile(all, 0.95));
            point.put("p99", percentile(all, 0.99));
            out.add(point);
        }
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("provider", provider);
        s.put("window", day ? "24h" : "1h");
        s.put("step", day ? Duration.ofHours(1).toString() : Duration.ofMinutes(1).toString());
        s.put("points", out);
        return s;
    }

    static Long percentile(long[] sorted, double q) {
        if (sorted.length == 0) {
            return null;
        }
        int i = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }
}
