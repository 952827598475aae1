package io.ordersync.order;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.db.Database;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Tx;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

/** The results of a sync, stored in one batch: each replaces the earlier result of the same object. */
class SyncResultsTest {

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aSyncReplacesTheResultsOfItsObjectsAndKeepsTheOthers(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(settings(db)))) {
            OrderStore store = new OrderStore(ds);
            Instant t = Instant.parse("2026-11-28T10:00:00Z");
            save(ds, store, List.of(result("contact", "a@example.org", "C1", "created", t),
                    result("ticket", "ABC12-1", "T1", "created", t),
                    result("ticket", "ABC12-2", "T2", "created", t)));
            // the next sync of the order: the contact and the first ticket again, the second ticket not
            // (the contact was made anew at the target: a new remote id)
            save(ds, store, List.of(result("contact", "a@example.org", "C9", "nothing_to_do", t.plusSeconds(60)),
                    result("ticket", "ABC12-1", "T1", "updated", t.plusSeconds(60))));

            assertThat(store.results("democon", "ABC12")).extracting(r -> r.get("mapping_id"), r -> r.get("id_value"),
                            r -> r.get("remote_id"), r -> r.get("action"), r -> java.time.OffsetDateTime.parse((String) r.get("synced_at"))
                                    .toEpochSecond())
                    .containsExactlyInAnyOrder(tuple("contact", "a@example.org", "C9", "nothing_to_do", t.plusSeconds(60).getEpochSecond()),
                            tuple("ticket", "ABC12-1", "T1", "updated", t.plusSeconds(60).getEpochSecond()),
                            tuple("ticket", "ABC12-2", "T2", "created", t.getEpochSecond()));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void twoObjectsOfOneSyncWithTheSameIdValueAreOneResultTheLaterOne(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(settings(db)))) {
            OrderStore store = new OrderStore(ds);
            Instant t = Instant.parse("2026-11-28T10:00:00Z");
            // two tickets keyed by one attendee e-mail: the second upsert found and updated the first's object
            save(ds, store, List.of(result("attendee", "b@example.org", "A1", "created", t),
                    result("attendee", "b@example.org", "A1", "updated", t)));

            List<Map<String, Object>> rows = store.results("democon", "ABC12");
            assertThat(rows).extracting(r -> r.get("action")).containsExactly("updated");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void theSyncsOfOneGroupCommitAreStoredTogetherEachOrderOnItsOwn(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(settings(db)))) {
            OrderStore store = new OrderStore(ds);
            Instant t = Instant.parse("2026-11-28T10:00:00Z");
            save(ds, store, List.of(result("contact", "a@example.org", "C1", "created", t)));
            Tx.run(ds, c -> {
                store.saveResults(c, List.of(
                        new OrderStore.ResultsOf("democon", "ABC12", "crm", List.of(result("contact", "a@example.org", "C1", "updated", t.plusSeconds(5)))),
                        new OrderStore.ResultsOf("democon", "XYZ99", "crm", List.of(result("contact", "a@example.org", "C1", "nothing_to_do", t.plusSeconds(5)))),
                        new OrderStore.ResultsOf("democon", "ABC12", "mail", List.of(result("contact", "a@example.org", "M1", "created", t.plusSeconds(5))))));
                return null;
            });
            assertThat(store.results("democon", "ABC12")).extracting(r -> r.get("provider"), r -> r.get("remote_id"), r -> r.get("action"))
                    .containsExactlyInAnyOrder(tuple("crm", "C1", "updated"), tuple("mail", "M1", "created"));
            assertThat(store.results("democon", "XYZ99")).extracting(r -> r.get("action")).containsExactly("nothing_to_do");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void anOverLongIdValueIsCutTheSameWayEachTimeSoItsResultIsReplaced(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(settings(db)))) {
            OrderStore store = new OrderStore(ds);
            Instant t = Instant.parse("2026-11-28T10:00:00Z");
            String longId = "x".repeat(5000);
            save(ds, store, List.of(result("contact", longId, "C1", "created", t)));
            save(ds, store, List.of(result("contact", longId, "C2", "updated", t.plusSeconds(1))));
            assertThat(store.results("democon", "ABC12")).extracting(r -> ((String) r.get("id_value")).length(), r -> r.get("remote_id"))
                    .containsExactly(tuple(1000, "C2"));
        }
    }

    private static void save(HikariDataSource ds, OrderStore store, List<OrderStore.Result> results) {
        Tx.run(ds, c -> {
            store.saveResults(c, "democon", "ABC12", "crm", results);
            return null;
        });
    }

    private static OrderStore.Result result(String mapping, String idValue, String remoteId, String action, Instant at) {
        return new OrderStore.Result(mapping, mapping, "id", idValue, remoteId, null, idValue, action, at);
    }

    private static Properties settings(String db) throws Exception {
        if (db.equals("postgresql")) {
            return Postgres.newDatabase();
        }
        Properties p = new Properties();
        p.setProperty("ordersync.db.url", "jdbc:h2:file:" + Files.createTempDirectory("ordersync-results").resolve("db").toAbsolutePath());
        return p;
    }
}
