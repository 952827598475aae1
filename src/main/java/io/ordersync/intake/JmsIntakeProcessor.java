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
 * (unparseable, invalid, or refused by the database for its content) is stored once as a rejected event and
 * acknowledged, never redelivered. While the database is out of reach the message is held, unacknowledged, and
 * tried again (1 s, doubling to 5 s) until the database answers: rolled back instead, each try counted as a
 * delivery, and the broker moved the message to its dead-letter address after its maximum (20 on the embedded
 * broker, 10 on Artemis's defaults), where nothing reads it (found by a review: an outage of 80 s lost the
 * messages). At a stop the message is rolled back and comes again at the next start. Message ids are recorded in
 * the same transaction, so a message redelivered after its enqueue committed is not taken twice.
 */
public final class JmsIntakeProcessor implements Processor {

    private static final Logger LOG = LoggerFactory.getLogger(JmsIntakeProcessor.class);

    private final IntakeService intake;
    private final long maxBytes;

    /** {@code maxBytes}: a larger message is a rejected event, not read (ordersync.jms.max-message-bytes). */
    public JmsIntakeProcessor(IntakeService intake, long maxBytes) {
        this.intake = intake;
        this.maxBytes = maxBytes;
    }

    /**
     * Artemis's property with the body size of a large message (Message.HDR_LARGE_BODY_SIZE): known before the body
     * is read, which for a text message of 100 MB meant 200 MB of heap, and then as much again stored as a rejected
     * event.
     */
    static final String LARGE_BODY_SIZE = "_AMQ_LARGE_SIZE";

    /** What is kept of a message over the limit that was read all the same (a text message Artemis did not send as large). */
    static final int KEPT_OF_OVERSIZED = 4096;

    static final long MAX_WAIT_MS = 5_000;

    @Override
    public void process(Exchange exchange) throws Exception {
        String id = exchange.getIn().getHeader("JMSMessageID", String.class);
        Object body = exchange.getIn().getBody();
        String payload;
        if (body instanceof jakarta.jms.Message m && m.propertyExists(LARGE_BODY_SIZE) && m.getLongProperty(LARGE_BODY_SIZE) > maxBytes) {
            rejectAfterFailure("", id, "the message is " + m.getLongProperty(LARGE_BODY_SIZE) + " bytes, over the limit of "
                    + maxBytes + " (ordersync.jms.max-message-bytes): not read");
            return;
        }
        if (body instanceof jakarta.jms.TextMessage text) {
            payload = text.getText();
            // two bytes a character, as Artemis holds a text (and counts it in its large-message size)
            if (payload != null && 2L * payload.length() > maxBytes) {
                int kept = (int) Math.min(KEPT_OF_OVERSIZED, maxBytes / 2);
                rejectAfterFailure(payload.substring(0, kept) + "…", id, "the message is " + 2L * payload.length()
                        + " bytes (two a character of its text), over the limit of " + maxBytes
                        + " (ordersync.jms.max-message-bytes): its first " + kept + " characters are kept");
                return;
            }
        } else if (body instanceof jakarta.jms.BytesMessage bytes) {
            if (bytes.getBodyLength() > maxBytes) {
                rejectAfterFailure("", id, "the message is " + bytes.getBodyLength() + " bytes, over the limit of " + maxBytes
                        + " (ordersync.jms.max-message-bytes): not read");
                return;
            }
            byte[] b = new byte[(int) bytes.getBodyLength()];
            bytes.readBytes(b);
            payload = new String(b, java.nio.charset.StandardCharsets.UTF_8);
        } else if (body instanceof jakarta.jms.Message other) {
            // an ObjectMessage is not opened: reading it would run Java deserialization of the sender's classes
            String kind = other.getClass().getInterfaces().length > 0 ? other.getClass().getInterfaces()[0].getSimpleName()
                    : other.getClass().getSimpleName();
            rejectAfterFailure("", id, "not a text or bytes message (" + kind + "): not read");
            return;
        } else {
            payload = exchange.getIn().getBody(String.class);
        }
        long wait = 1000;
        boolean held = false;
        while (true) {
            try {
                take(payload, id);
                if (held) {
                    LOG.info("The database answers again: JMS message {} taken in", id);
                }
                return;
            } catch (RuntimeException e) {
                if (!Tx.isDatabaseUnavailable(e) && !Tx.isConflict(e)) {
                    LOG.error("JMS message {} could not be accepted; kept as a rejected event", id, e);
                    rejectAfterFailure(payload, id, Tx.isDataError(e) ? "the database refused a value of the document: "
                            + HttpIntakeProcessor.sqlMessage(e) : "internal error while accepting: " + e.getClass().getSimpleName());
                    return;
                }
                if (!held) {
                    held = true;
                    LOG.warn("The database is out of reach; JMS message {} is held, not acknowledged, and taken in once it "
                            + "answers: {}", id, e.getMessage());
                }
                for (long slept = 0; slept < wait; slept += 200) {
                    if (exchange.getContext().isStopping()) {
                        throw e; // rolled back: the broker keeps it for the next start
                    }
                    Thread.sleep(200);
                }
                wait = Math.min(wait * 2, MAX_WAIT_MS);
            }
        }
    }

    /**
     * A message that breaks intake for another reason than the database being out of reach (the database refuses a
     * value of it, say): redelivered, it would fail the same way every time and end in the dead-letter address. It
     * is kept as a rejected event with the reason, and acknowledged.
     */
    private void rejectAfterFailure(String payload, String id, String reason) {
        Tx.runDurable(intake.dataSource(), c -> {
            if (id == null || firstDelivery(c, id)) {
                intake.store().reject(c, "jms", payload, reason, Instant.now());
            }
            return null;
        });
    }

    private void take(String payload, String id) {
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
