package io.ordersync.mapping;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The JSON Schema shipped for editors accepts the sample files, rejects wrong keys, and matches the loader's keys. */
class MappingSchemaTest {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private static JsonNode schemaNode() throws Exception {
        try (InputStream in = MappingSchemaTest.class.getResourceAsStream("/schema/mapping.schema.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    private static JsonSchema schema() throws Exception {
        return JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V7).getSchema(schemaNode());
    }

    @Test
    void theSampleFilesAreValidAndReferenceTheSchema() throws Exception {
        JsonSchema schema = schema();
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("mappings"))) {
            s.filter(f -> f.toString().endsWith(".yaml")).forEach(files::add);
        }
        assertThat(files).hasSizeGreaterThanOrEqualTo(3);
        int samples = files.size();
        try (Stream<Path> s = Files.list(Path.of("mappings/catalog"))) {
            s.filter(f -> f.toString().endsWith(".yaml")).forEach(files::add);
        }
        assertThat(files).as("the catalogue").hasSize(samples + 4);
        for (Path f : files) {
            Set<ValidationMessage> errors = schema.validate(YAML.readTree(f.toFile()));
            assertThat(errors).as(f.toString()).isEmpty();
            String up = f.getParent().getFileName().toString().equals("catalog") ? "../../" : "../";
            assertThat(Files.readString(f)).startsWith("# yaml-language-server: $schema=" + up + "src/main/resources/schema/mapping.schema.json");
        }
    }

    @Test
    void wrongKeysModesAndLiteralSecretsAreRejected() throws Exception {
        JsonSchema schema = schema();
        String good = Files.readString(Path.of("mappings/crm.yaml"));
        assertThat(schema.validate(YAML.readTree(good.replace("triggers:", "triggerz:")))).isNotEmpty();
        assertThat(schema.validate(YAML.readTree(good.replace("mode: append", "mode: sometimes")))).isNotEmpty();
        assertThat(schema.validate(YAML.readTree(good.replace("\"{{env:CRM_TOKEN}}\"", "hunter2")))).isNotEmpty();
    }

    @Test
    void theSchemaDeclaresExactlyTheKeysTheLoaderReads() throws Exception {
        JsonNode root = schemaNode();
        assertKeys(root, ProviderConfig.class, root, "");
    }

    private static void assertKeys(JsonNode schema, Class<?> record, JsonNode root, String path) {
        JsonNode props = schema.path("properties");
        Set<String> declared = new TreeSet<>();
        props.fieldNames().forEachRemaining(declared::add);
        Map<String, Type> keys = YamlLocator.keys(record);
        assertThat(declared).as("schema keys at '" + path + "'").isEqualTo(new TreeSet<>(keys.keySet()));
        for (Map.Entry<String, Type> e : keys.entrySet()) {
            Type t = e.getValue();
            JsonNode child = resolve(props.path(e.getKey()), root);
            if (t instanceof ParameterizedType p && p.getRawType() == List.class && p.getActualTypeArguments()[0] instanceof Class<?> c && c.isRecord()) {
                assertKeys(resolve(child.path("items"), root), c, root, path + e.getKey() + "[].");
            } else if (t instanceof Class<?> c && c.isRecord()) {
                assertKeys(child, c, root, path + e.getKey() + ".");
            }
        }
    }

    private static JsonNode resolve(JsonNode node, JsonNode root) {
        if (node.has("$ref")) {
            return root.at(node.get("$ref").asText().substring(1));
        }
        return node;
    }

}
