package io.ordersync.order;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.db.Tx;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The tries of a sync are one row of sync_tries, or several when they do not fit one: every try comes back as it was
 * stored, in order, whatever its text holds.
 */
class TriesStorageTest {

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aSyncOfHundredsOfTriesWithTheLongestBodiesIsStoredWholeOverSeveralRows(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase(db)))) {
            AttemptLog log = new AttemptLog(ds, 4000, List.of("token"));
            Instant t0 = Instant.parse("2026-12-01T10:00:00.123456Z");
            List<AttemptLog.Attempt> tries = new ArrayList<>();
            // quotes and backslashes double in JSON: each try's text is about 16 000 characters as stored
            String hostile = "\"\\".repeat(1975);
            for (int i = 0; i < 300; i++) {
                tries.add(new AttemptLog.Attempt(t0.plusMillis(i), "m" + i, "contact", "upsert", "POST",
                        "https://crm.example.org/contacts/" + i, i % 7 == 0 ? null : 200, i, hostile, hostile + i,
                        i % 7 == 0 ? "\u0000 ]}\" </script> refused" : null));
            }
            Tx.run(ds, c -> {
                log.record(c, "democon", "BIG01", "crm", tries, Set.of());
                return null;
            });
            List<Map<String, Object>> rows = Tx.run(ds, c -> OrderStore.rows(c, "SELECT try_count, first_at, last_at, "
                    + "LENGTH(tries) AS chars FROM sync_tries ORDER BY id"));
            assertThat(rows.size()).isGreaterThan(1);
            assertThat(rows.stream().mapToInt(r -> ((Number) r.get("try_count")).intValue()).sum()).isEqualTo(300);
            assertThat(rows).allSatisfy(r -> assertThat(((Number) r.get("chars")).intValue()).isLessThanOrEqualTo(AttemptLog.MAX_ROW_CHARS));
            assertThat(rows.get(0).get("first_at")).isEqualTo(t0.toString());
            assertThat(rows.get(rows.size() - 1).get("last_at")).isEqualTo(t0.plusMillis(299).toString());

            List<Map<String, Object>> back = log.forOrder("democon", "BIG01", 1000);
            assertThat(back).hasSize(300);
            for (int i = 0; i < 300; i++) {
                Map<String, Object> t = back.get(i);
                assertThat(t.get("mapping_id")).isEqualTo("m" + i);
                assertThat(t.get("attempted_at")).isEqualTo(t0.plusMillis(i).toString());
                assertThat(t.get("status")).isEqualTo(i % 7 == 0 ? null : 200);
                assertThat(t.get("latency_ms")).isEqualTo(i);
                assertThat(t.get("error")).isEqualTo(i % 7 == 0 ? "\u0000 ]}\" </script> refused" : null);
                assertThat((String) t.get("response_body")).startsWith("\"\\\"\\").contains("… [").endsWith(" characters]");
            }
            assertThat(log.count("democon", "BIG01")).isEqualTo(300);
            // a try's time is kept to the microsecond, as the database keeps every other time
            Tx.run(ds, c -> {
                log.record(c, "democon", "NANO1", "crm", List.of(new AttemptLog.Attempt(t0.plusNanos(789), "m", "contact",
                        "upsert", "GET", "https://crm.example.org/", 200, 1, null, null, null)), Set.of());
                return null;
            });
            assertThat(log.forOrder("democon", "NANO1", 10)).extracting(t -> t.get("attempted_at")).containsExactly(t0.toString());
            // the newest ten, oldest first
            assertThat(log.forOrder("democon", "BIG01", 10)).extracting(t -> t.get("mapping_id"))
                    .containsExactly("m290", "m291", "m292", "m293", "m294", "m295", "m296", "m297", "m298", "m299");
        }
    }
}
