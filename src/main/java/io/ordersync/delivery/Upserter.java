package io.ordersync.delivery;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.mapping.MappingEngine;
import io.ordersync.mapping.Provider;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.OrderStore;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Syncs one order to one provider through a {@link Transport}: for each mapped object an idempotent
 * upsert (look up, compare with the property modes, create / update / nothing to do), or a signed
 * webhook message. The same code serves real delivery and the preview.
 */
public final class Upserter {

    private final ObjectMapper mapper;
    private final ProviderGate gate;
    private final Duration maxInProcessRetryAfter;

    private final Duration maxRetryAfter;

    /** {@code maxRetryAfter}: the longest pause a target's Retry-After can impose (longer ones are cut). */
    public Upserter(ObjectMapper mapper, ProviderGate gate, Duration maxInProcessRetryAfter, Duration maxRetryAfter) {
        this.maxRetryAfter = maxRetryAfter;
        this.mapper = mapper;
        this.gate = gate;
        this.maxInProcessRetryAfter = maxInProcessRetryAfter;
    }

    /**
     * @param redeliveryDelay told the delay Camel's redelivery should wait when the target sent a short Retry-After
     */
    public List<OrderStore.Result> sync(Provider provider, OrderDocument doc, Transport transport, LongConsumer redeliveryDelay)
            throws JsonProcessingException {
        List<MappingEngine.Done> done = new ArrayList<>();
        List<OrderStore.Result> results = new ArrayList<>();
        List<ObjectNode> batch = new ArrayList<>();
        for (MappingEngine.PlannedObject planned : MappingEngine.plan(provider, doc)) {
            List<MappingEngine.NewValue> values = MappingEngine.resolve(provider, planned, done);
            OrderStore.Result r;
            if (provider.kind() == Provider.Kind.WEBHOOK) {
                ObjectNode object = webhookObject(provider, planned, values);
                if (provider.webhook().perOrder()) {
                    batch.add(object);
                } else {
                    sendWebhook(provider, doc, transport, redeliveryDelay, object, planned);
                }
                r = result(provider, doc, planned, null, "sent");
            } else {
                r = upsert(provider, doc, transport, redeliveryDelay, planned, values);
            }
            results.add(r);
            done.add(new MappingEngine.Done(planned.spec().id(), planned.positionKey(), r));
        }
        if (!batch.isEmpty()) {
            ObjectNode data = mapper.createObjectNode();
            data.put("event", doc.eventSlug());
            data.put("order", doc.orderCode());
            ArrayNode objects = data.putArray("objects");
            batch.forEach(objects::add);
            send(provider, transport, redeliveryDelay, envelope(doc, data), null);
        }
        return results;
    }

    private ObjectNode webhookObject(Provider provider, MappingEngine.PlannedObject planned, List<MappingEngine.NewValue> values) {
        ObjectNode o = mapper.createObjectNode();
        o.put("object_type", planned.spec().remoteType());
        o.put("id_field", planned.spec().idRemote());
        o.put("id", planned.idValue());
        Map<String, Object> props = new LinkedHashMap<>();
        props.put(planned.spec().idRemote(), planned.idValue());
        props.putAll(MappingEngine.assign(values, Map.of(), true, provider.separator(), provider.nativeLists()));
        o.set("properties", mapper.valueToTree(props));
        return o;
    }

    private ObjectNode envelope(OrderDocument doc, ObjectNode data) {
        ObjectNode body = mapper.createObjectNode();
        body.put("type", doc.type());
        // the order's own time, so a retried message is byte for byte the same
        String ts = doc.lastModified() != null ? doc.lastModified() : doc.order().path("datetime").asText(null);
        body.put("timestamp", ts);
        body.set("data", data);
        return body;
    }

    private void sendWebhook(Provider provider, OrderDocument doc, Transport transport, LongConsumer redeliveryDelay,
                             ObjectNode object, MappingEngine.PlannedObject planned) throws JsonProcessingException {
        ObjectNode data = object.deepCopy();
        data.put("event", doc.eventSlug());
        data.put("order", doc.orderCode());
        send(provider, transport, redeliveryDelay, envelope(doc, data), planned);
    }

    private void send(Provider provider, Transport transport, LongConsumer redeliveryDelay, ObjectNode body,
                      MappingEngine.PlannedObject planned) throws JsonProcessingException {
        String json = mapper.writeValueAsString(body);
        String id = WebhookSigner.messageId(provider.identifier(), json);
        Map<String, String> headers = WebhookSigner.headers(provider.webhook().key(), id, Instant.now().getEpochSecond(), json);
        Transport.Request req = new Transport.Request("POST", provider.webhook().path(), json, headers, Transport.Purpose.WEBHOOK,
                planned == null ? null : planned.spec().id(), planned == null ? null : planned.spec().remoteType(),
                planned == null ? null : planned.idValue());
        check(provider, req, transport.send(req), redeliveryDelay);
    }

