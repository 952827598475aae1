package io.ordersync.support;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;

import java.util.List;

/** Every log event of this JVM while it is open (the root logger's), for tests that check what reaches the log. */
public final class LogCapture implements AutoCloseable {

    private final Logger root = (Logger) org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    private LogCapture() {
        appender.start();
        root.addAppender(appender);
    }

    /** Starts capturing; close it to stop. */
    public static LogCapture root() {
        return new LogCapture();
    }

    /** The events so far (the list goes on growing while open). */
    public List<ILoggingEvent> events() {
        return appender.list;
    }

    @Override
    public void close() {
        root.detachAppender(appender);
    }
}
