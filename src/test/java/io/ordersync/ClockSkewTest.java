package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.db.DatabaseClock;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Clock;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Two instances on one PostgreSQL, one of whose clocks is ten minutes off (an instance without NTP, a VM resumed
 * from a snapshot). Leases, due times and retries are the database's time on both, so neither takes the rows the other
 * has in flight back as expired, and no order is synced twice. Before, the instance ahead took the rows the other
 * claimed back at its next lease check (the other way round, the instance behind wrote leases that had already run
 * out): those orders were tried again, "lease expired" in their logs (8 of 30 in the run that checked it).
 */
class ClockSkewTest extends AppTestSupport {

    private static final int ORDERS = 30;

    @ParameterizedTest(name = "clock off by {0} minutes")
    @ValueSource(ints = {10, -10})
    void anInstanceWhoseClockIsOffLeavesTheOthersRowsInFlight(int minutes) throws Exception {
        Duration skew = Duration.ofMinutes(minutes);
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
        // each request takes a while: the rows stay in flight over several lease checks of the other instance
        target.randomFaults(0, 1.0, 150);
        Map<String, String> props = crmOn(Postgres.newDatabase());
        props.put("ordersync.queue.lease", "PT20S");
        props.put("ordersync.queue.reaper-period-ms", "100");
        props.put("ordersync.instance-id", "on-time");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        props.put("ordersync.instance-id", "off");
        try (OrdersyncApp off = new OrdersyncApp(tmp.resolve("b"), mappings, props)
                .bind("ordersync.clock", Clock.offset(Clock.systemUTC(), skew)).start()) {
            DatabaseClock offClock = off.context().getRegistry().lookupByNameAndType("ordersync.databaseClock",
                    DatabaseClock.class);
            assertThat(offClock.offset().plus(skew).abs()).as("measured at start")
                    .isLessThan(Duration.ofSeconds(2));

            for (int i = 0; i < ORDERS; i++) {
                ObjectNode doc = fixture("order-abc12");
                ((ObjectNode) doc.path("order")).put("code", "S" + i);
                ((ObjectNode) doc.path("order")).put("email", "s" + i + "@example.org");
                // half to each instance: each claims rows the other accepted, too
                OrdersyncApp to = i % 2 == 0 ? app : off;
                assertThat(to.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
            }
            await().atMost(Duration.ofSeconds(90)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);

            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE message LIKE '%lease expired%'"))
                    .as("rows taken back as expired").isZero();
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'failure'")).isZero();
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success'")).as("each synced once")
                    .isEqualTo(ORDERS);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND message LIKE '%(instance off)'"))
                    .as("the instance whose clock is off synced some").isPositive();
            assertThat(target.objects("contacts")).hasSize(ORDERS);
            // every create once: nothing was sent again
            assertThat(target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/contacts")))
                    .hasSize(ORDERS);
            // the times it stored are the database's, not ten minutes off
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE created_at > CURRENT_TIMESTAMP + INTERVAL '1 minute' "
                    + "OR created_at < CURRENT_TIMESTAMP - INTERVAL '5 minutes'")).isZero();
        }
    }
}
