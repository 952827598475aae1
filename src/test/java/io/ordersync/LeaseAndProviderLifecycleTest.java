package io.ordersync;

import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Leases that expire, providers that disappear or are misconfigured, and restarts with waiting rows. */
class LeaseAndProviderLifecycleTest extends AppTestSupport {

    @Test
    void anExpiredLeaseGoesBackToWaitingThenParksAsTimeout() throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "2", "backoff", "1s", "response_timeout_ms", "20000"));
        // every request hangs longer than the lease: the instance looks hung
        target.stallNext(10, "/contacts", 4000);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(),
                "test.crm.token", "s3cret", "ordersync.queue.lease", "PT1S", "ordersync.queue.reaper-period-ms", "200")).start();
        app.post("/api/events", fixture("order-xyz34").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            List<Map<String, Object>> rows = app.query("SELECT need_manual_retry FROM sync_queue WHERE slot = 'waiting'");
            return rows.size() == 1 && "timeout".equals(rows.get(0).get("need_manual_retry"));
        });
        List<Map<String, Object>> log = app.query("SELECT kind, message FROM order_log WHERE kind = 'failure' ORDER BY id");
        assertThat(log).extracting(m -> (String) m.get("message"))
                .anyMatch(m -> m.startsWith("Sync timed out, will retry: lease expired"))
                .anyMatch(m -> m.startsWith("Sync timed out, auto-retry limit exceeded"));
        // and in the sync meters, as every other finished sync (before: not counted at all; a review)
        String metrics = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                "http://127.0.0.1:" + app.context().resolvePropertyPlaceholders("{{camel.management.port}}") + "/observe/metrics")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        assertThat(metrics).contains("ordersync_syncs_total{outcome=\"retry\",provider=\"crm\"}")
                .contains("ordersync_syncs_total{outcome=\"timeout\",provider=\"crm\"} 1.0");
    }

    @Test
    void rowsOfARemovedProviderAreDroppedAndLogged() throws Exception {
        startWithCrm(5, "1h", Map.of());
        target.failAlways(503);
        app.post("/api/events", fixture("order-xyz34").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts = 1") == 1);
        app.stop();
        Files.delete(mappings.resolve("crm.yaml"));
        // due again now, so the restarted dispatcher sees it at once
        app.start();
        app.query("SELECT 1");
        io.ordersync.db.Tx.run(app.dataSource(), c -> c.createStatement().executeUpdate(
                "UPDATE sync_queue SET not_before = CURRENT_TIMESTAMP - INTERVAL '1' HOUR"));
        awaitQueueEmpty();
        assertThat(app.query("SELECT message FROM order_log WHERE kind = 'dropped'"))
                .extracting(m -> (String) m.get("message")).singleElement().asString()
                .contains("provider 'crm' no longer exists");
    }

    /**
     * A replace that is not atomic (rsync, a checkout, an editor's backup and rename) leaves the directory without the
     * file for a moment: the provider runs on, its queued rows stay, and events meanwhile are queued for it.
     */
    @Test
    void aMappingFileMissingForAMomentKeepsItsProviderAndItsQueue() throws Exception {
        startWithCrm(5, "1h", Map.of());
        target.failAlways(503);
        app.post("/api/events", fixture("order-xyz34").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts = 1") == 1);
        Path file = mappings.resolve("crm.yaml");
        Path aside = mappings.resolveSibling("crm.yaml.aside");
        Files.move(file, aside);
        Thread.sleep(3500); // more than three checks of the directory (one a second)
        assertThat(JSON.readTree(app.get("/api/providers").body()).get(0).path("status").asText()).isEqualTo("active");
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 2);
        Files.move(aside, file);
        Thread.sleep(2500);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isEqualTo(2);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'dropped'")).isZero();
        assertThat(app.context().getRoute("provider-crm")).isNotNull();
    }

    /** {@code crm.yaml} beside {@code crm.yml}: an error that names both; neither is read, the running version stays. */
    @Test
    void twoFilesForOneProviderAreAnErrorThatNamesBoth() throws Exception {
        startWithCrm(5, "1h", Map.of());
        Files.writeString(mappings.resolve("crm.yml"), Files.readString(mappings.resolve("crm.yaml"))
                .replace("display_name: Test CRM", "display_name: Shadow CRM"));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers").body().contains("two files for provider"));
        JsonNode crm = JSON.readTree(app.get("/api/providers").body()).get(0);
        assertThat(crm.path("status").asText()).isEqualTo("active_with_errors");
        assertThat(crm.toString()).contains("crm.yaml and crm.yml").doesNotContain("Shadow");
        Files.delete(mappings.resolve("crm.yml"));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers").body().contains("\"status\":\"active\""));
    }

    /** A file over 1 MiB is not read (it was read whole every second): an error with its size; the others still reload. */
    @Test
    void anOversizedMappingFileIsAnErrorAndIsNotRead() throws Exception {
        startWithCrm(5, "1h", Map.of());
        Files.writeString(mappings.resolve("big.yaml"), "# filler\n".repeat(200_000));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers").body().contains("at most 1048576"));
        assertThat(app.get("/api/providers").body()).contains("the file has 1800000 bytes");
        Files.writeString(mappings.resolve("crm2.yaml"), Files.readString(mappings.resolve("crm.yaml")).replace("identifier: crm", "identifier: crm2"));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.context().getRoute("provider-crm2") != null);
    }

    /**
     * Files the watcher must not read (found by an attack): a FIFO (opening it blocked the watcher for good), a link
     * to /dev/zero (read until the heap ran out, every second), an 11-byte file that began with the watcher's own
     * mark for an oversized file (an exception at every reload). Each is an error of its provider, the editor says
     * why it cannot open it, and the other files still reload.
     */
    @Test
    void aFifoADeviceOrAFileLikeTheOversizeMarkAreErrorsAndTheOthersStillReload() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(Path.of("/dev/zero")), "needs /dev/zero (Linux)");
        startWithCrm(5, "1h", Map.of());
        assertThat(new ProcessBuilder("mkfifo", mappings.resolve("fifo.yaml").toString()).inheritIO().start().waitFor()).isZero();
        Files.createSymbolicLink(mappings.resolve("zero.yaml"), Path.of("/dev/zero"));
        Files.write(mappings.resolve("mark.yaml"), "\0oversized ".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        await().atMost(Duration.ofSeconds(15)).until(() -> {
            String body = app.get("/api/providers").body();
            return body.contains("\"identifier\":\"fifo\"") && body.contains("\"identifier\":\"zero\"") && body.contains("\"identifier\":\"mark\"");
        });
        JsonNode providers = JSON.readTree(app.get("/api/providers").body());
        for (JsonNode p : providers) {
            String id = p.path("identifier").asText();
            if (id.equals("fifo") || id.equals("zero")) {
                assertThat(p.toString()).as(id).contains("not a regular file");
            } else if (id.equals("mark")) {
                assertThat(p.path("status").asText()).isEqualTo("disabled");
                assertThat(p.toString()).doesNotContain("not a regular file").doesNotContain("bytes; a mapping file may have");
            }
        }
        java.net.http.HttpResponse<String> edit = app.get("/api/providers/fifo/edit");
        assertThat(edit.statusCode()).isEqualTo(422);
        assertThat(JSON.readTree(edit.body()).path("error").asText()).isEqualTo("fifo.yaml: not a regular file (a directory, a FIFO or a "
                + "device); it is not read; fix it on disk");
        assertThat(app.get("/api/providers/zero/file").statusCode()).isEqualTo(422);
        // the watcher is alive: a new provider file still loads, an edit of crm still reloads
        Files.writeString(mappings.resolve("crm2.yaml"), Files.readString(mappings.resolve("crm.yaml")).replace("identifier: crm", "identifier: crm2"));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.context().getRoute("provider-crm2") != null);
        Files.delete(mappings.resolve("fifo.yaml"));
        Files.delete(mappings.resolve("zero.yaml"));
        Files.delete(mappings.resolve("mark.yaml"));
        await().atMost(Duration.ofSeconds(60)).until(() -> !app.get("/api/providers").body().contains("not a regular file"));
    }

    /**
     * A mapping file that cannot be read (found by a review): before, any read failure but "gone" was taken for a
     * file being written, and the file was skipped without a word for as long as it failed; after a restart its
     * provider was gone and its rows dropped. Now it is an error of its provider, the running version keeps running,
     * and the editor says why. Provoked with a link to /proc/self/mem, whose read fails (EIO) for anyone; a file
     * without read permission (AccessDeniedException) takes the same path but cannot be made here, where tests run as
     * root.
     */
    @Test
    void aMappingFileThatCannotBeReadIsAnErrorAndTheRunningVersionStays() throws Exception {
        startWithCrm(5, "1h", Map.of());
        Path good = makeCrmUnreadable();
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers").body().contains("cannot be read: "));
        JsonNode p = JSON.readTree(app.get("/api/providers").body()).get(0);
        assertThat(p.path("identifier").asText()).isEqualTo("crm");
        assertThat(p.toString()).contains("Input/output error");
        java.net.http.HttpResponse<String> edit = app.get("/api/providers/crm/edit");
        assertThat(edit.statusCode()).as(edit.body()).isEqualTo(422);
        assertThat(edit.body()).contains("crm.yaml: cannot be read: ");
        // the last good version syncs on
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
        makeCrmReadable(good);
        await().atMost(Duration.ofSeconds(10)).until(() -> !app.get("/api/providers").body().contains("cannot be read"));
    }

    /**
     * crm.yaml replaced by a link to /proc/self/mem, whose read fails (EIO) for anyone; the good file is put aside,
     * and its place is returned. Skips the test where there is no /proc.
     */
    private Path makeCrmUnreadable() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/mem")), "needs /proc (Linux)");
        Path crm = mappings.resolve("crm.yaml");
        Path good = tmp.resolve("crm-good.yaml");
        Files.move(crm, good);
        Files.createSymbolicLink(crm, Path.of("/proc/self/mem"));
        return good;
    }

    /** The good crm.yaml put back in place of the link. */
    private void makeCrmReadable(Path good) throws Exception {
        Path crm = mappings.resolve("crm.yaml");
        Files.delete(crm);
        Files.move(good, crm);
    }

    /** The test CRM's provider with a file broken from the start (an unknown key), running; returns its good text. */
    private String startWithCrmBrokenFromTheStart() throws Exception {
        Path crm = Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        String good = Files.readString(crm);
        Files.writeString(crm, good + "\nbogus_key: 1\n");
        app = new OrdersyncApp(tmp.resolve("data"), mappings, crmOn(new java.util.Properties())).start();
        return good;
    }

    /**
     * The harm of an unreadable file showed after a restart (an audit): its provider was unknown then, and its queued
     * rows were dropped as a removed provider's. Now they park as a configuration error, and sync once the file can
     * be read again.
     */
    @Test
    void afterARestartWithAnUnreadableFileItsRowsParkAndSyncOnceItIsReadable() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/mem")), "needs /proc (Linux)");
        startWithCrm(5, "1h", Map.of());
        app.context().getRouteController().stopRoute("dispatch");
        app.context().getRouteController().stopRoute("dispatch-wake");
        app.post("/api/events", fixture("order-abc12").toString());
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE slot = 'waiting'")).isEqualTo(1);
        app.stop();
        Path good = makeCrmUnreadable();
        app.start();
        // a row is dropped or parked only once the instance trusts its view of the others (a presence lifetime)
        await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'config'") == 1);
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'dropped'")).as("not dropped").isZero();
        makeCrmReadable(good);
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
    }

    /**
     * A copy of a provider's file under another name (crm-old.yaml, still saying identifier: crm; found by a review):
     * an error of that file, and no order queued for it. Before, its triggers queued every order crm took for it
     * as well, and each parked as a configuration error.
     */
    @Test
    void aCopyOfAProviderFileUnderAnotherNameQueuesNothing() throws Exception {
        startWithCrm(5, "1h", Map.of());
        Files.copy(mappings.resolve("crm.yaml"), mappings.resolve("crm-old.yaml"));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers").body().contains("must match the file name 'crm-old'"));
        app.post("/api/events", fixture("order-abc12").toString());
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE provider = 'crm-old'")).isZero();
    }

    /**
     * A provider whose file is broken from the start parks its orders as a configuration error; the fix, loaded by
     * the hot reload, makes them due again and they sync (found by a review: MAPPINGS.md said they wait for the fix,
     * and they waited for an operator's retry instead).
     */
    @Test
    void rowsParkedForABrokenFileSyncOnceTheFixIsLoaded() throws Exception {
        Path crm = mappings.resolve("crm.yaml");
        String good = startWithCrmBrokenFromTheStart();
        app.post("/api/events", fixture("order-abc12").toString());
        app.post("/api/events", fixture("order-xyz34").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'config'") == 2);
        assertThat(target.writes()).isEmpty();
        Files.writeString(crm, good);
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(2);
    }

    /** The fix deployed while ordersync is down (or by a deploy that restarts it): the parked rows sync after the start. */
    @Test
    void rowsParkedForABrokenFileSyncAfterARestartWithTheFix() throws Exception {
        Path crm = mappings.resolve("crm.yaml");
        String good = startWithCrmBrokenFromTheStart();
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'config'") == 1);
        app.stop();
        Files.writeString(crm, good);
        app.start();
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
    }

    /**
     * A provider's file renamed on purpose (crm.yaml to crm2.yaml, its identifier not yet edited): unlike a copy
     * beside the original, it queues the orders it would take, parked until the identifier is fixed, and then syncs
     * them (a review: skipping every file whose identifier differs from its name lost these orders).
     */
    @Test
    void aFileRenamedOnPurposeQueuesItsOrdersUntilItsIdentifierIsFixed() throws Exception {
        startWithCrm(5, "1h", Map.of("ordersync.mappings.removal-grace-ms", "2000"));
        Files.move(mappings.resolve("crm.yaml"), mappings.resolve("crm2.yaml"));
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            String body = app.get("/api/providers").body();
            return body.contains("must match the file name 'crm2'") && !body.contains("\"identifier\":\"crm\"");
        });
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE provider = 'crm2' "
                + "AND need_manual_retry = 'config'") == 1);
        Path renamed = mappings.resolve("crm2.yaml");
        Files.writeString(renamed, Files.readString(renamed).replace("identifier: crm", "identifier: crm2"));
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
    }

    /** A link whose file is gone is an error of its provider, not a file being replaced that is kept silently. */
    @Test
    void aLinkToAFileThatIsGoneIsAnError() throws Exception {
        startWithCrm(5, "1h", Map.of());
        Files.createSymbolicLink(mappings.resolve("gone.yaml"), tmp.resolve("nowhere.yaml"));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers").body().contains("a link to a file that does not exist"));
    }

    @Test
    void aProviderWithoutItsSecretIsReportedAndItsRowsParkAsConfig() throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        // test.crm.token is not set
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url())).start();
        assertThat(app.context().getRoute("provider-crm")).as("no route for a provider that cannot run").isNull();
        app.post("/api/events", fixture("order-xyz34").toString());
        await().atMost(Duration.ofSeconds(10)).until(() ->
                app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'config'") == 1);
        assertThat((String) app.queue().get(0).get("last_error")).contains("target.auth.token: property test.crm.token is not set");
        assertThat(target.requests()).isEmpty();
    }

    @Test
    void rowsAreNotClaimedWhileTheirProviderRouteIsDown() throws Exception {
        startWithCrm();
        app.context().getRouteController().stopRoute("provider-crm");
        app.post("/api/events", fixture("order-xyz34").toString());
        // the dispatcher runs every 50 ms; give it many rounds
        await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3)).until(() ->
                app.count("SELECT COUNT(*) FROM sync_queue WHERE slot = 'waiting'") == 1);
        assertThat(target.requests()).isEmpty();
        app.context().getRouteController().startRoute("provider-crm");
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
    }

    @Test
    void aRestartedAppResumesWaitingRows() throws Exception {
        startWithCrm(5, "1s", Map.of());
        target.failAlways(503);
        app.post("/api/events", fixture("order-abc12").toString());
        app.post("/api/events", fixture("order-xyz34").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts >= 1") == 2);
        app.stop();
        target.failAlways(0);
        app.start();
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(2);
        assertThat(target.objects("tickets")).hasSize(3);
    }
}
