package io.ordersync.db;

import javax.sql.DataSource;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Group commit: the writes of many threads in one transaction. A thread hands its item in and waits until it is
 * committed; the first thread to find no commit running writes every item waiting at that moment (up to
 * {@code maxBatch}) in one transaction, while the threads that arrive meanwhile queue up for the next one. Alone, a
 * thread commits its own item at once: no timer, no added latency. When a group's transaction fails, each of its
 * items is written again in a transaction of its own, so one bad item fails only its own thread.
 *
 * @param <T> what one thread writes (a sync's outcome)
 */
public final class GroupCommit<T> {

    /** Writes the items in the caller's transaction; the batch form of one item's write. */
    @FunctionalInterface
    public interface Writer<T> {
        void write(Connection c, List<T> items) throws Exception;
    }

    /** Commits and items per commit since the start (for the benchmarks and metrics). */
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
    private final Writer<T> writer;
    private final ConcurrentLinkedQueue<Pending<T>> waiting = new ConcurrentLinkedQueue<>();
    private final ReentrantLock committing = new ReentrantLock();
    private long commits;
    private long items;

    public GroupCommit(DataSource ds, int maxBatch, Writer<T> writer) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be at least 1");
        }
        this.ds = ds;
        this.maxBatch = maxBatch;
        this.writer = writer;
    }

    /** Writes the item, with whatever else is waiting, and returns once it is committed; throws its failure. */
    public void commit(T item) {
        Pending<T> mine = new Pending<>(item);
        waiting.add(mine);
        committing.lock();
        try {
            // an earlier leader may have written it meanwhile (it held the lock, so its writes are visible)
            while (!mine.done) {
                List<Pending<T>> group = new ArrayList<>();
                Pending<T> p;
                while (group.size() < maxBatch && (p = waiting.poll()) != null) {
                    group.add(p);
                }
                write(group);
            }
        } finally {
            committing.unlock();
        }
        if (mine.failure != null) {
            throw mine.failure;
        }
    }

    private void write(List<Pending<T>> group) {
        try {
            Tx.run(ds, c -> {
                writer.write(c, group.stream().map(p -> p.item).toList());
                return null;
            });
            commits++;
        } catch (RuntimeException groupFailed) {
            if (group.size() == 1) {
                group.get(0).failure = groupFailed;
            } else {
                // one item may be the cause: each again on its own, so only that one fails
                for (Pending<T> p : group) {
                    try {
                        Tx.run(ds, c -> {
                            writer.write(c, List.of(p.item));
                            return null;
                        });
                        commits++;
                    } catch (RuntimeException e) {
                        p.failure = e;
                    }
                }
            }
        }
        items += group.size();
        group.forEach(p -> p.done = true);
    }

    /** Commits made and items written so far. */
    public Stats stats() {
        committing.lock();
        try {
            return new Stats(commits, items);
        } finally {
            committing.unlock();
        }
    }
}
