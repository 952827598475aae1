package io.ordersync.bench;

import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.OrdersyncProcess;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Footprint: ordersync as its own process (H2, the benchmark provider; the production defaults as the launcher runs them,
 * with the class-data archive of its training start, and other options): time from launching the
 * JVM to ready and to the first order synced (the event is posted as soon as the HTTP intake answers), then the
 * resident set size (VmRSS) while it takes and syncs a stream of orders. {@code bench/run footprint [orders] [--pg]}:
 * {@code --pg} runs ordersync on PostgreSQL (a zonky embedded server, its own processes, a new database per run; the
 * RSS is ordersync's process alone, without the server's).
 */
public final class FootprintBench {

    private FootprintBench() {
    }

    public record Result(double secondsToReady, double secondsToFirstSync, long rssIdleMb, long rssMaxUnderLoadMb, int orders,
                         double loadSeconds) {
    }

    public static void main(String[] args) throws Exception {
        int orders = args.length > 0 && !args[0].startsWith("--") ? Integer.parseInt(args[0]) : 3000;
        if (List.of(args).contains("--smoke")) {
            orders = 20;
        }
        if (!List.of(args).contains("--pg")) {
            measure(args, orders, null);
            return;
        }
        // ordersync on PostgreSQL, as the README recommends for production: each run on a new database of one
        // zonky server (its own processes, flushed commits as in the e2e benchmark; its memory is not in the RSS
        // measured, which is ordersync's process alone)
        System.out.println("ordersync on PostgreSQL (--pg); the training start runs on H2 as the launcher's does");
        try (var pg = EndToEndBench.flushed(io.zonky.test.db.postgres.embedded.EmbeddedPostgres.builder(), true).start()) {
            measure(args, orders, pg);
        }
    }

    private static final java.util.concurrent.atomic.AtomicInteger DATABASES = new java.util.concurrent.atomic.AtomicInteger();

