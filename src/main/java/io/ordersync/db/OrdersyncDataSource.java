package io.ordersync.db;

import com.zaxxer.hikari.HikariDataSource;

/**
 * ordersync's connection pool: a HikariCP pool that also knows what makes a commit durable. H2 keeps a
 * committed transaction in memory and writes it to its file up to a second later (MVStore's background
 * writer); {@link Tx#runDurable} runs {@link #durableCommitSql()} after its commit so that what was answered or
 * deleted upstream is in the file first.
 */
public final class OrdersyncDataSource extends HikariDataSource {

    private volatile String durableCommitSql;

    /** SQL run after every commit (H2's {@code CHECKPOINT}), or null when a commit is durable by itself. */
    public String durableCommitSql() {
        return durableCommitSql;
    }

    void setDurableCommitSql(String sql) {
        this.durableCommitSql = sql;
    }

    @Override
    public void close() {
        ClosedDatabaseEviction.POOLS.remove(this);
        super.close();
    }
}
