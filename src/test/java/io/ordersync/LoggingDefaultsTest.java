package io.ordersync;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.Configurator;
import io.ordersync.config.LoggingDefaults;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import static org.assertj.core.api.Assertions.assertThat;

/** The logging set up in code instead of an XML file, and that a configuration file still takes over. */
class LoggingDefaultsTest {

    @Test
    void defaultsAreInfoOnStandardOutputWithPoolAndMigrationChatterAtWarn() {
        // this JVM was configured by LoggingDefaults itself: there is no logback(-test).xml on the class path
        LoggerContext running = (LoggerContext) LoggerFactory.getILoggerFactory();
        Logger root = running.getLogger(Logger.ROOT_LOGGER_NAME);
        assertThat(root.getLevel()).isEqualTo(Level.INFO);
        assertThat(root.getAppender("STDOUT")).isNotNull();
        assertThat(running.getLogger("com.zaxxer.hikari").getEffectiveLevel()).isEqualTo(Level.WARN);
        assertThat(running.getLogger("org.flywaydb.core").getEffectiveLevel()).isEqualTo(Level.WARN);
        assertThat(running.getLogger("io.ordersync.queue").getEffectiveLevel()).isEqualTo(Level.INFO);
    }

    @Test
    void aConfigurationFileGivenOnTheCommandLineReplacesTheDefaults() {
        LoggerContext fresh = new LoggerContext();
        LoggingDefaults defaults = new LoggingDefaults();
        defaults.setContext(fresh);
        System.setProperty("logback.configurationFile", "/etc/ordersync/logback.xml");
        try {
            assertThat(defaults.configure(fresh)).isEqualTo(Configurator.ExecutionStatus.INVOKE_NEXT_IF_ANY);
            assertThat(fresh.getLogger(Logger.ROOT_LOGGER_NAME).getAppender("STDOUT")).isNull();
        } finally {
            System.clearProperty("logback.configurationFile");
        }
        assertThat(defaults.configure(fresh)).isEqualTo(Configurator.ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY);
        assertThat(fresh.getLogger(Logger.ROOT_LOGGER_NAME).getAppender("STDOUT")).isNotNull();
    }

    /** Each line says its day and offset: a time alone looked the same on two days and around a DST change (a review). */
    @Test
    void aLineStartsWithItsDateTimeAndOffset() {
        LoggerContext fresh = configuredByTheDefaults();
        Logger root = fresh.getLogger(Logger.ROOT_LOGGER_NAME);
        var appender = (ch.qos.logback.core.OutputStreamAppender<ch.qos.logback.classic.spi.ILoggingEvent>) root.getAppender("STDOUT");
        var encoder = (ch.qos.logback.classic.encoder.PatternLayoutEncoder) appender.getEncoder();
        var event = new ch.qos.logback.classic.spi.LoggingEvent("x", root, Level.INFO, "hello", null, null);
        assertThat(encoder.getLayout().doLayout(event))
                .matches("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}(Z|[+-]\\d{2}:\\d{2}) INFO  \\[.*] ROOT - hello\\R");
    }

    /** README "Logging": a WARN repeated more than 20 times in 10 s is left out; other levels pass. */
    @Test
    void theDefaultsCutAFloodOfOneWarning() {
        LoggerContext fresh = configuredByTheDefaults();
        var lines = new ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent>();
        lines.start();
        fresh.getLogger(Logger.ROOT_LOGGER_NAME).addAppender(lines);
        org.slf4j.Logger flooding = fresh.getLogger("io.ordersync.test.Flood");
        for (int i = 0; i < 30; i++) {
            flooding.warn("The target answered {}", 500 + i);
        }
        flooding.info("not a warning: never cut");
        assertThat(lines.list).hasSize(21);
        assertThat(lines.list.get(20).getFormattedMessage()).isEqualTo("not a warning: never cut");
    }

    private static LoggerContext configuredByTheDefaults() {
        LoggerContext fresh = new LoggerContext();
        LoggingDefaults defaults = new LoggingDefaults();
        defaults.setContext(fresh);
        defaults.configure(fresh);
        return fresh;
    }
}
