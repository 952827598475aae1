package io.ordersync.delivery;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.ordersync.mapping.Provider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One resilience4j circuit breaker per provider: it opens when the target keeps failing (connection
 * errors, timeouts, recoverable statuses), lets one probe through after {@code open_for}, and closes when
 * the probe succeeds. While it is open no row of the provider is claimed and no request is sent.
 */
public final class ProviderBreakers {

    private static final Logger LOG = LoggerFactory.getLogger(ProviderBreakers.class);

    private record Entry(Provider.BreakerSpec spec, CircuitBreaker breaker) {
    }

    private final Map<String, Entry> breakers = new ConcurrentHashMap<>();
    private final ProviderGate gate;

    /** {@code gate}: the providers' Retry-After pauses, lifted with the breaker by {@link #reset}. */
    public ProviderBreakers(ProviderGate gate) {
        this.gate = java.util.Objects.requireNonNull(gate, "gate");
    }

    /**
     * The breaker of this provider version (a changed spec starts a fresh breaker). A provider whose breaker is
     * switched off gets one in resilience4j's DISABLED state: it lets every call through and records nothing.
     */
    public CircuitBreaker of(Provider p) {
        if (!p.breaker().enabled()) {
            breakers.remove(p.identifier());
            return off(p.identifier());
        }
        Entry e = breakers.compute(p.identifier(), (id, old) -> {
            if (old != null && old.spec().equals(p.breaker())) {
                return old;
            }
            CircuitBreakerConfig config = CircuitBreakerConfig.custom()
                    .failureRateThreshold(p.breaker().failureRate())
                    .minimumNumberOfCalls(p.breaker().minimumCalls())
                    .slidingWindowSize(Math.max(p.breaker().minimumCalls(), 10))
                    .waitDurationInOpenState(p.breaker().openFor())
                    .permittedNumberOfCallsInHalfOpenState(1)
                    .automaticTransitionFromOpenToHalfOpenEnabled(true)
                    // the target answered, it refused the data: not a sign that it is down
                    .ignoreExceptions(PermanentDeliveryException.class, io.ordersync.mapping.MappingConfigException.class)
                    .build();
            CircuitBreaker cb = CircuitBreaker.of("provider-" + id, config);
            cb.getEventPublisher().onStateTransition(ev -> LOG.warn("Circuit breaker of provider {}: {}", id,
                    ev.getStateTransition()));
            return new Entry(p.breaker(), cb);
        });
        return e.breaker();
    }

    /** A breaker in resilience4j's DISABLED state: lets every call through, records nothing. */
    public static CircuitBreaker off(String identifier) {
        CircuitBreaker off = CircuitBreaker.ofDefaults("provider-" + identifier + "-off");
        off.transitionToDisabledState();
        return off;
    }

    /** closed, open, half_open, or null when the provider has no breaker (yet). */
    public String state(String provider) {
        Entry e = breakers.get(provider);
        return e == null ? null : e.breaker().getState().name().toLowerCase(Locale.ROOT);
    }

    /**
     * An operator asked for a retry or a sync now: close the provider's breaker and lift a Retry-After pause,
     * so the request is not held back by either.
     */
    public void reset(String provider) {
        if (gate.resume(provider)) {
            LOG.info("Retry-After pause of provider {} lifted by a manual retry", provider);
        }
        Entry e = breakers.get(provider);
        if (e != null && e.breaker().getState() != CircuitBreaker.State.CLOSED) {
            LOG.info("Circuit breaker of provider {} closed by a manual retry", provider);
            e.breaker().reset();
        }
    }

    /** Whether the provider's breaker waits for the outcome of a probe. */
    public boolean isHalfOpen(String provider) {
        Entry e = breakers.get(provider);
        return e != null && e.breaker().getState() == CircuitBreaker.State.HALF_OPEN;
    }

    /** Whether the provider is paused by its breaker (no claims, no requests). */
    public boolean isOpen(String provider) {
        Entry e = breakers.get(provider);
        return e != null && (e.breaker().getState() == CircuitBreaker.State.OPEN
                || e.breaker().getState() == CircuitBreaker.State.FORCED_OPEN);
    }
}
