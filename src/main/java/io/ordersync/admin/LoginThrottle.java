package io.ordersync.admin;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.HashMap;
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
    /** After the store failed: it is not used again before this (a database that is down costs no login a timeout). */
    private static final Duration STORE_BACKOFF = Duration.ofSeconds(10);
    /**
     * A client address's failures reach the store from its this-many-th failure here on (all of them then): a spray of
     * addresses that each try once or twice costs the database nothing. The admin user's failures are stored from the
     * first: they are what a guesser spread over many addresses adds up.
     */
    static final int CLIENT_STORED_FROM = 3;

    /** A key's failures in the store, and how long ago the last one was. */
    record Count(int failures, Duration ago) {
    }

    /** Where the instances count together; its keys are hashes. */
    interface Shared {
        /** Adds these failures (key → how many) to the keys' counts; the counts after it. */
        Map<String, Integer> failed(Map<String, Integer> keys);

        /** Forgets these keys' failures (a success). */
        void cleared(Set<String> keys);

        /** The keys whose failures changed since the last call (at the first, all within {@code longestLock}). */
        Map<String, Count> changed(Duration longestLock);
    }

    /** A key's failures, its lock, and how many of the failures the store has not counted yet. */
    private record State(int failures, Instant lockedUntil, int unstored) {
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(LoginThrottle.class);

    private final Map<String, State> states = new ConcurrentHashMap<>();
    private final Shared shared;
    private final AtomicLong nextRead = new AtomicLong(System.nanoTime());
    /** The store is not used before this (monotonic), after it failed. */
    private volatile long storeBackUntil = System.nanoTime();

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
            Set<String> counting = new HashSet<>();
            for (String key : keys) {
                if (key != null) {
                    counting.add(id(key));
                }
            }
            prune(now, counting);
        }
        int highest = 0;
        Map<String, Integer> toStore = new HashMap<>();
        for (String key : keys) {
            if (key == null) {
                continue;
            }
            String id = id(key);
            State s = states.merge(id, state(1, now, 1), (old, one) -> state(old.failures() + 1, now, old.unstored() + 1));
            highest = Math.max(highest, s.failures());
            if (shared != null && !key.startsWith(LOCAL) && (key.startsWith("user:") || s.failures() >= CLIENT_STORED_FROM)) {
                toStore.put(id, s.unstored());
            }
        }
        if (toStore.isEmpty() || !storeUsable()) {
            return highest;
        }
        long started = System.nanoTime();
        Map<String, Integer> counted;
        try {
            counted = shared.failed(toStore);
        } catch (RuntimeException e) {
            storeFailed("count a failed login in the database, counted here only", e);
            return highest;
        }
        // the lock runs from when the count came back: a slow database does not shorten it
        Instant after = now.plusNanos(System.nanoTime() - started);
        for (Map.Entry<String, Integer> c : counted.entrySet()) {
            int stored = toStore.getOrDefault(c.getKey(), 0);
            // the store's count includes this instance's; failures counted here meanwhile stay to be stored
            State s = states.compute(c.getKey(), (k, old) -> {
                int meanwhile = old == null ? 0 : Math.max(0, old.unstored() - stored);
                return state(c.getValue() + meanwhile, after, meanwhile);
            });
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
        if (shared != null && !known.isEmpty() && storeUsable()) {
            try {
                shared.cleared(known);
            } catch (RuntimeException e) {
                storeFailed("clear failed logins in the database", e);
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
        if (!storeUsable()) {
            return;
        }
        Map<String, Count> changed;
        try {
            changed = shared.changed(MAX_LOCK);
        } catch (RuntimeException e) {
            storeFailed("read the failed logins of the other instances", e);
            return;
        }
        // only what can lock a key soon (a spray of addresses that failed once or twice elsewhere is not kept here), and
        // no new key beyond MAX_KEYS: this instance then learns such a key's count at its own first failure of it
        if (states.size() > MAX_KEYS) {
            prune(now, Set.of());
        }
        changed.forEach((id, c) -> {
            if (c.failures() >= FREE_FAILURES - 1 && (states.size() < MAX_KEYS || states.containsKey(id))) {
                states.merge(id, state(c.failures(), now.minus(c.ago()), 0), (old, theirs) -> theirs.failures() >= old.failures()
                        ? new State(theirs.failures() + old.unstored(), theirs.lockedUntil(), old.unstored()) : old);
            }
        });
    }

    /**
     * Keeps the memory bounded under a spray of addresses: forgets the keys that are not locked, but never those being
     * counted now (else a new address's count would never pass 1 while the spray lasts); if that is not enough (a spray
     * of locked addresses), the locks that end soonest go too, down to nine tenths of the bound.
     */
    private void prune(Instant now, Set<String> counting) {
        states.entrySet().removeIf(e -> !counting.contains(e.getKey())
                && (e.getValue().lockedUntil() == null || !e.getValue().lockedUntil().isAfter(now)));
        int over = states.size() - MAX_KEYS * 9 / 10;
        if (states.size() > MAX_KEYS && over > 0) {
            states.entrySet().stream().filter(e -> !counting.contains(e.getKey()))
                    .sorted(java.util.Comparator.comparing((Map.Entry<String, State> e) -> e.getValue().lockedUntil()))
                    .limit(over).map(Map.Entry::getKey).toList().forEach(states::remove);
        }
    }

    private boolean storeUsable() {
        return System.nanoTime() - storeBackUntil >= 0;
    }

    private void storeFailed(String what, RuntimeException e) {
        storeBackUntil = System.nanoTime() + STORE_BACKOFF.toNanos();
        LOG.debug("Could not {} (the database is not used for it for {}): {}", what, STORE_BACKOFF, e.getMessage());
    }

    /** The state after {@code failures}, the last of them at {@code at}, {@code unstored} of them not in the store. */
    private static State state(int failures, Instant at, int unstored) {
        if (failures < FREE_FAILURES) {
            return new State(failures, null, unstored);
        }
        long seconds = 1L << Math.min(20, failures - FREE_FAILURES);
        return new State(failures, at.plus(Duration.ofSeconds(Math.min(seconds, MAX_LOCK.toSeconds()))), unstored);
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

    /** How many keys this process holds (for tests). */
    int keys() {
        return states.size();
    }
}
