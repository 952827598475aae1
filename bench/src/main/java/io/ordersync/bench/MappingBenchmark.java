package io.ordersync.bench;

import com.dashjoin.jsonata.Jsonata;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.schibsted.spt.data.jslt.Expression;
import com.schibsted.spt.data.jslt.Parser;
import io.ordersync.mapping.Filters;
import io.ordersync.mapping.MappingEngine;
import io.ordersync.mapping.Provider;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.OrderDocument;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One order with three positions through the benchmark provider's 20 properties (one contact, three tickets):
 * ordersync's mapping processor (plan, resolve, assign: the request bodies for new objects) versus the same
 * mapping in JSLT and in JSONata. All three start from the parsed order JSON; none includes HTTP.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class MappingBenchmark {

    Provider provider;
    /** bench/crm-language.yaml: filters, answers, name parts, check-ins, templates (no JSLT twin). */
    Provider language;
    OrderDocument doc;
    JsonNode root;
    Map<String, Object> rootAsMap;
    Expression jslt;
    Jsonata jsonata;

    @Setup
    public void setup() throws Exception {
        provider = BenchData.provider("http://127.0.0.1:1");
        language = BenchData.load("crm-language.yaml", BenchData.resource("bench/crm-language.yaml"), text -> text);
        ObjectNode order = BenchData.order("BENCH1", 3);
        root = order;
        doc = new DocumentParser(BenchData.JSON, Integer.MAX_VALUE).validate(order);
        // JSONata works on Java maps and lists; converting the order is not counted against it
        rootAsMap = BenchData.JSON.convertValue(order, new TypeReference<Map<String, Object>>() { });
        jslt = Parser.compileString(BenchData.resource("bench/crm.jslt"));
        jsonata = Jsonata.jsonata(BenchData.resource("bench/crm.jsonata"));
        int objects = MappingEngine.plan(language, doc).size();
        if (objects != 4) {
            throw new IllegalStateException("the language benchmark must map 4 objects (1 contact, 3 tickets), mapped " + objects);
        }
    }

    @Benchmark
    public List<Map<String, Object>> ordersync() {
        return bodies(provider, doc);
    }

    /** The same work as {@link #ordersync()} for the provider that uses the rest of the mapping language. */
    @Benchmark
    public List<Map<String, Object>> ordersyncLanguage() {
        if (!Filters.orderMatches(language.filter(), doc)) {
            throw new IllegalStateException("the benchmark order must pass the provider's filter");
        }
        return bodies(language, doc);
    }

    /** What a sync of a new order sends: each planned object's values, assigned into its request body. */
    private static List<Map<String, Object>> bodies(Provider provider, OrderDocument doc) {
        List<MappingEngine.PlannedObject> planned = MappingEngine.plan(provider, doc);
        List<Map<String, Object>> bodies = new ArrayList<>(planned.size());
        for (MappingEngine.PlannedObject p : planned) {
            List<MappingEngine.NewValue> values = MappingEngine.resolve(provider, p, List.of());
            bodies.add(MappingEngine.assign(p, values, Map.of(), true, provider));
        }
        return bodies;
    }

    @Benchmark
    public JsonNode jslt() {
        return jslt.apply(root);
    }

    @Benchmark
    public Object jsonata() {
        return jsonata.evaluate(rootAsMap);
    }
}
