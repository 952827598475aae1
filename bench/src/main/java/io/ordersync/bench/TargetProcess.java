package io.ordersync.bench;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Paths;
import java.time.Duration;

/** {@link TargetMain} as a separate process. */
public final class TargetProcess implements AutoCloseable {

    private final Process process;
    private final int port;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    public TargetProcess() throws Exception {
        port = io.ordersync.support.Ports.free();
        process = new ProcessBuilder(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g", "-Dsun.net.httpserver.nodelay=true", "-cp", System.getProperty("java.class.path"),
                TargetMain.class.getName(), String.valueOf(port))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (true) {
            try {
                stats();
                return;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline || !process.isAlive()) {
                    throw new IllegalStateException("benchmark target did not start");
                }
                Thread.sleep(50);
            }
        }
    }

    public String url() {
        return "http://127.0.0.1:" + port;
    }

    public JsonNode stats() throws IOException, InterruptedException {
        return BenchData.JSON.readTree(http.send(HttpRequest.newBuilder(URI.create(url() + "/_stats")).header("Authorization", "Bearer s3cret").build(),
                HttpResponse.BodyHandlers.ofString()).body());
    }

    /**
     * The requests the target served since its last reset, per order, and the client connections they came on (one
     * of them is this benchmark's own, which reads the counts). Fails when a connection carried fewer than four
     * requests on average: the variant did not keep its connections alive, and its figures would measure that.
     */
    public String traffic(String variant, long orders) throws IOException, InterruptedException {
        JsonNode s = stats();
        long requests = s.path("_requests").asLong();
        long connections = s.path("_connections").asLong();
        if (connections * 4 > requests) {
            throw new IllegalStateException(variant + " opened " + connections + " connections for " + requests
                    + " requests: it does not reuse its connections to the target");
        }
        return String.format("%s: the target served %.2f requests per order on %d connections", variant,
                requests / (double) orders, connections);
    }

    public long count(String collection) throws IOException, InterruptedException {
        return stats().path(collection).asLong();
    }

    public void reset() throws IOException, InterruptedException {
        http.send(HttpRequest.newBuilder(URI.create(url() + "/_reset")).header("Authorization", "Bearer s3cret").POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.discarding());
    }

    /**
     * Waits until the target holds {@code tickets} tickets; returns the nanoTime when it saw them. One long request
     * ({@code GET /_await}), answered by the target the moment the last ticket is stored: polling {@code /_stats}
     * every 25 ms cost the measured JVM, which also runs ordersync, its HTTP client's CPU and JIT compilations
     * (BENCHMARKS.md, issue 18 round twenty-three).
     */
    public long awaitTickets(long tickets, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
            // at most a minute per request, so a target that died is noticed
            long wait = Math.min(left, 60_000);
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url() + "/_await?collection=tickets&count="
                            + tickets + "&timeoutMs=" + wait)).header("Authorization", "Bearer s3cret")
                    .timeout(Duration.ofMillis(wait + 10_000)).build(), HttpResponse.BodyHandlers.ofString());
            long now = System.nanoTime();
            if (r.statusCode() != 200) {
                throw new IllegalStateException("target answered " + r.statusCode() + " to /_await: " + r.body());
            }
            if (BenchData.JSON.readTree(r.body()).path("count").asLong() >= tickets) {
                return now;
            }
            if (now >= deadline) {
                throw new IllegalStateException("target has " + count("tickets") + " of " + tickets + " tickets after " + timeout);
            }
        }
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        process.waitFor();
    }
}
