package io.ordersync.delivery;

import java.time.Instant;

/** A failed delivery, classified so the queue knows whether, and when, to try again. */
public class DeliveryException extends RuntimeException {

    /** How the queue treats the failure. */
    public enum Kind { RECOVERABLE, PERMANENT }

    private final Kind kind;
    private final Instant notBefore;

    public DeliveryException(Kind kind, String message, Instant notBefore, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.notBefore = notBefore;
    }

    public Kind kind() {
        return kind;
    }

    /** The earliest time the target accepts another request (from Retry-After), or null. */
    public Instant notBefore() {
        return notBefore;
    }
}
