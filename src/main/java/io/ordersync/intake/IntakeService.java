package io.ordersync.intake;

import io.ordersync.db.Tx;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.InvalidDocumentException;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.OrderStore;
import io.ordersync.order.ParsedDocuments;
import io.ordersync.queue.SyncQueue;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Accepts an order document: stores the newest snapshot and queues the order for every subscribed provider. */
public final class IntakeService {

    private final DataSource ds;
    private final DocumentParser parser;
    private final OrderStore store;
    private final SyncQueue queue;
    private final ProviderRegistry providers;
    private final ParsedDocuments parsed;

    private final Runnable afterCommit;

    /** The database's time, read here (DatabaseClock): every time the queue stores or compares. */
    private final java.time.Clock clock;

    /**
     * {@code parsed}: where accepted documents are kept parsed for their delivery; {@code afterCommit}: what
     * {@link #committed()} does (ordersync wakes its dispatcher).
     */
    public IntakeService(DataSource ds, DocumentParser parser, OrderStore store, SyncQueue queue, ProviderRegistry providers,
                         ParsedDocuments parsed, Runnable afterCommit, java.time.Clock clock) {
        this.clock = clock;
        this.afterCommit = afterCommit;
        this.parsed = parsed;
        this.ds = ds;
        this.parser = parser;
        this.store = store;
        this.queue = queue;
        this.providers = providers;
    }

    /** What intake did with one document. */
    public record Accepted(String eventSlug, String orderCode, String type, boolean snapshotStored,
                           List<SyncQueue.Enqueued> queued) {
    }

    /** Accepts a document inside the caller's transaction; an invalid document changes nothing. */
    public Accepted accept(Connection c, String payload, String source) throws InvalidDocumentException, SQLException {
        return accept(c, payload, source, List.of());
    }

    /**
     * As {@link #accept(Connection, String, String)}, for a document that also stands for other trigger types
     * ({@code alsoTypes}): the providers triggered by any of them are queued, each with the first it is
     * triggered by (the document's own type first).
     */
    public Accepted accept(Connection c, String payload, String source, List<String> alsoTypes)
            throws InvalidDocumentException, SQLException {
        return accept(c, payload, source, alsoTypes, null);
    }

    /**
     * As {@link #accept(Connection, String, String, List)}; with {@code logLater} not null the "received" line is added
     * to it instead of written, for the caller to write the lines of several documents in one batch
     * ({@link OrderStore#log(Connection, List)}) in the same transaction.
     */
    public Accepted accept(Connection c, String payload, String source, List<String> alsoTypes, List<OrderStore.LogEntry> logLater)
            throws InvalidDocumentException, SQLException {
        OrderDocument doc = parser.parse(payload);
        Instant now = clock.instant();
        boolean stored = store.saveSnapshot(c, doc, payload, now);
        if (stored) {
            parsed.remember(doc, payload);
        }
        List<String> types = types(doc, alsoTypes);
        List<SyncQueue.Enqueued> queued = new ArrayList<>();
        for (Map.Entry<String, String> sub : providers.subscribers(doc, types).entrySet()) {
            queued.add(queue.enqueue(c, doc.eventSlug(), doc.orderCode(), sub.getKey(), sub.getValue(), now));
        }
        OrderStore.LogEntry line = received(doc, types, source, stored, queued, now);
        if (logLater != null) {
            logLater.add(line);
        } else {
            store.log(c, List.of(line));
        }
        return new Accepted(doc.eventSlug(), doc.orderCode(), doc.type(), stored, queued);
    }

    /** A document as parsed, with where it came from. */
    public record Incoming(OrderDocument doc, String payload, String source) {
    }

    /** Parses a document (nothing is stored). */
    /** The largest document intake takes, in UTF-8 bytes. */
    public int maxDocumentBytes() {
        return parser.maxBytes();
    }

    public OrderDocument parse(String payload) throws InvalidDocumentException {
        return parser.parse(payload);
    }

