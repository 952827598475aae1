package io.ordersync.order;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.support.Fixtures;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ParsedDocumentsTest {

    private final DocumentParser parser = new DocumentParser(new ObjectMapper(), 1_000_000);
    private final String json = Fixtures.read("fixtures/order-abc12.json");

    @Test
    void theSnapshotIntakeJustParsedIsNotParsedAgain() throws Exception {
        ParsedDocuments parsed = new ParsedDocuments(parser, 1_000_000);
        OrderDocument accepted = parser.parse(json);
        parsed.remember(accepted, json);

        // a fresh String with the same text, as read back from the database
        OrderDocument delivered = parsed.parse(accepted.eventSlug(), accepted.orderCode(), new String(json.toCharArray()));

        assertThat(delivered).isSameAs(accepted);
    }

    @Test
    void anotherTextOfTheSameOrderIsParsedAfresh() throws Exception {
        ParsedDocuments parsed = new ParsedDocuments(parser, 1_000_000);
        OrderDocument accepted = parser.parse(json);
        parsed.remember(accepted, json);
        // e.g. another instance stored a newer snapshot in between
        String newer = json.replace("\"status\": \"p\"", "\"status\": \"c\"");
        assertThat(newer).isNotEqualTo(json);

        OrderDocument delivered = parsed.parse(accepted.eventSlug(), accepted.orderCode(), newer);

        assertThat(delivered).isNotSameAs(accepted);
        assertThat(delivered.order().path("status").asText()).isEqualTo("c");
        // and that parse is the one reused from now on
        assertThat(parsed.parse(accepted.eventSlug(), accepted.orderCode(), newer)).isSameAs(delivered);
    }

    @Test
    void aSnapshotThatNoLongerParsesFailsAsBefore() {
        ParsedDocuments parsed = new ParsedDocuments(parser, 1_000_000);
        assertThatThrownBy(() -> parsed.parse("ev", "ABC12", "{\"type\": 1"))
                .isInstanceOf(InvalidDocumentException.class).hasMessageContaining("not valid JSON");
    }

    @Test
    void holdsNoMoreCharactersThanItsLimitDroppingTheOldest() throws Exception {
        ParsedDocuments parsed = new ParsedDocuments(parser, json.length() * 5L);
        OrderDocument first = null;
        for (int i = 0; i < 8; i++) {
            String text = json.replace("ABC12", "ORD" + i);
            OrderDocument doc = parser.parse(text);
            parsed.remember(doc, text);
            if (i == 0) {
                first = doc;
            }
            assertThat(parsed.chars()).isLessThanOrEqualTo(json.length() * 5L);
        }
        String firstText = json.replace("ABC12", "ORD0");
        assertThat(parsed.parse(first.eventSlug(), "ORD0", firstText)).isNotSameAs(first);
        String last = json.replace("ABC12", "ORD7");
        OrderDocument lastDoc = parsed.parse(first.eventSlug(), "ORD7", last);
        assertThat(parsed.parse(first.eventSlug(), "ORD7", last)).isSameAs(lastDoc);
    }

    @Test
    void aDocumentOverAQuarterOfTheLimitIsNotKept() throws Exception {
        ParsedDocuments parsed = new ParsedDocuments(parser, json.length() * 3L);
        OrderDocument doc = parser.parse(json);
        parsed.remember(doc, json);
        assertThat(parsed.chars()).isZero();
        assertThat(parsed.parse(doc.eventSlug(), doc.orderCode(), json)).isNotSameAs(doc);
    }

    /**
     * Intake remembering and workers parsing at once, with replacements and evictions: a tree is only ever
     * returned for the very text it was parsed from, and the limit holds when they are done.
     */
    @Test
    void concurrentIntakeAndDeliveryNeverGetAnotherTextsTree() throws Exception {
        long limit = json.length() * 20L;
        ParsedDocuments parsed = new ParsedDocuments(parser, limit);
        String[] statuses = {"p", "n", "c", "e"};
        int threads = 8;
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
        try {
            java.util.List<java.util.concurrent.Future<Integer>> done = new java.util.ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int seed = t;
                done.add(pool.submit(() -> {
                    java.util.Random random = new java.util.Random(seed);
                    int checked = 0;
                    for (int i = 0; i < 1500; i++) {
                        String code = "ORD" + random.nextInt(40);
                        String status = statuses[random.nextInt(statuses.length)];
                        String text = json.replace("ABC12", code).replace("\"status\": \"p\"", "\"status\": \"" + status + "\"");
                        if (random.nextBoolean()) {
                            parsed.remember(parser.parse(text), text);
                        } else {
                            OrderDocument doc = parsed.parse("democon", code, new String(text.toCharArray()));
                            assertThat(doc.orderCode()).isEqualTo(code);
                            assertThat(doc.order().path("status").asText()).isEqualTo(status);
                            checked++;
                        }
                    }
                    return checked;
                }));
            }
            int checked = 0;
            for (java.util.concurrent.Future<Integer> f : done) {
                checked += f.get(60, java.util.concurrent.TimeUnit.SECONDS);
            }
            assertThat(checked).isGreaterThan(threads * 500);
        } finally {
            pool.shutdownNow();
        }
        assertThat(parsed.chars()).isLessThanOrEqualTo(limit).isPositive();
    }
}
