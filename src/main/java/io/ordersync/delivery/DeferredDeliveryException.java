package io.ordersync.delivery;

import java.time.Instant;

/**
 * A recoverable failure not retried in-process: the target asked for a longer pause (Retry-After), or the
 * provider is paused (Retry-After of another request, open circuit) and no request was sent at all.
 */
public class DeferredDeliveryException extends DeliveryException {

    private final boolean requestSent;

    public DeferredDeliveryException(String message, Instant notBefore) {
        this(message, notBefore, true);
    }

    public DeferredDeliveryException(String message, Instant notBefore, boolean requestSent) {
        super(Kind.RECOVERABLE, message, notBefore, null);
        this.requestSent = requestSent;
    }

    /** False when the provider was paused before anything was sent: then the try does not count as an attempt. */
    public boolean requestSent() {
        return requestSent;
    }
}
