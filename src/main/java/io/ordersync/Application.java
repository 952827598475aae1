package io.ordersync;

import io.ordersync.config.OrdersyncConfiguration;
import org.apache.camel.main.Main;

/** Runs ordersync as a standalone Camel Main application (settings in application.properties). */
public final class Application {

    private Application() {
    }

    public static void main(String[] args) throws Exception {
        Main main = new Main();
        main.configure().addConfiguration(OrdersyncConfiguration.class);
        main.run(args);
    }
}
