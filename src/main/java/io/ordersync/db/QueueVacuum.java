package io.ordersync.db;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.List;

/**
 * PostgreSQL: vacuums the two tables every synced order passes through, the outbox and the sync queue, every few
 * seconds (route {@code queue-vacuum}). Each order leaves two or three dead row versions in them; the outbox poll and
 * the claim read from the start of their indexes and step over every dead version not yet vacuumed. Autovacuum looks
 * at a database once a minute ({@code autovacuum_naptime}): at a thousand orders a second that is up to 150 000 dead
 * versions, and in the end-to-end benchmark PostgreSQL then used two to four times the CPU per order of a run whose
 * queue had just been vacuumed (BENCHMARKS.md, issue 18 round twenty-two). A vacuum of these small tables takes
 * milliseconds, takes no lock that DML waits for, and skips a table another vacuum holds ({@code SKIP_LOCKED}), so
 * several instances can all run it. It gives emptied end pages back only once a table has grown past
 * {@link #TRUNCATE_MIN_BYTES} ({@link #truncates}). On H2 (no dead row versions to vacuum) it does nothing, nor with a
 * period of 0.
 * <p>
 * It also keeps the tables' row estimates from going stale ({@link #analyzeIfStale}, route {@code queue-statistics}).
 */
public final class QueueVacuum {

    private static final Logger LOG = LoggerFactory.getLogger(QueueVacuum.class);
    private static final List<String> TABLES = List.of("order_outbox", "sync_queue");
    /** SQLSTATE of "skipping vacuum of … --- lock not available" ({@code SKIP_LOCKED}). */
    private static final String LOCK_NOT_AVAILABLE = "55P03";

    /** A table gives its emptied end pages back only from this size on (16 MB; the queue of about 60 000 orders). */
    static final long TRUNCATE_MIN_BYTES = 16L << 20;
    /**
     * A table's row estimate is taken for stale when it has at least this many live rows and more than
     * {@link #STALE_FACTOR} times the rows its last vacuum or analyze counted.
     */
    static final long STALE_MIN_ROWS = 1000;
    static final double STALE_FACTOR = 10;
    /**
     * For each queue table: its live rows as the statistics collector counts them, and the rows its last vacuum or
     * analyze counted ({@code reltuples}; -1 if none has run).
     */
    static final String ESTIMATES = "SELECT c.relname, s.n_live_tup, c.reltuples "
            + "FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid "
            + "WHERE c.oid IN ('order_outbox'::regclass, 'sync_queue'::regclass)";

    private final DataSource ds;
    private final boolean postgres;
    private final boolean analyze;
    private final long truncateMinBytes;
    /** A table was skipped with a warning (said once: it will be again). */
    private volatile boolean warned;
    /** The last run failed (said once until a run succeeds). */
    private volatile boolean warnedFailure;
    /**
     * An analyze was refused (e.g. not the table's owner): said once, and not tried again, as each refusal is a warning
     * in PostgreSQL's log too.
     */
    private volatile boolean analyzeRefused;
    /** The last check failed (said once until a check succeeds). */
    private volatile boolean warnedCheckFailure;

    /** {@code periodMs} 0 or less: off (the timer then fires once, and that run does nothing). */
    public QueueVacuum(DataSource ds, String jdbcUrl, long periodMs) {
        this(ds, jdbcUrl, periodMs, 0);
    }

    /** The tests' size from which a table's end pages are given back, instead of {@link #TRUNCATE_MIN_BYTES}. */
    QueueVacuum(DataSource ds, String jdbcUrl, long periodMs, long statisticsCheckMs, long truncateMinBytes) {
        this.ds = ds;
        this.postgres = Database.isPostgres(jdbcUrl) && periodMs > 0;
        this.analyze = Database.isPostgres(jdbcUrl) && statisticsCheckMs > 0;
        this.truncateMinBytes = truncateMinBytes;
    }

    /**
     * {@code periodMs}: the vacuum's period, {@code statisticsCheckMs}: the estimates' check's; 0 or less: that one is
     * off.
     */
    public QueueVacuum(DataSource ds, String jdbcUrl, long periodMs, long statisticsCheckMs) {
        this(ds, jdbcUrl, periodMs, statisticsCheckMs, TRUNCATE_MIN_BYTES);
    }

