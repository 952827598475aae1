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
        /** {@link #submit}: told the outcome on the thread that wrote the item; {@link #commit}: null. */
        final java.util.function.Consumer<RuntimeException> done;
        boolean finished;
        RuntimeException failure;

        Pending(T item, java.util.function.Consumer<RuntimeException> done) {
            this.item = item;
            this.done = done;
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
    /** A writer thread is started or under way for the submitted items ({@link #submit}). */
    private boolean draining;
    /**
     * The writer thread of {@link #submit}: one at most, started when items are handed in and none is under way,
     * ended when nothing is waiting (no thread is left behind when idle, nor after a stop).
     */
    private final java.util.concurrent.ThreadPoolExecutor writers = new java.util.concurrent.ThreadPoolExecutor(0, 1,
            1, java.util.concurrent.TimeUnit.SECONDS, new java.util.concurrent.LinkedBlockingQueue<>(), r -> {
        Thread t = new Thread(r, "ordersync-group-commit");
        t.setDaemon(true);
        return t;
    });
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(GroupCommit.class);
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
        Pending<T> mine = new Pending<>(item, null);
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
                    group.forEach(p -> p.finished = true);
                    monitor.notifyAll();
                }
            }
            if (group != null) {
                // submitted items of the group: their callbacks, outside the monitor
                tell(group);
                group = null;
            }
            synchronized (monitor) {
                while (!mine.finished && (running >= lanes || waiting.isEmpty())) {
                    try {
                        monitor.wait();
                    } catch (InterruptedException e) {
                        // the item is queued or being written: it must be waited for, the interrupt kept
                        interrupted = true;
                    }
                }
                if (mine.finished) {
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
                        p.finished = true;
                    }
                    running--;
                    monitor.notifyAll();
                }
                tell(group);
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

    /**
     * Hands the item in and returns at once, without waiting for the commit: {@code done} is called once the item is
     * committed (with null) or has failed (with its failure), on the thread that wrote it. A writer thread of this
     * group commit writes every item handed in, group after group, while items keep arriving; the items that arrive
     * during a commit go into the next. Nothing is lost in memory for long: {@link #awaitIdle} waits until every item
     * handed in has been written and told.
     */
    public void submit(T item, java.util.function.Consumer<RuntimeException> done) {
        java.util.Objects.requireNonNull(done, "done");
        boolean start;
        synchronized (monitor) {
            waiting.add(new Pending<>(item, done));
            start = !draining;
            draining = true;
        }
        if (start) {
            try {
                writers.execute(this::drain);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // no writer thread can be started (the JVM is out of threads): this thread writes them
                drain();
            }
        }
    }

    /** The writer thread: writes what is waiting, group after group, until nothing is. */
    private void drain() {
        while (true) {
            List<Pending<T>> group = new ArrayList<>();
            synchronized (monitor) {
                boolean interrupted = false;
                while (running >= lanes && !waiting.isEmpty()) {
                    try {
                        monitor.wait();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
                if (waiting.isEmpty()) {
                    draining = false;
                    monitor.notifyAll();
                    if (interrupted) {
                        Thread.currentThread().interrupt();
                    }
                    return;
                }
                Pending<T> p;
                while (group.size() < maxBatch && (p = waiting.poll()) != null) {
                    group.add(p);
                }
                running++;
            }
            // an interrupt must not fail the commit (the pool refuses a connection to an interrupted thread)
            boolean interrupted = Thread.interrupted();
            try {
                write(group);
            } catch (Error e) {
                for (Pending<T> p : group) {
                    if (p.failure == null) {
                        p.failure = new IllegalStateException("group commit failed: " + e, e);
                    }
                }
                LOG.error("Group commit failed; its {} items are told so", group.size(), e);
            } finally {
                synchronized (monitor) {
                    running--;
                    group.forEach(p -> p.finished = true);
                    monitor.notifyAll();
                }
            }
            tell(group);
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Calls the callbacks of the group's submitted items; one that throws does not keep the others from theirs. */
    private static <T> void tell(List<Pending<T>> group) {
        for (Pending<T> p : group) {
            if (p.done != null) {
                try {
                    p.done.accept(p.failure);
                } catch (RuntimeException | Error e) {
                    LOG.error("An item's callback after its group commit failed", e);
                }
            }
        }
    }

    /**
     * Waits until every item handed in has been written and its callback has run, at most {@code timeout}; true
     * when it has. For a shutdown: called once no more items are handed in.
     */
    public boolean awaitIdle(java.time.Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        synchronized (monitor) {
            while (draining || running > 0 || !waiting.isEmpty()) {
                long left = end - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(monitor, left);
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
