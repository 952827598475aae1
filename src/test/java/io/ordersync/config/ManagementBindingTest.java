package io.ordersync.config;

import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

/** The management port (health, metrics, no credentials) listens on loopback unless configured otherwise. */
class ManagementBindingTest {

    @TempDir
    Path tmp;

    @Test
    void theManagementPortListensOnLoopbackByDefault() throws Exception {
        int port = freePort();
        Files.createDirectories(tmp.resolve("mappings"));
        try (OrdersyncApp app = new OrdersyncApp(tmp.resolve("data"), tmp.resolve("mappings"),
                Map.of("camel.management.host", OrdersyncApp.DEFAULT, "camel.management.port", String.valueOf(port))).start()) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
                assertThat(s.isConnected()).isTrue();
            }
            Optional<InetAddress> external = externalAddress();
            assumeThat(external).as("this machine has a non-loopback IPv4 address").isPresent();
            assertThatThrownBy(() -> {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(external.get(), port), 2000);
                }
            }).as("not reachable on " + external.get()).isInstanceOf(java.io.IOException.class);
        }
    }

    private static Optional<InetAddress> externalAddress() throws Exception {
        for (NetworkInterface n : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!n.isUp() || n.isLoopback()) {
                continue;
            }
            for (InetAddress a : Collections.list(n.getInetAddresses())) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress()) {
                    return Optional.of(a);
                }
            }
        }
        return Optional.empty();
    }

    private static int freePort() throws Exception {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
