package io.ordersync.support;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * ordersync as a separate operating-system process ({@code java io.ordersync.Application}), started from the
 * project directory with the test's class path, so that a test can kill it with SIGKILL as a crash would.
 */
public final class OrdersyncProcess implements AutoCloseable {

    private final String name;
    private final Map<String, String> properties;
    private final Path log;
    private final int managementPort;
    private final int serverPort;
    private List<String> jvmOptions = List.of("-Xmx256m", "-XX:TieredStopAtLevel=1");
    private Map<String, String> environment = Map.of();
    private Process process;
    private int starts;

    /** {@code properties} become {@code -D} options; the server and management ports are chosen here. */
    public OrdersyncProcess(String name, Path logDir, Map<String, String> properties) {
        this.name = name;
        this.properties = new java.util.LinkedHashMap<>(properties);
        this.managementPort = OrdersyncApp.freePort();
        this.serverPort = OrdersyncApp.freePort();
        this.properties.put("camel.server.port", String.valueOf(serverPort));
        this.properties.put("camel.server.host", "127.0.0.1");
        this.properties.put("camel.management.port", String.valueOf(managementPort));
        this.properties.put("camel.management.host", "127.0.0.1");
        this.properties.put("ordersync.instance-id", name);
        this.properties.putIfAbsent("ordersync.admin.token", OrdersyncApp.ADMIN_TOKEN);
        this.log = logDir.resolve(name + ".log");
    }

    private String classPath = System.getProperty("java.class.path");

    /** The class path of the process (default: this JVM's). */
    public OrdersyncProcess classPath(String classPath) {
        this.classPath = classPath;
        return this;
    }

    /** JVM options of the process (default: a 256 MB heap and quick start-up compilation, for tests). */
    public OrdersyncProcess jvmOptions(List<String> options) {
        this.jvmOptions = List.copyOf(options);
        return this;
    }

    /** Environment variables set for the process besides this JVM's. */
    public OrdersyncProcess environment(Map<String, String> environment) {
        this.environment = Map.copyOf(environment);
        return this;
    }

    public String url(String path) {
        return "http://127.0.0.1:" + serverPort + path;
    }

    public int serverPort() {
        return serverPort;
    }

    /** Rows in the queue, waiting or in flight, as {@code GET /api/queue} reports them. */
    public int queueTotal() throws Exception {
        String body = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create(url("/api/queue"))).header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        return new com.fasterxml.jackson.databind.ObjectMapper().readTree(body).path("total").asInt(-1);
    }

    public int managementPort() {
        return managementPort;
    }

    /** Waits for the process to end by itself; its exit code, or -1 if it still runs after the timeout. */
    public int awaitExit(java.time.Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            return -1;
        }
        int code = process.exitValue();
        process = null;
        return code;
    }

    public long pid() {
        return process.pid();
    }

    /** Starts the process and waits until its readiness check answers UP. */
    public OrdersyncProcess start() throws Exception {
        launch();
        return awaitReady();
    }

    /** Starts the process without waiting. */
    public OrdersyncProcess launch() throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        properties.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.add("io.ordersync.Application");
        Files.createDirectories(log.getParent());
        starts++;
        Files.writeString(log, "==== start " + starts + "\n", java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.APPEND);
        ProcessBuilder builder = new ProcessBuilder(cmd).directory(Paths.get(System.getProperty("user.dir")).toFile())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        builder.environment().putAll(environment);
        process = builder.start();
        return this;
    }

    /** Waits until the readiness check answers UP. */
    public OrdersyncProcess awaitReady() throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException(name + " exited with " + process.exitValue() + "; see " + log);
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + managementPort + "/observe/health")).GET().build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return this;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException(name + " not ready within 60 s; see " + log);
    }

    /** SIGKILL: no shutdown hook, no graceful stop, open transactions and leases left as they are. */
    public void kill() throws InterruptedException {
        if (process != null) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
            process = null;
        }
    }

    public boolean isAlive() {
        return process != null && process.isAlive();
    }

    public Path log() {
        return log;
    }

    /** A graceful stop (SIGTERM), as a service manager would do it. */
    @Override
    public void close() throws InterruptedException {
        if (process != null) {
            process.destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
            process = null;
        }
    }
}
