package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The provider's filter checked again when a queued order is synced, in the two cases an independent attack found
 * it missed: a row claimed before the order was canceled and waiting for a worker (its claim had read the order
 * while it was still paid), and a row whose first try had already written to the target.
 */
class FilterAtSyncTest extends AppTestSupport {

    private static ObjectNode order(String code, String type, String status, String lastModified) {
        ObjectNode doc = fixture("order-abc12");
        doc.put("type", type);
        ((ObjectNode) doc.path("order")).put("code", code);
        ((ObjectNode) doc.path("order")).put("email", code.toLowerCase() + "@example.org");
        ((ObjectNode) doc.path("order")).put("status", status);
        ((ObjectNode) doc.path("order")).put("last_modified", lastModified);
        return doc;
    }

    /**
     * A row claimed before the order was canceled, still waiting for a worker when the cancellation is stored: its
     * sync starts from the newest snapshot, not the one its claim read, so the canceled order is not sent.
     */
    @Test
    void anOrderCanceledAfterItsRowWasClaimedButBeforeItsSyncStartedIsNotSent() throws Exception {
        startWithPaidOnlyCrm(30_000, Map.of());
        // the first two syncs hold both workers (concurrency 2) for a while; the next two rows are claimed meanwhile
        target.stallNext(2, "/contacts", 10_000);
        for (int i = 0; i < 4; i++) {
            assertThat(app.post("/api/events", order("Q" + i, "order.paid", "p", "2026-03-01T10:05:00Z").toString())
                    .statusCode()).isEqualTo(202);
        }
        await().atMost(Duration.ofSeconds(10)).until(() ->
                app.count("SELECT COUNT(*) FROM sync_queue WHERE slot = 'inflight'") == 4);
        // Q2 and Q3 are canceled now, while their rows wait for a worker
        for (int i = 2; i < 4; i++) {
            assertThat(app.post("/api/events", order("Q" + i, "order.changed", "c", "2026-03-02T10:05:00Z").toString())
                    .statusCode()).isEqualTo(202);
        }
        assertThat(app.query("SELECT order_status FROM order_snapshot WHERE order_code = 'Q2'").get(0).get("order_status")).isEqualTo("c");
        // the premise: neither of their syncs has sent anything yet (both workers are held by Q0 and Q1)
        assertThat(target.requests()).noneMatch(r -> (r.query() + r.body()).contains("q2@") || (r.query() + r.body()).contains("q3@"));
        await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
        assertThat(target.objects("contacts")).extracting(c -> c.path("email").asText())
                .as("canceled (filtered out) orders sent to crm").doesNotContain("q2@example.org", "q3@example.org")
                .contains("q0@example.org", "q1@example.org");
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'dropped' AND order_code IN ('Q2', 'Q3')")).isEqualTo(2);
        // counted as filtered, not as a success or a failure (API.md, "Metrics")
        String metrics = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                "http://127.0.0.1:" + app.context().resolvePropertyPlaceholders("{{camel.management.port}}") + "/observe/metrics"))
                .GET().build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        assertThat(metrics).contains("ordersync_syncs_total{outcome=\"filtered\",provider=\"crm\"} 2.0")
                .contains("ordersync_syncs_total{outcome=\"success\",provider=\"crm\"} 2.0");
    }

    /**
     * A try that created the contact, then failed on the ticket; the order changes to one the filter leaves out
     * before the redelivery. The redelivery sends nothing more, and its log line says that an earlier try of the row
     * had written to the target (its tries are in the log), not that nothing was sent.
     */
    @Test
    void aRowWhoseEarlierTryWroteToTheTargetSaysSoWhenTheFilterStopsIt() throws Exception {
        startWithPaidOnlyCrm(30_000, Map.of("ordersync.redelivery.delay-ms", "3000", "ordersync.redelivery.maximum", "1"));
        target.failNext(1, "/tickets", 503, null);
        assertThat(app.post("/api/events", order("M0", "order.paid", "p", "2026-03-01T10:05:00Z").toString()).statusCode())
                .isEqualTo(202);
        await().atMost(Duration.ofSeconds(10)).until(() -> target.objects("contacts").size() == 1
                && target.requests().stream().anyMatch(r -> r.path().startsWith("/tickets")));
        assertThat(app.post("/api/events", order("M0", "order.changed", "c", "2026-03-02T10:05:00Z").toString()).statusCode())
                .isEqualTo(202);
        await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
        assertThat(target.objects("tickets")).as("nothing more sent").isEmpty();
        assertThat(app.query("SELECT message FROM order_log WHERE order_code = 'M0' AND kind = 'dropped'")).singleElement()
                .satisfies(r -> assertThat(r.get("message").toString()).startsWith("stopped: the order no longer passes")
                        .contains("an earlier try of this sync had already sent requests")
                        .contains("the 1 object it wrote recorded"));
        // the contact the first try created is in the order's results, with its id at the target
        String contactId = target.objects("contacts").get(0).path("id").asText();
        assertThat(app.query("SELECT remote_type, remote_id, action FROM sync_result WHERE order_code = 'M0'"))
                .extracting(r -> r.get("remote_type") + " " + r.get("remote_id") + " " + r.get("action"))
                .containsExactly("contact " + contactId + " created");
    }

    /**
     * Two tries wrote the contact (created, then nothing to do), the third is stopped by the filter: the log line counts
     * the one object, not every try's result of it (found by an attack on the first version).
     */
    @Test
    void theStoppedLineCountsEachWrittenObjectOnce() throws Exception {
        startWithPaidOnlyCrm(30_000, Map.of("ordersync.redelivery.delay-ms", "2000", "ordersync.redelivery.maximum", "2"));
        target.failNext(2, "/tickets", 503, null);
        assertThat(app.post("/api/events", order("M1", "order.paid", "p", "2026-03-01T10:05:00Z").toString()).statusCode())
                .isEqualTo(202);
        await().atMost(Duration.ofSeconds(15)).until(() -> target.requests().stream()
                .filter(r -> r.path().startsWith("/tickets")).count() == 2);
        assertThat(app.post("/api/events", order("M1", "order.changed", "c", "2026-03-02T10:05:00Z").toString()).statusCode())
                .isEqualTo(202);
        await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
        assertThat(target.objects("contacts")).hasSize(1);
        assertThat(app.count("SELECT COUNT(*) FROM sync_result WHERE order_code = 'M1'")).isEqualTo(1);
        assertThat(app.query("SELECT message FROM order_log WHERE order_code = 'M1' AND kind = 'dropped'")).singleElement()
                .satisfies(r -> assertThat(r.get("message").toString()).contains("the 1 object it wrote recorded"));
    }
}
