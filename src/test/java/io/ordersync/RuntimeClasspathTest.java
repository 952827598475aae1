package io.ordersync;

import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.OrdersyncProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * ordersync started with the runtime class path only (target/classes and the runtime dependencies, as
 * {@code mvn exec:java} and a packaged run have them), not the tests' class path: every component its routes
 * use must be a runtime dependency. (The REST DSL's camel-rest came only with the test dependencies once:
 * every test passed and the real start failed.)
 */
class RuntimeClasspathTest {

    @TempDir
    Path tmp;
    private OrdersyncProcess process;

    @AfterEach
    void stop() throws Exception {
        if (process != null) {
            process.close();
        }
    }

    @Test
    void startsAndAnswersWithTheRuntimeClassPathOnly() throws Exception {
        String dependencies = Files.readString(Path.of("target", "runtime-classpath.txt")).trim();
        String classPath = Path.of("target", "classes").toAbsolutePath() + File.pathSeparator + dependencies;
        Path vertxCache = Files.createDirectories(tmp.resolve("vertx"));
        process = new OrdersyncProcess("runtime-cp", tmp.resolve("logs"), Map.of(
                "ordersync.db.url", "jdbc:h2:file:" + tmp.resolve("db").resolve("ordersync").toAbsolutePath(),
                "ordersync.mappings.dir", tmp.resolve("mappings").toAbsolutePath().toString(),
                "camel.main.routes-reload-enabled", "false",
                // Vert.x would make its directory vertx/vertx-cache-<uuid> from this, which a kill -9 leaves behind
                "vertx.cacheDirBase", vertxCache.resolve("vertx-cache").toString())).classPath(classPath).start();
        HttpClient http = HttpClient.newHttpClient();
        for (String path : new String[]{"/api/providers", "/api/sources/pretix", "/api/queue"}) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(process.url(path)))
                    .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(path + ": " + r.body()).isEqualTo(200);
        }
        for (String path : new String[]{"/login", "/ui/app.js"}) {
            HttpResponse<String> ui = http.send(HttpRequest.newBuilder(URI.create(process.url(path)))
                    .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(ui.statusCode()).as(path + ", served by ordersync's routes from the class path").isEqualTo(200);
            assertThat(ui.body()).isNotBlank();
        }
        process.kill();
        try (var left = Files.list(vertxCache)) {
            assertThat(left).as("Vert.x's class-path file cache, left behind by a kill -9").isEmpty();
        }
    }

    /**
     * Libraries released in lockstep come at one version: Maven's nearest-wins once mixed Netty 4.1.112, 4.1.119
     * and 4.1.130 under Vert.x (from the Artemis client and a test dependency). Nothing failed, until a call
     * into a class of another release would.
     */
    @Test
    void eachLockstepFamilyHasOneVersionOnTheRuntimeClassPath() throws Exception {
        String dependencies = Files.readString(Path.of("target", "runtime-classpath.txt")).trim();
        Map<String, java.util.Set<String>> versions = new java.util.TreeMap<>();
        for (String jar : dependencies.split(File.pathSeparator)) {
            // .../repository/<group path>/<artifact>/<version>/<artifact>-<version>.jar
            Path p = Path.of(jar);
            String version = p.getParent().getFileName().toString();
            String group = p.getParent().getParent().getParent().toString().replace(File.separatorChar, '/');
            String artifact = p.getParent().getParent().getFileName().toString();
            if (artifact.startsWith("netty-tcnative") || artifact.equals("context-propagation")
                    || artifact.equals("jackson-annotations")) {
                continue; // released on their own version lines
            }
            for (String family : new String[]{"io/netty", "io/micrometer", "io/vertx", "com/fasterxml/jackson/core", "org/apache/camel"}) {
                if (group.endsWith("/" + family)) {
                    versions.computeIfAbsent(family, k -> new java.util.TreeSet<>()).add(version);
                }
            }
        }
        assertThat(versions).containsOnlyKeys("io/netty", "io/micrometer", "io/vertx", "com/fasterxml/jackson/core", "org/apache/camel");
        assertThat(versions).allSatisfy((family, found) -> assertThat(found).as(family).hasSize(1));
    }
}
