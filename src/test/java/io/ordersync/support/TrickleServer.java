package io.ordersync.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback HTTP server that never finishes an answer: it reads each request, then either sends the headers of a
 * 200 with a long body and the body one byte every {@code byteEveryMs} (each wait for data shorter than any read
 * timeout), or sends nothing at all and keeps the connection open. What a target, token endpoint or alert receiver
 * that hangs does to its callers.
 */
public final class TrickleServer implements AutoCloseable {

    private final ServerSocket server;
    private final long byteEveryMs;
    private final boolean silent;
    /** 0: trickle or silent; else answers this many bytes at full speed (chunked when {@link #chunked}). */
    private long oversize;
    private boolean chunked;
    private final AtomicInteger requests = new AtomicInteger();
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private TrickleServer(long byteEveryMs, boolean silent) throws IOException {
        this.byteEveryMs = byteEveryMs;
        this.silent = silent;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread t = new Thread(this::accept, "trickle-server");
        t.setDaemon(true);
        t.start();
    }

    /** Answers 200 with a 100 000-byte JSON body, one byte every {@code byteEveryMs}. */
    public static TrickleServer trickling(long byteEveryMs) throws IOException {
        return new TrickleServer(byteEveryMs, false);
    }

    /** Answers 200 with a body of {@code bytes}, at full speed; with its length declared, or chunked without one. */
    public static TrickleServer oversized(long bytes, boolean chunked) throws IOException {
        TrickleServer t = new TrickleServer(0, false);
        t.oversize = bytes;
        t.chunked = chunked;
        return t;
    }

    /** Reads each request and never answers. */
    public static TrickleServer silent() throws IOException {
        return new TrickleServer(0, true);
    }

    public String url() {
        return "http://127.0.0.1:" + server.getLocalPort();
    }

    /** Requests read so far. */
    public int requests() {
        return requests.get();
    }

    private void accept() {
        while (!closed) {
            try {
                Socket s = server.accept();
                open.add(s);
                Thread t = new Thread(() -> serve(s), "trickle-connection");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket s) {
        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
            readRequest(in);
            requests.incrementAndGet();
            if (silent) {
                while (!closed && in.read() >= 0) {
                    // keeps the connection open and says nothing
                }
                return;
            }
            if (oversize > 0) {
                out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + (chunked ? "Transfer-Encoding: chunked"
                        : "Content-Length: " + oversize) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                byte[] block = new byte[65536];
                java.util.Arrays.fill(block, (byte) ' ');
                block[0] = '[';
                for (long sent = 0; sent < oversize && !closed; sent += block.length) {
                    if (chunked) {
                        out.write((Integer.toHexString(block.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    }
                    out.write(block);
                    if (chunked) {
                        out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                    }
                }
                if (chunked) {
                    out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                out.flush();
                return;
            }
            int length = 100_000;
            out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            for (int i = 0; i < length && !closed; i++) {
                out.write(i == 0 ? '{' : ' ');
                out.flush();
                Thread.sleep(byteEveryMs);
            }
        } catch (IOException | InterruptedException e) {
            // the caller gave up: what the tests want
        } finally {
            open.remove(s);
        }
    }

    private static void readRequest(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            head.write(b);
            byte[] h = head.toByteArray();
            int n = h.length;
            if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
                break;
            }
        }
        int length = 0;
        for (String line : head.toString(StandardCharsets.US_ASCII).split("\r\n")) {
            if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).trim());
            }
        }
        in.readNBytes(length);
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket s : open) {
            s.close();
        }
    }
}
