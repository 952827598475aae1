package io.ordersync.db;

import io.ordersync.config.OrdersyncSettings;
import io.ordersync.queue.SyncQueue;
import io.ordersync.support.Postgres;
import com.zaxxer.hikari.HikariDataSource;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The queue tables' own vacuum on PostgreSQL (routes/vacuum.camel.yaml), against a real server. */
class QueueVacuumTest {

    @Test
    void aTableIsDueOnceItHoldsTheLimitOfDeadRows() {
        assertThat(QueueVacuum.due(Map.of("sync_queue", 1999L, "order_outbox", 2000L), 2000)).containsExactly("order_outbox");
        assertThat(QueueVacuum.due(Map.of("order_outbox", 5000L, "sync_queue", 5000L), 2000))
                .containsExactly("sync_queue", "order_outbox");
        assertThat(QueueVacuum.due(Map.of("sync_queue", 1_000_000L), 0)).isEmpty();
        assertThat(QueueVacuum.due(Map.of(), 1)).isEmpty();
    }

    @Test
    void aNegativeLimitIsRefusedAtStart() {
        Properties p = new Properties();
        p.setProperty("ordersync.db.vacuum-dead-rows", "-1");
        assertThatThrownBy(() -> OrdersyncSettings.from(p)).hasMessageContaining("ordersync.db.vacuum-dead-rows");
    }

    /**
     * Twenty thousand synced (deleted) rows ahead of fifty waiting ones: until a vacuum, every claim steps over
     * their index entries; after it, a claim reads a few pages.
     */
    @Test
    void afterTheVacuumAClaimNoLongerStepsOverTheDeletedRows() throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase()))) {
            Instant old = Instant.parse("2026-05-01T10:00:00Z");
            insertWaiting(ds, "S", 20_000, old);
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("DELETE FROM sync_queue");
            }
            insertWaiting(ds, "W", 50, old.plusSeconds(3600));
            QueueVacuum vacuum = new QueueVacuum(ds, true, 2000);

            claimBuffers(ds);
            long before = claimBuffers(ds);
            // the statistics learn of the deletes a moment after their commit
            await().atMost(Duration.ofSeconds(30)).until(() -> vacuum.run().contains("sync_queue"));
            long after = claimBuffers(ds);

            // a claim of 16 rows reads about 60 buffers itself (the index pages, the rows, a sibling probe per row);
            // the entries of 20 000 deleted rows fill about 110 more index pages
            assertThat(before - after).as("buffers per claim before (%d) and after (%d) the vacuum", before, after)
                    .isGreaterThan(80);
            await().atMost(Duration.ofSeconds(30)).until(() -> deadRows(ds, "sync_queue") == 0);
            // and the rows are claimed as before
            assertThat(new SyncQueue(ds).claim("test", Duration.ofMinutes(5), 100, Set.of(), old.plusSeconds(7200)))
                    .hasSize(50);
        }
    }

    @Test
    void belowTheLimitNothingIsVacuumed() throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase()))) {
            insertWaiting(ds, "S", 500, Instant.parse("2026-05-01T10:00:00Z"));
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("DELETE FROM sync_queue");
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> deadRows(ds, "sync_queue") == 500);
            assertThat(new QueueVacuum(ds, true, 2000).run()).isEmpty();
            assertThat(new QueueVacuum(ds, true, 0).run()).isEmpty();
            assertThat(deadRows(ds, "sync_queue")).isEqualTo(500);
        }
    }

    /** A database user that does not own the tables: PostgreSQL skips them with a warning; nothing fails. */
    @Test
    void aUserThatMayNotVacuumTheTablesGetsNoError() throws Exception {
        Properties db = Postgres.newDatabase();
        try (HikariDataSource owner = Database.open(OrdersyncSettings.from(db))) {
            insertWaiting(owner, "S", 3000, Instant.parse("2026-05-01T10:00:00Z"));
            try (Connection c = owner.getConnection(); Statement s = c.createStatement()) {
                s.execute("DELETE FROM sync_queue");
                s.execute("DROP ROLE IF EXISTS ordersync_guest");
                s.execute("CREATE ROLE ordersync_guest LOGIN PASSWORD 'guest'");
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> deadRows(owner, "sync_queue") == 3000);
            HikariDataSource guest = new HikariDataSource();
            guest.setJdbcUrl(db.getProperty("ordersync.db.url"));
            guest.setUsername("ordersync_guest");
            guest.setPassword("guest");
            try (guest) {
                assertThat(new QueueVacuum(guest, true, 2000).run()).containsExactly("sync_queue");
            }
            assertThat(deadRows(owner, "sync_queue")).as("not vacuumed: the guest may not").isEqualTo(3000);
        }
    }

    @Test
    void anUnreachableDatabaseIsAWarningNotAFailure() throws Exception {
        HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase()));
        ds.close();
        assertThat(new QueueVacuum(ds, true, 1).run()).isEmpty();
    }

    @Test
    void onH2ItDoesNothing() throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase("h2")))) {
            assertThat(new QueueVacuum(ds, false, 1).run()).isEmpty();
        }
    }

    private static void insertWaiting(HikariDataSource ds, String prefix, int n, Instant due) throws Exception {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement("INSERT INTO sync_queue (event_slug, "
                + "order_code, provider, slot, triggered_by, triggered_at, not_before) VALUES ('democon', ?, 'crm', 'waiting', "
                + "'order.placed', ?, ?)")) {
            for (int i = 0; i < n; i++) {
                ps.setString(1, prefix + i);
                ps.setObject(2, due.plusMillis(i).atOffset(ZoneOffset.UTC));
                ps.setObject(3, due.plusMillis(i).atOffset(ZoneOffset.UTC));
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    /** The buffers one claim's candidate query reads (EXPLAIN ANALYZE of the statement a claim runs). */
    private static long claimBuffers(HikariDataSource ds) throws Exception {
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement("EXPLAIN (ANALYZE, BUFFERS) " + SyncQueue.candidatesSql(0, true))) {
            ps.setString(1, "democon");
            ps.setObject(2, Instant.parse("2026-06-01T00:00:00Z").atOffset(ZoneOffset.UTC));
            ps.setString(3, "crm");
            ps.setInt(4, 16);
            StringBuilder plan = new StringBuilder();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    plan.append(rs.getString(1)).append('\n');
                }
            }
            Matcher m = Pattern.compile("Buffers: shared hit=(\\d+)(?: read=(\\d+))?").matcher(plan);
            assertThat(m.find()).as(plan.toString()).isTrue();
            return Long.parseLong(m.group(1)) + (m.group(2) == null ? 0 : Long.parseLong(m.group(2)));
        }
    }

    private static long deadRows(HikariDataSource ds, String table) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = '" + table + "'")) {
            return rs.next() ? rs.getLong(1) : -1;
        }
    }
}
