package io.ordersync;

import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.PostgresOnDisk;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * PostgreSQL goes away in the middle of a run (stopped, down for a few seconds, started again on the same data
 * and port): ordersync reports itself not ready while it is down, resumes by itself, and loses or duplicates nothing.
 */
class PostgresRestartTest extends AppTestSupport {

    private EmbeddedPostgres pg;

    @AfterEach
    void stopPostgres() throws Exception {
        if (app != null) {
            app.close();
            app = null;
        }
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void postgresRestartedMidRunLosesNothing() throws Exception {
        Path dataDir = tmp.resolve("pgdata");
        int port = PostgresOnDisk.freePort();
        // a clean stop writes everything: zonky's defaults (commits not flushed) lose nothing here
        pg = PostgresOnDisk.start(dataDir, port, false);
        PostgresOnDisk.createDatabase(pg);
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "2000"));
        app = new OrdersyncApp(tmp.resolve("data"), mappings, PostgresOnDisk.settings(port, target)).start();
        target.trackOverlaps();
        // a slow target, so that the database stops while deliveries are under way
        target.randomFaults(0, 1.0, 20);
        int n = 300;
        IntakeTest.OrdersyncAppFiller.fill(app, withDistinctEmails(fixture("order-abc12")), n);
        await().atMost(Duration.ofSeconds(60)).until(() -> target.objects("contacts").size() >= 30);

        pg.close();
        pg = null;
        assertThat(target.objects("contacts").size()).as("stopped mid-run").isLessThan(n);
        await("readiness reports the database down").atMost(Duration.ofSeconds(30))
                .until(() -> health() == 503);
        // an event posted meanwhile: 503 with Retry-After, as JSON, and nothing stored (the sender sends it again)
        com.fasterxml.jackson.databind.node.ObjectNode late = fixture("order-xyz34");
        ((com.fasterxml.jackson.databind.node.ObjectNode) late.path("order")).put("code", "DOWN1");
        java.net.http.HttpResponse<String> refused = app.post("/api/events", late.toString());
        assertThat(refused.statusCode()).isEqualTo(503);
        assertThat(refused.headers().firstValue("Retry-After")).contains("5");
        assertThat(refused.headers().firstValue("Content-Type")).hasValueSatisfying(t -> assertThat(t).startsWith("application/json"));
        assertThat(JSON.readTree(refused.body()).path("error").asText()).contains("nothing was stored");
        Thread.sleep(3000);
        pg = PostgresOnDisk.start(dataDir, port, false);

        await("ordersync resumes by itself").atMost(Duration.ofSeconds(120)).until(() ->
                target.objects("tickets").size() == 2 * n && app.count(
                        "SELECT (SELECT COUNT(*) FROM sync_queue) + (SELECT COUNT(*) FROM order_outbox)") == 0);
        await().atMost(Duration.ofSeconds(30)).until(() -> health() == 200);
        assertThat(target.objects("contacts")).hasSize(n);
        assertThat(creates("/contacts")).as("no duplicate contacts").isEqualTo(n);
        assertThat(creates("/tickets")).as("no duplicate tickets").isEqualTo(2L * n);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("each event accepted once").isEqualTo(n);
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'DOWN1'")).as("the refused event").isZero();
        assertThat(target.overlaps()).isZero();
    }

    private long creates(String path) {
        return target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals(path)).count();
    }

    private int health() throws Exception {
        String mgmt = app.context().resolvePropertyPlaceholders("{{camel.management.port}}");
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + mgmt + "/observe/health"))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    private static com.fasterxml.jackson.databind.node.ObjectNode withDistinctEmails(com.fasterxml.jackson.databind.node.ObjectNode doc) {
        ((com.fasterxml.jackson.databind.node.ObjectNode) doc.path("order")).put("email", "{code}@example.org");
        return doc;
    }
}
