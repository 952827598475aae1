package io.ordersync.config;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ConfiguratorRank;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * ordersync's default logging, set up in code: one line per event on standard output, INFO, with Hikari's
 * and Flyway's chatter at WARN. Parsing an XML file for this cost a tenth of the start-up. A
 * {@code logback.xml} (or {@code logback-test.xml}) on the class path, or {@code -Dlogback.configurationFile},
 * takes over as usual.
 */
@ConfiguratorRank(ConfiguratorRank.CUSTOM_NORMAL_PRIORITY)
public final class LoggingDefaults extends ContextAwareBase implements Configurator {

    // the date and the offset: lines of different days, or around a change of daylight saving time, looked the same (a review)
    static final String PATTERN = "%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} %-5level [%thread] %logger{36} - %msg%n";

    @Override
    public ExecutionStatus configure(LoggerContext context) {
        ClassLoader cl = LoggingDefaults.class.getClassLoader();
        if (System.getProperty("logback.configurationFile") != null
                || cl.getResource("logback-test.xml") != null || cl.getResource("logback.xml") != null) {
            return ExecutionStatus.INVOKE_NEXT_IF_ANY;
        }
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern(PATTERN);
        encoder.start();
        ConsoleAppender<ILoggingEvent> console = new ConsoleAppender<>();
        console.setContext(context);
        console.setName("STDOUT");
        console.setEncoder(encoder);
        console.start();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.INFO);
        root.addAppender(console);
        context.getLogger("com.zaxxer.hikari").setLevel(Level.WARN);
        context.getLogger("org.flywaydb").setLevel(Level.WARN);
        // a flood of one identical warning or error (a request storm, a target down) is cut to 20 lines per 10 s
        RepeatedLogFilter repeated = new RepeatedLogFilter();
        repeated.setContext(context);
        repeated.start();
        context.addTurboFilter(repeated);
        return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }
}
