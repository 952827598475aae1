package io.ordersync.delivery;

import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.apache.camel.support.SynchronizationAdapter;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.ToIntFunction;

/**
 * How many syncs of a provider run at once in this process: at most its share of the provider's
 * {@code target.concurrency}, read at every entry (it changes as instances come and go). A sync enters at the start
 * of route {@code provider-<id>}, waiting while the share is taken, and leaves when its exchange is done.
 * <p>
 * This is what the Throttle EIP's {@code ConcurrentRequests} mode does, without its flaw: Camel 4.18 drops the
 * throttle's state (its semaphore) 10 s after its last release, also while syncs hold permits, and the next sync
 * then starts on a fresh semaphore beside them. A sync that took longer than that (a slow target, redeliveries)
 * let twice the share run at once (BENCHMARKS.md, issue 18 round twenty-nine). Here a provider's count is never
 * forgotten.
 * <p>
 * The gate tells {@link Places} what becomes of each sync: it entered, it was interrupted while it waited (a stop
 * whose grace time ran out, the route's workers shut down: it did nothing, and its exchange ends there, without the
 * failure handling that would count an attempt or park the row), its exchange ended.
 */
public final class ConcurrencyGate implements Processor {

    /** How often a waiting sync reads the share again (it grows when another instance stops). */
    static final long RECHECK_MS = 1000;

    private static final class Count {
        final ReentrantLock lock = new ReentrantLock();
        final Condition freed = lock.newCondition();
        int running;
    }

    /** What ordersync does with the syncs at the gate (queue/Dispatcher: which rows a stop may hand back). */
    public interface Places {
        /** The sync has its place and begins. */
        default void entered(Exchange exchange) {
        }

        /** The sync was interrupted while it waited for its place: it did nothing (its row is handed back). */
        default void untried(Exchange exchange) {
        }

        /** The exchange of a sync that entered is done, however it ended; its place is given back. */
        default void ended(Exchange exchange) {
        }
    }

    private final Function<Exchange, String> key;
    private final ToIntFunction<Exchange> limit;
    private final Places places;
    private final Map<String, Count> counts = new ConcurrentHashMap<>();

    /** {@code key}: the provider of the exchange's sync; {@code limit}: how many of its syncs may run here (≥ 1). */
    public ConcurrencyGate(Function<Exchange, String> key, ToIntFunction<Exchange> limit, Places places) {
        this.key = key;
        this.limit = limit;
        this.places = places;
    }

    @Override
    public void process(Exchange exchange) {
        String k = key.apply(exchange);
        Count c = counts.computeIfAbsent(k, x -> new Count());
        try {
            c.lock.lockInterruptibly();
            try {
                while (c.running >= Math.max(1, limit.applyAsInt(exchange))) {
                    c.freed.await(RECHECK_MS, TimeUnit.MILLISECONDS);
                }
                c.running++;
            } finally {
                c.lock.unlock();
            }
        } catch (InterruptedException stopped) {
            // the flag is clear while the row is handed back (an interrupted thread's file I/O would close H2's
            // file), and set again for the worker, which is being stopped
            try {
                places.untried(exchange);
            } finally {
                exchange.setRouteStop(true);
                Thread.currentThread().interrupt();
            }
            return;
        }
        places.entered(exchange);
        exchange.getExchangeExtension().addOnCompletion(new SynchronizationAdapter() {
            @Override
            public void onDone(Exchange done) {
                c.lock.lock();
                try {
                    c.running--;
                    c.freed.signalAll();
                } finally {
                    c.lock.unlock();
                }
                places.ended(done);
            }
        });
    }

    /** How many syncs of {@code key} run now (for the tests). */
    public int running(String key) {
        Count c = counts.get(key);
        if (c == null) {
            return 0;
        }
        c.lock.lock();
        try {
            return c.running;
        } finally {
            c.lock.unlock();
        }
    }
}
