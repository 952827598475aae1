package io.ordersync.queue;

import io.ordersync.db.Tx;
import io.ordersync.delivery.ProviderGate;
import io.ordersync.mapping.Provider;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.mapping.Subscription;
import io.ordersync.order.OrderStore;
import org.apache.camel.support.service.ServiceSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/**
 * Claims due queue rows for the dispatch route, keeps each provider's in-flight count within its
 * capacity, parks rows of broken providers, drops rows of removed ones, reaps expired leases, and
 * on shutdown hands back the rows it claimed but did not start.
 */
public final class Dispatcher extends ServiceSupport {

    private static final Logger LOG = LoggerFactory.getLogger(Dispatcher.class);

    private final DataSource ds;
    private final SyncQueue queue;
    private final OrderStore store;
    private final ProviderRegistry providers;
    private final ProviderGate gate;
    private final String instanceId;
    private final Duration lease;
    private final int batchSize;
    private final Map<Long, QueueEntry> claimed = new ConcurrentHashMap<>();
    private final Map<String, Integer> inFlight = new ConcurrentHashMap<>();
    /** The order snapshot each claimed row's sync starts from, read by its claim; taken when the sync begins. */
    private final Map<Long, String> snapshots = new ConcurrentHashMap<>();
    private final Signals signals;
    private final ProviderPresence presence;
    /**
     * When this instance next says which providers it runs, and the other deadlines below: {@link System#nanoTime}, so
     * that a step of any wall clock (this instance's, or the database's as the queue reads it) neither stalls nor rushes
     * them. A forward step of the instance's clock once kept an instance from announcing for as long as the step.
     */
    private long nextAnnounce = System.nanoTime();
    /**
     * Since when this instance's announces and claims have succeeded without a break (null after a failure; at a
     * start without trouble the others' entries are as fresh as ever, so it starts trusted). It drops or parks other
     * providers' rows only once this is a whole presence lifetime ago: after a database outage, the instances that
     * run those providers need that long to be seen again, and their old entries ran out meanwhile. A database that
     * stalls without failing counts as an outage too: see {@link #lastAnnounceOk}.
     */
    private volatile Long announcingSince;

    /**
     * When this instance's last announce succeeded (System.nanoTime), null before the first. Announces are due every
     * third of the presence's lifetime; a gap of more than half a lifetime between two successes means that the
     * database (or this process) stalled, and the others may have been held as long: their entries can have run out
     * although they still run their providers. The guard then starts over, as after a failure.
     */
    private volatile Long lastAnnounceOk;

    /**
     * What the dispatcher asks the rest of ordersync, without knowing it: whether a provider is paused (its
     * circuit breaker is open: nothing is claimed for it), probing (half-open: one row at a time, as the probe),
     * whether its route runs (rows are not claimed for a provider whose route is not up yet), and how to run a
     * dispatch now, between timer ticks (the {@code dispatch-wake} route).
     */
    public record Signals(Predicate<String> paused, Predicate<String> probing, Predicate<String> routeReady, Runnable waker) {
    }

    /** The database's time, read here (DatabaseClock): every time the queue stores or compares. */
    private final java.time.Clock clock;

    public Dispatcher(DataSource ds, SyncQueue queue, OrderStore store, ProviderRegistry providers, ProviderGate gate,
                      String instanceId, Duration lease, int batchSize, ProviderPresence presence, Signals signals,
                      java.time.Clock clock) {
        this.clock = clock;
        this.signals = signals;
        this.presence = presence;
        // a start without trouble: trusted at once (see announcingSince)
        this.announcingSince = System.nanoTime() - presence.ttl().toNanos();
        this.ds = ds;
        this.queue = queue;
        this.store = store;
        this.providers = providers;
        this.gate = gate;
        this.instanceId = instanceId;
        this.lease = lease;
        this.batchSize = batchSize;
    }

    /**
     * Asks for a dispatch now instead of at the next tick: after new rows were committed, or when a provider's
     * batch has been taken up by its workers. Wake-ups that come while one is pending are merged.
     */
    public void wake() {
        if (isRunAllowed()) {
            signals.waker().run();
        }
    }

