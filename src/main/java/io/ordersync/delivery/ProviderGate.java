package io.ordersync.delivery;

import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Per-provider pause set by Retry-After: no request goes to that provider before the time it named. */
public final class ProviderGate {

    private final Map<String, Instant> pausedUntil = new ConcurrentHashMap<>();

    public void pause(String provider, Instant until) {
        pausedUntil.merge(provider, until, (a, b) -> a.isAfter(b) ? a : b);
    }

    /** Lifts the provider's pause (an operator asked for a retry now); whether there was one. */
    public boolean resume(String provider) {
        return pausedUntil.remove(provider) != null;
    }

    /** The end of the provider's pause, or null when it is not paused. */
    public Instant pausedUntil(String provider, Instant now) {
        Instant until = pausedUntil.get(provider);
        if (until == null) {
            return null;
        }
        if (!until.isAfter(now)) {
            pausedUntil.remove(provider, until);
            return null;
        }
        return until;
    }
}
