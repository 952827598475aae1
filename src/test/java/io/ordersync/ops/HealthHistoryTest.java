package io.ordersync.ops;

import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class HealthHistoryTest {

    /** A clock the test moves. */
    private static final class Moving extends Clock {
        Instant now = Instant.parse("2026-12-02T10:00:30Z");

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> points(HealthHistory h, String window) {
        return (List<Map<String, Object>>) h.series("crm", window).get("points");
    }

    @Test
    void minutesHourlySumsAndPercentiles() {
        Moving clock = new Moving();
        HealthHistory h = new HealthHistory(clock);
        for (int i = 1; i <= 100; i++) {
            h.latency("crm", i);
            h.synced("crm", i % 10 != 0);
        }
        clock.now = clock.now.plus(Duration.ofMinutes(1));
        h.synced("crm", true);
        List<Map<String, Object>> hour = points(h, "1h");
        assertThat(hour).hasSize(60);
        Map<String, Object> before = hour.get(58);
        assertThat(before).containsEntry("t", "2026-12-02T10:00:00Z").containsEntry("syncs", 100).containsEntry("failures", 10)
                .containsEntry("p50", 50L).containsEntry("p95", 95L).containsEntry("p99", 99L);
        assertThat(hour.get(59)).containsEntry("syncs", 1).containsEntry("p95", null);
        List<Map<String, Object>> day = points(h, "24h");
        assertThat(day).hasSize(24);
        assertThat(day.get(23)).containsEntry("syncs", 101).containsEntry("failures", 10);
        // a day later the ring has moved on: nothing of then is left
        clock.now = clock.now.plus(Duration.ofHours(25));
        assertThat(points(h, "24h")).allSatisfy(p -> assertThat(p.get("syncs")).isEqualTo(0));
        assertThat(points(new HealthHistory(clock), "1h")).hasSize(60);
    }

    @Test
    void aBusyMinuteKeepsABoundedSample() {
        HealthHistory h = new HealthHistory(new Moving());
        for (int i = 0; i < 100_000; i++) {
            h.latency("crm", i < 50_000 ? 10 : 1000);
        }
        Map<String, Object> p = points(h, "1h").get(59);
        assertThat((Long) p.get("p50")).isIn(10L, 1000L);
        assertThat(p.get("p99")).isEqualTo(1000L);
    }

    /** A provider's first sync allocated a whole day of full minutes, 5.9 MB (twenty providers filled the heap; a review). */
    @Test
    void aQuietProviderCostsLittleMemory() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        HealthHistory h = new HealthHistory(new Moving());
        long before = threads.getCurrentThreadAllocatedBytes();
        for (int p = 0; p < 20; p++) {
            h.synced("provider-" + p, true);
            h.latency("provider-" + p, 42);
        }
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertThat(allocated).as("bytes for twenty providers with one sync each").isLessThan(20 * 20_000L);
        assertThat(points(h, "1h").get(59)).isNotNull();
    }
}
