package io.ordersync.order;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.support.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Source fields read from a pretix REST API order: add-on inheritance, name parts, answers, check-ins. */
class SourceFieldsTest {

    private final DocumentParser parser = new DocumentParser(new ObjectMapper(), 1 << 20);

    private OrderDocument doc(String name) throws Exception {
        return parser.parse(Fixtures.read("fixtures/" + name + ".json"));
    }

    @Test
    void orderFields() throws Exception {
        OrderDocument d = doc("order-abc12");
        assertThat(SourceFields.value("email", d, null)).isEqualTo("tester@example.org");
        assertThat(SourceFields.value("email_domain", d, null)).isEqualTo("example.org");
        assertThat(SourceFields.value("event_order_code", d, null)).isEqualTo("DEMOCON-ABC12");
        assertThat(SourceFields.value("order_total", d, null)).isEqualTo("46.00");
        assertThat(SourceFields.value("order_status", d, null)).isEqualTo("p");
        assertThat(SourceFields.value("payment_date", d, null)).isEqualTo("2026-03-01");
        assertThat(SourceFields.value("invoice_address_name_given_name", d, null)).isEqualTo("John");
        assertThat(SourceFields.value("presale_order_url", d, null)).asString().contains("/order/ABC12/");
        assertThat(SourceFields.value("event_name", d, null)).isEqualTo("DemoCon 2026");
        assertThat(SourceFields.value("event_date_from", d, null)).isEqualTo("2026-05-04T09:00:00+02:00");
    }

    @Test
    void pendingOrdersHaveNoPaymentDateAndFullNamesSplitAtTheLastSpace() throws Exception {
        OrderDocument d = doc("order-xyz34");
        assertThat(SourceFields.value("payment_date", d, null)).isNull();
        assertThat(SourceFields.value("invoice_address_name_given_name", d, null)).isEqualTo("Anna Maria");
        assertThat(SourceFields.value("invoice_address_name_family_name", d, null)).isEqualTo("Schmidt");
    }

    @Test
    void positionFieldsAndAddOnInheritance() throws Exception {
        OrderDocument d = doc("order-abc12");
        JsonNode main = d.positions().get(0);
        JsonNode addon = d.positions().get(1);
        assertThat(SourceFields.value("ticket_id", d, main)).isEqualTo("ABC12-1");
        assertThat(SourceFields.value("product", d, main)).isEqualTo("Regular ticket – Student");
        assertThat(SourceFields.value("product", d, addon)).isEqualTo("WS-A");
        assertThat(SourceFields.value("product_is_admission", d, addon)).isEqualTo(false);
        assertThat(SourceFields.value("attendee_name", d, addon)).isEqualTo("Peter Miller");
        assertThat(SourceFields.value("attendee_name_family_name", d, addon)).isEqualTo("Miller");
        assertThat(SourceFields.value("attendee_email", d, addon)).isEqualTo("peter@example.org");
        assertThat(SourceFields.value("attendee_company", d, addon)).isEqualTo("Miller Ltd");
        assertThat(SourceFields.value("question_WY3TP9SL", d, main)).isEqualTo(List.of("VEG"));
        assertThat(SourceFields.value("question_WY3TP9SL", d, addon)).isEqualTo(List.of("VEG"));
        assertThat(SourceFields.value("checkin_date_44", d, main)).isEqualTo("2026-05-04T08:45:23Z");
        assertThat(SourceFields.value("checkin_date_45", d, main)).isNull();
        assertThat(SourceFields.value("ticket_status", d, main)).isEqualTo("p");
    }

    @Test
    void emailHostsAreNormalisedToIdna() {
        assertThat(SourceFields.normaliseEmail("anonymous@🌈.example.org")).isEqualTo("anonymous@xn--og8h.example.org");
        assertThat(SourceFields.normaliseEmail("Max@Bücher.Example")).isEqualTo("Max@xn--bcher-kva.example");
    }

    @Test
    void unknownFieldsAreRecognisedAsUnknown() {
        assertThat(SourceFields.isKnown("email")).isTrue();
        assertThat(SourceFields.isKnown("question_ABC")).isTrue();
        assertThat(SourceFields.isKnown("emial")).isFalse();
        assertThat(SourceFields.isKnown("question_")).isFalse();
    }
}
