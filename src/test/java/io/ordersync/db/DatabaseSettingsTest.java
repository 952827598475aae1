package io.ordersync.db;

import io.ordersync.config.OrdersyncSettings;
import com.zaxxer.hikari.HikariDataSource;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/** The H2 settings ordersync adds to a configured URL, and that a URL's own setting wins. */
class DatabaseSettingsTest {

    @Test
    void h2KeepsTheParsedFormOfEveryStatementOrdersyncUsesPerConnection() throws Exception {
        try (HikariDataSource ds = Database.open(settings(""))) {
            assertThat(setting(ds, "QUERY_CACHE_SIZE")).isEqualTo(String.valueOf(Database.H2_QUERY_CACHE_SIZE));
        }
    }

    @Test
    void aQueryCacheSizeInTheConfiguredUrlIsKept() throws Exception {
        try (HikariDataSource ds = Database.open(settings(";QUERY_CACHE_SIZE=3"))) {
            assertThat(setting(ds, "QUERY_CACHE_SIZE")).isEqualTo("3");
        }
    }

    /**
     * ordersync.db.h2-commit: write and sync need an H2 admin user, and a start with another user fails and says so
     * (README, Configuration); delayed opens with it; sync opens and commits with an admin.
     */
    @Test
    void durableCommitsNeedAnAdminUserAndSayWhy() throws Exception {
        Path dir = Files.createTempDirectory("ordersync-h2commit");
        String url = "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath();
        Properties admin = new Properties();
        admin.setProperty("ordersync.db.url", url);
        admin.setProperty("ordersync.db.h2-commit", "sync");
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(admin))) {
            Tx.runDurable(ds, c -> c.createStatement().executeUpdate("CREATE USER clerk PASSWORD 'clerk-pw-123'"));
            Tx.runDurable(ds, c -> c.createStatement().executeUpdate("GRANT ALL ON SCHEMA PUBLIC TO clerk"));
            int inserted = Tx.runDurable(ds, c -> c.createStatement().executeUpdate(
                    "INSERT INTO rejected_event (source, reason, payload, received_at) VALUES ('http', 'r', 'p', CURRENT_TIMESTAMP)"));
            assertThat(inserted).isEqualTo(1);
        }
        for (String mode : new String[]{"write", "sync"}) {
            Properties clerk = new Properties();
            clerk.setProperty("ordersync.db.url", url);
            clerk.setProperty("ordersync.db.user", "clerk");
            clerk.setProperty("ordersync.db.password", "clerk-pw-123");
            clerk.setProperty("ordersync.db.h2-commit", mode);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> Database.open(OrdersyncSettings.from(clerk)).close())
                    .as(mode).hasMessageContaining("H2 user 'clerk' may not run CHECKPOINT").hasMessageContaining("use an admin user")
                    .hasMessageContaining("ordersync.db.h2-commit=delayed");
        }
        Properties delayed = new Properties();
        delayed.setProperty("ordersync.db.url", url);
        delayed.setProperty("ordersync.db.user", "clerk");
        delayed.setProperty("ordersync.db.password", "clerk-pw-123");
        delayed.setProperty("ordersync.db.h2-commit", "delayed");
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(delayed))) {
            int rows = Tx.run(ds, c -> {
                try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM rejected_event")) {
                    rs.next();
                    return rs.getInt(1);
                }
            });
            assertThat(rows).isEqualTo(1);
        }
    }

    private static OrdersyncSettings settings(String urlSuffix) throws Exception {
        Path dir = Files.createTempDirectory("ordersync-dbsettings");
        Properties p = new Properties();
        p.setProperty("ordersync.db.url", "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath() + urlSuffix);
        return OrdersyncSettings.from(p);
    }

    private static String setting(HikariDataSource ds, String name) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT SETTING_VALUE FROM INFORMATION_SCHEMA.SETTINGS WHERE SETTING_NAME = '" + name + "'")) {
            return rs.next() ? rs.getString(1) : null;
        }
    }
}
