package io.ordersync.catalog;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.mapping.ProviderLoader;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Prism;
import io.ordersync.support.VendorProxy;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The catalogue (mappings/catalog/) against the vendors' own API descriptions, served by Stoplight Prism as a
 * validating mock: the fixture orders go through each catalogue file twice — into an empty account (lookups
 * find nothing, so the creates are checked) and again changed (Prism's example objects are found, so the
 * updates are checked) — with no request Prism refuses. A copy of the file with one misspelt property is
 * refused by Prism, and ordersync parks the order with Prism's answer. Derived copies of a description change
 * only what the comments name, each for a stated reason.
 */
class CatalogueAgainstVendorSpecsTest extends CatalogueTestSupport {

    @BeforeAll
    static void prismInstalled() {
        Prism.requireInstalled();
    }

    @Test
    void everyCatalogueFileLoadsWithoutItsEnvironment() throws Exception {
        ProviderLoader loader = new ProviderLoader(text -> text.contains("{{") ? null : text);
        List<Path> files;
        try (Stream<Path> s = Files.list(CATALOG)) {
            files = s.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
        }
        assertThat(files).extracting(f -> f.getFileName().toString())
                .containsExactly("brevo.yaml", "hubspot.yaml", "mailchimp.yaml", "salesforce.yaml");
        for (Path f : files) {
            assertThat(loader.load(f).messages()).as(f.toString()).isEmpty();
        }
    }

    // ---- HubSpot ----

    /**
     * HubSpot declares its shared Error response as *∕*, for which Prism has no serializer: it answers 500 to an
     * invalid request (and ordersync would retry it as a server error). The derived copy declares it JSON.
     */
    private Path hubspotSpec() throws Exception {
        return derived("hubspot/hubspot-crm.json", spec -> spec.path("components").path("responses").fields().forEachRemaining(r -> {
            JsonNode content = r.getValue().path("content");
            if (content.has("*/*")) {
                ((ObjectNode) content).set("application/json", content.get("*/*"));
                ((ObjectNode) content).remove("*/*");
            }
        }));
    }

    private static final VendorProxy.NotFound HUBSPOT_EMPTY = new VendorProxy.NotFound(
            k -> k.startsWith("POST ") && k.endsWith("/search"), 200, "{\"total\": 0, \"results\": []}");

    @Test
    void hubspotContactsDealsAndAssociationsMatchHubSpotsDescription() throws Exception {
        Prism prism = keep(Prism.mock(hubspotSpec()));
        VendorProxy proxy = keep(new VendorProxy(prism.url())).emptyTarget(HUBSPOT_EMPTY);
        OrdersyncApp app = start("hubspot", catalogue("hubspot"), Map.of("HUBSPOT_URL", proxy.url(), "HUBSPOT_TOKEN", "pat-na1-test"));

        for (ObjectNode order : fixtureOrders()) {
            post(app, order);
        }
        assertThat(settle(app)).as("parked").isEmpty();
        assertAllValid(prism, proxy);
        assertThat(proxy.exchanges()).extracting(e -> e.method() + " " + e.path().replaceAll("/[0-9]+(?=/|$)", "/N"))
                .contains("POST /crm/v3/objects/contacts/search", "POST /crm/v3/objects/contacts", "POST /crm/v3/objects/0-3/search",
                        "POST /crm/v3/objects/0-3", "PUT /crm/v4/objects/0-3/N/associations/default/0-1/N");
        JsonNode contact = JSON.readTree(proxy.exchanges().stream().filter(e -> e.path().equals("/crm/v3/objects/contacts"))
                .findFirst().orElseThrow().requestBody());
        assertThat(contact.path("properties").path("email").asText()).isIn("tester@example.org", "anna@example.com");
        // the create's answer is wrapped as the description says: the id comes from /entity/id
        assertThat(results(app)).filteredOn(r -> "contact".equals(r.get("mapping_id")))
                .allSatisfy(r -> assertThat(r.get("remote_id")).isNotNull());

        // again, changed: Prism's example objects are found, the updates are PATCHes of what differs
        proxy.clear();
        proxy.emptyTarget(null);
        post(app, changedOrder());
        assertThat(settle(app)).as("parked").isEmpty();
        assertAllValid(prism, proxy);
        assertThat(proxy.exchanges()).extracting(e -> e.method()).contains("PATCH");

        // a misspelt wrapper in a copy of the file: refused by Prism, parked by ordersync with Prism's answer
        Prism prism2 = keep(Prism.mock(hubspotSpec()));
        VendorProxy proxy2 = keep(new VendorProxy(prism2.url())).emptyTarget(HUBSPOT_EMPTY);
        String broken = catalogue("hubspot").replace("create: {method: POST, path: /crm/v3/objects/contacts, body: {properties:",
                "create: {method: POST, path: /crm/v3/objects/contacts, body: {propertes:");
        assertThat(broken).isNotEqualTo(catalogue("hubspot"));
        OrdersyncApp app2 = start("hubspot", broken, Map.of("HUBSPOT_URL", proxy2.url(), "HUBSPOT_TOKEN", "pat-na1-test"));
        post(app2, fixture("order-abc12"));
        assertRefused(app2, prism2, proxy2, "POST /crm/v3/objects/contacts", "properties");
    }