    /**
     * After new rows were committed: wakes the dispatch only if some provider could take a whole batch now;
     * under load the providers are busy and {@link #finished} wakes it when a batch has been taken up, so the
     * claims stay batched instead of one per accepted event.
     */
    public void newRows() {
        for (Provider p : providers.active()) {
            if (inFlight.getOrDefault(p.identifier(), 0) <= p.concurrency()) {
                wake();
                return;
            }
        }
    }

    private static final Duration OTHERS_SCAN_PERIOD = Duration.ofSeconds(1);
    private long nextOthersScan = System.nanoTime();

    /** Claims the next batch of due rows; providers at capacity, paused by Retry-After or without a running route are skipped. */
    public synchronized List<QueueEntry> claim() {
        if (!isRunAllowed() || System.nanoTime() - claimsWaitUntil < 0) {
            return List.of();
        }
        try {
            return claimDue();
        } catch (RuntimeException e) {
            // the database failed: the others' entries may run out before this instance sees them again
            announcingSince = null;
            if (io.ordersync.db.Tx.isDatabaseUnavailable(e)) {
                // out of reach, or taking no writes (read-only after a failover): one line of a constant pattern, which
                // the log's repeat filter folds, and a second's pause. Thrown, it was an ERROR with the exchange's id
                // and history from Camel at every tick of the timer, 20 a second (a review)
                claimsWaitUntil = System.nanoTime() + CLAIM_PAUSE_WHILE_UNAVAILABLE.toNanos();
                LOG.warn("The database is out of reach or takes no writes; claims wait: {}", e.getMessage());
                return List.of();
            }
            throw e;
        }
    }

    /** How long claims wait after the database was out of reach. */
    private static final Duration CLAIM_PAUSE_WHILE_UNAVAILABLE = Duration.ofSeconds(1);
    private long claimsWaitUntil = System.nanoTime();

    private List<QueueEntry> claimDue() {
        Instant now = clock.instant();
        long mono = System.nanoTime();
        if (!unsettled.isEmpty()) {
            handBackUnsettled(now, false);
        }
        if (mono - nextOthersRead >= 0) {
            readOthers(mono);
        }
        if (mono - nextPausesRead >= 0) {
            nextPausesRead = mono + OTHERS_READ_PERIOD.toNanos();
            try {
                gate.refresh(now);
            } catch (RuntimeException e) {
                // this process keeps honouring the pauses it knows; the next read tries again
                LOG.debug("Could not share or read the Retry-After pauses: {}", e.getMessage());
                ownAccessFailed(e);
            }
        }
        Set<String> active = new HashSet<>();
        List<QueueEntry> rows = new ArrayList<>();
        RuntimeException failure = null;
        boolean unreachable = false;
        for (Provider p : providers.active()) {
            active.add(p.identifier());
            int free = capacity(p) - inFlight.getOrDefault(p.identifier(), 0);
            if (signals.probing().test(p.identifier())) {
                // a half-open breaker lets one probe through: one row at a time, none while the probe is out
                free = Math.min(free, 1 - inFlight.getOrDefault(p.identifier(), 0));
            }
            if (free <= 0 || gate.pausedUntil(p.identifier(), now) != null
                    || !signals.routeReady().test(p.identifier()) || signals.paused().test(p.identifier())) {
                continue;
            }
            // never more than the provider can start soon: a row's lease runs from its claim, also while it waits
            try {
                rows.addAll(queue.claim(instanceId, lease, Math.min(batchSize, free), Set.of(), p.identifier(), now, snapshots));
            } catch (RuntimeException e) {
                // the rows already claimed for other providers are committed: they are dispatched below, not left
                // to wait for their lease. The other providers' claims are still tried, unless the database is
                // out of reach (each would wait for a connection in vain)
                failure = failure == null ? e : failure;
                if (io.ordersync.db.Tx.isDatabaseUnavailable(e)) {
                    unreachable = true;
                    break;
                }
            }
        }
        // one provider's claims failing (a statement the database refuses) is no reason to stop saying which
        // providers this instance runs: the others would take its providers' rows for gone ones
        if (!unreachable && mono - nextAnnounce >= 0) {
            announce(active, mono);
        }
        // rows of providers without a working definition (broken file, removed) are parked or dropped downstream;
        // asked for by provider, so that a long queue of working providers' rows is not scanned to find them.
        // They need no low latency: looked for at most once a second, not on every claim (3 % of the CPU at
        // a hundred orders a second)
        boolean seesOthers = !unreachable && trustsOthers();
        if (seesOthers && mono - nextOthersScan >= 0) {
            nextOthersScan = mono + OTHERS_SCAN_PERIOD.toNanos();
            Set<String> elsewhere = null;
            try {
                for (String other : queue.waitingProviders()) {
                    if (!active.contains(other)) {
                        if (elsewhere == null) {
                            elsewhere = presence.runElsewhere();
                        }
                        // another instance runs it (a rolling deploy: this one lacks the new file, or has a broken
                        // version of it): its rows are that instance's to sync, not this one's to drop or park
                        if (!elsewhere.contains(other)) {
                            rows.addAll(queue.claim(instanceId, lease, batchSize, Set.of(), other, now));
                        }
                    }
                }
            } catch (RuntimeException e) {
                failure = failure == null ? e : failure;
                unreachable |= io.ordersync.db.Tx.isDatabaseUnavailable(e);
            }
        }
        if (failure != null) {
            if (unreachable && rows.isEmpty()) {
                throw failure; // the database is out of reach: claim() says so, and trusts the others' word less
            }
            if (unreachable) {
                announcingSince = null;
            }
            // a constant message: repeated every tick while the failure lasts, the log's repeat filter folds it
            LOG.warn("A claim failed ({}); the {} rows claimed for other providers are dispatched", failure.getMessage(), rows.size());
        }
        List<QueueEntry> out = new ArrayList<>(rows.size());
        for (QueueEntry e : rows) {
            claimed.put(e.id(), e);
            if (e.claimToken() != null) {
                openClaims.add(e.claimToken());
            }
            inFlight.merge(e.provider(), 1, Integer::sum);
            out.add(e);
        }
        return out;
    }