    /**
     * Accepts parsed documents of distinct orders in the caller's transaction, as {@link #accept} does one by one,
     * adding their "received" lines to {@code logLater}. On PostgreSQL the snapshots and the queue rows of all of
     * them take three or four statements instead of three per document (a round trip each).
     */
    public List<Accepted> acceptAll(Connection c, List<Incoming> incoming, List<OrderStore.LogEntry> logLater) throws SQLException {
        Instant now = clock.instant();
        List<OrderDocument> docs = incoming.stream().map(Incoming::doc).toList();
        boolean[] stored = store.saveSnapshots(c, docs, incoming.stream().map(Incoming::payload).toList(), now, queue.onPostgres(c));
        List<List<String>> types = new ArrayList<>();
        List<SyncQueue.Wanted> wanted = new ArrayList<>();
        List<Integer> wantedBy = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) {
            OrderDocument doc = docs.get(i);
            if (stored[i]) {
                parsed.remember(doc, incoming.get(i).payload());
            }
            types.add(types(doc, List.of()));
            for (Map.Entry<String, String> sub : providers.subscribers(doc, types.get(i)).entrySet()) {
                wanted.add(new SyncQueue.Wanted(doc.eventSlug(), doc.orderCode(), sub.getKey(), sub.getValue()));
                wantedBy.add(i);
            }
        }
        List<SyncQueue.Enqueued> enqueued = queue.enqueueAll(c, wanted, now);
        List<Accepted> out = new ArrayList<>(docs.size());
        for (int i = 0; i < docs.size(); i++) {
            OrderDocument doc = docs.get(i);
            List<SyncQueue.Enqueued> queued = new ArrayList<>();
            for (int j = 0; j < enqueued.size(); j++) {
                if (wantedBy.get(j) == i) {
                    queued.add(enqueued.get(j));
                }
            }
            logLater.add(received(doc, types.get(i), incoming.get(i).source(), stored[i], queued, now));
            out.add(new Accepted(doc.eventSlug(), doc.orderCode(), doc.type(), stored[i], queued));
        }
        return out;
    }

    /** The document's own type, then the other trigger types it stands for. */
    private static List<String> types(OrderDocument doc, List<String> alsoTypes) {
        List<String> types = new ArrayList<>();
        types.add(doc.type());
        alsoTypes.stream().filter(t -> !types.contains(t)).forEach(types::add);
        return types;
    }

    /** The "received" line of the order's log. */
    private static OrderStore.LogEntry received(OrderDocument doc, List<String> types, String source, boolean stored,
                                                List<SyncQueue.Enqueued> queued, Instant now) {
        StringBuilder msg = new StringBuilder(String.join(" and ", types)).append(" received via ").append(source);
        if (!stored) {
            msg.append(" (older than the stored snapshot by last_modified; snapshot kept)");
        }
        if (queued.isEmpty()) {
            msg.append("; no provider is triggered by ").append(String.join(" or ", types));
        } else {
            msg.append("; queued for ");
            for (int i = 0; i < queued.size(); i++) {
                msg.append(i == 0 ? "" : ", ").append(queued.get(i).provider());
            }
        }
        return new OrderStore.LogEntry(doc.eventSlug(), doc.orderCode(), null, "received", msg.toString(), now);
    }

    /** Called after a transaction with accepted events committed: their rows can be claimed now. */
    public void committed() {
        afterCommit.run();
    }

    /**
     * Records a message id of a source (a JMS message id, a pretix notification id) in the caller's
     * transaction; false when it was recorded before (the sender delivered it again).
     */
    public static boolean firstTime(Connection c, String source, String messageId) throws SQLException {
        java.sql.Savepoint sp = c.setSavepoint();
        try (java.sql.PreparedStatement ps = c.prepareStatement(
                "INSERT INTO intake_message (source, message_id, received_at) VALUES (?, ?, ?)")) {
            ps.setString(1, source);
            ps.setString(2, messageId);
            ps.setObject(3, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC));
            ps.executeUpdate();
            return true;
        } catch (SQLException e) {
            if (!io.ordersync.db.Tx.isConstraintViolation(e)) {
                throw e;
            }
            c.rollback(sp);
            return false;
        }
    }

    /** Keeps a document that could not be accepted, with its reason; returns the rejected row's id. */
    public long reject(String source, String payload, String reason) {
        return Tx.runDurable(ds, c -> store.reject(c, source, payload, reason, clock.instant()));
    }

    public DataSource dataSource() {
        return ds;
    }

    public OrderStore store() {
        return store;
    }
}
