package io.ordersync.delivery;

import java.time.Instant;

/** A recoverable failure not retried in-process: the target asked for a longer pause (Retry-After). */
public class DeferredDeliveryException extends DeliveryException {

    public DeferredDeliveryException(String message, Instant notBefore) {
        super(Kind.RECOVERABLE, message, notBefore, null);
    }
}
