package io.ordersync.support;

import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** The test JVMs' ports (Ports): each JVM its own range, below the ephemeral one, a held port skipped. */
class PortsTest {

    @Test
    void eachTestJvmHandsOutPortsOfItsOwnRangeThatNothingHolds() throws Exception {
        // surefire replaced the fork's number into pom.xml's property: without it both JVMs would share one range
        assertThat(System.getProperty("ordersync.test.fork")).as("ordersync.test.fork").matches("[1-9][0-9]*");
        int from = Ports.BASE + Ports.FORK * Ports.SPAN;
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 50; i++) {
            int port = Ports.free();
            assertThat(port).isBetween(from, from + Ports.SPAN - 1).isLessThan(32_768);
            assertThat(seen.add(port)).as("port %d handed out twice", port).isTrue();
        }
        int next = Ports.free() + 1;
        try (ServerSocket held = new ServerSocket(next)) {
            assertThat(Ports.free()).as("the port after a held one").isNotEqualTo(next).isBetween(from, from + Ports.SPAN - 1);
        }
    }
}
