package io.ordersync.config;

import org.apache.camel.CamelContext;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

/**
 * Checks before the start that the HTTP and management ports can be bound: Vert.x only logs a failed bind
 * and the process would run on, with its URLs served by whatever holds the port.
 */
public final class Ports {

    private Ports() {
    }

    /** Thrown when a configured port is taken; its message is the one line to print. */
    public static final class PortInUseException extends RuntimeException {
        public PortInUseException(String message) {
            super(message);
        }
    }

    /** Throws {@link PortInUseException} naming the port and the setting to change. */
    public static void checkFree(CamelContext context) {
        check(context, "camel.server", "HTTP (API, UI, intake)");
        check(context, "camel.management", "management (health, metrics)");
    }

    private static void check(CamelContext context, String prefix, String what) {
        var props = context.getPropertiesComponent();
        if (!Boolean.parseBoolean(props.resolveProperty(prefix + ".enabled").orElse("false").trim())) {
            return;
        }
        String host = props.resolveProperty(prefix + ".host").orElse("0.0.0.0").trim();
        String portText = props.resolveProperty(prefix + ".port").orElse("").trim();
        int port;
        try {
            port = Integer.parseInt(portText);
        } catch (NumberFormatException e) {
            throw new PortInUseException("ordersync cannot start: " + prefix + ".port is '" + portText + "', not a port number");
        }
        if (port == 0) {
            return; // any free port
        }
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(host, port));
        } catch (IOException e) {
            throw new PortInUseException("ordersync cannot start: the " + what + " port " + host + ":" + port
                    + " is not free (" + e.getMessage() + "); set " + prefix + ".port (e.g. -D" + prefix + ".port="
                    + (port + 1) + ") or stop the program that uses it");
        }
    }
}
