package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.support.FakeTarget;
import io.ordersync.support.H2Damage;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.OrdersyncProcess;
import io.ordersync.support.Postgres;
import io.ordersync.support.PretixTestServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * kill -9 in the middle of a pretix import (ordersync as its own process): after the restart the import goes on
 * from the page after the last one stored, and every order is taken in once and created once at the target.
 * On the default setup (H2) and on PostgreSQL. H2 2.3.232 sometimes damages its file at a kill (RELIABILITY.md, "H2
 * after a crash"): the test then rebuilds it as the operator would ({@code ./ordersync recover-db}), and every check
 * still holds on the rebuilt database.
 */
class PretixImportCrashTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int ORDERS = 3000;

    @TempDir
    Path tmp;
    private PretixTestServer pretix;
    private FakeTarget target;
    private OrdersyncProcess process;
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void stop() throws Exception {
        if (process != null) {
            process.close();
        }
        if (target != null) {
            target.close();
        }
        if (pretix != null) {
            pretix.close();
        }
    }

    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"h2", "postgres"})
    void killNineMidImportTakesEveryOrderOnce(String db) throws Exception {
        pretix = PretixTestServer.start();
        pretix.addOrders("democon", "K", ORDERS - 1);
        target = new FakeTarget().requireAuthorization("Bearer s3cret");
        Path mappings = tmp.resolve("mappings");
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "2000"));
        Map<String, String> props = new HashMap<>();
        H2Damage h2 = null;
        if (db.equals("h2")) {
            String url = "jdbc:h2:file:" + tmp.resolve("db").resolve("ordersync").toAbsolutePath();
            props.put("ordersync.db.url", url);
            h2 = new H2Damage(url);
        } else {
            Postgres.newDatabase().forEach((k, v) -> props.put((String) k, (String) v));
        }
        props.put("ordersync.mappings.dir", mappings.toAbsolutePath().toString());
        props.put("test.crm.url", target.url());
        props.put("test.crm.token", "s3cret");
        props.put("ordersync.queue.lease", "PT3S");
        props.put("ordersync.queue.reaper-period-ms", "500");
        props.put("ordersync.pretix.url", pretix.url());
        props.put("ordersync.pretix.organizer", PretixTestServer.ORGANIZER);
        props.put("ordersync.pretix.token", PretixTestServer.TOKEN);
        props.put("ordersync.pretix.lease", "PT3S");
        props.put("ordersync.pretix.import-page-pause-ms", "20");
        props.put("camel.main.routes-reload-enabled", "false");
        process = new OrdersyncProcess("pretix-import", tmp.resolve("logs"), props).start();

        HttpResponse<String> started = send("POST", "/api/sources/pretix/import", "{\"event\": \"democon\"}");
        assertThat(started.statusCode()).as(started.body()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50)).until(() -> done() >= 600);
        process.kill();
        int atKill = (int) target.objects("contacts").size();
        if (h2 != null) {
            h2.surviving("the start after the kill", process::start);
        } else {
            process.start();
        }
        await().atMost(Duration.ofSeconds(120)).until(() -> "done".equals(importState().path("state").asText()));
        JsonNode imp = importState();
        assertThat(imp.path("total").asInt()).isEqualTo(ORDERS);
        assertThat(imp.path("done").asInt() + imp.path("unchanged").asInt()).as("every order counted once").isEqualTo(ORDERS);
        await().atMost(Duration.ofSeconds(180)).until(() -> target.objects("contacts").size() == ORDERS);
        await().atMost(Duration.ofSeconds(60)).until(() -> JSON.readTree(send("GET", "/api/queue", null).body()).path("total").asInt() == 0);
        long creates = target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/contacts")).count();
        assertThat(creates).as("no order created twice at the target (%d synced when killed)", atKill).isEqualTo(ORDERS);
        assertThat(pretix.requestsTo("/orders/")).as("about 60 pages, a few read twice after the kill").isBetween(60L, 70L);
    }

    private long done() throws Exception {
        JsonNode imp = importState();
        return imp.path("done").asLong();
    }

    private JsonNode importState() throws Exception {
        return JSON.readTree(send("GET", "/api/sources/pretix", null).body()).path("imports").path(0);
    }

    private HttpResponse<String> send(String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(process.url(path)))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
