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
        if (context.getRegistry().findByType(io.vertx.core.VertxOptions.class).isEmpty()
                && context.getRegistry().findByType(io.vertx.core.Vertx.class).isEmpty()) {
            context.getRegistry().bind("ordersyncVertxOptions", vertxOptions());
        }
    }

    /**
     * The options of the Vert.x instances behind camel-main's two HTTP servers, unless the application binds its own
     * {@code VertxOptions} or {@code Vertx}: no resolving of files from the class path (ordersync's routes serve the
     * UI themselves). With it, each server made a {@code vertx-cache-<uuid>} directory in {@code java.io.tmpdir} at
     * every start that only a clean stop removed: each kill -9 or crash left two behind.
     */
    static io.vertx.core.VertxOptions vertxOptions() {
        return new io.vertx.core.VertxOptions().setFileSystemOptions(new io.vertx.core.file.FileSystemOptions()
                .setClassPathResolvingEnabled(false).setFileCachingEnabled(false));
    }
}
