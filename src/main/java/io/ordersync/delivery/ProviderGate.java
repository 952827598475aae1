package io.ordersync.delivery;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Per-provider pause set by Retry-After: no request goes to that provider before the time it named.
 * <p>
 * With a {@link Store} (the database's {@code provider_pause}) a pause holds on every instance: the one whose target
 * answered with Retry-After writes it, and all of them read the pauses in {@link #refresh}, every second, from the
 * dispatcher's thread; a manual retry lifts a pause everywhere, also one that another instance got before the retry
 * and had not written yet (a pause counts only if its answer came after the last lift). Until a write has gone
 * through the pause holds here from this process's memory, so a database that fails does not lift it, and
 * {@link #flush} writes what is left at a stop. Times are the delivery clock's (the database's), so instances whose
 * clocks differ agree on them.
 */
public final class ProviderGate {

    /** A pause: its end, when the answer that asked for it came, and the instance whose target answered. */
    public record Pause(Instant until, Instant at, String instanceId) {
    }

    /** Where the instances share their pauses. */
    public interface Store {
        /** Writes a pause; one that ends later stays, and one whose answer came before the last lift is dropped. */
        void pause(String provider, Pause pause);

        /** Lifts the provider's pause: pauses whose answers came before {@code at} no longer count. */
        void lift(String provider, Instant at);

        /** The pauses that count (not lifted), ended ones too. */
        Map<String, Pause> read();
    }

    private static final Logger LOG = LoggerFactory.getLogger(ProviderGate.class);
    /** A write the database refuses this many times in a row while its reads work is given up (logged). */
    private static final int WRITE_ATTEMPTS = 60;

    private final Store store;
    private final Duration longest;
    private final Clock clock;
    /** Pauses set here and not yet written to the store (all of them without a store). */
    private final Map<String, Pause> pending = new ConcurrentHashMap<>();
    /** Pauses lifted here and not yet written to the store: the time of the lift. */
    private final Map<String, Instant> lifts = new ConcurrentHashMap<>();
    /** The store's pauses as the last {@link #refresh} read them (replaced whole), capped. */
    private volatile Map<String, Instant> shared = Map.of();
    /** When this process first saw each pause of the store: a pause is capped at that plus {@code longest}. */
    private final Map<Pause, Instant> firstSeen = new HashMap<>();
    /** Failed writes in a row, by provider. */
    private final Map<String, Integer> failedWrites = new HashMap<>();
    /** Held while writing (the dispatcher's refresh, or a stop's flush); never while a request waits. */
    private final Object writing = new Object();

    /** A gate of this process only (a preview, tests). */
    public ProviderGate() {
        this(null, Duration.ZERO, Clock.systemUTC());
    }

    /**
     * A gate shared through {@code store}; {@code longest} caps a pause read from it (the longest Retry-After
     * honoured, {@code ordersync.delivery.max-retry-after}); {@code clock} dates a manual lift (the delivery clock).
     */
    public ProviderGate(Store store, Duration longest, Clock clock) {
        this.store = store;
        this.longest = longest;
        this.clock = clock;
    }

    /** The provider pauses until {@code until}: the target answered so at {@code at}. */
    public void pause(String provider, Instant until, Instant at) {
        pending.merge(provider, new Pause(until, at, null), (a, b) -> new Pause(later(a.until(), b.until()), later(a.at(), b.at()), null));
    }

    /** Lifts the provider's pause (an operator asked for a retry now); whether there was one here. */
    public synchronized boolean resume(String provider) {
        boolean had = pending.remove(provider) != null;
        if (store != null) {
            Map<String, Instant> rest = new HashMap<>(shared);
            had |= rest.remove(provider) != null;
            shared = Map.copyOf(rest);
            // written by the next refresh, before it reads: a pause of another instance is lifted too
            lifts.put(provider, clock.instant());
        }
        return had;
    }

    /** The end of the provider's pause, or null when it is not paused. */
    public Instant pausedUntil(String provider, Instant now) {
        Pause mine = pending.get(provider);
        Instant theirs = shared.get(provider);
        Instant until = mine == null ? theirs : theirs == null ? mine.until() : later(mine.until(), theirs);
        if (until == null || !until.isAfter(now)) {
            if (mine != null && !mine.until().isAfter(now) && store == null) {
                pending.remove(provider, mine);
            }
            return null;
        }
        return until;
    }

    /**
     * Writes this process's new pauses and lifts to the store, then reads everyone's; called every second by the
     * dispatcher's thread only (a manual retry's {@link #resume} does not wait for its database work). What cannot be
     * written is tried again at the next call (this process keeps honouring its own pauses meanwhile); the read
     * happens either way.
     */
    public void refresh(Instant now) {
        if (store == null) {
            return;
        }
        Map<String, Instant> written = write();
        Map<String, Pause> read = store.read();
        Map<String, Instant> next = new HashMap<>();
        firstSeen.keySet().retainAll(read.values());
        read.forEach((provider, p) -> {
            // capped at the longest pause from its answer, and from when this process first saw it: a row far in the
            // future (or with a far answer time) ends at the latest that long after it appeared
            Instant seen = firstSeen.computeIfAbsent(p, k -> now);
            Instant until = earliest(p.until(), p.at().plus(longest), seen.plus(longest));
            if (!until.isAfter(now)) {
                return;
            }
            next.put(provider, until);
            if (seen.equals(now) && !written.containsKey(provider)) {
                LOG.info("Provider {} paused until {}: the target answered instance {} with Retry-After", provider, until,
                        p.instanceId());
            }
        });
        synchronized (this) {
            // a lift not yet written (a manual retry while this read ran) is not undone by what the read found
            next.keySet().removeAll(lifts.keySet());
            shared = Map.copyOf(next);
        }
    }

    /** Writes what is left at a stop (a Retry-After the last syncs got, a lift of the last second). */
    public void flush() {
        if (store != null && (!pending.isEmpty() || !lifts.isEmpty())) {
            write();
        }
    }

    /** Writes the pending lifts and pauses, each on its own; the pauses written (provider → end). */
    private Map<String, Instant> write() {
        synchronized (writing) {
            Map<String, Instant> written = new HashMap<>();
            for (Map.Entry<String, Instant> lift : Map.copyOf(lifts).entrySet()) {
                if (attempt(lift.getKey(), "lift", () -> store.lift(lift.getKey(), lift.getValue()))) {
                    lifts.remove(lift.getKey(), lift.getValue());
                }
            }
            Instant now = clock.instant();
            for (Map.Entry<String, Pause> p : Map.copyOf(pending).entrySet()) {
                if (!p.getValue().until().isAfter(now)) {
                    pending.remove(p.getKey(), p.getValue()); // over: nothing to tell the others
                    continue;
                }
                if (attempt(p.getKey(), "pause", () -> store.pause(p.getKey(), p.getValue()))) {
                    synchronized (this) {
                        // the store holds it now, and so does shared (before it leaves pending, so no request slips
                        // through in between) until the next read replaces it. A pause set again meanwhile stays pending
                        if (!lifts.containsKey(p.getKey())) {
                            Map<String, Instant> merged = new HashMap<>(shared);
                            merged.merge(p.getKey(), p.getValue().until(), ProviderGate::later);
                            shared = Map.copyOf(merged);
                        }
                        pending.remove(p.getKey(), p.getValue());
                    }
                    written.put(p.getKey(), p.getValue().until());
                }
            }
            return written;
        }
    }

    /** Runs one write; false when it failed (tried again later, given up after {@link #WRITE_ATTEMPTS}). */
    private boolean attempt(String provider, String what, Runnable write) {
        try {
            write.run();
            failedWrites.remove(provider);
            return true;
        } catch (RuntimeException e) {
            int n = failedWrites.merge(provider, 1, Integer::sum);
            if (n < WRITE_ATTEMPTS) {
                LOG.debug("Could not write the {} of provider {} for the other instances: {}", what, provider, e.getMessage());
                return false;
            }
            failedWrites.remove(provider);
            LOG.warn("Gave up writing the {} of provider {} for the other instances after {} tries: {}", what, provider,
                    WRITE_ATTEMPTS, e.getMessage());
            if (what.equals("lift")) {
                lifts.remove(provider);
            }
            return false;
        }
    }

    private static Instant later(Instant a, Instant b) {
        return a.isAfter(b) ? a : b;
    }

    private static Instant earliest(Instant a, Instant b, Instant c) {
        Instant ab = a.isBefore(b) ? a : b;
        return ab.isBefore(c) ? ab : c;
    }
}
