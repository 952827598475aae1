package io.ordersync;

import io.ordersync.config.Ordersync;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.support.FakeTarget;
import io.ordersync.support.Fixtures;
import org.apache.camel.CamelContext;
import org.apache.camel.RoutesBuilder;
import org.apache.camel.component.platform.http.vertx.VertxPlatformHttpServer;
import org.apache.camel.component.platform.http.vertx.VertxPlatformHttpServerConfiguration;
import org.apache.camel.spi.Resource;
import org.apache.camel.support.PluginHelper;
import org.apache.camel.support.ResourceHelper;
import org.apache.camel.test.junit5.CamelTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The same routes and beans run in a plain CamelContext, without camel-main, as a host platform would run them. */
class EmbeddingTest extends CamelTestSupport {

    private FakeTarget target;
    private Path dir;
    private int port;

    @Override
    protected CamelContext createCamelContext() throws Exception {
        CamelContext context = super.createCamelContext();
        target = new FakeTarget().requireAuthorization("Bearer s3cret");
        dir = Files.createTempDirectory("ordersync-embedded");
        Fixtures.mapping(dir.resolve("mappings"), "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        Properties props = new Properties();
        props.setProperty("test.crm.url", target.url());
        props.setProperty("test.crm.token", "s3cret");
        context.getPropertiesComponent().setOverrideProperties(props);

        Properties settings = new Properties();
        settings.setProperty("ordersync.db.url", "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath());
        settings.setProperty("ordersync.mappings.dir", dir.resolve("mappings").toString());
        settings.setProperty("ordersync.intake.token", "shop-token");
        Ordersync.install(context, OrdersyncSettings.from(settings));

        // the host platform provides the HTTP server that platform-http routes use
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        VertxPlatformHttpServerConfiguration http = new VertxPlatformHttpServerConfiguration();
        http.setBindHost("127.0.0.1");
        http.setBindPort(port);
        context.addService(new VertxPlatformHttpServer(http));
        return context;
    }

    @Override
    protected RoutesBuilder[] createRouteBuilders() throws Exception {
        List<Resource> resources = new ArrayList<>();
        try (var files = Files.list(Path.of("routes"))) {
            files.filter(f -> f.toString().endsWith(".camel.yaml")).sorted()
                    .forEach(f -> resources.add(ResourceHelper.resolveResource(context, "file:" + f)));
        }
        return PluginHelper.getRoutesLoader(context).findRoutesBuilders(resources).toArray(new RoutesBuilder[0]);
    }

    @AfterEach
    void stopTarget() {
        target.close();
    }

    @Test
    void routesRunInAPlainCamelContext() throws Exception {
        assertThat(context.getRoute("intake-http")).isNotNull();
        assertThat(context.getRoute("intake-outbox")).isNotNull();
        assertThat(context.getRoute("dispatch")).isNotNull();
        await().atMost(Duration.ofSeconds(5)).until(() -> context.getRoute("provider-crm") != null);

        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + port + "/api/events"))
                .header("Authorization", "Bearer shop-token")
                .POST(HttpRequest.BodyPublishers.ofString(Fixtures.read("fixtures/order-abc12.json"))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("tickets").size() == 2);
        assertThat(target.objects("contacts")).hasSize(1);
    }
}