    /**
     * Tells the other instances which providers this one runs, now and then at a third of the presence's lifetime.
     * Called by the claims, and when the providers change (so that rows this instance queues for a provider it
     * has just got are not dropped by an instance that does not have it yet).
     */
    public synchronized void announce() {
        Set<String> active = new HashSet<>();
        providers.active().forEach(p -> active.add(p.identifier()));
        announce(active, System.nanoTime());
    }

    /**
     * Whether this instance may take the others' word about which providers run elsewhere: its announces have
     * worked without a break for a presence lifetime, the last one less than half a lifetime ago.
     */
    boolean trustsOthers() {
        Long since = announcingSince;
        Long ok = lastAnnounceOk;
        long now = System.nanoTime();
        return since != null && ok != null && now - since >= presence.ttl().toNanos()
                && now - ok <= presence.ttl().toNanos() / 2;
    }

    /** The last announce failed (its warning is said once per failure spell). */
    private boolean announceFailing;

    /**
     * Any of this instance's database accesses that found the database out of reach: the others' entries may run out
     * before it sees them again, so their word is trusted again only a presence lifetime after an announce works.
     */
    private void ownAccessFailed(RuntimeException e) {
        if (Tx.isDatabaseUnavailable(e)) {
            announcingSince = null;
        }
    }

    private void announce(Set<String> active, long mono) {
        try {
            Map<String, String> subscriptions = new java.util.LinkedHashMap<>();
            for (Provider p : providers.active()) {
                if (active.contains(p.identifier())) {
                    subscriptions.put(p.identifier(), announced.computeIfAbsent(p, Dispatcher::subscription).orElse(null));
                }
            }
            announced.keySet().removeIf(p -> !subscriptions.containsKey(p.identifier()) || providers.active(p.identifier()) != p);
            presence.announce(subscriptions);
            nextAnnounce = mono + presence.ttl().dividedBy(3).toNanos();
            announceFailing = false;
            long ok = System.nanoTime();
            Long previous = lastAnnounceOk;
            lastAnnounceOk = ok;
            if (announcingSince != null && previous != null && ok - previous > presence.ttl().toNanos() / 2) {
                // the database answered, but after a stall as long as this: the others' word waits a lifetime again
                announcingSince = ok;
                LOG.warn("This instance's announces were {} ms apart (the database or this process stalled); rows of "
                        + "providers it does not run are left alone for {}", (ok - previous) / 1_000_000, presence.ttl());
            }
            if (announcingSince == null) {
                // the time of the success, not of the tick's start: while the database is out of reach a tick spends
                // a connection timeout on each of its reads before this announce, and an announce that got through
                // at the end of such a tick shortened the guard by as much (an attack: rows dropped 1.7 s after the
                // database was back, with an 8 s presence lifetime)
                announcingSince = System.nanoTime();
            }
        } catch (RuntimeException e) {
            // tried again at the next claim; until announces have worked for a whole lifetime again, no other
            // provider's row is dropped or parked (see announcingSince)
            if (!announceFailing) {
                announceFailing = true;
                LOG.warn("Could not tell the other instances which providers this one runs ({}); rows of providers it "
                        + "does not run are left alone until it can again, for {}", e.getMessage(), presence.ttl());
            }
            announcingSince = null;
        }
    }

