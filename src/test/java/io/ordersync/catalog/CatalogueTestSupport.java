package io.ordersync.catalog;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Prism;
import io.ordersync.support.VendorProxy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Shared steps of the catalogue checks: a catalogue file from mappings/catalog/ installed as a user would
 * (copied into the mappings directory, its environment variables given), the fixture orders synced through
 * a vendor's API description served by Prism, and what Prism and ordersync said about every request.
 */
abstract class CatalogueTestSupport {

    static final ObjectMapper JSON = new ObjectMapper();
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    static final Path CATALOG = Path.of("mappings/catalog");
    static final Path SPECS = Path.of("src/test/resources/vendor-specs");

    @TempDir
    Path tmp;
    final List<AutoCloseable> open = new ArrayList<>();
    private int instances;

    @AfterEach
    void closeAll() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    <T extends AutoCloseable> T keep(T c) {
        open.add(c);
        return c;
    }

    static String catalogue(String name) throws Exception {
        return Files.readString(CATALOG.resolve(name + ".yaml"));
    }

    /**
     * Starts ordersync with this catalogue text as mappings/{identifier}.yaml. The file reads its settings from
     * the environment ({{env:NAME}}); here they come from {@code env} (as properties: a test cannot set its own
     * environment), the file unchanged otherwise.
     */
    OrdersyncApp start(String identifier, String text, Map<String, String> env) throws Exception {
        Path dir = tmp.resolve("run" + (++instances));
        Path mappings = Files.createDirectories(dir.resolve("mappings"));
        Files.writeString(mappings.resolve(identifier + ".yaml"), text.replace("{{env:", "{{catalog.env."));
        Map<String, String> props = new HashMap<>();
        env.forEach((k, v) -> props.put("catalog.env." + k, v));
        return keep(new OrdersyncApp(dir.resolve("data"), mappings, props).start());
    }

    static ObjectNode fixture(String name) throws Exception {
        return (ObjectNode) JSON.readTree(Fixtures.read("fixtures/" + name + ".json"));
    }

    /** The two fixture orders of the test suite, as pretix would send them. */
    static List<ObjectNode> fixtureOrders() throws Exception {
        return List.of(fixture("order-abc12"), fixture("order-xyz34"));
    }

    /** ABC12 changed in pretix: another given name and company, a newer last_modified. */
    static ObjectNode changedOrder() throws Exception {
        ObjectNode doc = fixture("order-abc12");
        doc.put("type", "order.changed");
        ObjectNode order = (ObjectNode) doc.path("order");
        order.put("last_modified", "2026-03-02T09:00:00Z");
        ObjectNode address = (ObjectNode) order.path("invoice_address");
        address.put("name", "Johnny Doe").put("company", "Other company");
        ((ObjectNode) address.path("name_parts")).put("given_name", "Johnny");
        return doc;
    }

    static void post(OrdersyncApp app, JsonNode doc) throws Exception {
        assertThat(app.post("/api/events", doc.toString()).statusCode()).as("accepted").isEqualTo(202);
    }

    /** Waits until every queued sync is done or parked; returns the parked rows. */
    static List<Map<String, Object>> settle(OrdersyncApp app) {
        await().atMost(Duration.ofSeconds(40)).until(() -> app.count("SELECT COUNT(*) FROM order_outbox") == 0
                && app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NULL") == 0);
        return app.query("SELECT order_code, need_manual_retry, last_error FROM sync_queue");
    }

    static List<Map<String, Object>> results(OrdersyncApp app) {
        return app.query("SELECT order_code, mapping_id, remote_id, action FROM sync_result ORDER BY order_code, mapping_id");
    }

    /** Every request was valid for Prism: 2xx from Prism, no violation in its log. */
    static void assertAllValid(Prism prism, VendorProxy proxy) {
        assertThat(proxy.exchanges()).as("requests sent").isNotEmpty();
        assertThat(proxy.exchanges()).as("Prism's verdicts").allSatisfy(e -> assertThat(e.prismStatus()).as(e.toString()).isBetween(200, 299));
        assertThat(prism.violations()).as("Prism's violations").isEmpty();
    }

    /** Writes a derived copy of a vendor description (changed as {@code change} says) for Prism. */
    Path derived(String file, java.util.function.Consumer<ObjectNode> change) throws Exception {
        Path source = SPECS.resolve(file);
        boolean yaml = file.endsWith(".yaml") || file.endsWith(".yml");
        ObjectNode spec = (ObjectNode) (yaml ? YAML : JSON).readTree(source.toFile());
        change.accept(spec);
        Path out = tmp.resolve("derived-" + source.getFileName().toString().replaceAll("\\.ya?ml$", ".json"));
        JSON.writerWithDefaultPrettyPrinter().writeValue(out.toFile(), spec);
        return out;
    }
}
