package io.ordersync.queue;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Instances whose clocks differ agree on whose word is live: the entries' times are the database's. Before, each
 * instance wrote and read them with its own clock, and one ahead by more than two thirds of the lifetime saw the
 * others' entries as run out, and dropped the queued rows of the providers only they ran.
 */
class PresenceClockTest {

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void anInstanceWhoseClockIsAheadStillSeesTheOthers(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            Duration ttl = Duration.ofSeconds(30);
            Instant real = Instant.now();
            Clock behind = Clock.offset(Clock.systemUTC(), Duration.ofMinutes(-10));
            Clock ahead = Clock.offset(Clock.systemUTC(), Duration.ofMinutes(10));
            ProviderPresence slow = new ProviderPresence(ds, "slow", ttl, behind);
            ProviderPresence fast = new ProviderPresence(ds, "fast", ttl, ahead);
            slow.announce(Map.of("crm", "{\"triggers\":[\"order.paid\"]}"));
            fast.announce(Map.of("mail", "{\"triggers\":[\"order.placed\"]}"));

            assertThat(fast.runElsewhere()).containsExactly("crm");
            assertThat(slow.runElsewhere()).containsExactly("mail");
            ProviderPresence.Entry crm = fast.others().get(0);
            assertThat(crm.subscription()).isEqualTo("{\"triggers\":[\"order.paid\"]}");
            // until when, in the reader's own time: about the lifetime from its now
            assertThat(Duration.between(ahead.instant(), crm.until())).isBetween(Duration.ofSeconds(20), ttl);
            assertThat(Duration.between(real, slow.others().get(0).until())).isNegative();

            // a stop withdraws at once, whatever the clocks
            slow.withdraw();
            assertThat(fast.runElsewhere()).isEmpty();
            assertThat(slow.runElsewhere()).containsExactly("mail");
        }
    }

    /**
     * A process that never announced has nothing to withdraw, and does not write: a start refused on a database that
     * takes no writes logged a WARN that it "could not withdraw" its providers after its one line saying why.
     */
    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aProcessThatNeverAnnouncedWithdrawsNothing(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            ProviderPresence other = new ProviderPresence(ds, "other", Duration.ofSeconds(30));
            other.announce(Map.of("crm", "{\"triggers\":[\"order.paid\"]}"));
            try (var c = ds.getConnection(); var s = c.createStatement()) {
                // any write to the table fails from now on, whether it touches a row or not (statement triggers)
                if (db.equals("h2")) {
                    s.execute("CREATE TRIGGER no_writes BEFORE DELETE, INSERT ON provider_presence CALL \"" + RefuseWrites.class.getName() + "\"");
                } else {
                    s.execute("CREATE FUNCTION refuse_writes() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no writes here'; END $$ LANGUAGE plpgsql");
                    s.execute("CREATE TRIGGER no_writes BEFORE DELETE OR INSERT ON provider_presence FOR EACH STATEMENT EXECUTE FUNCTION refuse_writes()");
                }
            }
            ProviderPresence never = new ProviderPresence(ds, "never", Duration.ofSeconds(30));
            never.withdraw();
            assertThat(never.runElsewhere()).containsExactly("crm");
            // one whose announce failed tries (a commit may have gone through unconfirmed), and says nothing of it
            ProviderPresence failed = new ProviderPresence(ds, "failed", Duration.ofSeconds(30));
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> failed.announce(Map.of("mail", "{}")))
                    .hasStackTraceContaining("no writes here");
            failed.withdraw();
            assertThat(failed.runElsewhere()).containsExactly("crm");
        }
    }

    public static final class RefuseWrites implements org.h2.api.Trigger {
        @Override
        public void fire(java.sql.Connection conn, Object[] oldRow, Object[] newRow) throws java.sql.SQLException {
            throw new java.sql.SQLException("no writes here");
        }
    }
}
