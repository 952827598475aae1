package io.ordersync.pretix;

import java.time.Instant;

/**
 * pretix did not give what was asked: unavailable for now ({@link #recoverable}: down, 5xx, 429 with the
 * time its Retry-After names), or refused for good until someone acts (401/403: the token; 404: no such
 * order), with a reason an operator can act on. Never carries the token.
 */
public final class PretixException extends RuntimeException {

    private final boolean recoverable;
    private final Instant retryAt;

    PretixException(String message, boolean recoverable, Instant retryAt) {
        super(message, null, false, false);
        this.recoverable = recoverable;
        this.retryAt = retryAt;
    }

    public boolean recoverable() {
        return recoverable;
    }

    /** When pretix asked to be called again (Retry-After), or null. */
    public Instant retryAt() {
        return retryAt;
    }
}
