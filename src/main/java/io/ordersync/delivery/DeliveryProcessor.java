package io.ordersync.delivery;

import io.ordersync.mapping.MappingConfigException;
import io.ordersync.mapping.Provider;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.order.InvalidDocumentException;
import io.ordersync.order.OrderDocument;
import io.ordersync.ops.SyncMetrics;
import io.ordersync.order.OrderStore;
import io.ordersync.order.ParsedDocuments;
import io.ordersync.queue.QueueEntry;
import org.apache.camel.CamelContext;
import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.apache.camel.ProducerTemplate;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The provider route's work: syncs the order's newest snapshot to the provider's target and leaves the
 * results in {@link #RESULTS}; failures are thrown, classified, for the route's error handler.
 */
public final class DeliveryProcessor implements Processor {

    /** Exchange property holding the {@code List<OrderStore.Result>} of a successful sync. */
    public static final String RESULTS = "ordersync.results";
    /**
     * Exchange property set once this sync sent a request to the target (in any of its in-process tries): such
     * a sync counts as an attempt even when a later try is held back by the breaker or a pause.
     */
    public static final String REQUEST_SENT = "ordersync.requestSent";
    /** Exchange property holding the {@link QueueEntry} being synced. */
    public static final String ENTRY = "ordersync.entry";

    private final CamelContext context;
    private final ProviderRegistry providers;
    private final OrderStore store;
    private final ParsedDocuments documents;
    private final Upserter upserter;
    private final ProviderGate gate;
    private final SyncMetrics metrics;
    private final ProviderBreakers breakers;
    private final Map<String, HttpTarget> targets = new ConcurrentHashMap<>();
    private volatile ProducerTemplate template;

    public DeliveryProcessor(CamelContext context, ProviderRegistry providers, OrderStore store, ParsedDocuments documents,
                             Upserter upserter, ProviderGate gate, SyncMetrics metrics, ProviderBreakers breakers) {
        this.breakers = breakers;
        this.metrics = metrics;
        this.context = context;
        this.providers = providers;
        this.store = store;
        this.documents = documents;
        this.upserter = upserter;
        this.gate = gate;
    }

    @Override
    public void process(Exchange exchange) throws Exception {
        QueueEntry entry = exchange.getProperty(ENTRY, QueueEntry.class);
        if (entry == null) {
            entry = exchange.getIn().getBody(QueueEntry.class);
            exchange.setProperty(ENTRY, entry);
        }
        Provider provider = providers.active(entry.provider());
        if (provider == null) {
            throw new MappingConfigException("provider '" + entry.provider() + "' is not active: "
                    + String.join("; ", providers.errors(entry.provider())));
        }
        String json = store.snapshot(entry.eventSlug(), entry.orderCode());
        if (json == null) {
            throw new IllegalStateException("no snapshot stored for order " + entry.eventSlug() + "/" + entry.orderCode());
        }
        OrderDocument doc;
        try {
            doc = documents.parse(entry.eventSlug(), entry.orderCode(), json);
        } catch (InvalidDocumentException e) {
            throw new IllegalStateException("stored snapshot no longer parses: " + e.getMessage(), e);
        }
        HttpTarget http = target(provider);
        Transport counted = request -> {
            Transport.Response r;
            try {
                r = http.send(request);
            } catch (DeferredDeliveryException paused) {
                if (paused.requestSent()) {
                    exchange.setProperty(REQUEST_SENT, Boolean.TRUE);
                }
                throw paused;
            } catch (RuntimeException failed) {
                // connection refused, timeout: the request went out (or tried to), the try counts
                exchange.setProperty(REQUEST_SENT, Boolean.TRUE);
                throw failed;
            }
            exchange.setProperty(REQUEST_SENT, Boolean.TRUE);
            metrics.httpResponse(provider.identifier(), r.status());
            return r;
        };
        List<OrderStore.Result> results = upserter.sync(provider, doc, counted,
                delay -> exchange.getIn().setHeader(Exchange.REDELIVERY_DELAY, delay));
        exchange.setProperty(RESULTS, results);
    }

    private HttpTarget target(Provider provider) {
        if (template == null) {
            synchronized (this) {
                if (template == null) {
                    template = context.createProducerTemplate();
                }
            }
        }
        HttpTarget t = targets.get(provider.identifier());
        if (t == null || t.provider() != provider) {
            t = new HttpTarget(context, template, provider, gate, breakers);
            targets.put(provider.identifier(), t);
        }
        return t;
    }
}
