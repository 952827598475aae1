package io.ordersync.pretix;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.camel.Exchange;

import java.time.Clock;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The names orders refer to, per event, cached ({@code ordersync.pretix.catalog-max-age}): the event, its
 * items (with variations) and questions (with options), read as whole lists, and the sub-events and vouchers
 * orders refer to, read one by one. The route {@code pretix-catalog} asks {@link #nextRequest} what is
 * missing for the orders at hand — a stale or empty cache, or an id the cache does not know (then the list is
 * read again, once per order) — and hands each answer to {@link #received}.
 */
public final class PretixCatalog {

    /** What is known of one event's catalogue. */
    public record EventCatalog(JsonNode event, Map<String, JsonNode> items, Map<String, JsonNode> questions,
                               Map<String, JsonNode> subevents, Map<String, JsonNode> vouchers) {
        static EventCatalog empty() {
            return new EventCatalog(null, Map.of(), Map.of(), Map.of(), Map.of());
        }
    }

    private static final class Entry {
        volatile JsonNode event;
        volatile Map<String, JsonNode> items = Map.of();
        volatile Map<String, JsonNode> questions = Map.of();
        final Map<String, JsonNode> subevents = new ConcurrentHashMap<>();
        final Map<String, JsonNode> vouchers = new ConcurrentHashMap<>();
        volatile Instant readAt = Instant.EPOCH;
    }

    private final Map<String, Entry> events = new ConcurrentHashMap<>();
    private final PretixSettings settings;
    private final PretixHttp http;
    private final ObjectMapper mapper;
    private final Clock clock;

    public PretixCatalog(PretixSettings settings, PretixHttp http, ObjectMapper mapper, Clock clock) {
        this.settings = settings;
        this.http = http;
        this.mapper = mapper;
        this.clock = clock;
    }

    /** The catalogue of an event as it stands. */
    public EventCatalog of(String event) {
        Entry e = events.get(event);
        if (e == null) {
            return EventCatalog.empty();
        }
        return new EventCatalog(e.event, e.items, e.questions, Map.copyOf(e.subevents), Map.copyOf(e.vouchers));
    }

    private Entry entry(String event) {
        Entry e = events.computeIfAbsent(event, k -> new Entry());
        if (e.readAt.plus(settings.catalogMaxAge()).isBefore(clock.instant()) && e.event != null) {
            // stale: everything is read again (sub-events and vouchers when an order next refers to them)
            e.event = null;
            e.items = Map.of();
            e.questions = Map.of();
            e.subevents.clear();
            e.vouchers.clear();
        }
        return e;
    }

    /**
     * The loop condition of route pretix-catalog: puts the next request the work's orders need into the
     * message and returns true, or returns false when nothing is missing (or was asked already).
     */
    public boolean nextRequest(Exchange exchange) {
        PretixWork w = exchange.getProperty(PretixWork.PROPERTY, PretixWork.class);
        if (w.catalogKind != null && w.catalogBuildingNext != null) {
            // the next page of a list being read
            http.request(exchange, w.catalogBuildingNext, false);
            return true;
        }
        Map<String, Set<String>[]> byEvent = new LinkedHashMap<>();
        for (JsonNode order : w.orders) {
            String event = order.path("event").asText(w.event);
            @SuppressWarnings("unchecked")
            Set<String>[] refs = byEvent.computeIfAbsent(event, k -> new Set[]{new LinkedHashSet<>(), new LinkedHashSet<>(),
                    new LinkedHashSet<>(), new LinkedHashSet<>()});
            PretixEnvelope.Refs r = PretixEnvelope.Refs.of(order);
            refs[0].addAll(r.items());
            refs[1].addAll(r.questions());
            refs[2].addAll(r.subevents());
            refs[3].addAll(r.vouchers());
        }
        for (Map.Entry<String, Set<String>[]> be : byEvent.entrySet()) {
            String event = be.getKey();
            Entry e = entry(event);
            String api = settings.eventApi(event);
            if (e.event == null && ask(w, "event", event, null)) {
                http.request(exchange, api + "/", false);
                return true;
            }
            if (!e.items.keySet().containsAll(be.getValue()[0]) && ask(w, "items", event, null)) {
                startList(w);
                http.request(exchange, api + "/items/?page_size=50", false);
                return true;
            }
            if (!e.questions.keySet().containsAll(be.getValue()[1]) && ask(w, "questions", event, null)) {
                startList(w);
                http.request(exchange, api + "/questions/?page_size=50", false);
                return true;
            }
            for (String id : be.getValue()[2]) {
                if (!e.subevents.containsKey(id) && ask(w, "subevent", event, id)) {
                    http.request(exchange, api + "/subevents/" + id + "/", true);
                    return true;
                }
            }
            for (String id : be.getValue()[3]) {
                if (!e.vouchers.containsKey(id) && ask(w, "voucher", event, id)) {
                    http.request(exchange, api + "/vouchers/" + id + "/", true);
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean ask(PretixWork w, String kind, String event, String id) {
        if (!w.asked.add(kind + ":" + event + ":" + id)) {
            return false;
        }
        w.catalogKind = kind;
        w.catalogEvent = event;
        w.catalogId = id;
        return true;
    }

    private static void startList(PretixWork w) {
        w.catalogBuilding = new HashMap<>();
        w.catalogBuildingNext = null;
    }

    /** The answer to the request {@link #nextRequest} made: into the cache. A 404 of a sub-event or voucher is remembered as asked. */
    public void received(Exchange exchange) throws Exception {
        PretixWork w = exchange.getProperty(PretixWork.PROPERTY, PretixWork.class);
        Integer status = exchange.getMessage().getHeader(Exchange.HTTP_RESPONSE_CODE, Integer.class);
        String kind = w.catalogKind;
        Entry e = events.computeIfAbsent(w.catalogEvent, k -> new Entry());
        if (status == null || status < 200 || status >= 300) {
            w.catalogKind = null;
            w.catalogBuildingNext = null;
            return;
        }
        JsonNode body = mapper.readTree(exchange.getMessage().getBody(String.class));
        switch (kind) {
            case "event" -> {
                e.event = body;
                e.readAt = clock.instant();
            }
            case "items", "questions" -> {
                for (JsonNode o : body.path("results")) {
                    if (o.hasNonNull("id")) {
                        w.catalogBuilding.put(o.path("id").asText(), o);
                    }
                }
                String next = body.path("next").isTextual() ? body.path("next").asText() : null;
                if (next != null && !next.isEmpty()) {
                    if (!w.visited.add(next) || w.visited.size() > w.pageLimit()) {
                        throw new PretixException("pretix's next page link " + next + " was read before: not followed", true, null);
                    }
                    w.catalogBuildingNext = http.sameOrigin(next);
                    return;
                }
                if ("items".equals(kind)) {
                    e.items = Map.copyOf(w.catalogBuilding);
                } else {
                    e.questions = Map.copyOf(w.catalogBuilding);
                }
            }
            case "subevent" -> e.subevents.put(w.catalogId, body);
            case "voucher" -> e.vouchers.put(w.catalogId, body);
            default -> throw new IllegalStateException("unknown catalogue request " + kind);
        }
        w.catalogKind = null;
        w.catalogBuildingNext = null;
        w.catalogBuilding = null;
    }
}
