package io.ordersync;

import io.ordersync.bench.FootprintBench;
import io.ordersync.support.Ports;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 18: the ./ordersync launcher writes an application class-data archive (AppCDS) at the first service start
 * of a build, by a training start that stops when ready, and every later start of that build maps it. Runs the
 * launcher from an installation of jars (the archive needs a class path of jars: the build's jar and
 * target/runtime-classpath.txt), as after {@code mvn package}.
 */
class LauncherClassArchiveTest {

    @TempDir
    Path tmp;
    private Path install;

    @BeforeEach
    void install() throws Exception {
        install = Files.createDirectories(tmp.resolve("install"));
        for (String f : new String[]{"ordersync", "jvm.options"}) {
            Files.copy(Path.of(f), install.resolve(f));
        }
        install.resolve("ordersync").toFile().setExecutable(true);
        Files.createDirectories(install.resolve("routes"));
        try (Stream<Path> routes = Files.list(Path.of("routes"))) {
            for (Path r : routes.toList()) {
                Files.copy(r, install.resolve("routes").resolve(r.getFileName()));
            }
        }
        Path target = Files.createDirectories(install.resolve("target"));
        FootprintBench.jar(Path.of("target", "classes"), target.resolve("ordersync-0.1.0-SNAPSHOT.jar"));
        Files.copy(Path.of("target", "runtime-classpath.txt"), target.resolve("runtime-classpath.txt"));
        Files.createDirectories(tmp.resolve("mappings"));
    }

    private record Started(Process process, String output, List<String> cmdline, String maps) {
    }

    /** ./ordersync as the service, until its ready line; what it printed, its command line and its mapped files. */
    private Started start(Map<String, String> env) throws Exception {
        int port;
        int management;
        port = Ports.free();
        management = Ports.free();
        ProcessBuilder builder = new ProcessBuilder("./ordersync", "-Dcamel.server.port=" + port, "-Dcamel.server.host=127.0.0.1",
                "-Dcamel.management.port=" + management, "-Dordersync.mappings.dir=" + tmp.resolve("mappings").toAbsolutePath())
                .directory(install.toFile()).redirectErrorStream(true);
        builder.environment().remove("JAVA_OPTS");
        builder.environment().keySet().removeIf(k -> k.startsWith("ORDERSYNC_"));
        // the real database comes from the environment, as in production: the training must not use it
        builder.environment().put("ORDERSYNC_DB_URL", "jdbc:h2:file:" + tmp.resolve("real").resolve("ordersync").toAbsolutePath());
        builder.environment().putAll(env);
        Process p = builder.start();
        StringBuilder out = new StringBuilder();
        try {
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            String line;
            while (System.nanoTime() < until && (line = r.readLine()) != null) {
                out.append(line).append('\n');
                if (line.startsWith("ordersync ready:")) {
                    List<String> cmdline = List.of(Files.readString(Path.of("/proc/" + p.pid() + "/cmdline")).split("\0"));
                    String maps = Files.readString(Path.of("/proc/" + p.pid() + "/maps"));
                    Thread drain = new Thread(() -> {
                        try {
                            r.transferTo(java.io.Writer.nullWriter());
                        } catch (java.io.IOException ignored) {
                            // stopped
                        }
                    });
                    drain.setDaemon(true);
                    drain.start();
                    return new Started(p, out.toString(), cmdline, maps);
                }
            }
            throw new AssertionError("no ready line; it printed:\n" + out);
        } catch (Throwable t) {
            stop(p);
            throw t;
        }
    }

    private static void stop(Process p) throws InterruptedException {
        p.destroy();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
    }

