package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Three instances on one PostgreSQL share the outbox and the queue: every order delivered, nothing twice, no order
 * synced by two instances at once. {@code -Dordersync.instances.orders=N} changes the number of orders.
 */
class PostgresInstancesTest extends AppTestSupport {

    private static final int ORDERS = Integer.getInteger("ordersync.instances.orders", 5000);

    @Test
    void threeInstancesSyncEveryOrderExactlyOnce() throws Exception {
        target.trackOverlaps();
        Properties db = Postgres.newDatabase();
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
        // the file's concurrency is the target's, shared by the instances: each gets 2, as the file gives one instance
        java.nio.file.Files.writeString(mappings.resolve("crm.yaml"), java.nio.file.Files.readString(mappings.resolve("crm.yaml"))
                .replace("concurrency: 2", "concurrency: 6"));
        Map<String, String> props = crmOn(db);
        props.put("ordersync.instance-id", "one");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        props.put("ordersync.instance-id", "two");
        OrdersyncApp second = new OrdersyncApp(tmp.resolve("b"), mappings, props).start();
        props.put("ordersync.instance-id", "three");
        try (second; OrdersyncApp third = new OrdersyncApp(tmp.resolve("c"), mappings, props).start()) {
            int n = ORDERS;
            long started = System.nanoTime();
            // one contact and two tickets (a ticket and its add-on) per order
            IntakeTest.OrdersyncAppFiller.fill(app, withDistinctEmails(fixture("order-abc12")), n);
            await().atMost(Duration.ofSeconds(Math.max(120, n / 10))).until(() -> app.count(
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
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND message LIKE '%(instance three)'")).isPositive();
            assertThat(target.overlaps()).as("no order synced by two instances at once").isZero();
            System.out.printf("PostgresInstancesTest: %d orders on three instances in %.1f s%n", n, (System.nanoTime() - started) / 1e9);
        }
    }

    /** The filler varies the order code; every order also gets its own buyer. */
    private static ObjectNode withDistinctEmails(ObjectNode doc) {
        ((ObjectNode) doc.path("order")).put("email", "{code}@example.org");
        return doc;
    }

}
