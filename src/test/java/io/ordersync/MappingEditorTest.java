package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 17, point 5, through the API: validate as you type (errors with line and column), save only what validates
 * and only over the version opened, atomically, recorded with who and the diff; the hot reload runs the saved file.
 */
class MappingEditorTest extends AppTestSupport {

    private HttpResponse<String> send(String method, String path, String body, String base) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(app.url(path))).header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN)
                .header("Content-Type", "text/plain").method(method, HttpRequest.BodyPublishers.ofString(body));
        if (base != null) {
            b.header("X-Ordersync-Base", base);
        }
        return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /**
     * A file saved in Latin-1 on disk: the registry reports it (line and column) and keeps the last good version;
     * the editor opens it with the bytes it cannot read shown as U+FFFD, and a save replaces it (the editor
     * answered 500 to open, validate and save before, so the file could not be fixed from the UI; found by an attack).
     */
    @Test
    void aFileInAnotherEncodingOpensInTheEditorAndASaveFixesIt() throws Exception {
        startWithCrm();
        Path file = mappings.resolve("crm.yaml");
        String good = Files.readString(file);
        Files.write(file, good.replace("display_name: Test CRM", "display_name: Caf\u00e9 CRM").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers").body().contains("not UTF-8"));
        HttpResponse<String> opened = app.get("/api/providers/crm/edit");
        assertThat(opened.statusCode()).isEqualTo(200);
        JsonNode o = JSON.readTree(opened.body());
        assertThat(o.path("text").asText()).contains("display_name: Caf\uFFFD CRM");
        assertThat(JSON.readTree(send("POST", "/api/providers/crm/validate", o.path("text").asText(), null).body()).path("valid").asBoolean()).isTrue();
        assertThat(app.get("/api/providers/crm/file").statusCode()).isEqualTo(200);
        String fixed = o.path("text").asText().replace("Caf\uFFFD", "Caf\u00e9");
        HttpResponse<String> saved = send("PUT", "/api/providers/crm/file", fixed, o.path("version").asText());
        assertThat(saved.statusCode()).as(saved.body()).isEqualTo(200);
        assertThat(Files.readString(file)).isEqualTo(fixed);
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers").body().contains("Caf\u00e9 CRM"));

        // the file removed (its provider runs on for the removal grace): a clear answer, not a 500
        Files.delete(file);
        HttpResponse<String> gone = app.get("/api/providers/crm/edit");
        assertThat(gone.statusCode()).isEqualTo(422);
        assertThat(gone.body()).contains("crm.yaml is gone from the mappings directory");
        assertThat(send("PUT", "/api/providers/crm/file", fixed, JSON.readTree(saved.body()).path("version").asText()).statusCode()).isEqualTo(409);
    }

    @Test
    void aSaveThatValidatesIsWrittenRecordedAndRunsAndABadOneIsRefused() throws Exception {
        startWithCrm();
        JsonNode opened = JSON.readTree(app.get("/api/providers/crm/edit").body());
        String text = opened.path("text").asText();
        String version = opened.path("version").asText();
        assertThat(text).startsWith("identifier: crm");

        // as you type: a misspelt mode, with its line and column
        String broken = text.replace("remote: first_name, mode: if_empty", "remote: first_name, mode: if_emtpy");
        JsonNode v = JSON.readTree(send("POST", "/api/providers/crm/validate", broken, null).body());
        assertThat(v.path("valid").asBoolean()).isFalse();
        assertThat(v.path("errors").get(0).path("line").asInt()).isEqualTo(31);
        assertThat(v.path("errors").get(0).path("message").asText()).contains("if_emtpy").contains("if_empty");
        assertThat(JSON.readTree(send("POST", "/api/providers/crm/validate", text, null).body()).path("valid").asBoolean()).isTrue();

        // refused: no base version, a stale one, errors, a new placeholder, another identifier, too long
        assertThat(send("PUT", "/api/providers/crm/file", text, null).statusCode()).isEqualTo(409);
        assertThat(send("PUT", "/api/providers/crm/file", text, "0000").statusCode()).isEqualTo(409);
        var bad = send("PUT", "/api/providers/crm/file", broken, version);
        assertThat(bad.statusCode()).isEqualTo(422);
        assertThat(bad.body()).contains("if_emtpy");
        assertThat(send("PUT", "/api/providers/crm/file", text.replace("\"{{test.crm.url}}\"", "\"{{ordersync.admin.token}}\""), version)
                .statusCode()).isEqualTo(422);
        assertThat(send("PUT", "/api/providers/crm/file", text.replace("identifier: crm", "identifier: other"), version).statusCode()).isEqualTo(422);
        assertThat(send("PUT", "/api/providers/crm/file", text + "#" + "x".repeat(300_000), version).statusCode()).isEqualTo(413);
        assertThat(send("POST", "/api/providers/crm/validate", text + "#" + "x".repeat(300_000), null).statusCode()).isEqualTo(413);
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).isEqualTo(text);

        // saved: the file, the history (who, the diff), and the next sync sends the renamed field
        String edited = text.replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty");
        var saved = send("PUT", "/api/providers/crm/file", edited, version);
        assertThat(saved.statusCode()).as(saved.body()).isEqualTo(200);
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).isEqualTo(edited);
        try (var files = Files.list(mappings)) {
            assertThat(files.map(f -> f.getFileName().toString())).containsExactly("crm.yaml");
        }
        JsonNode history = JSON.readTree(app.get("/api/providers/crm/history").body()).path("changes");
        assertThat(history).hasSize(1);
        assertThat(history.get(0).path("actor").asText()).isEqualTo("admin token");
        assertThat(history.get(0).path("diff").asText()).contains("-      - {source: invoice_address_name_given_name, remote: first_name")
                .contains("+      - {source: invoice_address_name_given_name, remote: given_name");
        await().atMost(Duration.ofSeconds(15)).until(() -> {
            app.post("/api/events", fixture("order-abc12").put("type", "order.paid").toString());
            awaitQueueEmpty();
            return target.objects("contacts").stream().anyMatch(c -> c.has("given_name"));
        });
        // preview of an unsaved edit against the stored order: the requests it would send, nothing sent
        int before = target.requests().size();
        var body = JSON.createObjectNode().put("provider", "crm").put("mapping", edited.replace("remote: given_name", "remote: prename"));
        body.putObject("order").put("event", "democon").put("code", "ABC12");
        var preview = app.post("/api/preview", body.toString());
        assertThat(preview.statusCode()).as(preview.body()).isEqualTo(200);
        assertThat(preview.body()).contains("prename");
        assertThat(target.requests()).hasSize(before);
        body.putObject("order").put("event", "democon").put("code", "NOPE");
        assertThat(app.post("/api/preview", body.toString()).statusCode()).isEqualTo(404);
        // the old version is stale now
        assertThat(send("PUT", "/api/providers/crm/file", text, version).statusCode()).isEqualTo(409);
    }

    /**
     * Found by a review: the file was replaced before the change was recorded; when the database refused the record,
     * the answer was an error but the new file ran, with no history and never sent to the other instances.
     */
    @Test
    void aSaveTheDatabaseDoesNotRecordLeavesTheFileAsItWas() throws Exception {
        startWithCrm();
        JsonNode opened = JSON.readTree(app.get("/api/providers/crm/edit").body());
        String text = opened.path("text").asText();
        String version = opened.path("version").asText();
        String edited = text.replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty");
        try (var c = app.dataSource().getConnection(); var s = c.createStatement()) {
            s.execute("ALTER TABLE mapping_change ADD CONSTRAINT refuse_all CHECK (LENGTH(diff) < 5)");
        }
        var refused = send("PUT", "/api/providers/crm/file", edited, version);
        assertThat(refused.statusCode()).as(refused.body()).isGreaterThanOrEqualTo(500);
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).as("the file as it was").isEqualTo(text);
        assertThat(app.count("SELECT COUNT(*) FROM mapping_change")).isZero();
        try (var c = app.dataSource().getConnection(); var s = c.createStatement()) {
            s.execute("ALTER TABLE mapping_change DROP CONSTRAINT refuse_all");
        }
        var saved = send("PUT", "/api/providers/crm/file", edited, version);
        assertThat(saved.statusCode()).as(saved.body()).isEqualTo(200);
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).isEqualTo(edited);
        assertThat(app.count("SELECT COUNT(*) FROM mapping_change")).isEqualTo(1);
    }

    /** A save keeps the file's mode (it became 0600) and writes through a link to the file instead of replacing the link. */
    @Test
    void aSaveKeepsTheFilesModeAndItsLink() throws Exception {
        startWithCrm();
        java.nio.file.Path store = Files.createDirectories(tmp.resolve("store")).resolve("crm.yaml");
        Files.move(mappings.resolve("crm.yaml"), store);
        Files.createSymbolicLink(mappings.resolve("crm.yaml"), store);
        Files.setPosixFilePermissions(store, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        JsonNode opened = JSON.readTree(app.get("/api/providers/crm/edit").body());
        String edited = opened.path("text").asText().replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty");
        var saved = send("PUT", "/api/providers/crm/file", edited, opened.path("version").asText());
        assertThat(saved.statusCode()).as(saved.body()).isEqualTo(200);
        assertThat(Files.isSymbolicLink(mappings.resolve("crm.yaml"))).isTrue();
        assertThat(Files.readString(store)).isEqualTo(edited);
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(store))).isEqualTo("rw-r--r--");
    }

    @Test
    void twoSavesOverTheSameVersionSaveOnce() throws Exception {
        startWithCrm();
        JsonNode opened = JSON.readTree(app.get("/api/providers/crm/edit").body());
        String text = opened.path("text").asText();
        String version = opened.path("version").asText();
        ExecutorService pool = Executors.newFixedThreadPool(6);
        try {
            List<Future<Integer>> results = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                String edit = text.replace("display_name: Test CRM", "display_name: Test CRM " + i);
                results.add(pool.submit((Callable<Integer>) () -> send("PUT", "/api/providers/crm/file", edit, version).statusCode()));
            }
            List<Integer> codes = new ArrayList<>();
            for (Future<Integer> f : results) {
                codes.add(f.get());
            }
            assertThat(codes).filteredOn(c -> c == 200).hasSize(1);
            assertThat(codes).filteredOn(c -> c == 409).hasSize(5);
        } finally {
            pool.shutdownNow();
        }
        assertThat(JSON.readTree(app.get("/api/providers/crm/history").body()).path("changes")).hasSize(1);
    }

    @Test
    void theFormsPropertiesAreSplicedIntoTheText() throws Exception {
        startWithCrm();
        String text = JSON.readTree(app.get("/api/providers/crm/edit").body()).path("text").asText();
        var body = JSON.createObjectNode().put("text", text).put("object", 1);
        body.putArray("properties").addObject().put("source", "product").put("remote", "product_name");
        var r = app.post("/api/providers/crm/properties", body.toString());
        assertThat(r.statusCode()).isEqualTo(200);
        String out = JSON.readTree(r.body()).path("text").asText();
        assertThat(out).contains("      - {source: product, remote: product_name}").doesNotContain("remote: attendee}");
        assertThat(out.substring(0, out.indexOf("  - id: ticket"))).isEqualTo(text.substring(0, text.indexOf("  - id: ticket")));
        assertThat(JSON.readTree(send("POST", "/api/providers/crm/validate", out, null).body()).path("valid").asBoolean()).isTrue();
        assertThat(app.post("/api/providers/crm/properties", "{\"text\": 5}").statusCode()).isEqualTo(400);
    }
    /**
     * A save over a file on disk that cannot be read as a mapping file (here over 1 MiB) is a 409 that says so, and
     * writes nothing: the file stays as it is, for its owner to fix on disk.
     */
    @Test
    void aSaveOverAFileThatCannotBeReadIsA409AndWritesNothing() throws Exception {
        startWithCrm();
        JsonNode opened = JSON.readTree(app.get("/api/providers/crm/edit").body());
        String text = opened.path("text").asText();
        String huge = text + "#" + "x".repeat(1_100_000) + "\n";
        Files.writeString(mappings.resolve("crm.yaml"), huge);
        HttpResponse<String> r = send("PUT", "/api/providers/crm/file", text.replace("remote: first_name", "remote: given_name"),
                opened.path("version").asText());
        assertThat(r.statusCode()).isEqualTo(409);
        assertThat(JSON.readTree(r.body()).path("error").asText()).startsWith("crm.yaml").contains("fix it on disk");
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).isEqualTo(huge);
        assertThat(JSON.readTree(app.get("/api/providers/crm/history").body()).path("changes")).isEmpty();
    }

    /** The history: newest first, the last 100 saves (API.md). */
    @Test
    void theHistoryShowsTheLast100SavesNewestFirst() throws Exception {
        startWithCrm();
        try (var c = app.dataSource().getConnection();
             var ps = c.prepareStatement("INSERT INTO mapping_change (provider, actor, diff, changed_at) VALUES ('crm', ?, ?, ?)")) {
            java.time.OffsetDateTime at = java.time.OffsetDateTime.parse("2026-12-01T10:00:00Z");
            for (int i = 1; i <= 105; i++) {
                ps.setString(1, "user editor" + i);
                ps.setString(2, "--- a/crm.yaml\n+++ b/crm.yaml\n@@ save " + i);
                ps.setObject(3, at.plusMinutes(i));
                ps.addBatch();
            }
            ps.executeBatch();
        }
        JsonNode changes = JSON.readTree(app.get("/api/providers/crm/history").body()).path("changes");
        assertThat(changes).hasSize(100);
        assertThat(changes.get(0).path("actor").asText()).isEqualTo("user editor105");
        assertThat(changes.get(99).path("actor").asText()).isEqualTo("user editor6");
        for (int i = 1; i < changes.size(); i++) {
            assertThat(changes.get(i).path("changed_at").asText()).isLessThan(changes.get(i - 1).path("changed_at").asText());
        }
    }
    /**
     * A file with Windows line ends (CRLF) keeps them through a save from the editor, which sends LF: the file on disk
     * has CRLF throughout with the edit in it, and the history's diff shows the one line changed, not every line.
     */
    @Test
    void aSaveKeepsTheFilesWindowsLineEnds() throws Exception {
        startWithCrm();
        Path file = mappings.resolve("crm.yaml");
        String unix = Files.readString(file);
        Files.writeString(file, unix.replace("\n", "\r\n"));
        JsonNode opened = JSON.readTree(app.get("/api/providers/crm/edit").body());
        String sent = opened.path("text").asText().replace("\r\n", "\n");
        String edited = sent.replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty");
        assertThat(edited).isNotEqualTo(sent);
        HttpResponse<String> saved = send("PUT", "/api/providers/crm/file", edited, opened.path("version").asText());
        assertThat(saved.statusCode()).as(saved.body()).isEqualTo(200);
        String onDisk = Files.readString(file);
        assertThat(onDisk).isEqualTo(edited.replace("\n", "\r\n"));
        assertThat(onDisk.replace("\r\n", "")).doesNotContain("\n");
        String diff = JSON.readTree(saved.body()).path("diff").asText();
        assertThat(diff).doesNotContain("\r");
        assertThat(diff.lines().filter(l -> (l.startsWith("-") || l.startsWith("+")) && !l.startsWith("---") && !l.startsWith("+++")))
                .containsExactly("-      - {source: invoice_address_name_given_name, remote: first_name, mode: if_empty}",
                        "+      - {source: invoice_address_name_given_name, remote: given_name, mode: if_empty}");
        // the same text again (LF, as the editor sends it) is the file's already
        HttpResponse<String> again = send("PUT", "/api/providers/crm/file", edited, JSON.readTree(saved.body()).path("version").asText());
        assertThat(JSON.readTree(again.body()).path("saved").asBoolean()).isFalse();
    }
}
