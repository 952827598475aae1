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
import java.util.Map;

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

    @Override
    public void process(Exchange exchange) throws Exception {
        Map<?, ?> row = exchange.getIn().getMandatoryBody(Map.class);
        long id = ((Number) column(row, "id")).longValue();
        String payload = column(row, "payload") == null ? null : column(row, "payload").toString();
        String source = "outbox #" + id;
        try {
            // the row's delete and its enqueue are one transaction in the database that holds the outbox: after
            // a crash both are on disk or neither is (the row is read again), so this commit needs no flush of
            // its own (an HTTP 202 or a JMS acknowledgement does: the sender forgets the event)
            String outcome = Tx.runRetrying(intake.dataSource(), false, c -> {
                if (!delete(c, id)) {
                    return "taken";
                }
                try {
                    IntakeService.Accepted a = intake.accept(c, payload, source);
                    return "accepted " + a.eventSlug() + "/" + a.orderCode();
                } catch (InvalidDocumentException e) {
                    intake.store().reject(c, "outbox", payload, e.getMessage(), Instant.now());
                    return "rejected: " + e.getMessage();
                }
            });
            intake.committed();
            LOG.debug("{}: {}", source, outcome);
            exchange.getIn().setBody(outcome);
        } catch (RuntimeException e) {
            if (Tx.isDatabaseUnavailable(e) || Tx.isConflict(e)) {
                throw e; // nothing committed; the row is read again at the next poll
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
        }
    }

    private static boolean delete(Connection c, long id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM order_outbox WHERE id = ?")) {
            ps.setLong(1, id);
            return ps.executeUpdate() == 1;
        }
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
