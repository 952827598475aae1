package io.ordersync.pretix;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The pure decisions of the pretix source: action → trigger type, the envelope, the type of a polled order. */
class PretixFunctionsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** README: a fetch pretix did not answer is tried again after 5 s, 30 s, 2 min, 10 min, then every 30 min, without limit. */
    @Test
    void theFetchBackoffIsTheDocumentedOne() {
        assertThat(java.util.stream.IntStream.rangeClosed(1, 8).mapToObj(PretixHttp::backoff).toList()).containsExactly(
                java.time.Duration.ofSeconds(5), java.time.Duration.ofSeconds(30), java.time.Duration.ofMinutes(2),
                java.time.Duration.ofMinutes(10), java.time.Duration.ofMinutes(30), java.time.Duration.ofMinutes(30),
                java.time.Duration.ofMinutes(30), java.time.Duration.ofMinutes(30));
        assertThat(PretixHttp.backoff(10_000)).isEqualTo(java.time.Duration.ofMinutes(30));
    }

    @Test
    void actionsMapExactlyOrByPrefixFirstMatchWins() {
        PretixActions a = PretixActions.parse(PretixActions.DEFAULT);
        assertThat(a.typeOf("pretix.event.order.paid")).hasValue("order.paid");
        assertThat(a.typeOf("pretix.event.order.placed.require_approval")).hasValue("order.placed");
        assertThat(a.typeOf("pretix.event.order.changed.item")).hasValue("order.changed");
        assertThat(a.typeOf("pretix.event.order.refund.created.externally")).hasValue("order.changed");
        assertThat(a.typeOf("pretix.event.checkin.reverted")).hasValue("order.checkin");
        assertThat(a.typeOf("pretix.event.item.changed")).isEmpty();
        assertThat(a.typeOf(null)).isEmpty();
        assertThat(PretixActions.parse("x.*=first, x.y=second").typeOf("x.y")).hasValue("first");
        assertThatThrownBy(() -> PretixActions.parse("pretix.event.order.paid")).hasMessageContaining("not action=type");
        assertThatThrownBy(() -> PretixActions.parse("=order.paid")).hasMessageContaining("not action=type");
    }

    @Test
    void theEnvelopeNamesOnlyWhatTheOrderRefersTo() throws Exception {
        JsonNode order = JSON.readTree("""
                {"code": "ABC12", "event": "democon", "status": "p", "last_modified": "2026-03-01T10:05:00Z",
                 "positions": [{"item": 1345, "variation": 7, "subevent": 17, "voucher": 55,
                                "answers": [{"question": 12, "question_identifier": "WY3TP9SL", "answer": "Meat",
                                             "options": [32], "option_identifiers": ["MEAT"]}]}]}""");
        PretixCatalog.EventCatalog catalog = new PretixCatalog.EventCatalog(
                JSON.readTree("{\"name\": {\"en\": \"DemoCon\"}, \"slug\": \"democon\", \"date_from\": \"2026-05-04T09:00:00+02:00\", \"timezone\": \"Europe/Berlin\"}"),
                Map.of("1345", JSON.readTree("{\"id\": 1345, \"name\": {\"en\": \"Regular\"}, \"admission\": true, \"internal_name\": null, "
                                + "\"variations\": [{\"id\": 7, \"value\": {\"en\": \"Student\"}}]}"),
                        "9999", JSON.readTree("{\"id\": 9999, \"name\": {\"en\": \"Unused\"}}")),
                Map.of("12", JSON.readTree("{\"id\": 12, \"identifier\": \"WY3TP9SL\", \"type\": \"C\", \"question\": {\"en\": \"Meal\"}, "
                        + "\"options\": [{\"id\": 32, \"identifier\": \"MEAT\", \"answer\": {\"en\": \"Meat\"}}]}")),
                Map.of("17", JSON.readTree("{\"id\": 17, \"name\": {\"en\": \"Day 1\"}, \"date_from\": \"2026-05-04T09:00:00Z\", \"date_to\": null}")),
                Map.of());
        ObjectNode doc = PretixEnvelope.build("order.paid", "democon", catalog, order);
        assertThat(doc.path("type").asText()).isEqualTo("order.paid");
        assertThat(doc.path("event").path("name").path("en").asText()).isEqualTo("DemoCon");
        assertThat(doc.path("items").size()).as("only the item the order uses").isEqualTo(1);
        assertThat(doc.path("items").path("1345").path("variations").path("7").path("en").asText()).isEqualTo("Student");
        assertThat(doc.path("questions").path("WY3TP9SL").path("options").path("MEAT").path("en").asText()).isEqualTo("Meat");
        assertThat(doc.path("subevents").path("17").path("name").path("en").asText()).isEqualTo("Day 1");
        assertThat(doc.path("vouchers").size()).as("a voucher the catalogue does not know is left out").isZero();
        assertThat(doc.path("order")).isSameAs(order);
    }

    @Test
    void typesComeFromTheStateAWebhookOnlyAddsWhatTheStateAgreesWith() throws Exception {
        JsonNode paid = JSON.readTree("{\"status\": \"p\"}");
        JsonNode pending = JSON.readTree("{\"status\": \"n\"}");
        // new to ordersync: placed, and paid when it already is (pretix's placed webhook reads the paid state)
        assertThat(PretixEnvelope.typesFor(paid, null, false, "order.placed")).containsExactly("order.paid", "order.placed");
        assertThat(PretixEnvelope.typesFor(pending, null, false, null)).containsExactly("order.placed");
        // a status change; any other change
        assertThat(PretixEnvelope.typesFor(paid, "n", true, "order.paid")).containsExactly("order.paid");
        assertThat(PretixEnvelope.typesFor(paid, "p", true, null)).containsExactly("order.changed");
        assertThat(PretixEnvelope.typesFor(JSON.readTree("{\"status\": \"c\"}"), "p", true, null)).containsExactly("order.canceled");
        assertThat(PretixEnvelope.typesFor(JSON.readTree("{\"status\": \"e\"}"), "n", true, null)).containsExactly("order.expired");
        // a webhook's claim that the state contradicts is not taken (a forged "paid" for a pending order) ...
        assertThat(PretixEnvelope.typesFor(pending, "n", true, "order.paid")).containsExactly("order.changed");
        assertThat(PretixEnvelope.typesFor(paid, "p", true, "order.canceled")).containsExactly("order.changed");
        assertThat(PretixEnvelope.typesFor(paid, "p", true, "order.placed")).containsExactly("order.changed");
        // ... and a type the state cannot tell (a check-in, your own) is added, never instead of the state's
        assertThat(PretixEnvelope.typesFor(paid, "p", true, "order.checkin")).containsExactly("order.changed", "order.checkin");
    }

    /** An error answer that repeats the token where the message is shortened: no part of the token is kept. */
    @Test
    void anErrorAnswerRepeatingTheTokenKeepsNoPartOfIt() throws Exception {
        String token = "pretix-api-t0ken-e1l6gq2ye72thbwk";
        PretixSettings settings = new PretixSettings("https://pretix.example", "org", "", token, PretixActions.parse(PretixActions.DEFAULT),
                0, java.time.Duration.ofMinutes(10), 0, 1000, java.time.Duration.ofMinutes(2), "");
        PretixHttp http = new PretixHttp(settings, JSON, java.time.Clock.systemUTC());
        try (org.apache.camel.impl.DefaultCamelContext context = new org.apache.camel.impl.DefaultCamelContext()) {
            for (int pad = 150; pad < 200; pad += 7) {
                org.apache.camel.Exchange exchange = new org.apache.camel.support.DefaultExchange(context);
                exchange.getMessage().setHeader(org.apache.camel.Exchange.HTTP_RESPONSE_CODE, 401);
                exchange.getMessage().setBody("{\"detail\": \"" + "x".repeat(pad) + " you sent Authorization: Token " + token + "\"}");
                assertThatThrownBy(() -> http.check(exchange)).satisfies(e -> {
                    assertThat(e.getMessage()).doesNotContain(token.substring(0, 12)).doesNotContain(token.substring(token.length() - 12));
                });
            }
        }
    }
}
