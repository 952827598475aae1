package io.ordersync.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.schibsted.spt.data.jslt.Expression;
import com.schibsted.spt.data.jslt.Parser;
import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.mapping.MappingEngine;
import io.ordersync.mapping.Provider;
import io.ordersync.order.DocumentParser;
import io.ordersync.support.OrdersyncApp;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.apache.camel.Exchange;
import org.apache.camel.builder.RouteBuilder;
import org.apache.camel.impl.DefaultCamelContext;
import org.apache.hc.client5.http.classic.methods.HttpGet;
import org.apache.hc.client5.http.classic.methods.HttpPost;
import org.apache.hc.client5.http.impl.classic.CloseableHttpClient;
import org.apache.hc.client5.http.impl.classic.HttpClients;
import org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManagerBuilder;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.io.entity.EntityUtils;
import org.apache.hc.core5.http.io.entity.StringEntity;

import javax.sql.DataSource;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * End to end: N orders (one contact + two tickets each) to the benchmark target in its own process, for
 * a. a bare HTTP client sending the same requests (the limit), b. ordersync on H2, c. ordersync on PostgreSQL,
 * d. a naive Camel route (sql consumer, JSLT, http; default error handler, no queue). Then ordersync's latency
 * (event accepted to last object delivered) at half of its maximum throughput.
 * {@code bench/run e2e [orders] [--smoke]}.
 */
public final class EndToEndBench {

    static final int CONCURRENCY = 8;
    private static final String TOKEN = "s3cret";

    /** One variant's outcome. */
    public record Result(String name, int orders, double seconds, Latencies latency, Cpu cpu) {
        public Result(String name, int orders, double seconds, Latencies latency) {
            this(name, orders, seconds, latency, null);
        }

        public double ordersPerSecond() {
            return orders / seconds;
        }
    }

    /**
     * CPU time per order of a measured phase, in ms: this JVM's (the client, the naive route or ordersync with
     * its H2; the benchmark driver's few outbox inserts included) and the target process's.
     */
    public record Cpu(double self, double target) {
        @Override
        public String toString() {
            return String.format("%.2f ms (target %.2f ms)", self, target);
        }
    }

    /** Starts counting CPU for a measured phase; {@link #perOrder} ends it. */
    private final class CpuMeter {
        final long self = processCpuNanos();
        final double target = ProcCpu.millis(EndToEndBench::isTarget);

        Cpu perOrder(int n) {
            return new Cpu((processCpuNanos() - self) / 1e6 / n, (ProcCpu.millis(EndToEndBench::isTarget) - target) / n);
        }
    }

    private static boolean isTarget(String commandLine) {
        return commandLine.contains(TargetMain.class.getName());
    }

    private final TargetProcess target;
    private final Path work;
    private final int orders;
    private final int warmup;
    private int batch;
    /** With {@code --count-sql}: the SQL round trips and commits of the measured orders (the proxies cost CPU). */
    private SqlCounter sql;
    /**
     * With {@code --pg-statements}: PostgreSQL's pg_stat_statements over the measured orders, the statements that
     * took the server's time (execution time, not CPU; the server's CPU per order is printed in any case).
     */
    private boolean pgStatements;
    /** {@code --latency-rate}: the latency phase's orders per second; null: half the measured maximum. */
    private Double latencyRate;
    /**
     * With {@code --pg-unflushed}: PostgreSQL with {@code fsync=off} and {@code synchronous_commit=off}, as zonky's
     * embedded server starts by default and as rounds one to eleven of issue 18 measured unawares. Without it, both
     * {@code on}: PostgreSQL's defaults and what a production server runs with (a commit returns once its WAL is on
     * the disk).
     */
    private boolean pgUnflushed;

    public EndToEndBench(TargetProcess target, Path work, int orders) {
        this(target, work, orders, 0);
    }

    /** {@code warmup}: orders each variant sends, unmeasured, before it is measured (the JIT compiles meanwhile). */
    public EndToEndBench(TargetProcess target, Path work, int orders, int warmup) {
        this.target = target;
        this.work = work;
        this.orders = orders;
        this.warmup = warmup;
    }

