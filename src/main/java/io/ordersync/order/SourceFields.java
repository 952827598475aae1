package io.ordersync.order;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.TextNode;

import java.net.IDN;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * The catalogue of source fields a mapping can read from an order document, under pretix's own keys.
 * Values are Strings, Booleans, Lists of option identifiers, or null when the document has no value.
 */
public final class SourceFields {

    /** Which part of the document a field reads. */
    public enum Input { ORDER, POSITION, EVENT, EVENT_OR_DATE }

    /** One catalogue entry. */
    public record Field(String name, Input input, String type, String label,
                        BiFunction<OrderDocument, JsonNode, Object> extractor) {
    }

    private static final Map<String, Field> FIELDS = new LinkedHashMap<>();
    /** Dynamic families: prefix → input; the suffix names a question, check-in list or name part. */
    private static final Map<String, Input> PREFIXES = new LinkedHashMap<>();

    static {
        // order
        add("email", Input.ORDER, "email", "E-mail", (d, p) -> normaliseEmail(text(d.order(), "email")));
        add("email_domain", Input.ORDER, "string", "E-mail domain", (d, p) -> domainOf(normaliseEmail(text(d.order(), "email"))));
        add("order_code", Input.ORDER, "string", "Order code", (d, p) -> d.orderCode());
        add("event_order_code", Input.ORDER, "string", "Event and order code",
                (d, p) -> d.eventSlug().toUpperCase(Locale.ROOT) + "-" + d.orderCode());
        add("order_total", Input.ORDER, "money", "Order total", (d, p) -> text(d.order(), "total"));
        add("order_status", Input.ORDER, "choice", "Order status", (d, p) -> text(d.order(), "status"));
        add("order_date", Input.ORDER, "datetime", "Order date and time", (d, p) -> text(d.order(), "datetime"));
        add("payment_date", Input.ORDER, "datetime", "Payment date and time", (d, p) -> paymentDate(d));
        add("payment_provider", Input.ORDER, "string", "Payment provider", (d, p) -> text(d.order(), "payment_provider"));
        add("order_locale", Input.ORDER, "choice", "Order locale", (d, p) -> text(d.order(), "locale"));
        add("presale_order_url", Input.ORDER, "url", "Order link", (d, p) -> text(d.order(), "url"));
        for (String part : List.of("company", "name", "street", "zipcode", "city", "country", "state", "vat_id")) {
            add("invoice_address_" + part, Input.ORDER, "string", "Invoice address: " + part.replace('_', ' '),
                    (d, p) -> text(d.order().path("invoice_address"), part));
        }
        // position
        add("attendee_name", Input.POSITION, "string", "Attendee name", (d, p) -> inherited(d, p, "attendee_name"));
        add("attendee_email", Input.POSITION, "email", "Attendee e-mail", (d, p) -> normaliseEmail(inherited(d, p, "attendee_email")));
        add("attendee_or_order_email", Input.POSITION, "email", "Attendee e-mail, or order e-mail if none", (d, p) -> {
            String e = normaliseEmail(inherited(d, p, "attendee_email"));
            return e != null ? e : normaliseEmail(text(d.order(), "email"));
        });
        add("attendee_company", Input.POSITION, "string", "Attendee company", (d, p) -> inherited(d, p, "company"));
        add("attendee_street", Input.POSITION, "string", "Attendee street", (d, p) -> inherited(d, p, "street"));
        add("attendee_zipcode", Input.POSITION, "string", "Attendee ZIP code", (d, p) -> inherited(d, p, "zipcode"));
        add("attendee_city", Input.POSITION, "string", "Attendee city", (d, p) -> inherited(d, p, "city"));
        add("attendee_country", Input.POSITION, "string", "Attendee country", (d, p) -> inherited(d, p, "country"));
        add("product", Input.POSITION, "string", "Product name and variation", SourceFields::product);
        add("product_id", Input.POSITION, "string", "Product ID", (d, p) -> text(p, "item"));
        add("product_is_admission", Input.POSITION, "boolean", "Product is an admission ticket",
                (d, p) -> d.item(text(p, "item")).path("admission").isBoolean()
                        ? d.item(text(p, "item")).path("admission").asBoolean() : null);
        add("voucher_code", Input.POSITION, "string", "Voucher code", (d, p) -> {
            String v = text(p, "voucher");
            return v == null ? null : text(d.root().path("vouchers"), v);
        });
        add("ticket_id", Input.POSITION, "string", "Ticket ID", (d, p) -> d.orderCode() + "-" + text(p, "positionid"));
        add("ticket_price", Input.POSITION, "money", "Ticket price", (d, p) -> text(p, "price"));
        add("ticket_status", Input.POSITION, "choice", "Ticket status",
                (d, p) -> p.path("canceled").asBoolean(false) ? "c" : text(d.order(), "status"));
        add("ticket_secret", Input.POSITION, "string", "Ticket code", (d, p) -> text(p, "secret"));
        // pretix: the position's database id (the REST API's "id"), not its number within the order
        add("position_id", Input.POSITION, "number", "Position ID", (d, p) -> text(p, "id"));
        add("position_number", Input.POSITION, "number", "Position number within the order", (d, p) -> text(p, "positionid"));
        add("presale_ticket_url", Input.POSITION, "url", "Ticket link", (d, p) -> text(p, "url"));
        // event
        add("event_slug", Input.EVENT, "string", "Event short form", (d, p) -> d.eventSlug());
        add("event_name", Input.EVENT, "string", "Event name", (d, p) -> i18n(d.event().get("name")));
        add("event_date_from", Input.EVENT_OR_DATE, "datetime", "Event start date",
                (d, p) -> text(eventOrDate(d, p), "date_from"));
        add("event_date_to", Input.EVENT_OR_DATE, "datetime", "Event end date",
                (d, p) -> text(eventOrDate(d, p), "date_to"));

        PREFIXES.put("question_", Input.POSITION);
        PREFIXES.put("checkin_date_", Input.POSITION);
        PREFIXES.put("attendee_name_", Input.POSITION);
        PREFIXES.put("invoice_address_name_", Input.ORDER);
    }

