package io.ordersync.support;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;

/**
 * A PostgreSQL server on a data directory and port of the test's choosing, so that it can be stopped or killed and
 * started again on the same data (PostgresRestartTest, PostgresCrashTest), with a database {@code ordersync}.
 */
public final class PostgresOnDisk {

    private PostgresOnDisk() {
    }

    public static int freePort() {
        return Ports.free();
    }

    /**
     * Starts the server on {@code dataDir} (kept between starts). {@code flushed}: {@code fsync} and
     * {@code synchronous_commit} on, PostgreSQL's defaults (a later {@code -c fsync=on} wins over the {@code -F}
     * zonky passes); otherwise zonky's defaults, both off.
     */
    public static EmbeddedPostgres start(Path dataDir, int port, boolean flushed) throws Exception {
        EmbeddedPostgres.Builder b = EmbeddedPostgres.builder().setDataDirectory(dataDir).setCleanDataDirectory(false).setPort(port);
        if (flushed) {
            b.setServerConfig("fsync", "on").setServerConfig("synchronous_commit", "on");
        }
        return b.start();
    }

    /** Creates the database {@code ordersync}. */
    public static void createDatabase(EmbeddedPostgres pg) throws Exception {
        try (Connection c = pg.getPostgresDatabase().getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE ordersync");
        }
    }

    /** ordersync's settings for the database {@code ordersync} on {@code port}, and the test CRM's. */
    public static Map<String, String> settings(int port, FakeTarget target) {
        Map<String, String> props = new HashMap<>();
        props.put("ordersync.db.url", "jdbc:postgresql://localhost:" + port + "/ordersync");
        props.put("ordersync.db.user", "postgres");
        props.put("ordersync.db.password", "postgres");
        props.put("test.crm.url", target.url());
        props.put("test.crm.token", "s3cret");
        props.put("ordersync.queue.lease", "PT5S");
        props.put("ordersync.queue.reaper-period-ms", "500");
        return props;
    }
}
