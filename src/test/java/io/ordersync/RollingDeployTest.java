package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import io.ordersync.support.TcpProxy;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.queue.SyncQueue;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Several instances on one PostgreSQL whose {@code mappings/} differ for a while, as in a rolling deploy: an
 * instance that has no file (or a broken one) for a provider leaves that provider's queued rows to the instance
 * that runs it, instead of dropping (or parking) them; once no instance runs the provider, its rows are dropped.
 */
class RollingDeployTest extends AppTestSupport {

    private static final int ORDERS = 150;

    @Test
    void anInstanceWithoutAProvidersFileLeavesItsRowsToTheInstanceThatRunsIt() throws Exception {
        Properties db = Postgres.newDatabase();
        // the new version: the crm provider, its target slow enough that rows wait in the queue for a while
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
        target.randomFaults(0, 1.0, 20);
        Path oldMappings = Files.createDirectories(tmp.resolve("old-mappings"));
        Path brokenMappings = Files.createDirectories(tmp.resolve("broken-mappings"));
        // a version whose crm file does not load (a field this release does not know)
        Files.writeString(brokenMappings.resolve("crm.yaml"), Files.readString(mappings.resolve("crm.yaml"))
                .replaceFirst("(?m)^objects:", "no_such_setting: 1\nobjects:"));
        Map<String, String> props = crmOn(db);
        // the others look for rows of providers they cannot run every second: many chances to take the crm rows
        props.put("ordersync.instance-id", "new");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        props.put("ordersync.instance-id", "old");
        OrdersyncApp old = new OrdersyncApp(tmp.resolve("b"), oldMappings, props).start();
        props.put("ordersync.instance-id", "broken");
        try (old; OrdersyncApp broken = new OrdersyncApp(tmp.resolve("c"), brokenMappings, props).start()) {
            assertThat(broken.get("/api/providers").body()).contains("no_such_setting");
            for (int i = 0; i < ORDERS; i++) {
                ObjectNode doc = fixture("order-abc12");
                ((ObjectNode) doc.path("order")).put("code", "R" + i);
                ((ObjectNode) doc.path("order")).put("email", "r" + i + "@example.org");
                assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
            }
            await().atMost(Duration.ofSeconds(90)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'dropped'")).as("no row dropped").isZero();
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'failure'")).as("no row parked").isZero();
            assertThat(target.objects("contacts")).hasSize(ORDERS);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND message LIKE '%(instance new)'"))
                    .isEqualTo(ORDERS);

            // the deploy is rolled back: the instance that ran crm stops with rows still queued. No instance runs
            // crm now, so its rows are for nobody: the instance without the file drops them, the one with the broken
            // file parks them as a configuration error (a fixed file would sync them), as with a single instance
            target.randomFaults(0, 1.0, 300);
            for (int i = 0; i < 40; i++) {
                ObjectNode doc = fixture("order-abc12");
                ((ObjectNode) doc.path("order")).put("code", "L" + i);
                ((ObjectNode) doc.path("order")).put("email", "l" + i + "@example.org");
                assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
            }
            app.stop();
            // every order ends delivered, dropped or parked, or held by the stopped instance (a sync its stop cut
            // off keeps its lease; the reaper hands it back when that runs out). Counted in one statement: a row
            // moves from waiting to claimed to dropped while this looks
            String accounted = "SELECT (SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND order_code LIKE 'L%')"
                    + " + (SELECT COUNT(*) FROM order_log WHERE kind = 'dropped')"
                    + " + (SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'config')"
                    + " + (SELECT COUNT(*) FROM sync_queue WHERE claimed_by = 'new' AND slot = 'inflight')";
            await().atMost(Duration.ofSeconds(30)).until(() -> old.count(accounted) == 40);
            long dropped = old.count("SELECT COUNT(*) FROM order_log WHERE kind = 'dropped'");
            long parked = old.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'config'");
            assertThat(dropped + parked).as("rows left for nobody, dropped or parked").isPositive();
        }
    }

    @Test
    void providersAddedByAHotReloadAreAnnouncedBeforeTheirRowsCanBeTakenForRemovedOnes() throws Exception {
        // found by an attack: with twenty new files, intake queued rows for seconds before the routes were built and
        // the providers announced, and the instance without the files dropped 195 of them
        Properties db = Postgres.newDatabase();
        java.nio.file.Files.createDirectories(mappings);
        target.randomFaults(0, 1.0, 20);
        Map<String, String> props = crmOn(db);
        props.put("ordersync.mappings.watch-period-ms", "200");
        props.put("ordersync.instance-id", "new");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        props.put("ordersync.instance-id", "old");
        try (OrdersyncApp old = new OrdersyncApp(tmp.resolve("b"), Files.createDirectories(tmp.resolve("old-mappings")), props).start()) {
            Path staging = Files.createDirectories(tmp.resolve("staging"));
            Fixtures.mapping(staging, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
            String crm = Files.readString(staging.resolve("crm.yaml"));
            for (int k = 0; k < 20; k++) {
                Files.writeString(staging.resolve("crm" + k + ".yaml"), crm.replace("identifier: crm", "identifier: crm" + k));
            }
            for (int k = 0; k < 20; k++) {
                Files.move(staging.resolve("crm" + k + ".yaml"), mappings.resolve("crm" + k + ".yaml"));
            }
            long end = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            int posted = 0;
            while (System.nanoTime() < end) {
                ObjectNode doc = fixture("order-abc12");
                ((ObjectNode) doc.path("order")).put("code", "M" + posted);
                ((ObjectNode) doc.path("order")).put("email", "m" + posted + "@example.org");
                assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
                posted++;
                // a steady stream through the reload, not as many as the machine takes (each is synced 20 times)
                Thread.sleep(25);
            }
            System.out.printf("posted %d orders during the reload%n", posted);
            await().atMost(Duration.ofSeconds(120)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'dropped'")).as("dropped of %d orders", posted).isZero();
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success'")).isPositive();
        }
    }

    @Test
    void eventsAcceptedByAnInstanceWithoutTheFileAreQueuedAsTheInstanceThatRunsItSays() throws Exception {
        // before: an instance without the new provider's file queued nothing for it, and the events it accepted
        // during the deploy never reached the provider
        Properties db = Postgres.newDatabase();
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
        // crm takes paid orders only: the instances without its file must apply that filter too
        Files.writeString(mappings.resolve("crm.yaml"), Files.readString(mappings.resolve("crm.yaml"))
                .replaceFirst("(?m)^target:", "filter: [{field: order_status, in: [p]}]\ntarget:"));
        Path brokenMappings = Files.createDirectories(tmp.resolve("broken-mappings"));
        Files.writeString(brokenMappings.resolve("crm.yaml"), Files.readString(mappings.resolve("crm.yaml"))
                .replaceFirst("(?m)^objects:", "no_such_setting: 1\nobjects:"));
        Map<String, String> props = crmOn(db);
        props.put("ordersync.queue.presence-ttl", "PT3S");
        props.put("ordersync.instance-id", "new");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        props.put("ordersync.instance-id", "old");
        OrdersyncApp old = new OrdersyncApp(tmp.resolve("b"), Files.createDirectories(tmp.resolve("old-mappings")), props).start();
        props.put("ordersync.instance-id", "broken");
        try (old; OrdersyncApp broken = new OrdersyncApp(tmp.resolve("c"), brokenMappings, props).start()) {
            await().atMost(Duration.ofSeconds(10)).until(() -> runsElsewhere(old, "crm") && runsElsewhere(broken, "crm"));
            for (OrdersyncApp at : List.of(old, broken)) {
                String prefix = at == old ? "O" : "B";
                for (int i = 0; i < 30; i++) {
                    assertThat(at.post("/api/events", order(prefix + "P" + i, "order.paid", "p").toString()).statusCode()).isEqualTo(202);
                    // placed, not yet paid: the filter leaves it out
                    assertThat(at.post("/api/events", order(prefix + "N" + i, "order.placed", "n").toString()).statusCode()).isEqualTo(202);
                }
                // paid, but of a type crm is not triggered by
                assertThat(at.post("/api/events", order(prefix + "C0", "order.canceled", "p").toString()).statusCode()).isEqualTo(202);
            }
            await().atMost(Duration.ofSeconds(90)).until(() -> target.objects("contacts").size() == 60
                    && app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND message LIKE '%(instance new)'"))
                    .isEqualTo(60);
            assertThat(target.objects("contacts")).extracting(c -> c.path("email").asText())
                    .as("the paid orders, each once").doesNotHaveDuplicates().allMatch(e -> e.matches("[ob]p\\d+@example\\.org"));
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received' AND message LIKE '%queued for crm'"))
                    .as("queued by the instances without a working file").isEqualTo(60);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received' AND (order_code LIKE '_N%'"
                    + " OR order_code LIKE '_C%') AND message LIKE '%no provider is triggered%'")).isEqualTo(62);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind IN ('dropped', 'failure')")).isZero();

            // an operator's Sync now and backfill on the instance without the file: queued for the instance that runs
            // the provider, its filter applied as announced (both answered 404 before)
            var json = new com.fasterxml.jackson.databind.ObjectMapper();
            var one = old.post("/api/orders/democon/OP0/sync", "{\"provider\": \"crm\"}");
            assertThat(one.statusCode()).as(one.body()).isEqualTo(202);
            assertThat(json.readTree(one.body()).path("queued").findValuesAsText("provider")).containsExactly("crm");
            // synced by the instance that runs crm, logged though nothing changed (an operator asked). Awaited before the
            // backfill: a backfill that finds the row still waiting makes it a backfill's, which logs nothing unchanged
            await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' "
                    + "AND order_code = 'OP0' AND message LIKE 'synced on request, nothing changed%instance new)'") == 1);
            var every = json.readTree(old.post("/api/orders/democon/ON0/sync", "{}").body());
            assertThat(every.path("queued")).as("not paid: crm's filter leaves it out").isEmpty();
            assertThat(every.path("skipped").findValuesAsText("provider")).containsExactly("crm");
            var backfill = old.post("/api/providers/crm/backfill", "{\"event\": \"democon\"}");
            assertThat(backfill.statusCode()).as(backfill.body()).isEqualTo(202);
            // 60 paid orders and the two paid ones of a type crm is not triggered by; the 60 placed ones left out
            assertThat(json.readTree(backfill.body()).path("queued").asInt()).isEqualTo(62);
            assertThat(json.readTree(backfill.body()).path("skipped").asInt()).isEqualTo(60);
            await().atMost(Duration.ofSeconds(90)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            // synced by the instance that runs crm: the two paid orders crm was not triggered by are new to the target;
            // the backfill of unchanged orders logs nothing
            assertThat(target.objects("contacts")).hasSize(62);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND order_code IN ('OC0', 'BC0') "
                    + "AND message LIKE '%(instance new)'")).isEqualTo(2);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'success' AND order_code = 'OP0'")).isEqualTo(2);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind IN ('dropped', 'failure')")).isZero();

            // crm is gone from every instance that runs it: the others stop queueing for it when its entry goes
            app.stop();
            await().atMost(Duration.ofSeconds(10)).until(() -> !runsElsewhere(old, "crm") && !runsElsewhere(broken, "crm"));
            for (OrdersyncApp at : List.of(old, broken)) {
                String prefix = at == old ? "X" : "Y";
                assertThat(at.post("/api/events", order(prefix + "P0", "order.paid", "p").toString()).statusCode()).isEqualTo(202);
                assertThat(at.post("/api/events", order(prefix + "N0", "order.placed", "n").toString()).statusCode()).isEqualTo(202);
            }
            assertThat(old.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received' AND order_code LIKE 'X%'"
                    + " AND message LIKE '%no provider is triggered%'")).isEqualTo(2);
            // the broken file alone: its filter still holds as written; its row is for nobody now, parked by the
            // instance with the broken file or dropped by the one without a file, as in the first test
            assertThat(old.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received' AND order_code = 'YP0'"
                    + " AND message LIKE '%queued for crm'")).isEqualTo(1);
            assertThat(old.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received' AND order_code = 'YN0'"
                    + " AND message LIKE '%no provider is triggered%'")).isEqualTo(1);
            await().atMost(Duration.ofSeconds(30)).until(() -> old.count("SELECT (SELECT COUNT(*) FROM sync_queue"
                    + " WHERE order_code = 'YP0' AND need_manual_retry = 'config') + (SELECT COUNT(*) FROM order_log"
                    + " WHERE order_code = 'YP0' AND kind = 'dropped')") == 1);
        }
    }

    @Test
    void aDeployThatWidensAFilterLosesNoOrderToTheInstancesOnTheOldFile() throws Exception {
        // found by an attack: with the filter checked again at every sync, an instance on the old (narrower) file
        // dropped 32 of 40 orders the new file had queued. Until every instance runs the new version, an order
        // either live version takes is synced
        Properties db = Postgres.newDatabase();
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "5000"));
        String base = Files.readString(mappings.resolve("crm.yaml"));
        Files.writeString(mappings.resolve("crm.yaml"), base.replaceFirst("(?m)^target:", "filter: [{field: order_status, in: [p, n]}]\ntarget:"));
        Path oldMappings = Files.createDirectories(tmp.resolve("old-mappings"));
        Files.writeString(oldMappings.resolve("crm.yaml"), base.replaceFirst("(?m)^target:", "filter: [{field: order_status, in: [p]}]\ntarget:"));
        target.randomFaults(0, 1.0, 50);
        Map<String, String> props = crmOn(db);
        props.put("ordersync.instance-id", "new");
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        props.put("ordersync.instance-id", "old");
        try (OrdersyncApp old = new OrdersyncApp(tmp.resolve("b"), oldMappings, props).start()) {
            for (int i = 0; i < 40; i++) {
                ObjectNode doc = fixture("order-abc12");
                doc.put("type", "order.placed");
                ((ObjectNode) doc.path("order")).put("code", "W" + i);
                ((ObjectNode) doc.path("order")).put("status", "n");
                ((ObjectNode) doc.path("order")).put("email", "w" + i + "@example.org");
                assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
            }
            await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'dropped'"))
                    .as("pending orders the new file queued, deleted by the instance on the old file").isZero();
            assertThat(target.objects("contacts")).hasSize(40);
        }
    }

    /**
     * README: an instance drops or parks rows of a provider it does not run only when no instance runs it, "and not
     * within one presence-ttl after its own database access failed". Both instances lose their path to PostgreSQL
     * for longer than the presence lifetime, so the entries of the instance that runs crm run out; the one without
     * crm's file gets its path back first. Without the guard it took crm's waiting rows for a removed provider's and
     * dropped them before the other could say again that it runs crm.
     */
    @Test
    void anInstanceBackFromItsOwnDatabaseOutageWaitsAPresenceLifetimeBeforeItDropsRows() throws Exception {
        Properties db = Postgres.newDatabase();
        String url = db.getProperty("ordersync.db.url");
        Map<String, String> props = crmFailingWithAnEightSecondPresence(db);
        try (TcpProxy toNew = TcpProxy.inFrontOfDatabase(url); TcpProxy toOld = TcpProxy.inFrontOfDatabase(url)) {
            props.put("ordersync.instance-id", "new");
            props.put("ordersync.db.url", toNew.jdbcUrl());
            app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
            props.put("ordersync.instance-id", "old");
            props.put("ordersync.db.url", toOld.jdbcUrl());
            try (OrdersyncApp old = new OrdersyncApp(tmp.resolve("b"), Files.createDirectories(tmp.resolve("old-mappings")), props).start()) {
                thirtyRowsWaitingThatOldSeesRunElsewhere(old, "G");

                toNew.cut();
                toOld.cut();
                Thread.sleep(10_000); // longer than the presence lifetime: the entries of "new" run out
                toOld.restore();
                // "old" is back, "new" not yet: "old" looks for rows of providers it does not run every second
                Thread.sleep(4_000);
                toNew.restore();

                everyRowSyncedNoneDropped(old);
            }
        }
    }

    /**
     * A database that stalls without failing (found by a review): the presence table is locked for longer than the
     * presence lifetime, so every announce waits and the entries of the instance that runs crm run out; nothing
     * fails. That instance is then held a little longer (its path cut) while the other's announce goes through.
     * Without the gap check the other took crm's rows for a removed provider's as soon as its announce went through.
     */
    @Test
    void aDatabaseThatStallsWithoutFailingIsAnOutageForThePresenceGuard() throws Exception {
        Properties db = Postgres.newDatabase();
        String url = db.getProperty("ordersync.db.url");
        Map<String, String> props = crmFailingWithAnEightSecondPresence(db);
        try (TcpProxy toNew = TcpProxy.inFrontOfDatabase(url)) {
            props.put("ordersync.instance-id", "new");
            props.put("ordersync.db.url", toNew.jdbcUrl());
            app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
            props.put("ordersync.instance-id", "old");
            props.put("ordersync.db.url", url);
            try (OrdersyncApp old = new OrdersyncApp(tmp.resolve("b"), Files.createDirectories(tmp.resolve("old-mappings")), props).start()) {
                thirtyRowsWaitingThatOldSeesRunElsewhere(old, "S");

                try (java.sql.Connection c = java.sql.DriverManager.getConnection(url, db.getProperty("ordersync.db.user"),
                        db.getProperty("ordersync.db.password"))) {
                    c.setAutoCommit(false);
                    try (java.sql.Statement s = c.createStatement()) {
                        s.execute("LOCK TABLE provider_presence IN ACCESS EXCLUSIVE MODE");
                    }
                    Thread.sleep(12_000); // longer than the presence lifetime: every announce waits, nothing fails
                    toNew.cut();
                    c.commit();
                }
                // "old" announces at once and looks for rows of providers it does not run every second
                Thread.sleep(4_000);
                toNew.restore();

                everyRowSyncedNoneDropped(old);
            }
        }
    }

    /** The crm provider, its target failing (503) so that rows wait, and an 8 s presence lifetime. */
    private Map<String, String> crmFailingWithAnEightSecondPresence(Properties db) throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "100", "backoff", "1s", "response_timeout_ms", "5000"));
        target.failAlways(503);
        Map<String, String> props = crmOn(db);
        props.put("ordersync.queue.presence-ttl", "PT8S");
        return props;
    }

    /** 30 orders queued for crm through {@code app}, and {@code old} (without crm's file) knowing that app runs crm. */
    private void thirtyRowsWaitingThatOldSeesRunElsewhere(OrdersyncApp old, String prefix) throws Exception {
        for (int i = 0; i < 30; i++) {
            assertThat(app.post("/api/events", order(prefix + i, "order.placed", "p").toString()).statusCode()).isEqualTo(202);
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 30);
        await().atMost(Duration.ofSeconds(30)).until(() -> runsElsewhere(old, "crm"));
    }

    /** The target answers again: all 30 synced, none dropped. */
    private void everyRowSyncedNoneDropped(OrdersyncApp old) {
        target.failAlways(0);
        await().atMost(Duration.ofSeconds(120)).until(() -> old.count("SELECT COUNT(*) FROM sync_queue") == 0);
        assertThat(old.count("SELECT COUNT(*) FROM order_log WHERE kind = 'dropped'")).as("rows dropped").isZero();
        assertThat(target.objects("contacts")).hasSize(30);
    }

    private static boolean runsElsewhere(OrdersyncApp at, String provider) {
        return at.context().getRegistry().lookupByNameAndType("ordersync.providers", ProviderRegistry.class)
                .elsewhere().containsKey(provider);
    }

    private static ObjectNode order(String code, String type, String status) {
        ObjectNode doc = fixture("order-abc12");
        doc.put("type", type);
        ((ObjectNode) doc.path("order")).put("code", code);
        ((ObjectNode) doc.path("order")).put("status", status);
        ((ObjectNode) doc.path("order")).put("email", code.toLowerCase(java.util.Locale.ROOT) + "@example.org");
        return doc;
    }
}
