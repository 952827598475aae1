package io.ordersync.db;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The queue's clock is the database's, read on the instance: its own clock plus the measured difference. The
 * embedded databases run on this machine's clock, so an instance clock set ten minutes off must come out within a
 * second of the real time once measured.
 */
class DatabaseClockTest {

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void anInstanceClockThatIsOffReadsTheDatabasesTimeOnceMeasured(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            for (Duration skew : new Duration[]{Duration.ofMinutes(10), Duration.ofMinutes(-10), Duration.ZERO}) {
                DatabaseClock clock = new DatabaseClock(ds, Clock.offset(Clock.systemUTC(), skew));
                // before the first measurement: the instance's own clock
                assertThat(Duration.between(Instant.now(), clock.instant()).minus(skew).abs()).isLessThan(Duration.ofSeconds(1));

                Duration offset = clock.synchronize();

                assertThat(offset.plus(skew).abs()).as("the difference measured for %s", skew).isLessThan(Duration.ofSeconds(1));
                assertThat(clock.offset()).isEqualTo(offset);
                assertThat(Duration.between(Instant.now(), clock.instant()).abs()).isLessThan(Duration.ofSeconds(1));
                assertThat(Math.abs(clock.millis() - System.currentTimeMillis())).isLessThan(1000);
                // in another zone: the same instant
                Clock zoned = clock.withZone(ZoneId.of("Europe/Berlin"));
                assertThat(zoned.getZone()).isEqualTo(ZoneId.of("Europe/Berlin"));
                assertThat(Duration.between(clock.instant(), zoned.instant()).abs()).isLessThan(Duration.ofSeconds(1));
                assertThat(zoned.withZone(ZoneId.of("UTC")).getZone()).isEqualTo(ZoneId.of("UTC"));
            }
        }
    }

    @Test
    void aDatabaseThatCannotBeAskedLeavesTheLastDifference() throws Exception {
        HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase("h2")));
        DatabaseClock clock = new DatabaseClock(ds, Clock.offset(Clock.systemUTC(), Duration.ofMinutes(-3)));
        Duration measured = clock.synchronize();
        assertThat(measured.minus(Duration.ofMinutes(3)).abs()).isLessThan(Duration.ofSeconds(1));
        ds.close();

        // no exception: the queue goes on with the difference it had
        assertThat(clock.synchronize()).isEqualTo(measured);
        assertThat(clock.synchronize()).isEqualTo(measured);
        assertThat(Duration.between(Instant.now(), clock.instant()).abs()).isLessThan(Duration.ofSeconds(1));
    }

    @Test
    void aStepOfTheInstancesClockAfterAMeasurementDoesNotMoveTheQueuesTime() throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase("h2")))) {
            Stepping base = new Stepping();
            DatabaseClock clock = new DatabaseClock(ds, base);
            clock.synchronize();
            for (Duration step : new Duration[]{Duration.ofMinutes(2), Duration.ofMinutes(-2), Duration.ofDays(-400)}) {
                base.step = step;
                assertThat(Duration.between(Instant.now(), clock.instant()).abs()).as("after a step of %s", step)
                        .isLessThan(Duration.ofSeconds(1));
                assertThat(Math.abs(clock.millis() - System.currentTimeMillis())).isLessThan(1000);
            }
            // the next measurement sees the difference (and says so), the queue's time stays the database's
            assertThat(clock.synchronize().plus(Duration.ofDays(-400)).abs()).isLessThan(Duration.ofSeconds(1));
            assertThat(Duration.between(Instant.now(), clock.instant()).abs()).isLessThan(Duration.ofSeconds(1));
        }
    }

    @Test
    void aDifferenceOfASecondOrMoreIsLoggedOnceAndAgainAfterTheClocksWereInStep() throws Exception {
        ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(DatabaseClock.class);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> log = new ch.qos.logback.core.read.ListAppender<>();
        log.start();
        logger.addAppender(log);
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase("h2")))) {
            Stepping base = new Stepping();
            DatabaseClock clock = new DatabaseClock(ds, base);
            // found by an attack: after "in step again" at 0.5 s, 1.4 s was not logged (it differed from 0.5 s by less than 1 s)
            long[] behindMillis = {1500, 1600, 100, 1400, 1450, 2600, 300, 1300};
            for (long ms : behindMillis) {
                base.step = Duration.ofMillis(-ms);
                clock.synchronize();
            }
            List<String> lines = log.list.stream().map(e -> e.getLevel() + " " + e.getFormattedMessage().replaceAll(";.*", ""))
                    .toList();
            assertThat(lines).hasSize(6);
            assertThat(lines.get(0)).startsWith("WARN This instance's clock is 1.5 s behind");
            assertThat(lines.get(1)).startsWith("INFO This instance's clock is within");
            assertThat(lines.get(2)).startsWith("WARN This instance's clock is 1.4 s behind");
            assertThat(lines.get(3)).startsWith("WARN This instance's clock is 2.6 s behind");
            assertThat(lines.get(4)).startsWith("INFO");
            assertThat(lines.get(5)).startsWith("WARN This instance's clock is 1.3 s behind");
        } finally {
            logger.detachAppender(log);
        }
    }

    /** The system's clock, stepped by {@link #step}. */
    private static final class Stepping extends Clock {
        volatile Duration step = Duration.ZERO;

        @Override
        public ZoneId getZone() {
            return java.time.ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Instant instant() {
            return Clock.systemUTC().instant().plus(step);
        }
    }
}
