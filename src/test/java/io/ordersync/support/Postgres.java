package io.ordersync.support;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.sql.Connection;
import java.sql.Statement;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;

/** One real PostgreSQL server (zonky embedded, binaries from Maven Central) for the test run; a new database per test. */
public final class Postgres {

    private static EmbeddedPostgres server;
    private static final AtomicInteger DATABASES = new AtomicInteger();

    private Postgres() {
    }

    private static synchronized EmbeddedPostgres server() throws Exception {
        if (server == null) {
            server = EmbeddedPostgres.builder().start();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    server.close();
                } catch (Exception e) {
                    // the JVM is ending anyway
                }
            }));
        }
        return server;
    }

    /** Creates an empty database and returns the ordersync.db.* settings for it. */
    public static Properties newDatabase() throws Exception {
        return newDatabase(server(), "ordersync_" + DATABASES.incrementAndGet());
    }

    /** Creates the empty database {@code name} on {@code pg} and returns the ordersync.db.* settings for it. */
    public static Properties newDatabase(EmbeddedPostgres pg, String name) throws Exception {
        try (Connection c = pg.getPostgresDatabase().getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        }
        Properties p = new Properties();
        p.setProperty("ordersync.db.url", "jdbc:postgresql://localhost:" + pg.getPort() + "/" + name);
        p.setProperty("ordersync.db.user", "postgres");
        p.setProperty("ordersync.db.password", "postgres");
        return p;
    }

    /**
     * The ordersync.db.* settings of a new, empty database: {@code "postgresql"} for one on the embedded server,
     * anything else for an H2 file in a new temporary directory.
     */
    public static Properties newDatabase(String db) throws Exception {
        if (db.equals("postgresql")) {
            return newDatabase();
        }
        Properties p = new Properties();
        p.setProperty("ordersync.db.url", "jdbc:h2:file:" + java.nio.file.Files.createTempDirectory("ordersync-db").resolve("db")
                .toAbsolutePath());
        return p;
    }
}
