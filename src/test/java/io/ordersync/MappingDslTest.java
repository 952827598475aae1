package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.standardwebhooks.Webhook;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.FakeTarget;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The mapping DSL end to end: references, templates, filters, webhooks, hot reload and the preview API. */
class MappingDslTest extends AppTestSupport {

    private OrdersyncApp startWith(Map<String, String> props) throws Exception {
        Map<String, String> all = new java.util.HashMap<>(Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                "ordersync.mappings.watch-period-ms", "200"));
        all.putAll(props);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, all).start();
        return app;
    }

    @Test
    void referencesTemplatesAndFiltersShapeTheObjects() throws Exception {
        Fixtures.mapping(mappings, "linked", Map.of());
        startWith(Map.of());
        app.post("/api/events", fixture("order-abc12").toString());
        HttpResponse202 pending = new HttpResponse202(app.post("/api/events", fixture("order-xyz34").toString()).body());
        assertThat(pending.json.path("queued")).as("the provider filter (paid only) skips a pending order").isEmpty();
        awaitQueueEmpty();

        JsonNode contact = target.objects("contacts").get(0);
        assertThat(contact.path("reference").asText()).isEqualTo("democon-ABC12");
        List<ObjectNode> tickets = target.objects("tickets");
        assertThat(tickets).as("the object filter skips the non-admission add-on").hasSize(1);
        JsonNode ticket = tickets.get(0);
        assertThat(ticket.path("contact_id").asText()).isEqualTo(contact.path("id").asText());
        assertThat(ticket.path("contact_link").asText()).isEqualTo("https://crm.example.org/contacts/" + contact.path("id").asText());
        assertThat(ticket.path("title").asText()).isEqualTo("Ticket ABC12-1 for Peter Miller");
        JsonNode deal = target.objects("deals").get(0);
        assertThat(deal.path("code").asText()).isEqualTo("DEMOCON-ABC12");
        assertThat(deal.path("contact_id").asText()).isEqualTo(contact.path("id").asText());
        assertThat(deal.path("ticket_ids").asText()).isEqualTo(ticket.path("id").asText());
        assertThat(deal.path("amount").asText()).isEqualTo("46.00");
    }

    /** Small holder for a JSON response body. */
    private static final class HttpResponse202 {
        final JsonNode json;

        HttpResponse202(String body) throws Exception {
            json = JSON.readTree(body);
        }
    }

    private static String newSecret() {
        byte[] key = new byte[24];
        new SecureRandom().nextBytes(key);
        return "whsec_" + Base64.getEncoder().encodeToString(key);
    }

    @Test
    void webhookMessagesAreSignedPerStandardWebhooks() throws Exception {
        String secret = newSecret();
        Fixtures.mapping(mappings, "hook", Map.of("per", "object"));
        startWith(Map.of("test.hook.secret", secret));
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();
        List<FakeTarget.Request> posts = target.writes();
        assertThat(posts).hasSize(3).allMatch(r -> r.path().equals("/hooks"));
        Webhook verifier = new Webhook(secret);
        for (FakeTarget.Request r : posts) {
            // the independent Standard Webhooks library checks the signature over id.timestamp.body
            verifier.verify(r.body(), Map.of("webhook-id", List.of(r.header("webhook-id")),
                    "webhook-timestamp", List.of(r.header("webhook-timestamp")),
                    "webhook-signature", List.of(r.header("webhook-signature"))));
        }
        JsonNode first = JSON.readTree(posts.get(0).body());
        assertThat(first.path("type").asText()).isEqualTo("order.placed");
        assertThat(first.path("data").path("object_type").asText()).isEqualTo("buyer");
        assertThat(first.path("data").path("properties").path("status").asText()).isEqualTo("paid");
        JsonNode ticket = JSON.readTree(posts.get(1).body());
        assertThat(ticket.path("data").path("properties").path("meal").asText()).isEqualTo("VEG");

        // a tampered body fails the same verification
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> verifier.verify(posts.get(0).body().replace("paid", "free"),
                Map.of("webhook-id", List.of(posts.get(0).header("webhook-id")),
                        "webhook-timestamp", List.of(posts.get(0).header("webhook-timestamp")),
                        "webhook-signature", List.of(posts.get(0).header("webhook-signature")))))
                .isInstanceOf(com.standardwebhooks.exceptions.WebhookVerificationException.class);
    }

    /**
     * The objects of a per-order message are recorded when the message is answered: a message that failed sent none of
     * them, so after the failure the order has no results (a failure records only the objects the target has).
     */
    @Test
    void theObjectsOfAFailedPerOrderMessageAreNotRecorded() throws Exception {
        Fixtures.mapping(mappings, "hook", Map.of("per", "order"));
        startWith(Map.of("test.hook.secret", newSecret(), "ordersync.redelivery.maximum", "0"));
        target.failNext(1, "/hooks", 503, null);
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count(
                "SELECT COUNT(*) FROM sync_queue WHERE failed_attempts = 1") == 1);
        assertThat(app.count("SELECT COUNT(*) FROM sync_result WHERE order_code = 'ABC12'")).isZero();
        awaitQueueEmpty();
        assertThat(app.query("SELECT action FROM sync_result WHERE order_code = 'ABC12'")).hasSize(3)
                .allSatisfy(r -> assertThat(r.get("action")).isEqualTo("sent"));
    }

    /** A provider's webhook secret with a key shorter than Standard Webhooks' 24 bytes: the file is an error, nothing sent. */
    @Test
    void aWebhookSecretWithAShortKeyIsAnErrorOfItsFile() throws Exception {
        Fixtures.mapping(mappings, "hook", Map.of("per", "object"));
        startWith(Map.of("test.hook.secret", "whsec_" + Base64.getEncoder().encodeToString("tiny-key".getBytes())));
        JsonNode providers = JSON.readTree(app.get("/api/providers").body());
        String body = providers.toString();
        assertThat(body).contains("the secret's key is 8 bytes: Standard Webhooks asks for 24 to 64").doesNotContain("dGlueS1rZXk");
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'config'") == 1);
        assertThat(target.writes()).isEmpty();
    }

    @Test
    void aWebhookPerOrderSendsOneMessageAndRetriesWithTheSameId() throws Exception {
        String secret = newSecret();
        Fixtures.mapping(mappings, "hook", Map.of("per", "order"));
        startWith(Map.of("test.hook.secret", secret));
        target.failNext(1, "/hooks", 503, null);
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();
        List<FakeTarget.Request> posts = target.writes();
        assertThat(posts).hasSize(2);
        assertThat(posts.get(0).header("webhook-id")).as("a retry is the same message").isEqualTo(posts.get(1).header("webhook-id"));
        JsonNode body = JSON.readTree(posts.get(1).body());
        assertThat(body.path("data").path("objects")).hasSize(3);
        new Webhook(secret).verify(posts.get(1).body(), Map.of("webhook-id", List.of(posts.get(1).header("webhook-id")),
                "webhook-timestamp", List.of(posts.get(1).header("webhook-timestamp")),
                "webhook-signature", List.of(posts.get(1).header("webhook-signature"))));
    }

    /** A valid file whose route cannot start (here: its route id is taken) is reported, never shown as active. */
    @Test
    void aProviderWhoseRouteCannotStartIsReportedNotActive() throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        startWith(Map.of());
        app.context().addRoutes(new org.apache.camel.builder.RouteBuilder() {
            @Override
            public void configure() {
                from("direct:someone-elses").routeId("provider-other").log("not a provider");
            }
        });
        Files.writeString(mappings.resolve("other.yaml"), Files.readString(mappings.resolve("crm.yaml"))
                .replace("identifier: crm", "identifier: other"));
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            JsonNode other = null;
            for (JsonNode p : JSON.readTree(app.get("/api/providers").body())) {
                if (p.path("identifier").asText().equals("other")) {
                    other = p;
                }
            }
            assertThat(other).isNotNull();
            assertThat(other.path("status").asText()).isEqualTo("disabled");
            assertThat(other.path("errors").toString()).contains("cannot start the provider's route");
        });
        assertThat(app.context().getRoute("provider-other").getEndpoint().getEndpointUri()).isEqualTo("direct://someone-elses");
        // the others go on
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("contacts").size() == 1);
    }

    @Test
    void editingAMappingFileTakesEffectAndABrokenEditKeepsTheLastGoodVersion() throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        // a removed file's provider goes after this grace (30 s by default)
        // (a grace of 8 s: the check inside it holds however long a loaded machine's second of sleep lasts)
        startWith(Map.of("ordersync.mappings.removal-grace-ms", "8000"));
        String original = Files.readString(mappings.resolve("crm.yaml"));
        Files.writeString(mappings.resolve("crm.yaml"), original.replace("{value: ordersync, remote: origin, mode: if_new}",
                "{value: ordersync-v2, remote: origin, mode: if_new}"));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers").body().contains("\"status\":\"active\"")
                && app.context().getRegistry().lookupByNameAndType("ordersync.providers", io.ordersync.mapping.ProviderRegistry.class)
                .active("crm").objects().get(0).properties().stream().anyMatch(p -> "ordersync-v2".equals(p.constant())));
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();
        assertThat(target.objects("contacts").get(0).path("origin").asText()).isEqualTo("ordersync-v2");

        // a broken edit: reported, and the last good version keeps syncing
        Files.writeString(mappings.resolve("crm.yaml"), original.replace("source: email, remote: email, mode: overwrite",
                "source: emial, remote: email, mode: overwrite"));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers").body().contains("active_with_errors"));
        JsonNode providers = JSON.readTree(app.get("/api/providers").body());
        JsonNode crm = providers.get(0);
        assertThat(crm.path("errors").get(0).path("message").asText()).contains("unknown source field 'emial' (did you mean 'email'?)");
        assertThat(crm.path("errors").get(0).path("line").asInt()).isPositive();
        app.post("/api/events", fixture("order-xyz34").toString());
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(2);
        assertThat(app.context().getRoute("provider-crm")).isNotNull();

        // removing the file removes the provider and its route, once the grace is over
        Files.delete(mappings.resolve("crm.yaml"));
        Thread.sleep(1000);
        assertThat(app.context().getRoute("provider-crm")).as("still within the grace").isNotNull();
        await().atMost(Duration.ofSeconds(20)).until(() -> app.context().getRoute("provider-crm") == null);
        assertThat(JSON.readTree(app.get("/api/providers").body())).isEmpty();
    }

    @Test
    void previewShowsTheRequestsWithoutSendingThem() throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        startWith(Map.of());
        ObjectNode req = JSON.createObjectNode();
        req.put("provider", "crm");
        req.set("document", fixture("order-abc12"));
        ObjectNode existing = req.putObject("remote").putArray("contact").addObject();
        existing.put("id", "77");
        existing.put("email", "tester@example.org");
        existing.put("first_name", "Johnny");
        var r = app.post("/api/preview", req.toString());
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode out = JSON.readTree(r.body());
        JsonNode requests = out.path("requests");
        assertThat(requests.get(0).path("method").asText()).isEqualTo("GET");
        assertThat(requests.get(0).path("url").asText()).isEqualTo(target.url() + "/contacts?email=tester%40example.org");
        assertThat(requests.get(0).path("headers").path("Authorization").asText()).isEqualTo("<redacted>");
        assertThat(requests.get(1).path("method").asText()).isEqualTo("PATCH");
        assertThat(requests.get(1).path("url").asText()).endsWith("/contacts/77");
        assertThat(requests.get(1).path("body").has("first_name")).as("if_empty keeps Johnny").isFalse();
        assertThat(requests.get(1).path("body").path("last_name").asText()).isEqualTo("Doe");
        assertThat(requests.get(3).path("method").asText()).isEqualTo("POST");
        assertThat(requests.get(3).path("body").path("ticket_id").asText()).isEqualTo("ABC12-1");
        assertThat(out.path("results").get(0).path("action").asText()).isEqualTo("updated");
        assertThat(target.requests()).as("nothing sent").isEmpty();

        ObjectNode broken = req.deepCopy();
        broken.put("mapping", "identifier: crm\ntriggers: [order.paid]\n");
        var bad = app.post("/api/preview", broken.toString());
        assertThat(bad.statusCode()).isEqualTo(422);
        assertThat(bad.body()).contains("target.base_url is required");
        assertThat(app.post("/api/preview", "{\"provider\": \"nope\", \"document\": {}}").statusCode()).isEqualTo(404);
        assertThat(app.post("/api/preview", "{\"provider\": \"crm\", \"document\": {}}").statusCode()).isEqualTo(400);

        // a result pointer with a huge array index (found by an attack): the preview built the answer it leads into,
        // an array of a hundred million elements, and the process ran out of memory; one past int was a 500. A number
        // over 1 000 is now an object's key in the made-up answer, which the pointer reads as well
        String crm = java.nio.file.Files.readString(mappings.resolve("crm.yaml"));
        assertThat(crm).contains("result: /results/0");
        for (String pointer : new String[]{"/100000000", "/results/99999999999", "/results/1000", "/data/20240101"}) {
            ObjectNode hostile = req.deepCopy();
            hostile.put("mapping", crm.replace("result: /results/0", "result: " + pointer));
            long t0 = System.nanoTime();
            var previewed = app.post("/api/preview", hostile.toString());
            assertThat(previewed.statusCode()).as(pointer + ": " + previewed.body()).isEqualTo(200);
            assertThat(JSON.readTree(previewed.body()).path("results").get(0).path("action").asText()).as(pointer).isEqualTo("updated");
            assertThat(java.time.Duration.ofNanos(System.nanoTime() - t0)).as(pointer).isLessThan(java.time.Duration.ofSeconds(5));
        }
        ObjectNode overlong = req.deepCopy();
        overlong.put("mapping", crm.replace("result: /results/0", "result: " + "/a".repeat(251)));
        var refused = app.post("/api/preview", overlong.toString());
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(422);
        assertThat(refused.body()).contains("a result pointer is at most 500 characters");
        assertThat(app.get("/api/providers").statusCode()).isEqualTo(200);
    }

    @Test
    void editingARouteFileTakesEffectAndABrokenEditKeepsTheRunningRoutes() throws Exception {
        java.nio.file.Path routes = tmp.resolve("routes");
        Files.createDirectories(routes);
        try (var s = Files.list(java.nio.file.Path.of("routes"))) {
            for (java.nio.file.Path f : s.toList()) {
                Files.copy(f, routes.resolve(f.getFileName()));
            }
        }
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        startWith(Map.of("camel.main.routes-include-pattern", "file:" + routes + "/*.camel.yaml",
                "camel.main.routes-reload-directory", routes.toString()));
        Files.writeString(routes.resolve("custom.camel.yaml"), """
                - route:
                    id: custom-tick
                    from:
                      uri: "timer:custom-tick?period=1000"
                      steps:
                        - log: "tick"
                """);
        await().atMost(Duration.ofSeconds(15)).until(() -> app.context().getRoute("custom-tick") != null);
        Files.writeString(routes.resolve("custom.camel.yaml"), "- route:\n    id: custom-tick\n    from: [broken\n");
        // the watcher saw the broken edit (its failed counter says so), and the route it describes kept running
        var watcher = app.context().hasService(org.apache.camel.support.ResourceReloadStrategySupport.class);
        assertThat(watcher).as("camel-main's route watcher").isNotNull();
        await().atMost(Duration.ofSeconds(15)).until(() -> watcher.getFailedCounter() >= 1);
        assertThat(app.context().getRoute("custom-tick")).isNotNull();
        app.post("/api/events", fixture("order-xyz34").toString());
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
    }
}
