package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.CrmProcessTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A backfill of an event whose documents together are larger than the heap, on the default setup (H2) with a small
 * heap: it answers, and ordersync goes on. Before, it read every document of the event in one result set, which H2
 * holds in memory: found by an attack with 118 MB of documents and the 144 MB heap of {@code jvm.options}, the
 * backfill ran out of memory and H2 closed the database until a restart.
 */
class BackfillMemoryTest extends CrmProcessTestSupport {

    private static final int ORDERS = 3000;

    @Test
    void aBackfillOfMoreDocumentsThanTheHeapHoldsAnswersAndLeavesOrdersyncWorking() throws Exception {
        crmProcess("backfill", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"),
                crm -> crm.replaceFirst("(?m)^target:", "filter: [{field: order_status, in: [p]}]\ntarget:"),
                List.of("-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        String url = h2Url();
        process.start(); // the schema
        process.close();
        // 3 000 stored orders of 32 KB each (96 MB of documents), every one pending: the filter takes none
        ObjectNode doc = (ObjectNode) JSON.readTree(Fixtures.read("fixtures/order-xyz34.json"));
        doc.put("padding", "x".repeat(32_000));
        String text = doc.toString();
        try (Connection c = DriverManager.getConnection(url, "sa", "")) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO order_snapshot (event_slug, order_code, event_type,"
                    + " document, received_at) VALUES ('democon', ?, 'order.placed', ?, ?)")) {
                for (int i = 0; i < ORDERS; i++) {
                    String code = String.format("M%05d", i);
                    ps.setString(1, code);
                    ps.setString(2, text.replace("XYZ34", code));
                    ps.setObject(3, OffsetDateTime.now());
                    ps.addBatch();
                    if (i % 200 == 199) {
                        ps.executeBatch();
                        c.commit();
                    }
                }
                ps.executeBatch();
                c.commit();
            }
        }
        process.start();
        HttpResponse<String> backfill = send("/api/providers/crm/backfill", "{\"event\": \"democon\"}");
        assertThat(backfill.statusCode()).as(backfill.body()).isEqualTo(202);
        JsonNode counts = JSON.readTree(backfill.body());
        assertThat(counts.path("skipped").asInt()).isEqualTo(ORDERS);
        assertThat(counts.path("queued").asInt()).isZero();
        // and ordersync works on: an order taken in and synced
        HttpResponse<String> event = send("/api/events", Fixtures.read("fixtures/order-abc12.json"));
        assertThat(event.statusCode()).as(event.body()).isEqualTo(202);
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 1);
    }

    private HttpResponse<String> send(String path, String body) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(process.url(path)))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
