package io.ordersync.db;

import com.zaxxer.hikari.SQLExceptionOverride;

import java.sql.SQLException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The pool's answer to H2 closing its database under it: H2 closes the store after an error it cannot go on from
 * (an OutOfMemoryError while it writes its file, a broken file) and every statement of every open connection then
 * fails with "The database has been closed" (90098) or "Database is already closed" (90121). Hikari kept those
 * connections, so work failed on them until their lifetime ran out (found by a review; {@code H2ClosedTest}). Such an
 * error now evicts its connection and every idle one of the pool; a new connection opens the database again from its
 * file, as after a crash.
 */
public final class ClosedDatabaseEviction implements SQLExceptionOverride {

    /** H2's error codes for a database that is closed (ErrorCode.DATABASE_IS_CLOSED, DATABASE_CALLED_AT_SHUTDOWN). */
    static final Set<Integer> CLOSED = Set.of(90098, 90121);

    /** The pools this override serves (Hikari creates it by class name, without the pool). */
    static final Set<OrdersyncDataSource> POOLS = ConcurrentHashMap.newKeySet();

    @java.lang.Override
    public SQLExceptionOverride.Override adjudicate(SQLException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException sql && CLOSED.contains(sql.getErrorCode())) {
                for (OrdersyncDataSource pool : POOLS) {
                    if (pool.getHikariPoolMXBean() != null) {
                        pool.getHikariPoolMXBean().softEvictConnections();
                    }
                }
                return SQLExceptionOverride.Override.MUST_EVICT;
            }
        }
        return SQLExceptionOverride.Override.CONTINUE_EVICT;
    }

    /** Whether {@code e} says that the database was closed under the connection (H2). */
    public static boolean isClosedDatabase(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException sql && CLOSED.contains(sql.getErrorCode())) {
                return true;
            }
        }
        return false;
    }
}
