package io.ordersync.config;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import org.flywaydb.core.Flyway;

import java.util.Map;

/** Creates the connection pool and brings the schema up to date with Flyway. */
public final class Database {

    private Database() {
    }

    public static HikariDataSource open(OrdersyncSettings settings) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("ordersync");
        String url = settings.jdbcUrl;
        if (url.startsWith("jdbc:h2:") && !url.toUpperCase().contains("DB_CLOSE_ON_EXIT")) {
            // the pool closes the database after Camel's graceful shutdown, not H2's own JVM hook before it
            url = url + ";DB_CLOSE_ON_EXIT=FALSE";
        }
        config.setJdbcUrl(url);
        config.setUsername(settings.jdbcUser);
        config.setPassword(settings.jdbcPassword);
        config.setMaximumPoolSize(settings.poolSize);
        // while the database is down, work and the readiness check fail within this time instead of Hikari's 30 s
        config.setConnectionTimeout(settings.connectionTimeoutMs);
        // every repository method manages its own transaction explicitly
        config.setAutoCommit(true);
        HikariDataSource dataSource = new HikariDataSource(config);
        migrate(dataSource, settings.jdbcUrl);
        return dataSource;
    }

    /** The longest order document the database stores (H2's limit for an in-row string). */
    public static final int MAX_DOCUMENT_CHARS = 1_000_000;

    static void migrate(HikariDataSource dataSource, String jdbcUrl) {
        boolean postgres = jdbcUrl.startsWith("jdbc:postgresql:");
        Flyway.configure()
                .dataSource(dataSource)
                .locations("classpath:db/migration")
                // document: a whole order document; on H2 an in-row string (a CLOB goes through H2's LOB store,
                // which cost 6 % of the CPU of the end-to-end benchmark), as long as intake's size limit allows
                .placeholders(Map.of("text", postgres ? "TEXT" : "CLOB",
                        "document", postgres ? "TEXT" : "CHARACTER VARYING(" + MAX_DOCUMENT_CHARS + ")"))
                .load()
                .migrate();
    }
}
