package io.ordersync.mapping;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.OrderDocument;
import io.ordersync.support.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What an instance announces about a provider it runs, read back by an instance without the provider's file: the
 * same orders are queued for it on both, and an announcement the reader cannot evaluate queues nothing.
 */
class SubscriptionTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String FILTER = "filter:\n"
            + "  - {field: order_status, in: [p, n]}\n"
            + "  - {field: product_id, equals: 1345}\n"
            + "  - {field: invoice_address_company, empty: false}\n"
            + "  - {field: event_slug, not_in: [other]}\n";

    private static Provider provider(String filter) throws Exception {
        String text = Fixtures.read("mappings/crm.yaml", Map.of("max_attempts", "3", "backoff", "1s", "response_timeout_ms", "1000"))
                .replaceFirst("(?m)^target:", filter + "target:");
        ProviderLoader.Loaded l = new ProviderLoader(t -> t.replace("{{test.crm.url}}", "http://127.0.0.1:1")
                .replace("{{test.crm.token}}", "t")).load("crm.yaml", text, Path.of("crm.yaml"));
        assertThat(l.errors()).isEmpty();
        return l.provider();
    }

    private static OrderDocument doc(String type, String status, String product) throws Exception {
        ObjectNode d = (ObjectNode) JSON.readTree(Fixtures.read("fixtures/order-abc12.json"));
        d.put("type", type);
        ((ObjectNode) d.path("order")).put("status", status);
        for (var p : d.path("order").path("positions")) {
            ((ObjectNode) p).put("item", Integer.parseInt(product));
        }
        return new DocumentParser(JSON, 1 << 20).parse(d.toString());
    }

    @Test
    void anInstanceWithoutTheFileQueuesWhatTheFileQueues() throws Exception {
        Provider p = provider(FILTER);
        String announced = Subscription.announce(p);
        assertThat(announced).doesNotContain("t0ken", "127.0.0.1"); // triggers and filter only: no target, no secret
        Subscription read = Subscription.read("crm", announced);
        assertThat(read.evaluable()).isTrue();
        java.util.Set<Boolean> outcomes = new java.util.HashSet<>();
        for (String type : List.of("order.placed", "order.paid", "order.canceled")) {
            for (String status : List.of("n", "p", "c")) {
                for (String product : List.of("1345", "1400")) {
                    OrderDocument d = doc(type, status, product);
                    boolean here = p.triggers().contains(type) && Filters.orderMatches(p.filter(), d);
                    outcomes.add(here);
                    assertThat(read.triggeredBy(d, List.of(type))).as("%s %s %s", type, status, product)
                            .isEqualTo(here ? type : null);
                }
            }
        }
        assertThat(outcomes).as("both queued and left out").containsExactlyInAnyOrder(true, false);
        OrderDocument paid = doc("order.paid", "p", "1345");
        assertThat(read.triggeredBy(paid, List.of("order.paid"))).isEqualTo("order.paid");
        assertThat(read.triggeredBy(paid, List.of("order.canceled", "order.paid"))).as("the first type it is triggered by")
                .isEqualTo("order.paid");
        assertThat(read.triggeredBy(doc("order.paid", "c", "1345"), List.of("order.paid"))).isNull();
    }

    @Test
    void whatThisVersionCannotEvaluateIsQueuedForTheSyncToDecide() throws Exception {
        OrderDocument paid = doc("order.paid", "p", "1345");
        // an instance of a later version, with a source field this one does not know: queued when triggered, and
        // the instance that syncs it checks the filter (AdminApiTest.aQueuedOrderThatNoLongerPassesTheFilterIsNotSent)
        Subscription unknown = Subscription.read("crm",
                "{\"triggers\":[\"order.paid\"],\"filter\":[{\"field\":\"consent_given_later\",\"equals\":true}]}");
        assertThat(unknown.evaluable()).isFalse();
        assertThat(unknown.triggeredBy(paid, List.of("order.paid"))).isEqualTo("order.paid");
        assertThat(unknown.triggeredBy(paid, List.of("order.placed"))).isNull();
        Subscription twoTests = Subscription.read("crm",
                "{\"triggers\":[\"order.paid\"],\"filter\":[{\"field\":\"order_status\",\"equals\":\"p\",\"in\":[\"p\"]}]}");
        assertThat(twoTests.evaluable()).isFalse();
        // more than this version announces is ignored; no filter key is no filter (the sync still applies the file's)
        assertThat(Subscription.read("crm", "{\"triggers\":[\"order.paid\"],\"filter\":[],\"since\":3}")
                .triggeredBy(paid, List.of("order.paid"))).isEqualTo("order.paid");
        assertThat(Subscription.read("crm", "{\"triggers\":[\"order.paid\"]}").filter()).isEmpty();
        // found by an attack: a null trigger threw, and hid every other instance's announcement
        assertThat(Subscription.read("crm", "{\"triggers\":[\"order.paid\",null,\" \"]}").triggers()).containsExactly("order.paid");
        assertThat(Subscription.read("crm", "{\"triggers\":[null]}")).isNull();
        assertThat(Subscription.read("crm", "{\"filter\":[]}")).isNull();
        assertThat(Subscription.read("crm", "{\"triggers\":[]}")).isNull();
        assertThat(Subscription.read("crm", "{\"triggers\":[\"order.paid\"],\"filter\":[null]}").evaluable()).isFalse();
        for (String bad : new String[]{"not json", "[1]", "{\"triggers\":5}", "{\"triggers\":[\"a\"],\"filter\":{\"x\":1}}",
                "{\"triggers\":[\"a\"],\"filter\":[{\"field\":\"order_status\",\"in\":5}]}", "{\"triggers\":[[\"a\"]]}",
                "[".repeat(5000)}) {
            assertThat(Subscription.read("crm", bad)).as(bad.substring(0, Math.min(40, bad.length()))).isNull();
        }
        assertThat(Subscription.read("crm", null)).isNull();
    }

    @Test
    void withoutAFilterEveryTriggeredOrderIsQueued() throws Exception {
        Subscription read = Subscription.read("crm", Subscription.announce(provider("")));
        assertThat(read.filter()).isEmpty();
        assertThat(read.triggeredBy(doc("order.placed", "c", "1400"), List.of("order.placed"))).isEqualTo("order.placed");
        assertThat(read.triggeredBy(doc("order.canceled", "c", "1400"), List.of("order.canceled"))).isNull();
    }

    @Test
    void aFilterWithACredentialOrTooLongIsNotAnnounced() throws Exception {
        // a filter value that is the provider's own bearer token (placeholders are not resolved in filters, but a
        // value can be pasted): credentials stay out of the database
        assertThat(Subscription.announce(provider("filter: [{field: email, not_in: [x@example.org]}]\n"))).contains("x@example.org");
        String text = Fixtures.read("mappings/crm.yaml", Map.of("max_attempts", "3", "backoff", "1s", "response_timeout_ms", "1000"))
                .replaceFirst("(?m)^target:", "filter: [{field: email, not_in: [t0ken-secret-value]}]\ntarget:");
        Provider leaking = new ProviderLoader(t -> t.replace("{{test.crm.url}}", "http://127.0.0.1:1")
                .replace("{{test.crm.token}}", "t0ken-secret-value")).load("crm.yaml", text, Path.of("crm.yaml")).provider();
        assertThat(leaking.secretValues()).contains("t0ken-secret-value");
        assertThat(Subscription.announce(leaking)).isNull();
        // found by an attack: a credential with a quote was looked for in the JSON text, where it is escaped
        String quoted = text.replace("not_in: [t0ken-secret-value]", "not_in: ['pa\"ss-w0rd-123']");
        Provider withQuote = new ProviderLoader(t -> t.replace("{{test.crm.url}}", "http://127.0.0.1:1")
                .replace("{{test.crm.token}}", "pa\"ss-w0rd-123")).load("crm.yaml", quoted, Path.of("crm.yaml")).provider();
        assertThat(withQuote.secretValues()).contains("pa\"ss-w0rd-123");
        assertThat(Subscription.announce(withQuote)).isNull();
        StringBuilder many = new StringBuilder("filter: [{field: product_id, in: [");
        for (int i = 0; i < 120_000; i++) {
            many.append(i == 0 ? "" : ", ").append(1_000_000 + i);
        }
        assertThat(Subscription.announce(provider(many.append("]}]\n").toString()))).isNull();
    }

    @Test
    void aBrokenProviderWhoseAnnouncementRanOutIsQueuedAsItsOwnFileSays(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        // found by an attack: an announcement that had run out (a view of the others not refreshed) still hid the
        // broken file's own subscription, and the order was queued nowhere
        String text = Fixtures.read("mappings/crm.yaml", Map.of("max_attempts", "3", "backoff", "1s", "response_timeout_ms", "1000"))
                .replaceFirst("(?m)^target:", "filter: [{field: order_status, in: [p]}]\nno_such_setting: 1\ntarget:");
        java.nio.file.Files.writeString(dir.resolve("crm.yaml"), text);
        ProviderRegistry registry = new ProviderRegistry(dir, new ProviderLoader(t -> t.replace("{{test.crm.url}}", "http://127.0.0.1:1")
                .replace("{{test.crm.token}}", "t")));
        registry.reload();
        assertThat(registry.active()).isEmpty();
        OrderDocument paid = doc("order.paid", "p", "1345");
        OrderDocument pending = doc("order.paid", "n", "1345");
        assertThat(registry.subscribers(paid, List.of("order.paid"))).containsOnlyKeys("crm");
        assertThat(registry.subscribers(pending, List.of("order.paid"))).as("its filter, as written").isEmpty();

        Subscription other = Subscription.read("crm", "{\"triggers\":[\"order.placed\"],\"filter\":[]}");
        registry.runElsewhere(Map.of("crm", new ProviderRegistry.Elsewhere(List.of(other), System.currentTimeMillis() + 60_000)));
        assertThat(registry.subscribers(paid, List.of("order.paid"))).as("as the instance that runs it says").isEmpty();
        assertThat(registry.subscribers(pending, List.of("order.placed"))).containsOnlyKeys("crm");
        registry.runElsewhere(Map.of("crm", new ProviderRegistry.Elsewhere(List.of(other), System.currentTimeMillis() - 1)));
        assertThat(registry.subscribers(paid, List.of("order.paid"))).as("run out: its own file again").containsOnlyKeys("crm");
        assertThat(registry.subscribers(pending, List.of("order.placed"))).isEmpty();
    }
    /**
     * Files whose name starts with a dot are not mapping files (MAPPINGS.md): an editor's backup (.crm.yaml) or its lock
     * link pointing at nothing (.#crm.yaml, Emacs) is neither a provider nor an error, in the service and in validate.
     */
    @Test
    void filesWhoseNameStartsWithADotAreIgnored(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        String text = Fixtures.read("mappings/crm.yaml", Map.of("max_attempts", "3", "backoff", "1s", "response_timeout_ms", "1000"));
        java.nio.file.Files.writeString(dir.resolve("crm.yaml"), text);
        java.nio.file.Files.writeString(dir.resolve(".crm.yaml"), text.replace("identifier: crm", "identifier: backup") + "\nbroken: [");
        java.nio.file.Files.createSymbolicLink(dir.resolve(".#crm.yaml"), dir.resolve("user@host.1234"));
        java.nio.file.Files.writeString(dir.resolve(".hidden.yml"), "not: a mapping");
        ProviderRegistry registry = new ProviderRegistry(dir, new ProviderLoader(t -> t.replace("{{test.crm.url}}", "http://127.0.0.1:1")
                .replace("{{test.crm.token}}", "t")));
        registry.reload();
        assertThat(registry.states()).containsOnlyKeys("crm");
        assertThat(registry.active()).extracting(Provider::identifier).containsExactly("crm");
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        int code = new io.ordersync.cli.Commands(new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8),
                new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8)).run(new String[]{"validate", "--ignore-unset", dir.toString()});
        assertThat(code).as(out + "\n" + err).isZero();
        assertThat(out.toString(java.nio.charset.StandardCharsets.UTF_8) + err.toString(java.nio.charset.StandardCharsets.UTF_8))
                .doesNotContain(".crm.yaml").doesNotContain(".#crm").doesNotContain(".hidden");
    }
}
