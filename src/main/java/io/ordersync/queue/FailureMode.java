package io.ordersync.queue;

import java.util.Locale;

/** Why a queue row is parked waiting for a manual retry (pretix's need_manual_retry values). */
public enum FailureMode {
    /** Recoverable errors until max_attempts was reached. */
    EXCEEDED("Temporary error, auto-retry limit exceeded"),
    /** The target rejected the request for good (4xx other than 408/425/429). */
    PERMANENT("Provider reported a permanent error"),
    /** The mapping or provider settings are wrong. */
    CONFIG("Misconfiguration, please check provider settings"),
    /** An unexpected exception in ordersync. */
    INTERNAL("System error, needs manual intervention"),
    /** Leases expired (instance crashed or hung) until max_attempts was reached. */
    TIMEOUT("Sync timed out, auto-retry limit exceeded");

    private final String description;

    FailureMode(String description) {
        this.description = description;
    }

    public String code() {
        return name().toLowerCase(Locale.ROOT);
    }

    public String description() {
        return description;
    }
}