    private SourceFields() {
    }

    private static void add(String name, Input input, String type, String label, BiFunction<OrderDocument, JsonNode, Object> f) {
        FIELDS.put(name, new Field(name, input, type, label, f));
    }

    /** Every fixed field of the catalogue, in documentation order. */
    public static List<Field> catalogue() {
        return Collections.unmodifiableList(new ArrayList<>(FIELDS.values()));
    }

    /** Every fixed field name and every family as {@code prefix<suffix>}, for hints. */
    public static List<String> names() {
        List<String> out = new ArrayList<>(FIELDS.keySet());
        for (String prefix : PREFIXES.keySet()) {
            out.add(prefix + "<" + (prefix.startsWith("question") ? "identifier" : prefix.startsWith("checkin") ? "list id" : "part") + ">");
        }
        return out;
    }

    /** The dynamic field families: prefix and what the suffix names. */
    public static Map<String, Input> families() {
        return Collections.unmodifiableMap(PREFIXES);
    }

    /**
     * The options of a choice field known without a document, else null: order and ticket status have pretix's
     * {@code Order.STATUS_CHOICE} (pending, paid, expired, canceled; "r" was retired into "c").
     */
    public static List<String> choices(String name) {
        if ("order_status".equals(name) || "ticket_status".equals(name)) {
            return List.of("n", "p", "e", "c");
        }
        return null;
    }

    /** Choice fields whose options depend on the event (its locales), so a value map names any it needs. */
    public static boolean hasOpenChoices(String name) {
        return "order_locale".equals(name);
    }

    /** Whether {@code name} is a field of the catalogue or of one of its families. */
    public static boolean isKnown(String name) {
        return inputOf(name) != null;
    }