    // ---- Mailchimp ----

    private static final VendorProxy.NotFound MAILCHIMP_EMPTY = new VendorProxy.NotFound(k -> k.startsWith("GET "), 404,
            "{\"type\": \"https://mailchimp.com/developer/marketing/docs/errors/\", \"title\": \"Resource Not Found\", "
                    + "\"status\": 404, \"detail\": \"The requested resource could not be found.\", \"instance\": \"\"}");

    @Test
    void mailchimpMembersByHashMergeFieldsAndTagsMatchMailchimpsDescription() throws Exception {
        Path spec = SPECS.resolve("mailchimp/mailchimp-members.json");
        Prism prism = keep(Prism.mock(spec));
        VendorProxy proxy = keep(new VendorProxy(prism.url())).emptyTarget(MAILCHIMP_EMPTY);
        Map<String, String> env = Map.of("MAILCHIMP_URL", proxy.url(), "MAILCHIMP_API_KEY", "0123456789abcdef-us21",
                "MAILCHIMP_LIST_ID", "a1b2c3d4e5");
        OrdersyncApp app = start("mailchimp", catalogue("mailchimp"), env);

        // the mailing list takes paid orders
        for (ObjectNode order : fixtureOrders()) {
            post(app, order.put("type", "order.paid"));
        }
        assertThat(settle(app)).as("parked").isEmpty();
        assertAllValid(prism, proxy);
        String hash = md5("tester@example.org");
        assertThat(proxy.exchanges()).extracting(e -> e.method() + " " + e.path())
                .contains("GET /3.0/lists/a1b2c3d4e5/members/" + hash, "PUT /3.0/lists/a1b2c3d4e5/members/" + hash,
                        "POST /3.0/lists/a1b2c3d4e5/members/" + hash + "/tags");
        JsonNode put = JSON.readTree(proxy.exchanges().stream().filter(e -> e.method().equals("PUT") && e.path().endsWith(hash))
                .findFirst().orElseThrow().requestBody());
        assertThat(put.path("email_address").asText()).isEqualTo("tester@example.org");
        assertThat(put.path("status_if_new").asText()).isEqualTo("pending");
        assertThat(put.path("merge_fields").path("FNAME").asText()).isEqualTo("John");

        proxy.clear();
        proxy.emptyTarget(null);
        post(app, changedOrder());
        assertThat(settle(app)).as("parked").isEmpty();
        assertAllValid(prism, proxy);

        Prism prism2 = keep(Prism.mock(spec));
        VendorProxy proxy2 = keep(new VendorProxy(prism2.url())).emptyTarget(MAILCHIMP_EMPTY);
        String broken = catalogue("mailchimp").replace("email_address: \"{id_value|trim}\"", "email_adress: \"{id_value|trim}\"");
        assertThat(broken).isNotEqualTo(catalogue("mailchimp"));
        OrdersyncApp app2 = start("mailchimp", broken, Map.of("MAILCHIMP_URL", proxy2.url(), "MAILCHIMP_API_KEY", "0123456789abcdef-us21",
                "MAILCHIMP_LIST_ID", "a1b2c3d4e5"));
        post(app2, fixture("order-abc12").put("type", "order.paid"));
        assertRefused(app2, prism2, proxy2, "PUT /3.0/lists/a1b2c3d4e5/members/" + hash, "email_address");
    }

    // ---- Brevo ----

