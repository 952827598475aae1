package io.ordersync.mapping;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.OrderDocument;
import io.ordersync.support.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The compiled path (plan's values straight into a FieldMap by slot) gives what the generic assign gives for the
 * same values: the same fields, values and order, in every mode, with one remote field written by several
 * properties, value maps, constants, templates and lists.
 */
class CompiledAssignTest {

    private static final String YAML = """
            identifier: crm
            triggers: [order.placed, order.paid]
            separator: ";"
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
                  - {value: first, remote: note, mode: if_new}
                  - {source: email, remote: email}
                  - {source: order_status, remote: status, value_map: {n: pending, p: paid, e: expired, c: canceled}}
                  - {source: order_code, remote: note, mode: append}
                  - {template: "{order_code} for {event_slug}", remote: summary}
                  - {value: 7, remote: score, mode: if_empty}
                  - {source: invoice_address_company, remote: company, mode: if_empty}
                  - {source: order_total, remote: total}
                  - {source: order_code, remote: tags, mode: append, list: true}
              - id: ticket
                source: OrderPosition
                remote_type: ticket
                id_field: {source: ticket_id, remote: ticket_id}
                lookup: {path: "/tickets?ticket_id={id_value}", result: /results/0}
                create: {path: /tickets}
                update: {path: "/tickets/{remote_id}"}
                properties:
                  - {source: attendee_name, remote: attendee, mode: if_new}
                  - {source: ticket_id, remote: ticket_id}
                  - {source: attendee_email, remote: attendee, mode: if_empty}
                  - {source: product, remote: product}
                  - {source: question_TOPICS, remote: topics}
                  - {source: question_TOPICS, remote: topics_list, list: true}
            """;

    @Test
    void compiledAndGenericAssignAgree() throws Exception {
        Provider provider = LoadedProviders.crm(YAML);
        for (String fixture : List.of("fixtures/order-abc12.json", "fixtures/order-catalogue.json")) {
            OrderDocument doc = new DocumentParser(new ObjectMapper(), 1 << 20).parse(Fixtures.read(fixture));
            List<MappingEngine.PlannedObject> planned = MappingEngine.plan(provider, doc);
            assertThat(planned).hasSizeGreaterThan(1);
            List<Map<String, Object>> olds = List.of(Map.of(), Map.of("note", "x;y", "company", "", "score", "3",
                    "attendee", "Someone", "tags", List.of("A")), Map.of("note", "", "attendee", ""));
            for (MappingEngine.PlannedObject p : planned) {
                List<MappingEngine.NewValue> values = MappingEngine.resolve(provider, p, List.of());
                for (Map<String, Object> old : olds) {
                    for (boolean isNew : new boolean[]{true, false}) {
                        Map<String, Object> compiled = MappingEngine.assign(p, values, old, isNew, provider);
                        Map<String, Object> generic = MappingEngine.assign(new ArrayList<>(values), old, isNew,
                                provider.separator(), provider.nativeLists());
                        String what = fixture + " " + p.spec().id() + " old " + old + " new " + isNew;
                        assertThat(compiled).as(what).isInstanceOf(FieldMap.class).isEqualTo(generic);
                        assertThat(new ArrayList<>(compiled.entrySet())).as(what).isEqualTo(new ArrayList<>(generic.entrySet()));
                        Map<String, Object> changes = MappingEngine.changes(compiled, old);
                        assertThat(new ArrayList<>(changes.entrySet())).as(what)
                                .isEqualTo(new ArrayList<>(MappingEngine.changes(generic, old).entrySet()));
                    }
                }
            }
        }
    }
}
