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
 * milliseconds, takes no lock that DML waits for (but the few milliseconds of giving an emptied table's end pages
 * back; while a writer holds the table it waits up to 5 s per table for that chance, and a stop waits for it), and
 * skips a table another vacuum holds ({@code SKIP_LOCKED}), so several instances can all run it. On H2 (no dead row
 * versions to vacuum) it does nothing, nor with a period of 0.
 * <p>
 * It also keeps the tables' row estimates from going stale ({@link #analyzeIfStale}, route {@code queue-statistics}).
 */
public final class QueueVacuum {

    private static final Logger LOG = LoggerFactory.getLogger(QueueVacuum.class);
    private static final List<String> TABLES = List.of("order_outbox", "sync_queue");
    /** SQLSTATE of "skipping vacuum of … --- lock not available" ({@code SKIP_LOCKED}). */
    private static final String LOCK_NOT_AVAILABLE = "55P03";

    private final DataSource ds;
    private final boolean postgres;
    /** A table was skipped with a warning (said once: it will be again). */
    private volatile boolean warned;
    /** The last run failed (said once until a run succeeds). */
    private volatile boolean warnedFailure;

    /**
     * A table's row estimate is taken for stale when it has at least this many live rows and more than
     * {@link #STALE_FACTOR} times the rows PostgreSQL's planner expects.
     */
    static final long STALE_MIN_ROWS = 1000;
    static final double STALE_FACTOR = 10;
    /**
     * For each queue table: its live rows as the statistics collector counts them, and the rows the planner expects,
     * the density of its last vacuum or analyze (reltuples over relpages) times its pages now; null when the planner
     * guesses the density from the row width instead (never vacuumed or analyzed, or no pages then).
     */
    static final String ESTIMATES = "SELECT c.relname, s.n_live_tup, CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN NULL "
            + "ELSE c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int) END "
            + "FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid "
            + "WHERE c.oid IN ('order_outbox'::regclass, 'sync_queue'::regclass)";

    private final boolean analyze;
    /** An analyze was refused with a warning (said once). */
    private volatile boolean warnedAnalyze;
    /** The last check failed (said once until a check succeeds). */
    private volatile boolean warnedCheckFailure;

    /** {@code periodMs} 0 or less: off (the timer then fires once, and that run does nothing). */
    public QueueVacuum(DataSource ds, String jdbcUrl, long periodMs) {
        this(ds, jdbcUrl, periodMs, 0);
    }

    /**
     * {@code periodMs}: the vacuum's period, {@code statisticsCheckMs}: the estimates' check's; 0 or less: that one is
     * off.
     */
    public QueueVacuum(DataSource ds, String jdbcUrl, long periodMs, long statisticsCheckMs) {
        this.ds = ds;
        this.postgres = Database.isPostgres(jdbcUrl) && periodMs > 0;
        this.analyze = Database.isPostgres(jdbcUrl) && statisticsCheckMs > 0;
    }

    /**
     * PostgreSQL: analyzes a queue table whose row estimate is stale ({@link #isStale}), so that the statements
     * planned with it are planned again. A vacuum of a nearly empty queue whose pages stay (a row near the end keeps
     * them) stores a density of a row or so per hundred pages, and the planner scales that density to the table's
     * pages: a backlog filling those pages still looks like one row. Every access path then looks as cheap as every
     * other, and the claim read all waiting rows of its provider and sorted them, 31 ms per claim instead of 0.6
     * (BENCHMARKS.md, issue 18 rounds twenty-four and twenty-five), until the next vacuum counted the rows. The check is
     * one catalog read; an analyze of a queue table reads at most 30 000 sampled rows.
     *
     * @return the tables analyzed
     */
    public List<String> analyzeIfStale() {
        if (!analyze) {
            return List.of();
        }
        List<String> stale = new java.util.ArrayList<>();
        try (Connection c = ds.getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
                try (java.sql.ResultSet rs = s.executeQuery(ESTIMATES)) {
                    while (rs.next()) {
                        long live = rs.getLong(2);
                        double planned = rs.getDouble(3);
                        if (isStale(live, rs.wasNull() ? null : planned)) {
                            stale.add(rs.getString(1));
                        }
                    }
                }
                for (String table : stale) {
                    s.execute("ANALYZE (SKIP_LOCKED) " + table);
                    for (SQLWarning w = s.getWarnings(); w != null; w = w.getNextWarning()) {
                        if (!LOCK_NOT_AVAILABLE.equals(w.getSQLState()) && !warnedAnalyze) {
                            warnedAnalyze = true;
                            LOG.warn("ANALYZE of {} did not run: {} (its row estimate is left to autovacuum)", table, w.getMessage());
                        }
                    }
                    s.clearWarnings();
                }
                if (!stale.isEmpty()) {
                    LOG.debug("Analyzed {}: their row estimates were stale", stale);
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
        return stale;
    }

    /**
     * Whether a table of {@code live} rows whose planner expects {@code planned} (null: a guess from the row width,
     * not a stored density) has a stale estimate: at least {@link #STALE_MIN_ROWS} rows and more than
     * {@link #STALE_FACTOR} times the rows expected.
     */
    static boolean isStale(long live, Double planned) {
        return planned != null && live >= STALE_MIN_ROWS && live > STALE_FACTOR * Math.max(planned, 1);
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
                for (String table : TABLES) {
                    // with the truncation of emptied end pages: it takes its ACCESS EXCLUSIVE lock only when no
                    // writer holds the table (it tries every 50 ms, for up to 5 s per table, and gives the lock up as
                    // soon as a writer waits for it). Without it (TRUNCATE false) the tables would keep the size of
                    // the largest backlog for good: this vacuum leaves autovacuum, which truncates, nothing to do
                    s.execute("VACUUM (SKIP_LOCKED) " + table);
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
