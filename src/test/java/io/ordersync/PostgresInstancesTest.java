package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Two instances on one PostgreSQL share the outbox and the queue: every order delivered, nothing twice. */
class PostgresInstancesTest extends AppTestSupport {

    @Test
    void twoInstancesSyncEveryOrderExactlyOnce() throws Exception {
        Properties db = Postgres.newDatabase();
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
        Map<String, String> props = new HashMap<>();
        db.forEach((k, v) -> props.put((String) k, (String) v));
        props.put("test.crm.url", target.url());
        props.put("test.crm.token", "s3cret");
        props.put("ordersync.instance-id", "one");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        props.put("ordersync.instance-id", "two");
        try (OrdersyncApp second = new OrdersyncApp(tmp.resolve("b"), mappings, props).start()) {
            int n = 200;
            // one contact and two tickets (a ticket and its add-on) per order
            IntakeTest.OrdersyncAppFiller.fill(app, withDistinctEmails(fixture("order-abc12")), n);
            await().atMost(Duration.ofSeconds(120)).until(() -> app.count(
                    "SELECT (SELECT COUNT(*) FROM sync_queue) + (SELECT COUNT(*) FROM order_outbox)") == 0);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("each event accepted once").isEqualTo(n);
            assertThat(target.objects("contacts")).hasSize(n);
            assertThat(target.objects("tickets")).hasSize(2 * n);
            long contactCreates = target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/contacts")).count();
            long ticketCreates = target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/tickets")).count();
            assertThat(contactCreates).as("no duplicate remote objects").isEqualTo(n);
            assertThat(ticketCreates).isEqualTo(2L * n);
            assertThat(app.count("SELECT COUNT(*) FROM sync_result")).isEqualTo(3L * n);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND message LIKE '%(instance one)'"))
                    .as("both instances synced").isPositive();
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND message LIKE '%(instance two)'")).isPositive();
        }
    }

    /** The filler varies the order code; every order also gets its own buyer. */
    private static ObjectNode withDistinctEmails(ObjectNode doc) {
        ((ObjectNode) doc.path("order")).put("email", "{code}@example.org");
        return doc;
    }

}
