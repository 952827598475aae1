package io.ordersync.order;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** An accepted order event: pretix's REST API order inside ordersync's envelope. */
public final class OrderDocument {

    private final JsonNode root;
    private final JsonNode order;
    private final JsonNode event;
    private final String type;
    private final String eventSlug;
    private final String orderCode;
    private final List<JsonNode> positions;
    private final Map<Long, JsonNode> positionsById;
    private final JsonNode items;

    OrderDocument(JsonNode root) {
        this.root = root;
        this.order = root.path("order");
        this.event = root.path("event");
        this.items = root.path("items");
        this.type = root.path("type").asText();
        this.eventSlug = event.path("slug").asText();
        this.orderCode = order.path("code").asText();
        List<JsonNode> list = new ArrayList<>();
        Map<Long, JsonNode> byId = new HashMap<>();
        for (JsonNode p : order.path("positions")) {
            list.add(p);
            if (p.hasNonNull("id")) {
                byId.put(p.get("id").asLong(), p);
            }
        }
        this.positions = Collections.unmodifiableList(list);
        this.positionsById = byId;
    }

    public JsonNode root() {
        return root;
    }

    /** The trigger, e.g. {@code order.paid}. */
    public String type() {
        return type;
    }

    public String eventSlug() {
        return eventSlug;
    }

    public String orderCode() {
        return orderCode;
    }

    public JsonNode order() {
        return order;
    }

    public JsonNode event() {
        return event;
    }

    /** pretix's {@code last_modified} of the order, or null when the document does not carry it. */
    public String lastModified() {
        JsonNode lm = order().get("last_modified");
        return lm == null || lm.isNull() ? null : lm.asText();
    }

    public List<JsonNode> positions() {
        return positions;
    }

    /** The position an add-on belongs to, or null for a position that is not an add-on. */
    public JsonNode parentOf(JsonNode position) {
        JsonNode addonTo = position.get("addon_to");
        if (addonTo == null || addonTo.isNull()) {
            return null;
        }
        return positionsById.get(addonTo.asLong());
    }

    /** The product {@code key} of the envelope's {@code items} table (as {@code lookup("items", key)}), missing when absent. */
    public JsonNode item(String key) {
        return key == null ? MissingNode.getInstance() : items.path(key);
    }

    /** The named lookup tables of the envelope ({@code items}, {@code questions}, ...), missing when absent. */
    public JsonNode lookup(String table, String key) {
        JsonNode t = root.get(table);
        if (t == null || key == null) {
            return MissingNode.getInstance();
        }
        return t.path(key);
    }
}
