package io.ordersync.support;

import org.junit.jupiter.api.Assumptions;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Pattern;

/**
 * Stoplight Prism (npm @stoplight/prism-cli, pinned in src/test/prism/package.json) as a validating mock of a
 * vendor's API description, on loopback: it checks every request against the description and answers 4xx (or
 * 500 where the description declares its errors oddly) to one that does not match. Its log is kept, so a test
 * can show that no request had a violation. Installed by {@code .ci/run} ({@code npm ci --prefix src/test/prism});
 * where it is missing the test is skipped, except on CI ({@code ORDERSYNC_CI=1}), where that is a failure.
 */
public final class Prism implements AutoCloseable {

    public static final Path BIN = Path.of("src/test/prism/node_modules/.bin/prism");
    private static final Pattern ANSI = Pattern.compile("\u001B\\[[0-9;]*m");

    private final Process process;
    private final int port;
    private final List<String> log = new CopyOnWriteArrayList<>();

    /** Skips the calling test when Prism is not installed (a failure on CI, which installs it). */
    public static void requireInstalled() {
        boolean present = Files.isExecutable(BIN);
        String why = "Stoplight Prism is not installed: npm ci --prefix src/test/prism (.ci/run does this)";
        if (!present && "1".equals(System.getenv("ORDERSYNC_CI"))) {
            throw new AssertionError(why + "; on CI (ORDERSYNC_CI=1) this check may not be skipped");
        }
        Assumptions.assumeTrue(present, why);
    }

    private Prism(Path spec) throws Exception {
        requireInstalled();
        port = Ports.free();
        process = new ProcessBuilder(BIN.toAbsolutePath().toString(), "mock", "-h", "127.0.0.1", "-p", String.valueOf(port),
                spec.toAbsolutePath().toString()).redirectErrorStream(true).start();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    log.add(ANSI.matcher(line).replaceAll(""));
                }
            } catch (IOException ignored) {
                // the process ended
            }
        }, "prism-log-" + port);
        reader.setDaemon(true);
        reader.start();
        Instant until = Instant.now().plus(Duration.ofSeconds(60));
        while (Instant.now().isBefore(until)) {
            if (!process.isAlive()) {
                throw new IllegalStateException("prism ended at start (exit " + process.exitValue() + "): " + String.join("\n", log));
            }
            if (log.stream().anyMatch(l -> l.contains("Prism is listening"))) {
                try (Socket ignored = new Socket()) {
                    ignored.connect(new InetSocketAddress("127.0.0.1", port), 500);
                    return;
                } catch (IOException notYet) {
                    // listening is logged just before the socket takes connections
                }
            }
            Thread.sleep(100);
        }
        close();
        throw new IllegalStateException("prism did not start within 60 s: " + String.join("\n", log));
    }

    /** Starts Prism on a free loopback port with this API description (OpenAPI 3 or Swagger 2, JSON or YAML). */
    public static Prism mock(Path spec) throws Exception {
        return new Prism(spec);
    }

    public String url() {
        return "http://127.0.0.1:" + port;
    }

    /** Everything Prism logged, without colours. */
    public List<String> log() {
        return new ArrayList<>(log);
    }

    /** The log lines of request violations (Prism marks them ✖ with "error" or "warning"), e.g. a missing property. */
    public List<String> violations() {
        return log.stream().filter(l -> l.contains("✖") || l.contains("[VALIDATOR]") && (l.contains("error") || l.contains("warning")))
                .toList();
    }

    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroy);
        process.destroy();
        try {
            if (!process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
