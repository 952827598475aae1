package io.ordersync.config;

import org.apache.camel.CamelConfiguration;
import org.apache.camel.CamelContext;

/** camel-main configuration: reads the ordersync.* properties and installs ordersync into the context. */
public class OrdersyncConfiguration implements CamelConfiguration {

    @Override
    public void configure(CamelContext context) {
        OrdersyncSettings settings = OrdersyncSettings.from(
                key -> context.getPropertiesComponent().resolveProperty(key).orElse(null));
        Ordersync.install(context, settings);
    }
}
