package io.ordersync.support;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;

import static org.awaitility.Awaitility.await;

/**
 * Waits until sessions of a database wait for a lock, as the database itself reports it: a race test goes on when its
 * requests are where it holds them, not after a sleep a loaded machine (CI's three test JVMs on two cores) outlasts.
 */
public final class LockWaits {

    private LockWaits() {
    }

    /** Sessions of this database waiting for a lock now (H2 2.x and PostgreSQL). */
    public static long waiting(DataSource ds) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            String sql = c.getMetaData().getDatabaseProductName().equals("H2")
                    ? "SELECT COUNT(*) FROM INFORMATION_SCHEMA.SESSIONS WHERE BLOCKER_ID IS NOT NULL"
                    : "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
            try (ResultSet rs = s.executeQuery(sql)) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** Returns once at least {@code n} sessions wait for a lock (fails after 20 s). */
    public static void awaitWaiting(DataSource ds, int n) {
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> waiting(ds) >= n);
    }
}
