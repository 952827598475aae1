package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Many documents of one new order at once: 50 orders, each posted 20 times in parallel, all answered 202 with a
 * JSON body, one snapshot per order, nothing rejected or dropped, each order synced once. On H2 with one
 * instance, and on PostgreSQL with two instances taking the posts in turn.
 */
class ConcurrentIntakeTest extends AppTestSupport {

    private static final int ORDERS = 50;
    private static final int COPIES = 20;

    @Test
    void parallelFirstDocumentsOfOneOrderAllSucceedOnH2() throws Exception {
        startWithCrm();
        postInParallelAndCheck(List.of(app));
    }

    @Test
    void parallelFirstDocumentsOfOneOrderAllSucceedOnPostgresWithTwoInstances() throws Exception {
        Properties db = Postgres.newDatabase();
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
        Map<String, String> props = new HashMap<>();
        db.forEach((k, v) -> props.put((String) k, (String) v));
        props.put("test.crm.url", target.url());
        props.put("test.crm.token", "s3cret");
        props.put("ordersync.instance-id", "one");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        props.put("ordersync.instance-id", "two");
        try (OrdersyncApp second = new OrdersyncApp(tmp.resolve("b"), mappings, props).start()) {
            postInParallelAndCheck(List.of(app, second));
        }
    }

    private void postInParallelAndCheck(List<OrdersyncApp> instances) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        ObjectNode template = fixture("order-abc12");
        String[] types = {"order.placed", "order.paid", "order.changed"};
        for (int o = 0; o < ORDERS; o++) {
            List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
            for (int i = 0; i < COPIES; i++) {
                ObjectNode doc = template.deepCopy();
                doc.put("type", types[i % types.length]);
                ((ObjectNode) doc.path("order")).put("code", "C" + o);
                ((ObjectNode) doc.path("order")).put("email", "c" + o + "@example.org");
                OrdersyncApp to = instances.get(i % instances.size());
                answers.add(http.sendAsync(HttpRequest.newBuilder(URI.create(to.url("/api/events")))
                        .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(doc.toString())).build(), HttpResponse.BodyHandlers.ofString()));
            }
            for (CompletableFuture<HttpResponse<String>> a : answers) {
                HttpResponse<String> r = a.join();
                assertThat(r.statusCode()).as("order C%d: %s", o, r.body()).isEqualTo(202);
                JsonNode body = JSON.readTree(r.body());
                assertThat(body.path("order").asText()).isEqualTo("C" + o);
            }
        }
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isEqualTo(ORDERS);
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("every document kept")
                .isEqualTo((long) ORDERS * COPIES);
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            assertThat(target.objects("contacts")).hasSize(ORDERS);
            assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        });
        assertThat(target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/contacts")).count())
                .as("each order created once").isEqualTo(ORDERS);
    }
}
