package io.ordersync.delivery;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.mapping.MappingConfigException;
import io.ordersync.mapping.MappingEngine;
import io.ordersync.mapping.Provider;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.InvalidDocumentException;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.OrderStore;
import io.ordersync.queue.QueueEntry;
import org.apache.camel.CamelContext;
import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.apache.camel.ProducerTemplate;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The provider route's work: maps the order's newest snapshot and upserts every object idempotently
 * (look up, compare, create / update / nothing to do). Leaves the results in {@link #RESULTS}.
 */
public final class DeliveryProcessor implements Processor {

    /** Exchange property holding the {@code List<OrderStore.Result>} of a successful sync. */
    public static final String RESULTS = "ordersync.results";
    /** Exchange property holding the {@link QueueEntry} being synced. */
    public static final String ENTRY = "ordersync.entry";

    private final CamelContext context;
    private final ProviderRegistry providers;
    private final OrderStore store;
    private final DocumentParser parser;
    private final ObjectMapper mapper;
    private final ProviderGate gate;
    private final Duration maxInProcessRetryAfter;
    private final Map<String, HttpTarget> targets = new ConcurrentHashMap<>();
    private volatile ProducerTemplate template;

    public DeliveryProcessor(CamelContext context, ProviderRegistry providers, OrderStore store, DocumentParser parser,
                             ObjectMapper mapper, ProviderGate gate, Duration maxInProcessRetryAfter) {
        this.context = context;
        this.providers = providers;
        this.store = store;
        this.parser = parser;
        this.mapper = mapper;
        this.gate = gate;
        this.maxInProcessRetryAfter = maxInProcessRetryAfter;
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
            doc = parser.parse(json);
        } catch (InvalidDocumentException e) {
            throw new IllegalStateException("stored snapshot no longer parses: " + e.getMessage(), e);
        }
        HttpTarget target = target(provider);
        List<OrderStore.Result> results = new ArrayList<>();
        for (MappingEngine.PlannedObject planned : MappingEngine.plan(provider, doc)) {
            results.add(upsert(exchange, target, provider, doc, planned));
        }
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
            t = new HttpTarget(context, template, provider, gate);
            targets.put(provider.identifier(), t);
        }
        return t;
    }

    private OrderStore.Result upsert(Exchange exchange, HttpTarget target, Provider provider, OrderDocument doc,
                                     MappingEngine.PlannedObject planned) throws JsonProcessingException {
        Provider.ObjectSpec spec = planned.spec();
        Map<String, String> extras = new HashMap<>();
        extras.put("id_value", planned.idValue());
        extras.put("base_url", provider.baseUrl());

        JsonNode existing = null;
        if (spec.lookup() != null) {
            String path = MappingEngine.template(spec.lookup().path(), provider, doc, planned.position(), extras, true);
            HttpTarget.Response r = target.send(spec.lookup().method(), path, null);
            if (r.status() != 404) {
                check(exchange, provider, spec.lookup().method(), path, r);
                existing = at(parse(r.body()), spec.lookup().resultPointer());
            }
        }
        boolean isNew = existing == null;
        Map<String, Object> old = MappingEngine.toMap(mapper, existing);
        Map<String, Object> desired = MappingEngine.assign(planned.values(), old, isNew, provider.separator(),
                provider.nativeLists());
        String remoteId = existing == null ? null : text(existing.at(spec.remoteIdPointer()));
        String action;
        if (spec.upsert() != null) {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put(spec.idRemote(), planned.idValue());
            body.putAll(isNew ? desired : MappingEngine.changes(desired, old));
            if (!isNew && body.size() == 1) {
                action = "nothing_to_do";
            } else {
                extras.put("remote_id", remoteId == null ? planned.idValue() : remoteId);
                String path = MappingEngine.template(spec.upsert().path(), provider, doc, planned.position(), extras, true);
                HttpTarget.Response r = target.send(spec.upsert().method(), path, mapper.writeValueAsString(body));
                check(exchange, provider, spec.upsert().method(), path, r);
                JsonNode returned = at(parse(r.body()), spec.upsert().resultPointer());
                String id = returned == null ? null : text(returned.at(spec.remoteIdPointer()));
                remoteId = id != null ? id : remoteId;
                action = r.status() == 201 || isNew && spec.lookup() != null ? "created" : "updated";
            }
        } else if (isNew) {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put(spec.idRemote(), planned.idValue());
            body.putAll(desired);
            String path = MappingEngine.template(spec.create().path(), provider, doc, planned.position(), extras, true);
            HttpTarget.Response r = target.send(spec.create().method(), path, mapper.writeValueAsString(body));
            check(exchange, provider, spec.create().method(), path, r);
            JsonNode created = at(parse(r.body()), spec.create().resultPointer());
            remoteId = created == null ? null : text(created.at(spec.remoteIdPointer()));
            action = "created";
        } else {
            Map<String, Object> changes = MappingEngine.changes(desired, old);
            if (changes.isEmpty()) {
                action = "nothing_to_do";
            } else {
                Map<String, Object> body = changes;
                if ("PUT".equals(spec.update().method())) {
                    body = new LinkedHashMap<>(old);
                    body.putAll(changes);
                }
                extras.put("remote_id", remoteId == null ? "" : remoteId);
                String path = MappingEngine.template(spec.update().path(), provider, doc, planned.position(), extras, true);
                HttpTarget.Response r = target.send(spec.update().method(), path, mapper.writeValueAsString(body));
                check(exchange, provider, spec.update().method(), path, r);
                action = "updated";
            }
        }
        if (remoteId != null) {
            extras.put("remote_id", remoteId);
        } else {
            extras.put("remote_id", "");
        }
        String link = MappingEngine.template(spec.externalLink(), provider, doc, planned.position(), extras, false);
        String display = MappingEngine.template(spec.displayName(), provider, doc, planned.position(), extras, false);
        return new OrderStore.Result(spec.id(), spec.remoteType(), spec.idRemote(), planned.idValue(), remoteId,
                link, display != null ? display : planned.idValue(), action, Instant.now());
    }

    /** Classifies a non-2xx response; honours Retry-After for the whole provider. */
    private void check(Exchange exchange, Provider provider, String method, String path, HttpTarget.Response r) {
        if (r.status() >= 200 && r.status() < 300) {
            return;
        }
        String what = method + " " + path + " → HTTP " + r.status() + excerpt(r.body());
        if (provider.recoverableStatuses().contains(r.status())) {
            Instant now = Instant.now();
            Instant retryAt = HttpTarget.retryAt(r.retryAfter(), now);
            if (retryAt != null) {
                gate.pause(provider.identifier(), retryAt);
                Duration wait = Duration.between(now, retryAt);
                if (wait.compareTo(maxInProcessRetryAfter) > 0) {
                    throw new DeferredDeliveryException(what + " (Retry-After until " + retryAt + ")", retryAt);
                }
                // Camel's redelivery waits exactly as long as the target asked (plus a little clock slack)
                exchange.getIn().setHeader(Exchange.REDELIVERY_DELAY, wait.toMillis() + 50);
            }
            throw new RecoverableDeliveryException(what, retryAt, null);
        }
        throw new PermanentDeliveryException(what);
    }

    private static String excerpt(String body) {
        if (body == null || body.isBlank()) {
            return "";
        }
        String b = body.strip().replaceAll("\\s+", " ");
        return ": " + (b.length() > 300 ? b.substring(0, 300) + "…" : b);
    }

    private JsonNode parse(String body) throws JsonProcessingException {
        if (body == null || body.isBlank()) {
            return mapper.createObjectNode();
        }
        return mapper.readTree(body);
    }

    /** The node at a JSON pointer, or null when it is missing, null, or an empty list/object. */
    private static JsonNode at(JsonNode root, String pointer) {
        JsonNode n = pointer == null || pointer.isEmpty() ? root : root.at(pointer);
        if (n == null || n.isMissingNode() || n.isNull() || (n.isContainerNode() && n.isEmpty())) {
            return null;
        }
        if (n.isArray()) {
            return n.get(0);
        }
        return n;
    }

    private static String text(JsonNode n) {
        return n == null || n.isMissingNode() || n.isNull() ? null : n.asText();
    }
}
