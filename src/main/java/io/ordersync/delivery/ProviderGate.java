package io.ordersync.delivery;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Per-provider pause set by Retry-After: no request goes to that provider before the time it named.
 * <p>
 * With a {@link Store} (the database's {@code provider_pause}) a pause holds on every instance: the one whose target
 * answered with Retry-After writes it, and all of them read the pauses in {@link #refresh}, every second, from the
 * dispatcher's thread; a manual retry lifts a pause everywhere. Until a write has gone through the pause holds here
 * from this process's memory, so a database that fails does not lift it. Times are the delivery clock's (the
 * database's), so instances whose clocks differ agree on the end.
 */
public final class ProviderGate {

    /** A pause as the store holds it: its end, and the instance whose target asked for it. */
    public record Pause(Instant until, String instanceId) {
    }

    /** Where the instances share their pauses. */
    public interface Store {
        /** Writes these pauses (a later end already there stays) and deletes the lifted ones. */
        void write(Map<String, Instant> pauses, Set<String> lifts);

        /** Every pause written, ended ones too. */
        Map<String, Pause> read();
    }

    private static final Logger LOG = LoggerFactory.getLogger(ProviderGate.class);

    private final Store store;
    private final Duration longest;
    /** Pauses set here and not yet written to the store (all of them without a store). */
    private final Map<String, Instant> pending = new ConcurrentHashMap<>();
    /** Pauses lifted here and not yet deleted from the store. */
    private final Set<String> lifts = ConcurrentHashMap.newKeySet();
    /** The store's pauses as the last {@link #refresh} read them (replaced whole). */
    private volatile Map<String, Instant> shared = Map.of();
    /** Pauses of other instances already logged (provider and end). */
    private final Map<String, Instant> told = new HashMap<>();

    /** A gate of this process only (a preview, tests). */
    public ProviderGate() {
        this(null, Duration.ZERO);
    }

    /**
     * A gate shared through {@code store}; {@code longest} caps a pause read from it (the longest Retry-After
     * honoured, {@code ordersync.delivery.max-retry-after}).
     */
    public ProviderGate(Store store, Duration longest) {
        this.store = store;
        this.longest = longest;
    }

    public void pause(String provider, Instant until) {
        pending.merge(provider, until, (a, b) -> a.isAfter(b) ? a : b);
    }

    /** Lifts the provider's pause (an operator asked for a retry now); whether there was one here. */
    public synchronized boolean resume(String provider) {
        boolean had = pending.remove(provider) != null;
        if (store != null) {
            Map<String, Instant> rest = new HashMap<>(shared);
            had |= rest.remove(provider) != null;
            shared = Map.copyOf(rest);
            // written by the next refresh, before it reads: a pause of another instance is lifted too
            lifts.add(provider);
        }
        return had;
    }

    /** The end of the provider's pause, or null when it is not paused. */
    public Instant pausedUntil(String provider, Instant now) {
        Instant mine = pending.get(provider);
        Instant theirs = shared.get(provider);
        Instant until = mine == null ? theirs : theirs == null || mine.isAfter(theirs) ? mine : theirs;
        if (until == null || !until.isAfter(now)) {
            if (mine != null && !mine.isAfter(now) && store == null) {
                pending.remove(provider, mine);
            }
            return null;
        }
        return until;
    }

    /**
     * Writes this process's new pauses and lifts to the store, then reads everyone's; called every second by the
     * dispatcher's thread only (a manual retry's {@link #resume} does not wait for its database work). A failure
     * leaves them to the next call (this process keeps honouring its own pauses meanwhile).
     */
    public void refresh(Instant now) {
        if (store == null) {
            return;
        }
        Map<String, Instant> write = Map.copyOf(pending);
        Set<String> lifted = Set.copyOf(lifts);
        if (!write.isEmpty() || !lifted.isEmpty()) {
            store.write(write, lifted);
            // written: the store holds them now, and so does shared (before they leave pending, so no request slips
            // through in between) until the read below replaces it, also if that read fails. A pause set again
            // meanwhile stays pending
            lifts.removeAll(lifted);
            synchronized (this) {
                Map<String, Instant> merged = new HashMap<>(shared);
                write.forEach((provider, until) -> {
                    merged.merge(provider, until, (a, b) -> a.isAfter(b) ? a : b);
                    told.put(provider, until.truncatedTo(ChronoUnit.MILLIS));
                });
                merged.keySet().removeAll(lifts);
                shared = Map.copyOf(merged);
            }
            write.forEach(pending::remove);
        }
        Map<String, Pause> read = store.read();
        Map<String, Instant> next = new HashMap<>();
        Instant cap = now.plus(longest);
        read.forEach((provider, p) -> {
            if (!p.until().isAfter(now)) {
                told.remove(provider);
                return;
            }
            Instant until = p.until().isAfter(cap) ? cap : p.until();
            next.put(provider, until);
            // logged once per pause another instance wrote (the store keeps micro- or milliseconds)
            if (!p.until().truncatedTo(ChronoUnit.MILLIS).equals(told.put(provider, p.until().truncatedTo(ChronoUnit.MILLIS)))) {
                LOG.info("Provider {} paused until {}: the target answered instance {} with Retry-After", provider, until,
                        p.instanceId());
            }
        });
        told.keySet().retainAll(next.keySet());
        synchronized (this) {
            // a lift not yet written (a manual retry while this read ran) is not undone by what the read found
            next.keySet().removeAll(lifts);
            shared = Map.copyOf(next);
        }
    }
}
