package io.ordersync.intake;

import io.ordersync.db.Tx;
import io.ordersync.order.InvalidDocumentException;
import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import io.ordersync.order.OrderStore;

/**
 * Consumes one order_outbox row (as read by camel-sql): deleting the row and enqueueing its order commit
 * in one transaction, so an event is neither lost nor enqueued twice, also across a crash; a row another
 * consumer already took (delete finds nothing) is skipped.
 */
public final class OutboxIntakeProcessor implements Processor {

    private static final Logger LOG = LoggerFactory.getLogger(OutboxIntakeProcessor.class);

    private final IntakeService intake;

    public OutboxIntakeProcessor(IntakeService intake) {
        this.intake = intake;
    }

    /**
     * Rows accepted in one transaction: their deletes and "received" lines are two batched statements, and one
     * commit instead of one per row. Small, because the first row of a chunk becomes claimable only when the
     * whole chunk commits.
     */
    static final int CHUNK = 8;

    /**
     * A chunk ends before its payloads pass this many bytes (a payload larger than that is a chunk alone): eight
     * documents of a megabyte each, their parsed trees and H2's copy of each in its store's write buffer, were
     * more than the default heap could give at once.
     */
    static final long CHUNK_BYTES = 2L << 20;

    /** What is kept, as a rejected event, of a payload over ordersync.intake.max-document-bytes (not read whole). */
    static final int KEPT_OF_OVERSIZED = 4096;

    @Override
    public void process(Exchange exchange) throws Exception {
        Object body = exchange.getIn().getBody();
        List<Map<?, ?>> rows = new ArrayList<>();
        if (body instanceof List<?> list) {
            // the route reads a poll's rows as one list (camel-sql useIterator=false)
            list.forEach(r -> rows.add((Map<?, ?>) r));
        } else {
            rows.add(exchange.getIn().getMandatoryBody(Map.class));
        }
        List<String> outcomes = new ArrayList<>();
        for (int from = 0, to; from < rows.size(); from = to) {
            long bytes = size(rows.get(from));
            to = from + 1;
            while (to < rows.size() && to - from < CHUNK && bytes + size(rows.get(to)) <= CHUNK_BYTES) {
                bytes += size(rows.get(to++));
            }
            List<Map<?, ?>> chunk = rows.subList(from, to);
            if (chunk.size() > 1) {
                try {
                    outcomes.addAll(acceptTogether(chunk));
                    continue;
                } catch (RuntimeException e) {
                    if (Tx.isDatabaseUnavailable(e)) {
                        pauseAfterFailure();
                        throw e; // nothing committed; the rows are read again at the next poll
                    }
                    // one row may be the cause (a document the database refuses): each on its own, as below
                    LOG.debug("A chunk of {} outbox rows failed together ({}); accepting them one by one", chunk.size(), e.toString());
                }
            }
            for (Map<?, ?> row : chunk) {
                outcomes.add(acceptAlone(row));
            }
        }
        exchange.getIn().setBody(outcomes.size() == 1 ? outcomes.get(0) : outcomes);
    }

