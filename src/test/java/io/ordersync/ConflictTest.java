package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.FakeTarget;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A create answered 409 (the object exists, but the lookup did not find it: created meanwhile, a search index
 * that lags) is looked up again and updated, not parked as a permanent error.
 */
class ConflictTest extends AppTestSupport {

    @Test
    void aCreateAnswered409IsLookedUpAgainAndUpdated() throws Exception {
        startWithCrm();
        target.conflictOnCreate("email").recordRequests(true);
        ObjectNode existing = JSON.createObjectNode().put("email", "tester@example.org").put("status", "pending");
        target.put("contacts", existing);
        target.missNextLookups(1);
        assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
        assertThat(target.objects("contacts").get(0).path("status").asText()).as("the existing contact was updated").isEqualTo("paid");
        assertThat(target.requests().stream().filter(r -> r.path().startsWith("/contacts")).map(r -> r.method()).toList())
                .as("lookup (missed), create (409), lookup, update").startsWith("GET", "POST", "GET", "PATCH");
        assertThat(app.count("SELECT COUNT(*) FROM sync_result WHERE mapping_id = 'contact' AND action = 'updated'")).isEqualTo(1);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL")).isZero();
    }
}
