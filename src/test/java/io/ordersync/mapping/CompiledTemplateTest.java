package io.ordersync.mapping;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.SourceFields;
import io.ordersync.support.Fixtures;
import org.junit.jupiter.api.Test;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Templates are compiled once ({@link Template}); what they render is what the template engine rendered before
 * it was compiled, kept below as the reference ({@link #reference}): every template here, on every position of
 * both fixtures and the order itself, with and without URL encoding, with extras that try to break out of a path
 * or into the replacement syntax ({@code $1}, backslashes), with lists joined and kept as lists.
 */
class CompiledTemplateTest {

    private static final Pattern VAR = Pattern.compile("\\{(ref:[A-Za-z0-9_-]+|[A-Za-z0-9_]+)((?:\\|[^{}|]+)*)}");

    /** The template engine as it was before templates were compiled (regex and field lookup by name per call). */
    static String reference(String template, Provider provider, OrderDocument doc, JsonNode position,
                            Map<String, String> extras, boolean urlEncode) {
        Matcher m = VAR.matcher(template);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String name = m.group(1);
            String value;
            if (extras.containsKey(name)) {
                value = extras.get(name);
            } else {
                Object v = SourceFields.value(name, doc, position);
                value = v == null ? "" : MappingEngine.render(v, provider, null);
            }
            if (value == null) {
                value = "";
            }
            if (m.group(2) != null && !m.group(2).isEmpty()) {
                value = TemplateFunctions.apply(m.group(2), value);
            }
            if (urlEncode && !"base_url".equals(name)) {
                value = URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
                if (value.equals(".") || value.equals("..")) {
                    value = value.replace(".", "%2E");
                }
            }
            m.appendReplacement(sb, Matcher.quoteReplacement(value));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    private static final List<String> TEMPLATES = List.of(
            "/contacts?email={id_value}",
            "/contacts/{remote_id}",
            "{base_url}/orders/{order_code}/{ticket_id}",
            "{order_code} for {event_slug}",
            "no placeholders at all",
            "",
            "{attendee_name_given_name|upper} {attendee_name_family_name|default(none)}",
            "{invoice_address_name_given_name|trim|lower}",
            "{question_TOPICS}",
            "{question_TOPICS|upper}/{question_BOOL}/{question_MISSING|default(-)}",
            "{email|lower|md5}",
            "{order_date|date(dd.MM.yyyy HH:mm, Europe/Berlin)} {order_total|cents} {ticket_price|number(0.0)}",
            "{checkin_date_7|date(yyyy-MM-dd)}",
            "{ref:contact}/{ref:contact-list}",
            "price $ {order_total} \\ {order_code} $1 \\1",
            "{{order_code}} {not a placeholder} {order_code",
            "{product} – {product_id}, {attendee_or_order_email}",
            "{id_value}{id_value}{remote_id}");

    private static final List<Map<String, String>> EXTRAS;

    static {
        Map<String, String> nulls = new HashMap<>();
        nulls.put("id_value", null);
        nulls.put("remote_id", null);
        nulls.put("base_url", null);
        nulls.put("ref:contact", null);
        nulls.put("ref:contact-list", null);
        EXTRAS = List.of(
                Map.of("id_value", "max@example.org", "remote_id", "42", "base_url", "https://crm.example.org/api",
                        "ref:contact", "C-1", "ref:contact-list", "C-1;C-2"),
                Map.of("id_value", "a b/c?d=e&f+g#h", "remote_id", "..", "base_url", "https://h.example/a b",
                        "ref:contact", "$1\\0$", "ref:contact-list", "{order_code}"),
                Map.of("id_value", "Bücher ☃ ümlaut", "remote_id", ".", "base_url", "", "ref:contact", "",
                        "ref:contact-list", "%2e%2E/.."),
                // no extras: a placeholder of no field reads empty for the order and fails for a position
                Map.of(),
                // an extra named like a source field wins over the field, as before
                Map.of("id_value", "x", "remote_id", "y", "base_url", "z", "ref:contact", "r", "ref:contact-list", "s",
                        "order_code", "OVERRIDDEN"),
                nulls);
    }

    private static Provider provider(boolean nativeLists) {
        String yaml = """
                identifier: crm
                triggers: [order.paid]
                separator: ";"
                native_lists: %s
                target: {base_url: "https://crm.example.org", auth: {type: none}}
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
                """.formatted(nativeLists);
        return LoadedProviders.crm(yaml);
    }

    @Test
    void compiledTemplatesRenderWhatTheReferenceRenders() throws Exception {
        int compared = 0;
        for (boolean nativeLists : new boolean[] {false, true}) {
            Provider provider = provider(nativeLists);
            for (String fixture : List.of("fixtures/order-abc12.json", "fixtures/order-catalogue.json")) {
                OrderDocument doc = new DocumentParser(new ObjectMapper(), 1 << 20).parse(Fixtures.read(fixture));
                List<JsonNode> positions = new ArrayList<>(doc.positions());
                positions.add(null);
                for (JsonNode position : positions) {
                    for (Map<String, String> extras : EXTRAS) {
                        for (boolean urlEncode : new boolean[] {false, true}) {
                            for (String t : TEMPLATES) {
                                final JsonNode pos = position;
                                final boolean enc = urlEncode;
                                String expected = outcome(() -> reference(t, provider, doc, pos, extras, enc));
                                assertThat(outcome(() -> MappingEngine.template(t, provider, doc, pos, extras, enc)))
                                        .as("%s, %s, position %s, extras %s, encoded %s", t, fixture,
                                                position == null ? null : position.get("positionid"), extras, urlEncode)
                                        .isEqualTo(expected);
                                compared++;
                            }
                        }
                    }
                }
            }
        }
        assertThat(compared).isEqualTo(2 * 7 * 6 * 2 * TEMPLATES.size());
    }

    /** The text rendered, or the exception thrown. */
    private static String outcome(java.util.function.Supplier<String> render) {
        try {
            return render.get();
        } catch (RuntimeException e) {
            return "threw " + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    @Test
    void dotSegmentsAndSeparatorsCannotChangeARequestPath() throws Exception {
        Provider provider = provider(false);
        OrderDocument doc = new DocumentParser(new ObjectMapper(), 1 << 20).parse(Fixtures.read("fixtures/order-abc12.json"));
        assertThat(MappingEngine.template("/contacts/{remote_id}", provider, doc, null, Map.of("remote_id", ".."), true))
                .isEqualTo("/contacts/%2E%2E");
        assertThat(MappingEngine.template("/contacts/{remote_id}", provider, doc, null, Map.of("remote_id", "../admin?x=1#f"), true))
                .isEqualTo("/contacts/..%2Fadmin%3Fx%3D1%23f");
        assertThat(MappingEngine.template("{base_url}/c/{id_value}", provider, doc, null,
                Map.of("base_url", "https://crm.example.org/v1", "id_value", "a b"), true))
                .isEqualTo("https://crm.example.org/v1/c/a%20b");
    }

    /**
     * A placeholder the call does not supply (remote_id in a lookup path, base_url in an endpoint header) reads
     * empty for the order, as it did before templates were compiled; for a position it fails, as before.
     */
    @Test
    void aBadFunctionIsRefusedAndAnExtraNotSuppliedReadsAsBefore() throws Exception {
        Provider provider = provider(false);
        OrderDocument doc = new DocumentParser(new ObjectMapper(), 1 << 20).parse(Fixtures.read("fixtures/order-abc12.json"));
        assertThatThrownBy(() -> MappingEngine.template("{order_code|shout}", provider, doc, null, Map.of(), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unknown template function 'shout'");
        assertThat(MappingEngine.template("/x/{remote_id}?b={base_url}", provider, doc, null, Map.of("id_value", "1"), true))
                .isEqualTo("/x/?b=");
        assertThat(SourceFields.value("remote_id", doc, null)).isNull();
        JsonNode p = doc.positions().get(0);
        assertThatThrownBy(() -> MappingEngine.template("/x/{remote_id}", provider, doc, p, Map.of(), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unknown source field: remote_id");
    }

    @Test
    void concurrentRendersOfTheSameTemplatesAgree() throws Exception {
        Provider provider = provider(false);
        OrderDocument doc = new DocumentParser(new ObjectMapper(), 1 << 20).parse(Fixtures.read("fixtures/order-catalogue.json"));
        JsonNode p = doc.positions().get(0);
        Map<String, String> extras = EXTRAS.get(0);
        List<Thread> threads = new ArrayList<>();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int t = 0; t < 8; t++) {
            Thread thread = new Thread(() -> {
                try {
                    for (int i = 0; i < 2_000; i++) {
                        String template = TEMPLATES.get(i % TEMPLATES.size()) + (i % 7 == 0 ? " #" + i : "");
                        assertThat(MappingEngine.template(template, provider, doc, p, extras, true))
                                .isEqualTo(reference(template, provider, doc, p, extras, true));
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            });
            threads.add(thread);
            thread.start();
        }
        for (Thread thread : threads) {
            thread.join();
        }
        assertThat(failures).isEmpty();
    }
}
