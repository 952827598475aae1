package io.ordersync.db;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * PostgreSQL: vacuums the two tables every order passes through (route queue-vacuum, routes/vacuum.camel.yaml).
 *
 * <p>Each synced order leaves dead rows behind in order_outbox (read, then deleted) and sync_queue (claimed, then
 * deleted). Their keys grow (outbox id; a queue row's due time), so the dead index entries pile up at the left
 * end of the indexes, exactly where the outbox poll and every claim start reading: until a vacuum removes them,
 * each poll and claim steps over all rows deleted since the last one (137 and 135 buffers per claim statement,
 * 88 per poll, 216 index pages for 175 live rows, in the e2e benchmark; BENCHMARKS.md, issue 18 round seven).
 * Autovacuum comes at most once a minute per database ({@code autovacuum_naptime}) — a busy queue deletes tens
 * of thousands of rows in that time — so ordersync vacuums them itself, once the statistics count more dead
 * rows than {@code ordersync.db.vacuum-dead-rows}. {@code SKIP_LOCKED}: when a sibling instance or autovacuum is
 * vacuuming the table already, this one skips it instead of waiting. {@code TRUNCATE false}: giving empty pages
 * at the end of the file back takes an exclusive lock, which would stop every claim and intake while it lasts (and
 * new rows are written at the end anyway). Not the owner of the table: PostgreSQL
 * skips it with a warning, nothing fails. H2 needs none of this (it has no dead rows to step over).
 */
public final class QueueVacuum {

    /** The tables a row passes through per order, vacuumed in this order. */
    static final List<String> TABLES = List.of("sync_queue", "order_outbox");

    private static final Logger LOG = LoggerFactory.getLogger(QueueVacuum.class);

    private final DataSource ds;
    private final boolean postgres;
    private final long deadRows;

    /** @param deadRows dead rows (per table) from which it is vacuumed; 0 turns it off */
    public QueueVacuum(DataSource ds, boolean postgres, long deadRows) {
        if (deadRows < 0) {
            throw new IllegalArgumentException("ordersync.db.vacuum-dead-rows must not be negative");
        }
        this.ds = ds;
        this.postgres = postgres;
        this.deadRows = deadRows;
    }

    /**
     * The check (the route's timer): the tables over the limit vacuumed; returns their names. A failure (the
     * database unreachable) is a warning: the next check tries again, and nothing depends on this one.
     */
    public List<String> run() {
        if (!postgres || deadRows == 0) {
            return List.of();
        }
        try {
            return vacuum();
        } catch (SQLException e) {
            LOG.warn("Could not vacuum the queue tables (tried again in a moment): {}", e.getMessage());
            return List.of();
        }
    }

    private List<String> vacuum() throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            // VACUUM cannot run inside a transaction block: this connection must be in auto-commit (the pool's default)
            c.setAutoCommit(true);
            List<String> due = due(deadRows(s), deadRows);
            for (String table : due) {
                long started = System.nanoTime();
                s.execute("VACUUM (SKIP_LOCKED, TRUNCATE false) " + table);
                LOG.debug("Vacuumed {} in {} ms", table, (System.nanoTime() - started) / 1_000_000);
            }
            return due;
        }
    }

    /** The statistics' count of dead rows of each table (a few hundred ms behind the deletes). */
    private static Map<String, Long> deadRows(Statement s) throws SQLException {
        Map<String, Long> out = new LinkedHashMap<>();
        try (ResultSet rs = s.executeQuery("SELECT relname, n_dead_tup FROM pg_stat_user_tables "
                + "WHERE schemaname = current_schema() AND relname IN ('sync_queue', 'order_outbox')")) {
            while (rs.next()) {
                out.put(rs.getString(1), rs.getLong(2));
            }
        }
        return out;
    }

    /** Which tables to vacuum: those with at least {@code limit} dead rows, in {@link #TABLES} order. */
    static List<String> due(Map<String, Long> dead, long limit) {
        List<String> out = new ArrayList<>();
        for (String table : TABLES) {
            if (limit > 0 && dead.getOrDefault(table, 0L) >= limit) {
                out.add(table);
            }
        }
        return out;
    }
}
