package io.ordersync;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.FakeTarget;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncProcess;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Crashes: two ordersync instances run as separate processes on one PostgreSQL; in each run a batch of orders
 * goes into the outbox and one instance is killed with SIGKILL at a random moment (while it takes events from
 * the outbox, or while it delivers them), then started again. After every run: every order delivered, every
 * event accepted once, zero duplicate remote objects, no order synced by two processes at once.
 * {@code -Dordersync.crash.runs=N} and {@code -Dordersync.crash.orders=M} (per run) change the size.
 */
class CrashRecoveryTest {

    private static final int RUNS = Integer.getInteger("ordersync.crash.runs", 10);
    private static final int ORDERS_PER_RUN = Integer.getInteger("ordersync.crash.orders", 40);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    private FakeTarget target;
    private final OrdersyncProcess[] instances = new OrdersyncProcess[2];

    @AfterEach
    void stopAll() throws Exception {
        for (OrdersyncProcess p : instances) {
            if (p != null) {
                p.close();
            }
        }
        if (target != null) {
            target.close();
        }
    }

    @Test
    void killNineAtRandomPointsLosesAndDuplicatesNothing() throws Exception {
        target = new FakeTarget().requireAuthorization("Bearer s3cret").trackOverlaps();
        Properties db = Postgres.newDatabase();
        Path mappings = tmp.resolve("mappings");
        // slow enough that a kill often lands mid-delivery; a lease of 3 s brings a dead instance's rows back soon
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "2000"));
        Map<String, String> props = new HashMap<>();
        db.forEach((k, v) -> props.put((String) k, (String) v));
        props.put("ordersync.mappings.dir", mappings.toAbsolutePath().toString());
        props.put("test.crm.url", target.url());
        props.put("test.crm.token", "s3cret");
        props.put("ordersync.queue.lease", "PT3S");
        props.put("ordersync.queue.reaper-period-ms", "500");
        props.put("ordersync.outbox.poll-delay-ms", "50");
        props.put("ordersync.outbox.batch-size", "10");
        props.put("ordersync.redelivery.delay-ms", "50");
        props.put("camel.main.routes-reload-enabled", "false");
        instances[0] = new OrdersyncProcess("one", tmp.resolve("logs"), props);
        instances[1] = new OrdersyncProcess("two", tmp.resolve("logs"), props);
        for (OrdersyncProcess p : instances) {
            p.start();
        }
        Random random = new Random(Long.getLong("ordersync.crash.seed", System.nanoTime()));
        ObjectNode template = (ObjectNode) JSON.readTree(Fixtures.read("fixtures/order-abc12.json"));
        int total = 0;
        for (int run = 1; run <= RUNS; run++) {
            insertOrders(db, template, total, ORDERS_PER_RUN);
            total += ORDERS_PER_RUN;
            OrdersyncProcess victim = instances[random.nextInt(2)];
            long delay = random.nextInt(1500);
            Thread.sleep(delay);
            long inFlight = count(db, "SELECT COUNT(*) FROM sync_queue WHERE claimed_by = '" + victimName(victim) + "'");
            long outbox = count(db, "SELECT COUNT(*) FROM order_outbox");
            victim.kill();
            System.out.printf("run %d: killed %s after %d ms (it held %d queue rows; %d events still in the outbox)%n",
                    run, victimName(victim), delay, inFlight, outbox);
            victim.start();
            int expected = total;
            String why = "run " + run + " (logs in " + tmp.resolve("logs") + ")";
            await(why).atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() ->
                    count(db, "SELECT (SELECT COUNT(*) FROM sync_queue) + (SELECT COUNT(*) FROM order_outbox)") == 0
                            && target.objects("tickets").size() == 2 * expected);
            assertThat(count(db, "SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("%s: each event accepted once", why)
                    .isEqualTo(expected);
            assertThat(target.objects("contacts")).as(why).hasSize(expected);
            assertThat(creates("/contacts")).as("%s: no duplicate contacts", why).isEqualTo(expected);
            assertThat(creates("/tickets")).as("%s: no duplicate tickets", why).isEqualTo(2L * expected);
            assertThat(count(db, "SELECT COUNT(*) FROM rejected_event")).as(why).isZero();
            assertThat(target.overlaps()).as("%s: no order synced by two processes at once", why).isZero();
        }
        assertThat(Files.readString(instances[0].log()) + Files.readString(instances[1].log()))
                .as("both processes were restarted after kills").contains("==== start 2");
    }

    private static String victimName(OrdersyncProcess p) {
        return p.log().getFileName().toString().replace(".log", "");
    }

    private long creates(String path) {
        return target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals(path)).count();
    }

    private static Connection connect(Properties db) throws Exception {
        return DriverManager.getConnection(db.getProperty("ordersync.db.url"), db.getProperty("ordersync.db.user"),
                db.getProperty("ordersync.db.password"));
    }

    private static long count(Properties db, String sql) throws Exception {
        try (Connection c = connect(db); ResultSet rs = c.createStatement().executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** What a shop does: writes events into the outbox table, here orders {@code O<from>..}. */
    private static void insertOrders(Properties db, ObjectNode template, int from, int n) throws Exception {
        try (Connection c = connect(db); PreparedStatement ps = c.prepareStatement("INSERT INTO order_outbox (payload) VALUES (?)")) {
            for (int i = from; i < from + n; i++) {
                ObjectNode doc = template.deepCopy();
                ObjectNode order = (ObjectNode) doc.path("order");
                order.put("code", "O" + i);
                order.put("email", "o" + i + "@example.org");
                ps.setString(1, doc.toString());
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }
}