    /** Each running provider's subscription as announced, written once per version of its file. */
    private final Map<Provider, java.util.Optional<String>> announced = new java.util.IdentityHashMap<>();

    private static java.util.Optional<String> subscription(Provider p) {
        String json = Subscription.announce(p);
        if (json == null) {
            LOG.warn("Provider {}: its triggers and filter are not announced to the other instances (longer than {} "
                    + "characters, or a filter value that is one of its credentials); an instance without its file queues "
                    + "nothing for it", p.identifier(), Subscription.MAX_CHARS);
        }
        return java.util.Optional.ofNullable(json);
    }

    /** The others' announcements as last read, and their subscriptions as read from them (by their text). */
    private final Map<String, java.util.Optional<Subscription>> readSubscriptions = new HashMap<>();
    private static final Duration OTHERS_READ_PERIOD = Duration.ofSeconds(1);
    private long nextOthersRead = System.nanoTime();
    /** The next {@link ProviderGate#refresh}: the instances' Retry-After pauses, written and read every second. */
    private long nextPausesRead = System.nanoTime();

    /**
     * Reads which providers the other instances run and what for, every second: intake queues the events this
     * instance accepts for those it has no file for (a rolling deploy that adds a provider). Until a read works
     * again the last one holds, each entry until its own time runs out.
     */
    private void readOthers(long mono) {
        nextOthersRead = mono + OTHERS_READ_PERIOD.toNanos();
        List<ProviderPresence.Entry> entries;
        try {
            entries = presence.others();
        } catch (RuntimeException e) {
            LOG.debug("Could not read the other instances' providers: {}", e.getMessage());
            ownAccessFailed(e);
            return;
        }
        Map<String, List<Subscription>> subs = new HashMap<>();
        Map<String, Long> until = new HashMap<>();
        Set<String> texts = new HashSet<>();
        // the other processes that run each provider: they share its concurrency and rate limit with this one
        Map<String, Set<String>> processes = new HashMap<>();
        for (ProviderPresence.Entry e : entries) {
            processes.computeIfAbsent(e.provider(), k -> new HashSet<>()).add(e.instanceId() + "\n" + e.incarnation());
        }
        Map<String, Integer> running = new HashMap<>();
        processes.forEach((provider, set) -> running.put(provider, set.size()));
        providers.runningElsewhere(running);
        for (ProviderPresence.Entry e : entries) {
            if (e.subscription() == null) {
                continue; // an instance of an earlier version: it says that it runs the provider, not what for
            }
            String key = e.provider() + "\n" + e.subscription();
            texts.add(key);
            Subscription sub = readSubscriptions.computeIfAbsent(key, k -> {
                Subscription read;
                try {
                    read = Subscription.read(e.provider(), e.subscription());
                } catch (RuntimeException bad) {
                    read = null; // one entry this version cannot make sense of must not hide the others
                }
                if (read == null) {
                    LOG.warn("Instance {} runs provider '{}' with an announcement this version cannot read: the events "
                            + "this instance accepts are not queued for that provider until it has the provider's file",
                            e.instanceId(), e.provider());
                } else if (!read.evaluable()) {
                    LOG.info("Instance {} runs provider '{}' with a filter on a source field this version does not know: "
                            + "every event that triggers it is queued for it here, and its filter decides when synced",
                            e.instanceId(), e.provider());
                }
                return java.util.Optional.ofNullable(read);
            }).orElse(null);
            if (sub != null) {
                subs.computeIfAbsent(e.provider(), k -> new ArrayList<>()).add(sub);
                until.merge(e.provider(), e.until().toEpochMilli(), Math::max);
            }
        }
        readSubscriptions.keySet().retainAll(texts);
        Map<String, ProviderRegistry.Elsewhere> elsewhere = new HashMap<>();
        subs.forEach((provider, list) -> elsewhere.put(provider, new ProviderRegistry.Elsewhere(List.copyOf(list), until.get(provider))));
        providers.runElsewhere(elsewhere);
    }

