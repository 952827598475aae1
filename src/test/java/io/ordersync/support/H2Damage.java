package io.ordersync.support;

import io.ordersync.db.H2Recovery;

import java.sql.Connection;
import java.sql.DriverManager;
import java.util.concurrent.Callable;

/**
 * What an operator does when a kill has left H2 2.3.232's file unreadable (about one kill in twenty, RELIABILITY.md
 * "H2 after a crash"): {@code ./ordersync recover-db}, then the step again. For the kill tests of the default setup.
 */
public final class H2Damage {

    private final String url;
    private int rebuilt;

    /** {@code url}: the database's JDBC URL without options (user {@code sa}, no password). */
    public H2Damage(String url) {
        this.url = url;
    }

    /**
     * Runs {@code step}; when it failed because H2 cannot open its file any more, rebuilds the database as the
     * operator would and runs the step again. No process holds the file then: the step's own connection failed, or
     * the started process exited.
     */
    public <T> T surviving(String step, Callable<T> action) throws Exception {
        try {
            return action.call();
        } catch (Exception e) {
            if (!damaged()) {
                throw e;
            }
            H2Recovery.Result r = H2Recovery.recover(url, "sa", "", false, java.time.Clock.systemUTC());
            rebuilt++;
            System.out.printf("H2 file damaged, found at %s; rebuilt by recover-db: %s%n", step, r.counts());
            return action.call();
        }
    }

    /** How many times the file was rebuilt. */
    public int rebuilt() {
        return rebuilt;
    }

    private boolean damaged() {
        try (Connection c = DriverManager.getConnection(url + ";IFEXISTS=TRUE", "sa", "")) {
            return false;
        } catch (java.sql.SQLException e) {
            return H2Recovery.isDamage(e);
        }
    }
}
