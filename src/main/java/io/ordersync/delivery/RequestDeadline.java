package io.ordersync.delivery;

import org.apache.hc.client5.http.classic.ExecChain;
import org.apache.hc.client5.http.classic.ExecChainHandler;
import org.apache.hc.core5.concurrent.Cancellable;
import org.apache.hc.core5.http.ClassicHttpRequest;
import org.apache.hc.core5.http.ClassicHttpResponse;
import org.apache.hc.core5.http.HttpEntity;
import org.apache.hc.core5.http.HttpException;

import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A deadline for a whole HTTP exchange, installed as HttpClient's first exec interceptor: the wait for a pooled
 * connection, the connect, sending the request, the answer's headers and its whole body. HttpClient's own timeouts
 * bound each wait for data, not the exchange: a server that sends a byte now and then (one a second, say) kept a
 * worker, and a slot of the provider's concurrency, for as long as it liked, past the claim's lease, so that the row
 * could be sent again beside the request still under way. At the deadline the request is cancelled and its
 * connection closed; the exchange fails with a {@link SocketTimeoutException}, a timeout like any other. The body is
 * handed on as it comes, under the deadline until its end (reading it into memory here added about 240 kB of allocation
 * per order, six requests, in the end-to-end benchmark); one larger than {@link #MAX_BODY_BYTES} fails the exchange.
 * <p>
 * The exchanges under way are in a set that one thread looks through every {@link #SWEEP_MS} ms, so a deadline is met
 * up to that much late. A timer per exchange (a {@code ScheduledThreadPoolExecutor} task, scheduled and cancelled)
 * was behind in both pairs of an A/B run, 0.045 ms of CPU per order on average (BENCHMARKS.md, issue 18 round
 * thirty-two); a task due before the queue's head wakes the executor's thread, six times per order. Not profiled.
 */
public final class RequestDeadline implements ExecChainHandler {

    /** The largest answer body ordersync reads from a target (a CRM's answers are a few kilobytes). */
    public static final int MAX_BODY_BYTES = 16 * 1024 * 1024;

    /**
     * An answer over {@link #MAX_BODY_BYTES}: not read. An I/O failure, so a provider's sync is tried again (the
     * target may answer shorter next time); for pretix, whose same resource gives the same answer, it is refused.
     */
    public static final class AnswerTooLarge extends IOException {
        AnswerTooLarge(String message) {
            super(message);
        }
    }

    /** How often the exchanges under way are checked against their deadlines. */
    static final long SWEEP_MS = 100;

    /** The exchanges under way, of every provider, pretix and the alerts. */
    private static final java.util.Set<Call> UNDER_WAY = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** Sweeps without an exchange under way after which the sweeper's thread ends (the next exchange starts one). */
    static final int IDLE_SWEEPS = 50;

    /** Whether a sweeper thread runs. */
    private static final AtomicBoolean SWEEPING = new AtomicBoolean();

    /**
     * Starts the sweeper's thread unless one runs. It ends after {@link #IDLE_SWEEPS} sweeps without an exchange under
     * way, so that no thread of ordersync's outlives its last request: embedded in a host's Camel platform, a thread
     * that ran for ever held ordersync's classes after it was undeployed (found by a review).
     */
    private static void sweeping() {
        if (!SWEEPING.get() && SWEEPING.compareAndSet(false, true)) {
            Thread thread = new Thread(RequestDeadline::sweeper, "ordersync-http-deadline");
            thread.setDaemon(true);
            thread.start();
        }
    }

    private static void sweeper() {
        int idle = 0;
        while (true) {
            try {
                Thread.sleep(SWEEP_MS);
            } catch (InterruptedException e) {
                idle = IDLE_SWEEPS; // a host that interrupts its threads: end, the next exchange starts another
            }
            sweep();
            idle = UNDER_WAY.isEmpty() ? idle + 1 : 0;
            if (idle >= IDLE_SWEEPS) {
                SWEEPING.set(false);
                // an exchange added before the flag went down found it up and started no thread: this one goes on
                if (UNDER_WAY.isEmpty() || !SWEEPING.compareAndSet(false, true)) {
                    return;
                }
                idle = 0;
            }
        }
    }

    /** Whether the sweeper's thread runs (for tests). */
    static boolean sweeperRuns() {
        return SWEEPING.get();
    }

    private static void sweep() {
        long now = System.nanoTime();
        for (Call e : UNDER_WAY) {
            if (now - e.due >= 0) {
                UNDER_WAY.remove(e);
                try {
                    e.expire();
                } catch (RuntimeException ignored) {
                    // the exchange ended meanwhile; its connection is the pool's again
                }
            }
        }
    }

    /** One exchange under way: its deadline, and how to end it. */
    private static final class Call {
        final long due;
        final ExecChain.Scope scope;
        final AtomicBoolean expired = new AtomicBoolean();

        Call(long due, ExecChain.Scope scope) {
            this.due = due;
            this.scope = scope;
        }

        void expire() {
            expired.set(true);
            // the request first: a cancelled request takes no further step (a connection leased later is let go)
            if (scope.originalRequest instanceof Cancellable c) {
                c.cancel();
            }
            scope.execRuntime.discardEndpoint();
        }

        /** Its end: out of the sweeper's sight (a second call does nothing). */
        void done() {
            UNDER_WAY.remove(this);
        }
    }

    private final long deadlineMs;
    private final String what;

    /** @param what how the deadline is named in its error ("connect_timeout_ms + response_timeout_ms") */
    public RequestDeadline(long deadlineMs, String what) {
        if (deadlineMs <= 0) {
            throw new IllegalArgumentException("deadline must be positive: " + deadlineMs);
        }
        this.deadlineMs = deadlineMs;
        this.what = what;
    }

    @Override
    public ClassicHttpResponse execute(ClassicHttpRequest request, ExecChain.Scope scope, ExecChain chain)
            throws IOException, HttpException {
        Call timer = new Call(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(deadlineMs), scope);
        AtomicBoolean expired = timer.expired;
        UNDER_WAY.add(timer);
        sweeping();
        boolean bodyHandedOn = false;
        try {
            ClassicHttpResponse response = chain.proceed(request, scope);
            HttpEntity entity = response.getEntity();
            if (entity != null) {
                if (entity.getContentLength() > MAX_BODY_BYTES) {
                    response.close();
                    throw new AnswerTooLarge("answer body of " + entity.getContentLength() + " bytes, more than the "
                            + MAX_BODY_BYTES + " bytes ordersync reads");
                }
                // the body is read by the caller, as it comes (no copy): the deadline holds until its end or close
                response.setEntity(new Guarded(entity, timer, expired));
                bodyHandedOn = true;
            }
            return response;
        } catch (IOException e) {
            throw expired.get() ? timeout() : e;
        } finally {
            if (!bodyHandedOn) {
                timer.done();
            }
        }
    }

    private SocketTimeoutException timeout() {
        // without the cause: what the request met when its connection was closed ("Socket closed") is not what
        // happened, and errors are described by their innermost cause
        return new SocketTimeoutException("no complete answer within " + deadlineMs + " ms (" + what + ")");
    }

    /** The answer's body under the deadline: read as it comes; its end or close ends the deadline. */
    private final class Guarded extends org.apache.hc.core5.http.io.entity.HttpEntityWrapper {
        private final Call timer;
        private final AtomicBoolean expired;

        Guarded(HttpEntity entity, Call timer, AtomicBoolean expired) {
            super(entity);
            this.timer = timer;
            this.expired = expired;
        }

        @Override
        public InputStream getContent() throws IOException {
            InputStream in = super.getContent();
            return in == null ? null : new GuardedStream(in);
        }

        @Override
        public void writeTo(java.io.OutputStream out) throws IOException {
            try (InputStream in = getContent()) {
                if (in != null) {
                    in.transferTo(out);
                }
            }
        }

        @Override
        public boolean isStreaming() {
            return true;
        }

        @Override
        public void close() throws IOException {
            try {
                super.close();
            } finally {
                timer.done();
            }
        }

        private final class GuardedStream extends java.io.FilterInputStream {
            private long read;

            GuardedStream(InputStream in) {
                super(in);
            }

            private int counted(int n) throws IOException {
                if (n < 0) {
                    timer.done();
                } else if ((read += n) > MAX_BODY_BYTES) {
                    throw new AnswerTooLarge("answer body of more than the " + MAX_BODY_BYTES + " bytes ordersync reads");
                }
                return n;
            }

            @Override
            public int read() throws IOException {
                try {
                    int b = super.read();
                    counted(b < 0 ? -1 : 1);
                    return b;
                } catch (IOException e) {
                    throw expired.get() ? timeout() : e;
                }
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                try {
                    return counted(super.read(b, off, len));
                } catch (IOException e) {
                    throw expired.get() ? timeout() : e;
                }
            }

            @Override
            public void close() throws IOException {
                try {
                    super.close();
                } finally {
                    timer.done();
                }
            }
        }
    }
}