    /**
     * Claimed rows per provider: twice its concurrency, the workers' and as many waiting for them. The file's whole
     * concurrency, also where this instance syncs only its share of it (the Throttle in provider-&lt;id&gt;): a claim
     * only as deep as the share left the workers waiting for rows (5 000 orders on three instances: 20 s instead of 11).
     */
    private static int capacity(Provider p) {
        return p.concurrency() * 2;
    }

    /**
     * The snapshot of the row's order as its claim read it, once: the first start of its sync takes it; a
     * redelivery, a row this instance did not claim, or one whose order had no snapshot gets null and reads the
     * order's snapshot itself. An event of the order that arrives after the claim and triggers the provider queues
     * the order again (a waiting sibling of the row in flight), so that event's snapshot is synced after it.
     */
    public String takeSnapshot(long rowId) {
        return snapshots.remove(rowId);
    }

    /**
     * Called for every claimed row when its outcome has been stored (a second call for the same claim does nothing).
     * Claim-exact: a row this sync released can be claimed again, with a new token, before this call; the new
     * claim's bookkeeping is not this one's to end.
     */
    public void finished(QueueEntry e) {
        QueueEntry mine = currentClaim(e);
        boolean current = mine != null;
        if (current) {
            snapshots.remove(e.id());
            sentBy.remove(e.id());
            // the claim before the storing mark: outcomePending reads them the other way round, so it never sees
            // this claim current and its outcome not on its way (which stored a second success)
            claimed.remove(e.id(), mine);
            storing.remove(e.id());
        }
        if (e.claimToken() == null ? current : openClaims.remove(e.claimToken())) {
            Integer left = inFlight.computeIfPresent(e.provider(), (k, v) -> v <= 1 ? null : v - 1);
            Provider p = providers.active(e.provider());
            // the waiting batch is used up: claim the next one now, so the workers do not idle until the next tick
            if (p != null && (left == null ? 0 : left) == p.concurrency()) {
                wake();
            }
        }
    }

    /**
     * Claims whose sync ended but whose outcome the database did not take because it was out of reach, by claim
     * token. The rows stay claimed by this instance in the database; they are handed back (due now, no attempt
     * counted) at the first claim once the database answers again, instead of waiting for their lease (5 minutes by
     * default) after an outage of seconds. A row whose outcome did reach the database before the connection broke
     * (a commit whose answer was lost) is no longer claimed with this token, and the hand-back finds nothing.
     */
    private final Map<String, QueueEntry> unsettled = new ConcurrentHashMap<>();

    /** The outcome of {@code e}'s sync could not be stored: the database was out of reach (see {@link #unsettled}). */
    public void outcomeNotStored(QueueEntry e) {
        if (e.claimToken() != null) {
            unsettled.put(e.claimToken(), e);
        }
    }

    /** At a stop ({@code stopping}) a row that cannot be handed back stays in the set, to be counted and left to its lease. */
    private void handBackUnsettled(Instant now, boolean stopping) {
        for (QueueEntry e : new ArrayList<>(unsettled.values())) {
            try {
                if (Tx.run(ds, c -> queue.release(c, e, e.failedAttempts(), now, null, e.lastError()))) {
                    LOG.info("Queue row {} of {}/{} for {} waits again, due now: the outcome of its last sync could not be"
                            + " stored while the database was out of reach", e.id(), e.eventSlug(), e.orderCode(), e.provider());
                }
                unsettled.remove(e.claimToken());
            } catch (RuntimeException ex) {
                if (Tx.isDatabaseUnavailable(ex)) {
                    return; // still out of reach: tried again at the next claim
                }
                if (stopping) {
                    continue; // a stop's connection wait interrupted, say: counted below, left to the lease
                }
                unsettled.remove(e.claimToken());
                LOG.warn("Could not hand back queue row {} whose outcome was not stored; its lease will expire: {}",
                        e.id(), ex.getMessage());
            }
        }
    }