    public static void main(String[] args) throws Exception {
        int n = 5000;
        Integer warm = null;
        boolean smoke = false;
        String only = null;
        boolean countSql = false;
        boolean pgStatements = false;
        boolean pgUnflushed = false;
        Double latencyRate = null;
        for (String a : args) {
            if (a.equals("--count-sql")) {
                countSql = true;
            } else if (a.equals("--pg-statements")) {
                pgStatements = true;
            } else if (a.equals("--pg-unflushed")) {
                pgUnflushed = true;
            } else if (a.startsWith("--only=")) {
                // profiling aid: ordersync on H2 (--only=h2) or PostgreSQL (--only=pg) only
                only = a.substring(7);
            } else if (a.startsWith("--latency-rate=")) {
                // the latency phase at this many orders/s instead of half the measured maximum: two runs of
                // different code compared at the same load
                latencyRate = Double.parseDouble(a.substring(15));
            } else if (a.startsWith("--warmup=")) {
                warm = Integer.parseInt(a.substring(9));
            } else if (a.equals("--smoke")) {
                smoke = true;
                n = 20;
            } else {
                n = Integer.parseInt(a);
            }
        }
        // by default every variant first sends as many orders unmeasured as it is then measured with
        int warmup = warm != null ? warm : smoke ? 0 : n;
        System.out.printf("e2e: %d orders per variant after %d warm-up orders; JVM %s, options %s%n", n, warmup,
                System.getProperty("java.vm.version"), java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        Path work = Files.createTempDirectory("ordersync-bench");
        List<Result> results = new ArrayList<>();
        try (TargetProcess target = new TargetProcess()) {
            EndToEndBench bench = new EndToEndBench(target, work, n, warmup);
            if (countSql) {
                bench.sql = SqlCounter.install();
            }
            bench.pgStatements = pgStatements;
            bench.pgUnflushed = pgUnflushed;
            bench.latencyRate = latencyRate;
            if ("h2".equals(only)) {
                bench.ordersync("H2", null, n, smoke).forEach(r -> System.out.println(r.name() + ": "
                        + Math.round(r.ordersPerSecond()) + " orders/s, " + r.latency() + (r.cpu() == null ? "" : ", CPU per order " + r.cpu())));
                return;
            }
            if ("pg".equals(only)) {
                try (EmbeddedPostgres pg = bench.postgres()) {
                    bench.ordersync("PostgreSQL", pg, n, smoke).forEach(r -> System.out.println(r.name() + ": "
                            + Math.round(r.ordersPerSecond()) + " orders/s, " + r.latency() + (r.cpu() == null ? "" : ", CPU per order " + r.cpu())));
                }
                return;
            }
            bench.warm("bare HTTP client", w -> bench.bareClient(w, 0));
            results.add(bench.bareClient(n, 0));
            System.out.println(target.traffic("bare HTTP client", n));
            bench.warm("naive Camel route", bench::naiveRoute);
            results.add(bench.naiveRoute(n));
            System.out.println(target.traffic("naive Camel route", n));
            List<Result> h2 = bench.ordersync("H2", null, n, smoke);
            results.addAll(h2);
            try (EmbeddedPostgres pg = bench.postgres()) {
                results.addAll(bench.ordersync("PostgreSQL", pg, n, smoke));
            }
            double half = h2.get(0).ordersPerSecond() / 2;
            results.add(bench.bareClient(Math.max(10, (int) (half * (smoke ? 1 : 10))), half));
        }
        print(results);
    }

    static void print(List<Result> results) {
        double limit = results.get(0).ordersPerSecond();
        double naive = results.stream().filter(r -> r.name().contains("naive")).findFirst().orElseThrow().ordersPerSecond();
        System.out.println();
        System.out.println("| variant | orders | orders/s | × limit | × naive route | CPU per order | latency accepted → delivered |");
        System.out.println("|---|---|---|---|---|---|---|");
        for (Result r : results) {
            System.out.printf("| %s | %d | %.0f | %.2f | %.2f | %s | %s |%n", r.name(), r.orders(), r.ordersPerSecond(),
                    r.ordersPerSecond() / limit, r.ordersPerSecond() / naive, r.cpu() == null ? "–" : r.cpu(),
                    r.latency() == null ? "–" : r.latency());
        }
    }

    /** The requests ordersync sends for a new order: per object a lookup and a create. */
    private record Call(String lookupPath, String createPath, String body) {
    }

    private static List<Call> calls(Provider provider, DocumentParser parser, ObjectNode order) throws Exception {
        List<Call> out = new ArrayList<>();
        for (MappingEngine.PlannedObject p : MappingEngine.plan(provider, parser.validate(order))) {
            Map<String, Object> body = MappingEngine.assign(MappingEngine.resolve(provider, p, List.of()), Map.of(), true,
                    provider.separator(), provider.nativeLists());
            String coll = p.spec().id().equals("contact") ? "contacts" : "tickets";
            String field = p.spec().id().equals("contact") ? "email" : "ticket_id";
            out.add(new Call("/" + coll + "?" + field + "=" + URLEncoder.encode(p.idValue(), StandardCharsets.UTF_8),
                    "/" + coll, BenchData.JSON.writeValueAsString(body)));
        }
        return out;
    }

    /**
     * a. The limit: Apache HttpClient 5 (ordersync's HTTP client), {@link #CONCURRENCY} threads, the request bodies
     * computed beforehand. {@code rate} 0: all at once (throughput); else orders arrive at that rate (latency).
     */
    Result bareClient(int n, double rate) throws Exception {
        target.reset();
        Provider provider = BenchData.provider(target.url());
        DocumentParser parser = new DocumentParser(BenchData.JSON, Integer.MAX_VALUE);
        String prefix = "A" + (++batch) + "X";
        List<List<Call>> work = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            work.add(calls(provider, parser, BenchData.order(prefix + i, 2)));
        }
        ConcurrentLinkedQueue<Double> latencies = new ConcurrentLinkedQueue<>();
        ExecutorService pool = Executors.newFixedThreadPool(CONCURRENCY);
        try (CloseableHttpClient http = HttpClients.custom().setConnectionManager(PoolingHttpClientConnectionManagerBuilder
                .create().setMaxConnPerRoute(CONCURRENCY).setMaxConnTotal(CONCURRENCY).build()).build()) {
            CpuMeter cpu = new CpuMeter();
            long start = System.nanoTime();
            for (int i = 0; i < n; i++) {
                List<Call> order = work.get(i);
                long due = rate == 0 ? start : start + (long) (i / rate * 1e9);
                while (rate > 0 && System.nanoTime() < due) {
                    Thread.sleep(1);
                }
                pool.submit(() -> {
                    for (Call c : order) {
                        HttpGet get = new HttpGet(target.url() + c.lookupPath());
                        get.addHeader("Authorization", "Bearer " + TOKEN);
                        String found = http.execute(get, r -> EntityUtils.toString(r.getEntity()));
                        if (found.contains("\"results\":[]")) {
                            HttpPost post = new HttpPost(target.url() + c.createPath());
                            post.addHeader("Authorization", "Bearer " + TOKEN);
                            post.setEntity(new StringEntity(c.body(), ContentType.APPLICATION_JSON));
                            http.execute(post, r -> EntityUtils.toString(r.getEntity()));
                        }
                    }
                    latencies.add((System.nanoTime() - due) / 1e6);
                    return null;
                });
            }
            pool.shutdown();
            pool.awaitTermination(1, TimeUnit.HOURS);
            long end = target.awaitTickets(2L * n, Duration.ofMinutes(5));
            if (rate == 0) {
                return new Result("a. bare HTTP client (limit)", n, (end - start) / 1e9, null, cpu.perOrder(n));
            }
            return new Result(String.format("a. bare HTTP client at %.0f orders/s", rate), n, (end - start) / 1e9,
                    Latencies.of(latencies));
        }
    }

