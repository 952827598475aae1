package io.ordersync.db;

import javax.sql.DataSource;
import java.sql.Connection;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Group commit: the writes of many threads in one transaction. A thread hands its item in and waits until it is
 * committed; a thread that finds a lane free writes every item waiting at that moment (up to {@code maxBatch}) in
 * one transaction, while the threads that arrive when every lane is busy queue up for the next one. Alone, a
 * thread commits its own item at once: no timer, no added latency. When a group's transaction fails, each of its
 * items is written again in a transaction of its own, so one bad item fails only its own thread — unless the
 * database is unavailable (or the commit's outcome unknown): then every item fails with it at once.
 *
 * @param <T> what one thread writes (a sync's outcome)
 */
public final class GroupCommit<T> {

    /** Writes the items in the caller's transaction; the batch form of one item's write. */
    @FunctionalInterface
    public interface Writer<T> {
        void write(Connection c, List<T> items) throws Exception;
    }

    /** Commits made and items written since the start. */
    public record Stats(long commits, long items) {
    }

    private static final class Pending<T> {
        final T item;
        boolean done;
        RuntimeException failure;

        Pending(T item) {
            this.item = item;
        }
    }

    private final DataSource ds;
    private final int maxBatch;
    private final int lanes;
    private final Writer<T> writer;
    private final ArrayDeque<Pending<T>> waiting = new ArrayDeque<>();
    /** Guards waiting, running, the items' done flags and the counters. */
    private final Object monitor = new Object();
    private int running;
    private long commits;
    private long items;

    /** One transaction at a time ({@code lanes} 1). */
    public GroupCommit(DataSource ds, int maxBatch, Writer<T> writer) {
        this(ds, maxBatch, 1, writer);
    }

    /**
     * {@code lanes}: transactions that may run at the same time. With more than one, a thread that finds every
     * lane busy waits and then commits what queued up meanwhile; a database whose commit waits for the disk
     * (PostgreSQL) keeps more than one commit under way.
     */
    public GroupCommit(DataSource ds, int maxBatch, int lanes, Writer<T> writer) {
        if (maxBatch < 1 || lanes < 1) {
            throw new IllegalArgumentException("maxBatch and lanes must be at least 1");
        }
        this.ds = ds;
        this.maxBatch = maxBatch;
        this.lanes = lanes;
        this.writer = writer;
    }

    /** Writes the item, with whatever else is waiting, and returns once it is committed; throws its failure. */
    public void commit(T item) {
        Pending<T> mine = new Pending<>(item);
        List<Pending<T>> group = null;
        boolean interrupted = false;
        synchronized (monitor) {
            waiting.add(mine);
        }
        while (true) {
            synchronized (monitor) {
                if (group != null) {
                    // the group this thread wrote: done, a lane free again
                    running--;
                    group.forEach(p -> p.done = true);
                    monitor.notifyAll();
                    group = null;
                }
                while (!mine.done && (running >= lanes || waiting.isEmpty())) {
                    try {
                        monitor.wait();
                    } catch (InterruptedException e) {
                        // the item is queued or being written: it must be waited for, the interrupt kept
                        interrupted = true;
                    }
                }
                if (mine.done) {
                    break;
                }
                group = new ArrayList<>();
                Pending<T> p;
                while (group.size() < maxBatch && (p = waiting.poll()) != null) {
                    group.add(p);
                }
                running++;
            }
            // the group holds other threads' items: an interrupt meant for this thread must not fail their
            // commits (the pool refuses a connection to an interrupted thread); it is kept and restored below
            interrupted |= Thread.interrupted();
            try {
                write(group);
            } catch (Error e) {
                // out of memory or the like: every item of the group fails with it, and the lane is freed, before
                // the error goes on (the other threads of the group would wait forever otherwise)
                synchronized (monitor) {
                    for (Pending<T> p : group) {
                        if (p.failure == null) {
                            p.failure = new IllegalStateException("group commit failed: " + e, e);
                        }
                        p.done = true;
                    }
                    running--;
                    monitor.notifyAll();
                }
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
                throw e;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (mine.failure != null) {
            throw mine.failure;
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
                for (Pending<T> p : group) {
                    try {
                        inOneTransaction(List.of(p.item));
                    } catch (RuntimeException e) {
                        p.failure = e;
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
