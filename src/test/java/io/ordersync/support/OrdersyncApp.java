package io.ordersync.support;

import io.ordersync.config.OrdersyncConfiguration;
import io.ordersync.db.Tx;
import io.ordersync.order.OrderStore;
import org.apache.camel.CamelContext;
import org.apache.camel.main.Main;

import javax.sql.DataSource;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** ordersync started in-process as camel-main runs it, on its own H2 database and mappings directory. */
public final class OrdersyncApp implements AutoCloseable {

    /** The admin token the test instances run with; requests of this class send it. */
    public static final String ADMIN_TOKEN = "test-admin-token";

    private final Map<String, String> properties;
    private final int port;
    private Main main;
    /** Beans bound into the registry at every start (e.g. {@code ordersync.clock}). */
    private final Map<String, Object> beans = new LinkedHashMap<>();

    public OrdersyncApp(Path dataDir, Path mappingsDir, Map<String, String> extra) {
        this.port = freePort();
        this.properties = new LinkedHashMap<>();
        properties.put("ordersync.db.url", "jdbc:h2:file:" + dataDir.resolve("ordersync").toAbsolutePath());
        properties.put("ordersync.mappings.dir", mappingsDir.toAbsolutePath().toString());
        properties.put("camel.server.port", String.valueOf(port));
        properties.put("camel.server.host", "127.0.0.1");
        properties.put("camel.management.port", String.valueOf(freePort()));
        properties.put("camel.management.host", "127.0.0.1");
        properties.put("ordersync.outbox.poll-delay-ms", "100");
        properties.put("ordersync.redelivery.delay-ms", "50");
        properties.put("camel.main.shutdown-timeout", "10");
        properties.put("ordersync.admin.token", ADMIN_TOKEN);
        properties.putAll(extra);
        // DEFAULT: leave the setting to application.properties
        properties.values().removeIf(DEFAULT::equals);
    }

    /** A value for {@code extra} that removes the test's own setting, so application.properties decides. */
    public static final String DEFAULT = "<application.properties>";

    /** Binds {@code bean} as {@code name} into the registry before each start (an embedding platform's beans). */
    public OrdersyncApp bind(String name, Object bean) {
        beans.put(name, bean);
        return this;
    }

    public OrdersyncApp start() throws Exception {
        main = new Main();
        beans.forEach(main::bind);
        main.configure().addConfiguration(OrdersyncConfiguration.class);
        main.bind(io.ordersync.config.Ordersync.OWNS_HTTP_SERVER, Boolean.TRUE);
        properties.forEach(main::addOverrideProperty);
        main.start();
        return this;
    }

    public void stop() throws Exception {
        if (main != null) {
            main.stop();
            main = null;
        }
    }

    public OrdersyncApp restart() throws Exception {
        stop();
        return start();
    }

    public CamelContext context() {
        return main.getCamelContext();
    }

    public DataSource dataSource() {
        return context().getRegistry().lookupByNameAndType("ordersync.dataSource", DataSource.class);
    }

    public OrderStore store() {
        return context().getRegistry().lookupByNameAndType("ordersync.orderStore", OrderStore.class);
    }

    public String url(String path) {
        return "http://127.0.0.1:" + port + path;
    }

    public HttpResponse<String> post(String path, String body) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url(path)))
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + ADMIN_TOKEN)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    public HttpResponse<String> delete(String path) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url(path)))
                        .header("Authorization", "Bearer " + ADMIN_TOKEN).DELETE().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    public HttpResponse<String> get(String path) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url(path)))
                        .header("Authorization", "Bearer " + ADMIN_TOKEN).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    public void insertOutbox(String payload) {
        Tx.run(dataSource(), c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO order_outbox (payload) VALUES (?)")) {
                ps.setString(1, payload);
                return ps.executeUpdate();
            }
        });
    }

    public List<Map<String, Object>> query(String sql, Object... args) {
        return store().query(sql, args);
    }

    public long count(String sql, Object... args) {
        return ((Number) query(sql, args).get(0).values().iterator().next()).longValue();
    }

    /** The JDBC URL of this app's database (an H2 file), to read it while ordersync is stopped. */
    public String dataSourceUrl() {
        return properties.get("ordersync.db.url");
    }

    /** A count read straight from the database files while ordersync is stopped. */
    public long countWhileStopped(String sql) throws Exception {
        try (Connection c = DriverManager.getConnection(properties.get("ordersync.db.url"), "sa", "");
             ResultSet rs = c.createStatement().executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    public List<Map<String, Object>> queue() {
        return query("SELECT * FROM sync_queue ORDER BY id");
    }

    static int freePort() {
        return Ports.free();
    }

    @Override
    public void close() throws Exception {
        stop();
    }
}
