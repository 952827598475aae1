package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Two orders with three positions go in over HTTP and the outbox; the expected objects appear, once. */
class EndToEndSyncTest extends AppTestSupport {

    @Test
    void ordersAreSyncedWithTheExpectedObjects() throws Exception {
        startWithCrm();
        HttpResponse<String> r = app.post("/api/events", fixture("order-abc12").toString());
        assertThat(r.statusCode()).isEqualTo(202);
        JsonNode accepted = JSON.readTree(r.body());
        assertThat(accepted.path("queued").get(0).path("provider").asText()).isEqualTo("crm");
        assertThat(accepted.path("queued").get(0).path("action").asText()).isEqualTo("created");
        app.insertOutbox(fixture("order-xyz34").toString());
        awaitQueueEmpty();

        assertThat(target.objects("contacts")).hasSize(2);
        JsonNode john = target.objects("contacts").stream().filter(c -> c.path("email").asText().equals("tester@example.org")).findFirst().orElseThrow();
        assertThat(john.path("first_name").asText()).isEqualTo("John");
        assertThat(john.path("last_name").asText()).isEqualTo("Doe");
        assertThat(john.path("status").asText()).isEqualTo("paid");
        assertThat(john.path("tags").asText()).isEqualTo("democon");
        assertThat(john.path("origin").asText()).isEqualTo("ordersync");
        JsonNode anna = target.objects("contacts").stream().filter(c -> c.path("email").asText().equals("anna@example.com")).findFirst().orElseThrow();
        assertThat(anna.path("first_name").asText()).isEqualTo("Anna Maria");
        assertThat(anna.path("last_name").asText()).isEqualTo("Schmidt");
        assertThat(anna.path("status").asText()).isEqualTo("pending");

        List<ObjectNode> tickets = target.objects("tickets");
        assertThat(tickets).extracting(t -> t.path("ticket_id").asText()).containsExactlyInAnyOrder("ABC12-1", "ABC12-2", "XYZ34-1");
        JsonNode t1 = byTicket(tickets, "ABC12-1");
        assertThat(t1.path("product").asText()).isEqualTo("Regular ticket – Student");
        assertThat(t1.path("attendee").asText()).isEqualTo("Peter Miller");
        assertThat(t1.path("attendee_first_name").asText()).isEqualTo("Peter");
        assertThat(t1.path("price").asText()).isEqualTo("23.00");
        assertThat(t1.path("meal").asText()).isEqualTo("vegetarian");
        JsonNode addon = byTicket(tickets, "ABC12-2");
        assertThat(addon.path("product").asText()).isEqualTo("WS-A");
        assertThat(addon.path("attendee").asText()).as("add-on inherits the attendee").isEqualTo("Peter Miller");
        assertThat(addon.path("meal").asText()).as("add-on inherits answers").isEqualTo("vegetarian");
        assertThat(byTicket(tickets, "XYZ34-1").path("meal").asText()).isEqualTo("meat");
        assertThat(target.requests()).allMatch(req -> "Bearer s3cret".equals(req.authorization()));

        List<Map<String, Object>> results = app.query("SELECT * FROM sync_result WHERE order_code = 'ABC12' ORDER BY id");
        assertThat(results).hasSize(3);
        assertThat(results).extracting(m -> m.get("action")).containsOnly("created");
        Map<String, Object> contact = results.get(0);
        assertThat(contact.get("remote_type")).isEqualTo("contact");
        assertThat(contact.get("id_field")).isEqualTo("email");
        assertThat(contact.get("id_value")).isEqualTo("tester@example.org");
        assertThat(contact.get("remote_id")).isEqualTo(john.path("id").asText());
        assertThat(contact.get("external_link")).isEqualTo("https://crm.example.org/contacts/" + john.path("id").asText());
        assertThat(contact.get("display_name")).isEqualTo("John Doe");

        JsonNode view = JSON.readTree(app.get("/api/orders/democon/ABC12").body());
        assertThat(view.path("queue")).isEmpty();
        assertThat(view.path("results")).hasSize(3);
        assertThat(view.path("log").findValuesAsText("kind")).contains("received", "success");
    }

