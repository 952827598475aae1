package io.ordersync.config;

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

    public static <T> T run(DataSource ds, Work<T> work) {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            try {
                T result = work.run(c);
                c.commit();
                if (ds instanceof OrdersyncDataSource o && o.durableCommitSql() != null) {
                    // H2: the commit is only in memory until its store writes it; write it now, before the
                    // caller answers 202 or deletes the event upstream (a killed process loses nothing)
                    try (java.sql.Statement s = c.createStatement()) {
                        s.execute(o.durableCommitSql());
                    }
                }
                return result;
            } catch (Exception e) {
                c.rollback();
                throw e instanceof RuntimeException re ? re : new TxException(e);
            } finally {
                c.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw new TxException(e);
        }
    }

    /** Whether the database failed (unreachable, connection lost): an SQLException anywhere in the causes. */
    public static boolean isDatabaseFailure(Throwable e) {
        while (e != null) {
            if (e instanceof java.sql.SQLException) {
                return true;
            }
            e = e.getCause();
        }
        return false;
    }

    /**
     * Whether the database could not be reached or the connection broke (SQL state class 08, a server
     * shutdown 57P, or a transient/recoverable SQLException such as the pool's connection timeout); unlike
     * a failing statement, this passes by itself.
     */
    public static boolean isDatabaseUnavailable(Throwable e) {
        while (e != null) {
            if (e instanceof java.sql.SQLTransientException || e instanceof java.sql.SQLRecoverableException
                    || e instanceof java.sql.SQLNonTransientConnectionException) {
                return true;
            }
            if (e instanceof java.sql.SQLException sql && sql.getSQLState() != null
                    && (sql.getSQLState().startsWith("08") || sql.getSQLState().startsWith("57P"))) {
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
