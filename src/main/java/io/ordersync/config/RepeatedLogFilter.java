package io.ordersync.config;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import org.slf4j.Marker;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Rate-limits repeated log lines: at most {@link #PER_WINDOW} lines of one logger and message pattern at
 * WARN or above per {@link #WINDOW_MILLIS} (a flood of identical errors cannot fill the disk); the first line
 * of the next window says how many were left out. Other patterns and levels pass untouched.
 */
public final class RepeatedLogFilter extends TurboFilter {

    static final int PER_WINDOW = 20;
    static final long WINDOW_MILLIS = 10_000;
    /** Patterns remembered at most; beyond that the oldest are forgotten (a new window starts for them). */
    static final int MAX_PATTERNS = 10_000;

    private record Window(long start, AtomicLong count) {
    }

    private final Map<String, Window> windows = new ConcurrentHashMap<>();
    private final LongSupplier clock;

    public RepeatedLogFilter() {
        // monotonic: after the wall clock stepped back, every repeated line was dropped until it caught up (a review)
        this(() -> System.nanoTime() / 1_000_000);
    }

    /**
     * A run of digits and hex letters (replaced when it holds a digit). Possessive, so linear: a pattern with a required
     * digit in the middle backtracked over long runs of letters, 2.7 s for 30 000 of them (an attack).
     */
    private static final java.util.regex.Pattern NUMBERS = java.util.regex.Pattern.compile("[0-9A-Fa-f]++");

    RepeatedLogFilter(LongSupplier clock) {
        this.clock = clock;
    }

    @Override
    public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params, Throwable t) {
        if (level == null || !level.isGreaterOrEqual(Level.WARN) || format == null || marker == SUMMARY) {
            return FilterReply.NEUTRAL;
        }
        // numbers and hex ids (an exchange's id, a connection's hash, a time) do not make a line new: Camel's
        // "Failed delivery for (MessageId: …)" passed every time (a review)
        String key = logger.getName() + '\u0000' + NUMBERS.matcher(format).replaceAll(
                m -> m.group().chars().anyMatch(Character::isDigit) ? "#" : m.group());
        long now = clock.getAsLong();
        if (windows.size() > MAX_PATTERNS) {
            windows.clear();
        }
        Window w = windows.compute(key, (k, old) -> old == null || now - old.start() >= WINDOW_MILLIS
                ? new Window(now, new AtomicLong(old == null ? 0 : -Math.max(0, old.count().get() - PER_WINDOW))) : old);
        long n = w.count().incrementAndGet();
        if (n <= 0) {
            // the first line of a new window after a flood: say how many of the last window were left out
            long left = -n + 1;
            w.count().set(1);
            logger.warn(SUMMARY, "{} more log lines like the next were left out in the last {} s", left, WINDOW_MILLIS / 1000);
            return FilterReply.NEUTRAL;
        }
        return n <= PER_WINDOW ? FilterReply.NEUTRAL : FilterReply.DENY;
    }

    private static final Marker SUMMARY = org.slf4j.MarkerFactory.getMarker("ordersync-repeated-log-summary");
}
