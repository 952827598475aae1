package io.ordersync.delivery;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.mapping.MappingEngine;
import io.ordersync.mapping.Provider;
import io.ordersync.mapping.Secrets;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.OrderStore;
import io.ordersync.spi.SyncProvider;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One sync of one order to one provider, as the decisions the provider route asks for step by step: which
 * object is next, which request looks it up, what to write after the lookup (create, update, nothing), what
 * the answer means. No I/O: the route sends the requests ({@code routes/provider.camel.yaml}), to the target or, for a
 * preview, to a recording step ({@link Preview}). Held by the exchange in {@link #PROPERTY}; the
 * circuit breaker works on a copy of the exchange, so everything a step must see later lives here.
 */
public final class Sync {

    /** Exchange property holding the sync being delivered. */
    public static final String PROPERTY = "ordersync.sync";

    static final ObjectMapper MAPPER = new ObjectMapper();

    /** What the next request is for. */
    public enum Step { LOOKUP, WRITE, BATCH }

    private final Provider provider;
    private final OrderDocument doc;
    private final List<MappingEngine.PlannedObject> plan;
    private final List<MappingEngine.Done> done = new ArrayList<>();
    private final List<OrderStore.Result> results = new ArrayList<>();
    /** The results of objects the target has: all but those waiting for the order's one message until it is answered. */
    private final List<OrderStore.Result> confirmed = new ArrayList<>();
    /** The results of objects in the order's one message, not answered yet. */
    private final List<OrderStore.Result> inBatch = new ArrayList<>();
    /** Whether the current object went into the order's one message. */
    private boolean batched;
    private final List<ObjectNode> batch = new ArrayList<>();
    private int next;

    private MappingEngine.PlannedObject current;
    private List<MappingEngine.NewValue> values;
    private JsonNode existing;
    private Map<String, Object> old;
    private String remoteId;
    private String action;
    private String link;

    private Transport.Request request;
    private Step step;
    /** Shared by every try of one queue row (redeliveries make a new Sync): whether any try sent a request. */
    private final java.util.concurrent.atomic.AtomicBoolean requestSent;

    public Sync(Provider provider, OrderDocument doc) {
        this(provider, doc, new java.util.concurrent.atomic.AtomicBoolean());
    }

    public Sync(Provider provider, OrderDocument doc, java.util.concurrent.atomic.AtomicBoolean requestSent) {
        this(provider, doc, requestSent, io.ordersync.mapping.Filters.orderMatches(provider.filter(), doc));
    }

    /**
     * {@code passesFilter}: whether the provider's filter takes the order (decided again for every try, on the order as
     * it is now and the file as it is now: an order that no longer passes, because it changed since it was queued or
     * was queued by an operator, another instance or a broken file that could not tell, is not sent).
     */
    public Sync(Provider provider, OrderDocument doc, java.util.concurrent.atomic.AtomicBoolean requestSent, boolean passesFilter) {
        this(provider, doc, requestSent, passesFilter, List.of());
    }

    /**
     * {@code earlier}: what the earlier tries of the same queue row recorded (a redelivery makes a new Sync): the
     * objects they wrote are recorded with this sync's outcome, also when this try fails or the filter stops it.
     */
    public Sync(Provider provider, OrderDocument doc, java.util.concurrent.atomic.AtomicBoolean requestSent, boolean passesFilter,
                List<OrderStore.Result> earlier) {
        this.earlier = List.copyOf(earlier);
        this.provider = provider;
        this.doc = doc;
        this.passesFilter = passesFilter;
        this.plan = passesFilter ? MappingEngine.plan(provider, doc) : List.of();
        this.requestSent = requestSent;
    }

    private final boolean passesFilter;
    private final List<OrderStore.Result> earlier;

    /** The clock of a result's time and of a Retry-After's end: the database's when delivering (DatabaseClock). */
    private java.time.Clock clock = java.time.Clock.systemUTC();

    /** Times this sync's results and Retry-After ends with {@code clock}; returns this sync. */
    public Sync clock(java.time.Clock clock) {
        this.clock = clock;
        return this;
    }

    /** Whether the order passes the provider's filter; when it does not, nothing is planned or sent. */
    public boolean passesFilter() {
        return passesFilter;
    }

    public Provider provider() {
        return provider;
    }

    public OrderDocument document() {
        return doc;
    }

    /** The results so far (all of them once the loop ended). */
    public List<OrderStore.Result> results() {
        return results;
    }

    /**
     * Every object the tries of this queue row recorded so far and the target has: the earlier tries' first, then this
     * one's (a later result of the same object replaces an earlier one when stored); an object of the order's one
     * message (webhook or endpoint {@code per: order}) once that message was answered. What the target holds now, also after a
     * failure: pretix's sync_object stores each object's OrderSyncResult right after writing it, too.
     */
    public List<OrderStore.Result> written() {
        if (earlier.isEmpty()) {
            return confirmed;
        }
        // one result per object, the latest try's
        Map<String, OrderStore.Result> byObject = new LinkedHashMap<>();
        for (OrderStore.Result r : earlier) {
            byObject.put(r.mappingId() + '\n' + r.idValue(), r);
        }
        for (OrderStore.Result r : confirmed) {
            byObject.remove(r.mappingId() + '\n' + r.idValue());
            byObject.put(r.mappingId() + '\n' + r.idValue(), r);
        }
        return List.copyOf(byObject.values());
    }

    /** The request to send now, or null. */
    public Transport.Request request() {
        return request;
    }

    /** Whether a request of this sync went out (or was tried): then a failure counts as an attempt. */
    public boolean requestSent() {
        return requestSent.get();
    }

    public void markSent() {
        requestSent.set(true);
    }

    /** Moves to the next planned object; false when every object is done. */
    public boolean nextObject() {
        if (next >= plan.size()) {
            current = null;
            return false;
        }
        current = plan.get(next++);
        values = MappingEngine.resolve(provider, current, done);
        batched = false;
        existing = null;
        old = Map.of();
        remoteId = null;
        action = null;
        link = null;
        request = null;
        return true;
    }

    /** The lookup request of the current object (kind http with a lookup), or null. */
    public Transport.Request lookup() {
        Provider.ObjectSpec spec = current.spec();
        step = Step.LOOKUP;
        request = provider.kind() == Provider.Kind.HTTP && spec.lookup() != null
                ? httpRequest(spec.lookup(), extras(), null, Transport.Purpose.LOOKUP) : null;
        return request;
    }

    /** The answer to the lookup: 404 means "not there yet"; any other non-2xx fails the sync. */
    public void lookedUp(Transport.Response r) throws JsonProcessingException {
        if (r.status() != 404) {
            check(r);
            existing = at(parse(r.body()), current.spec().lookup().resultPointer());
        }
        // the found object's fields: at its top, or where the lookup's fields pointer says (HubSpot: /properties)
        String fieldsAt = current.spec().lookup().fieldsPointer();
        old = MappingEngine.toMap(MAPPER, existing == null || fieldsAt.isEmpty() ? existing : existing.at(fieldsAt));
        remoteId = current.spec().remoteIdIn(existing);
    }

    /**
     * What to write for the current object: the create, update or upsert request, the webhook message, the
     * object for a route, endpoint or Java provider; or null when nothing is to be sent now (nothing changed,
     * or the object waits for the order's one message).
     */
    public Transport.Request decide() throws JsonProcessingException {
        Provider.ObjectSpec spec = current.spec();
        step = Step.WRITE;
        request = null;
        switch (provider.kind()) {
            case HTTP -> request = decideHttp(spec);
            case WEBHOOK, ENDPOINT -> {
                ObjectNode object = objectNode();
                action = "sent";
                boolean perOrder = provider.kind() == Provider.Kind.WEBHOOK ? provider.webhook().perOrder()
                        : provider.destination().perOrder();
                if (perOrder) {
                    batch.add(object);
                    batched = true;
                } else {
                    object.put("event", doc.eventSlug());
                    object.put("order", doc.orderCode());
                    request = message(envelope(object), current);
                }
            }
            case ROUTE, JAVA -> request = new Transport.Request("SYNC", shownUri(),
                    MAPPER.writeValueAsString(DeliverySteps.asMap(mappedObject())), Map.of(),
                    Transport.Purpose.SEND, spec.id(), spec.remoteType(), current.idValue());
        }
        return request;
    }

    /** Whether the current object's source is canceled: the order, or for a position mapping the position or its order. */
    private boolean canceled() {
        Object status = io.ordersync.order.SourceFields.value(current.spec().perPosition() ? "ticket_status" : "order_status",
                doc, current.position());
        return "c".equals(status);
    }

    /** on_cancel of a canceled object: delete it, archive it (only the given values), or leave it; null: update it as always. */
    private Transport.Request decideCanceled(Provider.ObjectSpec spec) throws JsonProcessingException {
        cancelAction = null;
        if (spec.onCancel().action() == Provider.CancelAction.UPDATE || !canceled()) {
            return null;
        }
        cancelAction = spec.onCancel().action();
        if (cancelAction == Provider.CancelAction.NOTHING || existing == null) {
            // nothing at the target to delete or archive (or nothing to be done)
            action = "nothing_to_do";
            return null;
        }
        Map<String, String> extras = extras();
        extras.put("remote_id", remoteId == null ? "" : remoteId);
        if (cancelAction == Provider.CancelAction.DELETE) {
            return httpRequest(spec.delete(), extras, null, Transport.Purpose.DELETE);
        }
        Map<String, Object> changes = MappingEngine.changes(spec.onCancel().archiveValues(), old);
        if (changes.isEmpty()) {
            action = "nothing_to_do";
            return null;
        }
        return httpRequest(spec.update(), extras, MAPPER.writeValueAsString(changes), Transport.Purpose.UPDATE);
    }

    private Provider.CancelAction cancelAction;

    private Transport.Request decideHttp(Provider.ObjectSpec spec) throws JsonProcessingException {
        Transport.Request onCancel = decideCanceled(spec);
        if (onCancel != null || cancelAction != null) {
            return onCancel;
        }
        boolean isNew = existing == null;
        Map<String, Object> desired = MappingEngine.assign(current, values, old, isNew, provider);
        Map<String, String> extras = extras();
        if (spec.upsert() != null) {
            Map<String, Object> fields = isNew ? desired : MappingEngine.changes(desired, old);
            if (!isNew && fields.isEmpty()) {
                action = "nothing_to_do";
                return null;
            }
            Map<String, Object> body = new LinkedHashMap<>();
            if (spec.upsert().body() == null) {
                // the default body carries the id field; a body template places it itself ({id_value})
                body.put(spec.idRemote(), current.idValue());
            }
            body.putAll(fields);
            extras.put("remote_id", remoteId == null ? current.idValue() : remoteId);
            return httpRequest(spec.upsert(), extras, MAPPER.writeValueAsString(body), Transport.Purpose.UPSERT);
        }
        if (isNew) {
            Map<String, Object> body = new LinkedHashMap<>();
            if (spec.create().body() == null) {
                body.put(spec.idRemote(), current.idValue());
            }
            body.putAll(desired);
            return httpRequest(spec.create(), extras, MAPPER.writeValueAsString(body), Transport.Purpose.CREATE);
        }
        Map<String, Object> changes = MappingEngine.changes(desired, old);
        if (changes.isEmpty()) {
            action = "nothing_to_do";
            return null;
        }
        Map<String, Object> body = changes;
        if ("PUT".equals(spec.update().method()) && spec.update().body() == null) {
            // a plain PUT replaces the object: all of it is sent; a body template places only the changes
            body = new LinkedHashMap<>(old);
            body.putAll(changes);
        }
        extras.put("remote_id", remoteId == null ? "" : remoteId);
        return httpRequest(spec.update(), extras, MAPPER.writeValueAsString(body), Transport.Purpose.UPDATE);
    }

    /** The answer to the write (HTTP kinds): the remote id it names, and what was done. */
    public void written(Transport.Response r) throws JsonProcessingException {
        if (request.purpose() == Transport.Purpose.DELETE && r.status() == 404) {
            // gone already: what the delete wanted
            action = "deleted";
            return;
        }
        if (request.purpose() == Transport.Purpose.CREATE && current != null
                && current.spec().create().conflictStatuses().contains(r.status())) {
            // the object exists though the lookup did not find it (created meanwhile, a search index that lags):
            // the whole sync again, whose lookup finds it and updates it
            throw new RecoverableDeliveryException(request.method() + " " + request.path() + " answered " + r.status()
                    + ": the " + current.spec().remoteType() + " exists already; it is looked up again and updated", null, null);
        }
        check(r);
        if (provider.kind() != Provider.Kind.HTTP) {
            action = "sent";
            return;
        }
        Provider.ObjectSpec spec = current.spec();
        switch (request.purpose()) {
            case UPSERT -> {
                JsonNode returned = at(parse(r.body()), spec.upsert().resultPointer());
                String id = spec.remoteIdIn(returned);
                remoteId = id != null ? id : remoteId;
                action = r.status() == 201 || existing == null && spec.lookup() != null ? "created" : "updated";
            }
            case CREATE -> {
                JsonNode created = at(parse(r.body()), spec.create().resultPointer());
                remoteId = spec.remoteIdIn(created);
                action = "created";
            }
            case DELETE -> action = "deleted";
            default -> action = cancelAction == Provider.CancelAction.ARCHIVE ? "archived" : "updated";
        }
    }

    /** The object a route or Java provider receives for the current object. */
    public SyncProvider.MappedObject mappedObject() {
        Provider.ObjectSpec spec = current.spec();
        Map<String, Object> props = new LinkedHashMap<>();
        props.put(spec.idRemote(), current.idValue());
        props.putAll(MappingEngine.assign(current, values, Map.of(), true, provider));
        Map<String, List<SyncProvider.Synced>> earlier = new LinkedHashMap<>();
        for (MappingEngine.Done d : done) {
            earlier.computeIfAbsent(d.mappingId(), k -> new ArrayList<>()).add(new SyncProvider.Synced(d.result().remoteId(),
                    d.result().externalLink(), d.result().action()));
        }
        return new SyncProvider.MappedObject(provider.identifier(), doc.eventSlug(), doc.orderCode(), spec.id(),
                spec.remoteType(), spec.idRemote(), current.idValue(), props, earlier);
    }

    /**
     * What a route or Java provider returned for the current object: a {@link SyncProvider.Synced}, a map with
     * {@code remote_id}, {@code external_link}, {@code action}, a plain remote id, or nothing ({@code sent}).
     */
    public void replied(Object answer) {
        String a = null;
        if (answer instanceof SyncProvider.Synced s) {
            remoteId = s.remoteId();
            link = s.link();
            a = s.action();
        } else if (answer instanceof Map<?, ?> m) {
            remoteId = m.get("remote_id") == null ? null : String.valueOf(m.get("remote_id"));
            link = m.get("external_link") == null ? null : String.valueOf(m.get("external_link"));
            a = m.get("action") == null ? null : String.valueOf(m.get("action"));
        }
        // what a provider answers is stored: bounded to the columns, the action one of the known words
        remoteId = bounded(remoteId, 1000);
        link = bounded(link, 2000);
        action = a != null && ACTIONS.contains(a) ? a : remoteId == null ? "sent" : "synced";
    }

    /** The actions a route or Java provider may report; anything else is recorded as synced (or sent). */
    static final java.util.Set<String> ACTIONS = java.util.Set.of("created", "updated", "nothing_to_do", "sent", "synced",
            "deleted", "archived");

    private static String bounded(String v, int max) {
        if (v == null) {
            return null;
        }
        String s = v.strip();
        return s.isEmpty() ? null : s.length() > max ? s.substring(0, max) : s;
    }

    /** Records the current object's result, for the sync's results and for references of later objects. */
    public OrderStore.Result record() {
        Provider.ObjectSpec spec = current.spec();
        Map<String, String> extras = extras();
        extras.put("remote_id", remoteId == null ? "" : remoteId);
        String l = link != null ? link : MappingEngine.template(spec.externalLink(), provider, doc, current.position(), extras, false);
        String display = MappingEngine.template(spec.displayName(), provider, doc, current.position(), extras, false);
        OrderStore.Result r = new OrderStore.Result(spec.id(), spec.remoteType(), spec.idRemote(), current.idValue(), remoteId,
                l, display != null && !display.isBlank() ? display : current.idValue(), action == null ? "sent" : action,
                clock.instant());
        results.add(r);
        (batched ? inBatch : confirmed).add(r);
        batched = false;
        done.add(new MappingEngine.Done(spec.id(), current.positionKey(), r));
        request = null;
        return r;
    }

    /** The order's one message (webhook or endpoint with {@code per: order}), or null. */
    public Transport.Request finish() throws JsonProcessingException {
        step = Step.BATCH;
        request = null;
        if (batch.isEmpty()) {
            return null;
        }
        ObjectNode data = MAPPER.createObjectNode();
        data.put("event", doc.eventSlug());
        data.put("order", doc.orderCode());
        ArrayNode objects = data.putArray("objects");
        batch.forEach(objects::add);
        request = message(envelope(data), null);
        return request;
    }

    /** The answer to the order's one message. */
    public void finished(Transport.Response r) {
        check(r);
        confirmed.addAll(inBatch);
        inBatch.clear();
    }

    /** Receives the answer of the request just sent, for the step it was sent for. */
    public void answered(Transport.Response r) throws JsonProcessingException {
        switch (step) {
            case LOOKUP -> lookedUp(r);
            case WRITE -> written(r);
            case BATCH -> finished(r);
        }
    }

    private Transport.Response pending;

    /** Keeps the answer of the request just sent; {@link #answerPending} applies it (outside the breaker). */
    public void respond(Transport.Response r) {
        pending = r;
    }

    /** Applies the answer kept by {@link #respond}, if any. */
    public void answerPending() throws JsonProcessingException {
        Transport.Response r = pending;
        pending = null;
        if (r != null) {
            answered(r);
        }
    }

    // ---- classification ----

    /**
     * Fails the sync on a non-2xx answer: {@link RecoverableDeliveryException} for the provider's recoverable
     * statuses (with the time a Retry-After names), {@link PermanentDeliveryException} otherwise. The message
     * quotes the answer, with the provider's credentials removed.
     */
    public void check(Transport.Response r) {
        if (r.status() >= 200 && r.status() < 300) {
            return;
        }
        throw failure(provider, request, r, clock.instant(), Duration.ofHours(1));
    }

    /** The failure a non-2xx answer means (see {@link #check}); {@code maxRetryAfter} caps a Retry-After. */
    public static DeliveryException failure(Provider provider, Transport.Request req, Transport.Response r, Instant now,
                                            Duration maxRetryAfter) {
        // a target may echo the request (its Authorization header) in an error: never store or log a credential
        // (the whole body first: a credential across the excerpt's cut would leave its start)
        java.util.Set<String> secrets = provider.secretValues();
        String what = Secrets.redact((req == null ? "" : req.method() + " " + req.path() + " → ") + "HTTP " + r.status()
                + excerpt(Secrets.redact(r.body(), secrets)), secrets);
        if (provider.recoverableStatuses().contains(r.status())) {
            return new RecoverableDeliveryException(what, RetryAfter.at(r.retryAfter(), now, maxRetryAfter), null);
        }
        return new PermanentDeliveryException(what);
    }

    private static String excerpt(String body) {
        if (body == null || body.isBlank()) {
            return "";
        }
        String b = body.strip().replaceAll("\\s+", " ");
        return ": " + (b.length() > 300 ? b.substring(0, 300) + "…" : b);
    }

    // ---- requests ----

    /** The destination as shown in messages and previews: credentials in the URI masked. */
    private String shownUri() {
        String uri = provider.destination().uri();
        return uri == null ? "java:" + provider.identifier() : io.ordersync.mapping.Secrets.shownUri(uri);
    }

    private Map<String, String> extras() {
        Map<String, String> extras = new HashMap<>();
        extras.put("id_value", current.idValue());
        extras.put("base_url", provider.baseUrl());
        // {ref:<mapping>} in a call: the remote id of an earlier mapping's object (the same position's, or the first)
        for (MappingEngine.Done d : done) {
            if (d.result().remoteId() == null || d.positionKey() != null && current.positionKey() != null
                    && !d.positionKey().equals(current.positionKey())) {
                continue;
            }
            extras.putIfAbsent("ref:" + d.mappingId(), d.result().remoteId());
        }
        return extras;
    }

    private static final java.util.regex.Pattern REF_NAME = java.util.regex.Pattern.compile("\\{ref:([A-Za-z0-9_-]+)[|}]");

    private Transport.Request httpRequest(Provider.Call call, Map<String, String> extras, String body, Transport.Purpose purpose) {
        for (String text : new String[]{call.path(), call.body() == null ? "" : call.body().toString()}) {
            java.util.regex.Matcher m = REF_NAME.matcher(text);
            while (m.find()) {
                if (!extras.containsKey("ref:" + m.group(1))) {
                    throw new PermanentDeliveryException(call.method() + " " + call.path() + " names {ref:" + m.group(1)
                            + "}, but this order has no '" + m.group(1) + "' object with a remote id (skipped, or filtered out)");
                }
            }
        }
        String path = MappingEngine.template(call.path(), provider, doc, current.position(), extras, true);
        String sent = body;
        if (call.body() != null && call.body().isTextual() && call.body().textValue().isEmpty()) {
            // body: "" — the call has no request body (HubSpot's v4 association PUT declares none)
            sent = null;
        } else if (call.body() != null) {
            // the file's body template: its texts filled in, "{properties}" replaced by the object's fields
            try {
                JsonNode fields = body == null ? MAPPER.nullNode() : MAPPER.readTree(body);
                sent = MAPPER.writeValueAsString(renderBody(call.body(), fields, extras));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("body of " + call.method() + " " + call.path() + ": " + e.getOriginalMessage(), e);
            }
        }
        return new Transport.Request(call.method(), path, sent, Map.of(), purpose, current.spec().id(),
                current.spec().remoteType(), current.idValue());
    }

    private JsonNode renderBody(JsonNode template, JsonNode fields, Map<String, String> extras) {
        if (template.isTextual()) {
            return "{properties}".equals(template.textValue()) ? fields
                    : MAPPER.getNodeFactory().textNode(MappingEngine.template(template.textValue(), provider, doc, current.position(), extras, false));
        }
        if (template.isObject()) {
            ObjectNode o = MAPPER.createObjectNode();
            template.fields().forEachRemaining(e -> o.set(e.getKey(), renderBody(e.getValue(), fields, extras)));
            return o;
        }
        if (template.isArray()) {
            com.fasterxml.jackson.databind.node.ArrayNode a = MAPPER.createArrayNode();
            template.forEach(e -> a.add(renderBody(e, fields, extras)));
            return a;
        }
        return template;
    }

    private Map<String, String> endpointHeaders(MappingEngine.PlannedObject planned) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, String> h : provider.destination().headers().entrySet()) {
            if (Secrets.isSecretHeader(h.getKey())) {
                // a credential is sent as it is: a {word} in it is not a template
                out.put(h.getKey(), h.getValue());
                continue;
            }
            Map<String, String> extras = new HashMap<>();
            extras.put("id_value", planned == null ? "" : planned.idValue());
            out.put(h.getKey(), MappingEngine.template(h.getValue(), provider, doc, planned == null ? null : planned.position(),
                    extras, false));
        }
        return out;
    }

    private ObjectNode objectNode() {
        Provider.ObjectSpec spec = current.spec();
        ObjectNode o = MAPPER.createObjectNode();
        o.put("object_type", spec.remoteType());
        o.put("id_field", spec.idRemote());
        o.put("id", current.idValue());
        Map<String, Object> props = new LinkedHashMap<>();
        props.put(spec.idRemote(), current.idValue());
        props.putAll(MappingEngine.assign(current, values, Map.of(), true, provider));
        o.set("properties", MAPPER.valueToTree(props));
        return o;
    }

    private ObjectNode envelope(ObjectNode data) {
        ObjectNode body = MAPPER.createObjectNode();
        body.put("type", doc.type());
        // the order's own time, so a retried message is byte for byte the same
        String ts = doc.lastModified() != null ? doc.lastModified() : doc.order().path("datetime").asText(null);
        body.put("timestamp", ts);
        body.set("data", data);
        return body;
    }

    /**
     * The message of a webhook (signed POST) or endpoint provider: one object ({@code planned}) or, with
     * {@code per: order}, the order's objects ({@code planned} null).
     */
    private Transport.Request message(ObjectNode body, MappingEngine.PlannedObject planned) throws JsonProcessingException {
        String json = MAPPER.writeValueAsString(body);
        if (provider.kind() == Provider.Kind.ENDPOINT) {
            return new Transport.Request("SEND", shownUri(), json, endpointHeaders(planned), Transport.Purpose.SEND,
                    planned == null ? null : planned.spec().id(), planned == null ? null : planned.spec().remoteType(),
                    planned == null ? null : planned.idValue());
        }
        String id = WebhookSigner.messageId(provider.identifier(), json);
        Map<String, String> headers = WebhookSigner.headers(provider.webhook().key(), id, Instant.now().getEpochSecond(), json);
        return new Transport.Request("POST", provider.webhook().path(), json, headers, Transport.Purpose.WEBHOOK,
                planned == null ? null : planned.spec().id(), planned == null ? null : planned.spec().remoteType(),
                planned == null ? null : planned.idValue());
    }

    private static JsonNode parse(String body) throws JsonProcessingException {
        if (body == null || body.isBlank()) {
            return MAPPER.createObjectNode();
        }
        return MAPPER.readTree(body);
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
