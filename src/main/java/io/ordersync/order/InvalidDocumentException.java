package io.ordersync.order;

/** An order document that cannot be accepted; the message says why, readable by the sender. */
public class InvalidDocumentException extends Exception {

    public InvalidDocumentException(String message) {
        super(message);
    }
}
