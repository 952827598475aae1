package io.ordersync.delivery;

import java.time.Instant;

/** A failure worth retrying soon, in-process, by Camel's redelivery policy (timeouts, 5xx, 429). */
public class RecoverableDeliveryException extends DeliveryException {

    public RecoverableDeliveryException(String message, Instant notBefore, Throwable cause) {
        super(Kind.RECOVERABLE, message, notBefore, cause);
    }
}
