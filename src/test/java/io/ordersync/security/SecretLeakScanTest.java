package io.ordersync.security;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The scan: ordersync runs as its own process with an admin token, an admin password, an intake token and a
 * provider token, against a target that answers 401 with every request header it got (so the provider's
 * token comes back in its body). Events, a parked sync, previews that try to read settings, failed logins.
 * Then every API answer and UI page, the whole log and a dump of the whole database are searched: no
 * configured secret occurs anywhere.
 */
class SecretLeakScanTest {

    private static final String ADMIN_TOKEN = "adm-tok-9f3c1e7a55d0";
    private static final String ADMIN_PASSWORD = "admin-pw-3a9e1f7720";
    private static final String INTAKE_TOKEN = "int-tok-44be07d1c2aa";
    private static final String CRM_TOKEN = "crm-tok-7d1e5c9a0b66";
    /** The pretix API token: right for the first pretix server, and sent to a second one that echoes it in its 401. */
    private static final String PRETIX_TOKEN = io.ordersync.support.PretixTestServer.TOKEN;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    private HttpServer echo;
    private io.ordersync.support.PretixTestServer pretix;
    private OrdersyncProcess process;
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void stop() throws Exception {
        if (process != null) {
            process.close();
        }
        if (pretix != null) {
            pretix.close();
        }
        if (echo != null) {
            echo.stop(0);
        }
    }

