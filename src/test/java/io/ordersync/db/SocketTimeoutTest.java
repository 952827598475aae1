package io.ordersync.db;

import io.ordersync.config.OrdersyncSettings;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code ordersync.db.socket-timeout} on a real PostgreSQL: a statement whose answer takes longer is given up as the
 * database being out of reach (what a server gone without a word looks like; DatabasePathCutTest has that), the
 * migrations' connections are exempt, and the pool puts the timeout back when such a connection is returned.
 */
class SocketTimeoutTest {

    private static void sleep(Connection c, double seconds) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("SELECT pg_sleep(" + seconds + ")");
        }
    }

    @Test
    void aStatementLongerThanTheTimeoutFailsAsAnOutageExceptOnTheMigrationsConnections() throws Exception {
        Properties p = Postgres.newDatabase();
        p.setProperty("ordersync.db.socket-timeout", "PT1S");
        p.setProperty("ordersync.db.pool-size", "2");
        try (OrdersyncDataSource ds = Database.open(OrdersyncSettings.from(p))) {
            try (Connection c = ds.getConnection()) {
                sleep(c, 0.2);
            }
            try (Connection c = ds.getConnection()) {
                assertThatThrownBy(() -> sleep(c, 2.5))
                        .isInstanceOf(SQLException.class)
                        .satisfies(e -> assertThat(Tx.isDatabaseUnavailable(e)).as("counts as the database out of reach").isTrue());
            }
            Database.WithoutSocketTimeout migrations = new Database.WithoutSocketTimeout(ds);
            for (int i = 0; i < 2; i++) {
                try (Connection c = migrations.getConnection()) {
                    sleep(c, 2.5);
                }
            }
            // every connection of the pool (two) has its timeout back once the migrations returned it
            try (Connection a = ds.getConnection(); Connection b = ds.getConnection()) {
                for (Connection c : new Connection[]{a, b}) {
                    assertThatThrownBy(() -> sleep(c, 2.5)).isInstanceOf(SQLException.class);
                }
            }
        }
    }

    @Test
    void zeroLeavesItToTheOperatingSystemAndAUrlThatSetsItKeepsItsOwn() throws Exception {
        Properties p = Postgres.newDatabase();
        p.setProperty("ordersync.db.socket-timeout", "PT0S");
        try (OrdersyncDataSource ds = Database.open(OrdersyncSettings.from(p)); Connection c = ds.getConnection()) {
            sleep(c, 2.5);
        }
        Properties own = Postgres.newDatabase();
        own.setProperty("ordersync.db.url", own.getProperty("ordersync.db.url") + "?socketTimeout=5");
        own.setProperty("ordersync.db.socket-timeout", "PT1S");
        try (OrdersyncDataSource ds = Database.open(OrdersyncSettings.from(own)); Connection c = ds.getConnection()) {
            sleep(c, 2.5);
            assertThat(c.getNetworkTimeout()).isEqualTo(5000);
        }
    }
}
