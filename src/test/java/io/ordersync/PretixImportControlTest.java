package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.order.Retention;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import io.ordersync.support.PretixTestServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Imports from pretix as an operator drives them: started twice (a double click, a command run twice) they were two
 * imports reading every page of the event twice; now one runs per event and a second start answers 409 with it. A
 * running import can be canceled; imports that ended are purged with the tries. On the default H2 and on PostgreSQL.
 */
class PretixImportControlTest extends AppTestSupport {

    private PretixTestServer pretix;

    @AfterEach
    void stopPretix() {
        if (pretix != null) {
            pretix.close();
        }
    }

    private void startWithPretix(String db, int orders) throws Exception {
        pretix = PretixTestServer.start();
        pretix.addOrders("democon", "P", orders - 1);
        Map<String, String> props = databaseSettings(db);
        props.putAll(pretix.settings());
        props.put("ordersync.pretix.import-page-pause-ms", "0");
        startWithCrm(5, "5s, 5m", props);
    }

    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"h2", "postgresql"})
    void sixteenStartsAtOnceStartOneImport(String db) throws Exception {
        startWithPretix(db, 150);
        pretix.slow(300); // the import is still running when every start has its answer
        ExecutorService pool = Executors.newFixedThreadPool(16);
        List<HttpResponse<String>> answers = new ArrayList<>();
        try {
            List<Future<HttpResponse<String>>> calls = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                calls.add(pool.submit(() -> app.post("/api/sources/pretix/import", "{\"event\": \"democon\"}")));
            }
            for (Future<HttpResponse<String>> f : calls) {
                answers.add(f.get(60, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(answers).filteredOn(r -> r.statusCode() == 202).as("one import started").hasSize(1);
        assertThat(answers).filteredOn(r -> r.statusCode() == 409).as("the others told it runs").hasSize(15);
        long id = JSON.readTree(answers.stream().filter(r -> r.statusCode() == 202).findFirst().orElseThrow().body()).path("id").asLong();
        for (HttpResponse<String> r : answers) {
            JsonNode body = JSON.readTree(r.body());
            assertThat(body.path("id").asLong()).as(r.body()).isEqualTo(id);
            if (r.statusCode() == 409) {
                assertThat(body.path("error").asText()).contains("import #" + id + " of democon is running");
            }
        }
        assertThat(app.count("SELECT COUNT(*) FROM pretix_import")).isEqualTo(1);
        pretix.slow(0);
        await().atMost(Duration.ofSeconds(60)).until(() -> "done".equals(app.query("SELECT state FROM pretix_import").get(0).get("state")));
        assertThat(pretix.requestsTo("/orders/")).as("each page read once").isEqualTo(3);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).isEqualTo(150);
        // done: the event can be imported again (each order found unchanged)
        HttpResponse<String> again = app.post("/api/sources/pretix/import", "{\"event\": \"democon\"}");
        assertThat(again.statusCode()).as(again.body()).isEqualTo(202);
        assertThat(JSON.readTree(again.body()).path("id").asLong()).isNotEqualTo(id);
        await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM pretix_import WHERE state = 'done'") == 2);
        JsonNode second = JSON.readTree(app.get("/api/sources/pretix").body()).path("imports").path(0);
        assertThat(second.path("unchanged").asInt()).as(second.toString()).isEqualTo(150);
    }

    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"h2", "postgresql"})
    void aCanceledImportReadsNoFurtherPageAndKeepsWhatItTookIn(String db) throws Exception {
        startWithPretix(db, 500);
        pretix.slow(400);
        HttpResponse<String> started = app.post("/api/sources/pretix/import", "{\"event\": \"democon\"}");
        assertThat(started.statusCode()).as(started.body()).isEqualTo(202);
        long id = JSON.readTree(started.body()).path("id").asLong();
        await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT done FROM pretix_import") >= 100);

        HttpResponse<String> canceled = app.post("/api/sources/pretix/import/" + id + "/cancel", "{}");
        assertThat(canceled.statusCode()).as(canceled.body()).isEqualTo(200);
        assertThat(JSON.readTree(canceled.body()).path("state").asText()).isEqualTo("canceled");
        long doneAtCancel = app.count("SELECT done FROM pretix_import");
        long readAtCancel = pretix.requestsTo("/orders/");
        Thread.sleep(2_500); // six pages' time
        assertThat(app.count("SELECT done FROM pretix_import")).as("the page read meanwhile is not stored").isEqualTo(doneAtCancel);
        assertThat(pretix.requestsTo("/orders/") - readAtCancel).as("at most the page under way").isLessThanOrEqualTo(1);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).as("what it took in stays").isEqualTo(doneAtCancel);
        JsonNode imp = JSON.readTree(app.get("/api/sources/pretix").body()).path("imports").path(0);
        assertThat(imp.path("state").asText()).isEqualTo("canceled");

        // a second cancel, an unknown id, no id at all
        HttpResponse<String> twice = app.post("/api/sources/pretix/import/" + id + "/cancel", "{}");
        assertThat(twice.statusCode()).as(twice.body()).isEqualTo(409);
        assertThat(twice.body()).contains("is canceled, not running");
        assertThat(app.post("/api/sources/pretix/import/99999/cancel", "{}").statusCode()).isEqualTo(404);
        for (String hostile : List.of("abc", "-1", "1e3", "99999999999999999999", "%00")) {
            HttpResponse<String> r = app.post("/api/sources/pretix/import/" + hostile + "/cancel", "{}");
            assertThat(r.statusCode()).as(hostile + ": " + r.body()).isEqualTo(404);
        }

        // the event can be imported again at once, and that import goes to the end
        pretix.slow(0);
        HttpResponse<String> again = app.post("/api/sources/pretix/import", "{\"event\": \"democon\"}");
        assertThat(again.statusCode()).as(again.body()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM pretix_import WHERE state = 'done'") == 1);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isEqualTo(500);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("each order taken in once").isEqualTo(500);
    }

    /** The command line run while the event's import runs follows that import instead of failing. */
    @Test
    void theCommandLineFollowsTheImportThatRuns() throws Exception {
        startWithPretix("h2", 200);
        pretix.slow(300);
        HttpResponse<String> started = app.post("/api/sources/pretix/import", "{\"event\": \"democon\"}");
        assertThat(started.statusCode()).as(started.body()).isEqualTo(202);
        CommandRun run = command("pretix-import", "--event", "democon", "--url", app.url(""));
        assertThat(run.code()).as(run.err()).isZero();
        assertThat(run.out()).contains("import #1 of democon is running already; following it").contains("200 / 200 orders")
                .contains("import #1 done");
        assertThat(app.count("SELECT COUNT(*) FROM pretix_import")).isEqualTo(1);
    }

    /** Imports that ended are history: deleted after ordersync.retention.attempts; a running one is never deleted. */
    @Test
    void importsThatEndedLongAgoArePurgedAndRunningOnesKept() throws Exception {
        startWithPretix("h2", 1);
        try (Connection c = app.dataSource().getConnection(); Statement s = c.createStatement()) {
            String old = "TIMESTAMP WITH TIME ZONE '2020-01-01 00:00:00+00'";
            s.executeUpdate("INSERT INTO pretix_import (event_slug, state, next_page, started_at, updated_at) VALUES "
                    + "('democon', 'done', 3, " + old + ", " + old + "), ('democon', 'failed', 1, " + old + ", " + old + "), "
                    + "('democon', 'canceled', 2, " + old + ", " + old + "), ('democon', 'done', 3, " + old + ", CURRENT_TIMESTAMP)");
            s.executeUpdate("INSERT INTO pretix_import (event_slug, state, next_page, started_at, updated_at, lease_until, running_event) "
                    + "VALUES ('democon', 'running', 1, " + old + ", " + old + ", " + "CURRENT_TIMESTAMP + INTERVAL '1' HOUR, 'democon')");
        }
        Retention retention = (Retention) app.context().getRegistry().lookupByName("ordersync.retention");
        Map<String, Integer> deleted = retention.purge(Instant.now());
        assertThat(deleted).containsEntry("pretix_import", 3);
        assertThat(app.query("SELECT state FROM pretix_import ORDER BY id")).extracting(r -> r.get("state")).containsExactly("done", "running");
    }

    /**
     * An installation that started an event's import twice before this version: the upgrade gives the newest the
     * event's slot (the older runs on without it), and a third running import of the event is refused by the database.
     */
    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"h2", "postgresql"})
    void theUpgradeKeepsImportsStartedTwiceAndAllowsNoThird(String db) throws Exception {
        Properties p = Postgres.newDatabase(db);
        OrdersyncSettings settings = OrdersyncSettings.from(p);
        try (HikariDataSource old = new HikariDataSource()) {
            old.setJdbcUrl(settings.jdbcUrl);
            old.setUsername(settings.jdbcUser);
            old.setPassword(settings.jdbcPassword);
            Database.flyway(old, settings.jdbcUrl).target("23").load().migrate();
            try (Connection c = old.getConnection(); Statement s = c.createStatement()) {
                s.executeUpdate("INSERT INTO pretix_import (event_slug, state, next_page, started_at, updated_at) VALUES "
                        + "('democon', 'running', 4, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
                        + "('democon', 'running', 2, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
                        + "('democon', 'done', 9, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
                        + "('other', 'running', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)");
            }
        }
        try (HikariDataSource ds = Database.open(settings)) {
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                List<String> rows = new ArrayList<>();
                try (var rs = s.executeQuery("SELECT id, state, running_event FROM pretix_import ORDER BY id")) {
                    while (rs.next()) {
                        rows.add(rs.getLong(1) + " " + rs.getString(2) + " " + rs.getString(3));
                    }
                }
                assertThat(rows).containsExactly("1 running null", "2 running democon", "3 done null", "4 running other");
                assertThatThrownBy(() -> s.executeUpdate("INSERT INTO pretix_import (event_slug, state, next_page, started_at, "
                        + "updated_at, running_event) VALUES ('democon', 'running', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'democon')"))
                        .isInstanceOf(SQLException.class).extracting(e -> ((SQLException) e).getSQLState()).isEqualTo("23505");
            }
        }
    }
}
