package io.ordersync.queue;

import io.ordersync.db.Tx;
import io.ordersync.delivery.DeferredDeliveryException;
import io.ordersync.delivery.DeliveryException;
import io.ordersync.delivery.DeliverySteps;
import io.ordersync.delivery.Sync;
import io.ordersync.mapping.MappingConfigException;
import io.ordersync.mapping.Provider;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.ops.SyncMetrics;
import io.ordersync.order.OrderStore;
import org.apache.camel.Exchange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.time.Instant;
import java.util.List;

/** Stores the outcome of a sync: success (results, log, row deleted) or a classified failure. */
public final class SyncOutcome {

    private static final Logger LOG = LoggerFactory.getLogger(SyncOutcome.class);

    private final DataSource ds;
    private final SyncQueue queue;
    private final OrderStore store;
    private final ProviderRegistry providers;
    private final Dispatcher dispatcher;
    private final SyncMetrics metrics;

    /** The database's time, read here (DatabaseClock): every time the queue stores or compares. */
    private final java.time.Clock clock;

    /** {@code globalSecrets}: secrets of ordersync itself (admin and intake tokens, passwords), redacted from every stored failure. */
    public SyncOutcome(DataSource ds, SyncQueue queue, OrderStore store, ProviderRegistry providers, Dispatcher dispatcher,
                       SyncMetrics metrics, java.util.Collection<String> globalSecrets,
                       java.util.function.Supplier<java.util.Set<String>> issuedSecrets, io.ordersync.order.AttemptLog attempts,
                       java.time.Clock clock) {
        this.clock = clock;
        this.attemptLog = attempts;
        this.issuedSecrets = issuedSecrets;
        java.util.Set<String> secrets = new java.util.HashSet<>();
        for (String v : globalSecrets) {
            if (v != null && !v.isBlank()) {
                secrets.add(v);
            }
        }
        this.globalSecrets = java.util.Set.copyOf(secrets);
        this.metrics = metrics;
        this.ds = ds;
        this.queue = queue;
        this.store = store;
        this.providers = providers;
        this.dispatcher = dispatcher;
        this.successes = new io.ordersync.db.GroupCommit<>(ds, GROUP_COMMIT_MAX, this::store);
    }

    private final io.ordersync.db.GroupCommit<Done> successes;

    private final io.ordersync.order.AttemptLog attemptLog;

    /** The tries of this sync (DeliverySteps collects them), or none. */
    @SuppressWarnings("unchecked")
    private static List<io.ordersync.order.AttemptLog.Attempt> tries(Exchange exchange) {
        List<io.ordersync.order.AttemptLog.Attempt> list = exchange.getProperty(DeliverySteps.ATTEMPTS, List.class);
        if (list == null) {
            return List.of();
        }
        synchronized (list) {
            return List.copyOf(list);
        }
    }

    /** Every secret that must not be stored: ordersync's own, tokens handed out, the provider's credentials. */
    private java.util.Set<String> secrets(Provider p) {
        java.util.Set<String> secrets = new java.util.HashSet<>(globalSecrets);
        secrets.addAll(issuedSecrets.get());
        if (p != null) {
            secrets.addAll(p.secretValues());
        }
        return secrets;
    }

    /** A success as its worker prepared it (tries redacted, log line written), for the group commit to store. */
    private record Done(QueueEntry entry, io.ordersync.order.AttemptLog.Tries tries, List<OrderStore.Result> results,
                        OrderStore.LogEntry log) {
    }

    /** When the handling of a failed success last found the database unreachable (System.nanoTime). */
    private volatile long databaseDownAt = System.nanoTime() - 2 * DATABASE_DOWN_NANOS;
    private static final long DATABASE_DOWN_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(5);

    /** Most successes committed in one transaction. */
    static final int GROUP_COMMIT_MAX = 64;

