package io.ordersync;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.EventPoster;
import io.ordersync.support.FakeTarget;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * An event answered 202 is on disk with the default H2 database: in each of ten runs a separate ordersync
 * process accepts 50 events posted in parallel and is killed with SIGKILL right after the last 202; after a
 * restart every event is known and every order synced exactly once. {@code -Dordersync.durable.runs=N}.
 */
class AcceptedIsDurableTest {

    private static final int RUNS = Integer.getInteger("ordersync.durable.runs", 10);
    private static final int EVENTS = 50;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    private FakeTarget target;
    private OrdersyncProcess process;

    @AfterEach
    void stop() throws Exception {
        if (process != null) {
            process.close();
        }
        if (target != null) {
            target.close();
        }
    }

    @Test
    void killRightAfterTheLast202LosesNothingOnH2() throws Exception {
        target = new FakeTarget().requireAuthorization("Bearer s3cret");
        Path mappings = tmp.resolve("mappings");
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "2000"));
        ObjectNode template = (ObjectNode) JSON.readTree(Fixtures.read("fixtures/order-abc12.json"));
        for (int run = 1; run <= RUNS; run++) {
            Path db = tmp.resolve("run" + run);
            Map<String, String> props = new HashMap<>();
            props.put("ordersync.db.url", "jdbc:h2:file:" + db.resolve("ordersync").toAbsolutePath());
            props.put("ordersync.mappings.dir", mappings.toAbsolutePath().toString());
            props.put("test.crm.url", target.url());
            props.put("test.crm.token", "s3cret");
            // the dead process's claims come back within seconds, not the default five minutes
            props.put("ordersync.queue.lease", "PT3S");
            props.put("ordersync.queue.reaper-period-ms", "500");
            props.put("camel.main.routes-reload-enabled", "false");
            // -Dordersync.durable.h2-commit=delayed shows the loss this test guards against
            props.put("ordersync.db.h2-commit", System.getProperty("ordersync.durable.h2-commit", "write"));
            process = new OrdersyncProcess("run" + run, tmp.resolve("logs"), props).start();
            List<ObjectNode> docs = new ArrayList<>();
            for (int i = 0; i < EVENTS; i++) {
                ObjectNode doc = template.deepCopy();
                ((ObjectNode) doc.path("order")).put("code", "R" + run + "E" + i);
                ((ObjectNode) doc.path("order")).put("email", "r" + run + "e" + i + "@example.org");
                docs.add(doc);
            }
            assertThat(EventPoster.postAll(process.url("/api/events"), docs)).containsOnly(202);
            process.kill();
            process.start();
            String why = "run " + run + " (logs in " + tmp.resolve("logs") + ")";
            int expected = EVENTS * run;
            await(why).atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                    .untilAsserted(() -> {
                        // the contact is an order's first object, its second ticket the last one
                        assertThat(target.objects("contacts")).as("%s: orders synced", why).hasSize(expected);
                        assertThat(target.objects("tickets")).as("%s: orders synced", why).hasSize(2 * expected);
                    });
            // a row the killed process had synced but whose outcome it had not stored comes back after its lease
            // and finds nothing to do (as in H2OutboxCrashTest): wait until the queue is empty (this assertion
            // failed once in a clean-clone CI run without the wait: 2 rows left, every order already at the target)
            await(why).atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
                    .until(() -> process.queueTotal() == 0);
            process.close();
            process = null;
            try (Connection c = DriverManager.getConnection("jdbc:h2:file:" + db.resolve("ordersync").toAbsolutePath(), "sa", "")) {
                assertThat(count(c, "SELECT COUNT(*) FROM order_snapshot")).as("%s: every accepted event known", why)
                        .isEqualTo(EVENTS);
                assertThat(count(c, "SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as(why).isEqualTo(EVENTS);
                assertThat(count(c, "SELECT COUNT(*) FROM sync_queue")).as("%s: nothing left to sync", why).isZero();
            }
            long creates = target.writes().stream()
                    .filter(r -> r.method().equals("POST") && r.path().equals("/contacts")).count();
            assertThat(creates).as("%s: each order synced once", why).isEqualTo(expected);
        }
    }

    private static long count(Connection c, String sql) throws Exception {
        try (ResultSet rs = c.createStatement().executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