    private List<Path> archives() throws Exception {
        Path dir = install.resolve("target/class-archive");
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> f.getFileName().toString().endsWith(".jsa")).toList();
        }
    }

    private Started startAndStop(Map<String, String> env) throws Exception {
        Started s = start(env);
        stop(s.process());
        return s;
    }

    @Test
    void theFirstStartOfABuildWritesTheArchiveAndEveryLaterStartMapsIt() throws Exception {
        Started first = startAndStop(Map.of());
        assertThat(first.output()).contains("writing this build's class-data archive");
        assertThat(archives()).hasSize(1);
        Path jsa = archives().get(0).toRealPath();
        assertThat(first.cmdline()).contains("-XX:SharedArchiveFile=target/class-archive/" + jsa.getFileName(), "-Xmx144m");
        assertThat(first.maps()).as("the service maps the archive").contains(jsa.toString());
        // the training ran on its own scratch database (removed), never on the one the environment names
        String training = Files.readString(install.resolve("target/class-archive/training.log"));
        assertThat(training).contains("class-data archive training on its own database jdbc:h2:file:"
                        + install.resolve("target/class-archive").toRealPath() + "/scratch.")
                .doesNotContain(tmp.resolve("real").toString()).contains("Routes startup (total:0)").doesNotContain("    Started ");
        try (Stream<Path> left = Files.list(install.resolve("target/class-archive"))) {
            assertThat(left.map(f -> f.getFileName().toString())).noneMatch(n -> n.startsWith("scratch."));
        }
        assertThat(tmp.resolve("real").resolve("ordersync.mv.db")).as("the service's own database").exists();

        Started second = startAndStop(Map.of());
        assertThat(second.output()).doesNotContain("class-data archive");
        assertThat(second.maps()).contains(jsa.toString());

        // another build (the jar changed): a new archive; of the earlier ones, the newest stays
        Path jar = install.resolve("target/ordersync-0.1.0-SNAPSHOT.jar");
        Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() + 5_000));
        Started rebuilt = startAndStop(Map.of());
        assertThat(rebuilt.output()).contains("writing this build's class-data archive");
        assertThat(archives()).hasSize(2).contains(jsa);
        Path newer = archives().stream().filter(a -> !a.equals(jsa)).findFirst().orElseThrow().toRealPath();
        assertThat(rebuilt.maps()).contains(newer.toString()).doesNotContain(jsa.toString());
        Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() + 5_000));
        startAndStop(Map.of());
        assertThat(archives()).as("the two newest").hasSize(2).doesNotContain(jsa).contains(newer);
        try (Stream<Path> checked = Files.list(install.resolve("target/class-archive"))) {
            assertThat(checked.filter(f -> f.toString().endsWith(".checked"))).hasSize(2);
        }
    }

    @Test
    void aTrainingThatFailsLeavesTheStartWithoutArchiveAndIsNotRepeatedForTheBuild() throws Exception {
        // a training that takes longer than allowed is stopped
        Started failed = startAndStop(Map.of("ORDERSYNC_CLASS_ARCHIVE_TIMEOUT", "1"));
        assertThat(failed.output()).contains("the class-data archive could not be written", "not trying again for this build");
        assertThat(archives()).isEmpty();
        assertThat(failed.cmdline()).noneMatch(a -> a.contains("SharedArchive"));
        try (Stream<Path> left = Files.list(install.resolve("target/class-archive"))) {
            assertThat(left.map(f -> f.getFileName().toString())).noneMatch(n -> n.startsWith("scratch."))
                    .anyMatch(n -> n.endsWith(".failed"));
        }
        Started next = startAndStop(Map.of());
        assertThat(next.output()).contains("no class-data archive for this build: its training failed (exit 124",
                "./ordersync class-archive tries again").doesNotContain("writing this build's");
        assertThat(next.cmdline()).noneMatch(a -> a.contains("SharedArchive"));
    }

    @Test
    void anArchiveDirectoryThatCannotBeMadeOrSwitchedOffStartsWithoutOne() throws Exception {
        Started off = startAndStop(Map.of("ORDERSYNC_CLASS_ARCHIVE", "off"));
        assertThat(off.output()).doesNotContain("class-data archive");
        assertThat(off.cmdline()).noneMatch(a -> a.contains("SharedArchive"));
        assertThat(install.resolve("target/class-archive")).doesNotExist();

        Files.writeString(install.resolve("target/class-archive"), "not a directory");
        Started unwritable = startAndStop(Map.of());
        assertThat(unwritable.output()).contains("is not writable; starting without a class-data archive");
        assertThat(unwritable.cmdline()).noneMatch(a -> a.contains("SharedArchive"));
    }

    private record Ran(int exit, String out) {
    }

    private Ran classArchive(Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("./ordersync", "class-archive"));
        cmd.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(cmd).directory(install.toFile()).redirectErrorStream(true);
        builder.environment().remove("JAVA_OPTS");
        builder.environment().keySet().removeIf(k -> k.startsWith("ORDERSYNC_"));
        builder.environment().putAll(env);
        Process p = builder.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
        return new Ran(p.exitValue(), out);
    }

    /** A loopback port that counts the connections made to it. */
    private static final class Listener implements AutoCloseable {
        final ServerSocket socket = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        final java.util.concurrent.atomic.AtomicInteger connections = new java.util.concurrent.atomic.AtomicInteger();

        Listener() throws java.io.IOException {
            Thread t = new Thread(() -> {
                while (!socket.isClosed()) {
                    try (java.net.Socket ignored = socket.accept()) {
                        connections.incrementAndGet();
                    } catch (java.io.IOException closed) {
                        return;
                    }
                }
            });
            t.setDaemon(true);
            t.start();
        }

        String url() {
            return "http://127.0.0.1:" + socket.getLocalPort();
        }

        @Override
        public void close() throws java.io.IOException {
            socket.close();
        }
    }

    /**
     * The training gets none of the service's settings and starts nothing: with every setting the launcher is
     * given pointing at real systems (database, pretix, alerts, JMS, the mappings, a user's routes with a timer
     * and mail and HTTP producers; in -D arguments, the environment and JAVA_OPTS), none of them is reached.
     */
    @Test
    void theTrainingReachesNothingTheServiceIsConfiguredFor() throws Exception {
        try (Listener pretix = new Listener(); Listener alerts = new Listener(); Listener jms = new Listener();
             Listener mail = new Listener(); Listener broker = new Listener(); Listener target = new Listener()) {
            Files.writeString(install.resolve("routes/users-own.camel.yaml"), """
                    - route:
                        id: users-timer
                        from:
                          uri: "timer:users-own?delay=0&period=10"
                          steps:
                            - to: "%s/from-a-timer"
                    - route:
                        id: users-mail
                        from:
                          uri: "direct:users-mail"
                          steps:
                            - to: "smtp://127.0.0.1:%d?to=ops@example.org&lazyStartProducer=false"
                    # a producer that connects when it starts: JMS with testConnectionOnStartup, made eager in its URI
                    - beans:
                        - name: usersBroker
                          type: org.apache.activemq.artemis.jms.client.ActiveMQConnectionFactory
                          properties:
                            brokerURL: "tcp://127.0.0.1:%d"
                    - route:
                        id: users-jms
                        from:
                          uri: "direct:users-jms"
                          steps:
                            - to: "jms:queue:orders?connectionFactory=#usersBroker&testConnectionOnStartup=true&lazyStartProducer=false"
                    """.formatted(target.url(), mail.socket.getLocalPort(), broker.socket.getLocalPort()));
            Path mappings = Files.createDirectories(tmp.resolve("real-mappings"));
            Files.writeString(mappings.resolve("crm.yaml"), Files.readString(Path.of("mappings/crm.yaml")));
            Path gcLog = tmp.resolve("gc.log");
            // an argument file the JVM would expand: its option would write a second log file
            Files.writeString(tmp.resolve("argfile"), "-Xlog:gc:file=" + tmp.resolve("argfile-gc.log"));
            Ran r = classArchive(Map.of(
                            "ORDERSYNC_DB_URL", "jdbc:h2:file:" + tmp.resolve("real").resolve("env").toAbsolutePath(),
                            "ORDERSYNC_PRETIX_URL", pretix.url(), "ORDERSYNC_PRETIX_ORGANIZER", "o", "ORDERSYNC_PRETIX_EVENTS", "e",
                            "ORDERSYNC_PRETIX_TOKEN", "t", "CRM_URL", target.url(), "CRM_TOKEN", "secret-crm-token",
                            "JAVA_OPTS", "-Xmx144m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dordersync.db.url=jdbc:h2:file:"
                                    + tmp.resolve("real").resolve("opts").toAbsolutePath() + " -Xlog:gc:file=" + gcLog
                                    + " -Xrunjdwp:transport=dt_socket,server=y,suspend=y,address=127.0.0.1:" + jms.socket.getLocalPort()
                                    + " @" + tmp.resolve("argfile")),
                    "-Dordersync.db.url=jdbc:h2:file:" + tmp.resolve("real").resolve("arg").toAbsolutePath(),
                    "-Dordersync.alerts.webhook-url=" + alerts.url(), "-Dordersync.jms.enabled=true",
                    "-Dordersync.jms.url=tcp://127.0.0.1:" + jms.socket.getLocalPort(), "-Dordersync.mappings.dir=" + mappings);
            assertThat(r.exit()).as(r.out()).isZero();
            assertThat(archives()).hasSize(1);
            Thread.sleep(500);
            assertThat(List.of(pretix.connections.get(), alerts.connections.get(), jms.connections.get(), mail.connections.get(), broker.connections.get(),
                    target.connections.get())).as("connections to pretix, alerts, JMS, a mail server, a user's broker, the CRM").containsOnly(0);
            assertThat(tmp.resolve("real")).as("no database of the service's settings").doesNotExist();
            assertThat(gcLog).as("JAVA_OPTS' log file").doesNotExist();
            assertThat(tmp.resolve("argfile-gc.log")).as("the argument file's log file").doesNotExist();
            String training = Files.readString(install.resolve("target/class-archive/training.log"));
            assertThat(training).doesNotContain("secret-crm-token").doesNotContain(target.url()).contains("Routes startup (total:0)")
                    .doesNotContain("    Started ");
            assertThat(Files.getPosixFilePermissions(install.resolve("target/class-archive/training.log")))
                    .containsOnly(java.nio.file.attribute.PosixFilePermission.OWNER_READ, java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
        }
    }

    /** Two at once: one trains, the other waits for it; one archive. A damaged archive is written again. */
    @Test
    void concurrentCallsWriteOneArchiveAndADamagedOneIsWrittenAgain() throws Exception {
        java.util.concurrent.ExecutorService two = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            var a = two.submit(() -> classArchive(Map.of()));
            var b = two.submit(() -> classArchive(Map.of()));
            Ran ra = a.get(4, TimeUnit.MINUTES);
            Ran rb = b.get(4, TimeUnit.MINUTES);
            assertThat(List.of(ra.exit(), rb.exit())).as(ra.out() + rb.out()).containsOnly(0);
            assertThat((ra.out() + rb.out()).split("writing this build's class-data archive", -1)).hasSize(2);
        } finally {
            two.shutdownNow();
        }
        assertThat(archives()).hasSize(1);
        Path jsa = archives().get(0);
        jsa.toFile().setWritable(true);
        try (var ch = java.nio.channels.FileChannel.open(jsa, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(1000); // a JDK 17 given this archive crashes
        }
        Started after = startAndStop(Map.of());
        assertThat(after.output()).contains("is not the archive that was checked; writing it again", "writing this build's class-data archive");
        assertThat(Files.size(archives().get(0))).isGreaterThan(1_000_000);
        assertThat(after.maps()).contains(archives().get(0).toRealPath().toString());
    }

    /**
     * A changed archive that cannot be removed (a read-only target/) is neither used nor written over: the start
     * goes on without an archive and says why. The removal is refused by an {@code rm} ahead on the PATH, as a
     * read-only directory would refuse it (the tests may run as root, whom a directory's mode does not stop).
     */
    @Test
    void aChangedArchiveThatCannotBeRemovedIsNotUsed() throws Exception {
        Ran written = classArchive(Map.of());
        assertThat(written.exit()).as(written.out()).isZero();
        Path jsa = archives().get(0);
        try (var ch = java.nio.channels.FileChannel.open(jsa, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(1000); // a JDK 17 given this archive crashes
        }
        // the rm the launcher would find (not resolved further: a multi-call binary tells its tools apart by name)
        Path realRm = Stream.of(System.getenv("PATH").split(":")).map(d -> Path.of(d, "rm")).filter(Files::isExecutable)
                .findFirst().orElseThrow();
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path rm = bin.resolve("rm");
        Files.writeString(rm, "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in *.jsa) echo \"rm: cannot remove '$a': Read-only file system\" >&2; "
                + "exit 1;; esac; done\nexec '" + realRm + "' \"$@\"\n");
        assertThat(rm.toFile().setExecutable(true)).isTrue();

        Started s = startAndStop(Map.of("PATH", bin + ":" + System.getenv("PATH")));
        assertThat(s.output()).contains("is not the archive that was checked, and could not be removed; starting without a class-data archive")
                .doesNotContain("writing this build's", "writing it again");
        assertThat(s.cmdline()).noneMatch(a -> a.contains("SharedArchive"));
        assertThat(s.maps()).doesNotContain(jsa.getFileName().toString());
        assertThat(Files.size(jsa)).as("left as it was").isEqualTo(1000);

        // asked for the archive: none, and the exit says so
        Ran asked = classArchive(Map.of("PATH", bin + ":" + System.getenv("PATH")));
        assertThat(asked.exit()).as(asked.out()).isEqualTo(1);
        assertThat(asked.out()).contains("could not be removed; no class-data archive written", "a changed archive that could not be removed")
                .doesNotContain("writing this build's");
        assertThat(Files.size(jsa)).isEqualTo(1000);
    }

    /** A stop of the launcher (SIGTERM from a supervisor) while it trains stops the training too, and leaves nothing. */
    @Test
    void stoppingTheLauncherWhileItTrainsStopsTheTraining() throws Exception {
        ProcessBuilder builder = new ProcessBuilder("./ordersync", "class-archive").directory(install.toFile()).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("out.log").toFile());
        builder.environment().remove("JAVA_OPTS");
        Process p = builder.start();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        List<ProcessHandle> jvms = List.of();
        while (System.nanoTime() < until && jvms.isEmpty()) {
            jvms = p.descendants().filter(h -> h.info().command().orElse("").endsWith("java")).toList();
            Thread.sleep(50);
        }
        assertThat(jvms).as("the training's JVM").isNotEmpty();
        Thread.sleep(1000);
        p.destroy(); // SIGTERM to the launcher
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(143);
        for (ProcessHandle h : jvms) {
            assertThat(h.onExit()).succeedsWithin(java.time.Duration.ofSeconds(30));
        }
        try (Stream<Path> left = Files.list(install.resolve("target/class-archive"))) {
            assertThat(left.map(f -> f.getFileName().toString())).noneMatch(n -> n.startsWith("scratch.") || n.endsWith(".jsa"));
        }
    }

    /**
     * Without flock (a minimal image), and with a lock that cannot be opened, the service starts without an
     * archive, and says why.
     */
    @Test
    void noFlockOrNoLockStartsWithoutTheArchive() throws Exception {
        // a PATH with everything the launcher calls but flock
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        for (String c : new String[]{"bash", "dirname", "readlink", "cat", "find", "grep", "tr", "mktemp", "stat", "xargs", "cksum",
                "cut", "ls", "tail", "env", "timeout", "mv", "chmod", "rm", "date", "sed", "mkdir", "sleep", "head", "java"}) {
            Path real = Stream.of(System.getenv("PATH").split(":")).map(d -> Path.of(d, c)).filter(Files::isExecutable).findFirst()
                    .orElseThrow(() -> new AssertionError("no " + c + " on PATH"));
            Files.createSymbolicLink(bin.resolve(c), real.toRealPath());
        }
        Started noFlock = startAndStop(Map.of("PATH", bin.toString()));
        assertThat(noFlock.output()).contains("no flock (util-linux) here; starting without a class-data archive");
        assertThat(noFlock.cmdline()).noneMatch(a -> a.contains("SharedArchive"));

        Files.createDirectories(install.resolve("target/class-archive/.lock")); // not a file: cannot be opened
        Started noLock = startAndStop(Map.of());
        assertThat(noLock.output()).contains("is not writable; starting without a class-data archive");
        assertThat(noLock.cmdline()).noneMatch(a -> a.contains("SharedArchive"));
    }

    /** A jvm.options whose every line is a comment: the JVM's own defaults (it once ended the launcher silently). */
    @Test
    void aJvmOptionsFileWithOnlyCommentsLeavesTheJvmDefaults() throws Exception {
        Files.writeString(install.resolve("jvm.options"), "# -Xmx144m\n\n#-XX:+UseSerialGC\n");
        ProcessBuilder builder = new ProcessBuilder("./ordersync", "--help").directory(install.toFile()).redirectErrorStream(true);
        builder.environment().remove("JAVA_OPTS");
        Process p = builder.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).contains("ordersync validate");
    }

    /** For an image or a deployment step: the archive written now, without starting the service. */
    @Test
    void theClassArchiveCommandWritesItWithoutStartingTheService() throws Exception {
        Ran r = classArchive(Map.of());
        String out = r.out();
        assertThat(r.exit()).as(out).isZero();
        assertThat(archives()).hasSize(1);
        assertThat(out).contains("writing this build's class-data archive", "class-data archive " + install.toRealPath().resolve("target/class-archive")
                .resolve(archives().get(0).getFileName())).doesNotContain("ordersync ready");

        Started next = startAndStop(Map.of());
        assertThat(next.output()).doesNotContain("class-data archive");
        assertThat(next.maps()).contains(archives().get(0).toRealPath().toString());
    }

    /**
     * The training refuses to run when a setting of the environment would win over its own (ORDERSYNC_DB_URL
     * points at the real database), before it opens any database. The launcher keeps those variables out of
     * the training's environment; this is the check behind it.
     */
    @Test
    void aTrainingStartRefusesSettingsFromTheEnvironment() throws Exception {
        Path real = tmp.resolve("real").resolve("ordersync");
        ProcessBuilder builder = new ProcessBuilder("java", "-Dordersync.class-archive.training=" + tmp.resolve("scratch"),
                "-Dordersync.mappings.dir=" + tmp.resolve("mappings"), "-cp",
                Path.of("target", "classes").toAbsolutePath() + ":" + Files.readString(Path.of("target", "runtime-classpath.txt")).trim(),
                "io.ordersync.Application").redirectErrorStream(true);
        builder.environment().put("ORDERSYNC_DB_URL", "jdbc:h2:file:" + real.toAbsolutePath());
        Process p = builder.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isNotZero();
        assertThat(out).contains("class-data archive training refused: ordersync.db.url is set elsewhere");
        assertThat(tmp.resolve("real")).doesNotExist();
    }
}