    /**
     * Success: results stored, success logged unless every object was "nothing to do", row deleted — committed
     * together with the successes other workers finish meanwhile (group commit: one transaction and four batched
     * statements for the group instead of one transaction and four statements per order). Returns as soon as the
     * outcome is handed to the group commit: the worker takes its next row while the outcome is written (it waited
     * for the commit before, half of its time on PostgreSQL; BENCHMARKS.md, issue 18 round twenty-two). Until the
     * commit the row stays claimed by this instance and counts as in flight (no sibling row of the order is claimed,
     * nothing more is claimed than the provider's capacity); a kill before the commit leaves the row to its lease,
     * as a kill during the sync does. A commit that fails is handled as the sync's failure would have been.
     */
    public void success(Exchange exchange) {
        QueueEntry e = exchange.getProperty(DeliverySteps.ENTRY, QueueEntry.class);
        Sync sync = exchange.getProperty(Sync.PROPERTY, Sync.class);
        List<OrderStore.Result> results = sync.written();
        List<io.ordersync.order.AttemptLog.Attempt> tries = tries(exchange);
        tries.forEach(t -> metrics.history().latency(e.provider(), t.latencyMs()));
        java.util.Set<String> secrets = tries.isEmpty() ? java.util.Set.of() : secrets(providers.active(e.provider()));
        if (!tries.isEmpty()) {
            // the version that sent the requests (a file edited meanwhile may name other credentials)
            secrets.addAll(sync.provider().secretValues());
        }
        Done done = new Done(e, attemptLog.prepare(e.eventSlug(), e.orderCode(), e.provider(), tries, secrets), results,
                successLog(e, sync.passesFilter(), sync.requestSent(), sync.passesFilter() ? sync.results() : results));
        dispatcher.storing(e);
        successes.submit(done, failure -> {
            if (failure != null) {
                // as if the sync had failed with it: classified (our database unavailable: due again soon, no
                // attempt counted), stored if the database takes it, logged. These run one after the other on the
                // group commit's thread: while the database is still unreachable, the rest of the group are not
                // each made to wait for a connection (3 s) to learn the same
                boolean unreachable = Tx.isDatabaseUnavailable(failure);
                boolean stillDown = unreachable && System.nanoTime() - databaseDownAt < DATABASE_DOWN_NANOS;
                try {
                    if (!stillDown) {
                        failure(e, sync, tries, failure);
                        return;
                    }
                } catch (RuntimeException notStored) {
                    if (Tx.isDatabaseUnavailable(notStored)) {
                        databaseDownAt = System.nanoTime();
                        unreachable = true;
                    }
                }
                if (unreachable) {
                    dispatcher.outcomeNotStored(e);
                }
                dispatcher.finished(e);
                LOG.warn("The outcome of the sync of {}/{} to {} could not be stored ({}); its queue row {}",
                        e.eventSlug(), e.orderCode(), e.provider(), failure.getMessage(), unreachable
                                ? "is handed back once the database answers again" : "waits for its lease");
                return;
            }
            dispatcher.finished(e);
            if (sync.passesFilter()) {
                metrics.synced(e.provider(), "success");
                metrics.delivered(e.provider(), e.triggeredAt());
            } else {
                metrics.synced(e.provider(), "filtered");
            }
        });
    }

    /**
     * Waits until every success handed to the group commit is committed (or failed and handled), at most {@code
     * timeout}; true when they are. At a stop, after the routes and before the dispatcher hands back its claims.
     */
    public boolean awaitCommitted(java.time.Duration timeout) {
        return successes.awaitIdle(timeout);
    }

    /**
     * Stores the results of the objects a failed sync had written, behind a savepoint: a result the database refuses
     * (a value it cannot hold) must not cost the failure its record, which would leave the row to its lease.
     */
    private void writtenBeforeFailure(java.sql.Connection c, QueueEntry e, List<OrderStore.Result> written) throws java.sql.SQLException {
        java.sql.Savepoint sp = c.setSavepoint();
        try {
            store.saveResults(c, e.eventSlug(), e.orderCode(), e.provider(), written);
        } catch (java.sql.SQLException | RuntimeException refused) {
            try {
                c.rollback(sp);
            } catch (java.sql.SQLException rollbackFailed) {
                refused.addSuppressed(rollbackFailed);
                throw refused;
            }
            LOG.warn("The results of the objects the failed sync of {}/{} to {} had written were not stored: {}", e.eventSlug(),
                    e.orderCode(), e.provider(), printable(refused.getMessage()));
        }
    }

    /** A message as it may be stored and logged: no NUL (PostgreSQL refuses it in text) or other control character. */
    static String printable(String message) {
        return message == null ? null : message.replaceAll("[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]", "?");
    }