    /** The input a field reads, or null for an unknown field. */
    public static Input inputOf(String name) {
        Field f = FIELDS.get(name);
        if (f != null) {
            return f.input();
        }
        for (Map.Entry<String, Input> e : PREFIXES.entrySet()) {
            if (name.startsWith(e.getKey()) && name.length() > e.getKey().length()) {
                return e.getValue();
            }
        }
        return null;
    }

    /**
     * The extraction of field {@code name}, resolved once: the mapping engine, filters and templates keep it
     * with what they compile instead of finding the field by name for every value. A family field
     * ({@code question_<identifier>}, {@code attendee_name_<part>}, ...) is bound to its family and suffix here.
     * A position field reads null without a position.
     */
    public static BiFunction<OrderDocument, JsonNode, Object> extractor(String name) {
        Field f = FIELDS.get(name);
        BiFunction<OrderDocument, JsonNode, Object> x = f != null ? f.extractor() : family(name);
        if (x == null) {
            return (d, p) -> value(name, d, p); // unknown: fails as value() does (the loader refuses it first)
        }
        if ((f != null ? f.input() : familyInput(name)) == Input.POSITION) {
            return (d, p) -> p == null ? null : x.apply(d, p);
        }
        return x;
    }

    /**
     * As {@link #extractor(String)} for a call that always has a position: without the check for a missing one
     * (a second call through a shared lambda for every value of a per-position mapping).
     */
    public static BiFunction<OrderDocument, JsonNode, Object> positionExtractor(String name) {
        Field f = FIELDS.get(name);
        BiFunction<OrderDocument, JsonNode, Object> x = f != null ? f.extractor() : family(name);
        return x != null ? x : (d, p) -> value(name, d, p);
    }

    /**
     * The value of a field for an order, and for a position when the field is position-level
     * (position may be null for order-level mappings; position fields then read null). Finds the field by name:
     * for one-off reads; what runs for every order uses {@link #extractor(String)}.
     */
    public static Object value(String name, OrderDocument doc, JsonNode position) {
        Field f = FIELDS.get(name);
        BiFunction<OrderDocument, JsonNode, Object> x = f != null ? f.extractor() : family(name);
        if (x == null) {
            if (position == null) {
                // as it always was: an order-level read of a name of no field (remote_id in a lookup path) is empty
                return null;
            }
            throw new IllegalArgumentException("unknown source field: " + name);
        }
        if (position == null && (f != null ? f.input() : familyInput(name)) == Input.POSITION) {
            return null;
        }
        return x.apply(doc, position);
    }

    /** The extraction of a family field bound to its suffix, or null when {@code name} is of no family. */
    private static BiFunction<OrderDocument, JsonNode, Object> family(String name) {
        if (name.startsWith("invoice_address_name_")) {
            String part = name.substring("invoice_address_name_".length());
            return (d, p) -> namePart(d.order().path("invoice_address"), "name", "name_parts", part);
        }
        if (name.startsWith("question_")) {
            String identifier = name.substring("question_".length());
            return (d, p) -> answer(d, p, identifier);
        }
        if (name.startsWith("checkin_date_")) {
            String listId = name.substring("checkin_date_".length());
            return (d, p) -> checkin(p, listId);
        }
        if (name.startsWith("attendee_name_")) {
            String part = name.substring("attendee_name_".length());
            return (d, p) -> namePart(nameSource(d, p), "attendee_name", "attendee_name_parts", part);
        }
        return null;
    }

    /** What a family field reads: the order for invoice address name parts, else the position. */
    private static Input familyInput(String name) {
        return name.startsWith("invoice_address_name_") ? Input.ORDER : Input.POSITION;
    }

    // ---- helpers -----------------------------------------------------------------------------

    static String text(JsonNode node, String field) {
        JsonNode v = node == null ? null : node.get(field);
        if (v instanceof TextNode t) {
            // most fields are strings: no virtual calls (this method is the mapping's innermost loop)
            String s = t.textValue();
            return s.isEmpty() ? null : s;
        }
        if (v instanceof IntNode i) {
            return Integer.toString(i.intValue()); // ids and numbers (item, positionid): no virtual calls either
        }
        if (v == null || v.isNull() || v.isMissingNode()) {
            return null;
        }
        String s = v.isValueNode() ? v.asText() : v.toString();
        return s.isEmpty() ? null : s;
    }

