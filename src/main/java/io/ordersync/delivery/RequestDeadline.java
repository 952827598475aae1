package io.ordersync.delivery;

import org.apache.hc.client5.http.classic.ExecChain;
import org.apache.hc.client5.http.classic.ExecChainHandler;
import org.apache.hc.core5.concurrent.Cancellable;
import org.apache.hc.core5.http.ClassicHttpRequest;
import org.apache.hc.core5.http.ClassicHttpResponse;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.HttpEntity;
import org.apache.hc.core5.http.HttpException;
import org.apache.hc.core5.http.io.entity.ByteArrayEntity;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A deadline for a whole HTTP exchange, installed as HttpClient's first exec interceptor: the wait for a pooled
 * connection, the connect, sending the request, the answer's headers and its whole body. HttpClient's own timeouts
 * bound each wait for data, not the exchange: a server that sends a byte now and then (one a second, say) kept a
 * worker, and a slot of the provider's concurrency, for as long as it liked, past the claim's lease, so that the row
 * could be sent again beside the request still under way. At the deadline the request is cancelled and its
 * connection closed; the exchange fails with a {@link SocketTimeoutException}, a timeout like any other. The body is
 * read here, within the deadline, and handed on in memory; one larger than {@link #MAX_BODY_BYTES} fails the
 * exchange.
 */
public final class RequestDeadline implements ExecChainHandler {

    /** The largest answer body ordersync reads from a target (a CRM's answers are a few kilobytes). */
    public static final int MAX_BODY_BYTES = 16 * 1024 * 1024;

    private static final ScheduledThreadPoolExecutor TIMER = timer();

    private static ScheduledThreadPoolExecutor timer() {
        ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> {
            Thread thread = new Thread(r, "ordersync-http-deadline");
            thread.setDaemon(true);
            return thread;
        });
        // a deadline met is cancelled at once: nothing stays queued for its whole delay
        t.setRemoveOnCancelPolicy(true);
        return t;
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
        AtomicBoolean expired = new AtomicBoolean();
        ScheduledFuture<?> timer = TIMER.schedule(() -> {
            expired.set(true);
            // the request first: a cancelled request takes no further step (a connection leased later is let go)
            if (scope.originalRequest instanceof Cancellable c) {
                c.cancel();
            }
            scope.execRuntime.discardEndpoint();
        }, deadlineMs, TimeUnit.MILLISECONDS);
        try {
            ClassicHttpResponse response = chain.proceed(request, scope);
            try {
                HttpEntity entity = response.getEntity();
                if (entity != null) {
                    byte[] body = read(entity, expired);
                    ContentType type = entity.getContentType() == null ? null : ContentType.parseLenient(entity.getContentType());
                    response.setEntity(new ByteArrayEntity(body, type, entity.getContentEncoding()));
                }
                return response;
            } catch (IOException | RuntimeException e) {
                response.close();
                throw e;
            }
        } catch (IOException e) {
            if (expired.get()) {
                // without the cause: what the request met when its connection was closed ("Socket closed") is not
                // what happened, and errors are described by their innermost cause
                throw new SocketTimeoutException("no complete answer within " + deadlineMs + " ms (" + what + ")");
            }
            throw e;
        } finally {
            timer.cancel(false);
        }
    }

    private byte[] read(HttpEntity entity, AtomicBoolean expired) throws IOException {
        long declared = entity.getContentLength();
        if (declared > MAX_BODY_BYTES) {
            throw new IOException("answer body of " + declared + " bytes, more than the " + MAX_BODY_BYTES + " ordersync reads");
        }
        // closing the stream at its end hands the connection back to the pool; before it, closes the connection
        try (InputStream in = entity.getContent()) {
            if (in == null) {
                return new byte[0];
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream(declared > 0 ? (int) declared : 1024);
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) >= 0) {
                if (expired.get()) {
                    throw new IOException("deadline passed while the body was read");
                }
                if (out.size() + n > MAX_BODY_BYTES) {
                    throw new IOException("answer body of more than the " + MAX_BODY_BYTES + " bytes ordersync reads");
                }
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        }
    }
}