    /** {@code pg}: every run on a new database of this server; null: on H2. */
    private static void measure(String[] args, int orders, io.zonky.test.db.postgres.embedded.EmbeddedPostgres pg) throws Exception {
        String only = List.of(args).stream().filter(a -> a.startsWith("--options=")).findFirst().orElse(null);
        if (only != null) {
            // one configuration: --options=-Xmx256m,-XX:+UseSerialGC [--env=MALLOC_ARENA_MAX=2,...]
            List<String> options = List.of(only.substring("--options=".length()).split(","));
            Map<String, String> env = new java.util.LinkedHashMap<>();
            List.of(args).stream().filter(a -> a.startsWith("--env=")).flatMap(a -> List.of(a.substring(6).split(",")).stream())
                    .forEach(kv -> env.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1)));
            Result r = run(orders, options, env, pg);
            System.out.printf("%n%s %s: ready %.2f s, first sync %.2f s, RSS after first sync %d MB, max %d MB (%.0f orders/s)%n",
                    options, env, r.secondsToReady(), r.secondsToFirstSync(), r.rssIdleMb(), r.rssMaxUnderLoadMb(),
                    r.orders() / r.loadSeconds());
            return;
        }
        // what ./ordersync runs with when JAVA_OPTS is not set: jvm.options, MALLOC_ARENA_MAX=2 and the class-data
        // archive its training start wrote (the launcher's two steps: the training, then the start that maps it)
        Map<String, String> arena = Map.of("MALLOC_ARENA_MAX", "2");
        Path archives = Files.createTempDirectory("ordersync-cds");
        Path launcherJsa = archives.resolve("launcher.jsa");
        double trainingSeconds = train(productionOptions(), arena, launcherJsa);
        List<String> withArchive = new java.util.ArrayList<>(productionOptions());
        withArchive.addAll(List.of("-Xshare:on", "-XX:SharedArchiveFile=" + launcherJsa));
        Result production = run(orders, withArchive, arena, pg);
        // ORDERSYNC_CLASS_ARCHIVE=off
        Result noArchive = run(orders, productionOptions(), arena, pg);
        Result plain = run(orders, List.of("-Xmx256m"), Map.of(), pg);
        // -Xmx256m with an archive written at the exit of a run that synced an order (README's earlier recipe)
        Path jsa = archives.resolve("ordersync.jsa");
        run(1, List.of("-Xmx256m", "-XX:ArchiveClassesAtExit=" + jsa), Map.of(), pg);
        if (!Files.isRegularFile(jsa)) {
            throw new IllegalStateException("no class-data archive was written to " + jsa + "; see the process log");
        }
        // -Xshare:on: fail instead of silently running without the archive
        Result cds = run(orders, List.of("-Xmx256m", "-Xshare:on", "-XX:SharedArchiveFile=" + jsa), Map.of(), pg);
        List<Result> all = List.of(production, noArchive, plain, cds);
        System.out.println();
        System.out.printf("The launcher's training start (once per build) took %.2f s; its archive is %d MB.%n", trainingSeconds,
                Files.size(launcherJsa) >> 20);
        System.out.println();
        System.out.println("| footprint | production defaults, as ./ordersync runs them (jvm.options: " + String.join(" ", productionOptions())
                + "; MALLOC_ARENA_MAX=2; the class-data archive of its training start) | the same without the archive "
                + "(ORDERSYNC_CLASS_ARCHIVE=off) | -Xmx256m | -Xmx256m, AppCDS archive |");
        System.out.println("|---|---|---|---|---|");
        row("launch → ready (health UP)", all, r -> String.format("%.2f s", r.secondsToReady()));
        row("launch → first order synced", all, r -> String.format("%.2f s", r.secondsToFirstSync()));
        row("RSS after the first sync", all, r -> r.rssIdleMb() + " MB");
        row("RSS max while syncing " + orders + " orders", all,
                r -> String.format("%d MB (%.0f orders/s)", r.rssMaxUnderLoadMb(), r.orders() / r.loadSeconds()));
    }

    /**
     * The launcher's training start (./ordersync, io.ordersync.config.ClassArchiveTraining): ordersync with these
     * options starts on a scratch database, stops when ready, and the JVM writes its class-data archive at exit.
     * Returns the seconds it took, launch to exit.
     */
    static double train(List<String> options, Map<String, String> environment, Path jsa) throws Exception {
        Path scratch = Files.createTempDirectory("ordersync-training");
        List<String> cmd = new java.util.ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(options);
        cmd.addAll(List.of("-XX:ArchiveClassesAtExit=" + jsa, "-Dordersync.class-archive.training=" + scratch,
                "-cp", jarClassPath(), "io.ordersync.Application"));
        ProcessBuilder b = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(scratch.resolve("training.log").toFile());
        // as the launcher: an empty environment but for a few basics
        b.environment().keySet().retainAll(java.util.Set.of("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "MALLOC_ARENA_MAX"));
        b.environment().putAll(environment);
        long start = System.nanoTime();
        Process p = b.start();
        if (!p.waitFor(3, java.util.concurrent.TimeUnit.MINUTES) || p.exitValue() != 0 || !Files.isRegularFile(jsa)) {
            p.destroyForcibly();
            throw new IllegalStateException("the training start failed; see " + scratch.resolve("training.log"));
        }
        return (System.nanoTime() - start) / 1e9;
    }

    /** The options of jvm.options, which ./ordersync uses when JAVA_OPTS is not set. */
    static List<String> productionOptions() throws java.io.IOException {
        return Files.readAllLines(Path.of("jvm.options")).stream().map(String::trim)
                .filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
    }

    private static void row(String name, List<Result> results, java.util.function.Function<Result, String> cell) {
        StringBuilder sb = new StringBuilder("| ").append(name).append(" |");
        for (Result r : results) {
            sb.append(' ').append(cell.apply(r)).append(" |");
        }
        System.out.println(sb);
    }

    /**
     * ordersync's classes as a jar plus the jars of this class path: a class-data archive can only be written
     * for a class path without (non-empty) directories, as a deployment has.
     */
    static synchronized String jarClassPath() throws java.io.IOException {
        if (jarClassPath != null) {
            return jarClassPath; // the same path for every run: an archive is only used with the class path it was written for
        }
        Path work = Files.createTempDirectory("ordersync-footprint-cp");
        List<String> out = new java.util.ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path p = Path.of(entry);
            if (Files.isDirectory(p)) {
                if (Files.isRegularFile(p.resolve("io/ordersync/Application.class"))) {
                    out.add(0, jar(p, work.resolve("ordersync.jar")).toString());
                }
            } else if (Files.isRegularFile(p)) {
                out.add(entry);
            }
        }
        jarClassPath = String.join(java.io.File.pathSeparator, out);
        return jarClassPath;
    }

    private static String jarClassPath;

    /** A jar of a class directory (directory entries too), as a build makes it. */
    public static Path jar(Path classes, Path jar) throws java.io.IOException {
        try (var out = new java.util.jar.JarOutputStream(Files.newOutputStream(jar)); var files = Files.walk(classes)) {
            for (Path f : (Iterable<Path>) files.filter(f -> !f.equals(classes)).sorted()::iterator) {
                String name = classes.relativize(f).toString().replace('\\', '/');
                // directory entries too: Flyway finds classpath:db/migration through them
                out.putNextEntry(new java.util.jar.JarEntry(Files.isDirectory(f) ? name + "/" : name));
                if (Files.isRegularFile(f)) {
                    Files.copy(f, out);
                }
                out.closeEntry();
            }
        }
        return jar;
    }

    public static Result run(int orders) throws Exception {
        return run(orders, List.of("-Xmx256m"));
    }

    public static Result run(int orders, List<String> jvmOptions) throws Exception {
        return run(orders, jvmOptions, Map.of());
    }

    public static Result run(int orders, List<String> jvmOptions, Map<String, String> environment) throws Exception {
        return run(orders, jvmOptions, environment, null);
    }

    /** {@code pg}: run ordersync on a new database of this server; null: on H2. */
    public static Result run(int orders, List<String> jvmOptions, Map<String, String> environment,
                             io.zonky.test.db.postgres.embedded.EmbeddedPostgres pg) throws Exception {
        Path work = Files.createTempDirectory("ordersync-footprint");
        try (TargetProcess target = new TargetProcess()) {
            Map<String, String> props = new java.util.HashMap<>(Map.of(
                    "ordersync.db.url", "jdbc:h2:file:" + work.resolve("data/ordersync").toAbsolutePath(),
                    "ordersync.mappings.dir", BenchData.mappingsDir(work.resolve("mappings")).toAbsolutePath().toString(),
                    "bench.target.url", target.url(),
                    "bench.target.token", "s3cret",
                    "camel.main.routes-reload-enabled", "false"));
            if (pg != null) {
                io.ordersync.support.Postgres.newDatabase(pg, "ordersync_footprint_" + DATABASES.incrementAndGet())
                        .forEach((k, v) -> props.put((String) k, (String) v));
            }
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
            try (OrdersyncProcess p = new OrdersyncProcess("footprint", work.resolve("logs"), props)
                    .jvmOptions(jvmOptions).environment(environment).classPath(jarClassPath())) {
                long launched = System.nanoTime();
                p.launch();
                // the first event goes in as soon as the intake answers
                while (true) {
                    try {
                        if (post(http, p, BenchData.order("FIRST", 2).toString()) / 100 == 2) {
                            break;
                        }
                    } catch (java.io.IOException notYet) {
                        // not listening yet
                    }
                    if (!p.isAlive()) {
                        throw new IllegalStateException("ordersync exited; see " + p.log());
                    }
                    Thread.sleep(10);
                }
                AtomicLong readyAt = new AtomicLong();
                Thread readiness = new Thread(() -> {
                    try {
                        p.awaitReady();
                        readyAt.set(System.nanoTime());
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                readiness.start();
                long firstSync = target.awaitTickets(2, Duration.ofSeconds(60));
                readiness.join();
                long ready = readyAt.get();
                long idle = rssMb(p.pid());
                AtomicLong max = new AtomicLong(idle);
                Thread sampler = new Thread(() -> {
                    while (!Thread.currentThread().isInterrupted()) {
                        try {
                            max.accumulateAndGet(rssMb(p.pid()), Math::max);
                            Thread.sleep(100);
                        } catch (InterruptedException e) {
                            return;
                        } catch (Exception e) {
                            return;
                        }
                    }
                });
                sampler.start();
                long start = System.nanoTime();
                for (int i = 0; i < orders; i++) {
                    int status = post(http, p, BenchData.order("LOAD" + i, 2).toString());
                    if (status / 100 != 2) {
                        throw new IllegalStateException("intake answered " + status);
                    }
                }
                long end = target.awaitTickets(2L * (orders + 1), Duration.ofMinutes(30));
                sampler.interrupt();
                sampler.join();
                return new Result((ready - launched) / 1e9, (firstSync - launched) / 1e9, idle, max.get(), orders,
                        (end - start) / 1e9);
            }
        }
    }

    private static int post(HttpClient http, OrdersyncProcess p, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(p.url("/api/events")))
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    static long rssMb(long pid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", "")) / 1024;
            }
        }
        throw new IllegalStateException("no VmRSS for " + pid);
    }
}
