package io.ordersync;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import io.ordersync.admin.MappingEditor;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * A mapping file saved through the editor of one instance reaches the files of the other instances on the same
 * database whose file is still the version the save replaced; a file that differs is left alone with a warning, a
 * shared directory is not written twice, a change that does not load on an instance is not written there, and an
 * instance started with a file the editor had replaced says so.
 */
class SharedMappingEditsTest extends AppTestSupport {

    private final ListAppender<ILoggingEvent> log = new ListAppender<>();
    private final Logger editorLogger = (Logger) org.slf4j.LoggerFactory.getLogger(MappingEditor.class);

    @BeforeEach
    void attach() {
        log.start();
        editorLogger.addAppender(log);
    }

    @AfterEach
    void detach() {
        editorLogger.detachAppender(log);
    }

    @Test
    void aSaveOnOneInstanceReachesTheFilesOfTheOthers() throws Exception {
        Map<String, String> props = crmOn(Postgres.newDatabase());
        Map<String, String> file = Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000");
        Path dirA = tmp.resolve("mappings-a");
        Path dirB = tmp.resolve("mappings-b");
        Path dirC = tmp.resolve("mappings-c");
        for (Path dir : List.of(dirA, dirB, dirC)) {
            Fixtures.mapping(dir, "crm", file);
        }
        // c's file was changed by hand: not the version the editor opens on a
        Files.writeString(dirC.resolve("crm.yaml"), Files.readString(dirC.resolve("crm.yaml")) + "# c's own\n");
        String original = Files.readString(dirA.resolve("crm.yaml"));
        app = new OrdersyncApp(tmp.resolve("a"), dirA, withId(props, "a")).start();
        try (OrdersyncApp b = new OrdersyncApp(tmp.resolve("b"), dirB, withId(props, "b")).start();
             OrdersyncApp c = new OrdersyncApp(tmp.resolve("c"), dirC, withId(props, "c")).start();
             // d shares a's directory (a volume both mount)
             OrdersyncApp d = new OrdersyncApp(tmp.resolve("d"), dirA, withId(props, "d")).start()) {
            String edited = original.replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty");
            assertThat(edited).isNotEqualTo(original);
            save(app, original, edited);

            // b's file becomes the saved text, b runs it, and b's history shows where the change was made
            await().atMost(Duration.ofSeconds(15)).until(() -> Files.readString(dirB.resolve("crm.yaml")).equals(edited));
            await().atMost(Duration.ofSeconds(15)).until(() -> version(b).equals(version(app)));
            JsonNode history = JSON.readTree(b.get("/api/providers/crm/history").body()).path("changes");
            assertThat(history.get(0).path("instance_id").asText()).isEqualTo(instanceId(app));
            assertThat(messages()).anySatisfy(m -> assertThat(m).contains("crm.yaml: applied the edit #")
                    .contains("on instance " + instanceId(app)));
            // c's file differs: left alone, said in the log
            await().atMost(Duration.ofSeconds(15)).until(() -> messages().stream().anyMatch(m -> m.contains("is not applied here: this "
                    + "instance's file is not the version")));
            assertThat(Files.readString(dirC.resolve("crm.yaml"))).endsWith("# c's own\n").doesNotContain("given_name, mode");
            // the next sync, whichever of the instances makes it, sends the renamed field (c runs its own file)
            c.stop();
            await().atMost(Duration.ofSeconds(20)).until(() -> {
                app.post("/api/events", fixture("order-abc12").put("type", "order.paid").toString());
                awaitQueueEmpty();
                return target.objects("contacts").stream().anyMatch(o -> o.has("given_name"));
            });

            // and back: a save on b (over the version it got) reaches a's directory, which d shares
            String again = edited.replace("remote: given_name, mode: if_empty", "remote: prename, mode: if_empty");
            save(b, edited, again);
            await().atMost(Duration.ofSeconds(15)).until(() -> Files.readString(dirA.resolve("crm.yaml")).equals(again));
            Thread.sleep(3000);
            // one of a and d wrote it and the other found it there already, or (a busy machine) both read the file
            // before either wrote it and both wrote the same text, each by an atomic move: one or two "applied" lines
            long applied = messages().stream().filter(m -> m.contains("applied the edit #") && m.contains("on instance " + instanceId(b)))
                    .count();
            assertThat(applied).isBetween(1L, 2L);
            assertThat(Files.readString(dirB.resolve("crm.yaml"))).isEqualTo(again);
            try (var files = Files.list(dirA)) {
                assertThat(files.map(f -> f.getFileName().toString())).containsExactly("crm.yaml");
            }
        }
    }