    @Test
    void changedOrdersUpdateWithoutDuplicatesAndUnchangedObjectsAreNothingToDo() throws Exception {
        startWithCrm();
        app.post("/api/events", fixture("order-abc12").toString());
        app.post("/api/events", fixture("order-xyz34").toString());
        awaitQueueEmpty();
        target.clearRequests();

        // ABC12 changes its e-mail? No: its status; XYZ34 is re-sent unchanged
        ObjectNode changed = fixture("order-abc12");
        changed.put("type", "order.changed");
        ObjectNode order = (ObjectNode) changed.path("order");
        order.put("last_modified", "2026-03-05T10:00:00Z");
        ((ObjectNode) order.path("positions").get(0)).put("attendee_name", "Peter A. Miller");
        order.put("status", "p");
        app.post("/api/events", changed.toString());
        ObjectNode same = fixture("order-xyz34");
        same.put("type", "order.changed");
        app.post("/api/events", same.toString());
        awaitQueueEmpty();

        assertThat(target.objects("contacts")).hasSize(2);
        assertThat(target.objects("tickets")).hasSize(3);
        assertThat(byTicket(target.objects("tickets"), "ABC12-1").path("attendee").asText()).isEqualTo("Peter A. Miller");
        // the only writes: the changed ticket and its add-on (which inherits the name)
        assertThat(target.writes()).extracting(w -> w.method()).containsOnly("PATCH");
        assertThat(target.writes()).hasSize(2);
        assertThat(target.writes().get(0).body()).doesNotContain("price").contains("Peter A. Miller");

        List<Map<String, Object>> xyz = app.query("SELECT action FROM sync_result WHERE order_code = 'XYZ34'");
        assertThat(xyz).extracting(m -> m.get("action")).containsOnly("nothing_to_do");
        assertThat(app.query("SELECT action FROM sync_result WHERE order_code = 'ABC12' AND mapping_id = 'ticket'"))
                .extracting(m -> m.get("action")).containsOnly("updated");
        // a sync where every object had nothing to do is not logged as a success
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE order_code = 'XYZ34' AND kind = 'success'")).isEqualTo(1);
    }

    @Test
    void anExistingRemoteObjectIsUpdatedNotDuplicatedAndModesRespectItsValues() throws Exception {
        ObjectNode existing = JSON.createObjectNode();
        existing.put("email", "tester@example.org");
        existing.put("first_name", "Johnny");
        existing.put("tags", "vip;democon");
        existing.put("origin", "import");
        target.put("contacts", existing);
        startWithCrm();
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();

        assertThat(target.objects("contacts")).hasSize(1);
        JsonNode c = target.objects("contacts").get(0);
        assertThat(c.path("first_name").asText()).as("if_empty keeps a filled field").isEqualTo("Johnny");
        assertThat(c.path("last_name").asText()).as("if_empty fills an empty field").isEqualTo("Doe");
        assertThat(c.path("tags").asText()).as("append does not repeat").isEqualTo("vip;democon");
        assertThat(c.path("origin").asText()).as("if_new leaves an existing object alone").isEqualTo("import");
        assertThat(app.query("SELECT action FROM sync_result WHERE mapping_id = 'contact'"))
                .extracting(m -> m.get("action")).containsExactly("updated");
    }

    @Test
    void aSingleUpsertCallWithALookupKeepsNativeListsAndSkipsUnchangedObjects() throws Exception {
        io.ordersync.support.Fixtures.mapping(mappings, "newsletter", Map.of());
        ObjectNode member = JSON.createObjectNode();
        member.put("id", "tester@example.org");
        member.put("email", "tester@example.org");
        member.putArray("tags").add("vip");
        target.put("members", member);
        startWithCrm();
        app.post("/api/events", fixture("order-abc12").toString());
        app.post("/api/events", fixture("order-xyz34").toString());
        awaitQueueEmpty();
        JsonNode john = target.objects("members").stream().filter(m -> m.path("id").asText().equals("tester@example.org")).findFirst().orElseThrow();
        assertThat(john.path("tags").toString()).isEqualTo("[\"vip\",\"democon\"]");
        assertThat(john.has("language")).as("if_new is not applied to an existing member").isFalse();
        JsonNode anna = target.objects("members").stream().filter(m -> m.path("id").asText().equals("anna@example.com")).findFirst().orElseThrow();
        assertThat(anna.path("language").asText()).isEqualTo("de");
        assertThat(anna.path("tags").toString()).isEqualTo("[\"democon\"]");
        assertThat(app.query("SELECT order_code, action FROM sync_result WHERE provider = 'newsletter' ORDER BY order_code"))
                .extracting(m -> m.get("action")).containsExactly("updated", "created");

        target.clearRequests();
        ObjectNode again = fixture("order-abc12");
        again.put("type", "order.paid");
        app.post("/api/events", again.toString());
        awaitQueueEmpty();
        assertThat(target.writes()).as("nothing changed, nothing written").isEmpty();
        assertThat(app.query("SELECT action FROM sync_result WHERE provider = 'newsletter' AND order_code = 'ABC12'"))
                .extracting(m -> m.get("action")).containsExactly("nothing_to_do");
    }

