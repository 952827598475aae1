package io.ordersync.admin;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Brute-force protection: failed logins are counted per client address and per user name; after
 * {@value #FREE_FAILURES} failures a key is locked for a second, then twice as long after every further
 * failure, up to {@link #MAX_LOCK}. A locked key gets 429 without its credentials being checked. A
 * success clears the user's and the client's count.
 */
final class LoginThrottle {

    static final int FREE_FAILURES = 5;
    static final Duration MAX_LOCK = Duration.ofMinutes(15);
    /** Keys kept at most; beyond that, keys whose lock has passed are forgotten (a spray of addresses cannot fill the heap). */
    static final int MAX_KEYS = 100_000;

    private record State(int failures, Instant lockedUntil) {
    }

    private final Map<String, State> states = new ConcurrentHashMap<>();

    /** How long the longest lock of these keys still lasts, or null when none is locked. */
    Duration locked(Instant now, String... keys) {
        Duration longest = null;
        for (String key : keys) {
            State s = key == null ? null : states.get(key);
            if (s != null && s.lockedUntil() != null && s.lockedUntil().isAfter(now)) {
                Duration d = Duration.between(now, s.lockedUntil());
                longest = longest == null || d.compareTo(longest) > 0 ? d : longest;
            }
        }
        return longest;
    }

    /** Counts a failure for each key; returns the highest failure count among them. */
    int failed(Instant now, String... keys) {
        if (states.size() > MAX_KEYS) {
            states.values().removeIf(s -> s.lockedUntil() == null || !s.lockedUntil().isAfter(now));
        }
        int highest = 0;
        for (String key : keys) {
            if (key == null) {
                continue;
            }
            State s = states.merge(key, new State(1, null), (old, one) -> {
                int n = old.failures() + 1;
                Instant until = null;
                if (n >= FREE_FAILURES) {
                    long seconds = 1L << Math.min(20, n - FREE_FAILURES);
                    until = now.plus(Duration.ofSeconds(Math.min(seconds, MAX_LOCK.toSeconds())));
                }
                return new State(n, until);
            });
            highest = Math.max(highest, s.failures());
        }
        return highest;
    }

    void succeeded(String... keys) {
        for (String key : keys) {
            if (key != null) {
                states.remove(key);
            }
        }
    }
}
