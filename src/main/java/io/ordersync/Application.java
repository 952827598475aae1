package io.ordersync;

import io.ordersync.cli.Commands;
import io.ordersync.config.OrdersyncConfiguration;
import org.apache.camel.main.Main;

/** Runs ordersync as a standalone Camel Main application, or one of its commands (validate, preview, fields). */
public final class Application {

    private Application() {
    }

    public static void main(String[] args) throws Exception {
        int code = new Commands(System.out, System.err).run(args);
        if (code >= 0) {
            System.exit(code);
        }
        Main main = new Main();
        main.configure().addConfiguration(OrdersyncConfiguration.class);
        main.run(args);
    }
}