    /** pretix i18n strings are objects of locale → text; the first (usually the default locale) wins. */
    static String i18n(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isObject()) {
            JsonNode en = node.get("en");
            if (en != null && !en.isNull()) {
                return en.asText();
            }
            var it = node.elements();
            return it.hasNext() ? it.next().asText() : null;
        }
        return node.asText();
    }

    /** An add-on inherits attendee data from its parent, field by field. */
    static String inherited(OrderDocument d, JsonNode p, String field) {
        String own = text(p, field);
        if (own != null) {
            return own;
        }
        JsonNode parent = d.parentOf(p);
        return parent == null ? null : text(parent, field);
    }

    private static JsonNode nameSource(OrderDocument d, JsonNode p) {
        if (text(p, "attendee_name") != null || p.path("attendee_name_parts").size() > 0) {
            return p;
        }
        JsonNode parent = d.parentOf(p);
        return parent != null ? parent : p;
    }

    static Object namePart(JsonNode holder, String fullField, String partsField, String part) {
        JsonNode parts = holder.path(partsField);
        String value = text(parts, part);
        if (value != null) {
            return value;
        }
        boolean hasSplitParts = parts.has("given_name") || parts.has("family_name");
        if (!hasSplitParts && (part.equals("given_name") || part.equals("family_name"))) {
            String full = text(holder, fullField);
            if (full == null) {
                full = text(parts, "full_name");
            }
            if (full == null) {
                return null;
            }
            // pretix's split_name_on_last_space: name.rsplit(" ", 1); one word is the given name
            int space = full.lastIndexOf(' ');
            if (space < 0) {
                return part.equals("given_name") ? full : "";
            }
            return part.equals("given_name") ? full.substring(0, space) : full.substring(space + 1);
        }
        return null;
    }

    private static String product(OrderDocument d, JsonNode p) {
        JsonNode item = d.item(text(p, "item"));
        String name = text(item, "internal_name");
        if (name == null) {
            name = i18n(item.get("name"));
        }
        if (name == null) {
            name = text(p, "item");
        }
        String variation = text(p, "variation");
        if (variation != null) {
            String variationName = i18n(item.path("variations").get(variation));
            if (variationName != null) {
                return name + " – " + variationName;
            }
        }
        return name;
    }

    private static JsonNode eventOrDate(OrderDocument d, JsonNode p) {
        if (p != null) {
            String subevent = text(p, "subevent");
            if (subevent != null) {
                JsonNode s = d.lookup("subevents", subevent);
                if (!s.isMissingNode()) {
                    return s;
                }
            }
        }
        return d.event();
    }

    /**
     * pretix: null while the order is pending, else the latest {@code payment_date} among all the order's
     * payments ({@code Max("payment_date")}), as a full ISO-8601 date and time; never the order's date-only field.
     */
    private static String paymentDate(OrderDocument d) {
        if ("n".equals(text(d.order(), "status"))) {
            return null;
        }
        Latest latest = new Latest();
        for (JsonNode payment : d.order().path("payments")) {
            latest.offer(text(payment, "payment_date"));
        }
        return latest.text;
    }

    /**
     * The latest of ISO-8601 dates and times offered, compared as instants (as text where one does not parse).
     * A date is parsed only once there are two to compare: most positions have one check-in, most orders one payment.
     */
    private static final class Latest {
        private String text;
        private java.time.OffsetDateTime at;
        private boolean parsed;

        void offer(String candidate) {
            if (candidate == null) {
                return;
            }
            if (text == null) {
                text = candidate;
                return;
            }
            if (!parsed) {
                at = parse(text);
                parsed = true;
            }
            java.time.OffsetDateTime candidateAt = parse(candidate);
            if (candidateAt != null && at != null ? candidateAt.isAfter(at) : candidate.compareTo(text) > 0) {
                text = candidate;
                at = candidateAt;
            }
        }

        private static java.time.OffsetDateTime parse(String text) {
            try {
                return java.time.OffsetDateTime.parse(text);
            } catch (java.time.format.DateTimeParseException e) {
                return null;
            }
        }
    }

    private static Object answer(OrderDocument d, JsonNode position, String identifier) {
        JsonNode answer = findAnswer(position, identifier);
        if (answer == null) {
            JsonNode parent = d.parentOf(position);
            if (parent != null) {
                answer = findAnswer(parent, identifier);
            }
        }
        if (answer == null) {
            return null;
        }
        String type = text(d.lookup("questions", identifier), "type");
        JsonNode optionIds = answer.get("option_identifiers");
        if ("C".equals(type) || "M".equals(type) || (type == null && optionIds != null && optionIds.size() > 0)) {
            List<String> ids = new ArrayList<>();
            if (optionIds != null) {
                optionIds.forEach(o -> ids.add(o.asText()));
            }
            return ids;
        }
        String text = text(answer, "answer");
        if ("B".equals(type)) {
            return text == null ? null : "true".equalsIgnoreCase(text);
        }
        return text;
    }

    private static JsonNode findAnswer(JsonNode position, String identifier) {
        for (JsonNode a : position.path("answers")) {
            if (identifier.equals(text(a, "question_identifier")) || identifier.equals(text(a, "question"))) {
                return a;
            }
        }
        return null;
    }

    /**
     * pretix: the newest successful entry check-in on the list (its check-ins are ordered newest first and
     * only successful ones are read); exits and failed scans do not count.
     */
    private static String checkin(JsonNode position, String listId) {
        Latest latest = new Latest();
        for (JsonNode c : position.path("checkins")) {
            String type = text(c, "type");
            JsonNode successful = c.get("successful");
            if (listId.equals(text(c, "list")) && (type == null || "entry".equals(type))
                    && (successful == null || !successful.isBoolean() || successful.asBoolean())) {
                latest.offer(text(c, "datetime"));
            }
        }
        return latest.text;
    }

    /** Lower-cases nothing but converts the host to its IDNA (punycode) form, as pretix does. */
    public static String normaliseEmail(String email) {
        if (email == null || email.isEmpty()) {
            return null;
        }
        if (isSpace(email.charAt(0)) || isSpace(email.charAt(email.length() - 1))) {
            if (email.isBlank()) {
                return null;
            }
            email = email.trim();
        }
        // one pass from the end: the host's characters, then its '@'
        int at = -1;
        boolean lowerAscii = true;
        for (int i = email.length() - 1; i >= 0; i--) {
            char c = email.charAt(i);
            if (c == '@') {
                at = i;
                break;
            }
            if (c >= 128 || (c >= 'A' && c <= 'Z')) {
                lowerAscii = false;
            }
        }
        if (at < 0) {
            return email;
        }
        if (lowerAscii) {
            // the usual case: nothing to convert, and no copy
            return email;
        }
        String host = email.substring(at + 1);
        if (isAscii(host)) {
            // nothing for IDN to convert (it was a tenth of the mapping benchmark's time)
            return email.substring(0, at) + "@" + host.toLowerCase(Locale.ROOT);
        }
        try {
            host = IDN.toASCII(host, IDN.ALLOW_UNASSIGNED).toLowerCase(Locale.ROOT);
        } catch (IllegalArgumentException e) {
            // keep the host as given; the target decides whether it accepts it
        }
        return email.substring(0, at) + "@" + host;
    }


    /** What trim() removes or isBlank() counts as blank; a blank value starts with one. */
    private static boolean isSpace(char c) {
        return c <= ' ' || Character.isWhitespace(c);
    }

    private static boolean isAscii(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) >= 128) {
                return false;
            }
        }
        return true;
    }

    private static String domainOf(String email) {
        if (email == null) {
            return null;
        }
        int at = email.lastIndexOf('@');
        return at < 0 ? null : email.substring(at + 1);
    }
}