    /** The success line of the order's log, or null when every object was "nothing to do" and nobody asked. */
    private OrderStore.LogEntry successLog(QueueEntry e, boolean passesFilter, boolean requestSent,
                                                  List<OrderStore.Result> results) {
        if (!passesFilter) {
            return new OrderStore.LogEntry(e.eventSlug(), e.orderCode(), e.provider(), "dropped", (requestSent
                    ? "stopped: the order no longer passes the provider's filter (checked again at every try); an earlier"
                    + " try of this sync had already sent requests (its tries are in the log)" + (results.isEmpty() ? ""
                    : ", the " + results.size() + " object" + (results.size() == 1 ? "" : "s") + " it wrote recorded") + "; queue entry ("
                    : "not sent: the order does not pass the provider's filter (checked again when synced); queue entry (")
                    + e.triggeredBy() + ") dropped (instance " + e.claimedBy() + ")", clock.instant());
        }
        long changed = 0;
        StringBuilder msg = new StringBuilder();
        for (OrderStore.Result r : results) {
            if (!"nothing_to_do".equals(r.action())) {
                changed++;
            }
            msg.append(msg.length() == 0 ? "" : ", ").append(r.remoteType()).append(' ').append(r.idValue())
                    .append(": ").append(r.action());
        }
        Instant now = clock.instant();
        if (changed > 0 || results.isEmpty()) {
            return new OrderStore.LogEntry(e.eventSlug(), e.orderCode(), e.provider(), "success",
                    (results.isEmpty() ? "synced, no objects to send" : "synced: " + msg) + " (instance " + e.claimedBy() + ")", now);
        } else if ("manual".equals(e.triggeredBy())) {
            // an operator asked: say that it ran, and that the target already had everything
            return new OrderStore.LogEntry(e.eventSlug(), e.orderCode(), e.provider(), "success",
                    "synced on request, nothing changed: the target already has every object as mapped (" + msg
                            + "; instance " + e.claimedBy() + ")", now);
        }
        return null;
    }

    /**
     * Stores a group of successes in the caller's transaction: four batched statements whatever its size. The tries
     * go first, without a savepoint: tries the database refuses are rolled back with nothing else written yet, and
     * stored after the outcomes sync by sync, each behind a savepoint (they must not cost an outcome).
     */
    private void store(java.sql.Connection c, List<Done> group) throws java.sql.SQLException {
        boolean triesStored = attemptLog.recordFirst(c, group.stream().map(Done::tries).toList());
        boolean[] ours = queue.complete(c, group.stream().map(Done::entry).toList());
        List<Done> kept = new java.util.ArrayList<>(group.size());
        for (int i = 0; i < ours.length; i++) {
            Done d = group.get(i);
            if (!ours[i]) {
                SyncQueue.logLost(d.entry());
                if (OrderStore.rows(c, "SELECT 1 AS x FROM order_snapshot WHERE event_slug = ? AND order_code = ?",
                        d.entry().eventSlug(), d.entry().orderCode()).isEmpty()) {
                    // the order was erased while this sync ran past its lease: nothing of it is stored again, nor
                    // the tries just stored (the erasure removed all others of the order)
                    if (triesStored) {
                        attemptLog.forget(c, d.entry().eventSlug(), d.entry().orderCode());
                    }
                    continue;
                }
            }
            kept.add(d);
        }
        if (!triesStored) {
            // the group's insert was just refused: each sync's tries on their own, so only the refused ones are lost
            for (Done d : kept) {
                attemptLog.record(c, List.of(d.tries()));
            }
        }
        store.saveResults(c, kept.stream().map(d -> new OrderStore.ResultsOf(d.entry().eventSlug(), d.entry().orderCode(),
                d.entry().provider(), d.results())).toList());
        store.log(c, kept.stream().map(Done::log).filter(java.util.Objects::nonNull).toList());
    }

    /** Commits made for successes and successes stored (group commit: fewer commits than successes under load). */
    public io.ordersync.db.GroupCommit.Stats successCommits() {
        return successes.stats();
    }

    /** Failure: classified into recoverable (retry later) or a parked mode, stored and logged. */
    public void failure(Exchange exchange) {
        QueueEntry taken = exchange.getProperty(DeliverySteps.ENTRY, QueueEntry.class);
        if (taken == null && exchange.getIn().getBody() instanceof QueueEntry first) {
            // failed before the route's first step took the row (e.g. while stopping)
            taken = first;
        }
        QueueEntry e = taken;
        Throwable ex = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        if (ex == null) {
            ex = exchange.getException();
        }
        if (e == null) {
            LOG.error("Failure without a queue entry", ex);
            return;
        }
        List<io.ordersync.order.AttemptLog.Attempt> tries = tries(exchange);
        tries.forEach(t -> metrics.history().latency(e.provider(), t.latencyMs()));
        failure(e, exchange.getProperty(Sync.PROPERTY, Sync.class), tries, ex);
    }

