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
