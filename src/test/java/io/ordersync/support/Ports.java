package io.ordersync.support;

import java.io.IOException;
import java.net.ServerSocket;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Ports for the servers the tests start (ordersync, PostgreSQL, Prism, brokers) and for ports that must stay closed.
 * <p>
 * {@code mvn verify} runs three test JVMs at once (pom.xml, {@code forkCount}). A port found by binding port 0 and
 * closing the socket is free only until someone binds it; another JVM binding port 0 in between gets it from the
 * same ephemeral range. So each JVM hands out ports from a range of its own below the ephemeral range (32768–60999
 * on Linux, where port 0 binds and outgoing connections take theirs), one after the other, skipping a port that
 * something else holds. Servers that bind port 0 themselves (the JDK HttpServer targets, GreenMail, the OAuth2
 * server) need none of this.
 */
public final class Ports {

    static final int BASE = 20_000;
    static final int SPAN = 3_000;
    /** The JVM's fork number (surefire's {@code surefire.forkNumber}, 1 to 3 under mvn verify; 0 elsewhere). */
    static final int FORK = Integer.getInteger("ordersync.test.fork", 0);
    /** Starts where the process id says: two test runs on one machine do not probe the same ports in the same order. */
    private static final AtomicInteger NEXT = new AtomicInteger((int) (ProcessHandle.current().pid() % SPAN));

    private Ports() {
    }

    /**
     * A port nothing listens on now and that no other test JVM of the run hands out. Past fork 3 (forkCount above 3)
     * the ranges would reach the ephemeral one: such a JVM probes port 0 as before, open to the race above.
     */
    public static int free() {
        if (BASE + (FORK + 1) * SPAN > 32_768) {
            return ephemeral();
        }
        for (int i = 0; i < SPAN; i++) {
            int port = BASE + FORK * SPAN + Math.floorMod(NEXT.getAndIncrement(), SPAN);
            try (ServerSocket s = new ServerSocket(port)) {
                return s.getLocalPort();
            } catch (IOException taken) {
                // held by another process: the next one
            }
        }
        return ephemeral();
    }

    private static int ephemeral() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