    @Test
    void aRowNotSignedWithTheAdminCredentialsOrThatDoesNotLoadHereIsNotWritten() throws Exception {
        Map<String, String> props = crmOn(Postgres.newDatabase());
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
        app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
        String original = Files.readString(mappings.resolve("crm.yaml"));
        String version = version(app);
        // a login makes the shared secret the key is derived with
        assertThat(app.post("/api/login", "{\"token\": \"" + OrdersyncApp.ADMIN_TOKEN + "\"}").statusCode()).isEqualTo(200);
        // someone who can write to the database, not knowing the admin credentials: the target's address changed, so
        // that the instance would send its token there; unsigned, and signed for another text
        String stolen = original.replace("base_url: \"{{test.crm.url}}\"", "base_url: \"http://attacker.invalid\"");
        assertThat(stolen).isNotEqualTo(original);
        insertChange("crm", version, hash(stolen), stolen, null);
        insertChange("crm", version, hash(stolen), stolen, signature("crm", version, hash(original + "#"), original + "#"));
        insertChange("crm", version, hash(stolen), stolen, "0".repeat(64));
        // signed by someone who knows the credentials, but not loading on this instance, or naming another file
        String broken = "identifier: crm\nobjects: [nonsense";
        insertChange("crm", version, hash(broken), broken, signature("crm", version, hash(broken), broken));
        String other = original.replace("identifier: crm", "identifier: other");
        insertChange("crm", version, hash(other), other, signature("crm", version, hash(other), other));
        // too long to be a mapping file; an actor and instance id that try to forge log lines
        String huge = original + "#" + "x".repeat(300_000);
        insertChange("crm", version, hash(huge), huge, signature("crm", version, hash(huge), huge));
        try (Connection c = app.dataSource().getConnection(); PreparedStatement ps = c.prepareStatement("INSERT INTO mapping_change "
                + "(provider, actor, diff, changed_at, base_version, new_version, content, instance_id, incarnation, signature) "
                + "VALUES ('crm', ?, '', CURRENT_TIMESTAMP, ?, ?, ?, ?, 'x', NULL)")) {
            ps.setString(1, "admin\n12:00:00.000 ERROR [main] forged line");
            ps.setString(2, "0".repeat(32));
            ps.setString(3, "1".repeat(32));
            ps.setString(4, original);
            ps.setString(5, "b\r\nforged");
            ps.executeUpdate();
        }
        // a provider name that is a path, one this instance has no file for
        insertChange("../../crm", version, hash(original), original, signature("../../crm", version, hash(original), original));
        insertChange("nobody", version, hash(original), original, signature("nobody", version, hash(original), original));
        // the rows are read in order, the last ones a little later (a busy machine: seconds)
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            assertThat(messages().stream().filter(m -> m.contains("does not load on this instance"))).hasSize(2);
            assertThat(messages().stream().filter(m -> m.contains("its signature does not hold"))).hasSize(4);
            // the one made on another version of the file: said so, in one line
            assertThat(messages()).anySatisfy(m -> assertThat(m).contains("is not the version").contains("admin?12:00:00.000 ERROR")
                    .contains("instance b??forged"));
        });
        assertThat(messages()).allSatisfy(m -> assertThat(m).doesNotContain("\n").doesNotContain("\r").doesNotContain("xxxxxxxxxx"));
        Thread.sleep(1500);
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).isEqualTo(original);
        try (var files = Files.list(mappings)) {
            assertThat(files.map(f -> f.getFileName().toString())).containsExactly("crm.yaml");
        }
        assertThat(Files.exists(tmp.resolve("crm.yaml"))).isFalse();
        assertThat(JSON.readTree(app.get("/api/providers").body()).toString()).contains("\"active\"");
        // each was said once, with its reason; the start's look names no file (these came after the start)
        assertThat(messages()).noneMatch(m -> m.contains("is a version the editor replaced"));

        // and signed with the credentials, loading: written (what an instance with the same credentials would have sent)
        String renamed = original.replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty");
        insertChange("crm", version, hash(renamed), renamed, signature("crm", version, hash(renamed), renamed));
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.readString(mappings.resolve("crm.yaml")).equals(renamed));
    }

    /** Two saves from one version at once on two instances: one is saved, the other is a conflict; both end on the first. */
    @Test
    void twoSavesOfOneVersionOnTwoInstancesAreOneSaveAndOneConflict() throws Exception {
        Map<String, String> props = crmOn(Postgres.newDatabase());
        Map<String, String> file = Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000");
        Path dirA = tmp.resolve("mappings-a");
        Path dirB = tmp.resolve("mappings-b");
        Fixtures.mapping(dirA, "crm", file);
        Fixtures.mapping(dirB, "crm", file);
        String original = Files.readString(dirA.resolve("crm.yaml"));
        app = new OrdersyncApp(tmp.resolve("a"), dirA, withId(props, "a")).start();
        try (OrdersyncApp b = new OrdersyncApp(tmp.resolve("b"), dirB, withId(props, "b")).start()) {
            for (int round = 0; round < 3; round++) {
                String base = Files.readString(dirA.resolve("crm.yaml"));
                assertThat(Files.readString(dirB.resolve("crm.yaml"))).isEqualTo(base);
                String onA = base + "# a" + round + "\n";
                String onB = base + "# b" + round + "\n";
                java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
                var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
                var ra = pool.submit(() -> {
                    go.await();
                    return put(app, base, onA);
                });
                var rb = pool.submit(() -> {
                    go.await();
                    return put(b, base, onB);
                });
                go.countDown();
                int sa = ra.get().statusCode();
                int sb = rb.get().statusCode();
                pool.shutdown();
                assertThat(List.of(sa, sb)).as("round %d", round).containsExactlyInAnyOrder(200, 409);
                String winner = sa == 200 ? onA : onB;
                assertThat((sa == 409 ? ra : rb).get().body()).contains("was just saved from the same version on instance");
                // both end on the saved text: the loser's instance gets it from the winner's
                await().atMost(Duration.ofSeconds(15)).until(() -> Files.readString(dirA.resolve("crm.yaml")).equals(winner)
                        && Files.readString(dirB.resolve("crm.yaml")).equals(winner));
            }
            assertThat(app.count("SELECT COUNT(*) FROM mapping_change")).isEqualTo(3);
            assertThat(original).isNotEqualTo(Files.readString(dirA.resolve("crm.yaml")));
        }
    }

    @Test
    void anInstanceStartedWithAFileTheEditorReplacedSaysSo() throws Exception {
        startWithCrm();
        String original = Files.readString(mappings.resolve("crm.yaml"));
        String edited = original.replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty");
        save(app, original, edited);
        app.restart();
        Thread.sleep(2500);
        assertThat(messages()).noneMatch(m -> m.contains("is a version the editor replaced"));
        // deployed again with the files of before the edit
        app.stop();
        Files.writeString(mappings.resolve("crm.yaml"), original);
        app.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> messages().stream().anyMatch(m -> m.contains("crm.yaml is a version the "
                + "editor replaced") && m.contains("GET /api/providers/crm/history")));
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).isEqualTo(original);
    }

    @Test
    void theSettingIsTrueOrFalse() {
        assertThatThrownBy(() -> io.ordersync.config.OrdersyncSettings.from(Map.of("ordersync.mappings.share-edits", "yes")::get))
                .hasMessage("ordersync.mappings.share-edits must be true or false, not 'yes'");
    }

    private void insertChange(String provider, String base, String made, String content, String signature) throws Exception {
        try (Connection c = app.dataSource().getConnection(); PreparedStatement ps = c.prepareStatement("INSERT INTO mapping_change "
                + "(provider, actor, diff, changed_at, base_version, new_version, content, instance_id, incarnation, signature) "
                + "VALUES (?, 'someone', '', CURRENT_TIMESTAMP, ?, ?, ?, 'elsewhere', 'x', ?)")) {
            ps.setString(1, provider);
            ps.setString(2, base);
            ps.setString(3, made);
            ps.setString(4, content);
            ps.setString(5, signature);
            ps.executeUpdate();
        }
    }

    /** The editor's version of a text: the first 16 bytes of its SHA-256, in hex. */
    private static String hash(String text) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                .digest(text.getBytes(java.nio.charset.StandardCharsets.UTF_8)), 0, 16);
    }

    /**
     * A save's signature as someone who knows the admin credentials (here the token only) and the shared secret makes
     * it: HMAC-SHA256 keyed with PBKDF2 of the credentials, over the purpose, provider, versions and text.
     */
    private String signature(String provider, String base, String made, String content) throws Exception {
        String secret = String.valueOf(app.query("SELECT secret FROM shared_secret WHERE name = 'ui-session'").get(0).values().iterator().next());
        String token = OrdersyncApp.ADMIN_TOKEN;
        String material = "ordersync ui session v1\0" + token.length() + ":" + token + "\0" + "0:" + "\0" + "0:";
        byte[] key = javax.crypto.SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(new javax.crypto.spec.PBEKeySpec(
                material.toCharArray(), java.util.HexFormat.of().parseHex(secret), 600_000, 256)).getEncoded();
        javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
        mac.init(new javax.crypto.spec.SecretKeySpec(key, "HmacSHA256"));
        return java.util.HexFormat.of().formatHex(mac.doFinal(("mapping-change\0" + provider + "\0" + base + "\0" + made + "\0" + content)
                .getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }

    private List<String> messages() {
        return log.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }

    private static String instanceId(OrdersyncApp on) {
        return on.context().getPropertiesComponent().resolveProperty("ordersync.instance-id").orElseThrow();
    }

    private static Map<String, String> withId(Map<String, String> props, String id) {
        Map<String, String> out = new java.util.HashMap<>(props);
        out.put("ordersync.instance-id", id);
        return out;
    }

    private static String version(OrdersyncApp on) throws Exception {
        return JSON.readTree(on.get("/api/providers/crm/edit").body()).path("version").asText();
    }

    private static HttpResponse<String> put(OrdersyncApp on, String base, String text) throws Exception {
        String version = hash(base);
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(on.url("/api/providers/crm/file")))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("Content-Type", "text/plain")
                .header("X-Ordersync-Base", version)
                .PUT(HttpRequest.BodyPublishers.ofString(text)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static void save(OrdersyncApp on, String current, String text) throws Exception {
        JsonNode opened = JSON.readTree(on.get("/api/providers/crm/edit").body());
        assertThat(opened.path("text").asText()).isEqualTo(current);
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(on.url("/api/providers/crm/file")))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("Content-Type", "text/plain")
                .header("X-Ordersync-Base", opened.path("version").asText())
                .PUT(HttpRequest.BodyPublishers.ofString(text)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    }
}
