package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.queue.Dispatcher;
import io.ordersync.queue.ProviderPresence;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Two processes started with one {@code ordersync.instance-id} (a deployment template with the id written in). Each
 * keeps its word about its providers apart from the other's and sees the other's, so neither drops the rows of a
 * provider only the other runs, nor takes in events without queuing them for it; the one that sees the other's
 * entries says in its log that the id is shared. Before, each deleted the other's entries at every refresh and took its
 * own id's entries for its own: of the 60 orders below, the 30 the instance without the file took in were never queued.
 */
class SharedInstanceIdTest extends AppTestSupport {

    private static final Duration TTL = Duration.ofSeconds(30);

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void twoProcessesWithOneIdKeepTheirEntriesApart(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            ProviderPresence first = new ProviderPresence(ds, "same", TTL);
            ProviderPresence second = new ProviderPresence(ds, "same", TTL);
            first.announce(Map.of("crm", "{\"triggers\":[\"order.paid\"]}"));
            pause();
            second.announce(Map.of("mail", "{\"triggers\":[\"order.placed\"]}"));
            pause();
            first.announce(Map.of("crm", "{\"triggers\":[\"order.paid\"]}"));

            assertThat(first.runElsewhere()).containsExactly("mail");
            assertThat(second.runElsewhere()).containsExactly("crm");
            assertThat(first.others().get(0).subscription()).isEqualTo("{\"triggers\":[\"order.placed\"]}");
            // the first saw the second refresh after it started; the second sees the first once it refreshed again
            assertThat(first.sharing()).isEqualTo(1);
            assertThat(second.sharing()).isZero();
            pause();
            second.announce(Map.of("mail", "{\"triggers\":[\"order.placed\"]}"));
            assertThat(second.sharing()).isEqualTo(1);
            assertThat(first.runElsewhere()).containsExactly("mail");

            // a graceful stop withdraws only its own entries
            second.withdraw();
            assertThat(first.runElsewhere()).isEmpty();
            assertThat(second.runElsewhere()).containsExactly("crm");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aRestartAfterACrashIsNotTakenForASecondProcess(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            ProviderPresence crashed = new ProviderPresence(ds, "solo", TTL);
            crashed.announce(Map.of("crm", "{}"));
            pause();
            // the next process with the id, started while the entries of the crashed one still live (no withdraw)
            ProviderPresence restarted = new ProviderPresence(ds, "solo", TTL);
            restarted.announce(Map.of("crm", "{}"));
            pause();
            restarted.announce(Map.of("crm", "{}"));
            assertThat(restarted.sharing()).isZero();
            // until they run out, the crashed process's entries count as another's (rows of its providers are left alone)
            assertThat(restarted.runElsewhere()).containsExactly("crm");
        }
    }

    @Test
    void anInstanceWithoutAProvidersFileLeavesItsRowsToTheOtherProcessWithItsId() throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
        target.randomFaults(0, 1.0, 20);
        Map<String, String> props = crmOn(Postgres.newDatabase());
        props.put("ordersync.instance-id", "ordersync");
        // the instance without the file looks for rows of providers it cannot run from 3 s after its start, every second
        props.put("ordersync.queue.presence-ttl", "PT3S");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        try (OrdersyncApp without = new OrdersyncApp(tmp.resolve("b"), Files.createDirectories(tmp.resolve("none")), props)
                .start()) {
            for (int i = 0; i < 60; i++) {
                ObjectNode doc = fixture("order-abc12");
                ((ObjectNode) doc.path("order")).put("code", "I" + i);
                ((ObjectNode) doc.path("order")).put("email", "i" + i + "@example.org");
                // half of them taken in by the instance without the file: queued as the other's word says
                OrdersyncApp to = i % 2 == 0 ? app : without;
                assertThat(to.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
                Thread.sleep(50);
            }
            await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'dropped'")).as("rows dropped").isZero();
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success'")).isEqualTo(60);
            assertThat(target.objects("contacts")).hasSize(60);
            // the instance without the file sees the other's entries refreshed since it started, and says so; the other
            // has nothing to see (an instance that runs no provider writes no entries)
            await().atMost(Duration.ofSeconds(10)).until(() -> presence(without).sharing() == 1);
            assertThat(presence(app).sharing()).isZero();
        }
    }

    private static ProviderPresence presence(OrdersyncApp instance) {
        return instance.context().getRegistry().lookupByNameAndType("ordersync.dispatcher", Dispatcher.class).presence();
    }

    private static void pause() throws InterruptedException {
        // the database's clock moves on between two announces (H2's CURRENT_TIMESTAMP has a resolution of 1 ms here)
        Thread.sleep(20);
    }
}
