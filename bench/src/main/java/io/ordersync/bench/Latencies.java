package io.ordersync.bench;

import java.util.Collection;

/** Percentiles of latencies in milliseconds. */
public record Latencies(int count, double p50, double p95, double p99, double max) {

    public static Latencies of(Collection<Double> millis) {
        double[] v = millis.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        if (v.length == 0) {
            return new Latencies(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        }
        return new Latencies(v.length, pct(v, 50), pct(v, 95), pct(v, 99), v[v.length - 1]);
    }

    private static double pct(double[] sorted, double p) {
        int i = (int) Math.ceil(p / 100 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    @Override
    public String toString() {
        return String.format("p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (max %.1f, n=%d)", p50, p95, p99, max, count);
    }
}
