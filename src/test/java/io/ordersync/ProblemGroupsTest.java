package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.queue.QueueView;
import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Issue 17, point 4: problems grouped by cause, and a whole group retried at once. */
class ProblemGroupsTest extends AppTestSupport {

    @Test
    void aCauseIsTheErrorWithoutWhatDiffersFromOrderToOrder() {
        assertThat(QueueView.cause("GET /contacts?email=a%40b.org → HTTP 422: {\"error\": \"x\"}"))
                .isEqualTo(QueueView.cause("GET /contacts?email=zz%40example.com → HTTP 422: {\"error\": \"x\"}"));
        assertThat(QueueView.cause("PUT /members/anna@example.com → HTTP 400: invalid member 12345"))
                .isEqualTo("PUT /members/… → HTTP #: invalid member #");
        assertThat(QueueView.cause("x".repeat(500))).hasSize(161);
        assertThat(QueueView.cause(null)).isEmpty();
        assertThat(QueueView.cause("GET /contacts?email=tester%40example.org → HTTP 422: {\"error\": \"x\"}"))
                .isEqualTo("GET /contacts?… → HTTP #: {\"error\": \"x\"}");
    }

    @Test
    void problemsAreGroupedByCauseAndAGroupIsRetriedAtOnce() throws Exception {
        startWithCrm(1, "1h", java.util.Map.of());
        target.failAlways(422);
        for (int i = 0; i < 5; i++) {
            ObjectNode doc = fixture("order-abc12");
            ((ObjectNode) doc.path("order")).put("code", "G" + i).put("email", "g" + i + "@example.org");
            app.post("/api/events", doc.toString());
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL") == 5);
        target.failAlways(503);
        ObjectNode other = fixture("order-xyz34");
        app.post("/api/events", other.toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL") == 6);

        JsonNode groups = JSON.readTree(app.get("/api/queue/groups").body()).path("groups");
        assertThat(groups).hasSize(2);
        assertThat(groups.get(0).path("count").asInt()).isEqualTo(5);
        assertThat(groups.get(0).path("description").asText()).isEqualTo("Provider reported a permanent error");
        assertThat(groups.get(0).path("cause").asText()).contains("HTTP #");
        assertThat(groups.get(1).path("count").asInt()).isEqualTo(1);
        assertThat(groups.get(1).path("mode").asText()).isEqualTo("exceeded");
        assertThat(JSON.readTree(app.get("/api/queue/groups?mode=exceeded").body()).path("groups")).hasSize(1);

        target.failAlways(0);
        String ids = groups.get(0).path("ids").toString();
        assertThat(app.post("/api/queue/retry", "{\"ids\": " + ids + "}").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 1);
        assertThat(JSON.readTree(app.get("/api/queue/groups").body()).path("groups")).singleElement()
                .satisfies(g -> assertThat(g.path("mode").asText()).isEqualTo("exceeded"));
    }
    /**
     * The caps API.md names, and the order: at most 5 000 problem rows are read (oldest first), at most 1 000 ids are
     * listed per group, and the largest group comes first even when a smaller one has the older rows.
     */
    @Test
    void groupsReadAtMost5000RowsListAtMost1000IdsAndTheLargestComesFirst() throws Exception {
        startWithCrm(1, "1h", java.util.Map.of());
        try (var c = app.dataSource().getConnection(); var s = c.createStatement()) {
            s.execute("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, triggered_at, not_before, "
                    + "need_manual_retry, last_error) SELECT 'democon', 'S' || X, 'crm', 'waiting', 'order.placed', CURRENT_TIMESTAMP, "
                    + "CURRENT_TIMESTAMP, 'permanent', 'POST /contacts → HTTP 400: blocked domain' FROM SYSTEM_RANGE(1, 3)");
            s.execute("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, triggered_at, not_before, "
                    + "need_manual_retry, last_error) SELECT 'democon', 'L' || X, 'crm', 'waiting', 'order.placed', CURRENT_TIMESTAMP, "
                    + "CURRENT_TIMESTAMP, 'permanent', 'POST /contacts → HTTP 422: invalid member ' || X FROM SYSTEM_RANGE(1, 5100)");
        }
        JsonNode groups = JSON.readTree(app.get("/api/queue/groups").body()).path("groups");
        assertThat(groups).hasSize(2);
        JsonNode large = groups.get(0);
        assertThat(large.path("cause").asText()).isEqualTo("POST /contacts → HTTP #: invalid member #");
        assertThat(large.path("count").asInt()).as("5 000 rows read, 3 of them the small group's").isEqualTo(4_997);
        assertThat(large.path("ids")).hasSize(1_000);
        long firstLarge = app.count("SELECT MIN(id) FROM sync_queue WHERE order_code LIKE 'L%'");
        assertThat(large.path("ids").get(0).asLong()).as("the oldest rows' ids").isEqualTo(firstLarge);
        JsonNode small = groups.get(1);
        assertThat(small.path("count").asInt()).isEqualTo(3);
        assertThat(small.path("ids")).hasSize(3);
        assertThat(small.path("ids").get(0).asLong()).isLessThan(firstLarge);
    }
}
