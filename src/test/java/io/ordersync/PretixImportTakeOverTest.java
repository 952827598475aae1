package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import io.ordersync.support.PretixTestServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Two instances on one PostgreSQL and an import whose pages take longer than {@code ordersync.pretix.lease}: the
 * second instance takes the import up while the first still reads a page, and both read it. The page is stored
 * once (the progress counts every order once), the import goes on from the right page, and every order is created
 * once at the target.
 */
class PretixImportTakeOverTest extends AppTestSupport {

    private static final int ORDERS = 300;

    private PretixTestServer pretix;

    @AfterEach
    void stopPretix() {
        if (pretix != null) {
            pretix.close();
        }
    }

    @Test
    void aPageReadByTwoInstancesAfterTheLeaseRanOutIsCountedOnce() throws Exception {
        pretix = PretixTestServer.start();
        pretix.addOrders("democon", "T", ORDERS - 1);
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
        Map<String, String> props = crmOn(Postgres.newDatabase());
        props.put("ordersync.pretix.url", pretix.url());
        props.put("ordersync.pretix.organizer", PretixTestServer.ORGANIZER);
        props.put("ordersync.pretix.token", PretixTestServer.TOKEN);
        props.put("ordersync.pretix.lease", "PT1S");
        props.put("ordersync.pretix.import-page-pause-ms", "0");
        props.put("ordersync.pretix.timeout-ms", "10000");
        props.put("ordersync.instance-id", "a");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        props.put("ordersync.instance-id", "b");
        try (OrdersyncApp other = new OrdersyncApp(tmp.resolve("b"), mappings, props).start()) {
            // every answer of pretix takes longer than the lease: the other instance's timer (every second) finds
            // the import free while a page is read
            pretix.slow(1500);
            assertThat(app.post("/api/sources/pretix/import", "{\"event\": \"democon\"}").statusCode()).isEqualTo(202);
            await().atMost(Duration.ofSeconds(120)).until(() -> "done".equals(
                    app.query("SELECT state FROM pretix_import").get(0).get("state")));
            pretix.slow(0);
            long pages = ORDERS / 50;
            assertThat(pretix.requestsTo("/orders/")).as("pages read by both instances (the case under test)")
                    .isGreaterThan(pages);
            JsonNode imp = JSON.readTree(other.get("/api/sources/pretix").body()).path("imports").path(0);
            assertThat(imp.path("total").asInt()).isEqualTo(ORDERS);
            assertThat(imp.path("done").asInt() + imp.path("unchanged").asInt()).as("every order counted once: " + imp)
                    .isEqualTo(ORDERS);
            assertThat(imp.path("next_page").asInt()).isEqualTo(pages + 1);
            assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isEqualTo(ORDERS);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("each order taken in once")
                    .isEqualTo(ORDERS);
            await().atMost(Duration.ofSeconds(120)).until(() -> target.objects("contacts").size() == ORDERS);
            await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            long creates = target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/contacts")).count();
            assertThat(creates).as("no order created twice").isEqualTo(ORDERS);
        }
    }
}
