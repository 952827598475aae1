package io.ordersync.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The form's edit of one object mapping's properties leaves every other line of the file as it was. */
class MappingEditorSpliceTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static final String FILE = """
            # my CRM: comments stay
            identifier: crm
            triggers: [order.paid]
            objects:
              - id: contact   # the buyer
                source: Order
                remote_type: contact
                id_field: {source: email, remote: email}
                upsert: {path: "/contacts/{id_value}"}
                properties:
                  - {source: email, remote: email}
                  # a note about names
                  - {source: invoice_address_name, remote: name, mode: if_empty}

                # the ticket follows
              - id: ticket
                source: OrderPosition
                remote_type: ticket
                id_field: {source: ticket_id, remote: ticket_id}
                upsert: {path: "/tickets/{id_value}"}
            """;

    @Test
    void theFormReplacesOnlyThePropertiesBlockOfItsObject() throws Exception {
        String out = MappingEditor.splice(FILE, 0, JSON.readTree("""
                [{"source": "invoice_address_name", "remote": "name", "mode": "overwrite"},
                 {"source": "order_status", "remote": "status", "value_map": {"n": "pending", "p": "paid", "e": "expired", "c": "canceled"}},
                 {"value": "a: b {x}", "remote": "note"}]"""));
        assertThat(out).isEqualTo("""
                # my CRM: comments stay
                identifier: crm
                triggers: [order.paid]
                objects:
                  - id: contact   # the buyer
                    source: Order
                    remote_type: contact
                    id_field: {source: email, remote: email}
                    upsert: {path: "/contacts/{id_value}"}
                    properties:
                      - {source: invoice_address_name, remote: name, mode: overwrite}
                      - {source: order_status, remote: status, value_map: {n: pending, p: paid, e: expired, c: canceled}}
                      - {value: "a: b {x}", remote: note}

                    # the ticket follows
                  - id: ticket
                    source: OrderPosition
                    remote_type: ticket
                    id_field: {source: ticket_id, remote: ticket_id}
                    upsert: {path: "/tickets/{id_value}"}
                """);
    }

    @Test
    void anObjectWithoutPropertiesGetsThemAtItsEnd() throws Exception {
        String out = MappingEditor.splice(FILE, 1, JSON.readTree("[{\"ref\": \"contact\", \"remote\": \"contact_id\"}]"));
        assertThat(out).endsWith("""
                    upsert: {path: "/tickets/{id_value}"}
                    properties:
                      - {ref: contact, remote: contact_id}
                """);
        assertThat(out).startsWith(FILE.substring(0, FILE.indexOf("  - id: ticket")));
    }

    @Test
    void hostileInputIsRefusedWithAReason() throws Exception {
        assertThatThrownBy(() -> MappingEditor.splice(FILE, 5, JSON.readTree("[]"))).hasMessageContaining("no object mapping 5");
        assertThatThrownBy(() -> MappingEditor.splice(FILE, 0, JSON.readTree("[{\"remote\": \"x\", \"evil\": \"y\"}]")))
                .hasMessageContaining("unknown property key 'evil'");
        assertThatThrownBy(() -> MappingEditor.splice(FILE, 0, JSON.readTree("[\"text\"]"))).hasMessageContaining("each property is an object");
        assertThatThrownBy(() -> MappingEditor.splice("objects: [a", 0, JSON.readTree("[]"))).hasMessageContaining("not YAML");
        // a value that tries to break out of its flow mapping stays one quoted value
        String out = MappingEditor.splice(FILE, 0, JSON.readTree("[{\"value\": \"x}\\n  - {source: email, remote: injected\", \"remote\": \"note\"}]"));
        assertThat(out).contains("- {value: \"x}\\n  - {source: email, remote: injected\", remote: note}");
        assertThat(new org.yaml.snakeyaml.Yaml().<java.util.Map<String, Object>>load(out).toString()).doesNotContain("remote=injected");
    }

    /**
     * Line breaks other than LF and CRLF in the file (found by an attack): SnakeYAML ends lines at a lone CR, NEL, LS
     * and PS, the form at LF only, so a lone CR indexed past the lines (a 500) and an LS in a comment spliced the block
     * into the wrong lines and dropped the line after it, silently. Now refused, saying where; CRLF still works.
     */
    @Test
    void aFileWithOtherLineBreaksIsRefusedAndCrlfIsEdited() throws Exception {
        var props = JSON.readTree("[{\"source\": \"email\", \"remote\": \"email\"}]");
        assertThatThrownBy(() -> MappingEditor.splice("objects:\r  - id: a\r    properties: []\r", 0, props))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("the form edits files whose lines end in LF or CRLF; line 1 has another line break (U+000D): edit the file as text");
        for (char c : new char[]{'\u2028', '\u2029', '\u0085'}) {
            String text = FILE.replaceFirst("objects:", "# a comment" + c + "objects:");
            assertThatThrownBy(() -> MappingEditor.splice(text, 0, props)).hasMessageContaining(String.format("(U+%04X)", (int) c));
        }
        String crlf = FILE.replace("\n", "\r\n");
        String out = MappingEditor.splice(crlf, 0, props);
        assertThat(out).contains("- {source: email, remote: email}");
        assertThat(new org.yaml.snakeyaml.Yaml().<java.util.Map<String, Object>>load(out).toString())
                .isEqualTo(new org.yaml.snakeyaml.Yaml().<java.util.Map<String, Object>>load(MappingEditor.splice(FILE, 0, props)).toString());
    }

    /** Every character comes back as it was given: CR, TAB, NUL, U+2028, U+0085, a BOM, emoji (a raw CR was read as a space, a NUL broke the file). */
    @Test
    @SuppressWarnings("unchecked")
    void valuesWithControlAndSeparatorCharactersComeBackAsGiven() throws Exception {
        String value = "a\rb\tc\u0000d\u2028e\u0085f\uFEFFg\u001bh \uD83C\uDFAB \\ \" é\uFFFE\uFFFF";
        com.fasterxml.jackson.databind.node.ObjectNode p = JSON.createObjectNode().put("value", value).put("remote", "note");
        String out = MappingEditor.splice(FILE, 0, JSON.createArrayNode().add(p));
        java.util.Map<String, Object> root = new org.yaml.snakeyaml.Yaml().load(out);
        java.util.List<java.util.Map<String, Object>> props = (java.util.List<java.util.Map<String, Object>>)
                ((java.util.List<java.util.Map<String, Object>>) root.get("objects")).get(0).get("properties");
        assertThat(props).singleElement().satisfies(m -> assertThat(m.get("value")).isEqualTo(value));
        assertThat(out.lines().filter(l -> l.contains("remote: note"))).hasSize(1);
        assertThat(out).doesNotContain("\r").doesNotContain("\u0000").doesNotContain("\u2028");
    }
}
