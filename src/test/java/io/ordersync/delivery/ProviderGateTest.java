package io.ordersync.delivery;

import io.ordersync.support.Postgres;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

import javax.sql.DataSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The shared Retry-After gate's decisions against its real table (H2 and PostgreSQL), with the times given: two gates
 * on one database are two instances. Cases found by an independent attack on the first version (2026-12-06).
 */
class ProviderGateTest {

    private static final Instant T0 = Instant.parse("2026-12-06T12:00:00Z");

    private static DataSource h2() throws Exception {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL("jdbc:h2:mem:gate" + System.nanoTime() + ";DB_CLOSE_DELAY=-1");
        return schema(ds);
    }

    private static DataSource pg() throws Exception {
        Properties p = Postgres.newDatabase();
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setUrl(p.getProperty("ordersync.db.url"));
        ds.setUser(p.getProperty("ordersync.db.user", "postgres"));
        ds.setPassword(p.getProperty("ordersync.db.password", "postgres"));
        return schema(ds);
    }

    private static DataSource schema(DataSource ds) throws Exception {
        String sql = Files.readString(Path.of("src/main/resources/db/migration/V19__provider_pause.sql")).replaceAll("(?m)^--.*$", "");
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
        return ds;
    }

    private static ProviderGate gate(DataSource ds, String instance, Instant clock, Duration longest) {
        return new ProviderGate(new PauseTable(ds, instance), longest, Clock.fixed(clock, ZoneOffset.UTC));
    }

    @Test
    void aPauseReachesTheOtherInstanceAndARetryThereLiftsItOnBoth() throws Exception {
        for (DataSource ds : new DataSource[]{h2(), pg()}) {
            ProviderGate a = gate(ds, "a", T0.plusSeconds(5), Duration.ofHours(1));
            ProviderGate b = gate(ds, "b", T0.plusSeconds(5), Duration.ofHours(1));
            a.pause("crm", T0.plus(Duration.ofMinutes(10)), T0);
            assertThat(a.pausedUntil("crm", T0)).as("at once where the answer came").isEqualTo(T0.plus(Duration.ofMinutes(10)));
            assertThat(b.pausedUntil("crm", T0)).isNull();
            a.refresh(T0.plusSeconds(1));
            b.refresh(T0.plusSeconds(1));
            assertThat(b.pausedUntil("crm", T0.plusSeconds(1))).isEqualTo(T0.plus(Duration.ofMinutes(10)));
            assertThat(b.resume("crm")).isTrue();
            assertThat(b.pausedUntil("crm", T0.plusSeconds(5))).as("lifted where the retry was, at once").isNull();
            b.refresh(T0.plusSeconds(6));
            a.refresh(T0.plusSeconds(6));
            assertThat(a.pausedUntil("crm", T0.plusSeconds(6))).isNull();
            assertThat(b.pausedUntil("crm", T0.plusSeconds(6))).isNull();
        }
    }

    /** b's target answered before the operator's retry on a, and b writes it only after a's lift: it stays lifted. */
    @Test
    void aRetryIsNotUndoneByAPauseAnotherInstanceWritesLater() throws Exception {
        for (DataSource ds : new DataSource[]{h2(), pg()}) {
            ProviderGate a = gate(ds, "a", T0.plusSeconds(1), Duration.ofHours(1));
            ProviderGate b = gate(ds, "b", T0.plusSeconds(1), Duration.ofHours(1));
            b.pause("crm", T0.plus(Duration.ofMinutes(30)), T0);
            a.resume("crm");
            a.refresh(T0.plusSeconds(1));
            b.refresh(T0.plusSeconds(1));
            a.refresh(T0.plusSeconds(2));
            assertThat(a.pausedUntil("crm", T0.plusSeconds(2))).isNull();
            assertThat(b.pausedUntil("crm", T0.plusSeconds(2))).isNull();
            // an answer after the lift pauses again
            b.pause("crm", T0.plus(Duration.ofMinutes(5)), T0.plusSeconds(3));
            b.refresh(T0.plusSeconds(3));
            a.refresh(T0.plusSeconds(3));
            assertThat(a.pausedUntil("crm", T0.plusSeconds(3))).isEqualTo(T0.plus(Duration.ofMinutes(5)));
        }
    }

