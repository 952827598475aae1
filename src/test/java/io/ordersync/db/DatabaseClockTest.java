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
}
