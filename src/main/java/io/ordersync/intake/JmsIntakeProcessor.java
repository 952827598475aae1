package io.ordersync.intake;

import io.ordersync.db.Tx;
import io.ordersync.order.InvalidDocumentException;
import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;

/**
 * One JMS message: the document is accepted (snapshot and queue rows) in a database transaction that commits
 * before the route ends, so the transacted JMS session acknowledges only what is stored. A poison message
 * (unparseable, invalid) is stored once as a rejected event and acknowledged, never redelivered; a
 * database failure rolls the message back for redelivery. Message ids are recorded in the same
 * transaction, so a message redelivered after its enqueue committed is not taken twice.
 */
public final class JmsIntakeProcessor implements Processor {

    private static final Logger LOG = LoggerFactory.getLogger(JmsIntakeProcessor.class);

    private final IntakeService intake;

    public JmsIntakeProcessor(IntakeService intake) {
        this.intake = intake;
    }

    @Override
    public void process(Exchange exchange) {
        String payload = exchange.getIn().getBody(String.class);
        String id = exchange.getIn().getHeader("JMSMessageID", String.class);
        String outcome = Tx.runRetrying(intake.dataSource(), c -> {
            if (id != null && !firstDelivery(c, id)) {
                return "already accepted (redelivered after its enqueue committed)";
            }
            try {
                IntakeService.Accepted a = intake.accept(c, payload, "JMS " + id);
                return "accepted " + a.eventSlug() + "/" + a.orderCode();
            } catch (InvalidDocumentException e) {
                intake.store().reject(c, "jms", payload, e.getMessage(), Instant.now());
                return "rejected: " + e.getMessage();
            }
        });
        intake.committed();
        LOG.debug("JMS {}: {}", id, outcome);
    }

    /** Records the message id in the intake transaction; false when it was accepted before. */
    private static boolean firstDelivery(Connection c, String messageId) throws SQLException {
        return IntakeService.firstTime(c, "jms", messageId);
    }
}
