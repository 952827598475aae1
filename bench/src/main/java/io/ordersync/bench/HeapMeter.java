package io.ordersync.bench;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What a measured phase allocated and how often it stopped for the garbage collector: figures that a noisy machine
 * barely moves (BENCHMARKS.md issue 18, round eight). Allocation is summed over this JVM's threads by their own
 * counters (HotSpot's {@code ThreadMXBean.getThreadAllocatedBytes}); a thread that ended during the phase is missed.
 */
final class HeapMeter {

    /** What was measured: bytes allocated, young and old collections, milliseconds the collectors reported. */
    record Heap(long bytes, long youngCollections, long youngMillis, long oldCollections, long oldMillis) {
    }

    private final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private final Map<Long, Long> startBytes = new HashMap<>();
    private final long[] startGc;

    HeapMeter() {
        long[] ids = threads.getAllThreadIds();
        long[] bytes = threads.getThreadAllocatedBytes(ids);
        for (int i = 0; i < ids.length; i++) {
            if (bytes[i] >= 0) {
                startBytes.put(ids[i], bytes[i]);
            }
        }
        startGc = gc();
    }

    Heap stop() {
        long[] ids = threads.getAllThreadIds();
        long[] bytes = threads.getThreadAllocatedBytes(ids);
        long total = 0;
        for (int i = 0; i < ids.length; i++) {
            if (bytes[i] >= 0) {
                total += bytes[i] - startBytes.getOrDefault(ids[i], 0L);
            }
        }
        long[] gc = gc();
        return new Heap(total, gc[0] - startGc[0], gc[1] - startGc[1], gc[2] - startGc[2], gc[3] - startGc[3]);
    }

    /** Collections and their time so far: young (G1's "Young Generation", other collectors' copying ones) and the rest. */
    private static long[] gc() {
        long[] out = new long[4];
        List<GarbageCollectorMXBean> beans = ManagementFactory.getGarbageCollectorMXBeans();
        for (GarbageCollectorMXBean b : beans) {
            boolean young = Arrays.asList("G1 Young Generation", "Copy", "PS Scavenge", "ParNew").contains(b.getName());
            out[young ? 0 : 2] += Math.max(0, b.getCollectionCount());
            out[young ? 1 : 3] += Math.max(0, b.getCollectionTime());
        }
        return out;
    }
}
