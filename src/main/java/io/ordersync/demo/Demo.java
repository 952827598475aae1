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
    }

    /** Settings the demo runs with (override application.properties). */
    public Map<String, String> properties() {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("ordersync.db.url", "jdbc:h2:file:./data/demo");
        p.put("ordersync.mappings.dir", "demo/mappings");
        p.put("ordersync.demo.sandbox-url", sandbox.url() + "/api");
        p.put("ordersync.admin.username", "demo");
        p.put("ordersync.admin.password", password);
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
                + "  and a parked permanent error (blocked@) on the dashboard: open it and click Retry now. Stop with Ctrl+C.\n";
        System.out.println(banner);
        DataSource ds = context.getRegistry().lookupByNameAndType("ordersync.dataSource", DataSource.class);
        for (int i = 0; i < BUYERS.length; i++) {
            int n = i;
            feeder.schedule(() -> feed(ds, n), i < 3 ? 1 : (i - 2) * 5L, TimeUnit.SECONDS);
        }
    }

    private void feed(DataSource ds, int n) {
        try (InputStream in = Demo.class.getResourceAsStream("/demo/order.json"); Connection c = ds.getConnection()) {
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode doc = (ObjectNode) mapper.readTree(in);
            String[] buyer = BUYERS[n];
            String code = "D" + String.format("%04d", 1000 + n);
            ObjectNode order = (ObjectNode) doc.get("order");
            order.put("code", code);
            order.put("email", buyer[2]);
            ObjectNode address = (ObjectNode) order.get("invoice_address");
            address.put("name", buyer[0] + " " + buyer[1]);
            ((ObjectNode) address.get("name_parts")).put("given_name", buyer[0]).put("family_name", buyer[1]);
            ObjectNode position = (ObjectNode) order.get("positions").get(0);
            position.put("attendee_name", buyer[0] + " " + buyer[1]);
            position.put("order", code);
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
