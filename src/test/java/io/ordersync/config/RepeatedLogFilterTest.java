package io.ordersync.config;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/** A flood of one warning is cut to 20 lines per 10 s, with a count of what was left out; other lines pass. */
class RepeatedLogFilterTest {

    /** A logger of a context of its own, behind {@code filter}, writing to {@code out}. */
    private static Logger filtered(RepeatedLogFilter filter, String name, ListAppender<ILoggingEvent> out) {
        LoggerContext context = new LoggerContext();
        filter.setContext(context);
        filter.start();
        context.addTurboFilter(filter);
        out.setContext(context);
        out.start();
        Logger log = context.getLogger(name);
        log.addAppender(out);
        return log;
    }

    @Test
    void aFloodOfOneWarningIsCutAndCounted() {
        AtomicLong now = new AtomicLong(1_000_000);
        ListAppender<ILoggingEvent> out = new ListAppender<>();
        Logger log = filtered(new RepeatedLogFilter(now::get), "flood", out);
        for (int i = 0; i < 1000; i++) {
            log.warn("Unauthorized request from {}", "10.0.0." + (i % 7));
            log.info("an info line {}", i);
        }
        log.error("another problem");
        assertThat(out.list.stream().filter(e -> e.getMessage().startsWith("Unauthorized"))).hasSize(20);
        assertThat(out.list.stream().filter(e -> e.getLevel() == Level.INFO)).hasSize(1000);
        assertThat(out.list.stream().filter(e -> e.getMessage().equals("another problem"))).hasSize(1);
        now.addAndGet(10_001);
        out.list.clear();
        log.warn("Unauthorized request from {}", "10.0.0.1");
        assertThat(out.list).extracting(ILoggingEvent::getFormattedMessage)
                .containsExactly("980 more log lines like the next were left out in the last 10 s", "Unauthorized request from 10.0.0.1");
    }

    /**
     * Camel writes the exchange's id into the line itself (no parameters): "Failed delivery for (MessageId: …)" was a
     * new line every time, 20 a second from a timer route while the database was read-only (a review).
     */
    @Test
    void linesThatDifferOnlyInIdsAndNumbersAreOneFlood() {
        ListAppender<ILoggingEvent> out = new ListAppender<>();
        Logger log = filtered(new RepeatedLogFilter(), "camel", out);
        for (int i = 0; i < 500; i++) {
            log.error(String.format("Failed delivery for (MessageId: 4A240E9D32D06F2-%016X on ExchangeId: 4A240E9D32D06F2-%016X). "
                    + "Elapsed (ms) %d", i, i, i % 13));
        }
        log.error("Failed delivery of something else entirely");
        assertThat(out.list.stream().filter(e -> e.getMessage().startsWith("Failed delivery for"))).hasSize(20);
        assertThat(out.list.stream().filter(e -> e.getMessage().endsWith("else entirely"))).hasSize(1);
    }

    /** The key's pattern is linear: one with a required digit between two runs backtracked, 2.7 s on 30 000 letters (an attack). */
    @Test
    void aLongRunOfHexLettersIsDecidedQuickly() {
        Logger log = filtered(new RepeatedLogFilter(), "long", new ListAppender<>());
        String letters = "abcdef".repeat(5_000);
        log.warn(letters); // the JIT's first go
        long start = System.nanoTime();
        for (int i = 0; i < 5; i++) {
            log.warn(letters + i);
        }
        // the backtracking pattern took 2.7 s a line; 500 ms leaves a loaded machine room (50 ms bet on it)
        assertThat((System.nanoTime() - start) / 5 / 1_000_000).as("ms per line").isLessThan(500);
    }

    /** The windows run on a monotonic clock: the wall clock stepping back an hour muted every repeat (a review). */
    @Test
    void theDefaultClockIsMonotonic() throws Exception {
        java.lang.reflect.Field clock = RepeatedLogFilter.class.getDeclaredField("clock");
        clock.setAccessible(true);
        long a = ((java.util.function.LongSupplier) clock.get(new RepeatedLogFilter())).getAsLong();
        assertThat(Math.abs(a - System.nanoTime() / 1_000_000)).as("nanoTime's milliseconds").isLessThan(1000);
        assertThat(Math.abs(a - System.currentTimeMillis())).as("not the wall clock").isGreaterThan(1000);
    }
}
