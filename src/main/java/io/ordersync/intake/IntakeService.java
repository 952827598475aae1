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

    /**
     * {@code parsed}: where accepted documents are kept parsed for their delivery; {@code afterCommit}: what
     * {@link #committed()} does (ordersync wakes its dispatcher).
     */
    public IntakeService(DataSource ds, DocumentParser parser, OrderStore store, SyncQueue queue, ProviderRegistry providers,
                         ParsedDocuments parsed, Runnable afterCommit) {
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
        Instant now = Instant.now();
        boolean stored = store.saveSnapshot(c, doc, payload, now);
        if (stored) {
            parsed.remember(doc, payload);
        }
        List<String> types = new ArrayList<>();
        types.add(doc.type());
        alsoTypes.stream().filter(t -> !types.contains(t)).forEach(types::add);
        List<SyncQueue.Enqueued> queued = new ArrayList<>();
        for (Map.Entry<String, String> sub : providers.subscribers(doc, types).entrySet()) {
            queued.add(queue.enqueue(c, doc.eventSlug(), doc.orderCode(), sub.getKey(), sub.getValue(), now));
        }
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
        if (logLater != null) {
            logLater.add(new OrderStore.LogEntry(doc.eventSlug(), doc.orderCode(), null, "received", msg.toString(), now));
        } else {
            store.log(c, doc.eventSlug(), doc.orderCode(), null, "received", msg.toString(), now);
        }
        return new Accepted(doc.eventSlug(), doc.orderCode(), doc.type(), stored, queued);
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
        return Tx.runDurable(ds, c -> store.reject(c, source, payload, reason, Instant.now()));
    }

    public DataSource dataSource() {
        return ds;
    }

    public OrderStore store() {
        return store;
    }
}