    /**
     * x's target answered before an operator's retry on z, y's after it; the retry's lift is written last: y's pause
     * holds on every instance, x's does not (found by a second attack: one row per provider merged the two).
     */
    @Test
    void aPauseAnsweredAfterALiftSurvivesItWhateverTheOrderOfTheWrites() throws Exception {
        for (boolean yFirst : new boolean[]{true, false}) {
            DataSource ds = h2();
            ProviderGate x = gate(ds, "x", T0.plusSeconds(6), Duration.ofHours(1));
            ProviderGate y = gate(ds, "y", T0.plusSeconds(6), Duration.ofHours(1));
            ProviderGate z = gate(ds, "z", T0.plusSeconds(4), Duration.ofHours(1));
            x.pause("crm", T0.plusSeconds(200), T0.plusSeconds(3));
            y.pause("crm", T0.plusSeconds(100), T0.plusSeconds(5));
            z.resume("crm");
            (yFirst ? y : x).refresh(T0.plusSeconds(6));
            (yFirst ? x : y).refresh(T0.plusSeconds(6));
            z.refresh(T0.plusSeconds(6));
            for (ProviderGate g : new ProviderGate[]{x, y, z}) {
                g.refresh(T0.plusSeconds(7));
                assertThat(g.pausedUntil("crm", T0.plusSeconds(7))).isEqualTo(T0.plusSeconds(100));
            }
        }
    }

    /** A row far in the future (or written by hand) ends at the latest max-retry-after after it first appeared. */
    @Test
    void aPauseFromTheTableEndsAtTheLatestTheLongestAfterItAppeared() throws Exception {
        DataSource ds = h2();
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
                "INSERT INTO provider_pause (provider, paused_until, paused_at, instance_id) VALUES ('crm', ?, ?, 'x')")) {
            ps.setObject(1, T0.plus(Duration.ofDays(36500)).atOffset(ZoneOffset.UTC));
            ps.setObject(2, T0.plus(Duration.ofDays(36000)).atOffset(ZoneOffset.UTC));
            ps.executeUpdate();
        }
        ProviderGate a = gate(ds, "a", T0, Duration.ofMinutes(2));
        for (int s = 0; s <= 3600; s += 30) {
            Instant now = T0.plusSeconds(s);
            a.refresh(now);
            if (s < 120) {
                assertThat(a.pausedUntil("crm", now)).isEqualTo(T0.plus(Duration.ofMinutes(2)));
            } else {
                assertThat(a.pausedUntil("crm", now)).as("at +%d s", s).isNull();
            }
        }
    }

    /** A lift the database refuses (a NUL on PostgreSQL) does not stop the reads: the other's pauses still arrive. */
    @Test
    void aWriteTheDatabaseRefusesDoesNotStopTheReads() throws Exception {
        DataSource ds = pg();
        ProviderGate a = gate(ds, "a", T0, Duration.ofHours(1));
        ProviderGate b = gate(ds, "b", T0, Duration.ofHours(1));
        a.resume("crm\u0000");
        b.pause("crm", T0.plus(Duration.ofMinutes(10)), T0);
        b.refresh(T0);
        a.refresh(T0.plusSeconds(1));
        assertThat(a.pausedUntil("crm", T0.plusSeconds(2))).isEqualTo(T0.plus(Duration.ofMinutes(10)));
    }

    /** A retry racing the dispatcher's refresh on one instance: afterwards the pause is gone, here and in the table. */
    @Test
    void aRetryRacingTheRefreshStaysLifted() throws Exception {
        DataSource ds = h2();
        PauseTable table = new PauseTable(ds, "a");
        ProviderGate g = new ProviderGate(table, Duration.ofHours(1), Clock.systemUTC());
        Instant now = Instant.now();
        int bad = 0;
        for (int i = 0; i < 300; i++) {
            Instant answer = Instant.now();
            g.pause("crm", now.plus(Duration.ofMinutes(10)), answer);
            if (i % 2 == 0) {
                g.refresh(now);
            }
            g.pause("crm", now.plus(Duration.ofMinutes(11)), answer);
            Thread r = new Thread(() -> g.refresh(now));
            r.start();
            Thread.sleep(0, (i * 7919) % 1_000_000);
            g.resume("crm");
            r.join();
            g.refresh(now.plusSeconds(1));
            if (g.pausedUntil("crm", now.plusSeconds(1)) != null || !table.read().isEmpty()) {
                bad++;
            }
        }
        assertThat(bad).isZero();
    }
}
