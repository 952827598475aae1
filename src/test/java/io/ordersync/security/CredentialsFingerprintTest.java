package io.ordersync.security;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.admin.UiSessions;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The fingerprint of the admin credentials beside the UI sessions' shared secret (SECURITY.md), on the class against
 * its real tables: what a database that refuses writes, a secret rotated by hand, and instances starting at once with
 * the same new credentials do to it. (Found by an attack on the first form of the fingerprint.)
 */
class CredentialsFingerprintTest {

    @TempDir
    Path tmp;

    private HikariDataSource open(String db) throws Exception {
        Properties p = db.startsWith("h2") ? new Properties() : Postgres.newDatabase();
        if (db.startsWith("h2")) {
            p.setProperty("ordersync.db.url", "jdbc:h2:file:" + tmp.resolve(db.replace(' ', '-')).resolve("db").toAbsolutePath());
        }
        return Database.open(OrdersyncSettings.from(p));
    }

    private static UiSessions instance(HikariDataSource ds, String password) {
        return new UiSessions(ds, Clock.systemUTC(), null, "admin", password);
    }

    private static void exec(HikariDataSource ds, String sql) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    private static String secret(HikariDataSource ds, String name) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT secret FROM shared_secret WHERE name = '" + name + "'")) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    /** Reads work, writes are refused (a standby after a failover, {@code default_transaction_read_only}). */
    private static void readOnly(HikariDataSource ds, String database, boolean on) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            c.setAutoCommit(true);
            s.execute("SET default_transaction_read_only = off");
            s.execute("ALTER DATABASE " + database + " SET default_transaction_read_only = " + (on ? "on" : "off"));
        }
        ds.getHikariPoolMXBean().softEvictConnections();
        // The pool refills in the background: a session it began before the ALTER may join the pool after the
        // eviction with the old setting (a CI run met one). Take every connection the pool can give at once, and
        // evict each one with the old setting until none is left.
        String wanted = on ? "on" : "off";
        for (int round = 0; ; round++) {
            List<Connection> held = new ArrayList<>();
            int stale = 0;
            try {
                for (int i = 0; i < ds.getMaximumPoolSize(); i++) {
                    Connection c = ds.getConnection();
                    held.add(c);
                    try (Statement s = c.createStatement();
                         ResultSet rs = s.executeQuery("SHOW default_transaction_read_only")) {
                        rs.next();
                        if (!wanted.equals(rs.getString(1))) {
                            stale++;
                            ds.evictConnection(c);
                        }
                    }
                }
            } finally {
                for (Connection c : held) c.close();
            }
            if (stale == 0) return;
            if (round == 20) throw new IllegalStateException(stale + " connections still without the new setting");
        }
    }

    /**
     * A database of the version before the fingerprint (none stored) that refuses writes: a session is checked at
     * once, as it was before (the first form tried to insert the fingerprint in a loop without end and never
     * answered); the fingerprint is written once the database takes writes again. With a fingerprint of other
     * credentials the first key is not used (that would revive the sessions of credentials set back): the instance
     * says so at once, without a derivation per request, and rotates once it can.
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void aDatabaseThatRefusesWritesIsAnsweredAtOnce() throws Exception {
        Properties p = Postgres.newDatabase();
        String database = p.getProperty("ordersync.db.url").replaceAll(".*/", "").replaceAll("\\?.*", "");
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(p))) {
            String cookie = instance(ds, "pw1").create("UI session of admin");
            exec(ds, "DELETE FROM shared_secret WHERE name = 'ui-session-credentials'");
            readOnly(ds, database, true);
            long t0 = System.nanoTime();
            UiSessions upgraded = instance(ds, "pw1");
            assertThat(upgraded.actor(cookie)).isEqualTo("UI session of admin");
            assertThat((System.nanoTime() - t0) / 1_000_000).as("ms to answer").isLessThan(5_000);
            assertThat(secret(ds, "ui-session-credentials")).isNull();
            readOnly(ds, database, false);
            instance(ds, "pw1").checkCredentials();
            assertThat(secret(ds, "ui-session-credentials")).matches("[0-9a-f]{16}\\.[0-9a-f]{64}");

            // other credentials than the fingerprint's, and writes refused: no rotation possible, no key used
            String before = secret(ds, "ui-session");
            readOnly(ds, database, true);
            UiSessions changed = instance(ds, "pw2");
            int derived = changed.derivations();
            for (int i = 0; i < 20; i++) {
                assertThatThrownBy(() -> changed.actor(cookie)).isInstanceOf(UiSessions.Unavailable.class);
            }
            // a refused rotation and two derivations (a fifth of a second of CPU each; two is what a run counted), not
            // one per check: counted, not timed (a bound of 3 s for the twenty checks bet on the machine)
            assertThat(changed.derivations() - derived).as("derivations for 20 checks").isLessThanOrEqualTo(2);
            readOnly(ds, database, false);
            Thread.sleep(1100);
            String made = changed.create("UI session of admin");
            assertThat(secret(ds, "ui-session")).isNotEqualTo(before);
            assertThat(changed.actor(made)).isEqualTo("UI session of admin");
            assertThat(instance(ds, "pw1").actor(cookie)).as("the first password's session, set back").isNull();
        }
    }

    /**
     * No secret stored, and writes refused: the start goes on (the first form of the start's check threw, and the
     * instance did not start), and a session check is a 503, not an error. A running instance whose secret row is
     * deleted while writes are refused keeps its key. A rotation the database refuses is tried again once a second
     * without another derivation (the first form derived a new secret's key at every try: a fifth of a second of CPU
     * a second for anyone who sends a cookie).
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void whatADatabaseThatRefusesWritesCostsAStartARunningInstanceAndARotation() throws Exception {
        Properties p = Postgres.newDatabase();
        String database = p.getProperty("ordersync.db.url").replaceAll(".*/", "").replaceAll("\\?.*", "");
        String forged = "a".repeat(48) + "." + "b".repeat(64);
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(p))) {
            UiSessions running = instance(ds, "pw1");
            String cookie = running.create("UI session of admin");
            exec(ds, "DELETE FROM shared_secret");
            readOnly(ds, database, true);
            UiSessions starting = instance(ds, "pw1");
            starting.checkCredentials();
            assertThatThrownBy(() -> starting.actor(cookie)).isInstanceOf(UiSessions.Unavailable.class);
            // the running instance reads the secret again at a MAC that does not hold (at most once a second)
            Thread.sleep(1100);
            assertThat(running.actor(forged)).isNull();
            assertThat(running.actor(cookie)).isEqualTo("UI session of admin");
            readOnly(ds, database, false);

            // a rotation refused: one derivation of the key, one of the new secret's, and none for the retries
            instance(ds, "pw1").checkCredentials();
            readOnly(ds, database, true);
            UiSessions changed = instance(ds, "pw2");
            for (int i = 0; i < 4; i++) {
                assertThatThrownBy(() -> changed.actor(forged)).isInstanceOf(UiSessions.Unavailable.class);
                Thread.sleep(1100);
            }
            assertThat(changed.derivations()).isEqualTo(2);
            readOnly(ds, database, false);
            Thread.sleep(1100);
            assertThat(changed.actor(forged)).isNull();
            assertThat(changed.derivations()).isEqualTo(2);
            assertThat(changed.actor(changed.create("after"))).isEqualTo("after");
        }
    }

    /**
     * The secret rotated by hand while an instance runs (API.md's way to end every session) or replaced because it
     * was malformed: the instance takes it up and writes its fingerprint with it, so a restart with the same
     * credentials keeps the sessions made since (the first form kept the fingerprint of the old secret: every running
     * instance warned of other credentials, and the next restart rotated again and ended every session).
     */
    @ParameterizedTest
    @ValueSource(strings = {"by hand", "malformed"})
    void aSecretReplacedWhileRunningIsKeptByARestartWithTheSameCredentials(String how) throws Exception {
        for (String db : List.of("h2", "postgresql")) {
            try (HikariDataSource ds = open(db + "-" + how)) {
                ListAppender<ILoggingEvent> log = new ListAppender<>();
                Logger sessionsLog = (Logger) org.slf4j.LoggerFactory.getLogger(UiSessions.class);
                log.start();
                sessionsLog.addAppender(log);
                try {
                    UiSessions running = instance(ds, "pw1");
                    String old = running.create("before");
                    exec(ds, "UPDATE shared_secret SET secret = '" + (how.equals("by hand") ? "0123456789abcdef".repeat(4) : "zz")
                            + "' WHERE name = 'ui-session'");
                    String after = running.create("after");
                    assertThat(running.actor(old)).isNull();
                    UiSessions restarted = instance(ds, "pw1");
                    restarted.checkCredentials();
                    assertThat(restarted.actor(after)).as(db).isEqualTo("after");
                    assertThat(log.list).extracting(ILoggingEvent::getFormattedMessage)
                            .noneMatch(m -> m.contains("other admin credentials") || m.contains("was replaced"));
                } finally {
                    sessionsLog.detachAppender(log);
                }
            }
        }
    }

    /**
     * Six instances starting at once with the same new credentials: one rotation, and every cookie good on all six.
     * (Once in two runs, an instance of the first form had read the secret before another replaced it: the next test
     * does that on purpose.)
     */
    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void instancesStartingAtOnceWithTheSameNewCredentialsRotateOnce(String db) throws Exception {
        try (HikariDataSource ds = open(db)) {
            String old = instance(ds, "pw1").create("old");
            ListAppender<ILoggingEvent> log = new ListAppender<>();
            Logger sessionsLog = (Logger) org.slf4j.LoggerFactory.getLogger(UiSessions.class);
            log.start();
            sessionsLog.addAppender(log);
            List<UiSessions> fleet = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                fleet.add(instance(ds, "pw2"));
            }
            ExecutorService pool = Executors.newFixedThreadPool(6);
            CountDownLatch go = new CountDownLatch(1);
            List<Future<String>> made = new ArrayList<>();
            try {
                for (UiSessions s : fleet) {
                    made.add(pool.submit(() -> {
                        go.await();
                        return s.create("new");
                    }));
                }
                go.countDown();
                List<String> cookies = new ArrayList<>();
                for (Future<String> f : made) {
                    cookies.add(f.get(60, TimeUnit.SECONDS));
                }
                for (String c : cookies) {
                    for (UiSessions s : fleet) {
                        assertThat(s.actor(c)).isEqualTo("new");
                    }
                }
                assertThat(log.list).extracting(ILoggingEvent::getFormattedMessage).filteredOn(m -> m.contains("was replaced")).hasSize(1);
                assertThat(fleet.get(0).actor(old)).isNull();
            } finally {
                pool.shutdown();
                sessionsLog.detachAppender(log);
            }
        }
    }

    /**
     * An instance that read the secret just before another with the same new credentials replaced it finds a
     * fingerprint of another secret than the one it read. The first form took that for "nothing to compare with" and
     * wrote its own over it, with the old secret: its cookies were good on no other instance, and the fingerprint
     * was stale. Here the other instance's rotation runs exactly between the two reads (at the second connection the
     * late instance asks for).
     */
    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void anInstanceThatReadTheSecretJustBeforeARotationTakesTheNewOne(String db) throws Exception {
        try (HikariDataSource ds = open(db)) {
            instance(ds, "pw1").create("old");
            UiSessions early = instance(ds, "pw2");
            java.util.concurrent.atomic.AtomicInteger asked = new java.util.concurrent.atomic.AtomicInteger();
            javax.sql.DataSource between = (javax.sql.DataSource) java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                    new Class<?>[]{javax.sql.DataSource.class}, (proxy, m, args) -> {
                        if (m.getName().equals("getConnection") && asked.incrementAndGet() == 2) {
                            early.checkCredentials(); // the secret read, the fingerprint not yet: the rotation now
                        }
                        try {
                            return m.invoke(ds, args);
                        } catch (java.lang.reflect.InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            String before = secret(ds, "ui-session");
            UiSessions late = new UiSessions(between, Clock.systemUTC(), null, "admin", "pw2");
            String cookie = late.create("late");
            String after = secret(ds, "ui-session");
            assertThat(after).as("rotated once, by the early instance").isNotEqualTo(before);
            assertThat(early.actor(cookie)).isEqualTo("late");
            assertThat(late.actor(early.create("early"))).isEqualTo("early");
            assertThat(secret(ds, "ui-session")).isEqualTo(after);
            UiSessions restarted = instance(ds, "pw2");
            restarted.checkCredentials();
            assertThat(restarted.actor(cookie)).as("the fingerprint is the current secret's: a restart keeps the sessions").isEqualTo("late");
        }
    }
}
