package io.ordersync.delivery;

import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;

/** Reads a target's Retry-After header. */
public final class RetryAfter {

    private RetryAfter() {
    }

    /**
     * Parses Retry-After, as delay-seconds or an HTTP date (RFC 1123, also RFC 850 and asctime as RFC 9110
     * asks recipients to accept), into an instant between {@code now} and {@code now + max}: a longer wait is
     * cut to {@code max}, a date in the past or a negative number means now. Null when absent or unreadable.
     */
    public static Instant at(String retryAfter, Instant now, Duration max) {
        if (retryAfter == null || retryAfter.isBlank()) {
            return null;
        }
        String v = retryAfter.trim();
        Instant latest = now.plus(max);
        if (v.matches("[+-]?\\d{1,30}")) {
            if (v.startsWith("-")) {
                return now;
            }
            String digits = v.startsWith("+") ? v.substring(1) : v;
            // more digits than a long holds is longer than any cap
            long seconds = digits.length() > 18 ? Long.MAX_VALUE : Long.parseLong(digits);
            return seconds >= max.toSeconds() ? latest : now.plusSeconds(seconds);
        }
        for (DateTimeFormatter f : HTTP_DATES) {
            try {
                Instant at = ZonedDateTime.parse(v, f).toInstant();
                return at.isBefore(now) ? now : at.isAfter(latest) ? latest : at;
            } catch (RuntimeException notThisForm) {
                // try the next form
            }
        }
        return null;
    }

    private static final DateTimeFormatter[] HTTP_DATES = {
            DateTimeFormatter.RFC_1123_DATE_TIME,
            DateTimeFormatter.ofPattern("EEEE, dd-MMM-yy HH:mm:ss zzz", java.util.Locale.ENGLISH),
            DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", java.util.Locale.ENGLISH).withZone(java.time.ZoneOffset.UTC)};

}
