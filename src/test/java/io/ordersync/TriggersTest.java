package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A provider's triggers are checked against the types ordersync.pretix.actions produces as the service reads it: a
 * type of the user's own rules runs (and queues its orders), the default type it replaced is refused as a misspelling
 * of it, which would never queue an order.
 */
class TriggersTest extends AppTestSupport {

    private void crmTriggeredBy(String trigger) throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        Files.writeString(mappings.resolve("crm.yaml"), Files.readString(mappings.resolve("crm.yaml"))
                .replaceFirst("(?m)^triggers:.*$", "triggers: [" + trigger + "]"));
    }

    @Test
    void aTypeOfTheConfiguredActionsIsATriggerAndQueuesItsOrders() throws Exception {
        crmTriggeredBy("order.cancelled");
        app = new io.ordersync.support.OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(),
                "test.crm.token", "s3cret", "ordersync.pretix.actions", "pretix.event.order.canceled=order.cancelled")).start();
        assertThat(app.get("/api/providers").body()).contains("\"crm\"").doesNotContain("is no event type");
        ObjectNode doc = fixture("order-abc12");
        doc.put("type", "order.cancelled");
        assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("contacts").size() == 1);
    }

    @Test
    void withTheDefaultActionsTheSameTriggerIsRefusedWithTheTypeMeant() throws Exception {
        crmTriggeredBy("order.cancelled");
        app = new io.ordersync.support.OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(),
                "test.crm.token", "s3cret")).start();
        assertThat(app.get("/api/providers").body())
                .contains("'order.cancelled' is no event type ordersync.pretix.actions produces (did you mean 'order.canceled'?)");
    }
}