    @Test
    void noConfiguredSecretIsStoredLoggedOrShown() throws Exception {
        AtomicInteger echoed = new AtomicInteger();
        echo = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        echo.createContext("/", ex -> {
            StringBuilder body = new StringBuilder("{\"error\": \"unauthorized\", \"you sent\": {");
            ex.getRequestHeaders().forEach((k, v) -> body.append('"').append(k).append("\": \"").append(String.join(",", v)).append("\", "));
            body.append("\"path\": \"").append(ex.getRequestURI()).append("\"}}");
            if (body.indexOf(CRM_TOKEN) >= 0) {
                echoed.incrementAndGet();
            }
            byte[] b = body.toString().getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(401, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        echo.start();
        Path mappings = tmp.resolve("mappings");
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "3", "backoff", "1s", "response_timeout_ms", "2000"));
        String url = "jdbc:h2:file:" + tmp.resolve("db").resolve("ordersync").toAbsolutePath();
        Map<String, String> props = new HashMap<>();
        props.put("ordersync.db.url", url);
        props.put("ordersync.mappings.dir", mappings.toAbsolutePath().toString());
        props.put("test.crm.url", "http://127.0.0.1:" + echo.getAddress().getPort());
        props.put("test.crm.token", CRM_TOKEN);
        props.put("ordersync.admin.token", ADMIN_TOKEN);
        props.put("ordersync.admin.username", "admin");
        props.put("ordersync.admin.password", ADMIN_PASSWORD);
        props.put("ordersync.intake.token", INTAKE_TOKEN);
        props.put("camel.main.routes-reload-enabled", "false");
        // pretix as a source: its errors repeat the Authorization header they got (the token), and one fetch
        // is of an order it does not have
        pretix = io.ordersync.support.PretixTestServer.start();
        pretix.echoAuthorizationOnError(true);
        props.put("ordersync.pretix.url", pretix.url());
        props.put("ordersync.pretix.organizer", io.ordersync.support.PretixTestServer.ORGANIZER);
        props.put("ordersync.pretix.token", PRETIX_TOKEN);
        StringBuilder seen = new StringBuilder();
        process = new OrdersyncProcess("leaks", tmp.resolve("logs"), props).start();
        for (String code : List.of("ABC12", "MISSING1")) {
            ObjectNode hook = JSON.createObjectNode().put("notification_id", code.length()).put("organizer", io.ordersync.support.PretixTestServer.ORGANIZER)
                    .put("event", "democon").put("code", code).put("action", "pretix.event.order.paid");
            send("POST", "/api/sources/pretix/webhook", null, hook.toString(), seen);
        }
        pretix.failNext(2, 500, null);
        send("POST", "/api/sources/pretix/import", "Bearer " + ADMIN_TOKEN, "{\"event\": \"democon\"}", seen);
        await().atMost(Duration.ofSeconds(30)).until(() -> JSON.readTree(send("GET", "/api/sources/pretix", "Bearer " + ADMIN_TOKEN, null,
                new StringBuilder()).body()).path("parked").asInt() == 1);
        assertThat(pretix.requests()).as("pretix's error answers did echo the token")
                .anySatisfy(r -> assertThat(r.status()).isIn(404, 500));

        ObjectNode doc = (ObjectNode) JSON.readTree(Fixtures.read("fixtures/order-abc12.json"));
        assertThat(send("POST", "/api/events", "Bearer " + INTAKE_TOKEN, doc.toString(), seen).statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(30)).until(() -> JSON.readTree(send("GET", "/api/queue?state=parked", "Bearer " + ADMIN_TOKEN,
                null, new StringBuilder()).body()).path("total").asInt() == 1);
        assertThat(echoed.get()).as("the target did echo the provider's token").isPositive();
        // previews that try to read settings through an unsaved mapping, and one of the saved mapping
        String saved = Files.readString(mappings.resolve("crm.yaml"));
        for (String placeholder : List.of("{{ordersync.admin.password}}", "{{ordersync.intake.token}}", "{{ordersync.admin.token}}",
                "{{test.crm.token}}")) {
            ObjectNode req = JSON.createObjectNode();
            req.put("provider", "crm");
            req.put("mapping", saved.replace("{{test.crm.url}}", "{{test.crm.url}}/" + placeholder));
            req.set("document", doc);
            send("POST", "/api/preview", "Bearer " + ADMIN_TOKEN, req.toString(), seen);
        }
        for (String path : List.of("/api/queue", "/api/queue?state=parked", "/api/orders/democon/ABC12", "/api/order?event=democon&code=ABC12",
                "/api/providers", "/api/providers/crm/file", "/api/rejected", "/ui/", "/ui/app.js", "/login", "/api/sources/pretix",
                "/api/order?event=democon&code=MISSING1")) {
            send("GET", path, "Bearer " + ADMIN_TOKEN, null, seen);
        }
        // guesses last (they lock this client out)
        for (int i = 0; i < 7; i++) {
            send("GET", "/api/providers", "Basic " + Base64.getEncoder().encodeToString(("admin:" + ADMIN_PASSWORD + i)
                    .getBytes(StandardCharsets.UTF_8)), null, seen);
        }
        process.close();
        process = null;
        String log = Files.readString(tmp.resolve("logs").resolve("leaks.log"));
        StringBuilder database = new StringBuilder();
        try (Connection c = DriverManager.getConnection(url, "sa", ""); ResultSet rs = c.createStatement().executeQuery("SCRIPT")) {
            while (rs.next()) {
                database.append(rs.getString(1)).append('\n');
            }
        }
        assertThat(database).as("the parked sync kept the target's answer, redacted").contains("[redacted]").contains("you sent");
        String basicPair = Base64.getEncoder().encodeToString(("admin:" + ADMIN_PASSWORD).getBytes(StandardCharsets.UTF_8));
        String crmBasic = Base64.getEncoder().encodeToString(CRM_TOKEN.getBytes(StandardCharsets.UTF_8));
        for (String secret : List.of(ADMIN_TOKEN, ADMIN_PASSWORD, INTAKE_TOKEN, CRM_TOKEN, basicPair, crmBasic, PRETIX_TOKEN)) {
            assertThat(seen.toString()).as("API answers and UI pages").doesNotContain(secret);
            assertThat(log).as("the log").doesNotContain(secret);
            assertThat(database.toString()).as("the database").doesNotContain(secret);
        }
    }

    private HttpResponse<String> send(String method, String path, String authorization, String body, StringBuilder seen) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(process.url(path)))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        seen.append(method).append(' ').append(path).append(' ').append(r.statusCode()).append('\n')
                .append(r.headers().map()).append('\n').append(r.body()).append('\n');
        return r;
    }
}
