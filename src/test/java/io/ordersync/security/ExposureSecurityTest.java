package io.ordersync.security;

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

/**
 * Exposure by default: the management port (health, metrics, no credentials) listens on loopback unless
 * configured otherwise, and the start-up log says which addresses are served.
 */
class ExposureSecurityTest {

    @TempDir
    Path tmp;

    @Test
    void theManagementPortListensOnLoopbackByDefault() throws Exception {
        int port = freePort();
        Files.createDirectories(tmp.resolve("mappings"));
        ch.qos.logback.classic.Logger root = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> startLog = new ch.qos.logback.core.read.ListAppender<>();
        startLog.start();
        root.addAppender(startLog);
        try (OrdersyncApp app = new OrdersyncApp(tmp.resolve("data"), tmp.resolve("mappings"),
                Map.of("camel.management.host", OrdersyncApp.DEFAULT, "camel.management.port", String.valueOf(port))).start()) {
            root.detachAppender(startLog);
            assertThat(startLog.list).extracting(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                    .anySatisfy(m -> assertThat(m).startsWith("ordersync listens on http://127.0.0.1:")
                            .contains("and http://127.0.0.1:" + port + " (health, metrics; no credentials)"));
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

    private static int freePort() {
        return io.ordersync.support.Ports.free();
    }
}
