package io.ordersync;

import io.ordersync.bench.BacklogBench;
import io.ordersync.bench.EndToEndBench;
import io.ordersync.bench.FootprintBench;
import io.ordersync.bench.MappingBench;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Tiny runs of every benchmark in bench/, so that they keep working; the numbers of these runs mean nothing
 * (BENCHMARKS.md has the real runs). Each run fails if any variant does not deliver every order.
 */
class BenchSmokeTest {

    @Test
    void mappingBenchmarkRunsAllThreeVariants() throws Exception {
        Map<String, Double> ns = MappingBench.run(true);
        assertThat(ns).containsOnlyKeys("ordersync", "jslt", "jsonata");
        assertThat(ns.values()).allMatch(v -> v > 0);
    }

    @Test
    void endToEndBenchmarkDeliversWithEveryVariant() throws Exception {
        EndToEndBench.main(new String[]{"--smoke"});
    }

    @Test
    void backlogBenchmarkRuns() throws Exception {
        List<BacklogBench.Result> results = BacklogBench.run(5, List.of(20, 50));
        assertThat(results).extracting(BacklogBench.Result::backlog).containsExactly(20, 50);
        assertThat(results).allMatch(r -> r.seconds() > 0);
    }

    @Test
    void footprintBenchmarkRuns() throws Exception {
        FootprintBench.Result r = FootprintBench.run(5);
        assertThat(r.secondsToFirstSync()).isPositive();
        assertThat(r.rssMaxUnderLoadMb()).isGreaterThanOrEqualTo(r.rssIdleMb()).isPositive();
    }
}
