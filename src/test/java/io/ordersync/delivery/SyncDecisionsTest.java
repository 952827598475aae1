package io.ordersync.delivery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.mapping.MappingConfigException;
import io.ordersync.mapping.Provider;
import io.ordersync.mapping.ProviderLoader;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.OrderDocument;
import io.ordersync.support.Fixtures;
import org.junit.jupiter.api.Test;

import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The provider route's decisions as functions (no route, no network): what a sync looks up, what it writes
 * after each answer, and how an answer or an exception is classified.
 */
class SyncDecisionsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static final String CRM = """
            identifier: crm
            triggers: [order.placed]
            target:
              base_url: "https://crm.example.org/api"
              auth: {type: bearer, token: "{{crm.token}}"}
            objects:
              - id: contact
                source: Order
                remote_type: contact
                id_field: {source: email, remote: email}
                lookup: {path: "/contacts?email={id_value}", result: /results/0}
                create: {path: /contacts}
                update: {path: "/contacts/{remote_id}"}
                properties:
                  - {source: email, remote: email}
                  - {source: invoice_address_name, remote: name}
                  - {value: ordersync, remote: origin, mode: if_new}
            """;

    private static Provider provider(String yaml) {
        ProviderLoader.Loaded l = new ProviderLoader(t -> t.replace("{{crm.token}}", "t0ken-secret-value"))
                .load(yaml.lines().findFirst().orElseThrow().replace("identifier: ", "") + ".yaml", yaml, null);
        assertThat(l.messages()).isEmpty();
        return l.provider();
    }

    private static OrderDocument order() throws Exception {
        return new DocumentParser(JSON, 1 << 20).parse(Fixtures.read("fixtures/order-abc12.json"));
    }

    @Test
    void notFoundMeansCreateWithTheIdFieldAndEveryValue() throws Exception {
        Sync s = new Sync(provider(CRM), order());
        assertThat(s.nextObject()).isTrue();
        Transport.Request lookup = s.lookup();
        assertThat(lookup.method()).isEqualTo("GET");
        assertThat(lookup.path()).isEqualTo("/contacts?email=tester%40example.org");
        s.answered(new Transport.Response(404, "", null));
        Transport.Request create = s.decide();
        assertThat(create.method()).isEqualTo("POST");
        assertThat(create.purpose()).isEqualTo(Transport.Purpose.CREATE);
        assertThat(JSON.readTree(create.body())).isEqualTo(JSON.readTree(
                "{\"email\":\"tester@example.org\",\"name\":\"John Doe\",\"origin\":\"ordersync\"}"));
        s.answered(new Transport.Response(201, "{\"id\":\"77\"}", null));
        assertThat(s.record().remoteId()).isEqualTo("77");
        assertThat(s.results()).extracting(r -> r.action()).containsExactly("created");
        assertThat(s.nextObject()).isFalse();
        assertThat(s.finish()).isNull();
    }

    @Test
    void anUnchangedObjectIsNothingToDoAndAChangedOneIsPatchedWithTheChangesOnly() throws Exception {
        Sync same = new Sync(provider(CRM), order());
        same.nextObject();
        same.lookup();
        same.answered(new Transport.Response(200, "{\"results\":[{\"id\":\"5\",\"email\":\"tester@example.org\","
                + "\"name\":\"John Doe\",\"origin\":\"shop\"}]}", null));
        assertThat(same.decide()).as("if_new does not touch an existing object").isNull();
        assertThat(same.record().action()).isEqualTo("nothing_to_do");

        Sync changed = new Sync(provider(CRM), order());
        changed.nextObject();
        changed.lookup();
        changed.answered(new Transport.Response(200, "{\"results\":[{\"id\":\"5\",\"email\":\"tester@example.org\",\"name\":\"J. Doe\"}]}", null));
        Transport.Request patch = changed.decide();
        assertThat(patch.method()).isEqualTo("PATCH");
        assertThat(patch.path()).isEqualTo("/contacts/5");
        assertThat(JSON.readTree(patch.body())).isEqualTo(JSON.readTree("{\"name\":\"John Doe\"}"));
    }

    /** A PUT replaces the object at the target: it sends every field the target has, with the changes, not only the changes. */
    @Test
    void anUpdateByPutSendsTheWholeObjectWithTheChanges() throws Exception {
        Sync s = new Sync(provider(CRM.replace("update: {path: \"/contacts/{remote_id}\"}",
                "update: {method: PUT, path: \"/contacts/{remote_id}\"}")), order());
        s.nextObject();
        s.lookup();
        // fields ordersync does not map (phone, tags) are the target's: a PUT without them would erase them
        s.answered(new Transport.Response(200, "{\"results\":[{\"id\":\"5\",\"email\":\"tester@example.org\",\"name\":\"J. Doe\","
                + "\"phone\":\"+49 30 1234\",\"tags\":[\"vip\"],\"origin\":\"shop\"}]}", null));
        Transport.Request put = s.decide();
        assertThat(put.method()).isEqualTo("PUT");
        assertThat(put.path()).isEqualTo("/contacts/5");
        assertThat(JSON.readTree(put.body())).isEqualTo(JSON.readTree("{\"id\":\"5\",\"email\":\"tester@example.org\",\"name\":\"John Doe\","
                + "\"phone\":\"+49 30 1234\",\"tags\":[\"vip\"],\"origin\":\"shop\"}"));
        assertThat(put.purpose()).isEqualTo(Transport.Purpose.UPDATE);
    }

    @Test
    void answersAreClassifiedWithTheCredentialRemoved() throws Exception {
        Provider p = provider(CRM);
        Sync s = new Sync(p, order());
        s.nextObject();
        s.lookup();
        Instant now = Instant.parse("2026-12-02T10:00:00Z");
        DeliveryException busy = Sync.failure(p, s.request(), new Transport.Response(429, "slow down", "30"), now,
                java.time.Duration.ofHours(1));
        assertThat(busy).isInstanceOf(RecoverableDeliveryException.class);
        assertThat(busy.notBefore()).isEqualTo(now.plusSeconds(30));
        DeliveryException refused = Sync.failure(p, s.request(), new Transport.Response(401,
                "{\"error\":\"bad token Bearer t0ken-secret-value\"}", null), now, java.time.Duration.ofHours(1));
        assertThat(refused).isInstanceOf(PermanentDeliveryException.class);
        assertThat(refused.getMessage()).contains("HTTP 401").doesNotContain("t0ken-secret-value");
    }

    @Test
    void exceptionsAreClassifiedPerKind() throws Exception {
        Provider http = provider(CRM);
        Sync s = new Sync(http, order());
        s.nextObject();
        s.lookup();
        Instant now = Instant.now();
        assertThat(DeliverySteps.classify(s, new ConnectException("refused"), now, HOUR)).isInstanceOf(RecoverableDeliveryException.class);
        s.answered(new Transport.Response(404, "", null));
        s.decide();
        // a create that timed out may still be applied: the next try waits a whole response timeout
        RuntimeException timedOut = DeliverySteps.classify(s, new SocketTimeoutException("Read timed out"), now, HOUR);
        assertThat(timedOut).isInstanceOf(DeferredDeliveryException.class);
        assertThat(((DeferredDeliveryException) timedOut).notBefore()).isEqualTo(now.plusMillis(http.responseTimeoutMs()));

        Provider route = provider(CRM.replace("identifier: crm", "identifier: mine")
                .replaceAll("(?s)target:.*?objects:", "kind: route\nroute: direct:mine\nobjects:")
                .replaceAll("    (lookup|create|update): .*\n", ""));
        Sync r = new Sync(route, order());
        r.nextObject();
        r.decide();
        assertThat(JSON.readTree(r.request().body()).path("properties").path("name").asText()).isEqualTo("John Doe");
        assertThat(DeliverySteps.classify(r, new org.apache.camel.http.base.HttpOperationFailedException("http://x", 503,
                "Service Unavailable", null, Map.of("Retry-After", "2"), ""), now, HOUR)).isInstanceOf(RecoverableDeliveryException.class);
        assertThat(DeliverySteps.classify(r, new org.apache.camel.http.base.HttpOperationFailedException("http://x", 422,
                "Unprocessable", null, Map.of(), "bad email"), now, HOUR)).isInstanceOf(PermanentDeliveryException.class);
        assertThat(DeliverySteps.classify(r, new org.apache.camel.CamelExchangeException("wrapped",
                null, new java.io.IOException("reset")), now, HOUR)).isInstanceOf(RecoverableDeliveryException.class);
        assertThat(DeliverySteps.classify(r, new IllegalArgumentException("no such field"), now, HOUR))
                .isInstanceOf(PermanentDeliveryException.class).hasMessageContaining("direct:mine failed: IllegalArgumentException: no such field");
        assertThat(DeliverySteps.classify(r, new org.apache.camel.component.direct.DirectConsumerNotAvailableException(
                "No consumers available on endpoint", null), now, HOUR)).isInstanceOf(MappingConfigException.class);
        // a Retry-After of two hours from a route or a Java provider, under ordersync.delivery.max-retry-after of three
        Duration threeHours = Duration.ofHours(3);
        assertThat(((DeliveryException) DeliverySteps.classify(r, new io.ordersync.spi.SyncProvider.Recoverable("busy", 7200), now,
                threeHours)).notBefore()).isEqualTo(now.plusSeconds(7200));
        assertThat(((DeliveryException) DeliverySteps.classify(r, new org.apache.camel.http.base.HttpOperationFailedException("http://x",
                429, "Too Many", null, Map.of("Retry-After", "7200"), ""), now, threeHours)).notBefore()).isEqualTo(now.plusSeconds(7200));
        // and the cap holds
        assertThat(((DeliveryException) DeliverySteps.classify(r, new io.ordersync.spi.SyncProvider.Recoverable("busy", 7200), now,
                Duration.ofMinutes(30))).notBefore()).isEqualTo(now.plus(Duration.ofMinutes(30)));
    }

    private static final Duration HOUR = Duration.ofHours(1);

    @Test
    void anEndpointProviderPerOrderSendsOneMessageWithEveryObjectAndTemplatedHeaders() throws Exception {
        Provider p = provider("""
                identifier: queue
                kind: endpoint
                endpoint: {uri: "jms:queue:crm?connectionFactory=#crmBroker", per: order, headers: {Subject: "Order {order_code}"}}
                triggers: [order.placed]
                objects:
                  - id: ticket
                    source: OrderPosition
                    remote_type: ticket
                    id_field: {source: ticket_id, remote: ticket_id}
                    properties:
                      - {source: product, remote: product}
                """);
        Sync s = new Sync(p, order());
        int objects = 0;
        while (s.nextObject()) {
            assertThat(s.lookup()).isNull();
            assertThat(s.decide()).isNull();
            s.record();
            objects++;
        }
        Transport.Request message = s.finish();
        assertThat(message.headers()).containsEntry("Subject", "Order ABC12");
        JsonNode body = JSON.readTree(message.body());
        assertThat(body.path("data").path("objects")).hasSize(objects);
        assertThat(body.path("type").asText()).isEqualTo("order.placed");
        assertThat(s.results()).hasSize(objects).allSatisfy(r -> assertThat(r.action()).isEqualTo("sent"));
    }
}
