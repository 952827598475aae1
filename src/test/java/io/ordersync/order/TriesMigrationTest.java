package io.ordersync.order;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An installation that stored its tries one row per try (sync_attempt, before V12) keeps every one of them: the
 * upgrade moves them into sync_tries and the API shows them as before, oldest first, with the same fields.
 */
class TriesMigrationTest {

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void everyTryStoredBeforeTheUpgradeIsShownAfterIt(String db) throws Exception {
        Properties p = Postgres.newDatabase(db);
        OrdersyncSettings settings = OrdersyncSettings.from(p);
        Instant t0 = Instant.now().minus(2, ChronoUnit.HOURS).truncatedTo(ChronoUnit.MILLIS);
        String longBody = "{\"note\": \"" + "é\\\"x".repeat(900) + "\"}";
        try (HikariDataSource old = new HikariDataSource()) {
            old.setJdbcUrl(settings.jdbcUrl);
            old.setUsername(settings.jdbcUser);
            old.setPassword(settings.jdbcPassword);
            Database.flyway(old, settings.jdbcUrl).target("11").load().migrate();
            try (Connection c = old.getConnection(); PreparedStatement ps = c.prepareStatement("INSERT INTO sync_attempt (event_slug, "
                    + "order_code, provider, mapping_id, remote_type, purpose, method, url, status, latency_ms, request_body, "
                    + "response_body, error, attempted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                add(ps, "democon", "ABC12", "crm", "contact", "GET", 503, null, "{\"error\": \"maintenance\"}", null, t0);
                add(ps, "democon", "ABC12", "crm", "contact", "POST", null, longBody, null, "POST /contacts failed: connection refused",
                        t0.plusSeconds(60));
                add(ps, "democon", "ABC12", "mailer", "member", "PUT", 200, "{\"email\": \"a@example.org\"}", "{\"id\": \"m-1\"}",
                        null, t0.plusSeconds(30));
                add(ps, "democon", "OTHER", "crm", "contact", "GET", 200, null, "{}", null, t0);
                ps.executeBatch();
            }
        }
        try (HikariDataSource ds = Database.open(settings)) {
            AttemptLog log = new AttemptLog(ds, 2000, List.of("token"));
            List<Map<String, Object>> tries = log.forOrder("democon", "ABC12", 200);
            assertThat(tries).extracting(t -> t.get("method")).containsExactly("GET", "PUT", "POST");
            assertThat(tries).extracting(t -> t.get("provider")).containsExactly("crm", "mailer", "crm");
            Map<String, Object> first = tries.get(0);
            assertThat(first).containsEntry("status", 503).containsEntry("latency_ms", 12).containsEntry("mapping_id", "contact")
                    .containsEntry("remote_type", "contact").containsEntry("purpose", "upsert")
                    .containsEntry("url", "https://crm.example.org/contacts").containsEntry("request_body", null)
                    .containsEntry("response_body", "{\"error\": \"maintenance\"}").containsEntry("error", null)
                    .containsEntry("attempted_at", t0.toString());
            assertThat(first.get("id")).isInstanceOf(Long.class);
            // a try without an answer, its body as stored (escapes and non-ASCII intact)
            assertThat(tries.get(2)).containsEntry("status", null).containsEntry("request_body", longBody)
                    .containsEntry("error", "POST /contacts failed: connection refused");
            assertThat(log.count("democon", "ABC12")).isEqualTo(3);
            assertThat(log.count("democon", "OTHER")).isEqualTo(1);
            // the newest two, oldest first
            assertThat(log.forOrder("democon", "ABC12", 2)).extracting(t -> t.get("method")).containsExactly("PUT", "POST");
            try (Connection c = ds.getConnection()) {
                assertThatThrownBy(() -> c.createStatement().executeQuery("SELECT COUNT(*) FROM sync_attempt"))
                        .isInstanceOf(java.sql.SQLException.class);
                try (ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*), SUM(try_count) FROM sync_tries")) {
                    rs.next();
                    assertThat(rs.getInt(1)).isEqualTo(4);
                    assertThat(rs.getInt(2)).isEqualTo(4);
                }
            }
        }
    }

    private static void add(PreparedStatement ps, String event, String code, String provider, String mapping, String method,
                            Integer status, String request, String response, String error, Instant at) throws Exception {
        ps.setString(1, event);
        ps.setString(2, code);
        ps.setString(3, provider);
        ps.setString(4, mapping);
        ps.setString(5, mapping);
        ps.setString(6, "upsert");
        ps.setString(7, method);
        ps.setString(8, "https://crm.example.org/contacts");
        ps.setObject(9, status);
        ps.setInt(10, 12);
        ps.setString(11, request);
        ps.setString(12, response);
        ps.setString(13, error);
        ps.setObject(14, OffsetDateTime.ofInstant(at, ZoneOffset.UTC));
        ps.addBatch();
    }
}
