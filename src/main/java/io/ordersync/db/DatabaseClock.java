package io.ordersync.db;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;

/**
 * The database's time, read on this instance: the database's time at the last measurement ({@link #synchronize}, at
 * start and before each lease check, route {@code queue-reaper}) plus the time passed since by {@link System#nanoTime},
 * so that a step of the instance's own clock (an NTP correction, a VM resumed) changes nothing; before the first
 * measurement it is the instance's clock. Every time the
 * queue stores or compares — a row's due time, its lease, a retry's backoff, the pretix source's fetch and import
 * leases — is taken from it, so instances whose clocks differ agree on when a lease runs out: before, an instance
 * whose clock was ahead by more than a lease took the rows the others had in flight back as expired, and their orders
 * were synced twice.
 * <p>
 * A measurement is one {@code SELECT CURRENT_TIMESTAMP}; its error is at most half its round trip (a millisecond on a
 * local network). When one fails, the time counts on from the last one. A difference of a second or more is logged (once per
 * change of a second or more) as the instance's clock being off.
 */
public final class DatabaseClock extends Clock {

    private static final Logger LOG = LoggerFactory.getLogger(DatabaseClock.class);
    /** A difference from this size on is logged. */
    static final Duration NOTEWORTHY = Duration.ofSeconds(1);

    private final DataSource ds;
    private final Clock base;
    /** Database time minus this instance's, in milliseconds, as last measured: for the log and {@link #offset}. */
    private volatile long offsetMillis;
    /** The database's time (epoch nanoseconds) at the {@link System#nanoTime} of the last measurement; null before one. */
    private volatile Anchor anchor;
    /** The difference last logged (ms), or {@link Long#MIN_VALUE} while none was. */
    private volatile long loggedMillis = Long.MIN_VALUE;
    /** The last measurement failed (said once until one succeeds). */
    private volatile boolean warnedFailure;

    private record Anchor(long epochNanos, long monotonicNanos) {
    }

    /** {@code base}: this instance's clock (the system's in production). */
    public DatabaseClock(DataSource ds, Clock base) {
        this.ds = ds;
        this.base = base;
    }

    /** The database's clock now, in UTC, read on {@code c}: the time every instance on the database reads the same. */
    public static OffsetDateTime now(Connection c) throws java.sql.SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT CURRENT_TIMESTAMP"); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getObject(1, OffsetDateTime.class).withOffsetSameInstant(java.time.ZoneOffset.UTC);
        }
    }

    /**
     * Reads the database's clock again; the queue's time counts on from this reading. Returns the difference to this
     * instance's clock, or the last one if the database could not be asked (logged once until it can again).
     */
    public Duration synchronize() {
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT CURRENT_TIMESTAMP")) {
            long before = base.millis();
            long sent = System.nanoTime();
            OffsetDateTime db;
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                db = rs.getObject(1, OffsetDateTime.class);
            }
            long received = System.nanoTime();
            long after = base.millis();
            if (!c.getAutoCommit()) {
                c.commit();
            }
            Instant at = db.toInstant();
            anchor = new Anchor(Math.addExact(Math.multiplyExact(at.getEpochSecond(), 1_000_000_000L), at.getNano()),
                    sent + (received - sent) / 2);
            long offset = at.toEpochMilli() - (before + after) / 2;
            offsetMillis = offset;
            warnedFailure = false;
            note(offset);
        } catch (SQLException | RuntimeException e) {
            if (!warnedFailure) {
                warnedFailure = true;
                LOG.warn("Could not read the database's clock; queue times count on from its last reading: {}",
                        e.getMessage());
            }
        }
        return offset();
    }

    /** Database time minus this instance's, as last measured (zero before the first measurement). */
    public Duration offset() {
        return Duration.ofMillis(offsetMillis);
    }

    private void note(long offset) {
        long logged = loggedMillis;
        boolean large = Math.abs(offset) >= NOTEWORTHY.toMillis();
        if (large && (logged == Long.MIN_VALUE || Math.abs(offset - logged) >= NOTEWORTHY.toMillis())) {
            loggedMillis = offset;
            LOG.warn("This instance's clock is {} s {} the database's; queue times (due times, leases, retries) use the "
                    + "database's. Keep the clocks in step (NTP)", String.format(java.util.Locale.ROOT, "%.1f",
                    Math.abs(offset) / 1000.0), offset > 0 ? "behind" : "ahead of");
        } else if (logged != Long.MIN_VALUE && Math.abs(offset) < NOTEWORTHY.toMillis() / 2) {
            // back in step (below half the size, so that a difference near it does not log at every measurement): the
            // next difference of a second or more is logged again
            loggedMillis = Long.MIN_VALUE;
            LOG.info("This instance's clock is within {} ms of the database's again", Math.abs(offset));
        }
    }

    @Override
    public Instant instant() {
        Anchor a = anchor;
        if (a == null) {
            return base.instant();
        }
        long nanos = a.epochNanos() + (System.nanoTime() - a.monotonicNanos());
        return Instant.ofEpochSecond(Math.floorDiv(nanos, 1_000_000_000L), Math.floorMod(nanos, 1_000_000_000L));
    }

    @Override
    public long millis() {
        Anchor a = anchor;
        if (a == null) {
            return base.millis();
        }
        return Math.floorDiv(a.epochNanos() + (System.nanoTime() - a.monotonicNanos()), 1_000_000L);
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        DatabaseClock self = this;
        return new Clock() {
            @Override
            public ZoneId getZone() {
                return zone;
            }

            @Override
            public Clock withZone(ZoneId other) {
                return self.withZone(other);
            }

            @Override
            public Instant instant() {
                return self.instant();
            }
        };
    }
}
