package io.ordersync.order;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;


/** Parses and validates order documents; every rejection names the offending field. */
public final class DocumentParser {

    private static final String[] LOOKUP_TABLES = {"subevents", "items", "questions", "vouchers"};

    private final com.fasterxml.jackson.databind.ObjectReader reader;
    private final int maxBytes;

    public DocumentParser(ObjectMapper mapper, int maxBytes) {
        this.reader = strictReader(mapper);
        this.maxBytes = maxBytes;
    }

    /**
     * A reader of {@code mapper} for which a second value after the first, or a key given twice, is an error, not
     * silently dropped: documents, and the bodies the API reads itself (the login's, the pretix source's).
     */
    public static com.fasterxml.jackson.databind.ObjectReader strictReader(ObjectMapper mapper) {
        return mapper.reader()
                .with(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .with(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION);
    }

    /** The largest document taken, in UTF-8 bytes (ordersync.intake.max-document-bytes). */
    public int maxBytes() {
        return maxBytes;
    }

    public OrderDocument parse(String payload) throws InvalidDocumentException {
        if (payload == null || payload.isBlank()) {
            throw new InvalidDocumentException("empty document");
        }
        long size = utf8Length(payload);
        if (size > maxBytes) {
            throw new InvalidDocumentException("document is " + size + " bytes, over the limit of " + maxBytes + " bytes");
        }
        JsonNode root;
        try {
            root = reader.readTree(payload);
        } catch (JsonProcessingException e) {
            throw new InvalidDocumentException("not valid JSON: " + readable(e)
                    + (e.getLocation() != null ? " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() : ""));
        } catch (java.io.IOException e) {
            throw new InvalidDocumentException("not valid JSON: " + e.getClass().getSimpleName());
        }
        if (mayHaveLoneSurrogate(payload)) {
            refuseLoneSurrogates(root, new java.util.ArrayDeque<>());
        }
        return validate(root);
    }

    /**
     * Whether the text may give a lone surrogate: it has one itself (a JMS text, or a body in a charset such as CESU-8
     * or UTF-32 decodes to one; UTF-8 cannot encode one, bytes that try become U+FFFD), or an escape {@code \\uD800}
     * to {@code \\uDFFF}. Escaped pairs are common (Python's {@code json.dumps} escapes every emoji so): only those
     * documents are walked. One pass over the text.
     */
    static boolean mayHaveLoneSurrogate(String payload) {
        for (int i = 0, len = payload.length(); i < len; i++) {
            char ch = payload.charAt(i);
            if (ch == '\\' && i + 3 < len && payload.charAt(i + 1) == 'u') {
                char a = payload.charAt(i + 2);
                if ((a == 'd' || a == 'D') && "89abcdefABCDEF".indexOf(payload.charAt(i + 3)) >= 0) {
                    return true;
                }
                i++;
            } else if (Character.isHighSurrogate(ch) && i + 1 < len && Character.isLowSurrogate(payload.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(ch)) {
                return true;
            }
        }
        return false;
    }

    /**
     * A lone UTF-16 surrogate in a key or a text value is refused with its path: no database stores one (both encode
     * it as '?'), so two order codes that differ only there would become one order, and a name would change. The path
     * is kept as parts and joined only for the message: building it for every value cost seconds on a large document.
     */
    static void refuseLoneSurrogates(JsonNode node, java.util.Deque<String> path) throws InvalidDocumentException {
        if (node.isTextual()) {
            int at = loneSurrogate(node.textValue());
            if (at >= 0) {
                throw new InvalidDocumentException((path.isEmpty() ? "the document" : joined(path)) + " has a lone UTF-16 "
                        + "surrogate (U+" + Integer.toHexString(node.textValue().charAt(at)).toUpperCase(java.util.Locale.ROOT) + ") at character "
                        + at + ", which cannot be stored: send the whole pair, or none");
            }
        } else if (node.isObject()) {
            for (var it = node.fields(); it.hasNext(); ) {
                var e = it.next();
                if (loneSurrogate(e.getKey()) >= 0) {
                    throw new InvalidDocumentException("a key in " + (path.isEmpty() ? "the document" : joined(path))
                            + " has a lone UTF-16 surrogate, which cannot be stored: send the whole pair, or none");
                }
                JsonNode value = e.getValue();
                if (value.isContainerNode() || value.isTextual()) {
                    path.addLast(path.isEmpty() ? e.getKey() : "." + e.getKey());
                    refuseLoneSurrogates(value, path);
                    path.removeLast();
                }
            }
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                JsonNode value = node.get(i);
                if (value.isContainerNode() || value.isTextual()) {
                    path.addLast("[" + i + "]");
                    refuseLoneSurrogates(value, path);
                    path.removeLast();
                }
            }
        }
    }

    private static String joined(java.util.Deque<String> path) {
        return String.join("", path);
    }

    /** The index of the first surrogate that is not half of a pair, or -1. */
    static int loneSurrogate(String s) {
        for (int i = 0, len = s.length(); i < len; i++) {
            char ch = s.charAt(i);
            if (Character.isHighSurrogate(ch) && i + 1 < len && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(ch)) {
                return i;
            }
        }
        return -1;
    }

    /** The length of the text in UTF-8, counted without encoding it (a copy of every document, 1 % of the allocation). */
    public static long utf8Length(String s) {
        long n = 0;
        for (int i = 0, len = s.length(); i < len; i++) {
            char ch = s.charAt(i);
            if (ch < 0x80) {
                n++;
            } else if (ch < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(ch) && i + 1 < len && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                // a lone surrogate is encoded as '?' by String.getBytes: one byte
                n += Character.isSurrogate(ch) ? 1 : 3;
            }
        }
        return n;
    }

    /**
     * Jackson's message without its internals: no source description, no feature or class names, at most
     * one line of 200 characters.
     */
    static String readable(JsonProcessingException e) {
        String m = e.getOriginalMessage() == null ? e.getClass().getSimpleName() : e.getOriginalMessage();
        if (m.startsWith("Trailing token")) {
            return "more content after the end of the document";
        }
        if (m.startsWith("Duplicate field")) {
            return m.replace("Duplicate field", "key given twice:");
        }
        if (m.contains("nesting depth")) {
            return "nested too deeply";
        }
        if (m.contains("Number value length") || m.contains("String value length") || m.contains("Name length")) {
            return "a number, string or key is too long";
        }
        int cut = m.indexOf("\n");
        m = cut < 0 ? m : m.substring(0, cut);
        // Jackson names its own features and classes in some messages: not for the people reading this
        m = m.replaceAll("\\s*\\(?(?:for|through|as per)?\\s*`?(?:com\\.fasterxml|StreamReadFeature|JsonReadFeature|DeserializationFeature)[^)]*\\)?", "");
        return m.length() > 200 ? m.substring(0, 200) + "…" : m;
    }

    public OrderDocument validate(JsonNode root) throws InvalidDocumentException {
        if (root == null || !root.isObject()) {
            throw new InvalidDocumentException("document must be a JSON object");
        }
        requireText(root, "type", "type", MAX_TYPE);
        JsonNode event = requireObject(root, "event", "event");
        requireText(event, "slug", "event.slug", MAX_EVENT_SLUG);
        JsonNode order = requireObject(root, "order", "order");
        requireText(order, "code", "order.code", MAX_ORDER_CODE);
        optionalText(order, "last_modified", "order.last_modified");
        maxLength(order, "last_modified", "order.last_modified", MAX_LAST_MODIFIED);
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

    /** Longest values the database keeps (the columns of order_snapshot and sync_queue). */
    public static final int MAX_TYPE = 200;
    public static final int MAX_EVENT_SLUG = 200;
    public static final int MAX_ORDER_CODE = 100;
    public static final int MAX_LAST_MODIFIED = 64;

    private static void maxLength(JsonNode parent, String field, String path, int max) throws InvalidDocumentException {
        JsonNode node = parent.get(field);
        if (node != null && node.isTextual() && node.asText().length() > max) {
            throw new InvalidDocumentException(path + " is " + node.asText().length() + " characters long, over the limit of "
                    + max);
        }
    }

    private static void requireText(JsonNode parent, String field, String path, int max) throws InvalidDocumentException {
        requireText(parent, field, path);
        maxLength(parent, field, path, max);
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
        return node.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
    }
}
