package io.ordersync;

import io.ordersync.config.Ordersync;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.support.Ports;
import io.ordersync.support.Fixtures;
import org.apache.camel.CamelContext;
import org.apache.camel.impl.DefaultCamelContext;
import org.apache.camel.support.PluginHelper;
import org.apache.camel.support.ResourceHelper;
import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The schema is migrated on a thread of its own while Camel loads the routes; a database that cannot be
 * reached or migrated still stops the start-up with the database's error, before any route runs.
 */
class StartupFailureTest {

    /** A busy HTTP or management port stops the start with one line naming the port and the setting. */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0} busy")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"camel.server", "camel.management"})
    void aBusyPortFailsTheStartWithOneClearLine(String setting, @org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Fixtures.mapping(tmp.resolve("mappings"), "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "1000"));
        Map<String, String> props = Map.of("ordersync.db.url", "jdbc:h2:file:" + tmp.resolve("db").toAbsolutePath(),
                "ordersync.mappings.dir", tmp.resolve("mappings").toString(),
                "test.crm.url", "http://127.0.0.1:1", "test.crm.token", "t");
        for (int attempt = 1; ; attempt++) {
            try (io.ordersync.support.OrdersyncProcess p = new io.ordersync.support.OrdersyncProcess("busy-" + attempt,
                    tmp.resolve("logs"), props)) {
                int port = setting.equals("camel.server") ? p.serverPort() : p.managementPort();
                int otherPort = setting.equals("camel.server") ? p.managementPort() : p.serverPort();
                try (ServerSocket other = new ServerSocket()) {
                    other.bind(new java.net.InetSocketAddress("127.0.0.1", port));
                    p.launch();
                    assertThat(p.awaitExit(java.time.Duration.ofSeconds(60))).as("exit code").isEqualTo(2);
                }
                String log = Files.readString(p.log());
                // the port left free was taken between choosing it and the start (in a clean-clone CI run: an
                // ephemeral port of another test's connection): choose both again
                if (attempt < 3 && log.contains(" port 127.0.0.1:" + otherPort + " is not free")) {
                    continue;
                }
                assertThat(log).contains("ordersync cannot start: the ").contains(" port 127.0.0.1:" + port + " is not free")
                        .contains("set " + setting + ".port");
                assertThat(log).doesNotContain("ordersync demo is running").doesNotContain("Exception in thread");
                return;
            }
        }
    }

    /**
     * A misspelt setting (a -D option, an environment variable), a value that does not parse, and an empty database URL
     * (an unset variable in a deployment) stop the start with one line naming the key; before, the first two were left
     * at their defaults and the last started on a local H2 file (a review).
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', textBlock = """
            -Dordersync.delivery.concurency=4 | ordersync cannot start: ordersync.delivery.concurency is not an ordersync setting
            ORDERSYNC_QUEUE_LEAS=PT1M         | ordersync cannot start: ORDERSYNC_QUEUE_LEAS is not an ordersync setting (did you mean ORDERSYNC_QUEUE_LEASE?)
            -Dordersync.queue.lease=5m        | ordersync cannot start: ordersync.queue.lease must be an ISO-8601 duration such as PT30S, PT5M or P1D, not '5m'
            ORDERSYNC_DB_URL=                 | ordersync cannot start: ordersync.db.url is set, but empty
            """)
    void aWrongSettingFailsTheStartWithOneLineNamingIt(String setting, String line, @org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Fixtures.mapping(tmp.resolve("mappings"), "crm", Map.of());
        Map<String, String> props = new java.util.HashMap<>(Map.of("ordersync.mappings.dir", tmp.resolve("mappings").toString(),
                "test.crm.url", "http://127.0.0.1:1", "test.crm.token", "t"));
        Map<String, String> env = new java.util.HashMap<>();
        String key = setting.substring(0, setting.indexOf('=')).replace("-D", "");
        String value = setting.substring(setting.indexOf('=') + 1);
        if (setting.startsWith("-D")) {
            props.put(key, value);
        } else {
            env.put(key, value);
        }
        if (!key.equals("ORDERSYNC_DB_URL")) {
            props.put("ordersync.db.url", "jdbc:h2:file:" + tmp.resolve("db").toAbsolutePath());
        }
        try (io.ordersync.support.OrdersyncProcess p = new io.ordersync.support.OrdersyncProcess("wrong", tmp.resolve("logs"), props)
                .environment(env)) {
            p.launch();
            assertThat(p.awaitExit(java.time.Duration.ofSeconds(60))).as("exit code").isEqualTo(2);
            String log = Files.readString(p.log());
            assertThat(log).contains(line).doesNotContain("Exception in thread").doesNotContain("\tat ");
            assertThat(tmp.resolve("db.mv.db")).as("no database opened").doesNotExist();
            assertThat(Path.of("data")).as("no H2 file of its own").satisfiesAnyOf(d -> assertThat(d).doesNotExist(),
                    d -> assertThat(d.resolve("ordersync.mv.db")).doesNotExist());
        }
    }

    /**
     * A database that takes no writes (here an H2 file opened read-only; on PostgreSQL a standby: DatabaseReadOnlyTest)
     * stops the start with one line, exit code 1 as for a database out of reach: a supervisor starts it again until the
     * database takes writes. Before, the start failed in its first write, with that statement and a stack trace; later,
     * with the one line after Camel's ERROR, a stack trace and 59 routes stopped.
     */
    @Test
    void aDatabaseThatTakesNoWritesFailsTheStartWithOneLine(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Fixtures.mapping(tmp.resolve("mappings"), "crm", Map.of());
        String url = "jdbc:h2:file:" + tmp.resolve("db").toAbsolutePath();
        Properties migrate = new Properties();
        migrate.setProperty("ordersync.db.url", url);
        io.ordersync.db.Database.open(OrdersyncSettings.from(migrate)).close();
        Map<String, String> props = Map.of("ordersync.mappings.dir", tmp.resolve("mappings").toString(),
                "ordersync.db.url", url + ";ACCESS_MODE_DATA=r", "test.crm.url", "http://127.0.0.1:1", "test.crm.token", "t");
        try (io.ordersync.support.OrdersyncProcess p = new io.ordersync.support.OrdersyncProcess("read-only", tmp.resolve("logs"), props)) {
            p.launch();
            assertThat(p.awaitExit(java.time.Duration.ofSeconds(60))).as("exit code").isEqualTo(1);
            // refused before the context starts: not Camel's ERROR with a stack trace, then each route as stopped
            assertThat(Files.readString(p.log())).contains("ordersync cannot start: the database takes no writes (a PostgreSQL standby")
                    .doesNotContain("Exception in thread").doesNotContain("Could not withdraw")
                    .doesNotContain("Error starting CamelContext").doesNotContain("\tat io.ordersync").doesNotContain("Stopped dispatch");
        }
    }

    /** A key an earlier version had is named in a WARN, and the start goes on: an upgrade keeps its properties. */
    @Test
    void aRetiredSettingIsAWarningNotARefusal(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Fixtures.mapping(tmp.resolve("mappings"), "crm", Map.of());
        Map<String, String> props = Map.of("ordersync.mappings.dir", tmp.resolve("mappings").toString(),
                "ordersync.db.url", "jdbc:h2:file:" + tmp.resolve("db").toAbsolutePath(),
                "test.crm.url", "http://127.0.0.1:1", "test.crm.token", "t", "ordersync.db.vacuum-check-ms", "1000");
        try (io.ordersync.support.OrdersyncProcess p = new io.ordersync.support.OrdersyncProcess("retired", tmp.resolve("logs"), props)
                .environment(Map.of("ORDERSYNC_DB_VACUUM_DEAD_ROWS", "2000"))) {
            p.start();
            assertThat(Files.readString(p.log()))
                    .contains("ordersync.db.vacuum-check-ms is set, but this version has no such setting (it was retired): remove it")
                    .contains("ORDERSYNC_DB_VACUUM_DEAD_ROWS is set, but this version has no such setting (it was retired): remove it");
        }
    }

    @Test
    void unreachableDatabaseFailsTheStartWithItsErrorAndStartsNoRoute() throws Exception {
        int closedPort = Ports.free();
        Path dir = Files.createTempDirectory("ordersync-startup");
        Fixtures.mapping(dir.resolve("mappings"), "crm", Map.of());
        Properties settings = new Properties();
        settings.setProperty("ordersync.db.url", "jdbc:postgresql://127.0.0.1:" + closedPort + "/ordersync");
        settings.setProperty("ordersync.db.user", "ordersync");
        settings.setProperty("ordersync.db.connection-timeout-ms", "1000");
        settings.setProperty("ordersync.mappings.dir", dir.resolve("mappings").toString());
        try (CamelContext context = new DefaultCamelContext()) {
            Properties props = new Properties();
            props.setProperty("test.crm.url", "http://127.0.0.1:" + closedPort);
            props.setProperty("test.crm.token", "t");
            context.getPropertiesComponent().setOverrideProperties(props);
            Ordersync.install(context, OrdersyncSettings.from(settings));
            context.addRoutes(PluginHelper.getRoutesLoader(context).findRoutesBuilders(
                    ResourceHelper.resolveResource(context, "file:routes/intake.camel.yaml")).iterator().next());

            assertThatThrownBy(context::start)
                    .hasStackTraceContaining("Cannot open the database: Connection to 127.0.0.1:" + closedPort + " refused")
                    .hasStackTraceContaining("127.0.0.1:" + closedPort);
            assertThat(context.getRoutes()).allSatisfy(r ->
                    assertThat(context.getRouteController().getRouteStatus(r.getId()).isStarted()).isFalse());
        }
    }

    @Test
    void aDatabaseOpenedBeforeConfigurationIsUsedOnlyWhenItIsTheConfiguredOne() throws Exception {
        Path dir = Files.createTempDirectory("ordersync-early");
        Fixtures.mapping(dir.resolve("mappings"), "crm", Map.of());
        Properties settings = new Properties();
        settings.setProperty("ordersync.mappings.dir", dir.resolve("mappings").toString());
        settings.setProperty("ordersync.db.url", "jdbc:h2:file:" + dir.resolve("early").toAbsolutePath());
        try (CamelContext context = new DefaultCamelContext()) {
            Properties props = new Properties();
            props.setProperty("test.crm.url", "http://127.0.0.1:1");
            props.setProperty("test.crm.token", "t");
            context.getPropertiesComponent().setOverrideProperties(props);
            // what Application does in camel-main's beforeConfigure: open the database named by the properties
            context.getPropertiesComponent().setInitialProperties(settings);
            Ordersync.openDatabaseEarly(context);
            var early = context.getRegistry().lookupByNameAndType("ordersync.earlyDatabase",
                    io.ordersync.db.Database.Opening.class);

            Ordersync same = Ordersync.install(context, OrdersyncSettings.from(settings));
            assertThat(same.dataSource()).isSameAs(early.dataSource());

            Properties other = new Properties();
            other.putAll(settings);
            other.setProperty("ordersync.db.url", "jdbc:h2:file:" + dir.resolve("configured").toAbsolutePath());
            Ordersync configured = Ordersync.install(context, OrdersyncSettings.from(other));
            assertThat(configured.dataSource()).isNotSameAs(early.dataSource());
            assertThat(early.dataSource().isClosed()).isTrue();
            configured.dataSource().close();
        }
    }

    @Test
    void aPackagingWithoutTheMigrationsFailsTheStartInsteadOfRunningOnNoSchema() throws Exception {
        Path dir = Files.createTempDirectory("ordersync-nomigrations");
        Properties settings = new Properties();
        settings.setProperty("ordersync.db.url", "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath());
        ClassLoader original = Thread.currentThread().getContextClassLoader();
        // Flyway looks for classpath:db/migration through the context class loader; this one has none
        ClassLoader withoutMigrations = new ClassLoader(original) {
            @Override
            public java.net.URL getResource(String name) {
                return name.startsWith("db/migration") ? null : super.getResource(name);
            }

            @Override
            public java.util.Enumeration<java.net.URL> getResources(String name) throws java.io.IOException {
                return name.startsWith("db/migration") ? java.util.Collections.emptyEnumeration() : super.getResources(name);
            }
        };
        Thread.currentThread().setContextClassLoader(withoutMigrations);
        try {
            assertThatThrownBy(() -> io.ordersync.db.Database.open(OrdersyncSettings.from(settings)))
                    .hasStackTraceContaining("db/migration");
        } finally {
            Thread.currentThread().setContextClassLoader(original);
        }
    }
}