    /** The failure of the sync of row {@code e} ({@code sync} null when it failed before it began), stored and logged. */
    private void failure(QueueEntry e, Sync sync, List<io.ordersync.order.AttemptLog.Attempt> tries, Throwable ex) {
        Provider p = providers.active(e.provider());
        int maxAttempts = p == null ? 5 : p.maxAttempts();
        Instant now = clock.instant();
        FailureMode park;
        int attempts = e.failedAttempts();
        Instant next = now;
        java.util.Set<String> secrets = secrets(p);
        if (sync != null) {
            secrets.addAll(sync.provider().secretValues());
        }
        // a database error may quote the values it refused, a NUL among them, which PostgreSQL refuses in last_error too
        String message = printable(io.ordersync.mapping.Secrets.redact(ex == null ? "unknown error" : describe(ex), secrets));
        boolean sent = sync != null && sync.requestSent();
        if (ex instanceof DeferredDeliveryException dd && !dd.requestSent() && !sent) {
            // the provider was paused (open breaker, Retry-After) before anything was sent: no attempt counted.
            // The row is due at once: the dispatcher claims nothing for a paused provider, so the row goes when the
            // pause ends (the breaker's with this process; a Retry-After's is shared and kept in provider_pause)
            park = null;
            next = now;
        } else if (ex instanceof DeliveryException de && de.kind() == DeliveryException.Kind.RECOVERABLE) {
            attempts++;
            if (attempts >= maxAttempts) {
                park = FailureMode.EXCEEDED;
            } else {
                park = null;
                next = now.plus(p == null ? java.time.Duration.ofSeconds(5) : p.backoffAfter(attempts));
                // a pause this instance's breaker set (no request in this try) is not stored: it ends with the process
                boolean heldBack = de instanceof DeferredDeliveryException dd && !dd.requestSent();
                if (!heldBack && de.notBefore() != null && de.notBefore().isAfter(next)) {
                    next = de.notBefore();
                }
            }
        } else if (ex instanceof DeliveryException) {
            park = FailureMode.PERMANENT;
        } else if (ex instanceof MappingConfigException) {
            park = FailureMode.CONFIG;
        } else if (Tx.isDatabaseUnavailable(ex)) {
            // our own database went away (restart, failover): not the target's fault, no attempt counted
            park = null;
            next = now.plus(DATABASE_RETRY);
        } else {
            park = FailureMode.INTERNAL;
            // the message (which may quote a target's answer) is logged redacted; the stack trace without it
            LOG.error("Unexpected error syncing {}/{} to {}: {}", e.eventSlug(), e.orderCode(), e.provider(),
                    io.ordersync.mapping.Secrets.redact(describe(ex), secrets));
            if (LOG.isDebugEnabled()) {
                LOG.debug("Stack trace of the unexpected error", ex);
            }
        }
        int finalAttempts = attempts;
        Instant finalNext = next;
        String logLine = park == null && attempts == e.failedAttempts() && ex instanceof DeferredDeliveryException
                ? "Provider paused, no request sent; the row waits until the provider resumes: " + message
                : park == null && attempts == e.failedAttempts()
                ? "Database unavailable, will try at " + next + ": " + message
                : park == null
                ? "Temporary error, attempt " + attempts + " of " + maxAttempts + " failed, next try at " + next + ": " + message
                : park.description() + ": " + message;
        try {
            Tx.run(ds, c -> {
                if (queue.release(c, e, finalAttempts, finalNext, park, message)) {
                    attemptLog.record(c, e.eventSlug(), e.orderCode(), e.provider(), tries, secrets);
                    if (sync != null && !sync.written().isEmpty()) {
                        // the objects written before the failure exist at the target: recorded, as pretix stores an
                        // object's OrderSyncResult right after writing it (sync_object)
                        writtenBeforeFailure(c, e, sync.written());
                    }
                    store.log(c, e.eventSlug(), e.orderCode(), e.provider(), "failure", logLine, now);
                } else {
                    SyncQueue.logLost(e);
                }
                return null;
            });
        } catch (RuntimeException notStored) {
            if (Tx.isDatabaseUnavailable(notStored)) {
                dispatcher.outcomeNotStored(e);
            }
            throw notStored;
        } finally {
            dispatcher.finished(e);
        }
        metrics.synced(e.provider(), park == null ? "retry" : park.code());
        LOG.warn("Sync of {}/{} to {} failed: {}", e.eventSlug(), e.orderCode(), e.provider(), logLine);
    }

    private final java.util.Set<String> globalSecrets;
    /** Secrets handed out while running (OAuth2 tokens): redacted like the configured ones. */
    private final java.util.function.Supplier<java.util.Set<String>> issuedSecrets;

    /** How long a sync that failed on ordersync's own database waits before it is tried again. */
    static final java.time.Duration DATABASE_RETRY = java.time.Duration.ofSeconds(2);

    private static String describe(Throwable ex) {
        String m = ex.getMessage();
        if (ex instanceof DeliveryException || ex instanceof MappingConfigException) {
            return m;
        }
        return ex.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }
}