    /** The rows of a chunk in one transaction; a row another consumer took meanwhile is skipped. */
    private List<String> acceptTogether(List<Map<?, ?>> chunk) {
        List<String> outcomes = Tx.runRetrying(intake.dataSource(), false, c -> {
            String[] out = new String[chunk.size()];
            String[] payloads = new String[chunk.size()];
            for (int i = 0; i < chunk.size(); i++) {
                payloads[i] = payload(c, chunk.get(i)); // before the delete: a row not read by the poll is read here
            }
            boolean[] ours = delete(c, chunk.stream().map(r -> ((Number) column(r, "id")).longValue()).toList());
            List<OrderStore.LogEntry> received = new ArrayList<>();
            // the valid documents are accepted together (PostgreSQL: a few statements for all of them); an order
            // that comes again within the chunk starts a new group, so that its documents are compared in turn
            List<IntakeService.Incoming> group = new ArrayList<>();
            List<Integer> groupRows = new ArrayList<>();
            java.util.Set<List<String>> orders = new java.util.HashSet<>();
            for (int i = 0; i < chunk.size(); i++) {
                long id = ((Number) column(chunk.get(i), "id")).longValue();
                if (!ours[i]) {
                    out[i] = "outbox #" + id + ": taken";
                    continue;
                }
                String payload = payloads[i];
                payloads[i] = null;
                io.ordersync.order.OrderDocument doc;
                try {
                    doc = parse(chunk.get(i), payload);
                } catch (InvalidDocumentException e) {
                    intake.store().reject(c, "outbox", payload, e.getMessage(), Instant.now());
                    out[i] = "outbox #" + id + ": rejected: " + e.getMessage();
                    continue;
                }
                if (!orders.add(List.of(doc.eventSlug(), doc.orderCode()))) {
                    acceptGroup(c, group, groupRows, out, received);
                    orders.clear();
                    orders.add(List.of(doc.eventSlug(), doc.orderCode()));
                }
                group.add(new IntakeService.Incoming(doc, payload, "outbox #" + id));
                groupRows.add(i);
            }
            acceptGroup(c, group, groupRows, out, received);
            intake.store().log(c, received);
            return List.of(out);
        });
        intake.committed();
        if (LOG.isDebugEnabled()) {
            outcomes.forEach(o -> LOG.debug("{}", o));
        }
        return outcomes;
    }

    /** Accepts a group of documents of distinct orders, notes each row's outcome, and empties the group. */
    private void acceptGroup(Connection c, List<IntakeService.Incoming> group, List<Integer> rows, String[] out,
                             List<OrderStore.LogEntry> received) throws SQLException {
        if (group.isEmpty()) {
            return;
        }
        List<IntakeService.Accepted> accepted = intake.acceptAll(c, group, received);
        for (int j = 0; j < group.size(); j++) {
            IntakeService.Accepted a = accepted.get(j);
            out[rows.get(j)] = group.get(j).source() + ": accepted " + a.eventSlug() + "/" + a.orderCode();
        }
        group.clear();
        rows.clear();
    }

    /**
     * The row's document, or why it is refused: one over ordersync.intake.max-document-bytes was not read whole
     * ({@link #payload}), and its first characters are what the rejected event keeps.
     */
    private io.ordersync.order.OrderDocument parse(Map<?, ?> row, String payload) throws InvalidDocumentException {
        if (oversized(row)) {
            throw new InvalidDocumentException("document is " + size(row) + " bytes, over the limit of " + intake.maxDocumentBytes()
                    + " bytes (ordersync.intake.max-document-bytes): not read; the first " + KEPT_OF_OVERSIZED + " characters kept");
        }
        return intake.parse(payload);
    }

    /** One document in the caller's transaction: accepted, or rejected with its reason. */
    private String accept(Connection c, Map<?, ?> row, String payload, List<OrderStore.LogEntry> received) throws SQLException {
        long id = ((Number) column(row, "id")).longValue();
        try {
            if (oversized(row)) {
                parse(row, payload); // throws
            }
            IntakeService.Accepted a = intake.accept(c, payload, "outbox #" + id, List.of(), received);
            return "accepted " + a.eventSlug() + "/" + a.orderCode();
        } catch (InvalidDocumentException e) {
            intake.store().reject(c, "outbox", payload, e.getMessage(), Instant.now());
            return "rejected: " + e.getMessage();
        }
    }

