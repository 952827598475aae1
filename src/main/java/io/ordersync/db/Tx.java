package io.ordersync.db;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;

/** Runs work in one JDBC transaction: commit when it returns, roll back when it throws. */
public final class Tx {

    /** Work that needs a connection. */
    @FunctionalInterface
    public interface Work<T> {
        T run(Connection c) throws Exception;
    }

    private Tx() {
    }

    /**
     * Runs the work in one transaction. On PostgreSQL the commit is durable; on H2 it reaches the database file
     * within about a second (H2's store writer): for work whose loss in a crash the queue repairs by itself
     * (claims, outcomes: an order synced again is an idempotent upsert) and for reads.
     */
    public static <T> T run(DataSource ds, Work<T> work) {
        return run(ds, work, false);
    }

    /**
     * Runs the work in one transaction whose commit is on disk when this returns, on H2 too: for what ordersync
     * answers or acknowledges to someone else (an accepted event's 202, an outbox row's delete, a JMS
     * acknowledgement, an operator's retry or cancel).
     */
    public static <T> T runDurable(DataSource ds, Work<T> work) {
        return run(ds, work, true);
    }

    private static <T> T run(DataSource ds, Work<T> work, boolean durable) {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            try {
                T result = work.run(c);
                c.commit();
                if (durable && ds instanceof OrdersyncDataSource o && o.durableCommitSql() != null) {
                    // H2: the commit is only in memory until its store writes it; write it now, before the
                    // caller answers 202 or deletes the event upstream (a killed process loses nothing)
                    try (java.sql.Statement s = c.createStatement()) {
                        s.execute(o.durableCommitSql());
                    }
                }
                return result;
            } catch (Exception e) {
                // a connection that broke (the server crashed, a failover) is closed by the pool by now, and its
                // rollback fails: that failure goes with the cause, it must not replace it (the cause says
                // "database unavailable"; "Connection is closed" says nothing, and the sync was parked for it)
                try {
                    c.rollback();
                } catch (SQLException rollbackFailed) {
                    e.addSuppressed(rollbackFailed);
                }
                throw e instanceof RuntimeException re ? re : new TxException(e);
            } catch (Error e) {
                // rolled back here: setAutoCommit(true) below would otherwise commit the half-done work
                try {
                    c.rollback();
                } catch (SQLException rollbackFailed) {
                    e.addSuppressed(rollbackFailed);
                }
                throw e;
            } finally {
                resetAutoCommit(c);
            }
        } catch (SQLException e) {
            throw new TxException(e);
        }
    }

    /**
     * Auto-commit back on before the connection goes back to the pool. On a broken connection it fails; nothing is
     * left to reset then, and the failure must not replace what the transaction threw or returned (the pool drops a
     * broken connection, and resets auto-commit itself on one it keeps).
     */
    private static void resetAutoCommit(Connection c) {
        try {
            c.setAutoCommit(true);
        } catch (SQLException brokenConnection) {
            // see above
        }
    }

    /** Tries of a transaction that lost a race against a concurrent one ({@link #runRetrying}). */
    static final int CONFLICT_ATTEMPTS = 6;

    /**
     * Like {@link #runDurable}, but a transaction that lost a race (a unique key another transaction inserted first,
     * a serialization failure, a deadlock, H2's concurrent update or lock timeout) is rolled back and run
     * again, up to {@value #CONFLICT_ATTEMPTS} times with a short random pause: two first documents of one
     * order, or two instances accepting one order, both succeed.
     */
    public static <T> T runRetrying(DataSource ds, Work<T> work) {
        return runRetrying(ds, true, work);
    }

    /** As {@link #runRetrying(DataSource, Work)}; {@code durable} false commits as {@link #run} does. */
    public static <T> T runRetrying(DataSource ds, boolean durable, Work<T> work) {
        for (int attempt = 1; ; attempt++) {
            try {
                return run(ds, work, durable);
            } catch (RuntimeException e) {
                if (attempt >= CONFLICT_ATTEMPTS || !isConflict(e)) {
                    throw e;
                }
                try {
                    Thread.sleep(java.util.concurrent.ThreadLocalRandom.current().nextLong(1, 5L << attempt));
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    /**
     * Whether a transaction failed only because a concurrent one got there first: unique violation (23505),
     * serialization failure (40001), deadlock (40P01), H2's concurrent update (90131) or lock timeout (HYT00).
     */
    public static boolean isConflict(Throwable e) {
        while (e != null) {
            if (e instanceof SQLException sql && sql.getSQLState() != null) {
                switch (sql.getSQLState()) {
                    case "23505", "40001", "40P01", "90131", "HYT00":
                        return true;
                    default:
                        break;
                }
            }
            e = e.getCause();
        }
        return false;
    }

    /**
     * Whether a statement failed for the data it carried (SQLState class 22: a value too long, out of range,
     * not convertible) or a constraint (class 23): the same data fails again, so it is not an outage.
     */
    public static boolean isDataError(Throwable e) {
        while (e != null) {
            if (e instanceof SQLException sql && sql.getSQLState() != null
                    && (sql.getSQLState().startsWith("22") || sql.getSQLState().startsWith("23"))) {
                return true;
            }
            e = e.getCause();
        }
        return false;
    }

    /**
     * Whether the database could not be reached or the connection broke (SQL state class 08, a server
     * shutdown 57P, or a transient/recoverable SQLException such as the pool's connection timeout), or it takes no
     * writes for now: read-only (PostgreSQL's 25006, a standby after a failover or default_transaction_read_only;
     * H2's 90097) or out of resources (class 53: disk full, out of memory, too many connections). Unlike a failing
     * statement, this passes by itself, or by an operator's hand, not by the document's: before, a read-only database
     * was taken for a bad document (the outbox offered each row to the rejected events, which failed too, in a tight
     * loop; a success whose commit was refused was parked as internal; found by a review).
     */
    public static boolean isDatabaseUnavailable(Throwable e) {
        while (e != null) {
            if (e instanceof java.sql.SQLTransientException || e instanceof java.sql.SQLRecoverableException
                    || e instanceof java.sql.SQLNonTransientConnectionException) {
                return true;
            }
            if (e instanceof java.sql.SQLException sql && sql.getSQLState() != null
                    && (sql.getSQLState().startsWith("08") || sql.getSQLState().startsWith("57P") || sql.getSQLState().equals("25006")
                    || sql.getSQLState().startsWith("53") || sql.getSQLState().equals("90097"))) {
                return true;
            }
            e = e.getCause();
        }
        return false;
    }

    /** True for a unique-key or other integrity violation (SQLState class 23), on H2 and PostgreSQL. */
    public static boolean isConstraintViolation(Throwable e) {
        while (e != null) {
            if (e instanceof SQLException sql && sql.getSQLState() != null && sql.getSQLState().startsWith("23")) {
                return true;
            }
            e = e.getCause();
        }
        return false;
    }

    /** A checked exception escaping a transaction. */
    public static final class TxException extends RuntimeException {
        public TxException(Exception cause) {
            super(cause.getMessage(), cause);
        }
    }
}
