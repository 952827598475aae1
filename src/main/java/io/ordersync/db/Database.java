package io.ordersync.db;

import io.ordersync.config.OrdersyncSettings;
import com.zaxxer.hikari.HikariConfig;
import org.flywaydb.core.Flyway;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/** Creates the connection pool and brings the schema up to date with Flyway. */
public final class Database {

    private Database() {
    }

    /** The pool with the schema brought up to date; returns once the migrations have run. */
    public static OrdersyncDataSource open(OrdersyncSettings settings) {
        OrdersyncDataSource dataSource = new OrdersyncDataSource();
        config(settings).copyStateTo(dataSource);
        dataSource.setDurableCommitSql(durableCommitSql(settings));
        if (settings.jdbcUrl.startsWith("jdbc:h2:")) {
            ClosedDatabaseEviction.POOLS.add(dataSource);
        }
        migrate(dataSource, settings);
        return dataSource;
    }

    /**
     * The pool at once, and the migrations on a thread of their own: the pool connects on first use, so
     * opening the database and running Flyway (about a third of start-up) overlap with Camel loading the
     * routes. The caller waits for the returned future before anything touches the tables.
     */
    public static Opening openInBackground(OrdersyncSettings settings) {
        // the no-argument pool starts lazily, on the first getConnection (here: on the migration thread)
        OrdersyncDataSource dataSource = new OrdersyncDataSource();
        config(settings).copyStateTo(dataSource);
        dataSource.setDurableCommitSql(durableCommitSql(settings));
        if (settings.jdbcUrl.startsWith("jdbc:h2:")) {
            ClosedDatabaseEviction.POOLS.add(dataSource);
        }
        CompletableFuture<Void> schema = new CompletableFuture<>();
        CompletableFuture<Void> writable = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                migrate(dataSource, settings, () -> writable.complete(null));
                schema.complete(null);
            } catch (Throwable e) {
                if (e instanceof ReadOnly) {
                    writable.completeExceptionally(e);
                } else {
                    writable.complete(null);
                }
                schema.completeExceptionally(e);
            }
        }, "ordersync-migrate");
        t.setDaemon(true);
        t.start();
        return new Opening(dataSource, schema, writable, settings.jdbcUrl, settings.jdbcUser);
    }

    /**
     * A pool whose schema is being migrated, and the database it was opened for. {@code writable} completes when the
     * database is found to take writes (in the migrations' first moments) or the migrations fail otherwise; it fails
     * only with {@link ReadOnly}.
     */
    public record Opening(OrdersyncDataSource dataSource, CompletableFuture<Void> schema, CompletableFuture<Void> writable,
                          String jdbcUrl, String jdbcUser) {

        /** Waits until the database is known to take writes; a {@link ReadOnly} refusal is rethrown. */
        public void awaitWritable() {
            try {
                writable.join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof RuntimeException re) {
                    throw re;
                }
                throw e;
            }
        }

        /** Whether this is the database the settings name. */
        public boolean isFor(OrdersyncSettings settings) {
            return jdbcUrl.equals(settings.jdbcUrl) && java.util.Objects.equals(jdbcUser, settings.jdbcUser);
        }

        /** Waits for the migrations; their failure is rethrown as it was thrown. */
        public void awaitSchema() {
            try {
                schema.join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof RuntimeException re) {
                    throw re;
                }
                throw e;
            }
        }
    }

    /**
     * What makes an H2 commit durable ({@code ordersync.db.h2-commit}): {@code write} (the default) writes
     * each commit to the database file before the caller goes on, so a killed process loses nothing;
     * {@code sync} also forces it to the disk (survives a power cut, costs an fsync per commit);
     * {@code delayed} is H2's own behaviour, a commit reaches the file up to a second later.
     */
    static String durableCommitSql(OrdersyncSettings settings) {
        String sql = switch (settings.h2Commit) {
            case "write" -> "CHECKPOINT";
            case "sync" -> "CHECKPOINT SYNC";
            case "delayed" -> null;
            default -> throw new IllegalArgumentException("ordersync.db.h2-commit must be write, sync or delayed, not '"
                    + settings.h2Commit + "'");
        };
        String url = settings.jdbcUrl;
        boolean embeddedFile = url.startsWith("jdbc:h2:") && !url.startsWith("jdbc:h2:mem:")
                && !url.startsWith("jdbc:h2:tcp:") && !url.startsWith("jdbc:h2:ssl:");
        // PostgreSQL commits durably by itself, an in-memory H2 has no file, an H2 server writes its own
        return embeddedFile ? sql : null;
    }

    /** Parsed statements H2 keeps per connection: more than ordersync has distinct statements. */
    static final int H2_QUERY_CACHE_SIZE = 128;

    private static HikariConfig config(OrdersyncSettings settings) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("ordersync");
        String url = settings.jdbcUrl;
        if (url.startsWith("jdbc:h2:") && !url.toUpperCase(java.util.Locale.ROOT).contains("DB_CLOSE_ON_EXIT")) {
            // the pool closes the database after Camel's graceful shutdown, not H2's own JVM hook before it
            url = url + ";DB_CLOSE_ON_EXIT=FALSE";
        }
        if (url.startsWith("jdbc:h2:") && !url.toUpperCase(java.util.Locale.ROOT).contains("QUERY_CACHE_SIZE")) {
            // H2 keeps the parsed form of a session's last 8 statements; ordersync's work for one order uses
            // about twenty, so each was parsed again every time (7 % of the CPU in the end-to-end benchmark)
            url = url + ";QUERY_CACHE_SIZE=" + H2_QUERY_CACHE_SIZE;
        }
        config.setJdbcUrl(url);
        if (url.startsWith("jdbc:h2:")) {
            // a database H2 closed under the pool is opened again by a new connection (ClosedDatabaseEviction)
            config.setExceptionOverrideClassName(ClosedDatabaseEviction.class.getName());
        }
        config.setUsername(settings.jdbcUser);
        config.setPassword(settings.jdbcPassword);
        config.setMaximumPoolSize(settings.poolSize);
        // while the database is down, work and the readiness check fail within this time instead of Hikari's 30 s
        config.setConnectionTimeout(settings.connectionTimeoutMs);
        if (isPostgres(url) && !settings.socketTimeout.isZero() && !url.contains("socketTimeout=")) {
            // a server gone without a word (a failover to another host, a firewall dropping an open connection's
            // packets) leaves a statement waiting for an answer until the kernel gives up, some 15 minutes: the
            // dispatcher, the outcomes' commits and intake waited that long. Given up after this, the statement fails
            // as the database being out of reach (SQL state 08006), and is retried. The migrations are exempt
            config.addDataSourceProperty("socketTimeout", String.valueOf(settings.socketTimeout.toSeconds()));
            if (!url.contains("options=")) {
                // a statement given up by the client still runs on the server, until it next writes to the closed
                // connection: one waiting on a lock held by a dead peer's transaction waited for as long as that lock
                // was held, and kept any locks of its own; each retry added one more such backend. The server gives
                // it up too, a little after the client (so the client still sees the database out of reach first)
                config.addDataSourceProperty("options", "-c statement_timeout="
                        + settings.socketTimeout.plus(STATEMENT_TIMEOUT_MARGIN).toMillis());
            }
        }
        // every repository method manages its own transaction explicitly
        config.setAutoCommit(true);
        return config;
    }

    /** How much longer than the socket timeout the server lets a statement run (its statement_timeout). */
    static final java.time.Duration STATEMENT_TIMEOUT_MARGIN = java.time.Duration.ofSeconds(5);

    /**
     * The pool's connections without the socket timeout and the server's statement timeout, for the migrations: a
     * migration may run for minutes on a large database (an index built). The pool restores the connection's
     * timeout when it is returned; the statement timeout is reset to the connection's own before that.
     */
    static final class WithoutSocketTimeout implements javax.sql.DataSource {
        private final javax.sql.DataSource pool;

        WithoutSocketTimeout(javax.sql.DataSource pool) {
            this.pool = pool;
        }

        private static java.sql.Connection unlimited(java.sql.Connection c) throws java.sql.SQLException {
            try {
                c.setNetworkTimeout(Runnable::run, 0);
                try (java.sql.Statement s = c.createStatement()) {
                    s.execute("SET statement_timeout = 0");
                }
            } catch (java.sql.SQLException | RuntimeException e) {
                c.close();
                throw e;
            }
            return (java.sql.Connection) java.lang.reflect.Proxy.newProxyInstance(Database.class.getClassLoader(),
                    new Class<?>[]{java.sql.Connection.class}, (proxy, method, args) -> {
                        if (method.getName().equals("close") && method.getParameterCount() == 0 && !c.isClosed()) {
                            try (java.sql.Statement s = c.createStatement()) {
                                // back to the value the connection was opened with (its options)
                                s.execute("RESET statement_timeout");
                            } finally {
                                c.close();
                            }
                            return null;
                        }
                        try {
                            return method.invoke(c, args);
                        } catch (java.lang.reflect.InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
        }

        @Override
        public java.sql.Connection getConnection() throws java.sql.SQLException {
            return unlimited(pool.getConnection());
        }

        @Override
        public java.sql.Connection getConnection(String user, String password) throws java.sql.SQLException {
            return unlimited(pool.getConnection(user, password));
        }

        @Override
        public java.io.PrintWriter getLogWriter() throws java.sql.SQLException {
            return pool.getLogWriter();
        }

        @Override
        public void setLogWriter(java.io.PrintWriter out) throws java.sql.SQLException {
            pool.setLogWriter(out);
        }

        @Override
        public void setLoginTimeout(int seconds) throws java.sql.SQLException {
            pool.setLoginTimeout(seconds);
        }

        @Override
        public int getLoginTimeout() throws java.sql.SQLException {
            return pool.getLoginTimeout();
        }

        @Override
        public java.util.logging.Logger getParentLogger() throws java.sql.SQLFeatureNotSupportedException {
            return pool.getParentLogger();
        }

        @Override
        public <T> T unwrap(Class<T> iface) throws java.sql.SQLException {
            return iface.isInstance(this) ? iface.cast(this) : pool.unwrap(iface);
        }

        @Override
        public boolean isWrapperFor(Class<?> iface) throws java.sql.SQLException {
            return iface.isInstance(this) || pool.isWrapperFor(iface);
        }
    }

    /** Whether a JDBC URL names a PostgreSQL database (otherwise ordersync assumes H2). */
    public static boolean isPostgres(String jdbcUrl) {
        return jdbcUrl.startsWith("jdbc:postgresql:");
    }

    /** The longest order document the database stores (H2's limit for an in-row string). */
    public static final int MAX_DOCUMENT_CHARS = 1_000_000;

    /** ordersync's schema migrations for this database (tests migrate to an older version with it). */
    public static org.flywaydb.core.api.configuration.FluentConfiguration flyway(javax.sql.DataSource dataSource, String jdbcUrl) {
        boolean postgres = isPostgres(jdbcUrl);
        return Flyway.configure()
                .dataSource(dataSource)
                .locations("classpath:db/migration")
                // a packaging without the migrations must not start on an empty schema
                .failOnMissingLocations(true)
                // document: a whole order document; on H2 an in-row string (a CLOB goes through H2's LOB store,
                // which cost 6 % of the CPU of the end-to-end benchmark), as long as intake's size limit allows
                .placeholders(Map.of("text", postgres ? "TEXT" : "CLOB",
                        "document", postgres ? "TEXT" : "CHARACTER VARYING(" + MAX_DOCUMENT_CHARS + ")"));
    }

    /** The start's refusal of a database that takes no writes: the launcher's last line says why (exit code 1). */
    public static final class ReadOnly extends IllegalStateException {
        ReadOnly(String message) {
            super(message);
        }
    }

    /**
     * Whether the database takes no writes: PostgreSQL in a read-only transaction mode or in recovery (a standby after a
     * failover), H2 opened read-only. Readiness asks the same (DatabaseHealthCheck).
     */
    public static boolean isReadOnly(java.sql.Connection c) throws java.sql.SQLException {
        boolean postgres = c.getMetaData().getDatabaseProductName().toLowerCase(java.util.Locale.ROOT).contains("postgres");
        try (java.sql.Statement s = c.createStatement()) {
            if (postgres) {
                // not on H2: there it sets the session's timeout, which stayed on the pooled connection for every later
                // statement, such as a purge's long delete (readiness did so at every probe; an attack found it)
                s.setQueryTimeout(2);
            }
            try (java.sql.ResultSet rs = s.executeQuery(postgres
                    ? "SELECT current_setting('transaction_read_only') = 'on' OR pg_is_in_recovery()" : "SELECT READONLY()")) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    /**
     * Before the migrations, so that a pending one does not fail first with its statement (an upgrade deployed during a
     * failover). Before: the start failed later, in the first write, with that write's statement and a stack trace. A
     * database that cannot be reached fails here with the pool's reason; a damaged H2 file goes to its recovery.
     */
    private static void refuseReadOnly(OrdersyncDataSource dataSource) {
        boolean readOnly;
        try (java.sql.Connection c = dataSource.getConnection()) {
            readOnly = isReadOnly(c);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException("Cannot open the database: " + e.getMessage(), e);
        }
        if (readOnly) {
            throw new ReadOnly("the database takes no writes (a PostgreSQL standby, default_transaction_read_only, or "
                    + "an H2 file opened read-only: ACCESS_MODE_DATA=r, or a file the process may not write); ordersync "
                    + "needs one it can write to");
        }
    }

    static void migrate(OrdersyncDataSource dataSource, OrdersyncSettings settings) {
        migrate(dataSource, settings, () -> { });
    }

    /** The migrations; {@code writable} runs once the database is found to take writes, before the first migration. */
    static void migrate(OrdersyncDataSource dataSource, OrdersyncSettings settings, Runnable writable) {
        String jdbcUrl = settings.jdbcUrl;
        javax.sql.DataSource forMigrations = isPostgres(jdbcUrl) ? new WithoutSocketTimeout(dataSource) : dataSource;
        try {
            refuseReadOnly(dataSource);
            writable.run();
            flyway(forMigrations, jdbcUrl).load().migrate();
        } catch (RuntimeException e) {
            if (H2Recovery.fileOf(jdbcUrl) == null || !H2Recovery.isDamage(e)) {
                throw e;
            }
            if (!settings.h2RecoverAuto) {
                // not H2's "use the recovery tool" with a stack trace: what happened, and ordersync's command for it
                throw new IllegalStateException(H2Recovery.damagedMessage(jdbcUrl, e), e);
            }
            // ordersync.db.h2-recover=auto: what ./ordersync recover-db does, before the pool has a connection
            H2Recovery.Result r;
            try {
                r = H2Recovery.recover(jdbcUrl, settings.jdbcUser, settings.jdbcPassword, false, java.time.Clock.systemUTC());
            } catch (Exception failed) {
                failed.addSuppressed(e);
                throw new IllegalStateException("The H2 database file " + H2Recovery.fileOf(jdbcUrl) + ".mv.db is damaged and "
                        + "rebuilding it failed: " + failed.getMessage(), failed);
            }
            if (r.rebuilt()) {
                org.slf4j.LoggerFactory.getLogger(Database.class).error("The H2 database file {} was damaged ({}); rebuilt "
                        + "from it (ordersync.db.h2-recover=auto), the damaged file kept as {}. The rebuilt database holds {}: "
                        + "compare with what the shop sent (RELIABILITY.md, \"H2 after a crash\").", r.database(),
                        H2Recovery.rootMessage(e), r.damaged(), r.counts());
            }
            flyway(dataSource, jdbcUrl).load().migrate();
        }
        if (dataSource.durableCommitSql() != null) {
            // fail the start, not the first accepted event, when the user may not write the store (CHECKPOINT needs admin)
            try (java.sql.Connection c = dataSource.getConnection(); java.sql.Statement st = c.createStatement()) {
                st.execute(dataSource.durableCommitSql());
            } catch (java.sql.SQLException e) {
                throw new IllegalStateException("H2 user '" + dataSource.getUsername() + "' may not run "
                        + dataSource.durableCommitSql() + ", which makes each commit durable: use an admin user, or set "
                        + "ordersync.db.h2-commit=delayed to accept losing the last second of commits on a crash ("
                        + e.getMessage() + ")", e);
            }
        }
    }
}
