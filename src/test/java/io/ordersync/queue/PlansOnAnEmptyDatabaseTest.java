package io.ordersync.queue;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.Properties;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * H2 plans a prepared statement once per connection, when it is first prepared, and keeps that plan: on a new
 * database the table is empty then. The statements that find queue rows by id or by order must take the primary
 * key or the order's unique key on an empty table too, not an index that starts with {@code slot} (which made
 * each enqueue scan every waiting row: BENCHMARKS.md, issue 18).
 */
class PlansOnAnEmptyDatabaseTest {

    static Stream<String[]> statements() {
        String primary = "PRIMARY_KEY";
        String order = "SYNC_QUEUE_SLOT_INDEX";
        return Stream.of(
                new String[]{"enqueue's update", SyncQueue.ENQUEUE_UPDATE, order},
                new String[]{"enqueue's id", SyncQueue.WAITING_ID, order},
                new String[]{"a failure's waiting sibling", SyncQueue.WAITING_SIBLING, order},
                new String[]{"claim", SyncQueue.MARK_IN_FLIGHT, primary},
                new String[]{"retry", SyncQueue.RETRY, primary},
                new String[]{"cancel", SyncQueue.CANCEL, primary},
                new String[]{"complete", "DELETE FROM sync_queue WHERE id = ? AND claim_token = ?", primary},
                new String[]{"erase", io.ordersync.order.Retention.ERASE_WAITING, order},
                // the events and providers with waiting rows, probed one value at a time from their index
                new String[]{"first waiting event", SyncQueue.firstWaiting("event_slug"), "SYNC_QUEUE_EVENT_DUE"},
                new String[]{"next waiting event", SyncQueue.nextWaiting("event_slug"), "SYNC_QUEUE_EVENT_DUE"},
                new String[]{"first waiting provider", SyncQueue.firstWaiting("provider"), "SYNC_QUEUE_PROVIDER"},
                new String[]{"next waiting provider", SyncQueue.nextWaiting("provider"), "SYNC_QUEUE_PROVIDER"},
                // the in-flight rows (a few per worker) through an index that starts with slot, not the whole queue
                new String[]{"expired leases", SyncQueue.EXPIRED, "SYNC_QUEUE_PROVIDER"});
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("statements")
    void aStatementThatFindsRowsByKeyUsesTheKeyOnAnEmptyTable(String what, String sql, String index) throws Exception {
        Properties p = new Properties();
        p.setProperty("ordersync.db.url", "jdbc:h2:file:" + Files.createTempDirectory("ordersync-plans").resolve("db").toAbsolutePath());
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(p)); Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement("EXPLAIN " + sql)) {
            for (int i = 1; i <= ps.getParameterMetaData().getParameterCount(); i++) {
                ps.setObject(i, null);
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                String plan = rs.getString(1);
                // the index H2 reads is named in the comment after the table
                assertThat(plan.substring(plan.indexOf("/*"), plan.indexOf("*/"))).as(plan).contains("PUBLIC." + index);
            }
        }
    }
}
