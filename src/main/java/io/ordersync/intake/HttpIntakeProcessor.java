package io.ordersync.intake;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.db.Tx;
import io.ordersync.order.InvalidDocumentException;
import org.apache.camel.Exchange;
import org.apache.camel.Processor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code POST /api/events}: 202 with the queue rows created or updated, 400 with the reason otherwise. */
public final class HttpIntakeProcessor implements Processor {

    private final IntakeService intake;
    private final ObjectMapper mapper;

    public HttpIntakeProcessor(IntakeService intake, ObjectMapper mapper) {
        this.intake = intake;
        this.mapper = mapper;
    }

    /** The answer to a body in a charset Java does not know (Camel's conversion of it failed with a plain-text 500). */
    public static final String UNKNOWN_CHARSET = "the charset of the request's Content-Type is not one this server knows: send UTF-8";

    /** Whether the request's charset, if it names one, is one Java knows. */
    public static boolean charsetKnown(Exchange exchange) {
        String charset = exchange.getProperty(Exchange.CHARSET_NAME, String.class);
        if (charset == null) {
            return true;
        }
        try {
            return java.nio.charset.Charset.isSupported(charset.trim());
        } catch (java.nio.charset.IllegalCharsetNameException e) {
            return false;
        }
    }

    @Override
    public void process(Exchange exchange) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        int status;
        if (!charsetKnown(exchange)) {
            out.put("error", UNKNOWN_CHARSET);
            reply(exchange, 415, out);
            return;
        }
        String payload = exchange.getIn().getBody(String.class);
        try {
            IntakeService.Accepted a = Tx.runRetrying(intake.dataSource(), c -> {
                try {
                    return intake.accept(c, payload, "HTTP");
                } catch (InvalidDocumentException e) {
                    throw new Rejected(e);
                }
            });
            intake.committed();
            status = 202;
            out.put("event", a.eventSlug());
            out.put("order", a.orderCode());
            out.put("type", a.type());
            out.put("snapshot", a.snapshotStored() ? "stored" : "kept newer stored snapshot");
            List<Map<String, Object>> queued = new ArrayList<>();
            a.queued().forEach(q -> queued.add(Map.of("id", q.id(), "provider", q.provider(), "action", q.action())));
            out.put("queued", queued);
        } catch (Rejected r) {
            long id = intake.reject("http", payload, r.getCause().getMessage());
            status = 400;
            out.put("error", r.getCause().getMessage());
            out.put("rejected_id", id);
        } catch (RuntimeException e) {
            status = failed(payload, e, out);
        }
        reply(exchange, status, out);
    }

    private void reply(Exchange exchange, int status, Map<String, Object> out) throws Exception {
        exchange.getMessage().removeHeaders("*");
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, status);
        if (status == 503) {
            exchange.getMessage().setHeader("Retry-After", "5");
        }
        exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "application/json");
        exchange.getMessage().setBody(mapper.writeValueAsString(out));
    }

    /**
     * Intake failed for another reason than the document's content: an unreachable database gets 503 (nothing
     * was stored, the sender tries again); anything else is kept as a rejected event with its reason, so no
     * document is dropped without a trace.
     */
    private int failed(String payload, RuntimeException e, Map<String, Object> out) {
        if (!Tx.isDatabaseUnavailable(e) && !Tx.isConflict(e)) {
            boolean data = Tx.isDataError(e);
            String reason = data ? "the database refused a value of the document: " + sqlMessage(e)
                    : "internal error while accepting: " + e.getClass().getSimpleName();
            LOG.error("An event posted to /api/events could not be accepted; kept as a rejected event", e);
            try {
                out.put("error", reason);
                out.put("rejected_id", intake.reject("http", payload, reason));
                return data ? 400 : 500;
            } catch (RuntimeException again) {
                e.addSuppressed(again);
                out.clear();
            }
        }
        LOG.warn("An event posted to /api/events was not stored: {}", e.getMessage());
        out.put("error", "the database is unavailable or busy; nothing was stored, send the event again");
        return 503;
    }

    /** The first line of the database's message (H2 appends the statement), at most 300 characters. */
    public static String sqlMessage(Throwable e) {
        while (e != null) {
            if (e instanceof java.sql.SQLException sql) {
                String m = sql.getMessage() == null ? "" : sql.getMessage();
                // H2 appends the statement; the first line names the column and the problem
                int nl = m.indexOf('\n');
                m = nl < 0 ? m : m.substring(0, nl);
                return m.length() > 300 ? m.substring(0, 300) + "…" : m;
            }
            e = e.getCause();
        }
        return "";
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(HttpIntakeProcessor.class);

    /** Carries a rejection out of the (rolled back) transaction. */
    private static final class Rejected extends RuntimeException {
        Rejected(InvalidDocumentException cause) {
            super(cause.getMessage(), cause);
        }
    }
}