    /**
     * PostgreSQL: analyzes a queue table whose row estimate is stale ({@link #isStale}), so that the statements
     * planned with it are planned again. A statement keeps its plan until the table's statistics change, and a queue
     * changes faster than its statistics. Two states made the claim's plan read every waiting row, until the next
     * vacuum counted the rows (BENCHMARKS.md, issue 18 rounds twenty-four and twenty-five):
     * <ul>
     *   <li>a vacuum of a nearly empty queue whose pages stay stores a density of a row or so per hundred pages, and
     *   the planner scales that density to the table's pages: a backlog filling those pages still looks like one row,
     *   and every access path as cheap as every other (31 ms per claim instead of 0.6);</li>
     *   <li>a claim planned while the queue had a page or two (sequential scans) kept that plan while a backlog filled
     *   73 pages (1 s per claim).</li>
     * </ul>
     * The check is one catalog read (PostgreSQL 14's statistics collector answers in about 10 ms); an analyze of a
     * queue table reads at most 30 000 sampled rows.
     *
     * @return the tables analyzed (not those skipped: another analyze or vacuum held them, or the user may not)
     */
    public List<String> analyzeIfStale() {
        if (!analyze || analyzeRefused) {
            return List.of();
        }
        List<String> stale = new java.util.ArrayList<>();
        List<String> analyzed = new java.util.ArrayList<>();
        try (Connection c = ds.getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
                List<String> why = new java.util.ArrayList<>();
                try (java.sql.ResultSet rs = s.executeQuery(ESTIMATES)) {
                    while (rs.next()) {
                        long live = rs.getLong(2);
                        double counted = rs.getDouble(3);
                        if (isStale(live, counted)) {
                            stale.add(rs.getString(1));
                            why.add(live + " live rows, " + (counted < 0 ? "never counted" : Math.round(counted) + " when last counted"));
                        }
                    }
                }
                for (int i = 0; i < stale.size(); i++) {
                    String table = stale.get(i);
                    s.execute("ANALYZE (SKIP_LOCKED) " + table);
                    boolean ran = true;
                    for (SQLWarning w = s.getWarnings(); w != null; w = w.getNextWarning()) {
                        // skipped: another instance's analyze or vacuum holds the table (tried again next time), or
                        // not the table's owner
                        ran = false;
                        if (!LOCK_NOT_AVAILABLE.equals(w.getSQLState()) && !analyzeRefused) {
                            analyzeRefused = true;
                            LOG.warn("ANALYZE of {} did not run: {} (the queue tables' row estimates are left to autovacuum; "
                                    + "not tried again until a restart)", table, w.getMessage());
                        }
                    }
                    s.clearWarnings();
                    if (ran) {
                        analyzed.add(table);
                        LOG.info("Analyzed {}: {} (its row estimate was stale)", table, why.get(i));
                    }
                }
            } finally {
                c.setAutoCommit(autoCommit);
            }
            warnedCheckFailure = false;
        } catch (SQLException | RuntimeException e) {
            if (!warnedCheckFailure) {
                warnedCheckFailure = true;
                LOG.warn("Checking the queue tables' row estimates failed ({}); tried again at the next period", e.getMessage());
            }
        }
        return analyzed;
    }

    /**
     * Whether the vacuum of a table of {@code bytes} gives its emptied end pages back: only from {@code minBytes} on.
     * Giving pages back takes an ACCESS EXCLUSIVE lock, which the vacuum tries for every 50 ms for up to 5 s while
     * writers hold the table, keeping its own lock meanwhile: under load the statistics check's analyze was shut out
     * for those seconds, and so was the next vacuum's count of the rows. And a table given back down to a page or
     * two had the claim planned for a table of a page (sequential scans: at 1 s per claim once the next backlog had
     * filled 73 pages, BENCHMARKS.md, issue 18 round twenty-five). Below the size, the pages stay and are reused; above
     * it, a drained backlog's pages go back as before.
     */
    static boolean truncates(long bytes, long minBytes) {
        return bytes >= minBytes;
    }

    /**
     * Whether a table of {@code live} rows whose last vacuum or analyze counted {@code counted} (-1: none has run) has
     * a stale estimate: at least {@link #STALE_MIN_ROWS} rows and more than {@link #STALE_FACTOR} times the rows counted.
     */
    static boolean isStale(long live, double counted) {
        return live >= STALE_MIN_ROWS && live > STALE_FACTOR * Math.max(counted, 1);
    }

    /** Vacuums the queue tables (PostgreSQL); a failure is logged once and tried again next time. */
    public void run() {
        if (!postgres) {
            return;
        }
        try (Connection c = ds.getConnection()) {
            // VACUUM cannot run inside a transaction block
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
                java.util.Map<String, Long> bytes = new java.util.HashMap<>();
                // by name, not from pg_class: a user who may not read pg_class (and may vacuum) still vacuums
                try (java.sql.ResultSet rs = s.executeQuery("SELECT pg_relation_size('order_outbox'), pg_relation_size('sync_queue')")) {
                    rs.next();
                    bytes.put("order_outbox", rs.getLong(1));
                    bytes.put("sync_queue", rs.getLong(2));
                } catch (SQLException e) {
                    // no sizes: the pages are kept (TRUNCATE false), the vacuum still runs
                    LOG.debug("Reading the queue tables' sizes failed: {}", e.getMessage());
                }
                for (String table : TABLES) {
                    s.execute("VACUUM (SKIP_LOCKED" + (truncates(bytes.getOrDefault(table, 0L), truncateMinBytes) ? "" : ", TRUNCATE false")
                            + ") " + table);
                    for (SQLWarning w = s.getWarnings(); w != null; w = w.getNextWarning()) {
                        if (LOCK_NOT_AVAILABLE.equals(w.getSQLState())) {
                            // another vacuum (another instance's, autovacuum) holds the table: it does the work
                            continue;
                        }
                        if (!warned) {
                            // e.g. not the table's owner: PostgreSQL skips it with a warning
                            warned = true;
                            LOG.warn("VACUUM of {} did not run: {} (it is left to autovacuum)", table, w.getMessage());
                        }
                    }
                    s.clearWarnings();
                }
            } finally {
                c.setAutoCommit(autoCommit);
            }
            warnedFailure = false;
        } catch (SQLException | RuntimeException e) {
            if (!warnedFailure) {
                warnedFailure = true;
                LOG.warn("Vacuum of the queue tables failed ({}); tried again at the next period", e.getMessage());
            }
        }
    }
}
