package io.ordersync.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A loopback TCP proxy in front of one port, so that a test can cut one process's network path to a server (its
 * database) while others keep theirs: {@link #cut()} closes every connection through it and refuses new ones (they
 * are accepted and closed at once, as a reset), {@link #restore()} lets them through again. {@link #blackholeOpen()}
 * is a server that vanished without a word (a failover to another host, a firewall that drops a connection's
 * packets): the connections open now stay open and silent, whatever is sent on them is lost, and new connections go
 * through.
 */
public final class TcpProxy implements AutoCloseable {

    private final ServerSocket server;
    private final int targetPort;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    /** Sockets of connections that carry nothing any more (blackholed). */
    private final Set<Socket> silent = ConcurrentHashMap.newKeySet();
    private volatile boolean cut;
    private volatile boolean closed;

    public TcpProxy(int targetPort) throws IOException {
        this.targetPort = targetPort;
        this.server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        Thread acceptor = new Thread(this::accept, "tcp-proxy-" + port());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    private String jdbcUrl;

    /** A proxy in front of the PostgreSQL server of {@code jdbcUrl} (jdbc:postgresql://host:port/…). */
    public static TcpProxy inFrontOfDatabase(String jdbcUrl) throws IOException {
        int port = Integer.parseInt(jdbcUrl.replaceAll("^jdbc:postgresql://[^:/]+:(\\d+)/.*$", "$1"));
        TcpProxy proxy = new TcpProxy(port);
        proxy.jdbcUrl = jdbcUrl.replace(":" + port + "/", ":" + proxy.port() + "/");
        return proxy;
    }

    /** The database's URL through this proxy (made by {@link #inFrontOfDatabase}). */
    public String jdbcUrl() {
        return jdbcUrl;
    }

    /** Closes every connection through the proxy; new ones are closed as soon as they are accepted. */
    public void cut() {
        cut = true;
        for (Socket s : open) {
            closeQuietly(s);
        }
        open.clear();
    }

    public void restore() {
        cut = false;
    }

    /** The connections open now carry nothing more, in either direction, and are not closed; new ones pass. */
    public void blackholeOpen() {
        silent.addAll(open);
    }

    private void accept() {
        while (!closed) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                return;
            }
            if (cut) {
                closeQuietly(client);
                continue;
            }
            try {
                Socket upstream = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                open.add(client);
                open.add(upstream);
                pump(client, upstream);
                pump(upstream, client);
            } catch (IOException e) {
                closeQuietly(client);
            }
        }
    }

    private void pump(Socket from, Socket to) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[16384];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    if (silent.contains(from)) {
                        continue; // lost on the way
                    }
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException e) {
                // one side closed or was cut: both go
            } finally {
                closeQuietly(from);
                closeQuietly(to);
                open.remove(from);
                open.remove(to);
                silent.remove(from);
                silent.remove(to);
            }
        }, "tcp-proxy-pump");
        t.setDaemon(true);
        t.start();
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    @Override
    public void close() {
        closed = true;
        cut();
        try {
            server.close();
        } catch (IOException ignored) {
            // already closed
        }
    }
}
