package io.ordersync.intake;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.config.Tx;
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

    @Override
    public void process(Exchange exchange) throws Exception {
        String payload = exchange.getIn().getBody(String.class);
        Map<String, Object> out = new LinkedHashMap<>();
        int status;
        try {
            IntakeService.Accepted a = Tx.run(intake.dataSource(), c -> {
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
        }
        exchange.getMessage().removeHeaders("*");
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, status);
        exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "application/json");
        exchange.getMessage().setBody(mapper.writeValueAsString(out));
    }

    /** Carries a rejection out of the (rolled back) transaction. */
    private static final class Rejected extends RuntimeException {
        Rejected(InvalidDocumentException cause) {
            super(cause.getMessage(), cause);
        }
    }
}
