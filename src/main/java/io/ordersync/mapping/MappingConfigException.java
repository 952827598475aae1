package io.ordersync.mapping;

/** A mapping that cannot be applied as written: the provider's configuration must be fixed. */
public class MappingConfigException extends RuntimeException {

    public MappingConfigException(String message) {
        super(message);
    }
}
