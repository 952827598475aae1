package io.ordersync;

import io.ordersync.demo.Demo;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Prometheus metrics, the health endpoint without credentials, and the demo's sandbox and feed. */
class OperationsTest extends AppTestSupport {

    private static String get(String url) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).GET().build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    private String management() {
        return "http://127.0.0.1:" + app.context().resolvePropertyPlaceholders("{{camel.management.port}}");
    }

    @Test
    void metricsCountSyncsResponsesQueueDepthAndLatency() throws Exception {
        startWithCrm(1, "1h", Map.of("ordersync.queue.reaper-period-ms", "200"));
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();
        target.failAlways(503);
        app.post("/api/events", fixture("order-xyz34").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'exceeded'") == 1);
        await().atMost(Duration.ofSeconds(10)).until(() -> get(management() + "/observe/metrics")
                .contains("ordersync_queue_rows{mode=\"exceeded\",provider=\"crm\",state=\"parked\"} 1.0"));
        String metrics = get(management() + "/observe/metrics");
        assertThat(metrics).contains("ordersync_syncs_total{outcome=\"success\",provider=\"crm\"} 1.0");
        assertThat(metrics).contains("ordersync_syncs_total{outcome=\"exceeded\",provider=\"crm\"} 1.0");
        assertThat(metrics).contains("ordersync_http_responses_total{provider=\"crm\",status=\"201\"} 3.0");
        assertThat(metrics).contains("ordersync_http_responses_total{provider=\"crm\",status=\"503\"} 3.0");
        assertThat(metrics).contains("ordersync_delivery_latency_seconds_count{provider=\"crm\"} 1");
        assertThat(metrics).contains("ordersync_delivery_latency_seconds_bucket{provider=\"crm\",le=");
        // Camel's route policy times each route (camel.metrics.routePolicyLevel = route): the provider's call route too
        assertThat(metrics.lines()).anyMatch(l -> l.startsWith("camel_") && l.contains("routeId=\"provider-crm-call\""));
    }

    /**
     * Column names were lower-cased in the default locale: in Turkish H2's PROVIDER became "provıder" (dotless ı),
     * and the queue's metric, the alerts' provider and the API's reads lost their fields (a review).
     */
    @Test
    void aTurkishDefaultLocaleChangesNothing() throws Exception {
        java.util.Locale before = java.util.Locale.getDefault();
        java.util.Locale.setDefault(java.util.Locale.forLanguageTag("tr-TR"));
        try {
            startWithCrm(1, "1h", Map.of("ordersync.queue.reaper-period-ms", "200"));
            target.failAlways(503);
            app.post("/api/events", fixture("order-xyz34").toString());
            await().atMost(Duration.ofSeconds(10)).until(() -> get(management() + "/observe/metrics")
                    .contains("ordersync_queue_rows{mode=\"exceeded\",provider=\"crm\",state=\"parked\"} 1.0"));
            var queue = new com.fasterxml.jackson.databind.ObjectMapper().readTree(app.get("/api/queue").body());
            assertThat(queue.toString()).contains("\"provider\":\"crm\"").contains("\"order\":\"XYZ34\"");
        } finally {
            java.util.Locale.setDefault(before);
        }
    }

    @Test
    void healthNeedsNoCredentialsAndReportsTheDatabase() throws Exception {
        startWithCrm();
        String health = get(management() + "/observe/health");
        assertThat(health).contains("\"status\":\"UP\"");
        assertThat(health).contains("database");
        assertThat(health).contains("route:dispatch");
    }

    @Test
    void theDemoSyncsIntoItsSandboxWithARetryAndAParkedFailure() throws Exception {
        try (Demo demo = new Demo(0)) {
            Map<String, String> props = new HashMap<>(demo.properties());
            props.put("ordersync.db.url", "jdbc:h2:file:" + tmp.resolve("demo").toAbsolutePath());
            props.put("ordersync.mappings.dir", Path.of("demo/mappings").toAbsolutePath().toString());
            app = new OrdersyncApp(tmp.resolve("data"), Path.of("demo/mappings"), props).start();
            demo.started(app.context(), String.valueOf(URI.create(app.url("/")).getPort()));
            await().atMost(Duration.ofSeconds(30)).until(() ->
                    app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'permanent'") == 1
                            && app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'failure' AND message LIKE 'Temporary error%'") >= 1
                            && app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND order_code = 'D1002'") == 1);
            assertThat(demo.sandbox().objects("contacts")).hasSizeGreaterThanOrEqualTo(4);
            // D1002 came the way a real pretix sends it: a webhook, then a fetch from the sandbox's pretix API
            assertThat(app.query("SELECT message FROM order_log WHERE kind = 'received' AND order_code = 'D1002'"))
                    .extracting(m -> (String) m.get("message")).singleElement().asString().contains("via pretix fetch of democon/D1002");
            assertThat(get(demo.sandbox().url() + "/")).contains("Sandbox CRM").contains("ada@example.org");
            // the demo credentials log in
            HttpResponse<String> login = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(app.url("/api/login")))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"username\":\"demo\",\"password\":\"" + demo.password() + "\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(login.statusCode()).isEqualTo(200);
            // the parked failure is fixed by a manual retry
            long parked = ((Number) app.query("SELECT id FROM sync_queue WHERE need_manual_retry = 'permanent'").get(0).get("id")).longValue();
            assertThat(app.post("/api/queue/" + parked + "/retry", "").statusCode()).isEqualTo(200);
            await().atMost(Duration.ofSeconds(15)).until(() ->
                    app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND order_code = 'D1004'") == 1);
        }
    }
}
