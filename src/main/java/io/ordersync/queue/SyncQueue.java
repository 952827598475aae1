package io.ordersync.queue;

import io.ordersync.db.Tx;
import io.ordersync.order.OrderStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * The sync queue table with pretix's OrderSyncQueue semantics; every change is one short transaction. What the
 * admin API only reads (listing, filters, counts) is in {@link QueueView}.
 */
public final class SyncQueue {

    /**
     * {@code slot = 'waiting'} for statements that find their rows by id or by order and provider. H2 plans a
     * statement once per connection, when it is first prepared — for a new database, on an empty table — and there
     * it takes an index that starts with {@code slot} over the primary or the order's unique key; the cached plan
     * then scanned every waiting row: 0.9 ms instead of 11 µs per enqueue with 5 000 rows waiting, 18 % of the CPU
     * of the e2e benchmark (BENCHMARKS.md, issue 18). Written this way no index can serve it; {@code slot} is
     * never null. {@code PlansOnAnEmptyDatabaseTest} checks the plans.
     */
    public static final String SLOT_IS_WAITING = "COALESCE(slot, '') = 'waiting'";


    private static final Logger LOG = LoggerFactory.getLogger(SyncQueue.class);
    static final String COLUMNS = "id, event_slug, order_code, provider, slot, triggered_by, triggered_at, "
            + "not_before, failed_attempts, need_manual_retry, last_error, claim_token, claimed_by, lease_until";

    private final DataSource ds;
    /** Whether the database is PostgreSQL; asked on first use, so constructing the queue opens no connection. */
    private volatile Boolean postgres;

    public SyncQueue(DataSource ds) {
        this.ds = ds;
    }

    /** Whether the queue is in PostgreSQL (otherwise H2). */
    public boolean onPostgres(Connection c) throws SQLException {
        return postgres(c);
    }

    private boolean postgres(Connection c) throws SQLException {
        Boolean p = postgres;
        if (p == null) {
            p = c.getMetaData().getDatabaseProductName().toLowerCase(java.util.Locale.ROOT).contains("postgres");
            postgres = p;
        }
        return p;
    }

    private static OffsetDateTime ts(Instant i) {
        return i == null ? null : i.atOffset(ZoneOffset.UTC);
    }

    static QueueEntry read(ResultSet rs) throws SQLException {
        return new QueueEntry(rs.getLong("id"), rs.getString("event_slug"), rs.getString("order_code"),
                rs.getString("provider"), rs.getString("slot"), rs.getString("triggered_by"),
                OrderStore.instant(rs, "triggered_at"), OrderStore.instant(rs, "not_before"),
                rs.getInt("failed_attempts"), rs.getString("need_manual_retry"), rs.getString("last_error"),
                rs.getString("claim_token"), rs.getString("claimed_by"), OrderStore.instant(rs, "lease_until"));
    }

    /** What enqueue did to the queue. */
    public record Enqueued(long id, String provider, String action) {
    }

