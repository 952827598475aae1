package io.ordersync.order;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.charset.StandardCharsets;

/** Parses and validates order documents; every rejection names the offending field. */
public final class DocumentParser {

    private static final String[] LOOKUP_TABLES = {"subevents", "items", "questions", "vouchers"};

    private final ObjectMapper mapper;
    private final int maxBytes;

    public DocumentParser(ObjectMapper mapper, int maxBytes) {
        this.mapper = mapper;
        this.maxBytes = maxBytes;
    }

    public OrderDocument parse(String payload) throws InvalidDocumentException {
        if (payload == null || payload.isBlank()) {
            throw new InvalidDocumentException("empty document");
        }
        int size = payload.getBytes(StandardCharsets.UTF_8).length;
        if (size > maxBytes) {
            throw new InvalidDocumentException("document is " + size + " bytes, over the limit of " + maxBytes + " bytes");
        }
        JsonNode root;
        try {
            root = mapper.readTree(payload);
        } catch (JsonProcessingException e) {
            throw new InvalidDocumentException("not valid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() : ""));
        }
        return validate(root);
    }

    public OrderDocument validate(JsonNode root) throws InvalidDocumentException {
        if (root == null || !root.isObject()) {
            throw new InvalidDocumentException("document must be a JSON object");
        }
        requireText(root, "type", "type");
        JsonNode event = requireObject(root, "event", "event");
        requireText(event, "slug", "event.slug");
        JsonNode order = requireObject(root, "order", "order");
        requireText(order, "code", "order.code");
        optionalText(order, "status", "order.status");
        optionalText(order, "email", "order.email");
        JsonNode positions = order.get("positions");
        if (positions != null && !positions.isNull()) {
            if (!positions.isArray()) {
                throw new InvalidDocumentException("order.positions must be an array, got " + kind(positions));
            }
            for (int i = 0; i < positions.size(); i++) {
                JsonNode p = positions.get(i);
                String path = "order.positions[" + i + "]";
                if (!p.isObject()) {
                    throw new InvalidDocumentException(path + " must be an object, got " + kind(p));
                }
                JsonNode answers = p.get("answers");
                if (answers != null && !answers.isNull() && !answers.isArray()) {
                    throw new InvalidDocumentException(path + ".answers must be an array, got " + kind(answers));
                }
            }
        }
        for (String table : LOOKUP_TABLES) {
            JsonNode t = root.get(table);
            if (t != null && !t.isNull() && !t.isObject()) {
                throw new InvalidDocumentException(table + " must be an object keyed by id, got " + kind(t));
            }
        }
        return new OrderDocument(root);
    }

    private static JsonNode requireObject(JsonNode parent, String field, String path) throws InvalidDocumentException {
        JsonNode node = parent.get(field);
        if (node == null || node.isNull()) {
            throw new InvalidDocumentException("missing " + path);
        }
        if (!node.isObject()) {
            throw new InvalidDocumentException(path + " must be an object, got " + kind(node));
        }
        return node;
    }

    private static void requireText(JsonNode parent, String field, String path) throws InvalidDocumentException {
        JsonNode node = parent.get(field);
        if (node == null || node.isNull()) {
            throw new InvalidDocumentException("missing " + path);
        }
        if (!node.isTextual()) {
            throw new InvalidDocumentException(path + " must be a string, got " + kind(node));
        }
        if (node.asText().isBlank()) {
            throw new InvalidDocumentException(path + " must not be empty");
        }
    }

    private static void optionalText(JsonNode parent, String field, String path) throws InvalidDocumentException {
        JsonNode node = parent.get(field);
        if (node != null && !node.isNull() && !node.isTextual()) {
            throw new InvalidDocumentException(path + " must be a string, got " + kind(node));
        }
    }

    private static String kind(JsonNode node) {
        return node.getNodeType().name().toLowerCase();
    }
}
