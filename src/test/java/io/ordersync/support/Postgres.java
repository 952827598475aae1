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
            server = EmbeddedPostgres.builder().setPort(Ports.free()).start();
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

    /** The rows PostgreSQL's planner expects to find waiting in the queue (its estimate, from EXPLAIN). */
    public static long plannedWaitingRows(Statement s) throws java.sql.SQLException {
        try (java.sql.ResultSet rs = s.executeQuery("EXPLAIN SELECT id FROM sync_queue WHERE slot = 'waiting'")) {
            if (!rs.next()) {
                throw new IllegalStateException("EXPLAIN returned no plan");
            }
            java.util.regex.Matcher m = java.util.regex.Pattern.compile(" rows=(\\d+) ").matcher(rs.getString(1));
            if (!m.find()) {
                throw new IllegalStateException("no row estimate in " + rs.getString(1));
            }
            return Long.parseLong(m.group(1));
        }
    }

    /**
     * Lets this connection's write counts go to the statistics collector: PostgreSQL 14 sends a backend's counts when
     * it goes idle, at most every 0.5 s, and not later, so a statement once the half second is past sends them.
     */
    public static void reportStatistics(Statement s) throws java.sql.SQLException {
        s.execute("SELECT 1");
    }
}
