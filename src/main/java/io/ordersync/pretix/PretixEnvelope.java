package io.ordersync.pretix;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Builds ordersync's order document (DESIGN.md "The order document") from pretix's REST answers: the order
 * exactly as pretix returned it, the trigger type, and the names of what it refers to — the event, and of
 * its items (with variations), questions (with options), sub-events and vouchers only those the order uses.
 * A pure function of its inputs.
 */
public final class PretixEnvelope {

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private PretixEnvelope() {
    }

    /** What an order refers to: ids of items, variations, questions, sub-events and vouchers. */
    public record Refs(Set<String> items, Set<String> questions, Set<String> subevents, Set<String> vouchers) {
        public static Refs of(JsonNode order) {
            Refs r = new Refs(new LinkedHashSet<>(), new LinkedHashSet<>(), new LinkedHashSet<>(), new LinkedHashSet<>());
            for (JsonNode p : order.path("positions")) {
                add(r.items, p.path("item"));
                add(r.subevents, p.path("subevent"));
                add(r.vouchers, p.path("voucher"));
                for (JsonNode a : p.path("answers")) {
                    add(r.questions, a.path("question"));
                }
            }
            return r;
        }

        private static void add(Set<String> to, JsonNode id) {
            if (!id.isMissingNode() && !id.isNull()) {
                to.add(id.asText());
            }
        }
    }

    /**
     * The document for one order: {@code type} is the trigger, {@code catalog} the event's names. Lookup tables
     * hold what the order refers to and the catalogue knows; an id it does not know is left out (the mapping
     * then sees null for its name, as with a hand-written document that omits it).
     */
    public static ObjectNode build(String type, String eventSlug, PretixCatalog.EventCatalog catalog, JsonNode order) {
        ObjectNode doc = JSON.objectNode();
        doc.put("type", type);
        ObjectNode event = doc.putObject("event");
        event.put("slug", eventSlug);
        JsonNode e = catalog.event();
        if (e != null) {
            event.set("name", e.path("name").deepCopy());
            copy(e, event, "date_from", "date_to", "timezone", "currency", "location", "has_subevents");
        }
        Refs refs = Refs.of(order);
        ObjectNode subevents = doc.putObject("subevents");
        for (String id : refs.subevents()) {
            JsonNode s = catalog.subevents().get(id);
            if (s != null) {
                ObjectNode o = subevents.putObject(id);
                copy(s, o, "name", "date_from", "date_to", "location", "active");
            }
        }
        ObjectNode items = doc.putObject("items");
        for (String id : refs.items()) {
            JsonNode i = catalog.items().get(id);
            if (i != null) {
                ObjectNode o = items.putObject(id);
                copy(i, o, "name", "internal_name", "admission", "category");
                ObjectNode variations = o.putObject("variations");
                for (JsonNode v : i.path("variations")) {
                    if (v.hasNonNull("id")) {
                        variations.set(v.path("id").asText(), v.path("value").deepCopy());
                    }
                }
            }
        }
        ObjectNode questions = doc.putObject("questions");
        for (String id : refs.questions()) {
            JsonNode q = catalog.questions().get(id);
            if (q != null && q.hasNonNull("identifier")) {
                ObjectNode o = questions.putObject(q.path("identifier").asText());
                copy(q, o, "type", "question");
                ObjectNode options = o.putObject("options");
                for (JsonNode opt : q.path("options")) {
                    if (opt.hasNonNull("identifier")) {
                        options.set(opt.path("identifier").asText(), opt.path("answer").deepCopy());
                    }
                }
            }
        }
        ObjectNode vouchers = doc.putObject("vouchers");
        for (String id : refs.vouchers()) {
            JsonNode v = catalog.vouchers().get(id);
            if (v != null) {
                vouchers.set(id, v.path("code").deepCopy());
            }
        }
        doc.set("order", order);
        return doc;
    }

    /**
     * The trigger types of an order as pretix answered it, decided by its state, not by what a webhook claims
     * (pretix sends webhooks after the fact, and anyone can post one): an order ordersync has not seen is
     * {@code order.placed}, and also the type of its status when that is not pending ({@code order.paid},
     * {@code order.canceled}, {@code order.expired}); a known order whose status changed gets the type of the new
     * status; any other change is {@code order.changed}. The type a webhook's action maps to is added when the
     * state agrees with it: a status type only with that status, {@code order.placed} only for a new order, any
     * other type (a check-in, your own) with any change. The first type is the document's; the others also
     * trigger their providers. {@code storedStatus}: null when ordersync has no snapshot of the order.
     */
    public static List<String> typesFor(JsonNode order, String storedStatus, boolean known, String actionType) {
        String status = order.path("status").asText("");
        String statusType = switch (status) {
            case "p" -> "order.paid";
            case "c" -> "order.canceled";
            case "e" -> "order.expired";
            default -> "order.placed";
        };
        java.util.LinkedHashSet<String> types = new java.util.LinkedHashSet<>();
        if (!known) {
            types.add(statusType);
            types.add("order.placed");
        } else if (!status.equals(storedStatus)) {
            types.add(statusType);
        } else {
            types.add("order.changed");
        }
        if (actionType != null) {
            boolean agrees = switch (actionType) {
                case "order.paid" -> "p".equals(status);
                case "order.canceled" -> "c".equals(status);
                case "order.expired" -> "e".equals(status);
                case "order.placed" -> !known;
                default -> true;
            };
            if (agrees) {
                types.add(actionType);
            }
        }
        return List.copyOf(types);
    }

    private static void copy(JsonNode from, ObjectNode to, String... fields) {
        for (String f : fields) {
            if (from.has(f)) {
                to.set(f, from.get(f).deepCopy());
            }
        }
    }
}
