package io.ordersync;

import io.ordersync.config.Ordersync;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.support.Ports;
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
    private Ordersync ordersync;
    /** The host platform's own data source, bound as "dataSource" before ordersync is installed. */
    private org.h2.jdbcx.JdbcDataSource hostDataSource;

    @Override
    protected CamelContext createCamelContext() throws Exception {
        CamelContext context = super.createCamelContext();
        target = new FakeTarget().requireAuthorization("Bearer s3cret");
        dir = Files.createTempDirectory("ordersync-embedded");
        Fixtures.mapping(dir.resolve("mappings"), "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        Properties props = new Properties();
        props.setProperty("test.crm.url", target.url());
        props.setProperty("test.crm.token", "s3cret");
        // the host's own properties name another queue than the settings given to install: the settings win
        props.setProperty("ordersync.jms.queue", "host.events");
        context.getPropertiesComponent().setOverrideProperties(props);

        Properties settings = new Properties();
        settings.setProperty("ordersync.db.url", "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath());
        settings.setProperty("ordersync.mappings.dir", dir.resolve("mappings").toString());
        settings.setProperty("ordersync.intake.token", "shop-token");
        settings.setProperty("ordersync.admin.token", "host-admin-token");
        // given to install only (the host's properties component does not have them): the routes read them too
        settings.setProperty("ordersync.jms.enabled", "true");
        settings.setProperty("ordersync.jms.data-dir", dir.resolve("artemis").toString());
        // the host's own "jms" component, set up for its own routes with five consumers
        org.apache.camel.component.jms.JmsComponent hostJms = new org.apache.camel.component.jms.JmsComponent();
        hostJms.setConcurrentConsumers(5);
        hostJms.setMaxConcurrentConsumers(5);
        context.addComponent("jms", hostJms);
        // the host has its own "dataSource" (and its own routes, below): ordersync must not replace or use it
        hostDataSource = new org.h2.jdbcx.JdbcDataSource();
        hostDataSource.setURL("jdbc:h2:mem:host-" + System.nanoTime() + ";DB_CLOSE_DELAY=-1");
        hostDataSource.setUser("sa");
        try (var c = hostDataSource.getConnection()) {
            c.createStatement().execute("CREATE TABLE host_log (id IDENTITY PRIMARY KEY, msg VARCHAR(100))");
        }
        context.getRegistry().bind("dataSource", hostDataSource);
        ordersync = Ordersync.install(context, OrdersyncSettings.from(settings));

        // the host platform provides the HTTP server that platform-http routes use
        port = Ports.free();
        VertxPlatformHttpServerConfiguration http = new VertxPlatformHttpServerConfiguration();
        http.setBindHost("127.0.0.1");
        http.setBindPort(port);
        context.addService(new VertxPlatformHttpServer(http));
        return context;
    }

    private List<RoutesBuilder> ordersyncBuilders;
    /** The routes whose exchanges the host's id-less route configuration saw. */
    private final java.util.Set<String> hostIntercepted = java.util.concurrent.ConcurrentHashMap.newKeySet();

    @Override
    protected RoutesBuilder[] createRouteBuilders() throws Exception {
        List<Resource> resources = new ArrayList<>();
        try (var files = Files.list(Path.of("routes"))) {
            files.filter(f -> f.toString().endsWith(".camel.yaml")).sorted()
                    .forEach(f -> resources.add(ResourceHelper.resolveResource(context, "file:" + f)));
        }
        List<RoutesBuilder> builders = new ArrayList<>();
        // the host's own route configuration without an id, which Camel gives every route that names none: its
        // interceptor notes each exchange started by a route
        builders.add(new org.apache.camel.builder.RouteConfigurationBuilder() {
            @Override
            public void configuration() {
                routeConfiguration().interceptFrom().process(e -> hostIntercepted.add(e.getFromRouteId()));
            }
        });
        List<RoutesBuilder> own = PluginHelper.getRoutesLoader(context).findRoutesBuilders(resources).stream().map(b -> (RoutesBuilder) b).toList();
        builders.addAll(own);
        ordersyncBuilders = List.copyOf(own);
        // the host platform's own routes: one on its data source, one on the shared HTTP server
        builders.add(new org.apache.camel.builder.RouteBuilder() {
            @Override
            public void configure() {
                from("direct:host-log").routeId("host-log")
                        .to("sql:INSERT INTO host_log (msg) VALUES (:#${body})?dataSource=#dataSource");
                from("platform-http:/host/ping?httpMethodRestrict=GET").routeId("host-ping")
                        .setBody(constant("pong"));
                // the host's own REST verb, with Camel's request validation
                rest("/host").post("/echo").clientRequestValidation(true).consumes("application/json").routeId("host-echo")
                        .to("direct:host-echo");
                from("direct:host-echo").routeId("host-echo-route").setBody(constant("{\"ok\":true}"));
                // a form post, as a host's HTML login or upload page sends it
                from("platform-http:/host/form?httpMethodRestrict=POST").routeId("host-form")
                        .setBody(simple("got ${header.a}"));
            }
        });
        return builders.toArray(new RoutesBuilder[0]);
    }

    /** Posts the ABC12 order to the intake, as the shop would. */
    private HttpResponse<String> postOrder() throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/events"))
                .header("Authorization", "Bearer shop-token")
                .POST(HttpRequest.BodyPublishers.ofString(Fixtures.read("fixtures/order-abc12.json"))).build(),
                HttpResponse.BodyHandlers.ofString());
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

        HttpResponse<String> r = postOrder();
        assertThat(r.statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("tickets").size() == 2);
        assertThat(target.objects("contacts")).hasSize(1);
    }

    /**
     * A platform adds the templated routes of the YAML files after their routes, as camel-main does (the preview
     * routes are made from the provider templates): then a preview works in the host as standalone.
     */
    @Test
    void previewRunsThroughTheProviderTemplatesInTheHost() throws Exception {
        target.recordRequests(true);
        for (RoutesBuilder b : ordersyncBuilders) {
            b.addTemplatedRoutesToCamelContext(context);
        }
        assertThat(context.getRoute("ordersync-preview-sync")).isNotNull();
        String body = "{\"provider\": \"crm\", \"document\": " + Fixtures.read("fixtures/order-abc12.json") + "}";
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/preview"))
                .header("Authorization", "Bearer host-admin-token").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        var preview = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.body());
        assertThat(preview.path("requests")).hasSize(6);
        assertThat(preview.path("results")).hasSize(3);
        assertThat(target.requests()).as("a preview sends nothing").isEmpty();
    }

    /**
     * The settings given to install are the ones the routes read: before, the routes read the defaults of the keys
     * the host's properties did not have, and ordersync.jms.enabled=true started the broker but not its route (a
     * review). JMS intake keeps to one consumer, whatever the host set on its own "jms" component.
     */
    @Test
    void theSettingsGivenToInstallAreTheRoutesSettingsAndJmsIntakeKeepsOneConsumer() throws Exception {
        org.apache.camel.Route route = context.getRoute("intake-jms");
        assertThat(route).as("JMS intake, enabled in the settings given to install").isNotNull();
        var endpoint = (org.apache.camel.component.jms.JmsEndpoint) route.getEndpoint();
        assertThat(endpoint.getComponent()).isNotSameAs(context.getComponent("jms"));
        assertThat(endpoint.getConfiguration().getConcurrentConsumers()).isEqualTo(1);
        assertThat(endpoint.getConfiguration().getMaxConcurrentConsumers()).isEqualTo(1);
        assertThat(context.resolvePropertyPlaceholders("{{ordersync.jms.enabled}}")).isEqualTo("true");
        assertThat(context.resolvePropertyPlaceholders("{{ordersync.jms.queue}}")).as("the settings' value over the host's")
                .isEqualTo("ordersync.events");
        await().atMost(Duration.ofSeconds(5)).until(() -> context.getRoute("provider-crm") != null);
        // an event on the queue is taken in and synced
        template.sendBody("ordersync-jms:queue:ordersync.events?connectionFactory=#ordersync.jmsConnectionFactory",
                Fixtures.read("fixtures/order-abc12.json"));
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("tickets").size() == 2);
        assertThat(target.objects("contacts")).hasSize(1);
    }

    @Test
    void theHostKeepsItsBeansAndRoutesBesideOrdersync() throws Exception {
        await().atMost(Duration.ofSeconds(5)).until(() -> context.getRoute("provider-crm") != null);
        // the host's bean is still the host's, and ordersync's are all under its prefix
        assertThat(context.getRegistry().lookupByName("dataSource")).isSameAs(hostDataSource);
        assertThat(context.getRegistry().lookupByName("ordersync.dataSource")).isNotSameAs(hostDataSource).isNotNull();
        for (String name : List.of("providers", "dispatcher", "delivery", "syncOutcome", "adminApi", "adminAuth", "orderStore",
                "syncQueue", "httpIntake", "outboxIntake", "syncMetrics", "staticFiles")) {
            assertThat(context.getRegistry().lookupByName(name)).as("unprefixed bean " + name).isNull();
        }
        // every route id is the host's or has one of the prefixes README ("Embedding") names
        assertThat(context.getRoutes()).extracting(org.apache.camel.Route::getRouteId).filteredOn(id -> !id.startsWith("host-"))
                .isNotEmpty().allMatch(id -> id.matches("(provider-|intake-|dispatch|api-|rest-|pretix-|queue-|alert|ui|ordersync-).*")
                        || id.equals("mappings-watch") || id.equals("retention-purge"), "a prefix README names");
        assertThat(context.getCamelContextExtension().getContextPlugin(org.apache.camel.model.Model.class).getRouteConfigurationDefinitions())
                .extracting(org.apache.camel.model.RouteConfigurationDefinition::getId)
                .filteredOn(java.util.Objects::nonNull)
                .containsExactlyInAnyOrder("admin-auth", "provider-errors", "provider-call", "pretix-calls", "alert-delivery", "ordersync-plain");
        // the host's routes work: its SQL route writes into its own database, its HTTP route answers
        template.sendBody("direct:host-log", "hello");
        try (var c = hostDataSource.getConnection(); var rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM host_log")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(1);
        }
        HttpResponse<String> ping = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + port + "/host/ping")).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(ping.statusCode()).isEqualTo(200);
        assertThat(ping.body()).isEqualTo("pong");
        // ordersync's HTTP hardening is on its own paths only (before: on all, found by a review), and it is there on a
        // platform's server of any port (before: only on one named for port 8080)
        assertThat(ping.headers().firstValue("Content-Security-Policy")).as("the host's page").isEmpty();
        assertThat(ping.headers().firstValue("X-Frame-Options")).as("the host's page").isEmpty();
        HttpResponse<String> form = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/host/form"))
                .header("Content-Type", "application/x-www-form-urlencoded").POST(HttpRequest.BodyPublishers.ofString("a=b")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(form.statusCode()).as(form.body()).isEqualTo(200);
        assertThat(form.body()).isEqualTo("got b");
        // the host's REST verb validates as Camel does: no ordersync credentials asked (before: 401, a failed login)
        HttpResponse<String> echo = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/host/echo"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{\"a\": 1}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(echo.statusCode()).as(echo.body()).isEqualTo(200);
        HttpResponse<String> wrongType = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/host/echo"))
                .header("Content-Type", "text/csv").POST(HttpRequest.BodyPublishers.ofString("a,b")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(wrongType.statusCode()).as("Camel's own check of the host's verb: " + wrongType.body()).isEqualTo(415);
        // as wide as the routes' own matching: /login/ is /login's route, /uiX the UI's (an attack found both bare)
        for (String path : new String[]{"/ui/", "/login", "/api/providers", "/login/", "/uiX", "/ui"}) {
            HttpResponse<String> own = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                    .GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(own.headers().firstValue("Content-Security-Policy").orElse("")).as(path).startsWith("default-src 'self';");
            assertThat(own.headers().firstValue("X-Frame-Options")).as(path).hasValue("DENY");
        }
        HttpResponse<String> ownForm = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/queue/retry"))
                .header("Authorization", "Bearer host-admin-token").header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("a=b")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(ownForm.statusCode()).as("ordersync's own JSON endpoint: " + ownForm.body()).isEqualTo(415);
        // and ordersync's work beside them, on its own database
        HttpResponse<String> r = postOrder();
        assertThat(r.statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("tickets").size() == 2);
        // an API request with credentials: Camel merges the REST verb's route into the api-… route it calls
        HttpResponse<String> providers = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/providers"))
                .header("Authorization", "Bearer host-admin-token").GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(providers.statusCode()).as(providers.body()).isEqualTo(200);
        // the host's id-less route configuration reached its own routes and the REST verbs' only: every other ordersync
        // route names its own (before: the timers, intake, pretix and alerts named none and took the host's; a review).
        // A REST verb cannot name one in Camel 4.18, and the api-… route merged into it keeps it (README "Embedding")
        // ordersync's direct: and seda: endpoints are named as README says, so a platform's do not meet them
        assertThat(context.getEndpoints()).extracting(org.apache.camel.Endpoint::getEndpointUri)
                .filteredOn(u -> (u.startsWith("direct:") || u.startsWith("direct://") || u.startsWith("seda:") || u.startsWith("seda://"))
                        && !u.contains("host-"))
                .isNotEmpty().allMatch(u -> u.replaceFirst("^(direct|seda):(//)?", "$1:")
                        .matches("(direct:(api-|pretix-|ordersync-)|seda:(ordersync-|provider-)).*"), "a name README gives");
        assertThat(hostIntercepted).contains("host-log", "api-providers")
                .allMatch(id -> id.startsWith("host-") || id.startsWith("api-"), "a host route or a REST verb's");
    }

    @Test
    void twoHundredMappingReloadsLeaveComponentsAndRoutesAsTheyWere() throws Exception {
        await().atMost(Duration.ofSeconds(5)).until(() -> context.getRoute("provider-crm") != null);
        int components = context.getComponentNames().size();
        int routes = context.getRoutes().size();
        Path file = dir.resolve("mappings").resolve("crm.yaml");
        String original = java.nio.file.Files.readString(file);
        for (int i = 0; i < 200; i++) {
            // a changed response timeout re-creates the provider's routes and its HTTP component
            java.nio.file.Files.writeString(file, original.replace("response_timeout_ms: 2000", "response_timeout_ms: " + (2000 + i % 2 + 1)));
            // a reload takes a file once it read the same bytes twice (an editor may still be writing)
            ordersync.reloadMappings();
            ordersync.reloadMappings();
        }
        assertThat(ordersync.providers().active("crm").responseTimeoutMs()).isEqualTo(2000 + 199 % 2 + 1);
        assertThat(context.getComponentNames()).hasSize(components);
        assertThat(context.getRoutes()).hasSize(routes);
        // and the provider still syncs
        HttpResponse<String> r = postOrder();
        assertThat(r.statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() -> target.objects("tickets").size() == 2);
    }
}
