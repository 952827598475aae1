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
        // the payment's full date and time, not the order's date-only payment_date
        assertThat(SourceFields.value("payment_date", d, null)).isEqualTo("2026-03-01T10:03:00Z");
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

    /** The whole catalogue against one order: field, position number (0 = order level), expected value. */
    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> catalogue() {
        return java.util.stream.Stream.of(
                args("email", 0, "anonymous@xn--og8h.example.org"),
                args("email_domain", 0, "xn--og8h.example.org"),
                args("order_code", 0, "CAT01"),
                args("event_order_code", 0, "SERIES-CAT01"),
                args("order_total", 0, "99.90"),
                args("order_status", 0, "p"),
                args("order_date", 0, "2026-04-01T08:00:00Z"),
                // pretix: Max("payment_date") over all payments, compared as instants (09:00+02:00 is earlier)
                args("payment_date", 0, "2026-04-03T08:05:00Z"),
                args("payment_provider", 0, "stripe"),
                args("order_locale", 0, "de"),
                args("presale_order_url", 0, "https://tickets.example.org/series/order/CAT01/s3cr3t/"),
                args("invoice_address_company", 0, "ACME"),
                args("invoice_address_name", 0, "Dr. Jane Q. Public"),
                args("invoice_address_name_title", 0, "Dr."),
                args("invoice_address_name_given_name", 0, "Jane Q."),
                args("invoice_address_name_family_name", 0, "Public"),
                args("invoice_address_street", 0, "Main St 1"),
                args("invoice_address_zipcode", 0, "12345"),
                args("invoice_address_city", 0, "Springfield"),
                args("invoice_address_country", 0, "US"),
                args("invoice_address_state", 0, "IL"),
                args("invoice_address_vat_id", 0, null),
                args("event_slug", 0, "series"),
                args("event_name", 0, "Series 2026"),
                args("event_date_from", 0, "2026-06-01T10:00:00+02:00"),
                args("attendee_name", 1, "Max Mustermann"),
                args("attendee_name_given_name", 1, "Max"),
                args("attendee_name_family_name", 1, "Mustermann"),
                args("attendee_email", 1, "Max@xn--bcher-kva.example"),
                args("attendee_or_order_email", 1, "Max@xn--bcher-kva.example"),
                args("attendee_company", 1, "Muster GmbH"),
                args("attendee_street", 1, "Weg 2"),
                args("attendee_zipcode", 1, "10115"),
                args("attendee_city", 1, "Berlin"),
                args("attendee_country", 1, "DE"),
                args("product", 1, "Day pass – Reduced"),
                args("product_id", 1, "1"),
                args("product_is_admission", 1, true),
                args("voucher_code", 1, "SUMMER25"),
                args("ticket_id", 1, "CAT01-1"),
                args("ticket_price", 1, "49.95"),
                args("ticket_status", 1, "p"),
                args("ticket_secret", 1, "sec101"),
                args("position_id", 1, "101"),
                args("position_number", 1, "1"),
                args("presale_ticket_url", 1, "https://tickets.example.org/series/ticket/CAT01/1/sec101/"),
                args("event_date_from", 1, "2026-06-05T10:00:00+02:00"),
                args("event_date_to", 1, "2026-06-05T18:00:00+02:00"),
                // the latest successful entry: not the exit, not the failed scan at 10:00
                args("checkin_date_7", 1, "2026-06-05T09:15:00Z"),
                args("checkin_date_8", 1, "2026-06-05T12:00:00Z"),
                args("checkin_date_9", 1, null),
                // position families read nothing for the order itself
                args("question_TXT", 0, null),
                args("attendee_name_given_name", 0, null),
                args("checkin_date_7", 0, null),
                args("question_NUM", 1, "3.50"),
                args("question_TXT", 1, "Hello"),
                args("question_LONG", 1, "Line 1\nLine 2"),
                args("question_BOOL", 1, true),
                args("question_MEAL", 1, List.of("VEG")),
                args("question_TOPICS", 1, List.of("AI", "OPS")),
                args("question_FILE", 1, "file:///answers/cv.pdf"),
                args("question_DAY", 1, "2026-06-05"),
                args("question_TIME", 1, "09:30:00"),
                args("question_WHEN", 1, "2026-06-05T09:30:00Z"),
                args("question_LAND", 1, "DE"),
                args("question_PHONE", 1, "+4930123456"),
                // the add-on: inherits attendee data and answers field by field, keeps its own answer
                args("attendee_name", 2, "Max Mustermann"),
                args("attendee_name_family_name", 2, "Mustermann"),
                args("attendee_email", 2, "Max@xn--bcher-kva.example"),
                args("attendee_city", 2, "Berlin"),
                args("question_MEAL", 2, List.of("VEG")),
                args("question_BOOL", 2, false),
                args("product", 2, "SHIRT"),
                args("product_is_admission", 2, false),
                args("voucher_code", 2, null),
                // the canceled position
                args("ticket_status", 3, "c"),
                args("attendee_name_given_name", 3, "Erika"),
                args("attendee_or_order_email", 3, "anonymous@xn--og8h.example.org"),
                args("event_date_from", 3, "2026-06-01T10:00:00+02:00"));
    }

    private static org.junit.jupiter.params.provider.Arguments args(String field, int position, Object expected) {
        return org.junit.jupiter.params.provider.Arguments.of(field, position, expected);
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "{0} of position {1}")
    @org.junit.jupiter.params.provider.MethodSource("catalogue")
    void catalogueFields(String field, int position, Object expected) throws Exception {
        OrderDocument d = doc("order-catalogue");
        JsonNode p = position == 0 ? null : d.positions().get(position - 1);
        assertThat(SourceFields.isKnown(field)).isTrue();
        assertThat(SourceFields.value(field, d, p)).isEqualTo(expected);
        // the extraction compiled once (families bound to their suffix) reads the same value
        assertThat(SourceFields.extractor(field).apply(d, p)).as("compiled").isEqualTo(expected);
        if (p != null) {
            assertThat(SourceFields.positionExtractor(field).apply(d, p)).as("compiled for positions").isEqualTo(expected);
        } else if (SourceFields.inputOf(field) == SourceFields.Input.POSITION) {
            assertThat(SourceFields.extractor(field).apply(d, null)).as("position field without a position").isNull();
        }
    }

    /** pretix's split_name_on_last_space: one word is a given name, the family name is empty. */
    @org.junit.jupiter.params.ParameterizedTest(name = "\"{0}\" -> \"{1}\" / \"{2}\"")
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', textBlock = """
            Madonna            | Madonna    | ''
            Anna Maria Schmidt | Anna Maria | Schmidt
            Charlie de l'Exemple | Charlie de | l'Exemple
            """)
    void fullNamesSplitAsPretixSplitsThem(String full, String given, String family) throws Exception {
        OrderDocument d = parser.parse("""
                {"type": "order.placed", "event": {"slug": "e"}, "order": {"code": "N1", "status": "p",
                 "invoice_address": {"name": "%s", "name_parts": {"_scheme": "full", "full_name": "%s"}},
                 "positions": [{"id": 1, "positionid": 1, "attendee_name": "%s", "attendee_name_parts": {}}]}}
                """.formatted(full, full, full));
        assertThat(SourceFields.value("invoice_address_name_given_name", d, null)).isEqualTo(given);
        assertThat(SourceFields.value("invoice_address_name_family_name", d, null)).isEqualTo(family);
        JsonNode p = d.positions().get(0);
        assertThat(SourceFields.value("attendee_name_given_name", d, p)).isEqualTo(given);
        assertThat(SourceFields.value("attendee_name_family_name", d, p)).isEqualTo(family);
    }

    @Test
    void orderAndTicketStatusHavePretixsFourOptionsAndTheLocaleIsAChoice() {
        assertThat(SourceFields.choices("order_status")).containsExactly("n", "p", "e", "c");
        assertThat(SourceFields.choices("ticket_status")).containsExactly("n", "p", "e", "c");
        assertThat(SourceFields.hasOpenChoices("order_locale")).isTrue();
    }

    @Test
    void everyFixedFieldOfTheCatalogueIsCovered() throws Exception {
        java.util.Set<String> covered = new java.util.HashSet<>();
        catalogue().forEach(a -> covered.add((String) a.get()[0]));
        for (SourceFields.Field f : SourceFields.catalogue()) {
            assertThat(covered).as("catalogue test covers " + f.name()).contains(f.name());
        }
    }

    @Test
    void emailHostsAreNormalisedToIdna() {
        assertThat(SourceFields.normaliseEmail("anonymous@🌈.example.org")).isEqualTo("anonymous@xn--og8h.example.org");
        assertThat(SourceFields.normaliseEmail("Max@Bücher.Example")).isEqualTo("Max@xn--bcher-kva.example");
    }

    @Test
    void asciiEmailHostsAreLowerCasedAndTheLocalPartKept() {
        assertThat(SourceFields.normaliseEmail(" Anna.Smith@Example.ORG ")).isEqualTo("Anna.Smith@example.org");
        assertThat(SourceFields.normaliseEmail("Anna.Smith@example.org")).isEqualTo("Anna.Smith@example.org");
        assertThat(SourceFields.normaliseEmail("no-at-sign")).isEqualTo("no-at-sign");
        assertThat(SourceFields.normaliseEmail("  ")).isNull();
    }

    @Test
    void unknownFieldsAreRecognisedAsUnknown() {
        assertThat(SourceFields.isKnown("email")).isTrue();
        assertThat(SourceFields.isKnown("question_ABC")).isTrue();
        assertThat(SourceFields.isKnown("emial")).isFalse();
        assertThat(SourceFields.isKnown("question_")).isFalse();
    }
}
