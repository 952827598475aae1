package io.ordersync.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.mapping.Provider;
import io.ordersync.mapping.ProviderLoader;
import io.ordersync.support.Fixtures;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The benchmarks' inputs: the benchmark provider file and orders with one contact and n tickets. */
public final class BenchData {

    public static final ObjectMapper JSON = new ObjectMapper();

    private BenchData() {
    }

    public static String resource(String name) {
        return Fixtures.read(name);
    }

    /** Writes the benchmark provider into {@code dir} and returns the directory. */
    public static Path mappingsDir(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("crm.yaml"), resource("bench/mappings/crm.yaml"));
        return dir;
    }

    /** The benchmark provider, loaded as ordersync loads it. */
    public static Provider provider(String targetUrl) {
        return load("crm.yaml", resource("bench/mappings/crm.yaml"),
                text -> text.replace("{{bench.target.url}}", targetUrl).replace("{{bench.target.token}}", "s3cret"));
    }

    /**
     * A provider file loaded as ordersync loads it, its placeholders filled by {@code resolver}; an invalid one
     * throws with the loader's messages.
     */
    public static Provider load(String name, String yaml, java.util.function.UnaryOperator<String> resolver) {
        ProviderLoader.Loaded loaded = new ProviderLoader(resolver).load(name, yaml, null);
        if (!loaded.valid()) {
            throw new IllegalStateException(String.join("\n", loaded.messages()));
        }
        return loaded.provider();
    }

    /**
     * Order {@code code} built from the test fixture order (two positions: a ticket and an add-on), with
     * {@code positions} positions and its own buyer e-mail.
     */
    public static ObjectNode order(String code, int positions) {
        ObjectNode doc = Fixture.ORDER.deepCopy();
        ObjectNode order = (ObjectNode) doc.get("order");
        order.put("code", code);
        order.put("email", code.toLowerCase() + "@example.org");
        ArrayNode ps = (ArrayNode) order.get("positions");
        ObjectNode first = (ObjectNode) ps.get(0).deepCopy();
        while (ps.size() > positions) {
            ps.remove(ps.size() - 1);
        }
        for (int i = 0; i < ps.size(); i++) {
            ((ObjectNode) ps.get(i)).put("order", code);
        }
        while (ps.size() < positions) {
            ObjectNode p = first.deepCopy();
            p.put("id", 90000 + ps.size());
            p.put("positionid", ps.size() + 1);
            p.put("order", code);
            ps.add(p);
        }
        return doc;
    }

    /**
     * The fixture, read and parsed once: the benchmarks write orders while ordersync runs in the same JVM,
     * and reading the fixture from its jar for every order took a fifth of the CPU at half load.
     */
    private static final class Fixture {
        static final ObjectNode ORDER;

        static {
            try {
                ORDER = (ObjectNode) JSON.readTree(resource("fixtures/order-abc12.json"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
