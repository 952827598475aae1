package io.ordersync.delivery;

/** The target rejected the request in a way a retry will not change (4xx other than 408/425/429). */
public class PermanentDeliveryException extends DeliveryException {

    public PermanentDeliveryException(String message) {
        super(Kind.PERMANENT, message, null, null);
    }
}