    /** A row that could not be handed to its provider's route: back to waiting, due now, no attempt counted. */
    public void handBack(QueueEntry e) {
        handBack(e, "it could not be handed to route provider-" + e.provider());
    }

    /** A claimed row whose sync did not begin ({@code why}): back to waiting, due now, no attempt counted. */
    public void handBack(QueueEntry e, String why) {
        try {
            if (Tx.run(ds, c -> queue.release(c, e, e.failedAttempts(), clock.instant(), null, e.lastError()))) {
                LOG.warn("Queue row {} of {}/{} for {} waits again: {}", e.id(), e.eventSlug(), e.orderCode(), e.provider(), why);
            }
        } catch (RuntimeException ex) {
            if (Tx.isDatabaseUnavailable(ex)) {
                outcomeNotStored(e);
            }
            throw ex;
        } finally {
            finished(e);
        }
    }

    /**
     * Whether {@code e}'s claim is still this instance's and no outcome of it is stored or on its way. Reads the
     * storing mark before the claim; {@link #finished} removes them in the other order.
     */
    public boolean outcomePending(QueueEntry e) {
        return !storing.contains(e.id()) && currentClaim(e) != null;
    }

    /** This instance's claim of {@code e}'s row if it is {@code e}'s claim (not a newer claim of the row), else null. */
    private QueueEntry currentClaim(QueueEntry e) {
        QueueEntry c = claimed.get(e.id());
        return c != null && java.util.Objects.equals(c.claimToken(), e.claimToken()) ? c : null;
    }

    /** A row whose provider's file has errors: parked as a configuration error with those errors. */
    public void parkMisconfigured(QueueEntry e) {
        if (!trustsOthers()) {
            handBack(e, STALE_VIEW);
            return;
        }
        String error = "provider '" + e.provider() + "' is disabled: " + String.join("; ", providers.errors(e.provider()));
        Tx.run(ds, c -> {
            if (queue.release(c, e, e.failedAttempts(), clock.instant(), FailureMode.CONFIG, error)) {
                store.log(c, e.eventSlug(), e.orderCode(), e.provider(), "failure", FailureMode.CONFIG.description() + ": " + error, clock.instant());
            }
            return null;
        });
        finished(e);
    }

    /**
     * Said of a row of a provider this instance does not run (or runs a broken file of) that it claimed, and that it
     * no longer may drop or park: the database stalled or failed after the claim (see {@link #trustsOthers}).
     */
    static final String STALE_VIEW = "this instance's view of the providers the others run is older than half a presence"
            + " lifetime (the database stalled or failed); the row is left to them";

    /** A row whose provider no longer exists: dropped, and the drop logged with the order. */
    public void dropUnknown(QueueEntry e) {
        if (!trustsOthers()) {
            handBack(e, STALE_VIEW);
            return;
        }
        Tx.run(ds, c -> {
            if (queue.drop(c, e)) {
                store.log(c, e.eventSlug(), e.orderCode(), e.provider(), "dropped",
                        "provider '" + e.provider() + "' no longer exists; queue entry (" + e.triggeredBy() + ") dropped", clock.instant());
            }
            return null;
        });
        LOG.warn("Dropped queue row {} of {}/{}: provider '{}' no longer exists", e.id(), e.eventSlug(), e.orderCode(), e.provider());
        finished(e);
    }

    /**
     * Rows whose lease expired (their instance crashed or hung) go back to waiting as a recoverable
     * failure, or are parked as {@code timeout} once their attempts are used up.
     */
    /** Where a reaped row's outcome is counted (provider, outcome): the sync meters. */
    private volatile java.util.function.BiConsumer<String, String> reaped = (provider, outcome) -> {
    };

    public void countReapedIn(java.util.function.BiConsumer<String, String> outcomes) {
        this.reaped = outcomes;
    }

