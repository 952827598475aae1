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
        // each request takes a while: the rows stay in flight over several lease checks of the other instance
        Map<String, String> props = crmWithSlowTarget("PT20S", "100");
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

    /**
     * The clock of the instance that runs the provider steps by two minutes while it runs (an NTP step, a VM resumed);
     * the other instance has no file for the provider. Found by an attack on the first form of the database clock
     * (instance clock plus a difference measured every 10 s): a step back made the instance write leases that had
     * already run out (its rows taken back and synced twice); a step forward, once measured away, stopped it from
     * announcing that it runs the provider for as long as the step, and the orders the other instance took in meanwhile
     * were never queued. The queue's time now runs on from each measurement by {@link System#nanoTime}, and the
     * dispatcher's own deadlines are monotonic.
     */
    @ParameterizedTest(name = "clock steps by {0} s")
    @ValueSource(ints = {120, -120})
    void aStepOfTheClockWhileRunningChangesNothing(int seconds) throws Exception {
        // the clocks are measured again at each lease check: the first orders are claimed before the next one
        Map<String, String> props = crmWithSlowTarget("PT60S", "3000");
        props.put("ordersync.queue.presence-ttl", "PT3S");
        props.put("ordersync.instance-id", "stepping");
        SteppingClock stepping = new SteppingClock();
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).bind("ordersync.clock", stepping).start();
        props.put("ordersync.instance-id", "without-file");
        try (OrdersyncApp without = new OrdersyncApp(tmp.resolve("b"), java.nio.file.Files.createDirectories(tmp.resolve("none")),
                props).start()) {
            stepping.step = Duration.ofSeconds(seconds);
            // right after the step: claimed by the stepping instance before its next lease check
            for (int i = 0; i < 10; i++) {
                post(app, "T" + i);
            }
            // then after a lease check (which measures the clocks again) and more than the presence lifetime, half to
            // the instance without the file
            Thread.sleep(7000);
            for (int i = 10; i < ORDERS; i++) {
                post(i % 2 == 0 ? app : without, "T" + i);
            }
            await().atMost(Duration.ofSeconds(90)).until(() -> app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success'") == ORDERS);
            await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE message LIKE '%lease expired%'"))
                    .as("rows taken back as expired").isZero();
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind IN ('failure', 'dropped')")).isZero();
            assertThat(target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/contacts")))
                    .hasSize(ORDERS);
        }
    }

    /** The crm file, every request to its target held 150 ms, a new PostgreSQL database, this lease and lease check period. */
    private Map<String, String> crmWithSlowTarget(String lease, String reaperPeriodMs) throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
        // the file's concurrency is the target's, shared by the instances: each gets 2, as the file gives one instance
        java.nio.file.Files.writeString(mappings.resolve("crm.yaml"), java.nio.file.Files.readString(mappings.resolve("crm.yaml"))
                .replace("concurrency: 2", "concurrency: 4"));
        target.randomFaults(0, 1.0, 150);
        Map<String, String> props = crmOn(Postgres.newDatabase());
        props.put("ordersync.queue.lease", lease);
        props.put("ordersync.queue.reaper-period-ms", reaperPeriodMs);
        return props;
    }

    private static void post(OrdersyncApp to, String code) throws Exception {
        ObjectNode doc = fixture("order-abc12");
        ((ObjectNode) doc.path("order")).put("code", code);
        ((ObjectNode) doc.path("order")).put("email", code.toLowerCase(java.util.Locale.ROOT) + "@example.org");
        assertThat(to.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
    }

    /** The system's clock, stepped by {@link #step} from when it is set. */
    private static final class SteppingClock extends Clock {
        volatile Duration step = Duration.ZERO;

        @Override
        public java.time.ZoneId getZone() {
            return java.time.ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            throw new UnsupportedOperationException();
        }

        @Override
        public java.time.Instant instant() {
            return Clock.systemUTC().instant().plus(step);
        }
    }
}