    /** d. The naive Camel route: sql consumer on an outbox table, JSLT, per object a lookup and a create over http. */
    Result naiveRoute(int n) throws Exception {
        target.reset();
        Expression jslt = Parser.compileString(BenchData.resource("bench/crm.jslt"));
        ConcurrentLinkedQueue<Double> latencies = new ConcurrentLinkedQueue<>();
        String naiveDb = "naive-" + (++batch);
        try (HikariDataSource ds = new HikariDataSource();
             DefaultCamelContext camel = new DefaultCamelContext()) {
            ds.setJdbcUrl("jdbc:h2:file:" + work.resolve(naiveDb).toAbsolutePath());
            ds.setUsername("sa");
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("CREATE TABLE naive_outbox (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, payload VARCHAR(1000000))");
            }
            camel.getRegistry().bind("naiveDs", ds);
            String url = target.url();
            camel.addRoutes(new RouteBuilder() {
                @Override
                public void configure() {
                    from("sql:SELECT id, payload FROM naive_outbox ORDER BY id?dataSource=#naiveDs&delay=100"
                            + "&onConsume=DELETE FROM naive_outbox WHERE id = :#ID")
                            .process(e -> {
                                e.setProperty("acceptedAt", System.nanoTime());
                                JsonNode out = jslt.apply(BenchData.JSON.readTree((String) e.getIn().getBody(Map.class).get("PAYLOAD")));
                                List<Map<String, String>> objects = new ArrayList<>();
                                objects.add(Map.of("coll", "/contacts", "query", "email=" + URLEncoder.encode(
                                        out.path("contact").path("email").asText(), StandardCharsets.UTF_8), "json", out.path("contact").toString()));
                                for (JsonNode t : out.path("tickets")) {
                                    objects.add(Map.of("coll", "/tickets", "query", "ticket_id=" + URLEncoder.encode(
                                            t.path("ticket_id").asText(), StandardCharsets.UTF_8), "json", t.toString()));
                                }
                                e.getIn().setBody(objects);
                            })
                            .split(body())
                                .setProperty("object", body())
                                .removeHeaders("*")
                                .setHeader("Authorization", constant("Bearer " + TOKEN))
                                .setHeader(Exchange.HTTP_METHOD, constant("GET"))
                                .setHeader(Exchange.HTTP_PATH, simple("${exchangeProperty.object[coll]}"))
                                .setHeader(Exchange.HTTP_QUERY, simple("${exchangeProperty.object[query]}"))
                                .setBody(constant(null))
                                .to(url)
                                .convertBodyTo(String.class)
                                .choice().when(simple("${body} contains '\"results\":[]'"))
                                    .removeHeaders("*")
                                    .setHeader("Authorization", constant("Bearer " + TOKEN))
                                    .setHeader(Exchange.HTTP_METHOD, constant("POST"))
                                    .setHeader(Exchange.HTTP_PATH, simple("${exchangeProperty.object[coll]}"))
                                    .setHeader(Exchange.CONTENT_TYPE, constant("application/json"))
                                    .setBody(simple("${exchangeProperty.object[json]}"))
                                    .to(url)
                                .end()
                            .end()
                            .process(e -> latencies.add((System.nanoTime() - e.getProperty("acceptedAt", Long.class)) / 1e6));
                }
            });
            camel.start();
            CpuMeter cpu = new CpuMeter();
            long start = insert(ds, "naive_outbox", "N" + batch + "X", n);
            long end = target.awaitTickets(2L * n, Duration.ofMinutes(30));
            return new Result("d. naive Camel route (sql → JSLT → http)", n, (end - start) / 1e9, null, cpu.perOrder(n));
        } finally {
            try (var files = Files.list(work)) {
                // H2's files of that database: naive-N.mv.db and the like
                files.filter(f -> f.getFileName().toString().startsWith(naiveDb + ".")).forEach(EndToEndBench::discard);
            }
        }
    }

    /** One round of warm-up orders. */
    @FunctionalInterface
    interface WarmRound {
        Object send(int orders) throws Exception;
    }

    /** A warm-up ends when the JIT compiler threads used less than this share of the last round's process CPU time. */
    static final double JIT_QUIET = 0.05;
    /** Rounds after the first at most, each of a fifth of {@code --warmup} orders (at least 2 000). */
    static final int MAX_EXTRA_ROUNDS = 12;

    /**
     * Warms a variant up: {@code --warmup} orders, then more rounds until the JIT has been quiet for two rounds
     * (its compiler threads under {@link #JIT_QUIET} of each round's CPU time). On two cores the
     * default JIT was still compiling after 20 000 orders: 29 % of ordersync's CPU time in the measured phase
     * went to the compiler threads (per-thread CPU from /proc, BENCHMARKS.md issue 18 round four), so the
     * CPU per order and the throughput measured the JIT's backlog as well as ordersync.
     */
    void warm(String name, WarmRound round) throws Exception {
        if (warmup <= 0) {
            return;
        }
        int orders = warmup;
        int quiet = 0;
        for (int r = 0; r <= MAX_EXTRA_ROUNDS; r++) {
            long cpu = processCpuNanos();
            double compiling = ProcCpu.jitMillis();
            round.send(orders);
            double share = (ProcCpu.jitMillis() - compiling) * 1e6 / Math.max(1, processCpuNanos() - cpu);
            if (Double.isNaN(share)) {
                return; // no /proc: the first round only
            }
            System.out.printf("%s: warm-up round %d, %d orders: the JIT compiler threads used %.0f %% of the CPU time%n", name, r + 1,
                    orders, share * 100);
            // two quiet rounds in a row: the C2 backlog comes in bursts (14, 32, 28, 11, 4 % in one run, then
            // 0.12 ms of 1.08 per order in the measured phase after a single quiet round)
            quiet = share < JIT_QUIET ? quiet + 1 : 0;
            if (quiet == 2) {
                return;
            }
            orders = Math.max(2000, warmup / 5);
        }
        System.out.printf("%s: the JIT was still compiling after the last warm-up round%n", name);
    }

    /** CPU time this JVM's threads have used so far, in nanoseconds. */
    static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /**
     * PostgreSQL's WAL records, full-page images and bytes so far, its checkpoints and the buffers they wrote: a
     * checkpoint in the measured phase makes the next change of every page write the whole page to the WAL.
     */
    static double[] walAndCheckpoints(DataSource ds) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement(); var rs = s.executeQuery(
                "SELECT w.wal_records, w.wal_fpi, w.wal_bytes, b.checkpoints_timed + b.checkpoints_req, b.buffers_checkpoint "
                        + "FROM pg_stat_wal w, pg_stat_bgwriter b")) {
            rs.next();
            return new double[]{rs.getDouble(1), rs.getDouble(2), rs.getDouble(3), rs.getDouble(4), rs.getDouble(5)};
        }
    }

    /**
     * The tables that churn (a row in and out per order) as PostgreSQL's statistics see them: live and dead rows,
     * vacuums and analyzes so far, and the pages of the indexes a claim and the outbox poll walk from their left end.
     */
    static String churn(DataSource ds) throws Exception {
        StringBuilder out = new StringBuilder();
        try (Connection c = ds.getConnection(); Statement s = c.createStatement(); var rs = s.executeQuery(
                "SELECT relname, n_live_tup, n_dead_tup, vacuum_count + autovacuum_count, analyze_count + autoanalyze_count, "
                        + "pg_relation_size(CASE relname WHEN 'sync_queue' THEN 'sync_queue_event_due' ELSE 'order_outbox_pkey' END) / 8192 "
                        + "FROM pg_stat_user_tables WHERE relname IN ('sync_queue', 'order_outbox') ORDER BY relname")) {
            while (rs.next()) {
                out.append(String.format("%s %d live, %d dead, %d vacuums, %d analyzes, index %d pages; ", rs.getString(1),
                        rs.getLong(2), rs.getLong(3), rs.getLong(4), rs.getLong(5), rs.getLong(6)));
            }
        }
        return out.toString();
    }

    /**
     * The embedded PostgreSQL server, flushing its commits unless {@code --pg-unflushed} (the settings are printed as
     * the server reports them); with {@code --pg-statements}, with pg_stat_statements loaded.
     */
    EmbeddedPostgres postgres() throws Exception {
        EmbeddedPostgres.Builder b = flushed(EmbeddedPostgres.builder(), !pgUnflushed);
        if (pgStatements) {
            b.setServerConfig("shared_preload_libraries", "pg_stat_statements");
        }
        EmbeddedPostgres pg = b.start();
        try (Connection c = pg.getPostgresDatabase().getConnection(); Statement s = c.createStatement();
             var rs = s.executeQuery("SELECT current_setting('synchronous_commit'), current_setting('fsync'), version()")) {
            rs.next();
            System.out.printf("PostgreSQL: synchronous_commit=%s, fsync=%s (%s)%n", rs.getString(1), rs.getString(2),
                    rs.getString(3).replaceAll(",.*", ""));
        }
        return pg;
    }

    /**
     * {@code flushed}: PostgreSQL's defaults {@code fsync=on} and {@code synchronous_commit=on}, which zonky's
     * embedded server turns off (its {@code -F} option and its default configuration); a later {@code -c fsync=on}
     * wins over {@code -F}. Otherwise both off.
     */
    static EmbeddedPostgres.Builder flushed(EmbeddedPostgres.Builder b, boolean flushed) {
        return b.setServerConfig("fsync", flushed ? "on" : "off").setServerConfig("synchronous_commit", flushed ? "on" : "off");
    }

    /** Clears pg_stat_statements (creating the extension in the benchmark's database the first time). */
    private void resetPgStatements(DataSource ds) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
            s.execute("SELECT pg_stat_statements_reset()");
        }
    }

    /** The statements that took most of the server's time since {@link #resetPgStatements}, per synced order. */
    private static void printPgStatements(DataSource ds, int n) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement(); var rs = s.executeQuery(
                "SELECT calls, total_exec_time, rows, query, shared_blks_hit + shared_blks_read FROM pg_stat_statements WHERE dbid = "
                        + "(SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT 15")) {
            System.out.println("PostgreSQL statements over the measured orders (pg_stat_statements; per order: calls, "
                    + "execution ms, rows; buffers per call):");
            while (rs.next()) {
                String query = rs.getString(4).replaceAll("\\s+", " ");
                System.out.printf("  %6.2f %7.3f ms %6.2f %7.1f  %s%n", rs.getLong(1) / (double) n, rs.getDouble(2) / n,
                        rs.getLong(3) / (double) n, rs.getLong(5) / (double) Math.max(1, rs.getLong(1)),
                        query.substring(0, Math.min(100, query.length())));
            }
        }
    }

    /** b./c. ordersync on H2 (pg null) or PostgreSQL: throughput, then latency at half of it. */
    List<Result> ordersync(String db, EmbeddedPostgres pg, int n, boolean smoke) throws Exception {
        target.reset();
        Map<String, String> props = new HashMap<>();
        props.put("bench.target.url", target.url());
        props.put("bench.target.token", TOKEN);
        props.put("camel.main.routes-reload-enabled", "false");
        // the outbox is polled as ordersync's defaults say (the test harness polls every 100 ms)
        props.put("ordersync.outbox.poll-delay-ms", OrdersyncApp.DEFAULT);
        // -Dordersync.…=… given to the benchmark's JVM (BENCH_JAVA_OPTS) set ordersync, e.g. ordersync.db.h2-commit
        System.getProperties().stringPropertyNames().stream().filter(k -> k.startsWith("ordersync."))
                .forEach(k -> props.put(k, System.getProperty(k)));
        if (pg != null) {
            io.ordersync.support.Postgres.newDatabase(pg, "ordersync_bench_" + (++batch))
                    .forEach((k, v) -> props.put((String) k, (String) v));
        }
        Path dir = work.resolve("ordersync-" + (++batch));
        List<Result> out = new ArrayList<>();
        try (OrdersyncApp app = new OrdersyncApp(dir.resolve("data"), BenchData.mappingsDir(dir.resolve("mappings")), props).start()) {
            int[] round = {0};
            warm("ordersync on " + db, w -> {
                insert(app.dataSource(), "order_outbox", "W" + batch + "R" + (round[0]++) + "X", w);
                target.awaitTickets(2L * w, Duration.ofMinutes(30));
                target.reset();
                return null;
            });
            String prefix = "B" + batch + "X";
            // read before the CPU meters start: its query is not the orders' work
            if (pg != null) {
                System.out.printf("PostgreSQL before the measured phase: %s%n", churn(app.dataSource()));
            }
            // a profiler attached now sees the measured orders only (BENCHMARKS.md, issue 18 round four, "Profiling the measured phase")
            System.out.printf("ordersync on %s: warm, measuring %d orders (%d MB of page cache not yet on the disk)%n", db, n, dirtyMb());
            CpuMeter cpu = new CpuMeter();
            HeapMeter heap = new HeapMeter();
            double jitBefore = ProcCpu.jitMillis();
            double pgBefore = pg == null ? 0 : ProcCpu.postgresMillis();
            double[] walBefore = pg == null ? null : walAndCheckpoints(app.dataSource());
            long[] sqlBefore = sql == null ? null : sql.snapshot();
            if (sql != null) {
                sql.resetBreakdown();
            }
            if (pg != null && pgStatements) {
                resetPgStatements(app.dataSource());
            }
            long start = insert(app.dataSource(), "order_outbox", prefix, n);
            long end = target.awaitTickets(2L * n, Duration.ofMinutes(30));
            Cpu used = cpu.perOrder(n);
            System.out.println(target.traffic("ordersync on " + db, n));
            HeapMeter.Heap h = heap.stop();
            // the target runs in its own process: this is ordersync's CPU (and the few outbox inserts of the driver)
            System.out.printf("ordersync on %s: %.2f ms CPU per order (process CPU time ÷ %d orders; the JIT compiler threads used %.2f ms of it)%n",
                    db, used.self(), n,
                    (ProcCpu.jitMillis() - jitBefore) / n);
            System.out.printf("ordersync on %s: %.0f kB allocated per order; %d young collections (one per %.0f orders), %d ms in them; "
                            + "%d other collections, %d ms%n", db, h.bytes() / 1024.0 / n, h.youngCollections(),
                    n / (double) Math.max(1, h.youngCollections()), h.youngMillis(), h.oldCollections(), h.oldMillis());
            if (pg != null) {
                // the database server's own CPU, on the same two cores (its backends are separate processes)
                System.out.printf("PostgreSQL server: %.2f ms CPU per order (its processes' CPU time ÷ %d orders)%n",
                        (ProcCpu.postgresMillis() - pgBefore) / n, n);
                System.out.printf("PostgreSQL after the measured phase: %s%n", churn(app.dataSource()));
                double[] wal = walAndCheckpoints(app.dataSource());
                System.out.printf("PostgreSQL WAL per order: %.1f records, %.2f full-page images, %.1f kB; checkpoints during "
                                + "the phase: %.0f (%.0f buffers written by them)%n", (wal[0] - walBefore[0]) / n,
                        (wal[1] - walBefore[1]) / n, (wal[2] - walBefore[2]) / n / 1024, wal[3] - walBefore[3], wal[4] - walBefore[4]);
            }
            Result max = new Result("ordersync on " + db, n, (end - start) / 1e9, latencies(app.dataSource(), prefix, n), used);
            if (pg != null && pgStatements) {
                // after latencies(), which waits for every outcome (and adds a few of its own statements)
                printPgStatements(app.dataSource(), n);
            }
            if (sql != null) {
                // after latencies(), which waits for every outcome: every statement of the measured orders is in
                System.out.printf("ordersync on %s, SQL per synced order: %s%n", db, sql.perOrder(sqlBefore, n));
                System.out.print(sql.breakdown(n));
            }
            out.add(max);
            // latency at half of the maximum throughput: orders arrive at that rate for about ten seconds
            target.reset();
            double rate = latencyRate != null ? latencyRate : max.ordersPerSecond() / 2;
            int m = Math.max(10, (int) (rate * (smoke ? 1 : 10)));
            String lprefix = "L" + batch + "X";
            long lstart = System.nanoTime();
            int sent = 0;
            while (sent < m) {
                int due = (int) Math.min(m, Math.floor((System.nanoTime() - lstart) / 1e9 * rate) + 1);
                if (due > sent) {
                    insert(app.dataSource(), "order_outbox", lprefix, sent, due - sent);
                    sent = due;
                }
                Thread.sleep(5);
            }
            long lend = target.awaitTickets(2L * m, Duration.ofMinutes(10));
            out.add(new Result(String.format("ordersync on %s at %.0f orders/s", db, rate), m, (lend - lstart) / 1e9,
                    latencies(app.dataSource(), lprefix, m)));
            System.out.print(stages(app.dataSource(), lprefix, db));
        } finally {
            discard(dir);
        }
        return out;
    }

    /**
     * Deletes a finished variant's files. Its database leaves hundreds of MB of written pages in the page cache,
     * which the kernel may write back during the next variant's measured phase; deleted, they are dropped
     * unwritten. (Two full runs measured PostgreSQL, right after H2, at 322 and 348 orders/s with 2.6–3.4 ms of
     * server CPU per order, against 659–695 and 1.2 ms otherwise; the cause was not proven: BENCHMARKS.md, issue 18
     * round five. The measured phase's first line now says how much written page cache is not on the disk yet.)
     */
    static void discard(Path dir) {
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (java.io.IOException | java.io.UncheckedIOException e) {
            System.out.println("(could not delete " + dir + ": " + e + ")");
        }
    }

    /** Page cache written but not yet on the disk, in MB (/proc/meminfo's Dirty and Writeback). */
    static long dirtyMb() {
        try {
            long kb = 0;
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("Dirty:") || line.startsWith("Writeback:")) {
                    kb += Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
            return kb / 1024;
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * As {@link #latencies(DataSource, String)}, once all {@code orders} have their outcome stored: the target
     * counts the last ticket before ordersync commits that order's outcome.
     */
    static Latencies latencies(DataSource ds, String prefix, int orders) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (successes(ds, prefix) < orders && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        return latencies(ds, prefix);
    }

    private static int successes(DataSource ds, String prefix) throws Exception {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT COUNT(DISTINCT order_code) FROM order_log WHERE kind = 'success' AND order_code LIKE ?")) {
            ps.setString(1, prefix + "%");
            try (var rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    /** Per order of this batch: when ordersync accepted the event to when its last object was delivered. */
    static Latencies latencies(DataSource ds, String prefix) throws Exception {
        List<Double> ms = new ArrayList<>();
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT MIN(CASE WHEN kind = 'received' THEN created_at END), MAX(CASE WHEN kind = 'success' THEN created_at END) "
                        + "FROM order_log WHERE order_code LIKE ? GROUP BY order_code")) {
            ps.setString(1, prefix + "%");
            try (var rs = ps.executeQuery()) {
                while (rs.next()) {
                    var a = rs.getObject(1, java.time.OffsetDateTime.class);
                    var b = rs.getObject(2, java.time.OffsetDateTime.class);
                    if (a != null && b != null) {
                        ms.add(Duration.between(a, b).toNanos() / 1e6);
                    }
                }
            }
        }
        return Latencies.of(ms);
    }

    /**
     * Where the latency at half load goes, per order: accepted (the received log entry) → first request sent
     * (waiting for dispatch and a worker) → last request sent (the sync: requests, mapping) → outcome stored
     * (the last answer, the group commit).
     */
    static String stages(DataSource ds, String prefix, String db) throws Exception {
        List<Double> queued = new ArrayList<>();
        List<Double> sync = new ArrayList<>();
        List<Double> stored = new ArrayList<>();
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT l.order_code, MIN(CASE WHEN l.kind = 'received' THEN l.created_at END), "
                        + "MAX(CASE WHEN l.kind = 'success' THEN l.created_at END) FROM order_log l "
                        + "WHERE l.order_code LIKE ? GROUP BY l.order_code");
             PreparedStatement pa = c.prepareStatement(
                     "SELECT order_code, MIN(first_at), MAX(last_at) FROM sync_tries "
                             + "WHERE order_code LIKE ? GROUP BY order_code")) {
            Map<String, java.time.OffsetDateTime[]> attempts = new HashMap<>();
            pa.setString(1, prefix + "%");
            try (var rs = pa.executeQuery()) {
                while (rs.next()) {
                    attempts.put(rs.getString(1), new java.time.OffsetDateTime[] {
                            rs.getObject(2, java.time.OffsetDateTime.class), rs.getObject(3, java.time.OffsetDateTime.class)});
                }
            }
            ps.setString(1, prefix + "%");
            try (var rs = ps.executeQuery()) {
                while (rs.next()) {
                    var a = rs.getObject(2, java.time.OffsetDateTime.class);
                    var b = rs.getObject(3, java.time.OffsetDateTime.class);
                    var t = attempts.get(rs.getString(1));
                    if (a != null && b != null && t != null) {
                        queued.add(Duration.between(a, t[0]).toNanos() / 1e6);
                        sync.add(Duration.between(t[0], t[1]).toNanos() / 1e6);
                        stored.add(Duration.between(t[1], b).toNanos() / 1e6);
                    }
                }
            }
        }
        return String.format("ordersync on %s at half load, by stage:%n  accepted → first request: %s%n"
                        + "  first → last request sent: %s%n  last request sent → outcome stored: %s%n",
                db, Latencies.of(queued), Latencies.of(sync), Latencies.of(stored));
    }

    static long insert(DataSource ds, String table, String prefix, int n) throws Exception {
        return insert(ds, table, prefix, 0, n);
    }

    /** Writes orders {@code prefix<from>..} into an outbox table in one transaction; returns the nanoTime of the commit. */
    static long insert(DataSource ds, String table, String prefix, int from, int n) throws Exception {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " (payload) VALUES (?)")) {
                for (int i = from; i < from + n; i++) {
                    ps.setString(1, BenchData.order(prefix + i, 2).toString());
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            c.commit();
            return System.nanoTime();
        }
    }
}