    public int reap() {
        Instant now = clock.instant();
        Tx.run(ds, c -> {
            try (var ps = c.prepareStatement("DELETE FROM intake_message WHERE received_at < ?")) {
                ps.setObject(1, now.minus(Duration.ofDays(7)).atOffset(java.time.ZoneOffset.UTC));
                return ps.executeUpdate();
            }
        });
        int n = 0;
        for (QueueEntry e : queue.expired(now)) {
            Provider p = providers.active(e.provider());
            int maxAttempts = p == null ? 5 : p.maxAttempts();
            int attempts = e.failedAttempts() + 1;
            FailureMode park = attempts >= maxAttempts ? FailureMode.TIMEOUT : null;
            Instant next = p == null ? now : now.plus(p.backoffAfter(attempts));
            String error = "lease expired at " + e.leaseUntil() + " (held by " + e.claimedBy() + "; crashed or hung)";
            boolean done = Tx.run(ds, c -> {
                if (queue.release(c, e, attempts, next, park, error)) {
                    store.log(c, e.eventSlug(), e.orderCode(), e.provider(), "failure",
                            (park == null ? "Sync timed out, will retry: " : park.description() + ": ") + error, now);
                    return true;
                }
                return false;
            });
            if (done) {
                n++;
                // counted as every other finished sync (ordersync_syncs_total): a crash or hang was not seen in the
                // meters at all (a review)
                reaped.accept(e.provider(), park == null ? "retry" : park.code());
                LOG.warn("Queue row {} of {}/{} for {}: {}", e.id(), e.eventSlug(), e.orderCode(), e.provider(), error);
            }
        }
        return n;
    }

    @Override
    protected void doStart() {
    }

    /**
     * Hands back, due now, the rows this instance claimed but never started (routes are stopped by now). A row whose
     * sync has sent a request and has not ended (a stop that ran out of time) is due once that request can no
     * longer reach the target ({@link #dueAfterStop}).
     */
    @Override
    protected void doStop() {
        // the outcomes of the syncs that ran are stored first: their rows are done, not to be handed back
        boolean stored = beforeHandBack.getAsBoolean();
        int n = 0;
        int left = 0;
        int running = 0;
        for (QueueEntry e : new ArrayList<>(claimed.values())) {
            if (!stored && storing.contains(e.id())) {
                // synced, its outcome still on its way to the database: handed back, it would be synced again
                left++;
                continue;
            }
            java.util.concurrent.atomic.AtomicBoolean sent = sentBy.get(e.id());
            boolean onItsWay = sent != null && sent.get();
            try {
                // still syncing when the stop's grace time ran out, a request sent (its answer not come, say): due again
                // once that request can no longer reach the target, so that no instance sends the order beside it
                Instant now = clock.instant();
                boolean ok = Tx.run(ds, c -> queue.release(c, e, e.failedAttempts(), onItsWay ? dueAfterStop(e, now) : now, null,
                        onItsWay ? STOPPED_WHILE_SENDING : e.lastError()));
                if (ok && onItsWay) {
                    running++;
                } else if (ok) {
                    n++;
                }
            } catch (RuntimeException ex) {
                LOG.warn("Could not hand back queue row {} at shutdown; its lease will expire: {}", e.id(), ex.getMessage());
            }
            finished(e);
        }
        if (!unsettled.isEmpty()) {
            handBackUnsettled(clock.instant(), true);
            if (!unsettled.isEmpty()) {
                LOG.warn("{} claimed queue rows whose outcomes could not be stored are not handed back; each waits for its"
                        + " lease", unsettled.size());
                unsettled.clear();
            }
        }
        if (n > 0) {
            LOG.info("Handed back {} claimed queue rows at shutdown", n);
        }
        // a Retry-After the last syncs got, or a manual retry of the last second: for the other instances, and on an
        // embedded H2 for the next start
        try {
            gate.flush();
        } catch (RuntimeException ex) {
            LOG.warn("Could not write the providers' Retry-After pauses at shutdown: {}", ex.getMessage());
        }
        if (left > 0) {
            LOG.warn("{} claimed queue rows whose outcomes were still being stored are not handed back; each is done"
                    + " when its outcome is stored, or waits for its lease", left);
        }
        if (running > 0) {
            LOG.warn("{} syncs had sent a request and were still running when the stop's grace time ran out; their rows"
                    + " are due again once that request can no longer reach the target (HTTP: the provider's connect timeout,"
                    + " three response timeouts and {} s; other kinds: the end of the claim's lease), no attempt counted",
                    running, REQUEST_MARGIN.toSeconds());
        }
        try {
            presence.withdraw();
        } catch (RuntimeException e) {
            LOG.warn("Could not withdraw this instance's providers at shutdown; the others see them for up to {}: {}",
                    presence.ttl(), e.getMessage());
        }
    }

