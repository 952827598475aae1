package io.ordersync.support;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.awaitility.Awaitility.await;

/** Base of the end-to-end tests: a fake target on loopback, a mappings directory, ordersync in-process. */
public abstract class AppTestSupport {

    protected static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    protected Path tmp;
    protected FakeTarget target;
    protected OrdersyncApp app;
    protected Path mappings;

    @BeforeEach
    void startTarget() throws Exception {
        target = new FakeTarget().requireAuthorization("Bearer s3cret");
        mappings = tmp.resolve("mappings");
    }

    @AfterEach
    void stopAll() throws Exception {
        if (app != null) {
            app.close();
        }
        target.close();
    }

    /** Writes the test CRM mapping with these retry settings and starts ordersync. */
    protected OrdersyncApp startWithCrm(int maxAttempts, String backoff, Map<String, String> extraProps) throws Exception {
        return startWithCrm(maxAttempts, backoff, 2000, extraProps);
    }

    /** Writes the test CRM mapping with these retry settings and response timeout and starts ordersync. */
    protected OrdersyncApp startWithCrm(int maxAttempts, String backoff, int responseTimeoutMs, Map<String, String> extraProps)
            throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", String.valueOf(maxAttempts), "backoff", backoff,
                "response_timeout_ms", String.valueOf(responseTimeoutMs)));
        return startWithCrmFile(extraProps);
    }

    /** Starts ordersync with the crm file as written in {@code mappings}, the test CRM's target and token, and these settings. */
    private OrdersyncApp startWithCrmFile(Map<String, String> extraProps) throws Exception {
        Map<String, String> props = new HashMap<>();
        props.put("test.crm.url", target.url());
        props.put("test.crm.token", "s3cret");
        props.putAll(extraProps);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        return app;
    }

    protected OrdersyncApp startWithCrm() throws Exception {
        return startWithCrm(5, "5s, 5m, 30m, 2h, 5h", Map.of());
    }

    /**
     * The test CRM with a provider filter that takes paid orders only ({@code order_status in [p]}), backoff 1 s,
     * this response timeout, and these settings.
     */
    protected OrdersyncApp startWithPaidOnlyCrm(int responseTimeoutMs, Map<String, String> extraProps) throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms",
                String.valueOf(responseTimeoutMs)));
        java.nio.file.Files.writeString(mappings.resolve("crm.yaml"), java.nio.file.Files.readString(mappings.resolve("crm.yaml"))
                .replaceFirst("(?m)^target:", "filter: [{field: order_status, in: [p]}]\ntarget:"));
        return startWithCrmFile(extraProps);
    }

    /** The ordersync.db.* settings of a new database on the embedded PostgreSQL for "postgresql"; none (H2) otherwise. */
    protected static Map<String, String> databaseSettings(String db) throws Exception {
        Map<String, String> props = new HashMap<>();
        if (db.equals("postgresql")) {
            Postgres.newDatabase().forEach((k, v) -> props.put((String) k, (String) v));
        }
        return props;
    }

    /** The settings of an instance on this database with the test CRM's target and token. */
    protected Map<String, String> crmOn(java.util.Properties database) {
        Map<String, String> props = new HashMap<>();
        database.forEach((k, v) -> props.put((String) k, (String) v));
        props.put("test.crm.url", target.url());
        props.put("test.crm.token", "s3cret");
        return props;
    }

    protected static ObjectNode fixture(String name) {
        try {
            return (ObjectNode) JSON.readTree(Fixtures.read("fixtures/" + name + ".json"));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    protected void awaitQueueEmpty() {
        // the outbox too: a row not yet consumed would make an empty queue meaningless
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count(
                "SELECT (SELECT COUNT(*) FROM sync_queue) + (SELECT COUNT(*) FROM order_outbox)") == 0);
    }

    /** What a run of the command line printed, and its exit code. */
    protected record CommandRun(int code, String out, String err) {
    }

    /** Runs the command line ({@code io.ordersync.cli.Commands}) in this JVM with the app's admin token. */
    protected static CommandRun command(String... args) throws Exception {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        System.setProperty("ordersync.admin.token", OrdersyncApp.ADMIN_TOKEN);
        try {
            int code = new io.ordersync.cli.Commands(new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8),
                    new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8)).run(args);
            return new CommandRun(code, out.toString(java.nio.charset.StandardCharsets.UTF_8), err.toString(java.nio.charset.StandardCharsets.UTF_8));
        } finally {
            System.clearProperty("ordersync.admin.token");
        }
    }

    /** An HTTP call to the app, as {@link #async} runs it. */
    protected interface HttpCall {
        java.net.http.HttpResponse<String> run() throws Exception;
    }

    /** Runs the call on another thread (a request that is to wait for a lock the test holds). */
    protected static java.util.concurrent.CompletableFuture<java.net.http.HttpResponse<String>> async(HttpCall call) {
        return java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return call.run();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }
}
