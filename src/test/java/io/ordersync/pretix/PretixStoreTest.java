package io.ordersync.pretix;

import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.db.Tx;
import io.ordersync.support.Postgres;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/** The pretix source's fetch rows on each database: what a trigger during a fetch and the parking keep. */
class PretixStoreTest {

    private static final Instant T0 = Instant.parse("2026-11-01T10:00:00Z");
    /** What README says: a parked fetch is forgotten 7 days after it parked. */
    private static final Duration KEPT = PretixSource.PARKED_KEPT;

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aTriggerThatCameDuringTheFetchKeepsItsRowDueAtOnce(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(settings(db)))) {
            PretixStore store = new PretixStore(ds, Duration.ofMinutes(2));
            enqueue(ds, store, "ABC12", "pretix.event.order.placed", T0);
            List<PretixStore.Fetch> claimed = store.claimFetches(10, T0);
            assertThat(claimed).hasSize(1);
            // while the fetch reads pretix, the order is paid: the webhook merges into the row
            enqueue(ds, store, "ABC12", "pretix.event.order.paid", T0.plusSeconds(1));
            // the fetch read the order before it was paid; its document is accepted with the old version
            Tx.run(ds, c -> {
                store.fetchDone(c, claimed.get(0).id(), claimed.get(0).version());
                return null;
            });
            List<PretixStore.Fetch> again = store.claimFetches(10, T0.plusSeconds(2));
            assertThat(again).extracting(PretixStore.Fetch::code, PretixStore.Fetch::type)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple("ABC12", "pretix.event.order.paid"));
            // that second fetch saw the paid order, and nothing came meanwhile: done, the row is gone
            Tx.run(ds, c -> {
                store.fetchDone(c, again.get(0).id(), again.get(0).version());
                return null;
            });
            assertThat(store.fetchStatus().get("fetches")).isEqualTo(0L);
            assertThat(store.claimFetches(10, T0.plusSeconds(600))).isEmpty();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aParkedFetchIsKeptForSevenDaysFromItsParkingNotFromItsFirstTrigger(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(settings(db)))) {
            PretixStore store = new PretixStore(ds, Duration.ofMinutes(2));
            // pretix down for ten days: the fetch of ABC12 retried all that time, then pretix answered 404
            enqueue(ds, store, "ABC12", "pretix.event.order.placed", T0);
            PretixStore.Fetch f = store.claimFetches(10, T0).get(0);
            Instant parkedAt = T0.plus(Duration.ofDays(10));
            store.fetchFailed(f.id(), f.version(), 3, new PretixException("pretix answered 404", false, null), parkedAt);
            // another order, parked at once eight days before
            enqueue(ds, store, "OLD99", "pretix.event.order.placed", parkedAt.minus(Duration.ofDays(8)));
            PretixStore.Fetch old = store.claimFetches(10, parkedAt.minus(Duration.ofDays(8))).get(0);
            store.fetchFailed(old.id(), old.version(), 0, new PretixException("pretix answered 404", false, null),
                    parkedAt.minus(Duration.ofDays(8)));

            // ten minutes after ABC12 parked: only the fetch parked for over seven days is forgotten
            assertThat(store.pruneParked(parkedAt.plusSeconds(600), KEPT)).isEqualTo(1);
            assertThat(parkedCodes(store)).containsExactly("ABC12");
            // six days on it is still listed; after seven it is forgotten
            assertThat(store.pruneParked(parkedAt.plus(Duration.ofDays(6)), KEPT)).isZero();
            assertThat(store.pruneParked(parkedAt.plus(KEPT).plusSeconds(1), KEPT)).isEqualTo(1);
            assertThat(parkedCodes(store)).isEmpty();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aFetchThatWaitsForPretixIsNeverForgotten(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(settings(db)))) {
            PretixStore store = new PretixStore(ds, Duration.ofMinutes(2));
            enqueue(ds, store, "ABC12", "pretix.event.order.placed", T0);
            PretixStore.Fetch f = store.claimFetches(10, T0).get(0);
            store.fetchFailed(f.id(), f.version(), 0, new PretixException("pretix answered 503", true, null), T0);
            assertThat(store.pruneParked(T0.plus(Duration.ofDays(30)), KEPT)).isZero();
            assertThat(store.claimFetches(10, T0.plus(Duration.ofDays(30)))).extracting(PretixStore.Fetch::code).containsExactly("ABC12");
        }
    }

    @SuppressWarnings("unchecked")
    private static List<String> parkedCodes(PretixStore store) {
        return ((List<java.util.Map<String, Object>>) store.fetchStatus().get("problems")).stream()
                .map(m -> (String) m.get("code")).toList();
    }

    /**
     * Found by a review: an instance whose lease on an import ran out, and that another instance took the import up
     * from, still wrote its own outcome on the import: its late failure marked the other's import failed (or cut its
     * lease, so that a third took it up beside it), and its stop freed the import for a third instance.
     */
    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void anInstanceWhoseLeaseRanOutLeavesTheImportToTheOneThatTookItUp(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(settings(db)))) {
            PretixStore store = new PretixStore(ds, Duration.ofMinutes(2));
            long id = store.startImport("democon", T0).id();
            assertThat(store.claimImport(T0)).as("instance A holds it at page 1").containsExactly(id, "democon", 1);
            // A reads page 1 for longer than its lease; B takes the import up and stores page 1
            Instant t = T0.plus(Duration.ofMinutes(3));
            assertThat(store.claimImport(t)).as("instance B").containsExactly(id, "democon", 1);
            assertThat((boolean) Tx.run(ds, c -> store.importPage(c, id, 1, 100, 50, 0, false, t))).isTrue();
            // A's answer comes late: its page is not stored again, its failure and its stop leave B's import alone
            assertThat((boolean) Tx.run(ds, c -> store.importPage(c, id, 1, 100, 50, 0, false, t.plusSeconds(1)))).isFalse();
            store.importFailed(id, 1, new PretixException("pretix answered 403", false, null), t.plusSeconds(2));
            store.importFailed(id, 1, new PretixException("pretix answered 503", true, null), t.plusSeconds(2));
            store.releaseImport(id, 1);
            Map<String, Object> imp = store.imports().get(0);
            assertThat(imp).containsEntry("state", "running").containsEntry("next_page", 2).containsEntry("done", 50)
                    .containsEntry("last_error", null);
            assertThat(store.claimImport(t.plusSeconds(10))).as("B's lease holds: nobody else takes it").isNull();
            // B's own failure and stop are recorded
            store.importFailed(id, 2, new PretixException("pretix answered 503", true, null), t.plusSeconds(20));
            assertThat(store.imports().get(0)).containsEntry("state", "running").containsEntry("last_error", "pretix answered 503");
            assertThat(store.claimImport(t.plusSeconds(30))).as("due again after the backoff").containsExactly(id, "democon", 2);
            store.releaseImport(id, 2);
            assertThat(store.claimImport(t.plusSeconds(31))).as("freed by its holder's stop").containsExactly(id, "democon", 2);
        }
    }

    /**
     * A page pretix keeps failing (found by a review): it was asked for again every 5 s, for as long as it failed. Its
     * next try now waits as a fetch's does (5 s, 30 s, 2 min, …), and a stored page starts the count over.
     */
    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void aPageThatKeepsFailingIsAskedForLessAndLessOften(String db) throws Exception {
        try (HikariDataSource ds = Database.open(OrdersyncSettings.from(settings(db)))) {
            PretixStore store = new PretixStore(ds, Duration.ofMinutes(2));
            long id = store.startImport("democon", T0).id();
            PretixException down = new PretixException("pretix answered 503", true, null);
            Instant t = T0;
            for (Duration wait : List.of(Duration.ofSeconds(5), Duration.ofSeconds(30), Duration.ofMinutes(2), Duration.ofMinutes(10),
                    Duration.ofMinutes(30), Duration.ofMinutes(30))) {
                assertThat(store.claimImport(t)).containsExactly(id, "democon", 1);
                store.importFailed(id, 1, down, t);
                assertThat(store.claimImport(t.plus(wait).minusSeconds(1))).as("not due before %s", wait).isNull();
                t = t.plus(wait);
            }
            assertThat(store.claimImport(t)).containsExactly(id, "democon", 1);
            assertThat((boolean) Tx.run(ds, c -> store.importPage(c, id, 1, 100, 50, 0, false, T0))).isTrue();
            store.importFailed(id, 2, down, t);
            assertThat(store.claimImport(t.plusSeconds(5))).as("a stored page starts the count over").containsExactly(id, "democon", 2);
        }
    }

    private static void enqueue(HikariDataSource ds, PretixStore store, String code, String type, Instant at) {
        Tx.run(ds, c -> {
            store.enqueueFetch(c, "democon", code, type, "webhook", at);
            return null;
        });
    }

    private static Properties settings(String db) throws Exception {
        if (db.equals("postgresql")) {
            return Postgres.newDatabase();
        }
        Properties p = new Properties();
        p.setProperty("ordersync.db.url", "jdbc:h2:file:" + Files.createTempDirectory("ordersync-pretix").resolve("db").toAbsolutePath());
        return p;
    }
}