    private java.util.function.BooleanSupplier beforeHandBack = () -> true;

    /**
     * Runs at a stop before the claims are handed back (the routes are stopped by then): waits for the outcomes'
     * commits, true when all are stored. When not, the rows whose outcomes are still being stored ({@link #storing})
     * are not handed back.
     */
    public void beforeHandBack(java.util.function.BooleanSupplier r) {
        this.beforeHandBack = r;
    }

    /** Added to a provider's timeouts: how long a request sent before a stop may still reach the target. */
    static final Duration REQUEST_MARGIN = Duration.ofSeconds(5);
    static final String STOPPED_WHILE_SENDING = "the stop's grace time ran out while the sync was sending; due again once its"
            + " last request can no longer reach the target (no attempt counted)";

    /**
     * When row {@code e}, whose sync had sent a request and still ran at a stop, may be synced again: once no request
     * of that sync can reach the target any more. An HTTP or webhook request is bounded by the provider's timeouts
     * (from the sent flag: an OAuth2 token, a pooled connection and the answer, each up to the response timeout, and
     * the connect timeout); a route's, endpoint's or Java provider's call by nothing of ordersync's, so such a row
     * is due when the claim's lease would have ended. Never later than that.
     */
    private Instant dueAfterStop(QueueEntry e, Instant now) {
        Instant leaseEnd = e.leaseUntil() == null || e.leaseUntil().isBefore(now) ? now : e.leaseUntil();
        Provider p = providers.active(e.provider());
        if (p == null || (p.kind() != Provider.Kind.HTTP && p.kind() != Provider.Kind.WEBHOOK)) {
            return leaseEnd;
        }
        Instant bound = now.plusMillis((long) p.connectTimeoutMs() + 3L * p.responseTimeoutMs()).plus(REQUEST_MARGIN);
        return bound.isBefore(leaseEnd) ? bound : leaseEnd;
    }

    /**
     * The exchange of row {@code e}'s sync is done (the gate gave its place back). Its outcome is normally stored or
     * on its way by then; a row with neither (its exchange refused while its route was forced down by a hot reload,
     * or by a stop before the stop's hand-back ran) would stay claimed and count as in flight until the process
     * ends: it is handed back, due now, no attempt counted. Nothing of its sync is on its way any more.
     */
    public void ended(QueueEntry e) {
        if (!outcomePending(e)) {
            return;
        }
        // a worker interrupted by the forced stop: the flag is clear while the row is written (an interrupted
        // thread's file I/O would close H2's file)
        boolean interrupted = Thread.interrupted();
        try {
            handBack(e, "its sync ended without an outcome (its route was stopped while it ran)");
        } catch (RuntimeException ex) {
            LOG.warn("Could not hand back queue row {} whose sync ended without an outcome; its lease will expire: {}", e.id(),
                    ex.getMessage());
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The claim tokens of this instance's claims whose rows are not finished: each gives back its place in flight once. */
    private final Set<String> openClaims = ConcurrentHashMap.newKeySet();

    /** Claimed rows whose sync began (they passed the provider's concurrency gate), until {@link #finished}: whether it sent a request. */
    private final Map<Long, java.util.concurrent.atomic.AtomicBoolean> sentBy = new ConcurrentHashMap<>();

    /**
     * The row's sync begins (it passed the concurrency gate); {@code sent} turns true when it sends its first
     * request, and from then on a stop does not hand the row back.
     */
    public void began(QueueEntry e, java.util.concurrent.atomic.AtomicBoolean sent) {
        sentBy.put(e.id(), sent);
    }

    /** Ids of claimed rows whose sync is done and whose outcome was handed to the group commit, until {@link #finished}. */
    private final java.util.Set<Long> storing = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** The row's sync is done and its outcome handed over to be stored: at a stop it is not handed back. */
    public void storing(QueueEntry e) {
        storing.add(e.id());
    }

    public String instanceId() {
        return instanceId;
    }

    /** This instance's word to the others about the providers it runs (and what it found of theirs). */
    public ProviderPresence presence() {
        return presence;
    }
}