    /** One row in its own transaction; a row that breaks intake unexpectedly is moved to the rejected events. */
    private String acceptAlone(Map<?, ?> row) {
        long id = ((Number) column(row, "id")).longValue();
        // a payload the poll did not read is read first, outside the transaction (the error path below keeps it)
        String payload;
        try {
            payload = column(row, "payload") != null && !oversized(row) ? column(row, "payload").toString()
                    : Tx.run(intake.dataSource(), c -> payload(c, row));
        } catch (RuntimeException e) {
            pauseAfterFailure(); // the row is read again at the next poll, not at once
            throw e;
        }
        String source = "outbox #" + id;
        try {
            // the row's delete and its enqueue are one transaction in the database that holds the outbox: after
            // a crash both are on disk or neither is (the row is read again), so this commit needs no flush of
            // its own (an HTTP 202 or a JMS acknowledgement does: the sender forgets the event)
            String outcome = Tx.runRetrying(intake.dataSource(), false, c -> {
                if (!delete(c, id)) {
                    return "taken";
                }
                return accept(c, row, payload, null);
            });
            intake.committed();
            LOG.debug("{}: {}", source, outcome);
            return source + ": " + outcome;
        } catch (RuntimeException e) {
            if (Tx.isDatabaseUnavailable(e) || Tx.isConflict(e)) {
                // nothing committed; the row is read again at the next poll — after a pause: the consumer polls
                // again at once after a poll that found rows (greedy), and would retry in a tight loop
                pauseAfterFailure();
                throw e;
            }
            // a document that breaks intake in an unexpected way (or that the database refuses for its
            // content) must not block the outbox forever: the same row would fail again at every poll
            LOG.error("{} could not be accepted; moved to rejected events", source, e);
            Tx.runDurable(intake.dataSource(), c -> {
                if (delete(c, id)) {
                    intake.store().reject(c, "outbox", payload, "internal error while accepting: " + e, Instant.now());
                }
                return null;
            });
            return source + ": rejected after an internal error";
        }
    }

    /** How long intake waits after a failure that leaves the rows in the outbox (database down, lost races). */
    static final long FAILURE_PAUSE_MS = 250;

    private static void pauseAfterFailure() {
        try {
            Thread.sleep(FAILURE_PAUSE_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The row's payload: as the poll read it, or (over 64 KiB, not read by the poll) read now; of one over the
     * document limit only the first {@value #KEPT_OF_OVERSIZED} characters. Null when the row is gone.
     */
    private String payload(Connection c, Map<?, ?> row) throws SQLException {
        Object p = column(row, "payload");
        if (p != null || column(row, "payload_bytes") == null) {
            // read by the poll (up to 64 KiB): over a lower document limit, cut as one read here would be
            return p == null ? null : oversized(row) ? kept(p.toString()) : p.toString();
        }
        String sql = oversized(row) ? "SELECT SUBSTRING(payload, 1, " + KEPT_OF_OVERSIZED + ") FROM order_outbox WHERE id = ?"
                : "SELECT payload FROM order_outbox WHERE id = ?";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setLong(1, ((Number) column(row, "id")).longValue());
            try (java.sql.ResultSet rs = ps.executeQuery()) {
                return !rs.next() ? null : oversized(row) ? kept(rs.getString(1)) : rs.getString(1);
            }
        }
    }

    /**
     * The first {@value #KEPT_OF_OVERSIZED} characters, not ending in half a surrogate pair (H2's SUBSTRING counts
     * UTF-16 units, PostgreSQL's whole characters).
     */
    static String kept(String s) {
        String cut = s.length() > KEPT_OF_OVERSIZED ? s.substring(0, KEPT_OF_OVERSIZED) : s;
        return !cut.isEmpty() && Character.isHighSurrogate(cut.charAt(cut.length() - 1)) ? cut.substring(0, cut.length() - 1) : cut;
    }

    /** The payload's size in bytes as the poll measured it (0 when it did not: a route of an older version). */
    private static long size(Map<?, ?> row) {
        return column(row, "payload_bytes") instanceof Number n ? n.longValue() : 0;
    }

    private boolean oversized(Map<?, ?> row) {
        return size(row) > intake.maxDocumentBytes();
    }

    /** Deletes the rows in one batched statement: which of them this transaction took. */
    private static boolean[] delete(Connection c, List<Long> ids) throws SQLException {
        boolean[] ours = new boolean[ids.size()];
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM order_outbox WHERE id = ?")) {
            for (long id : ids) {
                ps.setLong(1, id);
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            for (int i = 0; i < ours.length; i++) {
                ours[i] = counts[i] == 1;
            }
        }
        return ours;
    }

    private static boolean delete(Connection c, long id) throws SQLException {
        return delete(c, List.of(id))[0];
    }

    /** camel-sql keeps the database's column case (H2: upper, PostgreSQL: lower). */
    private static Object column(Map<?, ?> row, String name) {
        for (Map.Entry<?, ?> e : row.entrySet()) {
            if (name.equalsIgnoreCase(String.valueOf(e.getKey()))) {
                return e.getValue();
            }
        }
        return null;
    }
}
