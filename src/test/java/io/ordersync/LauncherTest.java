package io.ordersync;

import io.ordersync.demo.Demo;
import io.ordersync.support.Ports;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 17, point 8: the ./ordersync launcher runs the commands and the service as a plain Java process — no
 * Maven output around what it prints — and a normal start prints one "ready" line with its URLs.
 */
class LauncherTest {

    @TempDir
    Path tmp;

    private record Run(int exit, String out) {
    }

    private static Run run(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("./ordersync"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out);
    }

    @Test
    void commandsPrintOnlyWhatTheySay() throws Exception {
        Run broken = run("validate", "src/test/resources/broken-mappings/b01-yaml-unclosed.yaml");
        assertThat(broken.exit()).isEqualTo(1);
        assertThat(broken.out()).startsWith("ERROR  src/test/resources/broken-mappings/b01-yaml-unclosed.yaml")
                .contains("b01-yaml-unclosed.yaml:5:7: YAML syntax").doesNotContain("[INFO]").doesNotContain("[ERROR]");
        Run ok = run("validate", "--ignore-unset", "mappings/catalog");
        assertThat(ok.exit()).isZero();
        assertThat(ok.out()).contains("4 files, 0 with errors");
        Run help = run("--help");
        assertThat(help.exit()).isZero();
        assertThat(help.out()).contains("ordersync --demo", "fresh demo database", "ordersync validate", "ordersync pretix-import");
    }

    @Test
    void aNormalStartPrintsOneReadyLineWithItsUrls() throws Exception {
        int port;
        int management;
        port = Ports.free();
        management = Ports.free();
        Files.createDirectories(tmp.resolve("mappings"));
        ProcessBuilder builder = new ProcessBuilder("./ordersync", "-Dcamel.server.port=" + port, "-Dcamel.server.host=127.0.0.1",
                "-Dcamel.management.port=" + management, "-Dordersync.db.url=jdbc:h2:file:" + tmp.resolve("db").toAbsolutePath(),
                "-Dordersync.mappings.dir=" + tmp.resolve("mappings").toAbsolutePath(), "-Dcamel.main.routes-reload-enabled=false")
                .redirectErrorStream(true);
        builder.environment().remove("JAVA_OPTS");
        builder.environment().remove("MALLOC_ARENA_MAX");
        Process p = builder.start();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            List<String> ready = new ArrayList<>();
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            String line;
            while (System.nanoTime() < until && (line = r.readLine()) != null) {
                if (line.startsWith("ordersync ready:")) {
                    ready.add(line);
                    break;
                }
            }
            assertThat(ready).singleElement().isEqualTo("ordersync ready: admin UI http://127.0.0.1:" + port + "/ui/ · intake http://127.0.0.1:"
                    + port + "/api/events · health http://127.0.0.1:" + management + "/observe/health");
            // without JAVA_OPTS, the production defaults of jvm.options (the launcher execs java: same process)
            List<String> cmdline = List.of(Files.readString(Path.of("/proc/" + p.pid() + "/cmdline")).split("\0"));
            assertThat(cmdline).contains("-Xmx144m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");
            assertThat(Files.readString(Path.of("/proc/" + p.pid() + "/environ")).split("\0")).contains("MALLOC_ARENA_MAX=2");
        } finally {
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    @Test
    void javaOptsReplaceTheProductionDefaults() throws Exception {
        ProcessBuilder builder = new ProcessBuilder("./ordersync", "--help").redirectErrorStream(true);
        builder.environment().put("JAVA_OPTS", "-XX:+PrintCommandLineFlags -Xmx200m");
        Process p = builder.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(out).contains("-XX:MaxHeapSize=209715200").doesNotContain("UseSerialGC").doesNotContain("TieredStopAtLevel");
    }

    @Test
    void theDemoStartsOnAFreshDatabase() throws Exception {
        Files.writeString(tmp.resolve("demo.mv.db"), "old");
        Files.writeString(tmp.resolve("demo.trace.db"), "old");
        Files.writeString(tmp.resolve("ordersync.mv.db"), "production");
        Demo.freshDatabase(tmp);
        assertThat(tmp.resolve("demo.mv.db")).doesNotExist();
        assertThat(tmp.resolve("demo.trace.db")).doesNotExist();
        assertThat(tmp.resolve("ordersync.mv.db")).hasContent("production");
        Demo.freshDatabase(tmp.resolve("missing"));
    }
}
