package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * MAPPINGS.md's references and calls, against a real HTTP target: a position mapping's reference to another position
 * mapping sees the same position's object, an order mapping's reference to a position mapping gets every position's
 * value joined with the separator (by default ","); a lookup whose result is a list takes its first element (an empty
 * one: the object is new); {ref:X} in a call when X has no remote id parks the row as permanent, nothing sent;
 * create.conflict's list says which statuses mean "exists already"; and an order locale its value_map has no entry
 * for is a configuration error of that sync, nothing sent half-translated.
 */
class ReferencesAndCallsTest extends AppTestSupport {

    private static final String HEAD = """
            identifier: crm
            triggers: [order.placed]
            target:
              base_url: "{{test.crm.url}}"
              auth: {type: bearer, token: "{{test.crm.token}}"}
              circuit_breaker: {enabled: false}
            retry: {max_attempts: 3, backoff: [1s]}
            """;

    private static final String CONTACT = """
              - id: contact
                source: Order
                remote_type: contact
                id_field: {source: email, remote: email}
                lookup: {path: "/contacts?email={id_value}", result: /results}
                create: {path: /contacts%s}
                update: {path: "/contacts/{remote_id}"}
                properties:
                  - {source: order_code, remote: last_order}
            """;

    private OrdersyncApp start(String objects) throws Exception {
        Files.createDirectories(mappings);
        Files.writeString(mappings.resolve("crm.yaml"), HEAD + "objects:\n" + objects);
        target.recordRequests(true);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                "ordersync.redelivery.delay-ms", "50")).start();
        return app;
    }

    @Test
    void referencesSeeTheSamePositionOrEveryPositionAndAListResultIsItsFirstElement() throws Exception {
        start(CONTACT.formatted("") + """
                  - id: ticket
                    source: OrderPosition
                    remote_type: ticket
                    id_field: {source: ticket_id, remote: ticket_id}
                    lookup: {path: "/tickets?ticket_id={id_value}", result: /results/0}
                    create: {path: /tickets}
                    update: {path: "/tickets/{remote_id}"}
                    properties:
                      - {source: attendee_name, remote: attendee}
                  - id: badge
                    source: OrderPosition
                    remote_type: badge
                    id_field: {source: ticket_id, remote: ticket_ref}
                    lookup: {path: "/badges?ticket_ref={id_value}", result: /results/0}
                    create: {path: /badges}
                    update: {path: "/badges/{remote_id}"}
                    properties:
                      - {ref: ticket, remote: ticket_remote}
                      - {ref: ticket, ref_field: id_value, remote: ticket_code}
                      - {ref: contact, remote: contact_id}
                  - id: deal
                    source: Order
                    remote_type: deal
                    id_field: {source: event_order_code, remote: code}
                    lookup: {path: "/deals?code={id_value}", result: /results/0}
                    create: {path: /deals}
                    update: {path: "/deals/{remote_id}"}
                    properties:
                      - {ref: ticket, remote: ticket_ids}
                      - {ref: ticket, ref_field: id_value, remote: ticket_codes}
                """);
        // the contact exists at the target: the lookup's list holds it, so it is updated, not created again
        ObjectNode known = JSON.createObjectNode().put("email", "tester@example.org").put("name", "known before");
        target.put("contacts", known);
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();
        assertThat(app.query("SELECT need_manual_retry FROM sync_queue")).isEmpty();
        assertThat(target.objects("contacts")).singleElement().satisfies(c -> {
            assertThat(c.path("name").asText()).isEqualTo("known before");
            assertThat(c.path("last_order").asText()).isEqualTo("ABC12");
        });
        assertThat(target.writes()).filteredOn(r -> r.method().equals("POST") && r.path().equals("/contacts")).isEmpty();

        List<ObjectNode> tickets = target.objects("tickets");
        assertThat(tickets).hasSize(2);
        Map<String, String> ticketRemoteIds = new java.util.HashMap<>();
        tickets.forEach(t -> ticketRemoteIds.put(t.path("ticket_id").asText(), t.path("id").asText()));
        // each badge names its own position's ticket, not the first one
        assertThat(target.objects("badges")).hasSize(2).allSatisfy(b -> {
            assertThat(b.path("ticket_code").asText()).isEqualTo(b.path("ticket_ref").asText());
            assertThat(b.path("ticket_remote").asText()).isEqualTo(ticketRemoteIds.get(b.path("ticket_ref").asText()));
            assertThat(b.path("contact_id").asText()).isEqualTo(target.objects("contacts").get(0).path("id").asText());
        });
        assertThat(ticketRemoteIds.values()).doesNotHaveDuplicates();
        // the deal gets every position's ticket, in position order, joined with ","
        ObjectNode deal = target.objects("deals").get(0);
        String[] joinedCodes = deal.path("ticket_codes").asText().split(",");
        assertThat(joinedCodes).hasSize(2).containsExactlyInAnyOrderElementsOf(ticketRemoteIds.keySet());
        assertThat(deal.path("ticket_ids").asText())
                .isEqualTo(ticketRemoteIds.get(joinedCodes[0]) + "," + ticketRemoteIds.get(joinedCodes[1]));

        // an order of another buyer: the lookup's list is empty, the contact is created
        ObjectNode other = fixture("order-abc12");
        ((ObjectNode) other.path("order")).put("code", "REF2").put("email", "new@example.org");
        for (var p : other.path("order").path("positions")) {
            ((ObjectNode) p).put("secret", p.path("secret").asText() + "2");
        }
        app.post("/api/events", other.toString());
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(2);
    }

    @Test
    void aCallWhoseReferencedObjectHasNoRemoteIdParksAsPermanentAndSendsNothing() throws Exception {
        start("""
                  - id: contact
                    source: Order
                    remote_type: contact
                    filter: [{field: order_status, in: [c]}]
                    id_field: {source: email, remote: email}
                    lookup: {path: "/contacts?email={id_value}", result: /results/0}
                    create: {path: /contacts}
                    update: {path: "/contacts/{remote_id}"}
                    properties:
                      - {source: email, remote: email}
                  - id: deal
                    source: Order
                    remote_type: deal
                    id_field: {source: event_order_code, remote: code}
                    lookup: {path: "/deals?code={id_value}", result: /results/0}
                    create: {path: "/deals?contact={ref:contact}"}
                    update: {path: "/deals/{remote_id}"}
                    properties:
                      - {source: order_code, remote: order}
                """);
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL") == 1);
        assertThat(app.query("SELECT need_manual_retry, last_error FROM sync_queue")).singleElement().satisfies(r -> {
            assertThat(r.get("need_manual_retry")).isEqualTo("permanent");
            assertThat((String) r.get("last_error")).contains("{ref:contact}").contains("no 'contact' object with a remote id");
        });
        assertThat(target.writes()).isEmpty();
        assertThat(target.objects("deals")).isEmpty();
    }

    @Test
    void theConflictStatusesAreTheListsAndAnEmptyListTurnsItOff() throws Exception {
        start(CONTACT.formatted(", conflict: [409, 422]"));
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).contains("conflict: [409, 422]");
        // a 422 to the create: the object is taken to exist, the whole sync runs again, its lookup misses, the create goes through
        target.failNext(1, "POST /contacts", 422, null);
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        assertThat(target.objects("contacts")).hasSize(1);
        assertThat(target.writes()).filteredOn(r -> r.method().equals("POST")).hasSize(2);
    }

    @Test
    void withAnEmptyConflictListA409Parks() throws Exception {
        start(CONTACT.formatted(", conflict: []"));
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).contains("conflict: []");
        target.failNext(1, "POST /contacts", 409, null);
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL") == 1);
        assertThat(app.query("SELECT need_manual_retry FROM sync_queue")).extracting(r -> r.get("need_manual_retry")).containsExactly("permanent");
        assertThat(target.objects("contacts")).isEmpty();
    }
    @Test
    void aLocaleTheValueMapHasNoEntryForParksTheSyncAsConfigAndSendsNothing() throws Exception {
        start(CONTACT.formatted("").replace("      - {source: order_code, remote: last_order}\n",
                "      - {source: order_code, remote: last_order}\n      - {source: order_locale, remote: language, value_map: {de: German}}\n"));
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).contains("value_map: {de: German}");
        ObjectNode english = fixture("order-abc12");
        ((ObjectNode) english.path("order")).put("locale", "en");
        app.post("/api/events", english.toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL") == 1);
        assertThat(app.query("SELECT need_manual_retry, last_error FROM sync_queue")).singleElement().satisfies(r -> {
            assertThat(r.get("need_manual_retry")).isEqualTo("config");
            assertThat((String) r.get("last_error")).contains("value_map of 'language' (source order_locale) has no entry for option 'en'");
        });
        assertThat(target.writes()).isEmpty();

        ObjectNode german = fixture("order-abc12");
        ((ObjectNode) german.path("order")).put("code", "LOC2").put("email", "de@example.org").put("locale", "de");
        app.post("/api/events", german.toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("contacts").size() == 1);
        assertThat(target.objects("contacts").get(0).path("language").asText()).isEqualTo("German");
    }
}
