package io.ordersync;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.ordersync.config.Ordersync;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.support.Fixtures;
import org.apache.camel.CamelContext;
import org.apache.camel.health.HealthCheck;
import org.apache.camel.health.HealthCheckRegistry;
import org.apache.camel.health.HealthCheckResultBuilder;
import org.apache.camel.impl.DefaultCamelContext;
import org.apache.camel.impl.health.AbstractHealthCheck;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What README ("Embedding") says a platform is told when its set-up and ordersync's meet: each case in a plain
 * CamelContext, as a platform builds it, with ordersync installed on an H2 file of its own.
 */
class EmbeddingWarningsTest {

    private final ListAppender<ILoggingEvent> log = new ListAppender<>();
    private final Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    private Properties settings;
    /** The platform's own properties. */
    private Properties platform;
    private CamelContext context;

    @BeforeEach
    void setUp() throws Exception {
        Path dir = Files.createTempDirectory("ordersync-embed-warn");
        Fixtures.mapping(dir.resolve("mappings"), "crm", Map.of());
        settings = new Properties();
        settings.setProperty("ordersync.mappings.dir", dir.resolve("mappings").toString());
        settings.setProperty("ordersync.db.url", "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath());
        context = new DefaultCamelContext();
        platform = new Properties();
        platform.setProperty("test.crm.url", "http://127.0.0.1:1");
        platform.setProperty("test.crm.token", "t");
        context.getPropertiesComponent().setOverrideProperties(platform);
        log.start();
        root.addAppender(log);
    }

    @AfterEach
    void tearDown() throws Exception {
        root.detachAppender(log);
        context.close();
    }

    private java.util.List<String> warnings() {
        return log.list.stream().filter(e -> e.getLevel() == Level.WARN).map(ILoggingEvent::getFormattedMessage).toList();
    }

    @Test
    void aPlatformWithoutAVertxServerIsToldThatTheHardeningIsItsOwn() throws Exception {
        Ordersync.install(context, OrdersyncSettings.from(settings));
        context.start();
        assertThat(warnings()).anyMatch(m -> m.startsWith("No Vert.x platform-http server found"));
    }

    @Test
    void aMisspeltOrdersyncKeyInThePlatformsPropertiesStopsInstall() {
        platform.setProperty("ordersync.dispatch.batch-sise", "4");
        context.getPropertiesComponent().setOverrideProperties(platform);
        assertThatThrownBy(() -> Ordersync.install(context, OrdersyncSettings.from(settings)))
                .isInstanceOf(OrdersyncSettings.Invalid.class)
                .hasMessageContaining("ordersync.dispatch.batch-sise")
                .hasMessageContaining("ordersync.dispatch.batch-size");
        assertThat(context.getRegistry().lookupByName("ordersync.dataSource")).as("no database opened").isNull();
    }

    @Test
    void aPlatformsOwnDatabaseHealthCheckStaysAndOrdersyncSaysItsIsNotRegistered() throws Exception {
        HealthCheck platformCheck = new AbstractHealthCheck("database") {
            @Override
            protected void doCall(HealthCheckResultBuilder builder, Map<String, Object> options) {
                builder.up();
            }
        };
        HealthCheckRegistry health = HealthCheckRegistry.get(context);
        assertThat(health).as("camel-health's registry").isNotNull();
        assertThat(health.register(platformCheck)).isTrue();
        Ordersync.install(context, OrdersyncSettings.from(settings));
        assertThat(health.getCheck("database")).hasValue(platformCheck);
        assertThat(warnings()).anyMatch(m -> m.startsWith("A health check with the id 'database' is registered already"));
    }

    @Test
    void aSecondRequestValidatorIsNamedInAWarning() throws Exception {
        context.getRegistry().bind("platformValidator", new org.apache.camel.support.processor.DefaultRestClientRequestValidator());
        Ordersync.install(context, OrdersyncSettings.from(settings));
        context.start();
        assertThat(warnings()).anyMatch(m -> m.startsWith("A second RestClientRequestValidator is bound beside ordersync's"));
    }
}
