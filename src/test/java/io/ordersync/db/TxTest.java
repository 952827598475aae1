package io.ordersync.db;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.Test;

import java.sql.Statement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

/** What a transaction throws when its connection breaks under it (a real PostgreSQL server ends the session). */
class TxTest {

    @Test
    void aConnectionThatBreaksMidTransactionIsReportedAsTheDatabaseBeingUnavailable() throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase()))) {
            // the server ends this session mid-transaction, as a crash or a failover does; the pool then closes the
            // connection, and its rollback fails: that failure must not hide why the transaction failed
            Throwable thrown = catchThrowable(() -> Tx.run(ds, c -> {
                try (Statement s = c.createStatement()) {
                    s.execute("SELECT 1");
                    s.execute("SELECT pg_terminate_backend(pg_backend_pid())");
                }
                return null;
            }));

            assertThat(thrown).isNotNull();
            assertThat(Tx.isDatabaseUnavailable(thrown)).as("classified as an outage: %s", thrown).isTrue();
            assertThat(thrown).hasMessageContaining("terminating connection");
            // the pool goes on with a new connection
            Integer answer = Tx.run(ds, c -> {
                try (Statement s = c.createStatement(); var rs = s.executeQuery("SELECT 41 + 1")) {
                    rs.next();
                    return rs.getInt(1);
                }
            });
            assertThat(answer).isEqualTo(42);
        }
    }

    @Test
    void aConnectionThatBreaksWhileTheTriesAreStoredFailsTheOutcomeAsAnOutageNotAsClosed() throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase()))) {
            io.ordersync.order.AttemptLog log = new io.ordersync.order.AttemptLog(ds, 4000, java.util.List.of("token"));
            java.time.Instant t0 = java.time.Instant.parse("2026-12-04T08:00:00Z");
            // the tries are stored behind a savepoint (tries that cannot be stored must not cost the outcome); a
            // broken connection is not such a case: rolling back to the savepoint fails with "Connection is closed".
            // The session ends inside the tries' insert: a trigger has the server terminate it there
            try (java.sql.Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("CREATE FUNCTION end_session() RETURNS trigger AS $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); "
                        + "RETURN NEW; END $$ LANGUAGE plpgsql");
                s.execute("CREATE TRIGGER end_session BEFORE INSERT ON sync_tries FOR EACH ROW EXECUTE FUNCTION end_session()");
            }
            io.ordersync.order.AttemptLog.Tries tries = log.prepare("democon", "ABC12", "crm", java.util.List.of(
                    new io.ordersync.order.AttemptLog.Attempt(t0, "contact", "contact", "upsert", "POST",
                            "https://crm.example.org/contacts", 200, 5, "{}", "{}", null)), java.util.Set.of());
            Throwable thrown = catchThrowable(() -> Tx.run(ds, c -> {
                log.record(c, java.util.List.of(tries));
                return null;
            }));

            assertThat(thrown).isNotNull();
            assertThat(Tx.isDatabaseUnavailable(thrown)).as("classified as an outage: %s", thrown).isTrue();
            // the same without a savepoint (the tries as a group commit's first writes): the rollback that would
            // let the outcomes go on without the tries fails, and the insert's failure is thrown, not "no tries"
            Throwable first = catchThrowable(() -> Tx.run(ds, c -> log.recordFirst(c, java.util.List.of(tries))));
            assertThat(first).isNotNull();
            assertThat(Tx.isDatabaseUnavailable(first)).as("classified as an outage: %s", first).isTrue();
            assertThat(first).hasStackTraceContaining("terminating connection due to administrator command");
        }
    }
    /**
     * The errors that README ("Database unavailable") counts as the database taking no writes for now, as the real
     * drivers raise them: PostgreSQL read-only (25006) and out of a resource (class 53, here its connection limit), H2
     * opened read-only (90097). A failing statement (a syntax error, class 42) is not one of them.
     */
    @Test
    void readOnlyAndOutOfResourcesAreTheDatabaseBeingUnavailableAndABadStatementIsNot() throws Exception {
        java.util.Properties pg = Postgres.newDatabase();
        String url = pg.getProperty("ordersync.db.url");
        try (var c = java.sql.DriverManager.getConnection(url, "postgres", "postgres"); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE t (a INT)");
            s.execute("CREATE ROLE ordersync_limited LOGIN PASSWORD 'x' CONNECTION LIMIT 0");
            s.execute("SET default_transaction_read_only = on");
            java.sql.SQLException readOnly = (java.sql.SQLException) catchThrowable(() -> s.execute("INSERT INTO t VALUES (1)"));
            assertThat(readOnly.getSQLState()).isEqualTo("25006");
            assertThat(Tx.isDatabaseUnavailable(new RuntimeException(readOnly))).isTrue();
            java.sql.SQLException syntax = (java.sql.SQLException) catchThrowable(() -> s.execute("SELEC 1"));
            assertThat(syntax.getSQLState()).startsWith("42");
            assertThat(Tx.isDatabaseUnavailable(syntax)).isFalse();
        }
        java.sql.SQLException tooMany = (java.sql.SQLException) catchThrowable(() -> java.sql.DriverManager.getConnection(url, "ordersync_limited", "x"));
        assertThat(tooMany.getSQLState()).as(tooMany.getMessage()).isEqualTo("53300");
        assertThat(Tx.isDatabaseUnavailable(tooMany)).isTrue();

        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("ordersync-h2ro");
        String h2 = "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath();
        try (var c = java.sql.DriverManager.getConnection(h2, "sa", ""); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE t (a INT)");
        }
        try (var c = java.sql.DriverManager.getConnection(h2 + ";ACCESS_MODE_DATA=r", "sa", ""); Statement s = c.createStatement()) {
            java.sql.SQLException h2ReadOnly = (java.sql.SQLException) catchThrowable(() -> s.execute("INSERT INTO t VALUES (1)"));
            assertThat(h2ReadOnly.getErrorCode()).as(h2ReadOnly.getMessage()).isEqualTo(90097);
            assertThat(Tx.isDatabaseUnavailable(h2ReadOnly)).isTrue();
        }
    }
}