    /**
     * A claim reads the snapshot its row's sync starts from. An order that changes after its row was claimed, while
     * the row waits for a free worker, is synced with the claimed snapshot and then again, by the waiting row its
     * new event made, with the newest: the target ends with the newest data and nothing is left queued.
     */
    @Test
    void anOrderChangedAfterItsRowWasClaimedIsSyncedAgainWithTheNewest() throws Exception {
        startWithCrm();
        // both workers (concurrency 2) are held by the first two orders' lookups
        target.stallNext(2, "/contacts", 1500);
        app.post("/api/events", fixture("order-abc12").toString());
        app.post("/api/events", fixture("order-xyz34").toString());
        ObjectNode third = fixture("order-abc12");
        ((ObjectNode) third.path("order")).put("code", "CCC33").put("email", "carla@example.org");
        ((ObjectNode) third.path("order").path("positions").get(0)).put("attendee_name", "Carla Old");
        app.post("/api/events", third.toString());
        // CCC33's row is claimed (two workers, four rows claimed at most) but not started
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count(
                "SELECT COUNT(*) FROM sync_queue WHERE order_code = 'CCC33' AND slot = 'inflight'") == 1);

        ObjectNode changed = third.deepCopy();
        changed.put("type", "order.changed");
        ((ObjectNode) changed.path("order")).put("last_modified", "2026-03-05T10:00:00Z");
        ((ObjectNode) changed.path("order").path("positions").get(0)).put("attendee_name", "Carla New");
        // (on a slow machine the workers may be free by now: then CCC33 is synced once more all the same)
        assertThat(app.post("/api/events", changed.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();

        // the claimed snapshot was synced first, the newest after it
        List<String> ccc = target.writes().stream().filter(w -> w.body().contains("Carla")).map(w -> w.method() + " "
                + (w.body().contains("Carla New") ? "new" : "old")).toList();
        assertThat(ccc).first().asString().endsWith("old");
        assertThat(ccc).last().isEqualTo("PATCH new");
        assertThat(byTicket(target.objects("tickets"), "CCC33-1").path("attendee").asText()).isEqualTo("Carla New");
        assertThat(target.objects("contacts")).hasSize(3);
    }

    /**
     * The provider's HTTP client keeps no cookies (every request carries its own credentials; a session one order's
     * answer set is not sent with another's) and reuses its connections: many requests over at most as many
     * connections as the provider has workers (concurrency 2).
     */
    @Test
    void aTargetsCookiesAreNotSentBackAndConnectionsAreReused() throws Exception {
        target.setCookieOnResponses("session=s3cr3t-session; Path=/");
        startWithCrm();
        for (int i = 0; i < 12; i++) {
            ObjectNode order = fixture("order-abc12");
            ((ObjectNode) order.path("order")).put("code", "K" + i).put("email", "k" + i + "@example.org");
            assertThat(app.post("/api/events", order.toString()).statusCode()).isEqualTo(202);
        }
        awaitQueueEmpty();

        assertThat(target.objects("contacts")).hasSize(12);
        assertThat(target.requests()).hasSizeGreaterThanOrEqualTo(12 * 4);
        assertThat(target.requests()).allSatisfy(r -> assertThat(r.header("Cookie")).isNull());
        assertThat(target.connections()).hasSizeLessThanOrEqualTo(2);
    }

    private static JsonNode byTicket(List<ObjectNode> tickets, String id) {
        return tickets.stream().filter(t -> t.path("ticket_id").asText().equals(id)).findFirst().orElseThrow();
    }
}
