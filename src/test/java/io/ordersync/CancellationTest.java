package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * on_cancel: a canceled position's ticket is deleted at the target, a canceled order's contact archived (only
 * the archive values written) and its tickets deleted; a canceled order the target never had creates nothing.
 * The results record what was done.
 */
class CancellationTest extends AppTestSupport {

    /** The test CRM with on_cancel: delete for its tickets and {@code contactOnCancel} for its contacts. */
    private void startWithTicketsDeletedAndContacts(String contactOnCancel) throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
        String file = Files.readString(mappings.resolve("crm.yaml"));
        file = file.replace("    update: {path: \"/tickets/{remote_id}\"}\n",
                "    update: {path: \"/tickets/{remote_id}\"}\n    on_cancel: delete\n    delete: {path: \"/tickets/{remote_id}\"}\n");
        file = file.replace("    update: {method: PATCH, path: \"/contacts/{remote_id}\"}\n",
                "    update: {method: PATCH, path: \"/contacts/{remote_id}\"}\n    on_cancel: " + contactOnCancel + "\n");
        assertThat(file).contains("on_cancel: delete").contains("on_cancel: " + contactOnCancel);
        Files.writeString(mappings.resolve("crm.yaml"), file);
        target.recordRequests(true);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret")).start();
    }

    @Test
    void canceledPositionsAreDeletedAndACanceledOrderIsArchived() throws Exception {
        startWithTicketsDeletedAndContacts("{archive: {status: archived, archived: true}}");

        ObjectNode doc = fixture("order-abc12");
        assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(target.objects("tickets")).hasSize(2);

        // the second position is canceled: its ticket goes, the other stays
        doc.put("type", "order.changed");
        ObjectNode order = (ObjectNode) doc.path("order");
        ((ObjectNode) order.path("positions").get(1)).put("canceled", true);
        order.put("last_modified", "2026-03-02T10:00:00Z");
        assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(target.objects("tickets")).hasSize(1);
        assertThat(app.query("SELECT action FROM sync_result WHERE mapping_id = 'ticket' ORDER BY id_value"))
                .extracting(r -> r.get("action")).contains("deleted");

        // the order is canceled: the contact is archived (only the archive values), the last ticket deleted
        target.clearRequests();
        order.put("status", "c").put("last_modified", "2026-03-03T10:00:00Z");
        assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(target.objects("tickets")).isEmpty();
        assertThat(target.objects("contacts")).singleElement().satisfies(c -> {
            assertThat(c.path("status").asText()).isEqualTo("archived");
            assertThat(c.path("archived").asBoolean()).isTrue();
        });
        assertThat(target.writes()).filteredOn(r -> r.method().equals("PATCH")).singleElement()
                .satisfies(r -> assertThat(JSON.readTree(r.body())).isEqualTo(JSON.readTree("{\"status\":\"archived\",\"archived\":true}")));
        assertThat(app.query("SELECT mapping_id, action FROM sync_result ORDER BY mapping_id, id_value"))
                .extracting(r -> r.get("mapping_id") + " " + r.get("action"))
                // the ticket deleted before is not there any more: nothing to do for it this time
                .containsExactly("contact archived", "ticket deleted", "ticket nothing_to_do");

        // the canceled order changes again: the contact holds the archive values already, so nothing is written
        target.clearRequests();
        order.put("last_modified", "2026-03-04T10:00:00Z");
        assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(target.requests()).isNotEmpty();
        assertThat(target.writes()).isEmpty();

        // a canceled order the target never had: nothing is created
        ObjectNode other = fixture("order-abc12");
        ((ObjectNode) other.path("order")).put("code", "GONE1").put("email", "gone@example.org").put("status", "c");
        for (var p : other.path("order").path("positions")) {
            ((ObjectNode) p).put("secret", p.path("secret").asText() + "x");
        }
        assertThat(app.post("/api/events", other.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
        assertThat(app.query("SELECT action FROM sync_result WHERE order_code = 'GONE1'")).extracting(r -> r.get("action"))
                .containsOnly("nothing_to_do");
    }
    /**
     * on_cancel delete: a 404 to the delete counts as deleted (someone removed it meanwhile), nothing parks; on_cancel
     * nothing: the canceled order's contact gets no request beyond its lookup (MAPPINGS.md).
     */
    @Test
    void aDeleteAnswered404CountsAsDeletedAndNothingWritesNothing() throws Exception {
        startWithTicketsDeletedAndContacts("nothing");
        ObjectNode doc = fixture("order-abc12");
        assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(target.objects("tickets")).hasSize(2);

        target.clearRequests();
        target.failNext(1, "DELETE /tickets/", 404, null);
        ObjectNode order = (ObjectNode) doc.path("order");
        doc.put("type", "order.changed");
        order.put("status", "c").put("last_modified", "2026-03-03T10:00:00Z");
        assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        assertThat(target.writes()).filteredOn(r -> r.method().equals("DELETE")).hasSize(2);
        assertThat(target.writes()).filteredOn(r -> r.path().startsWith("/contacts")).isEmpty();
        assertThat(app.query("SELECT mapping_id, action FROM sync_result ORDER BY mapping_id, id_value"))
                .extracting(r -> r.get("mapping_id") + " " + r.get("action"))
                .containsExactly("contact nothing_to_do", "ticket deleted", "ticket deleted");
    }
}