    /**
     * Brevo's description sets no required fields and allows any extra property, so a misspelt one would pass.
     * The derived copy allows only the body properties it declares (additionalProperties: false on createContact and
     * updateContact): what Brevo's API reference lists for these calls.
     */
    private Path brevoSpec() throws Exception {
        return derived("brevo/brevo-contacts.yaml", spec -> {
            for (String d : List.of("createContact", "updateContact")) {
                ((ObjectNode) spec.path("definitions").path(d)).put("additionalProperties", false);
            }
        });
    }

    private static final VendorProxy.NotFound BREVO_EMPTY = new VendorProxy.NotFound(k -> k.startsWith("GET "), 404,
            "{\"code\": \"document_not_found\", \"message\": \"Contact does not exist\"}");

    /** Attributes every Brevo account has (Brevo's API reference: names in capital letters; see SOURCE.md). */
    private static final Set<String> BREVO_DEFAULT_ATTRIBUTES = Set.of("FIRSTNAME", "LASTNAME", "SMS", "EMAIL");

    @Test
    void brevoContactsWithAttributesAndListsMatchBrevosDescription() throws Exception {
        // attribute names are free-form in the description: checked against the documented ones
        JsonNode file = YAML.readTree(catalogue("brevo"));
        assertThat(file.path("objects").path(0).path("properties").findValuesAsText("remote")).isNotEmpty()
                .allSatisfy(a -> assertThat(a).isIn(BREVO_DEFAULT_ATTRIBUTES));

        Prism prism = keep(Prism.mock(brevoSpec()));
        VendorProxy proxy = keep(new VendorProxy(prism.url())).emptyTarget(BREVO_EMPTY);
        OrdersyncApp app = start("brevo", catalogue("brevo"), Map.of("BREVO_URL", proxy.url(), "BREVO_API_KEY", "xkeysib-test",
                "BREVO_LIST_ID", "7"));
        for (ObjectNode order : fixtureOrders()) {
            post(app, order);
        }
        assertThat(settle(app)).as("parked").isEmpty();
        assertAllValid(prism, proxy);
        JsonNode create = JSON.readTree(proxy.exchanges().stream().filter(e -> e.method().equals("POST") && e.path().equals("/contacts")
                && e.requestBody().contains("tester@")).findFirst().orElseThrow().requestBody());
        assertThat(create).isEqualTo(JSON.readTree("{\"email\": \"tester@example.org\", \"attributes\": {\"FIRSTNAME\": \"John\", "
                + "\"LASTNAME\": \"Doe\"}, \"listIds\": [7], \"updateEnabled\": true}"));

        proxy.clear();
        proxy.emptyTarget(null);
        post(app, changedOrder());
        assertThat(settle(app)).as("parked").isEmpty();
        assertAllValid(prism, proxy);
        assertThat(proxy.exchanges()).extracting(e -> e.method() + " " + e.path()).contains("PUT /contacts/tester%40example.org");

        Prism prism2 = keep(Prism.mock(brevoSpec()));
        VendorProxy proxy2 = keep(new VendorProxy(prism2.url())).emptyTarget(BREVO_EMPTY);
        String broken = catalogue("brevo").replace("updateEnabled: true", "updateEnable: true");
        assertThat(broken).isNotEqualTo(catalogue("brevo"));
        OrdersyncApp app2 = start("brevo", broken, Map.of("BREVO_URL", proxy2.url(), "BREVO_API_KEY", "xkeysib-test", "BREVO_LIST_ID", "7"));
        post(app2, fixture("order-abc12"));
        assertRefused(app2, prism2, proxy2, "POST /contacts", "updateEnable");
    }

    private static String md5(String s) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5").digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }

    /** The order is parked (permanent) with Prism's status, and Prism's log names the violation. */
    private static void assertRefused(OrdersyncApp app, Prism prism, VendorProxy proxy, String request, String violation) {
        List<Map<String, Object>> parked = settle(app);
        assertThat(parked).singleElement().satisfies(r -> {
            assertThat(r.get("need_manual_retry")).isEqualTo("permanent");
            assertThat(String.valueOf(r.get("last_error"))).contains(request).containsPattern("HTTP 4[0-9][0-9]");
        });
        assertThat(proxy.exchanges()).filteredOn(e -> (e.method() + " " + e.path()).equals(request))
                .isNotEmpty().allSatisfy(e -> assertThat(e.prismStatus()).isBetween(400, 499));
        assertThat(prism.violations()).anySatisfy(l -> assertThat(l).contains(violation));
    }
}
