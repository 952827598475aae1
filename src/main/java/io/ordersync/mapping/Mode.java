package io.ordersync.mapping;

import java.util.Locale;

/** How a property value is written into the remote object (pretix's assign_properties modes). */
public enum Mode {
    /** Always set the new value, even an empty one. */
    OVERWRITE,
    /** Set only when the object is being created. */
    IF_NEW,
    /** Set only when the remote field is missing or empty. */
    IF_EMPTY,
    /** Add the value to the remote list if it is not already in it. */
    APPEND;

    public static Mode parse(String text) {
        if (text == null) {
            return OVERWRITE;
        }
        return Mode.valueOf(text.trim().toUpperCase(Locale.ROOT));
    }
}
