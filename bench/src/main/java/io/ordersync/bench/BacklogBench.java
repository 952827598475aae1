package io.ordersync.bench;

import io.ordersync.support.OrdersyncApp;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Backlog on PostgreSQL: ordersync syncs the first M orders of a queue holding 10 000 versus 1 000 000 waiting
 * rows (the rest due right after them), and the throughput of the two runs is compared. Each backlog is
 * written while ordersync is stopped, then vacuumed and analysed; an unreported first run warms up the JVM.
 * {@code bench/run backlog [measured-orders] [small-backlog] [large-backlog]}.
 */
public final class BacklogBench {

    private BacklogBench() {
    }

    public record Result(int backlog, int measured, double seconds) {
        double ordersPerSecond() {
            return measured / seconds;
        }
    }

    public static void main(String[] args) throws Exception {
        int measured = args.length > 0 ? Integer.parseInt(args[0]) : 3000;
        int small = args.length > 1 ? Integer.parseInt(args[1]) : 10_000;
        int large = args.length > 2 ? Integer.parseInt(args[2]) : 1_000_000;
        // a first, unreported run warms up the JVM, so that neither measured run pays for JIT compilation
        run(Math.max(5, measured / 4), List.of(Math.max(10, measured / 2)));
        List<Result> results = run(measured, List.of(small, large));
        System.out.println();
        System.out.println("| waiting rows | synced | orders/s | × smaller backlog |");
        System.out.println("|---|---|---|---|");
        for (Result r : results) {
            System.out.printf("| %d | %d | %.0f | %.2f |%n", r.backlog(), r.measured(), r.ordersPerSecond(),
                    r.ordersPerSecond() / results.get(0).ordersPerSecond());
        }
    }

    public static List<Result> run(int measured, List<Integer> backlogs) throws Exception {
        Path work = Files.createTempDirectory("ordersync-backlog");
        List<Result> out = new ArrayList<>();
        try (TargetProcess target = new TargetProcess(); EmbeddedPostgres pg = EndToEndBench.flushed(
                EmbeddedPostgres.builder(), true).start()) {
            int n = 0;
            for (int backlog : backlogs) {
                target.reset();
                String name = "backlog_" + (++n);
                try (Connection c = pg.getPostgresDatabase().getConnection(); Statement s = c.createStatement()) {
                    s.execute("CREATE DATABASE " + name);
                }
                String url = "jdbc:postgresql://localhost:" + pg.getPort() + "/" + name;
                Map<String, String> props = new HashMap<>();
                props.put("ordersync.db.url", url);
                props.put("ordersync.db.user", "postgres");
                props.put("ordersync.db.password", "postgres");
                props.put("bench.target.url", target.url());
                props.put("bench.target.token", "s3cret");
                props.put("camel.main.routes-reload-enabled", "false");
                Path dir = work.resolve(name);
                Path mappings = BenchData.mappingsDir(dir.resolve("mappings"));
                // the first start creates the schema; the backlog is written while ordersync is stopped
                new OrdersyncApp(dir.resolve("data"), mappings, props).start().close();
                try (Connection c = DriverManager.getConnection(url, "postgres", "postgres")) {
                    fill(c, measured, backlog);
                }
                try (OrdersyncApp app = new OrdersyncApp(dir.resolve("data"), mappings, props).start()) {
                    long start = System.nanoTime();
                    long end = target.awaitTickets(2L * measured, Duration.ofMinutes(30));
                    out.add(new Result(backlog, measured, (end - start) / 1e9));
                }
            }
        }
        return out;
    }

    /** {@code measured} real orders due first, then {@code backlog - measured} more waiting rows due after them. */
    static void fill(Connection c, int measured, int backlog) throws Exception {
        c.setAutoCommit(false);
        try (PreparedStatement snap = c.prepareStatement("INSERT INTO order_snapshot (event_slug, order_code, event_type, document, "
                + "last_modified, received_at) VALUES ('democon', ?, 'order.placed', ?, '2026-03-01T10:05:00Z', now())");
             PreparedStatement q = c.prepareStatement("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, "
                     + "triggered_at, not_before, failed_attempts) VALUES ('democon', ?, 'crm', 'waiting', 'order.placed', now(), "
                     + "now() - interval '2 days' + ? * interval '1 millisecond', 0)")) {
            for (int i = 0; i < measured; i++) {
                String code = "M" + i;
                snap.setString(1, code);
                snap.setString(2, BenchData.order(code, 2).toString());
                snap.addBatch();
                q.setString(1, code);
                q.setInt(2, i);
                q.addBatch();
            }
            snap.executeBatch();
            q.executeBatch();
        }
        try (Statement s = c.createStatement()) {
            s.execute("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, triggered_at, not_before, "
                    + "failed_attempts) SELECT 'democon', 'W' || g, 'crm', 'waiting', 'order.placed', now(), "
                    + "now() - interval '1 day' + g * interval '1 millisecond', 0 FROM generate_series(1, " + (backlog - measured) + ") g");
        }
        c.commit();
        c.setAutoCommit(true);
        try (Statement s = c.createStatement()) {
            // as after any bulk load: vacuumed and analysed before the measurement, so autovacuum working
            // through a freshly written million rows is not what gets measured
            s.execute("VACUUM ANALYZE sync_queue");
            s.execute("VACUUM ANALYZE order_snapshot");
        }
    }
}
