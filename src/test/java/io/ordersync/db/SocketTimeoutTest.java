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

    private static String statementTimeout(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); java.sql.ResultSet rs = s.executeQuery("SHOW statement_timeout")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /**
     * Found by a review: a statement the client gave up on still ran on the server. One waiting on a lock that a
     * dead peer's transaction holds waited as long as the lock was held (kept alive by the server, up to the
     * kernel's keepalive: hours), and each retry left one more. The server now gives it up 5 s after the client.
     */
    @Test
    void aStatementGivenUpByTheClientIsGivenUpByTheServerToo() throws Exception {
        Properties p = Postgres.newDatabase();
        p.setProperty("ordersync.db.socket-timeout", "PT1S");
        p.setProperty("ordersync.db.pool-size", "2");
        String url = p.getProperty("ordersync.db.url");
        try (OrdersyncDataSource ds = Database.open(OrdersyncSettings.from(p));
             Connection holder = java.sql.DriverManager.getConnection(url, "postgres", "postgres");
             Connection observer = java.sql.DriverManager.getConnection(url, "postgres", "postgres")) {
            try (Connection c = ds.getConnection()) {
                assertThat(statementTimeout(c)).isEqualTo("6s");
                try (Statement s = c.createStatement()) {
                    s.execute("CREATE TABLE held (id INT)");
                }
            }
            // a peer's transaction holds the lock and never ends (its host gone without a word)
            holder.setAutoCommit(false);
            try (Statement s = holder.createStatement()) {
                s.execute("LOCK TABLE held IN ACCESS EXCLUSIVE MODE");
            }
            long start = System.nanoTime();
            try (Connection c = ds.getConnection()) {
                assertThatThrownBy(() -> {
                    try (Statement s = c.createStatement()) {
                        s.execute("SELECT COUNT(*) FROM held");
                    }
                }).isInstanceOf(SQLException.class).satisfies(e -> assertThat(Tx.isDatabaseUnavailable(e)).isTrue());
            }
            // the server's backend of the given-up statement: still waiting on the lock, then gone
            java.util.function.LongSupplier waiting = () -> {
                try (Statement s = observer.createStatement(); java.sql.ResultSet rs = s.executeQuery(
                        "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM held%'")) {
                    rs.next();
                    return rs.getLong(1);
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            };
            assertThat(waiting.getAsLong()).as("the client gave up, the server not yet").isEqualTo(1);
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(15)).until(() -> waiting.getAsLong() == 0);
            assertThat((System.nanoTime() - start) / 1_000_000).as("given up by the server after its statement timeout")
                    .isBetween(5_500L, 12_000L);
            holder.rollback();

            // the migrations' connections run without it, and the pool's connections have it again afterwards
            Database.WithoutSocketTimeout migrations = new Database.WithoutSocketTimeout(ds);
            for (int i = 0; i < 2; i++) {
                try (Connection c = migrations.getConnection()) {
                    assertThat(statementTimeout(c)).isEqualTo("0");
                }
            }
            try (Connection a = ds.getConnection(); Connection b = ds.getConnection()) {
                assertThat(statementTimeout(a)).isEqualTo("6s");
                assertThat(statementTimeout(b)).isEqualTo("6s");
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
