package io.ordersync.db;

import io.ordersync.config.OrdersyncSettings;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The read-only check that readiness runs on every probe, and the start once, leaves nothing on the pooled connection:
 * on H2 a statement's query timeout is the session's, so its 2 s applied to every later statement on that connection,
 * a purge's long delete among them (found by an attack on the check; this test failed with the timeout set on H2).
 */
class ReadOnlyCheckTest {

    @Test
    void theCheckLeavesNoTimeoutOnAnH2Connection() throws Exception {
        Properties p = new Properties();
        p.setProperty("ordersync.db.url", "jdbc:h2:file:" + Files.createTempDirectory("ordersync-rocheck").resolve("db").toAbsolutePath());
        p.setProperty("ordersync.db.pool-size", "2");
        try (OrdersyncDataSource ds = Database.open(OrdersyncSettings.from(p))) {
            // both of the pool's connections checked, as readiness does over time
            try (Connection c1 = ds.getConnection(); Connection c2 = ds.getConnection()) {
                assertThat(Database.isReadOnly(c1)).isFalse();
                assertThat(Database.isReadOnly(c2)).isFalse();
            }
            // a new statement on either has no timeout (H2 reads it from the session)
            try (Connection c1 = ds.getConnection(); Connection c2 = ds.getConnection();
                 Statement s1 = c1.createStatement(); Statement s2 = c2.createStatement()) {
                assertThat(s1.getQueryTimeout()).isZero();
                assertThat(s2.getQueryTimeout()).isZero();
            }
        }
    }
}
