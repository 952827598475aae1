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

    /** {@code periodMs} 0 or less: off (the timer then fires once, and that run does nothing). */
    public QueueVacuum(DataSource ds, String jdbcUrl, long periodMs) {
        this.ds = ds;
        this.postgres = Database.isPostgres(jdbcUrl) && periodMs > 0;
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
