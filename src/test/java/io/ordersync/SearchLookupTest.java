package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A search API as HubSpot's CRM v3 has it: the lookup is a POST with a JSON filter, objects keep their fields
 * under "properties", and writes wrap the fields the same way. On a real HTTP server on loopback that answers
 * as HubSpot's API reference shows.
 */
class SearchLookupTest extends AppTestSupport {

    private HttpServer server;
    private final Map<String, ObjectNode> contacts = new ConcurrentHashMap<>();
    private final List<String[]> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger ids = new AtomicInteger(500);

    @AfterEach
    void stopServer() {
        if (server != null) {
            server.stop(0);
        }
    }

    private void startHubSpotLike() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            String path = ex.getRequestURI().getPath();
            requests.add(new String[]{ex.getRequestMethod(), path, body});
            ObjectNode out = JSON.createObjectNode();
            int status = 200;
            if (!"Bearer hs-t0ken".equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                status = 401;
                out.put("status", "error").put("message", "Authentication credentials not found.");
            } else if (path.equals("/crm/v3/objects/contacts/search") && ex.getRequestMethod().equals("POST")) {
                JsonNode filter = JSON.readTree(body).path("filterGroups").path(0).path("filters").path(0);
                ArrayNode results = out.putArray("results");
                contacts.values().stream().filter(c -> c.path("properties").path(filter.path("propertyName").asText()).asText()
                        .equals(filter.path("value").asText())).forEach(results::add);
                out.put("total", results.size());
            } else if (path.equals("/crm/v3/objects/contacts") && ex.getRequestMethod().equals("POST")) {
                ObjectNode c = JSON.createObjectNode();
                c.put("id", String.valueOf(ids.incrementAndGet()));
                c.set("properties", JSON.readTree(body).path("properties"));
                c.put("createdAt", "2026-12-02T10:00:00Z").put("archived", false);
                contacts.put(c.path("id").asText(), c);
                out = c;
                status = 201;
            } else if (path.startsWith("/crm/v3/objects/contacts/") && ex.getRequestMethod().equals("PATCH")) {
                ObjectNode c = contacts.get(path.substring(path.lastIndexOf('/') + 1));
                if (c == null) {
                    status = 404;
                } else {
                    ObjectNode props = (ObjectNode) c.path("properties");
                    JSON.readTree(body).path("properties").fields().forEachRemaining(e -> props.set(e.getKey(), e.getValue()));
                    out = c;
                }
            } else {
                status = 404;
            }
            byte[] b = JSON.writeValueAsBytes(out);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(status, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        server.start();
    }

    @Test
    void aPostSearchLookupAndWrappedWritesCreateThenUpdateOnlyWhatChanged() throws Exception {
        startHubSpotLike();
        Files.createDirectories(mappings);
        Files.writeString(mappings.resolve("hubspot.yaml"), """
                identifier: hubspot
                display_name: HubSpot-like CRM
                triggers: [order.placed, order.paid, order.changed, order.canceled]
                target:
                  base_url: "{{test.hs.url}}"
                  auth: {type: bearer, token: "{{test.hs.token}}"}
                  circuit_breaker: {enabled: false}
                retry: {max_attempts: 3, backoff: [5m]}
                objects:
                  - id: contact
                    source: Order
                    remote_type: contact
                    id_field: {source: email, remote: email}
                    lookup:
                      method: POST
                      path: /crm/v3/objects/contacts/search
                      body:
                        filterGroups: [{filters: [{propertyName: email, operator: EQ, value: "{id_value}"}]}]
                        properties: [email, firstname, order_status]
                        limit: 1
                      result: /results/0
                      fields: /properties
                    create: {path: /crm/v3/objects/contacts, body: {properties: "{properties}"}}
                    update: {path: "/crm/v3/objects/contacts/{remote_id}", body: {properties: "{properties}"}}
                    remote_id: /id
                    properties:
                      - {source: email, remote: email}
                      - {source: invoice_address_name_given_name, remote: firstname}
                      - {source: order_status, remote: order_status}
                """);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.hs.url", "http://127.0.0.1:" + server.getAddress().getPort(),
                "test.hs.token", "hs-t0ken")).start();
        ObjectNode doc = fixture("order-abc12");
        assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(requests).extracting(r -> r[0] + " " + r[1]).containsExactly("POST /crm/v3/objects/contacts/search", "POST /crm/v3/objects/contacts");
        JsonNode search = JSON.readTree(requests.get(0)[2]);
        assertThat(search.path("filterGroups").path(0).path("filters").path(0).path("value").asText()).isEqualTo("tester@example.org");
        assertThat(search.path("limit").asInt()).isEqualTo(1);
        assertThat(JSON.readTree(requests.get(1)[2]).path("properties").path("firstname").asText()).isEqualTo("John");
        assertThat(app.query("SELECT remote_id, action FROM sync_result")).singleElement()
                .satisfies(r -> assertThat(r.get("action")).isEqualTo("created"));

        // canceled: the search finds it, the update sends only what changed, wrapped
        requests.clear();
        doc.put("type", "order.canceled");
        ((ObjectNode) doc.path("order")).put("status", "c").put("last_modified", "2026-03-02T10:00:00Z");
        assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(requests).extracting(r -> r[0] + " " + r[1]).containsExactly("POST /crm/v3/objects/contacts/search",
                "PATCH /crm/v3/objects/contacts/501");
        assertThat(JSON.readTree(requests.get(1)[2])).isEqualTo(JSON.readTree("{\"properties\": {\"order_status\": \"c\"}}"));
        assertThat(contacts).hasSize(1);

        // the same again: found, nothing changed, nothing written
        requests.clear();
        ((ObjectNode) doc.path("order")).put("last_modified", "2026-03-02T10:00:01Z");
        app.post("/api/events", doc.toString());
        awaitQueueEmpty();
        assertThat(requests).extracting(r -> r[0]).containsExactly("POST");
    }
}
