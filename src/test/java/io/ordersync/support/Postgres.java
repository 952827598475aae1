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

    /**
     * Runs {@code vacuum} once the statistics view counts at least {@code inserts} inserts and {@code deletes} deletes of
     * {@code table}, and returns once it counts the vacuum too. PostgreSQL 14's statistics collector takes a backend's
     * counts by message, sent when it goes idle and at most every 0.5 s, while a vacuum sends its live-row count
     * (absolute) at once: a delete's count still pending at the vacuum is subtracted after it (100 rows, 99 deleted, a
     * vacuum, 2 000 inserted: 1 902 live rows counted, not 2 002; seen in CI, and reproduced by a delete right after
     * the insert's count went).
     */
    public static void vacuumCounted(Statement s, String vacuum, String table, long inserts, long deletes) throws java.sql.SQLException {
        java.time.Duration statistics = java.time.Duration.ofSeconds(60);
        org.awaitility.Awaitility.await().atMost(statistics).untilAsserted(() -> {
            reportStatistics(s);
            org.assertj.core.api.Assertions.assertThat(statistic(s, "n_tup_ins", table)).as("inserts counted").isGreaterThanOrEqualTo(inserts);
            org.assertj.core.api.Assertions.assertThat(statistic(s, "n_tup_del", table)).as("deletes counted").isGreaterThanOrEqualTo(deletes);
        });
        long vacuums = statistic(s, "vacuum_count", table);
        s.execute(vacuum);
        org.awaitility.Awaitility.await().atMost(statistics).untilAsserted(() -> org.assertj.core.api.Assertions
                .assertThat(statistic(s, "vacuum_count", table)).as("vacuums counted").isGreaterThan(vacuums));
    }

    /** A column of {@code table}'s row in pg_stat_user_tables, read in a transaction of its own (autocommit). */
    private static long statistic(Statement s, String column, String table) throws java.sql.SQLException {
        try (java.sql.ResultSet rs = s.executeQuery("SELECT " + column + " FROM pg_stat_user_tables WHERE relname = '" + table + "'")) {
            if (!rs.next()) {
                throw new IllegalStateException("no statistics for " + table);
            }
            return rs.getLong(1);
        }
    }
}
