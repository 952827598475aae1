package io.ordersync.bench;

import net.ttddyy.dsproxy.ConnectionInfo;
import net.ttddyy.dsproxy.ExecutionInfo;
import net.ttddyy.dsproxy.QueryInfo;
import net.ttddyy.dsproxy.listener.MethodExecutionContext;
import net.ttddyy.dsproxy.listener.MethodExecutionListener;
import net.ttddyy.dsproxy.listener.QueryExecutionListener;
import net.ttddyy.dsproxy.proxy.JdbcProxyFactory;
import net.ttddyy.dsproxy.proxy.ProxyConfig;

import java.sql.Connection;
import java.sql.Driver;
import java.sql.DriverManager;
import java.sql.DriverPropertyInfo;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Logger;

/**
 * Counts the SQL round trips and commits of every connection the JVM opens to H2 or PostgreSQL: a JDBC driver
 * registered in front of theirs wraps each connection in a datasource-proxy proxy. ordersync's pool (HikariCP
 * with a JDBC URL) asks {@link DriverManager} for a driver, so it connects through this one without a change to
 * ordersync. Statements of threads whose name starts with {@code main} (the benchmark driver's outbox inserts
 * and reads) are not counted.
 */
final class SqlCounter implements Driver {

    /** Round trips: a statement executed, a whole JDBC batch, or a savepoint set, released or rolled back to. */
    final LongAdder roundTrips = new LongAdder();
    /** Statements, a batch counted by its entries. */
    final LongAdder statements = new LongAdder();
    final LongAdder selects = new LongAdder();
    final LongAdder writes = new LongAdder();
    /** Transactions ended: explicit commits, plus statements run with auto-commit on. */
    final LongAdder commits = new LongAdder();

    /** Round trips by statement (its first 70 characters, spaces folded). */
    final java.util.concurrent.ConcurrentHashMap<String, LongAdder> bySql = new java.util.concurrent.ConcurrentHashMap<>();

    private final List<Driver> delegates = new ArrayList<>();
    private final ProxyConfig config;

    private SqlCounter() {
        config = ProxyConfig.Builder.create()
                .queryListener(new QueryExecutionListener() {
                    @Override
                    public void beforeQuery(ExecutionInfo info, List<QueryInfo> queries) {
                    }

                    @Override
                    public void afterQuery(ExecutionInfo info, List<QueryInfo> queries) {
                        if (Thread.currentThread().getName().startsWith("main")) {
                            return;
                        }
                        roundTrips.increment();
                        String key = queries.isEmpty() ? "?" : queries.get(0).getQuery().replaceAll("\\s+", " ").strip();
                        bySql.computeIfAbsent(key.substring(0, Math.min(70, key.length())) + (info.isBatch() ? " [batch]" : ""),
                                k -> new LongAdder()).increment();
                        for (QueryInfo q : queries) {
                            int n = Math.max(1, q.getParametersList().size());
                            statements.add(n);
                            String sql = q.getQuery().stripLeading().toUpperCase(Locale.ROOT);
                            (sql.startsWith("SELECT") || sql.startsWith("WITH") ? selects : writes).add(n);
                        }
                        try {
                            if (info.getStatement().getConnection().getAutoCommit()) {
                                commits.increment();
                            }
                        } catch (SQLException ignored) {
                            // a closed statement: not a commit of ours to count
                        }
                    }
                })
                .methodListener(new MethodExecutionListener() {
                    @Override
                    public void beforeMethod(MethodExecutionContext ctx) {
                    }

                    @Override
                    public void afterMethod(MethodExecutionContext ctx) {
                        if (!(ctx.getTarget() instanceof Connection) || Thread.currentThread().getName().startsWith("main")) {
                            return;
                        }
                        String m = ctx.getMethod().getName();
                        if ("commit".equals(m)) {
                            commits.increment();
                        } else if ("setSavepoint".equals(m) || "releaseSavepoint".equals(m)
                                || ("rollback".equals(m) && ctx.getMethod().getParameterCount() == 1)) {
                            // a statement of its own on PostgreSQL (SAVEPOINT, RELEASE, ROLLBACK TO): a round trip
                            roundTrips.increment();
                            bySql.computeIfAbsent("(" + m + ")", k -> new LongAdder()).increment();
                        }
                    }
                })
                .build();
    }

    /** Puts a counter in front of every registered driver; from now on new connections are counted. */
    static SqlCounter install() throws SQLException {
        SqlCounter counter = new SqlCounter();
        // load both drivers before they are taken out of DriverManager
        try {
            Class.forName("org.h2.Driver");
            Class.forName("org.postgresql.Driver");
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException(e);
        }
        for (Driver d : Collections.list(DriverManager.getDrivers())) {
            counter.delegates.add(d);
            DriverManager.deregisterDriver(d);
        }
        DriverManager.registerDriver(counter);
        return counter;
    }

    /** Counters as they are now. */
    long[] snapshot() {
        return new long[]{roundTrips.sum(), statements.sum(), selects.sum(), writes.sum(), commits.sum()};
    }

    /** The difference since {@code before}, per order, as one line. */
    String perOrder(long[] before, int orders) {
        long[] now = snapshot();
        double[] d = new double[now.length];
        for (int i = 0; i < now.length; i++) {
            d[i] = (now[i] - before[i]) / (double) orders;
        }
        return String.format(Locale.ROOT, "%.1f round trips (%.1f statements: %.1f reads, %.1f writes), %.2f commits",
                d[0], d[1], d[2], d[3], d[4]);
    }

    /** Round trips per order by statement since the last call, most frequent first. */
    String breakdown(int orders) {
        StringBuilder out = new StringBuilder();
        bySql.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue().sum(), a.getValue().sum()))
                .filter(e -> e.getValue().sum() >= orders / 20)
                .forEach(e -> out.append(String.format(Locale.ROOT, "  %6.2f  %s%n", e.getValue().sum() / (double) orders, e.getKey())));
        return out.toString();
    }

    /** Forgets the per-statement counts (before the measured orders). */
    void resetBreakdown() {
        bySql.clear();
    }

    private Driver delegate(String url) throws SQLException {
        for (Driver d : delegates) {
            if (d.acceptsURL(url)) {
                return d;
            }
        }
        return null;
    }

    @Override
    public Connection connect(String url, Properties info) throws SQLException {
        Driver d = delegate(url);
        if (d == null) {
            return null;
        }
        Connection c = d.connect(url, info);
        ConnectionInfo ci = new ConnectionInfo();
        ci.setConnectionId(Integer.toHexString(System.identityHashCode(c)));
        return JdbcProxyFactory.DEFAULT.createConnection(c, ci, config);
    }

    @Override
    public boolean acceptsURL(String url) throws SQLException {
        return delegate(url) != null;
    }

    @Override
    public DriverPropertyInfo[] getPropertyInfo(String url, Properties info) throws SQLException {
        Driver d = delegate(url);
        return d == null ? new DriverPropertyInfo[0] : d.getPropertyInfo(url, info);
    }

    @Override
    public int getMajorVersion() {
        return 1;
    }

    @Override
    public int getMinorVersion() {
        return 0;
    }

    @Override
    public boolean jdbcCompliant() {
        return false;
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        throw new SQLFeatureNotSupportedException();
    }
}
