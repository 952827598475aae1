package io.ordersync;

import io.ordersync.bench.BacklogBench;
import io.ordersync.bench.EndToEndBench;
import io.ordersync.bench.FootprintBench;
import io.ordersync.bench.MappingBench;
import io.ordersync.bench.MappingBenchmark;
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
        assertThat(ns).containsOnlyKeys("ordersync", "ordersyncLanguage", "jslt", "jsonata");
        assertThat(ns.values()).allMatch(v -> v > 0);
    }

    /** The second mapping benchmark maps what its file says: filters pass, answers, name parts, check-ins, templates. */
    @Test
    void theLanguageBenchmarkMapsEveryPart() throws Exception {
        MappingBenchmark b = new MappingBenchmark();
        b.setup();
        List<Map<String, Object>> bodies = b.ordersyncLanguage();
        assertThat(bodies).hasSize(4);
        assertThat(bodies.get(0)).containsEntry("first_name", "John").containsEntry("last_name", "Doe")
                .containsEntry("reference", "DEMOCON-BENCH1").containsEntry("status", "paid");
        assertThat(bodies.get(0).get("ordered_on")).asString().matches("\\d{4}-\\d{2}-\\d{2}");
        assertThat(bodies.get(1)).containsEntry("ticket_id", "BENCH1-1").containsEntry("first_name", "Peter")
                .containsEntry("last_name", "Miller").containsEntry("meal", "VEG")
                .containsEntry("checked_in", "2026-05-04T08:45:23Z");
        assertThat(bodies.get(1).get("badge")).asString().startsWith("PETER (");
        // the add-on inherits its parent's name parts and answers
        assertThat(bodies.get(2)).containsEntry("first_name", "Peter").containsEntry("meal", "VEG");
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

    @Test
    void footprintBenchmarkRunsOnPostgres() throws Exception {
        try (var pg = io.zonky.test.db.postgres.embedded.EmbeddedPostgres.builder().start()) {
            FootprintBench.Result r = FootprintBench.run(5, List.of("-Xmx256m"), Map.of(), pg);
            assertThat(r.secondsToFirstSync()).isPositive();
            // the run used the server: its one database (made by the run) has the synced orders' log
            String db;
            try (var c = pg.getPostgresDatabase().getConnection(); var s = c.createStatement();
                 var rs = s.executeQuery("SELECT datname FROM pg_database WHERE datname LIKE 'ordersync_footprint_%'")) {
                assertThat(rs.next()).isTrue();
                db = rs.getString(1);
                assertThat(rs.next()).isFalse();
            }
            try (var c = pg.getDatabase("postgres", db).getConnection(); var s = c.createStatement();
                 var rs = s.executeQuery("SELECT COUNT(DISTINCT order_code) FROM order_log WHERE kind = 'success'")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(6);
            }
        }
    }
}