    private OrderStore.Result upsert(Provider provider, OrderDocument doc, Transport transport, LongConsumer redeliveryDelay,
                                     MappingEngine.PlannedObject planned, List<MappingEngine.NewValue> values)
            throws JsonProcessingException {
        Provider.ObjectSpec spec = planned.spec();
        Map<String, String> extras = new HashMap<>();
        extras.put("id_value", planned.idValue());
        extras.put("base_url", provider.baseUrl());

        JsonNode existing = null;
        if (spec.lookup() != null) {
            Transport.Request req = request(provider, doc, planned, spec.lookup(), extras, null, Transport.Purpose.LOOKUP);
            Transport.Response r = transport.send(req);
            if (r.status() != 404) {
                check(provider, req, r, redeliveryDelay);
                existing = at(parse(r.body()), spec.lookup().resultPointer());
            }
        }
        boolean isNew = existing == null;
        Map<String, Object> old = MappingEngine.toMap(mapper, existing);
        Map<String, Object> desired = MappingEngine.assign(values, old, isNew, provider.separator(), provider.nativeLists());
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
                Transport.Request req = request(provider, doc, planned, spec.upsert(), extras, mapper.writeValueAsString(body),
                        Transport.Purpose.UPSERT);
                Transport.Response r = transport.send(req);
                check(provider, req, r, redeliveryDelay);
                JsonNode returned = at(parse(r.body()), spec.upsert().resultPointer());
                String id = returned == null ? null : text(returned.at(spec.remoteIdPointer()));
                remoteId = id != null ? id : remoteId;
                action = r.status() == 201 || isNew && spec.lookup() != null ? "created" : "updated";
            }
        } else if (isNew) {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put(spec.idRemote(), planned.idValue());
            body.putAll(desired);
            Transport.Request req = request(provider, doc, planned, spec.create(), extras, mapper.writeValueAsString(body),
                    Transport.Purpose.CREATE);
            Transport.Response r = transport.send(req);
            check(provider, req, r, redeliveryDelay);
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
                Transport.Request req = request(provider, doc, planned, spec.update(), extras, mapper.writeValueAsString(body),
                        Transport.Purpose.UPDATE);
                check(provider, req, transport.send(req), redeliveryDelay);
                action = "updated";
            }
        }
        return result(provider, doc, planned, remoteId, action);
    }

    private OrderStore.Result result(Provider provider, OrderDocument doc, MappingEngine.PlannedObject planned,
                                     String remoteId, String action) {
        Provider.ObjectSpec spec = planned.spec();
        Map<String, String> extras = new HashMap<>();
        extras.put("id_value", planned.idValue());
        extras.put("base_url", provider.baseUrl());
        extras.put("remote_id", remoteId == null ? "" : remoteId);
        String link = MappingEngine.template(spec.externalLink(), provider, doc, planned.position(), extras, false);
        String display = MappingEngine.template(spec.displayName(), provider, doc, planned.position(), extras, false);
        return new OrderStore.Result(spec.id(), spec.remoteType(), spec.idRemote(), planned.idValue(), remoteId,
                link, display != null && !display.isBlank() ? display : planned.idValue(), action, Instant.now());
    }

    private static Transport.Request request(Provider provider, OrderDocument doc, MappingEngine.PlannedObject planned,
                                             Provider.Call call, Map<String, String> extras, String body, Transport.Purpose purpose) {
        String path = MappingEngine.template(call.path(), provider, doc, planned.position(), extras, true);
        return new Transport.Request(call.method(), path, body, Map.of(), purpose, planned.spec().id(),
                planned.spec().remoteType(), planned.idValue());
    }

    /** Classifies a non-2xx response; honours Retry-After for the whole provider. */
    private void check(Provider provider, Transport.Request req, Transport.Response r, LongConsumer redeliveryDelay) {
        if (r.status() >= 200 && r.status() < 300) {
            return;
        }
        // a target may echo the request (its Authorization header) in an error: never store or log a credential
        // (the whole body first: a credential across the excerpt's cut would leave its start)
        java.util.Set<String> secrets = provider.secretValues();
        String what = io.ordersync.mapping.Secrets.redact(req.method() + " " + req.path() + " → HTTP " + r.status()
                + excerpt(io.ordersync.mapping.Secrets.redact(r.body(), secrets)), secrets);
        if (provider.recoverableStatuses().contains(r.status())) {
            Instant now = Instant.now();
            Instant retryAt = HttpTarget.retryAt(r.retryAfter(), now, maxRetryAfter);
            if (retryAt != null) {
                gate.pause(provider.identifier(), retryAt);
                Duration wait = Duration.between(now, retryAt);
                if (wait.compareTo(maxInProcessRetryAfter) > 0) {
                    throw new DeferredDeliveryException(what + " (Retry-After until " + retryAt + ")", retryAt);
                }
                // Camel's redelivery waits exactly as long as the target asked (plus a little clock slack)
                redeliveryDelay.accept(wait.toMillis() + 50);
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
        return n.isArray() ? n.get(0) : n;
    }

    private static String text(JsonNode n) {
        return n == null || n.isMissingNode() || n.isNull() ? null : n.asText();
    }
}
