package io.ordersync.queue;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * On H2 the events and providers with waiting rows are found one index probe per value. H2 answers
 * {@code x > ?} by stepping over every index entry equal to {@code ?}: with a backlog of one event, each claim read
 * all its rows (0.9 ms per claim at ten thousand rows, BENCHMARKS.md issue 18 round five). The next probe must read
 * a row or two, however many rows the value before it has.
 */
class WaitingProbesTest {

    private static final int BACKLOG = 3000;
    private HikariDataSource ds;

    @BeforeEach
    void open() throws Exception {
        ds = open("");
    }

    /** A new database with the backlog; {@code urlSettings} appended to its URL. */
    private static HikariDataSource open(String urlSettings) throws Exception {
        Properties p = new Properties();
        p.setProperty("ordersync.db.url", "jdbc:h2:file:" + Files.createTempDirectory("ordersync-probes").resolve("db").toAbsolutePath()
                + urlSettings);
        HikariDataSource ds = Database.open(OrdersyncSettings.from(p));
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
                "INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, triggered_at, not_before) "
                        + "VALUES (?, ?, ?, 'waiting', 'test', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")) {
            c.setAutoCommit(false);
            for (int i = 0; i < BACKLOG; i++) {
                add(ps, "big", "B" + i, "crm");
            }
            // values right after one another in Java's order, one holding U+0000 (the probe's successor of "crm")
            add(ps, "small", "S1", "crm\u0000");
            add(ps, "small\u0000", "S2", "crm\u0000x");
            add(ps, "tiny", "T1", "mailer");
            // values as long as their columns allow: the probe's successor is one character longer
            add(ps, "e".repeat(200), "L1", "m".repeat(100));
            add(ps, "f".repeat(200), "L2", "n".repeat(100));
            ps.executeBatch();
            // an in-flight row is not waiting
            c.createStatement().executeUpdate("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, "
                    + "triggered_at, not_before, lease_until) VALUES ('zbusy', 'Z1', 'zbusy', 'inflight', 'test', CURRENT_TIMESTAMP, "
                    + "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)");
            c.commit();
        }
        return ds;
    }

    private static void add(PreparedStatement ps, String event, String code, String provider) throws Exception {
        ps.setString(1, event);
        ps.setString(2, code);
        ps.setString(3, provider);
        ps.addBatch();
    }

    @AfterEach
    void close() {
        ds.close();
    }

    @Test
    void everyValueWithWaitingRowsIsFoundOnceInOrder() {
        assertThat(new SyncQueue(ds).waitingProviders()).containsExactly("crm", "crm\u0000", "crm\u0000x", "mailer",
                "m".repeat(100), "n".repeat(100));
        // a claim walks the events the same way, past the longest slugs the column holds
        assertThat(new SyncQueue(ds).claim("test", java.time.Duration.ofMinutes(5), 10, java.util.Set.of(), "n".repeat(100),
                java.time.Instant.now().plusSeconds(60))).extracting(QueueEntry::orderCode).containsExactly("L2");
    }

    @Test
    void aCollationThatIgnoresTheSuccessorsCharacterEndsAllTheSame() throws Exception {
        // ENGLISH at primary strength ignores U+0000: the successor of "crm" compares equal to it, and the probe finds
        // "crm" again; the strict probe takes over for that step
        try (HikariDataSource collated = open(";COLLATION=ENGLISH STRENGTH PRIMARY")) {
            java.util.List<String> found = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
                    java.time.Duration.ofSeconds(20), () -> new SyncQueue(collated).waitingProviders());
            assertThat(found).startsWith("crm").contains("mailer", "m".repeat(100)).endsWith("n".repeat(100)).doesNotHaveDuplicates();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"event_slug", "provider"})
    void theNextProbeReadsARowOrTwoNotTheRowsOfTheValueBeforeIt(String column) throws Exception {
        String big = column.equals("provider") ? "crm" : "big";
        assertThat(rowsRead(SyncQueue.nextWaiting(column), SyncQueue.successor(big))).isLessThanOrEqualTo(2);
        // the same probe with > reads the whole backlog of that value: what the successor avoids
        assertThat(rowsRead(SyncQueue.nextWaiting(column).replace(">=", ">"), big)).isGreaterThan(BACKLOG);
    }

    /** The rows H2 read to answer the statement with this parameter (its scanCount). */
    private int rowsRead(String sql, Object parameter) throws Exception {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement("EXPLAIN ANALYZE " + sql)) {
            ps.setObject(1, parameter);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                String plan = rs.getString(1);
                Matcher m = Pattern.compile("scanCount: (\\d+)").matcher(plan);
                assertThat(m.find()).as(plan).isTrue();
                return Integer.parseInt(m.group(1));
            }
        }
    }

    @Test
    void theLeaseCheckReadsTheInFlightRowsNotTheBacklog() throws Exception {
        // no index of its own since V11: the in-flight rows come from the index that starts with slot
        assertThat(rowsRead(SyncQueue.EXPIRED, java.time.OffsetDateTime.now().plusDays(1))).isLessThanOrEqualTo(2);
        assertThat(new SyncQueue(ds).expired(java.time.Instant.now().plusSeconds(60))).extracting(QueueEntry::orderCode)
                .containsExactly("Z1");
    }
}