    /**
     * Queues the order for the provider: updates the waiting row when there is one (clearing a parked
     * failure), else inserts one; an in-flight row does not count, so a change during a sync is synced after it.
     */
    public Enqueued enqueue(Connection c, String eventSlug, String orderCode, String provider, String trigger,
                            Instant now) throws SQLException {
        if (postgres(c)) {
            return upsertWaiting(c, eventSlug, orderCode, provider, trigger, now);
        }
        for (int attempt = 0; ; attempt++) {
            try (PreparedStatement ps = c.prepareStatement(ENQUEUE_UPDATE)) {
                ps.setString(1, trigger);
                ps.setObject(2, ts(now));
                ps.setObject(3, ts(now));
                ps.setString(4, eventSlug);
                ps.setString(5, orderCode);
                ps.setString(6, provider);
                if (ps.executeUpdate() > 0) {
                    return new Enqueued(waitingId(c, eventSlug, orderCode, provider), provider, "updated");
                }
            }
            Savepoint sp = c.getAutoCommit() ? null : c.setSavepoint();
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO sync_queue (event_slug, order_code, provider, slot, "
                    + "triggered_by, triggered_at, not_before, failed_attempts) VALUES (?, ?, ?, 'waiting', ?, ?, ?, 0)",
                    new String[]{"id"})) {
                bindNewRow(ps, eventSlug, orderCode, provider, trigger, now);
                ps.executeUpdate();
                try (ResultSet keys = ps.getGeneratedKeys()) {
                    keys.next();
                    return new Enqueued(keys.getLong(1), provider, "created");
                }
            } catch (SQLException e) {
                // another transaction inserted the waiting row first: update it instead
                if (!Tx.isConstraintViolation(e) || attempt >= 3) {
                    throw e;
                }
                if (sp != null) {
                    c.rollback(sp);
                }
            }
        }
    }

    /**
     * PostgreSQL: what queueing does to the order's waiting row when there is one — the trigger and time updated, a
     * parked failure cleared (as {@link #ENQUEUE_UPDATE} does on H2).
     */
    private static final String ON_WAITING_CONFLICT = "ON CONFLICT ON CONSTRAINT sync_queue_slot DO UPDATE SET "
            + "triggered_by = EXCLUDED.triggered_by, triggered_at = EXCLUDED.triggered_at, not_before = EXCLUDED.not_before, "
            + "failed_attempts = CASE WHEN sync_queue.need_manual_retry IS NULL THEN sync_queue.failed_attempts ELSE 0 END, "
            + "need_manual_retry = NULL ";

    /** An order to be queued for a provider, with what triggered it. */
    public record Wanted(String eventSlug, String orderCode, String provider, String trigger) {
    }

    /**
     * As {@link #enqueue} for several (order, provider) pairs, none twice, in the caller's transaction; returns what was
     * done for each, in the same order. On PostgreSQL one statement for all (the pairs sorted, so that two instances
     * queueing the same orders update their rows in the same order); elsewhere one pair after the other.
     */
    public List<Enqueued> enqueueAll(Connection c, List<Wanted> wanted, Instant now) throws SQLException {
        List<Enqueued> out = new ArrayList<>(wanted.size());
        if (!postgres(c) || wanted.size() < 2 || new java.util.HashSet<>(wanted.stream()
                .map(w -> List.of(w.eventSlug(), w.orderCode(), w.provider())).toList()).size() < wanted.size()) {
            for (Wanted w : wanted) {
                out.add(enqueue(c, w.eventSlug(), w.orderCode(), w.provider(), w.trigger(), now));
            }
            return out;
        }
        List<Wanted> sorted = new ArrayList<>(wanted);
        sorted.sort(java.util.Comparator.comparing(Wanted::eventSlug).thenComparing(Wanted::orderCode).thenComparing(Wanted::provider));
        java.util.Map<List<String>, Enqueued> done = new java.util.HashMap<>();
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO sync_queue (event_slug, order_code, provider, slot, triggered_by, "
                + "triggered_at, not_before, failed_attempts) SELECT u.e, u.o, u.p, 'waiting', u.t, ?, ?, 0 "
                + "FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) WITH ORDINALITY AS u(e, o, p, t, n) ORDER BY u.n "
                + ON_WAITING_CONFLICT + "RETURNING id, event_slug, order_code, provider, (xmax = 0) AS inserted")) {
            ps.setObject(1, ts(now));
            ps.setObject(2, ts(now));
            ps.setArray(3, c.createArrayOf("text", sorted.stream().map(Wanted::eventSlug).toArray()));
            ps.setArray(4, c.createArrayOf("text", sorted.stream().map(Wanted::orderCode).toArray()));
            ps.setArray(5, c.createArrayOf("text", sorted.stream().map(Wanted::provider).toArray()));
            ps.setArray(6, c.createArrayOf("text", sorted.stream().map(Wanted::trigger).toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    done.put(List.of(rs.getString(2), rs.getString(3), rs.getString(4)),
                            new Enqueued(rs.getLong(1), rs.getString(4), rs.getBoolean(5) ? "created" : "updated"));
                }
            }
        }
        for (Wanted w : wanted) {
            Enqueued e = done.get(List.of(w.eventSlug(), w.orderCode(), w.provider()));
            if (e == null) {
                throw new SQLException("queueing " + w.eventSlug() + "/" + w.orderCode() + " for " + w.provider() + " returned no row");
            }
            out.add(e);
        }
        return out;
    }

    static final String ENQUEUE_UPDATE = "UPDATE sync_queue SET triggered_by = ?, triggered_at = ?, "
            + "not_before = ?, failed_attempts = CASE WHEN need_manual_retry IS NULL THEN failed_attempts ELSE 0 END, "
            + "need_manual_retry = NULL WHERE event_slug = ? AND order_code = ? AND provider = ? AND " + SLOT_IS_WAITING;

    static final String WAITING_ID = "SELECT id FROM sync_queue WHERE event_slug = ? AND order_code = ? "
            + "AND provider = ? AND " + SLOT_IS_WAITING;

    /**
     * PostgreSQL: the same as the update-else-insert of {@link #enqueue} in one statement (one round trip
     * instead of three with the savepoint), and atomic against a concurrent enqueue of the same order.
     * {@code xmax = 0} holds for a row this statement inserted, not for one it updated.
     */
    private static Enqueued upsertWaiting(Connection c, String eventSlug, String orderCode, String provider, String trigger,
                                          Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO sync_queue (event_slug, order_code, provider, slot, "
                + "triggered_by, triggered_at, not_before, failed_attempts) VALUES (?, ?, ?, 'waiting', ?, ?, ?, 0) "
                + ON_WAITING_CONFLICT + "RETURNING id, (xmax = 0) AS inserted")) {
            bindNewRow(ps, eventSlug, orderCode, provider, trigger, now);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return new Enqueued(rs.getLong(1), provider, rs.getBoolean(2) ? "created" : "updated");
            }
        }
    }

    /** The parameters of both inserts of a new waiting row: order, provider, trigger, triggered and due now. */
    private static void bindNewRow(PreparedStatement ps, String eventSlug, String orderCode, String provider, String trigger,
                                   Instant now) throws SQLException {
        ps.setString(1, eventSlug);
        ps.setString(2, orderCode);
        ps.setString(3, provider);
        ps.setString(4, trigger);
        ps.setObject(5, ts(now));
        ps.setObject(6, ts(now));
    }

    private static long waitingId(Connection c, String eventSlug, String orderCode, String provider) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(WAITING_ID)) {
            ps.setString(1, eventSlug);
            ps.setString(2, orderCode);
            ps.setString(3, provider);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /**
     * Claims up to {@code limit} due rows for this instance, fair across events (round-robin by the
     * position of a row within its event), skipping the providers in {@code full}.
     */
    public List<QueueEntry> claim(String instanceId, Duration lease, int limit, Collection<String> full, Instant now) {
        return claim(instanceId, lease, limit, full, null, now);
    }

    /** As {@link #claim(String, Duration, int, Collection, Instant)}, only rows of provider {@code only} when not null. */
    public List<QueueEntry> claim(String instanceId, Duration lease, int limit, Collection<String> full, String only,
                                  Instant now) {
        return claim(instanceId, lease, limit, full, only, now, null);
    }

    /**
     * As {@link #claim(String, Duration, int, Collection, String, Instant)}; with {@code snapshots}, also puts each
     * claimed row's order snapshot there (by row id), read with the claim (H2: in its transaction; PostgreSQL: right
     * after it committed): the sync of the row starts from it instead of a read of its own (one commit per synced
     * order fewer, BENCHMARKS.md issue 18 round eleven). A row whose order has no snapshot gets no entry.
     */
    public List<QueueEntry> claim(String instanceId, Duration lease, int limit, Collection<String> full, String only,
                                  Instant now, Map<Long, String> snapshots) {
        if (limit <= 0) {
            return List.of();
        }
        Instant leaseUntil = now.plus(lease);
        if (!Boolean.FALSE.equals(postgres)) {
            List<QueueEntry> mine = claimPostgres(instanceId, leaseUntil, limit, full, only, now, snapshots);
            if (mine != null) {
                return mine;
            }
        }
        Map<Long, String> read = new java.util.HashMap<>();
        // one transaction per claim: read the candidates, (PostgreSQL) lock those no sibling instance holds, mark them
        List<QueueEntry> claimed = Tx.run(ds, c -> {
            List<QueueEntry> found = candidates(c, now, limit, full, only);
            if (found.isEmpty()) {
                return List.of();
            }
            List<QueueEntry> mine = markInFlight(c, found, postgres(c), instanceId, leaseUntil, now);
            if (snapshots != null && !mine.isEmpty()) {
                read.putAll(snapshots(c, mine, postgres(c)));
            }
            return mine;
        });
        // handed over only once the claim committed: a claim that failed leaves nothing behind
        if (snapshots != null) {
            snapshots.putAll(read);
        }
        return claimed;
    }

    /**
     * PostgreSQL: the claim in one statement, committed on its own — the events with due rows (a loose index scan),
     * each event's first due rows from its index, fair across events, those no other instance has locked
     * ({@code SKIP LOCKED}) put in flight — then the claimed rows' snapshots in a second round trip. The claim in
     * {@link #claim(String, Duration, int, Collection, String, Instant, Map)}'s transaction took seven round trips
     * (events, candidates, savepoint, lock, update, snapshots, commit): at half load on two cores each one waits for
     * the server's process to be scheduled, 5 ms a claim at the median (BENCHMARKS.md, issue 18 round sixteen).
     * The snapshots are read after the claim committed, not in its statement: an event committed while the statement
     * ran would be in the row it claimed but not in the statement's snapshot of the order. Null when the database
     * refused a row (a sibling of the same order and provider in flight that the statement's snapshot did not show):
     * the statement changed nothing, and the caller claims the earlier way (one transaction: batched, then row by row).
     * ordersync's own claims cannot cause that (a waiting row is the only one of its order and provider, and a row
     * another claim took is locked or no longer waiting): it is a safeguard. Null on H2 too.
     */
    private List<QueueEntry> claimPostgres(String instanceId, Instant leaseUntil, int limit, Collection<String> full,
                                           String only, Instant now, Map<Long, String> snapshots) {
        try (Connection c = ds.getConnection()) {
            if (!postgres(c)) {
                return null;
            }
            List<QueueEntry> mine = new ArrayList<>();
            int most = claimSqlLimit(limit);
            String sql = full.isEmpty() ? CLAIM_PG.computeIfAbsent(most * 2 + (only == null ? 0 : 1), k -> claimSqlPostgres(0, k % 2 == 1, k / 2))
                    : claimSqlPostgres(full.size(), only != null, most);
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                int i = 1;
                ps.setObject(i++, ts(now));
                for (String p : full) {
                    ps.setString(i++, p);
                }
                if (only != null) {
                    ps.setString(i++, only);
                }
                ps.setInt(i++, limit);
                ps.setObject(i++, ts(now));
                // each row's token: this claim's random part and the row's place in it
                ps.setString(i++, UUID.randomUUID().toString());
                ps.setString(i++, instanceId);
                ps.setObject(i, ts(leaseUntil));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        mine.add(read(rs));
                    }
                }
            } catch (SQLException ex) {
                if (Tx.isConstraintViolation(ex)) {
                    return null;
                }
                throw ex;
            }
            if (snapshots != null && !mine.isEmpty()) {
                try {
                    snapshots.putAll(snapshots(c, mine, true));
                } catch (SQLException ex) {
                    // the rows are in flight already: handed over without snapshots (each sync reads its order's own)
                    // rather than left to their leases
                    LOG.warn("Claimed {} queue rows; reading their orders' snapshots failed, their syncs read them: {}",
                            mine.size(), ex.getMessage());
                }
            }
            return mine;
        } catch (SQLException e) {
            throw new Tx.TxException(e);
        }
    }

    /** {@link #claimSqlPostgres} for no full providers, by {@code most} and {@code only}: built once each. */
    private static final Map<Integer, String> CLAIM_PG = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * The {@code most} of {@link #claimSqlPostgres} for a claim of {@code limit} rows: 16 or the next power of two, so
     * that a few statements serve every limit.
     */
    public static int claimSqlLimit(int limit) {
        return Math.max(16, Integer.highestOneBit(Math.max(1, limit - 1)) << 1);
    }

    /**
     * The claim on PostgreSQL (parameters: now, the {@code full} providers, {@code only}, the limit, now, the claim's
     * random token part, the instance, the lease's end), its rows in claim order. It reads the first {@code most} due rows (a
     * constant in the statement, at least the limit) and claims the first ones up to the limit (a parameter): with
     * the limits as parameters PostgreSQL planned the statement again on every claim (1.3 ms of its CPU per claim in
     * the e2e benchmark, pg_stat_statements): its generic plan, guessing a tenth of the rows for a {@code LIMIT ?},
     * looked dearer than a custom one. For the same reason the due time and the provider are compared as
     * {@code (SELECT ?)}: a value neither plan can see, so that a custom plan does not look cheaper for knowing that
     * every row of a backlog is due (the index still serves the comparison). Public for the test that checks it reads
     * each event's rows from the index however long the backlog.
     */
    public static String claimSqlPostgres(int full, boolean only, int most) {
        String due = dueRows("SELECT q.id, q.not_before", "ev.val", "(SELECT ?::timestamptz)", full,
                only ? "(SELECT ?::varchar)" : null, true) + " LIMIT " + most;
        return "WITH RECURSIVE ev(val) AS (SELECT (" + firstWaiting("event_slug") + ") UNION ALL SELECT ("
                + nextWaiting("event_slug", ">", "ev.val") + ") FROM ev WHERE ev.val IS NOT NULL), "
                // the first due rows of every event, then the second of every event, …
                + "cand AS (SELECT d.id, row_number() OVER (ORDER BY d.rank, d.val) AS n FROM (SELECT e.id, ev.val, "
                + "row_number() OVER (PARTITION BY ev.val ORDER BY e.not_before, e.id) AS rank FROM ev CROSS JOIN LATERAL ("
                + due + ") e WHERE ev.val IS NOT NULL) d ORDER BY d.rank, d.val LIMIT " + most + "), "
                // by id from the primary key (a join let the planner read the whole queue for 16 rows)
                // the row's other conditions wrapped in IS TRUE, which no index can serve: with them plain, the
                // planner read all due rows from the index on (slot, event, due time) and filtered them by id
                + "locked AS (SELECT q.id FROM sync_queue q WHERE q.id = ANY(ARRAY(SELECT id FROM cand WHERE cand.n <= ?)) "
                + "AND (q.slot = 'waiting' AND q.need_manual_retry IS NULL AND q.not_before <= ?) IS TRUE "
                + "FOR UPDATE SKIP LOCKED), "
                + "claimed AS (UPDATE sync_queue q SET slot = 'inflight', "
                + "claim_token = ?::varchar || '-' || (SELECT cand.n FROM cand WHERE cand.id = q.id), claimed_by = ?, "
                + "lease_until = ? WHERE q.id = ANY(ARRAY(SELECT id FROM locked)) RETURNING " + qualified("q") + ") "
                + "SELECT " + qualified("claimed") + " FROM claimed JOIN cand ON cand.id = claimed.id ORDER BY cand.n";
    }

    /** {@link #COLUMNS}, each prefixed with {@code alias}. */
    private static String qualified(String alias) {
        return COLUMNS.replaceAll("(\\w+)", alias + ".$1");
    }

    /**
     * PostgreSQL: the snapshots of all the claimed rows' orders in one round trip (an index probe per order). The arrays
     * as {@code (SELECT ?)}: a custom plan, which knows their length, looked cheaper than the generic one, which
     * guesses ten elements, so every execution was planned (767 plans for about as many calls, pg_stat_statements).
     * Each snapshot by a lateral subquery with a LIMIT, which the planner cannot turn into a join: as a join, about
     * half of the benchmark's runs were planned reading the whole table, 7 858 buffers per call instead of 36, and
     * PostgreSQL's CPU per order doubled (BENCHMARKS.md, issue 18 round twenty-three).
     */
    static final String SNAPSHOTS_PG = "SELECT k.event_slug, k.order_code, s.document "
            + "FROM unnest((SELECT ?::varchar[]), (SELECT ?::varchar[])) AS k(event_slug, order_code) "
            + "CROSS JOIN LATERAL (SELECT o.document FROM order_snapshot o WHERE o.event_slug = k.event_slug "
            + "AND o.order_code = k.order_code LIMIT 1) s";

    /** The newest snapshot of each row's order, by row id; rows of one order share the one read. */
    static Map<Long, String> snapshots(Connection c, List<QueueEntry> rows, boolean postgres) throws SQLException {
        Map<List<String>, List<Long>> idsByOrder = new java.util.LinkedHashMap<>();
        for (QueueEntry e : rows) {
            idsByOrder.computeIfAbsent(List.of(e.eventSlug(), e.orderCode()), k -> new ArrayList<>(1)).add(e.id());
        }
        Map<Long, String> out = new java.util.HashMap<>();
        if (postgres) {
            String[] events = new String[idsByOrder.size()];
            String[] codes = new String[idsByOrder.size()];
            int i = 0;
            for (List<String> k : idsByOrder.keySet()) {
                events[i] = k.get(0);
                codes[i++] = k.get(1);
            }
            try (PreparedStatement ps = c.prepareStatement(SNAPSHOTS_PG)) {
                ps.setArray(1, c.createArrayOf("varchar", events));
                ps.setArray(2, c.createArrayOf("varchar", codes));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        String document = rs.getString(3);
                        for (Long id : idsByOrder.getOrDefault(List.of(rs.getString(1), rs.getString(2)), List.of())) {
                            out.put(id, document);
                        }
                    }
                }
            }
            return out;
        }
        // H2 runs in this process: a probe per order costs no round trip
        try (PreparedStatement ps = c.prepareStatement(OrderStore.SNAPSHOT)) {
            for (Map.Entry<List<String>, List<Long>> order : idsByOrder.entrySet()) {
                ps.setString(1, order.getKey().get(0));
                ps.setString(2, order.getKey().get(1));
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        String document = rs.getString(1);
                        for (Long id : order.getValue()) {
                            out.put(id, document);
                        }
                    }
                }
            }
        }
        return out;
    }

    static final String MARK_IN_FLIGHT = "UPDATE sync_queue SET slot = 'inflight', claim_token = ?, "
            + "claimed_by = ?, lease_until = ? WHERE id = ? AND " + SLOT_IS_WAITING + " AND need_manual_retry IS NULL "
            + "AND not_before <= ?";

    /** As {@link #markInFlight(Connection, List, boolean, String, Instant, Instant)}, without locking them first (H2). */
    static List<QueueEntry> markInFlight(Connection c, List<QueueEntry> rows, String instanceId, Instant leaseUntil,
                                         Instant now) throws SQLException {
        return markInFlight(c, rows, false, instanceId, leaseUntil, now);
    }

    /**
     * Puts the rows in flight for this instance: one batched statement; when the database refuses one of them (a
     * sibling of the same order and provider is in flight already), row by row, each behind a savepoint. With
     * {@code lock} (PostgreSQL) each row is first locked, skipping those another instance holds — after the
     * savepoint, in the same subtransaction as its update: a row locked by the transaction and updated by a
     * subtransaction gets a MultiXact as its xmax, which every later reader of the row resolves (1 413 MultiXacts
     * for 1 000 claims; 3.6 % of the server's CPU in the e2e benchmark, BENCHMARKS.md issue 18 round five).
     */
    static List<QueueEntry> markInFlight(Connection c, List<QueueEntry> rows, boolean lock, String instanceId,
                                         Instant leaseUntil, Instant now) throws SQLException {
        Savepoint batch = c.setSavepoint();
        try {
            List<QueueEntry> mine = lock ? lockSkippingLocked(c, rows, now) : rows;
            List<String> tokens = new ArrayList<>(mine.size());
            try (PreparedStatement ps = c.prepareStatement(MARK_IN_FLIGHT)) {
                for (QueueEntry e : mine) {
                    String token = UUID.randomUUID().toString();
                    tokens.add(token);
                    bindMark(ps, token, instanceId, leaseUntil, e.id(), now);
                    ps.addBatch();
                }
                int[] counts = mine.isEmpty() ? new int[0] : ps.executeBatch();
                List<QueueEntry> claimed = new ArrayList<>();
                for (int i = 0; i < mine.size(); i++) {
                    if (counts[i] == 1) {
                        claimed.add(inFlight(mine.get(i), tokens.get(i), instanceId, leaseUntil));
                    }
                }
                return claimed;
            }
        } catch (SQLException ex) {
            if (!Tx.isConstraintViolation(ex)) {
                throw ex;
            }
            // PostgreSQL aborts the whole transaction on the refused row, H2 keeps the others: back to the
            // savepoint either way (which also lets go of the locks), and row by row
            c.rollback(batch);
        }
        List<QueueEntry> claimed = new ArrayList<>();
        for (QueueEntry e : rows) {
            String token = UUID.randomUUID().toString();
            Savepoint sp = c.setSavepoint();
            try {
                if (lock && lockSkippingLocked(c, List.of(e), now).isEmpty()) {
                    continue;
                }
                try (PreparedStatement ps = c.prepareStatement(MARK_IN_FLIGHT)) {
                    bindMark(ps, token, instanceId, leaseUntil, e.id(), now);
                    if (ps.executeUpdate() == 1) {
                        claimed.add(inFlight(e, token, instanceId, leaseUntil));
                    }
                }
            } catch (SQLException ex) {
                // a sibling of the same order and provider is in flight already: the database refuses a second one
                if (!Tx.isConstraintViolation(ex)) {
                    throw ex;
                }
                c.rollback(sp);
            }
        }
        return claimed;
    }

    private static void bindMark(PreparedStatement ps, String token, String instanceId, Instant leaseUntil, long id, Instant now)
            throws SQLException {
        ps.setString(1, token);
        ps.setString(2, instanceId);
        ps.setObject(3, ts(leaseUntil));
        ps.setLong(4, id);
        ps.setObject(5, ts(now));
    }

    private static QueueEntry inFlight(QueueEntry e, String token, String instanceId, Instant leaseUntil) {
        return new QueueEntry(e.id(), e.eventSlug(), e.orderCode(), e.provider(), "inflight", e.triggeredBy(), e.triggeredAt(),
                e.notBefore(), e.failedAttempts(), null, e.lastError(), token, instanceId, leaseUntil);
    }

    /**
     * The providers that have waiting rows, found by skipping through the index on (slot, provider): a few
     * index probes however long the queue is.
     */
    public List<String> waitingProviders() {
        return Tx.run(ds, c -> distinctWaiting(c, "provider"));
    }

    /**
     * As {@link #distinctWaitingRecursive}, on H2 as a loop of two prepared statements, one index probe per value: H2
     * plans a recursive query again each time it runs it (5.5 % of ordersync's CPU at full load in the e2e benchmark,
     * BENCHMARKS.md, issue 18 round four), while the probes stay in its statement cache. PostgreSQL runs the
     * recursive query, one round trip.
     */
    private List<String> distinctWaiting(Connection c, String column) throws SQLException {
        if (postgres(c)) {
            return distinctWaitingRecursive(c, column);
        }
        List<String> out = new ArrayList<>();
        try (PreparedStatement first = c.prepareStatement(firstWaiting(column));
             PreparedStatement next = c.prepareStatement(nextWaiting(column))) {
            String value = probe(first);
            while (value != null) {
                out.add(value);
                next.setString(1, successor(value));
                String following = probe(next);
                if (following != null && following.compareTo(value) <= 0) {
                    // a database with a collation that ignores U+0000 finds the same value again: a strict probe
                    // (which walks the value's rows in the index) instead of a loop without end
                    try (PreparedStatement strict = c.prepareStatement(nextWaiting(column, ">", "?"))) {
                        strict.setString(1, value);
                        following = probe(strict);
                    }
                }
                value = following;
            }
        }
        return out;
    }

    private static String probe(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    /**
     * The least string after {@code value} in H2's order (Java's, without a collation): {@code value} and U+0000. H2
     * answers {@code x > ?} by seeking to {@code ?} and stepping over every index entry equal to it — with ten
     * thousand waiting rows of one event, 0.9 ms per claim instead of 14 µs (BENCHMARKS.md, issue 18 round five) —
     * but {@code x >= ?} by seeking straight past them.
     */
    static String successor(String value) {
        return value + '\u0000';
    }

    /** The first value of {@code column} among waiting rows (an index on slot and it serves it). */
    static String firstWaiting(String column) {
        return "SELECT q." + column + " FROM sync_queue q WHERE q.slot = 'waiting' ORDER BY q.slot, q." + column
                + " FETCH FIRST 1 ROW ONLY";
    }

    /** The first value of {@code column} among waiting rows at or after the parameter (bound to {@link #successor}). */
    static String nextWaiting(String column) {
        return nextWaiting(column, ">=", "?");
    }

    /** The first value of {@code column} among waiting rows {@code op} {@code after} (a parameter, or the recursive query's last value). */
    private static String nextWaiting(String column, String op, String after) {
        return "SELECT q." + column + " FROM sync_queue q WHERE q.slot = 'waiting' AND q." + column + " " + op + " " + after
                + " ORDER BY q.slot, q." + column + " FETCH FIRST 1 ROW ONLY";
    }

    /**
     * The distinct values of {@code column} (event_slug or provider) among waiting rows: a loose index scan,
     * each step jumping to the next value in the index on (slot, column, ...). The ORDER BY names slot too, so
     * that H2 sees it can read the index in order (with the column alone it sorted all waiting rows per step).
     */
    private static List<String> distinctWaitingRecursive(Connection c, String column) throws SQLException {
        List<String> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("WITH RECURSIVE v(val) AS (SELECT (" + firstWaiting(column)
                + ") UNION ALL SELECT (" + nextWaiting(column, ">", "v.val") + ") FROM v WHERE v.val IS NOT NULL) "
                + "SELECT val FROM v WHERE val IS NOT NULL");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }

    /**
     * The next due rows, fair across events: the first row of every event, then the second of every event,
     * and so on (ordered within an event by due time). Each step is an index probe, so a claim costs the same
     * with ten thousand or a million waiting rows: the events with waiting rows are found by skipping through
     * the index on (slot, event_slug, not_before, id), then each event's first due rows are read from it.
     */
    private List<QueueEntry> candidates(Connection c, Instant now, int limit, Collection<String> full, String only)
            throws SQLException {
        List<String> events = distinctWaiting(c, "event_slug");
        String sql = candidatesSql(full.size(), only != null);
        List<List<QueueEntry>> perEvent = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (String event : events) {
                int i = 1;
                ps.setString(i++, event);
                ps.setObject(i++, ts(now));
                for (String p : full) {
                    ps.setString(i++, p);
                }
                if (only != null) {
                    ps.setString(i++, only);
                }
                ps.setInt(i, limit);
                List<QueueEntry> rows = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        rows.add(read(rs));
                    }
                }
                if (!rows.isEmpty()) {
                    perEvent.add(rows);
                }
            }
        }
        List<QueueEntry> out = new ArrayList<>();
        for (int rank = 0; out.size() < limit && !perEvent.isEmpty(); rank++) {
            boolean any = false;
            for (List<QueueEntry> rows : perEvent) {
                if (rank < rows.size() && out.size() < limit) {
                    out.add(rows.get(rank));
                    any = true;
                }
            }
            if (!any) {
                break;
            }
        }
        return out;
    }

    /**
     * One event's next due rows (parameters: event, now, the {@code full} providers, {@code only}, limit).
     * Public for the test that checks the database reads them from the index instead of sorting the backlog.
     */
    public static String candidatesSql(int full, boolean only) {
        return dueRows("SELECT " + COLUMNS, "?", "?", full, only ? "?" : null, false) + " FETCH FIRST ? ROWS ONLY";
    }

    /**
     * One event's due rows without a sibling in flight, ordered as the index on (slot, event_slug, not_before, id) is:
     * {@code event}, {@code now} and {@code only} (null: any provider) are SQL expressions, {@code full} the number of
     * providers to skip (a parameter each). For {@link #candidatesSql} and the PostgreSQL claim.
     */
    private static String dueRows(String select, String event, String now, int full, String only, boolean postgres) {
        StringBuilder sql = new StringBuilder(select + " FROM sync_queue q WHERE q.slot = 'waiting' "
                + "AND q.event_slug = " + event + " AND q.need_manual_retry IS NULL AND q.not_before <= " + now + " "
                // PostgreSQL: one probe of the unique key (event_slug, order_code, provider, slot) per due row. OFFSET 0
                // keeps the test a subplan (as an anti-join the planner read every in-flight row of the event for each
                // due row), and the slot wrapped in IS TRUE leaves no index but the unique key a prefix of the
                // condition (it took the index on slot and provider, all the provider's in-flight rows per due row)
                + "AND NOT EXISTS (SELECT 1 FROM sync_queue f WHERE " + (postgres ? "(f.slot = 'inflight') IS TRUE" : "f.slot = 'inflight'")
                + " AND f.event_slug = q.event_slug AND f.order_code = q.order_code AND f.provider = q.provider"
                + (postgres ? " OFFSET 0)" : ")"));
        for (int i = 0; i < full; i++) {
            sql.append(i == 0 ? " AND q.provider NOT IN (?" : ", ?");
        }
        if (full > 0) {
            sql.append(")");
        }
        if (only != null) {
            sql.append(" AND q.provider = ").append(only);
        }
        // ordered as the index is, equality columns included: only then does H2 read the first rows from the
        // index instead of sorting every waiting row of the event on every claim
        sql.append(" ORDER BY q.slot, q.event_slug, q.not_before, q.id");
        return sql.toString();
    }

    /**
     * PostgreSQL, several instances: the candidates are locked with {@code FOR UPDATE SKIP LOCKED}, so
     * instances claiming at the same moment take different rows instead of waiting for each other.
     */
    private static List<QueueEntry> lockSkippingLocked(Connection c, List<QueueEntry> candidates, Instant now)
            throws SQLException {
        Long[] ids = candidates.stream().map(QueueEntry::id).toArray(Long[]::new);
        java.util.Set<Long> locked = new java.util.HashSet<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT id FROM sync_queue WHERE id = ANY(?) AND slot = 'waiting' "
                + "AND need_manual_retry IS NULL AND not_before <= ? FOR UPDATE SKIP LOCKED")) {
            ps.setArray(1, c.createArrayOf("bigint", ids));
            ps.setObject(2, ts(now));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    locked.add(rs.getLong(1));
                }
            }
        }
        return candidates.stream().filter(e -> locked.contains(e.id())).toList();
    }

    /** Success: the row is done. False when the claim was lost (lease expired and the row was taken back). */
    public boolean complete(Connection c, QueueEntry e) throws SQLException {
        return complete(c, List.of(e))[0];
    }

    /** {@link #complete(Connection, QueueEntry)} for the rows of a group commit, in one batched statement: which were still ours. */
    public boolean[] complete(Connection c, List<QueueEntry> entries) throws SQLException {
        boolean[] done = new boolean[entries.size()];
        if (entries.isEmpty()) {
            return done;
        }
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM sync_queue WHERE id = ? AND claim_token = ?")) {
            for (QueueEntry e : entries) {
                ps.setLong(1, e.id());
                ps.setString(2, e.claimToken());
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            for (int i = 0; i < done.length; i++) {
                // both drivers report a count per row of a prepared batch (PostgreSQL without reWriteBatchedInserts)
                done[i] = counts[i] == 1;
            }
        }
        return done;
    }

    /**
     * Hands an in-flight row back to waiting after a failure: with {@code park} set it waits for a manual
     * retry, else it is due at {@code notBefore}. If a newer waiting row of the same order and provider
     * exists, the in-flight row goes: a recoverable failure's attempts and backoff move to the newer row (the
     * target is not asked again sooner than the backoff says); a failure that parks does not, since the newer
     * trigger is a new state of the order that may well go through (as a new trigger unparks a parked row; pretix
     * likewise drops the failed in-flight item and leaves the waiting one as it is). False when the claim was lost.
     */
    public boolean release(Connection c, QueueEntry e, int failedAttempts, Instant notBefore, FailureMode park,
                           String error) throws SQLException {
        for (int attempt = 1; ; attempt++) {
            Savepoint sp = c.getAutoCommit() ? null : c.setSavepoint();
            try {
                return releaseOnce(c, e, failedAttempts, notBefore, park, error);
            } catch (SQLException ex) {
                // the order was queued again by a transaction that committed after this one looked for a waiting row and
                // before it wrote its own: the database refuses a second waiting row. Again, the waiting row is found and
                // takes the failure (before: the failure was not stored, and the row stayed in flight until its lease
                // ran out; ReleaseRaceTest)
                if (!Tx.isConstraintViolation(ex) || attempt >= 3 || sp == null) {
                    throw ex;
                }
                c.rollback(sp);
            }
        }
    }

    private boolean releaseOnce(Connection c, QueueEntry e, int failedAttempts, Instant notBefore, FailureMode park,
                                String error) throws SQLException {
        Optional<QueueEntry> sibling = waitingSibling(c, e);
        if (sibling.isPresent()) {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM sync_queue WHERE id = ? AND claim_token = ?")) {
                ps.setLong(1, e.id());
                ps.setString(2, e.claimToken());
                if (ps.executeUpdate() != 1) {
                    return false;
                }
            }
            QueueEntry s = sibling.get();
            if (park != null) {
                try (PreparedStatement ps = c.prepareStatement("UPDATE sync_queue SET last_error = ? WHERE id = ?")) {
                    ps.setString(1, truncate(error));
                    ps.setLong(2, s.id());
                    ps.executeUpdate();
                }
                parkNews(c, e, park, error);
                return true;
            }
            try (PreparedStatement ps = c.prepareStatement("UPDATE sync_queue SET failed_attempts = ?, not_before = ?, "
                    + "last_error = ? WHERE id = ?")) {
                ps.setInt(1, Math.max(failedAttempts, s.failedAttempts()));
                Instant nb = s.notBefore().isAfter(notBefore) ? s.notBefore() : notBefore;
                ps.setObject(2, ts(nb));
                ps.setString(3, truncate(error));
                ps.setLong(4, s.id());
                ps.executeUpdate();
            }
            return true;
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE sync_queue SET slot = 'waiting', failed_attempts = ?, "
                + "not_before = ?, need_manual_retry = ?, last_error = ?, claim_token = NULL, claimed_by = NULL, "
                + "lease_until = NULL WHERE id = ? AND claim_token = ?")) {
            ps.setInt(1, failedAttempts);
            ps.setObject(2, ts(notBefore));
            ps.setString(3, park == null ? null : park.code());
            ps.setString(4, truncate(error));
            ps.setLong(5, e.id());
            ps.setString(6, e.claimToken());
            if (ps.executeUpdate() != 1) {
                return false;
            }
        }
        if (park != null) {
            parkNews(c, e, park, error);
        }
        return true;
    }

    static final String PARK_NEWS = "INSERT INTO park_news (provider, event_slug, order_code, message, created_at) "
            + "VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)";

    /**
     * A park, for the alerts (ops.Alerts), in the transaction that parks: whatever order the parks' transactions
     * commit in, and across a restart, each is named by one alert (V21__park_news.sql).
     */
    private static void parkNews(Connection c, QueueEntry e, FailureMode park, String error) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(PARK_NEWS)) {
            ps.setString(1, e.provider());
            ps.setString(2, e.eventSlug());
            ps.setString(3, e.orderCode());
            ps.setString(4, truncate(park.description() + ": " + error));
            ps.executeUpdate();
        }
    }

    static final String WAITING_SIBLING = "SELECT " + COLUMNS + " FROM sync_queue WHERE event_slug = ? "
            + "AND order_code = ? AND provider = ? AND " + SLOT_IS_WAITING + " FOR UPDATE";

    private static Optional<QueueEntry> waitingSibling(Connection c, QueueEntry e) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(WAITING_SIBLING)) {
            ps.setString(1, e.eventSlug());
            ps.setString(2, e.orderCode());
            ps.setString(3, e.provider());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(read(rs)) : Optional.empty();
            }
        }
    }

    /** Removes an in-flight row without a sync (its provider no longer exists). */
    public boolean drop(Connection c, QueueEntry e) throws SQLException {
        return complete(c, e);
    }

    private List<QueueEntry> entries(String sql, Object... args) {
        return entries(ds, sql, args);
    }

    /** Queue rows of a query whose parameters are bound in order. */
    static List<QueueEntry> entries(DataSource ds, String sql, Object... args) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                for (int i = 0; i < args.length; i++) {
                    ps.setObject(i + 1, args[i]);
                }
                List<QueueEntry> rows = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        rows.add(read(rs));
                    }
                }
                return rows;
            }
        });
    }

    /** In-flight rows whose lease expired before {@code now}. */
    public List<QueueEntry> expired(Instant now) {
        return entries(EXPIRED, ts(now));
    }

    static final String EXPIRED = "SELECT " + COLUMNS + " FROM sync_queue WHERE slot = 'inflight' AND lease_until < ? ORDER BY lease_until";

    static final String RETRY = "UPDATE sync_queue SET need_manual_retry = NULL, failed_attempts = 0, not_before = ? "
            + "WHERE id = ? AND " + SLOT_IS_WAITING;

    /** Manual retry: clears the failure mode, resets the attempts, due now. False if no such waiting row. */
    public boolean retry(long id, Instant now) {
        return Tx.runDurable(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement(RETRY)) {
                ps.setObject(1, ts(now));
                ps.setLong(2, id);
                return ps.executeUpdate() == 1;
            }
        });
    }

    /** Manual retry of every parked row of a provider in one mode (or every mode when null); returns how many. */
    public int retryParked(String provider, String mode, Instant now) {
        return Tx.runDurable(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE sync_queue SET need_manual_retry = NULL, failed_attempts = 0, "
                    + "not_before = ? WHERE slot = 'waiting' AND provider = ? AND need_manual_retry IS NOT NULL"
                    + (mode == null ? "" : " AND need_manual_retry = ?"))) {
                ps.setObject(1, ts(now));
                ps.setString(2, provider);
                if (mode != null) {
                    ps.setString(3, mode);
                }
                return ps.executeUpdate();
            }
        });
    }

    static final String CANCEL = "DELETE FROM sync_queue WHERE id = ? AND " + SLOT_IS_WAITING;

    /** Cancel: deletes a waiting row (not one in flight); false when there is none. */
    public boolean cancel(Connection c, long id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(CANCEL)) {
            ps.setLong(1, id);
            return ps.executeUpdate() == 1;
        }
    }

    private static String truncate(String s) {
        return s == null || s.length() <= 4000 ? s : s.substring(0, 3999) + "…";
    }

    static void logLost(QueueEntry e) {
        LOG.warn("Queue row {} ({} {} for {}) was taken back after its lease expired; its outcome is discarded",
                e.id(), e.eventSlug(), e.orderCode(), e.provider());
    }
}
