package io.ordersync.mapping;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.OrderDocument;
import io.ordersync.support.Fixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Filter conditions, compiled when the file is loaded (the field's extraction bound, the options as text): each
 * test against the catalogue fixture, whose values SourceFieldsTest pins. Position 1: product 1, answers TOPICS
 * [AI, OPS] and BOOL true, an admission; position 2: its add-on (BOOL false, not an admission); position 3: canceled.
 */
class CompiledFiltersTest {

    private static OrderDocument doc;
    private static JsonNode p1;
    private static JsonNode p2;
    private static JsonNode p3;

    @BeforeAll
    static void load() throws Exception {
        doc = new DocumentParser(new ObjectMapper(), 1 << 20).parse(Fixtures.read("fixtures/order-catalogue.json"));
        p1 = doc.positions().get(0);
        p2 = doc.positions().get(1);
        p3 = doc.positions().get(2);
    }

    private static Provider.Condition equalTo(String field, Object option) {
        return new Provider.Condition(field, option, null, null, null);
    }

    private static Provider.Condition in(String field, Object... options) {
        return new Provider.Condition(field, null, Arrays.asList(options), null, null);
    }

    private static Provider.Condition notIn(String field, Object... options) {
        return new Provider.Condition(field, null, null, Arrays.asList(options), null);
    }

    private static Provider.Condition empty(String field, boolean empty) {
        return new Provider.Condition(field, null, null, null, empty);
    }

    private static boolean holds(Provider.Condition c, JsonNode position) {
        return Filters.matches(List.of(c), doc, position);
    }

    @Test
    void optionsCompareAsTextWhateverTheYamlTypeIs() {
        assertThat(holds(equalTo("product_id", 1), p1)).isTrue(); // a YAML number against the id's text
        assertThat(holds(equalTo("product_id", "1"), p1)).isTrue();
        assertThat(holds(equalTo("product_id", 1), p2)).isFalse();
        assertThat(holds(equalTo("product_is_admission", true), p1)).isTrue(); // a boolean field
        assertThat(holds(equalTo("product_is_admission", true), p2)).isFalse();
        assertThat(holds(equalTo("question_BOOL", "true"), p1)).isTrue();
        assertThat(holds(equalTo("order_total", 99.90), null)).isFalse(); // 99.9 as text is not "99.90"
        assertThat(holds(equalTo("order_total", "99.90"), null)).isTrue();
    }

    @Test
    void aChoiceAnswerHoldsWhenItContainsTheOption() {
        assertThat(holds(equalTo("question_TOPICS", "OPS"), p1)).isTrue();
        assertThat(holds(in("question_TOPICS", "X", "AI"), p1)).isTrue();
        assertThat(holds(in("question_TOPICS", "X", "Y"), p1)).isFalse();
        assertThat(holds(notIn("question_TOPICS", "AI"), p1)).isFalse();
        assertThat(holds(notIn("question_TOPICS", "X"), p1)).isTrue();
    }

    @Test
    void inNotInAndEmpty() {
        assertThat(holds(in("ticket_status", "p", "n"), p1)).isTrue();
        assertThat(holds(in("ticket_status", "p", "n"), p3)).isFalse();
        assertThat(holds(notIn("ticket_status", "c"), p3)).isFalse();
        assertThat(holds(notIn("ticket_status", "c"), p1)).isTrue();
        assertThat(holds(in("ticket_status"), p1)).as("in: [] holds for nothing").isFalse();
        assertThat(holds(notIn("ticket_status"), p1)).as("not_in: [] holds for everything").isTrue();
        assertThat(holds(empty("invoice_address_vat_id", true), null)).isTrue();
        assertThat(holds(empty("invoice_address_company", true), null)).isFalse();
        assertThat(holds(empty("invoice_address_company", false), null)).isTrue();
        // a missing value is in nothing, and not in every list
        assertThat(holds(in("voucher_code", "null"), p2)).isFalse();
        assertThat(holds(notIn("voucher_code", "SUMMER25"), p2)).isTrue();
        assertThat(holds(equalTo("voucher_code", "SUMMER25"), p1)).isTrue();
    }

    @Test
    void aPositionFieldOfAnOrderLevelFilterHoldsWhenAnyPositionHoldsIt() {
        assertThat(Filters.orderMatches(List.of(equalTo("ticket_status", "c")), doc)).isTrue();
        assertThat(Filters.orderMatches(List.of(equalTo("question_TOPICS", "AI")), doc)).isTrue();
        assertThat(Filters.orderMatches(List.of(equalTo("question_TOPICS", "NONE")), doc)).isFalse();
        assertThat(Filters.orderMatches(List.of(in("order_status", "p"), equalTo("product_id", 1)), doc)).isTrue();
        assertThat(Filters.orderMatches(List.of(in("order_status", "n"), equalTo("product_id", 1)), doc)).isFalse();
        // an order-level field: read once for the order
        assertThat(Filters.orderMatches(List.of(equalTo("invoice_address_name_family_name", "Public")), doc)).isTrue();
    }

    @Test
    void everyConditionMustHold() {
        Provider.Condition admission = equalTo("product_is_admission", true);
        Provider.Condition notCanceled = notIn("ticket_status", "c");
        assertThat(Filters.matches(List.of(admission, notCanceled), doc, p1)).isTrue();
        assertThat(Filters.matches(List.of(admission, notCanceled), doc, p2)).isFalse();
        assertThat(Filters.matches(List.of(), doc, p2)).isTrue();
    }

    @Test
    void conditionsLoadedFromAFileAreCompiled() {
        String yaml = """
                identifier: crm
                triggers: [order.paid]
                filter:
                  - {field: question_TOPICS, in: [AI]}
                target: {base_url: "https://crm.example.org", auth: {type: none}}
                objects:
                  - id: ticket
                    source: OrderPosition
                    remote_type: ticket
                    id_field: {source: ticket_id, remote: ticket_id}
                    filter:
                      - {field: ticket_status, not_in: [c]}
                      - {field: attendee_name_given_name, empty: false}
                    lookup: {path: "/tickets?ticket_id={id_value}", result: /results/0}
                    create: {path: /tickets}
                    update: {path: "/tickets/{remote_id}"}
                    properties:
                      - {source: ticket_id, remote: ticket_id}
                """;
        Provider provider = LoadedProviders.crm(yaml);
        Provider.Condition topics = provider.filter().get(0);
        assertThat(topics.positionField()).isTrue();
        assertThat(topics.optionTexts()).containsExactly("AI");
        assertThat(Filters.orderMatches(provider.filter(), doc)).isTrue();
        List<String> planned = MappingEngine.plan(provider, doc).stream().map(MappingEngine.PlannedObject::idValue).toList();
        assertThat(planned).containsExactly("CAT01-1", "CAT01-2"); // the canceled third position is filtered out
    }
}
