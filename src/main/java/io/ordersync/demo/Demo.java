package io.ordersync.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.camel.CamelContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.io.InputStream;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * {@code --demo}: ordersync on its own H2 database with a sandbox CRM on loopback, a provider mapped to it
 * (demo/mappings), generated demo credentials, and sample orders written into the outbox over a minute —
 * syncs, a retry and a parked failure show within seconds.
 */
public final class Demo implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Demo.class);
    private static final String[][] BUYERS = {
            {"Ada", "Lovelace", "ada@example.org"}, {"Alan", "Turing", "alan@example.org"},
            {"Grace", "Hopper", "flaky@example.org"}, {"Edsger", "Dijkstra", "edsger@example.org"},
            {"Barbara", "Liskov", "blocked@example.org"}, {"Donald", "Knuth", "donald@example.org"},
            {"Frances", "Allen", "frances@example.org"}, {"Ken", "Thompson", "ken@example.org"},
            {"Radia", "Perlman", "radia@example.org"}, {"John", "McCarthy", "john@example.org"},
            {"Margaret", "Hamilton", "margaret@example.org"}, {"Tim", "Berners-Lee", "tim@example.org"}};

    private final Sandbox sandbox;
    private final String password;
    private final String pretixToken;
    private final ScheduledExecutorService feeder = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "demo-feeder");
        t.setDaemon(true);
        return t;
    });

    public Demo(int sandboxPort) throws Exception {
        this.sandbox = new Sandbox(sandboxPort);
        byte[] b = new byte[6];
        new SecureRandom().nextBytes(b);
        this.password = "demo-" + java.util.HexFormat.of().formatHex(b);
        new SecureRandom().nextBytes(b);
        this.pretixToken = "demo-pretix-" + java.util.HexFormat.of().formatHex(b);
        sandbox.pretixToken(pretixToken);
    }

    /** Settings the demo runs with (override application.properties). */
    /** The demo's database files (data/demo.*): removed at every demo start, so each demo begins afresh. */
    public static void freshDatabase(java.nio.file.Path dir) throws java.io.IOException {
        if (!java.nio.file.Files.isDirectory(dir)) {
            return;
        }
        try (java.util.stream.Stream<java.nio.file.Path> s = java.nio.file.Files.list(dir)) {
            for (java.nio.file.Path f : s.filter(f -> f.getFileName().toString().startsWith("demo.")).toList()) {
                java.nio.file.Files.deleteIfExists(f);
            }
        }
    }

    public Map<String, String> properties() {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("ordersync.db.url", "jdbc:h2:file:./data/demo");
        p.put("ordersync.mappings.dir", "demo/mappings");
        p.put("ordersync.demo.sandbox-url", sandbox.url() + "/api");
        p.put("ordersync.admin.username", "demo");
        p.put("ordersync.admin.password", password);
        // the sandbox also plays pretix: some orders arrive as pretix webhooks and are fetched from its API
        p.put("ordersync.pretix.url", sandbox.pretixUrl());
        p.put("ordersync.pretix.organizer", "demo");
        p.put("ordersync.pretix.events", "democon");
        p.put("ordersync.pretix.token", pretixToken);
        return p;
    }

    public String password() {
        return password;
    }

    public Sandbox sandbox() {
        return sandbox;
    }

    /** Prints where to look, then feeds the sample orders: three at once, the rest every five seconds. */
    public void started(CamelContext context, String port) {
        String banner = "\n\n  ordersync demo is running\n"
                + "    admin UI        http://localhost:" + port + "/ui/   (user: demo, password: " + password + ")\n"
                + "    sandbox CRM     " + sandbox.url() + "/   (the external system ordersync syncs into)\n"
                + "  Sample orders arrive through the outbox over the next minute: watch syncs, a retry (flaky@)\n"
                + "  and a parked permanent error (blocked@) on the dashboard: open it and click Retry now.\n"
                + "  Every third order comes the way a real pretix sends it: the sandbox (playing pretix) posts a webhook to\n"
                + "    http://localhost:" + port + "/api/sources/pretix/webhook and ordersync fetches the order from the sandbox's\n"
                + "    pretix API (" + sandbox.pretixUrl() + "/api/v1/…) — see GET /api/sources/pretix. Stop with Ctrl+C.\n";
        System.out.println(banner);
        DataSource ds = context.getRegistry().lookupByNameAndType("ordersync.dataSource", DataSource.class);
        for (int i = 0; i < BUYERS.length; i++) {
            int n = i;
            boolean viaPretix = i % 3 == 2;
            feeder.schedule(() -> {
                if (viaPretix) {
                    viaPretix(port, n);
                } else {
                    feed(ds, n);
                }
            }, i < 3 ? 1 : (i - 2) * 5L, TimeUnit.SECONDS);
        }
    }

    /** The order as the demo's pretix holds it, then pretix's webhook for it, as pretix would post it. */
    private void viaPretix(String port, int n) {
        try {
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode order = (ObjectNode) sample(mapper, n).get("order");
            order.put("event", "democon");
            order.put("last_modified", java.time.Instant.now().toString());
            for (com.fasterxml.jackson.databind.JsonNode p : order.path("positions")) {
                for (com.fasterxml.jackson.databind.JsonNode a : p.path("answers")) {
                    ((ObjectNode) a).put("question", 1);
                }
            }
            sandbox.pretixOrder(order);
            ObjectNode hook = mapper.createObjectNode().put("notification_id", 9000 + n).put("organizer", "demo")
                    .put("event", "democon").put("code", order.path("code").asText()).put("action", "pretix.event.order.paid");
            java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                            java.net.URI.create("http://127.0.0.1:" + port + "/api/sources/pretix/webhook"))
                    .header("Content-Type", "application/json").POST(java.net.http.HttpRequest.BodyPublishers.ofString(hook.toString())).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            LOG.info("Demo: order {} of {} placed in the sandbox's pretix, its webhook answered {}", order.path("code").asText(),
                    BUYERS[n][2], r.statusCode());
        } catch (Exception e) {
            LOG.warn("Demo: could not send the pretix webhook of order {}: {}", n, e.getMessage());
        }
    }

    private static ObjectNode sample(ObjectMapper mapper, int n) throws java.io.IOException {
        try (InputStream in = Demo.class.getResourceAsStream("/demo/order.json")) {
            ObjectNode doc = (ObjectNode) mapper.readTree(in);
            String[] buyer = BUYERS[n];
            String code = "D" + (1000 + n);
            ObjectNode order = (ObjectNode) doc.get("order");
            order.put("code", code);
            order.put("email", buyer[2]);
            ObjectNode address = (ObjectNode) order.get("invoice_address");
            address.put("name", buyer[0] + " " + buyer[1]);
            ((ObjectNode) address.get("name_parts")).put("given_name", buyer[0]).put("family_name", buyer[1]);
            ObjectNode position = (ObjectNode) order.get("positions").get(0);
            position.put("attendee_name", buyer[0] + " " + buyer[1]);
            position.put("order", code);
            return doc;
        }
    }

    private void feed(DataSource ds, int n) {
        try (Connection c = ds.getConnection()) {
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode doc = sample(mapper, n);
            String code = doc.path("order").path("code").asText();
            String[] buyer = BUYERS[n];
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO order_outbox (payload) VALUES (?)")) {
                ps.setString(1, mapper.writeValueAsString(doc));
                ps.executeUpdate();
            }
            LOG.info("Demo: order {} of {} {} written to the outbox", code, buyer[0], buyer[1]);
        } catch (Exception e) {
            LOG.warn("Demo: could not write order {}: {}", n, e.getMessage());
        }
    }


    @Override
    public void close() {
        feeder.shutdownNow();
        sandbox.close();
    }
}
