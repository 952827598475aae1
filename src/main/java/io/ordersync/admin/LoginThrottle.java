package io.ordersync.admin;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Brute-force protection: failed logins are counted per client address and per user name; after
 * {@value #FREE_FAILURES} failures a key is locked for a second, then twice as long after every further
 * failure, up to {@link #MAX_LOCK}. A locked key gets 429 without its credentials being checked. A
 * success clears the user's and the client's count.
 * <p>
 * With a {@link Shared} store (the database) the instances count together: a failure is counted in the store and
 * the key's lock follows the count of all instances, and the locks the others counted are read at most once a second,
 * at a login attempt. Keys starting with {@code local:} are counted here only. Without the store, or while it fails,
 * each instance counts for itself.
 */
final class LoginThrottle {

    static final int FREE_FAILURES = 5;
    static final Duration MAX_LOCK = Duration.ofMinutes(15);
    /** Keys kept at most; beyond that, keys whose lock has passed are forgotten (a spray of addresses cannot fill the heap). */
    static final int MAX_KEYS = 100_000;
    /** A key counted in this process only. */
    static final String LOCAL = "local:";
    private static final Duration READ_PERIOD = Duration.ofSeconds(1);
    /** After a failed read of the store: the next one not before this. */
    private static final Duration READ_BACKOFF = Duration.ofSeconds(10);

    /** A key's failures in the store, and how long ago the last one was. */
    record Count(int failures, Duration ago) {
    }

    /** Where the instances count together; its keys are hashes. */
    interface Shared {
        /** Counts one failure for each key; the counts after it. */
        Map<String, Integer> failed(Set<String> keys);

        /** Forgets these keys' failures (a success). */
        void cleared(Set<String> keys);

        /** The keys whose failures changed since the last call (at the first, all within {@code longestLock}). */
        Map<String, Count> changed(Duration longestLock);
    }

    private record State(int failures, Instant lockedUntil) {
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(LoginThrottle.class);

    private final Map<String, State> states = new ConcurrentHashMap<>();
    private final Shared shared;
    private final AtomicLong nextRead = new AtomicLong(System.nanoTime());

    LoginThrottle() {
        this(null);
    }

    LoginThrottle(Shared shared) {
        this.shared = shared;
    }

    /** How long the longest lock of these keys still lasts, or null when none is locked. */
    Duration locked(Instant now, String... keys) {
        readOthers(now);
        if (states.isEmpty()) {
            return null; // nothing failed: no key to hash
        }
        Duration longest = null;
        for (String key : keys) {
            State s = key == null ? null : states.get(id(key));
            if (s != null && s.lockedUntil() != null && s.lockedUntil().isAfter(now)) {
                Duration d = Duration.between(now, s.lockedUntil());
                longest = longest == null || d.compareTo(longest) > 0 ? d : longest;
            }
        }
        return longest;
    }

    /** Counts a failure for each key; returns the highest failure count among them (all instances' with a store). */
    int failed(Instant now, String... keys) {
        if (states.size() > MAX_KEYS) {
            states.values().removeIf(s -> s.lockedUntil() == null || !s.lockedUntil().isAfter(now));
        }
        Map<String, Integer> counted = Map.of();
        Set<String> sharedIds = sharedIds(keys);
        if (shared != null && !sharedIds.isEmpty()) {
            try {
                counted = shared.failed(sharedIds);
            } catch (RuntimeException e) {
                LOG.debug("Could not count a failed login in the database, counted here only: {}", e.getMessage());
            }
        }
        int highest = 0;
        for (String key : keys) {
            if (key == null) {
                continue;
            }
            String id = id(key);
            Integer all = counted.get(id);
            State s = all != null ? states.compute(id, (k, old) -> state(all, now))
                    : states.merge(id, state(1, now), (old, one) -> state(old.failures() + 1, now));
            highest = Math.max(highest, s.failures());
        }
        return highest;
    }

    void succeeded(String... keys) {
        Set<String> known = new HashSet<>();
        for (String key : keys) {
            if (key != null && states.remove(id(key)) != null && !key.startsWith(LOCAL)) {
                known.add(id(key));
            }
        }
        // only keys with failures known here: a success is no write for the many requests that never failed
        if (shared != null && !known.isEmpty()) {
            try {
                shared.cleared(known);
            } catch (RuntimeException e) {
                LOG.debug("Could not clear failed logins in the database: {}", e.getMessage());
            }
        }
    }

    /** The failures other instances counted: read at most once a second, and only when someone tries to log in. */
    private void readOthers(Instant now) {
        long mono = System.nanoTime();
        long due = nextRead.get();
        if (shared == null || mono - due < 0 || !nextRead.compareAndSet(due, mono + READ_PERIOD.toNanos())) {
            return;
        }
        Map<String, Count> changed;
        try {
            changed = shared.changed(MAX_LOCK);
        } catch (RuntimeException e) {
            nextRead.set(mono + READ_BACKOFF.toNanos());
            LOG.debug("Could not read the failed logins of the other instances: {}", e.getMessage());
            return;
        }
        changed.forEach((id, c) -> states.merge(id, state(c.failures(), now.minus(c.ago())),
                (old, theirs) -> theirs.failures() >= old.failures() ? theirs : old));
    }

    /** The state after {@code failures}, the last of them at {@code at}. */
    private static State state(int failures, Instant at) {
        if (failures < FREE_FAILURES) {
            return new State(failures, null);
        }
        long seconds = 1L << Math.min(20, failures - FREE_FAILURES);
        return new State(failures, at.plus(Duration.ofSeconds(Math.min(seconds, MAX_LOCK.toSeconds()))));
    }

    private Set<String> sharedIds(String... keys) {
        Set<String> out = new HashSet<>();
        for (String key : keys) {
            if (key != null && !key.startsWith(LOCAL)) {
                out.add(id(key));
            }
        }
        return out;
    }

    /** The key as it is stored: a local key as it is, a shared one as the SHA-256 of it (no address in the database). */
    private String id(String key) {
        if (shared == null || key.startsWith(LOCAL)) {
            return key;
        }
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
