package io.ordersync.db;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Group commit: the writes of many threads in one transaction. A thread hands its item in and goes on; one writer
 * thread writes every item waiting at that moment (up to {@code maxBatch}) in one transaction, while the items handed
 * in during that commit queue up for the next one. Alone, an item is written at once: no timer, no added latency.
 * Each item's callback is told the outcome once its transaction has committed (or failed), on the writer thread.
 * When a group's transaction fails, each of its items is written again in a transaction of its own, so one bad item
 * fails only itself — unless the database is unavailable (or the commit's outcome unknown): then every item fails
 * with it at once.
 *
 * @param <T> what one thread writes (a sync's outcome)
 */
public final class GroupCommit<T> {

    private static final Logger LOG = LoggerFactory.getLogger(GroupCommit.class);

    /** Writes the items in the caller's transaction; the batch form of one item's write. */
    @FunctionalInterface
    public interface Writer<T> {
        void write(java.sql.Connection c, List<T> items) throws Exception;
    }

    /** Commits made and items written since the start. */
    public record Stats(long commits, long items) {
    }

    private static final class Pending<T> {
        final T item;
        final Consumer<RuntimeException> done;
        RuntimeException failure;
        boolean told;

        Pending(T item, Consumer<RuntimeException> done) {
            this.item = item;
            this.done = done;
        }
    }

    private final DataSource ds;
    private final int maxBatch;
    private final Writer<T> writer;
    private final ArrayDeque<Pending<T>> waiting = new ArrayDeque<>();
    /** Guards waiting, draining and the counters. */
    private final Object monitor = new Object();
    /** The writer thread is started or under way: it writes until nothing is waiting. */
    private boolean draining;
    private long commits;
    private long items;
    /**
     * The writer thread: one at most, started when items are handed in and none is under way, ended when nothing is
     * waiting (no thread is left behind when idle, nor after a stop).
     */
    private final ThreadPoolExecutor writers = new ThreadPoolExecutor(0, 1, 1, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(), r -> {
        Thread t = new Thread(r, "ordersync-group-commit");
        t.setDaemon(true);
        return t;
    });

    public GroupCommit(DataSource ds, int maxBatch, Writer<T> writer) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be at least 1");
        }
        this.ds = ds;
        this.maxBatch = maxBatch;
        this.writer = writer;
    }

    /**
     * Hands the item in and returns at once: {@code done} is called once the item is committed (with null) or has
     * failed (with its failure), on the writer thread. {@link #awaitIdle} waits until every item handed in has been
     * written and told.
     */
    public void submit(T item, Consumer<RuntimeException> done) {
        Objects.requireNonNull(done, "done");
        boolean start;
        synchronized (monitor) {
            waiting.add(new Pending<>(item, done));
            start = !draining;
            draining = true;
        }
        if (start) {
            try {
                writers.execute(this::drain);
            } catch (RejectedExecutionException | OutOfMemoryError e) {
                // no thread could be started (the JVM is out of them: "unable to create native thread"): this one
                // writes, or the items would wait for a writer that never comes
                drain();
            }
        }
    }

    /** The writer thread: writes what is waiting, group after group, until nothing is. */
    private void drain() {
        List<Pending<T>> group = List.of();
        try {
            while (true) {
                group = new ArrayList<>();
                synchronized (monitor) {
                    Pending<T> p;
                    while (group.size() < maxBatch && (p = waiting.poll()) != null) {
                        group.add(p);
                    }
                    if (group.isEmpty()) {
                        draining = false;
                        monitor.notifyAll();
                        return;
                    }
                }
                // an interrupt must not fail the commit (the pool refuses a connection to an interrupted thread)
                boolean interrupted = Thread.interrupted();
                try {
                    write(group);
                } catch (Error e) {
                    // out of memory or a bug in the writer: the group fails with it (rolled back), the writer goes on
                    LOG.error("Group commit of {} items failed", group.size(), e);
                    failAll(group, e);
                }
                tell(group);
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        } catch (Throwable t) {
            // anything else that escaped (an allocation that failed): the group is told, and a writer runs again for
            // whatever waits, so no item is left untold and no later item waits for a writer that is gone
            LOG.error("The group commit's writer failed; it starts again", t);
            failAll(group, t);
            tell(group);
            boolean again;
            synchronized (monitor) {
                draining = !waiting.isEmpty();
                again = draining;
                monitor.notifyAll();
            }
            if (again) {
                try {
                    writers.execute(this::drain);
                } catch (RejectedExecutionException | OutOfMemoryError e) {
                    drain();
                }
            }
        }
    }

    private static <T> void failAll(List<Pending<T>> group, Throwable cause) {
        for (Pending<T> p : group) {
            if (p.failure == null) {
                p.failure = new IllegalStateException("group commit failed: " + cause, cause);
            }
        }
    }

    /** Tells each item of the group its outcome, once; a callback that throws does not keep the others from theirs. */
    private static <T> void tell(List<Pending<T>> group) {
        for (Pending<T> p : group) {
            if (p.told) {
                continue;
            }
            p.told = true;
            try {
                p.done.accept(p.failure);
            } catch (RuntimeException | Error e) {
                LOG.error("The callback of an item after its group commit failed", e);
            }
        }
    }

    /**
     * Waits until every item handed in has been written and its callback has run, at most {@code timeout}; true
     * when they have. For a stop: called once no more items are handed in.
     */
    public boolean awaitIdle(Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        synchronized (monitor) {
            while (draining) {
                long left = end - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(monitor, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            return true;
        }
    }

    private void write(List<Pending<T>> group) {
        try {
            inOneTransaction(group.stream().map(p -> p.item).toList());
        } catch (RuntimeException groupFailed) {
            if (group.size() == 1 || Tx.isDatabaseUnavailable(groupFailed)) {
                // the database is down, or the commit's outcome unknown (its connection broke): the same again item
                // by item would wait for a connection once per item, or store a committed item a second time
                group.forEach(p -> p.failure = groupFailed);
            } else {
                // one item may be the cause: each again on its own, so only that one fails
                RuntimeException unavailable = null;
                for (Pending<T> p : group) {
                    if (unavailable != null) {
                        // the database went out of reach meanwhile: the rest would wait for a connection each
                        p.failure = unavailable;
                        continue;
                    }
                    try {
                        inOneTransaction(List.of(p.item));
                    } catch (RuntimeException e) {
                        p.failure = e;
                        if (Tx.isDatabaseUnavailable(e)) {
                            unavailable = e;
                        }
                    } catch (Error e) {
                        // this item's transaction was rolled back; the items committed before it stay committed
                        // (an Error escaping here would fail them all), those after it are still written
                        LOG.error("Group commit of an item failed", e);
                        p.failure = new IllegalStateException("group commit failed: " + e, e);
                    }
                }
            }
        }
        synchronized (monitor) {
            items += group.size();
        }
    }

    /** Writes the items in one transaction and counts its commit. */
    private void inOneTransaction(List<T> items) {
        Tx.run(ds, c -> {
            writer.write(c, items);
            return null;
        });
        synchronized (monitor) {
            commits++;
        }
    }

    /** Commits made and items written so far. */
    public Stats stats() {
        synchronized (monitor) {
            return new Stats(commits, items);
        }
    }
}
