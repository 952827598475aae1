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
        process = new OrdersyncProcess("runtime-cp", tmp.resolve("logs"), Map.of(
                "ordersync.db.url", "jdbc:h2:file:" + tmp.resolve("db").resolve("ordersync").toAbsolutePath(),
                "ordersync.mappings.dir", tmp.resolve("mappings").toAbsolutePath().toString(),
                "camel.main.routes-reload-enabled", "false")).classPath(classPath).start();
        HttpClient http = HttpClient.newHttpClient();
        for (String path : new String[]{"/api/providers", "/api/sources/pretix", "/api/queue"}) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(process.url(path)))
                    .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(path + ": " + r.body()).isEqualTo(200);
        }
    }
}
