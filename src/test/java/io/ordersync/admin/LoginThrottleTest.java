package io.ordersync.admin;

import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;

import static org.assertj.core.api.Assertions.assertThat;

/** The throttle's memory stays bounded and keeps counting under a spray of addresses (found by attacks, 2026-12-06). */
class LoginThrottleTest {

    /** 120 000 locked keys counted by other instances, in the real table: this instance holds at most MAX_KEYS of them. */
    @Test
    void keysReadFromTheOtherInstancesDoNotGrowTheMemoryPastItsBound() throws Exception {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL("jdbc:h2:mem:throttle" + System.nanoTime() + ";DB_CLOSE_DELAY=-1");
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(Files.readString(Path.of("src/main/resources/db/migration/V20__login_failures.sql")).replaceAll("(?m)^--.*$", ""));
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO login_failure (key_hash, failures, last_failure_at) VALUES (?, 9, ?)")) {
                OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
                for (int i = 0; i < 120_000; i++) {
                    ps.setString(1, String.format("%064x", i));
                    ps.setObject(2, now);
                    ps.addBatch();
                    if (i % 10_000 == 9_999) {
                        ps.executeBatch();
                    }
                }
            }
        }
        LoginThrottle t = new LoginThrottle(new LoginFailureTable(ds));
        t.locked(Instant.now(), "client:10.0.0.1");
        assertThat(t.keys()).isGreaterThan(LoginThrottle.MAX_KEYS / 2).isLessThanOrEqualTo(LoginThrottle.MAX_KEYS);
    }

    /**
     * MAX_KEYS addresses locked (15 failures each), then one more guesses 30 times: it is counted and locked. Before,
     * every failure first forgot all keys not locked yet, the new one among them, so its count never passed 1.
     */
    @Test
    void aSprayOfLockedAddressesDoesNotSwitchOffTheLockOfANewOne() {
        LoginThrottle t = new LoginThrottle();
        Instant t0 = Instant.parse("2026-12-06T12:00:00Z");
        for (int a = 0; a <= LoginThrottle.MAX_KEYS; a++) {
            String client = "client:2001:db8::" + Integer.toHexString(a);
            for (int f = 0; f < 15; f++) {
                t.failed(t0.plusMillis(4L * a), client);
            }
        }
        Instant now = t0.plusMillis(4L * (LoginThrottle.MAX_KEYS + 1));
        String guesser = "client:2001:db8:1::1";
        int highest = 0;
        for (int f = 0; f < 30; f++) {
            highest = t.failed(now, guesser);
        }
        assertThat(highest).isGreaterThanOrEqualTo(LoginThrottle.FREE_FAILURES);
        assertThat(t.locked(now, guesser)).as("the guesser is locked after 30 failures").isNotNull();
        assertThat(t.keys()).isLessThanOrEqualTo(LoginThrottle.MAX_KEYS + 1);
    }

    /** The lock grows with each failure and stops at 15 minutes (SECURITY.md): 30 failures do not lock for 2^30 s. */
    @Test
    void theLockGrowsAndStopsAtFifteenMinutes() {
        LoginThrottle t = new LoginThrottle();
        java.time.Instant now = java.time.Instant.parse("2026-12-07T10:00:00Z");
        java.time.Duration previous = java.time.Duration.ZERO;
        for (int i = 1; i <= 30; i++) {
            t.failed(now, "user:admin");
            java.time.Duration lock = t.locked(now, "user:admin");
            if (lock != null) {
                assertThat(lock).as("failure %d", i).isGreaterThanOrEqualTo(previous).isLessThanOrEqualTo(LoginThrottle.MAX_LOCK);
                previous = lock;
            }
        }
        assertThat(previous).isEqualTo(java.time.Duration.ofMinutes(15));
        assertThat(t.locked(now.plus(java.time.Duration.ofMinutes(15)).plusSeconds(1), "user:admin")).as("over after 15 min").isNull();
    }

    /**
     * As API.md says: four failures cost nothing, the fifth locks for 1 s, each further one doubles it (2, 4, 8 … s),
     * up to 15 minutes (the 15th: 1 024 s, cut to 900). A flat 15 minutes from the fifth would lock out an admin who
     * mistyped five times; each failure here comes once the lock before it is over, as a patient client's would.
     */
    @Test
    void theLockIsOneSecondAtTheFifthFailureAndDoublesUpToFifteenMinutes() {
        LoginThrottle t = new LoginThrottle();
        java.time.Instant at = java.time.Instant.parse("2026-12-07T10:00:00Z");
        java.util.List<Long> locks = new java.util.ArrayList<>();
        for (int i = 1; i <= 16; i++) {
            assertThat(t.locked(at, "client:10.0.0.9")).as("before failure %d", i).isNull();
            t.failed(at, "client:10.0.0.9");
            java.time.Duration lock = t.locked(at, "client:10.0.0.9");
            locks.add(lock == null ? 0 : lock.toSeconds());
            at = at.plus(lock == null ? java.time.Duration.ofMillis(10) : lock.plusMillis(1));
        }
        assertThat(locks).containsExactly(0L, 0L, 0L, 0L, 1L, 2L, 4L, 8L, 16L, 32L, 64L, 128L, 256L, 512L, 900L, 900L);
    }
}
