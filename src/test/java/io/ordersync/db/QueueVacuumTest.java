package io.ordersync.db;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The queue tables' vacuum on a real PostgreSQL (the embedded server): the outbox and the queue, with dead row versions,
 * are vacuumed (their statistics' n_dead_tup is no check: a backend reports its deletes up to 0.5 s late, after the
 * vacuum's own report); a table another vacuum holds is skipped quietly; a user who may not vacuum them gets one warning,
 * no failure; a period of 0 and H2 do nothing.
 */
class QueueVacuumTest {

    /**
     * How long a count may take to reach pg_stat_user_tables. PostgreSQL 14's statistics collector takes the counts by
     * message and writes them to a file a reader asks for; with three test JVMs on two cores, 10 s was once not enough.
     */
    private static final Duration STATISTICS = Duration.ofSeconds(60);

    private final ListAppender<ILoggingEvent> log = new ListAppender<>();
    private final Logger logger = (Logger) org.slf4j.LoggerFactory.getLogger(QueueVacuum.class);

    @BeforeEach
    void attach() {
        log.start();
        logger.addAppender(log);
    }

    @AfterEach
    void detach() {
        logger.detachAppender(log);
    }

    @Test
    void theOutboxAndTheQueueAreVacuumed() throws Exception {
        Properties db = Postgres.newDatabase();
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(db))) {
            deadRows(ds, 2000);
            assertThat(vacuums(ds, "order_outbox")).isZero();

            new QueueVacuum(ds, db.getProperty("ordersync.db.url"), 5000).run();

            // the statistics reach the view within about half a second
            await().atMost(STATISTICS).until(() -> vacuums(ds, "order_outbox") == 1 && vacuums(ds, "sync_queue") == 1);
            assertThat(log.list).isEmpty();
        }
    }

    @Test
    void aUserWhoMayNotVacuumTheTablesGetsOneWarningAndNoFailure() throws Exception {
        Properties db = Postgres.newDatabase();
        String url = db.getProperty("ordersync.db.url");
        try (HikariDataSource owner = Database.open(OrdersyncSettings.from(db))) {
            try (Connection c = owner.getConnection(); Statement s = c.createStatement()) {
                role(s, "not_owner");
                s.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO not_owner");
            }
            deadRows(owner, 200);
            try (HikariDataSource other = as(url, "not_owner")) {
                QueueVacuum vacuum = new QueueVacuum(other, url, 5000);
                vacuum.run();
                vacuum.run();
            }
            assertThat(log.list).hasSize(1);
            assertThat(log.list.get(0).getFormattedMessage())
                    .startsWith("VACUUM of order_outbox did not run: ")
                    .contains("it is left to autovacuum");
            Thread.sleep(1000);
            assertThat(vacuums(owner, "order_outbox")).isZero();
        }
    }

    @Test
    void aTableAnotherVacuumHoldsIsSkippedWithoutAWarningAndTheOtherIsVacuumed() throws Exception {
        Properties db = Postgres.newDatabase();
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(db));
             Connection holder = ds.getConnection(); Statement s = holder.createStatement()) {
            deadRows(ds, 200);
            // the lock a vacuum takes, held by another transaction (another instance's vacuum, autovacuum)
            holder.setAutoCommit(false);
            s.execute("LOCK TABLE sync_queue IN SHARE UPDATE EXCLUSIVE MODE");
            new QueueVacuum(ds, db.getProperty("ordersync.db.url"), 5000).run();
            holder.rollback();
            await().atMost(STATISTICS).until(() -> vacuums(ds, "order_outbox") == 1);
            assertThat(vacuums(ds, "sync_queue")).isZero();
            assertThat(log.list).isEmpty();
        }
    }

    /**
     * A worker's transaction holds ROW EXCLUSIVE on the tables it writes, and giving an emptied table's end pages back
     * needs ACCESS EXCLUSIVE, which SKIP_LOCKED does not cover: the vacuum waits (up to 5 s per table) for a moment no
     * writer holds the table. Other writers must not wait meanwhile, and once the writer is done the pages go back.
     * That is for a table of 16 MB or more; here the size from which pages go back is set to 0 (a smaller table keeps
     * its pages, and its vacuum does not wait: the next test).
     */
    @Test
    void whileTheVacuumWaitsToGiveEmptiedPagesBackWritersDoNotWait() throws Exception {
        Properties db = Postgres.newDatabase();
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(db))) {
            deadRows(ds, 2000);
            long pagesBefore = stat(ds, "pg_relation_size(relid)", "sync_queue");
            java.util.concurrent.ExecutorService vacuum = java.util.concurrent.Executors.newSingleThreadExecutor();
            try (Connection writer = ds.getConnection(); Statement w = writer.createStatement();
                 Connection other = ds.getConnection(); Statement o = other.createStatement()) {
                writer.setAutoCommit(false);
                w.execute("LOCK TABLE sync_queue IN ROW EXCLUSIVE MODE");
                w.execute("LOCK TABLE order_outbox IN ROW EXCLUSIVE MODE");
                java.util.concurrent.Future<?> run = vacuum.submit(() -> new QueueVacuum(ds, db.getProperty("ordersync.db.url"), 5000, 1000, 0).run());
                Thread.sleep(500);
                assertThat(run.isDone()).as("the vacuum waits for the truncation's lock").isFalse();
                // another worker's statements go through at once (each would take seconds behind a held lock)
                o.execute("SET lock_timeout = '1s'");
                for (int i = 0; i < 20; i++) {
                    o.execute("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, triggered_at, not_before)"
                            + " VALUES ('e', 'W" + i + "', 'crm', 'waiting', 'order.placed', now(), now())");
                    o.execute("DELETE FROM sync_queue WHERE order_code = 'W" + i + "'");
                    o.execute("INSERT INTO order_outbox (payload) VALUES ('{}')");
                    o.execute("DELETE FROM order_outbox");
                }
                writer.rollback();
                run.get(20, java.util.concurrent.TimeUnit.SECONDS);
            } finally {
                vacuum.shutdownNow();
            }
            await().atMost(STATISTICS).until(() -> vacuums(ds, "order_outbox") == 1 && vacuums(ds, "sync_queue") == 1);
            // the emptied pages went back once no writer held the table
            assertThat(stat(ds, "pg_relation_size(relid)", "sync_queue")).isLessThan(pagesBefore);
            assertThat(log.list).isEmpty();
        }
    }

    /**
     * Below 16 MB the vacuum keeps the emptied pages (TRUNCATE false): it does not wait for a writer's transaction to
     * end, so the statistics check's analyze and the next vacuum are not shut out, and the claim is never planned
     * for a table of a page (BENCHMARKS.md, issue 18 round twenty-five).
     */
    @Test
    void belowSixteenMegabytesTheVacuumKeepsThePagesAndDoesNotWaitForAWriter() throws Exception {
        Properties db = Postgres.newDatabase();
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(db))) {
            // autovacuum truncates: once the writer let go it emptied the table's pages in one CI run (0 bytes left)
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("ALTER TABLE sync_queue SET (autovacuum_enabled = false)");
            }
            deadRows(ds, 2000);
            long pagesBefore = stat(ds, "pg_relation_size(relid)", "sync_queue");
            java.util.concurrent.ExecutorService vacuum = java.util.concurrent.Executors.newSingleThreadExecutor();
            try (Connection writer = ds.getConnection(); Statement w = writer.createStatement()) {
                writer.setAutoCommit(false);
                w.execute("LOCK TABLE sync_queue IN ROW EXCLUSIVE MODE");
                w.execute("LOCK TABLE order_outbox IN ROW EXCLUSIVE MODE");
                java.util.concurrent.Future<?> run = vacuum.submit(() -> new QueueVacuum(ds, db.getProperty("ordersync.db.url"), 5000).run());
                // done while the writer still holds both tables (a truncating vacuum waits 5 s per table)
                run.get(3, java.util.concurrent.TimeUnit.SECONDS);
                writer.rollback();
            } finally {
                vacuum.shutdownNow();
            }
            await().atMost(STATISTICS).until(() -> vacuums(ds, "order_outbox") == 1 && vacuums(ds, "sync_queue") == 1);
            assertThat(stat(ds, "pg_relation_size(relid)", "sync_queue")).isEqualTo(pagesBefore);
            assertThat(log.list).isEmpty();
        }
    }

    @Test
    void aPeriodOfZeroVacuumsNothing() throws Exception {
        Properties db = Postgres.newDatabase();
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(db))) {
            deadRows(ds, 200);
            new QueueVacuum(ds, db.getProperty("ordersync.db.url"), 0).run();
            Thread.sleep(1000);
            assertThat(vacuums(ds, "order_outbox") + vacuums(ds, "sync_queue")).isZero();
        }
    }

    @Test
    void onH2ItDoesNothingAndFailsNothing() throws Exception {
        Properties db = Postgres.newDatabase("h2");
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(db))) {
            new QueueVacuum(ds, db.getProperty("ordersync.db.url"), 5000).run();
            assertThat(log.list).isEmpty();
        }
    }

    /**
     * The estimates' check as a decision: stale with at least 1 000 live rows and more than ten times the rows the last
     * vacuum or analyze counted (none counted: -1).
     */
    @Test
    void aRowEstimateIsStaleWithThousandsOfRowsAndTenTimesTheRowsLastCounted() {
        assertThat(QueueVacuum.isStale(10_031, 1)).isTrue();
        assertThat(QueueVacuum.isStale(10_031, 0)).isTrue();
        assertThat(QueueVacuum.isStale(10_031, -1)).as("never vacuumed or analyzed").isTrue();
        assertThat(QueueVacuum.isStale(1_000, 99)).isTrue();
        assertThat(QueueVacuum.isStale(1_000, 100)).as("ten times, not more").isFalse();
        assertThat(QueueVacuum.isStale(999, 0)).as("a few hundred rows: any plan reads them quickly").isFalse();
        assertThat(QueueVacuum.isStale(0, 5_000)).as("fewer rows than counted: plans stay cheap").isFalse();
    }

    /** Emptied end pages go back only from the size on. */
    @Test
    void onlyATableOfSixteenMegabytesOrMoreGivesItsEndPagesBack() {
        assertThat(QueueVacuum.TRUNCATE_MIN_BYTES).isEqualTo(16L * 1024 * 1024);
        assertThat(QueueVacuum.truncates(16L * 1024 * 1024, QueueVacuum.TRUNCATE_MIN_BYTES)).isTrue();
        assertThat(QueueVacuum.truncates(16L * 1024 * 1024 - 8192, QueueVacuum.TRUNCATE_MIN_BYTES)).isFalse();
    }

    /**
     * A queue vacuumed nearly empty whose pages stay, then a backlog: the planner still expects about one row until the
     * check analyzes the table (and only that table); the next check finds nothing stale. Autovacuum is off for the
     * tables, so that only the check counts the rows.
     */
    @Test
    void aQueueWhoseEstimateWentStaleIsAnalyzedOnceAndTheOtherTableIsNot() throws Exception {
        Properties db = Postgres.newDatabase();
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(db));
             Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute("ALTER TABLE order_outbox SET (autovacuum_enabled = false)");
            vacuumedNearlyEmpty(s, 5_000);
            s.execute("INSERT INTO order_outbox (payload) SELECT '{}' FROM generate_series(1, 3000)");
            s.execute("ANALYZE order_outbox");
            QueueVacuum check = new QueueVacuum(ds, db.getProperty("ordersync.db.url"), 5000, 1000);
            // the first check sees the vacuum's one row: nothing stale yet
            assertThat(check.analyzeIfStale()).isEmpty();

            queueRows(s, "P", 5_000);
            s.execute("INSERT INTO order_outbox (payload) SELECT '{}' FROM generate_series(1, 3000)");
            assertThat(Postgres.plannedWaitingRows(s)).isLessThan(10);
            java.util.List<String> analyzed = new java.util.ArrayList<>();
            await().atMost(STATISTICS).until(() -> {
                Postgres.reportStatistics(s);
                analyzed.addAll(check.analyzeIfStale());
                return !analyzed.isEmpty();
            });
            // the outbox doubled (3 000 expected, 6 000 there): not stale
            assertThat(analyzed).containsExactly("sync_queue");
            assertThat(Postgres.plannedWaitingRows(s)).isGreaterThan(4_000);
            assertThat(check.analyzeIfStale()).isEmpty();
            assertThat(log.list).singleElement().satisfies(e -> assertThat(e.getFormattedMessage())
                    .matches("Analyzed sync_queue: 5\\d{3} live rows, 1 when last counted \\(its row estimate was stale\\)"));
        }
    }

    @Test
    void aUserWhoMayNotAnalyzeTheTablesGetsOneWarningAndNoFailure() throws Exception {
        Properties db = Postgres.newDatabase();
        String url = db.getProperty("ordersync.db.url");
        try (HikariDataSource owner = Database.open(OrdersyncSettings.from(db));
             Connection c = owner.getConnection(); Statement s = c.createStatement()) {
            role(s, "not_owner");
            s.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO not_owner");
            vacuumedNearlyEmpty(s, 100);
            queueRows(s, "P", 2_000);
            try (HikariDataSource other = as(url, "not_owner")) {
                QueueVacuum check = new QueueVacuum(other, url, 5000, 1000);
                // found stale, but the analyze is refused: nothing analyzed, one warning however often it is tried
                await().atMost(STATISTICS).untilAsserted(() -> {
                    Postgres.reportStatistics(s);
                    assertThat(stat(owner, "n_live_tup", "sync_queue")).as("live rows the statistics count").isGreaterThan(2_000);
                });
                assertThat(check.analyzeIfStale()).isEmpty();
                assertThat(check.analyzeIfStale()).isEmpty();
            }
            assertThat(log.list).hasSize(1);
            assertThat(log.list.get(0).getFormattedMessage())
                    .startsWith("ANALYZE of sync_queue did not run: ")
                    .contains("left to autovacuum; not tried again until a restart");
            assertThat(Postgres.plannedWaitingRows(s)).isLessThan(10);
        }
    }

    /**
     * The vacuum reads the tables' sizes (to decide whether to give pages back) by name, not from pg_class: a table
     * owner who may not read pg_class still vacuums, keeping the pages. The grant is this database's own (each
     * database has its pg_class).
     */
    @Test
    void anOwnerWhoMayNotReadPgClassStillVacuums() throws Exception {
        Properties admin = Postgres.newDatabase();
        String url = admin.getProperty("ordersync.db.url");
        try (HikariDataSource postgres = Database.open(OrdersyncSettings.from(admin));
             Connection c = postgres.getConnection(); Statement s = c.createStatement()) {
            role(s, "queue_owner");
            s.execute("ALTER TABLE order_outbox OWNER TO queue_owner");
            s.execute("ALTER TABLE sync_queue OWNER TO queue_owner");
            s.execute("REVOKE SELECT ON pg_catalog.pg_class FROM PUBLIC");
            deadRows(postgres, 500);
            try (HikariDataSource owner = as(url, "queue_owner")) {
                try (Connection o = owner.getConnection(); Statement os = o.createStatement()) {
                    assertThatThrownBy(() -> os.executeQuery("SELECT relname FROM pg_class LIMIT 1"))
                            .hasMessageContaining("permission denied");
                }
                new QueueVacuum(owner, url, 5000, 1000).run();
            }
            await().atMost(STATISTICS).until(() -> vacuums(postgres, "order_outbox") == 1 && vacuums(postgres, "sync_queue") == 1);
            assertThat(log.list).isEmpty();
        }
    }

    @Test
    void aCheckPeriodOfZeroAndH2AnalyzeNothing() throws Exception {
        Properties db = Postgres.newDatabase();
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(db));
             Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            vacuumedNearlyEmpty(s, 100);
            queueRows(s, "P", 2_000);
            Thread.sleep(600);
            Postgres.reportStatistics(s);
            await().atMost(STATISTICS).untilAsserted(() -> {
                Postgres.reportStatistics(s);
                assertThat(stat(ds, "n_live_tup", "sync_queue")).as("live rows the statistics count").isGreaterThan(2_000);
            });
            assertThat(new QueueVacuum(ds, db.getProperty("ordersync.db.url"), 5000, 0).analyzeIfStale()).isEmpty();
            assertThat(new QueueVacuum(ds, db.getProperty("ordersync.db.url"), 5000).analyzeIfStale()).isEmpty();
            assertThat(Postgres.plannedWaitingRows(s)).isLessThan(10);
        }
        Properties h2 = Postgres.newDatabase("h2");
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(h2))) {
            assertThat(new QueueVacuum(ds, h2.getProperty("ordersync.db.url"), 5000, 1000).analyzeIfStale()).isEmpty();
        }
        assertThat(log.list).isEmpty();
    }

    /**
     * The queue filled with {@code rows} rows, all deleted but one, and vacuumed keeping its pages: one row counted in
     * them, a stale estimate for the next backlog. Autovacuum is turned off for the queue, so that only the check
     * counts the rows again.
     */
    private static void vacuumedNearlyEmpty(Statement s, int rows) throws java.sql.SQLException {
        s.execute("ALTER TABLE sync_queue SET (autovacuum_enabled = false)");
        queueRows(s, "W", rows);
        s.execute("DELETE FROM sync_queue WHERE order_code <> 'W1'");
        Postgres.vacuumCounted(s, "VACUUM (TRUNCATE false) sync_queue", "sync_queue", rows, rows - 1);
    }

    private static void queueRows(Statement s, String prefix, int n) throws java.sql.SQLException {
        s.execute("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, triggered_at, not_before) "
                + "SELECT 'e', '" + prefix + "' || g, 'crm', 'waiting', 'order.placed', now(), now() FROM generate_series(1, " + n + ") g");
    }

    /** The login role {@code name} (password the same), created unless there. Roles are the server's, not a database's. */
    private static void role(Statement s, String name) throws java.sql.SQLException {
        s.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" + name + "') THEN "
                + "CREATE ROLE " + name + " LOGIN PASSWORD '" + name + "'; END IF; END $$");
    }

    /** A pool on {@code url} logged in as the role {@code name}. */
    private static HikariDataSource as(String url, String name) {
        HikariDataSource ds = new HikariDataSource();
        ds.setJdbcUrl(url);
        ds.setUsername(name);
        ds.setPassword(name);
        return ds;
    }

    /** Rows inserted into the outbox and the queue and deleted again: their dead versions wait for a vacuum. */
    private static void deadRows(HikariDataSource ds, int n) throws Exception {
        try (Connection c = ds.getConnection()) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO order_outbox (payload) VALUES (?)")) {
                for (int i = 0; i < n; i++) {
                    ps.setString(1, "{}");
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO sync_queue (event_slug, order_code, provider, slot, "
                    + "triggered_by, triggered_at, not_before) VALUES ('e', ?, 'crm', 'waiting', 'order.placed', now(), now())")) {
                for (int i = 0; i < n; i++) {
                    ps.setString(1, "C" + i);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            try (Statement s = c.createStatement()) {
                s.execute("DELETE FROM order_outbox");
                s.execute("DELETE FROM sync_queue");
            }
        }
    }

    private static long vacuums(HikariDataSource ds, String table) throws Exception {
        return stat(ds, "vacuum_count", table);
    }

    private static long stat(HikariDataSource ds, String column, String table) throws Exception {
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT " + column + " FROM pg_stat_user_tables WHERE relname = ?")) {
            ps.setString(1, table);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                return rs.getLong(1);
            }
        }
    }
}
