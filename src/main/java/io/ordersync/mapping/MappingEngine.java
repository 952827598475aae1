package io.ordersync.mapping;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.OrderStore;

import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.RandomAccess;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.regex.Pattern;

/** Applies a provider's declarative mappings to an order: which objects, with which property values. */
public final class MappingEngine {

    /**
     * A property value to write, with its mode and whether a list is sent as a JSON list ({@code list}: true),
     * joined with the separator (false), or as the provider's {@code native_lists} says (null).
     */
    public record NewValue(String remote, Object value, Mode mode, Boolean list) {

        /** A value that follows the provider's list setting. */
        public NewValue(String remote, Object value, Mode mode) {
            this(remote, value, mode, null);
        }
    }

    /** One remote object the order maps to, before references are resolved and it is compared with the target. */
    public record PlannedObject(Provider.ObjectSpec spec, JsonNode position, String idValue, List<NewValue> values) {
        /** The position's number in the order, or null for an order-level object. */
        public String positionKey() {
            return position == null ? null : position.path("positionid").asText(position.path("id").asText());
        }
    }

    /** An object already synced in this run, for references of later mappings. */
    public record Done(String mappingId, String positionKey, OrderStore.Result result) {
    }

    /**
     * A planned object's values, one per property in file order, read as {@link NewValue}s: the plan keeps only
     * the values (no record per value), and {@link #assign(PlannedObject, List, Map, boolean, Provider)} reads
     * them with the properties' modes and slots directly.
     */
    private static final class PlannedValues extends AbstractList<NewValue> implements RandomAccess {
        private final List<Provider.PropertySpec> properties;
        private final Object[] values;

        PlannedValues(List<Provider.PropertySpec> properties, Object[] values) {
            this.properties = properties;
            this.values = values;
        }

        @Override
        public NewValue get(int i) {
            Provider.PropertySpec p = properties.get(i);
            return new NewValue(p.remote(), values[i], p.mode(), p.list());
        }

        @Override
        public int size() {
            return values.length;
        }
    }

    /** Marks a value that comes from an earlier mapping's objects, resolved once they are synced. */
    private record RefValue(String mappingId, String field) {
    }

    private MappingEngine() {
    }

    /** Every object the provider's mappings produce for this order, in file order (object filters applied). */
    public static List<PlannedObject> plan(Provider provider, OrderDocument doc) {
        List<PlannedObject> out = new ArrayList<>();
        for (Provider.ObjectSpec spec : provider.objects()) {
            if (spec.perPosition()) {
                for (JsonNode position : doc.positions()) {
                    if (Filters.matches(spec.filter(), doc, position)) {
                        add(out, provider, spec, doc, position);
                    }
                }
            } else if (Filters.matches(spec.filter(), doc, null)) {
                add(out, provider, spec, doc, null);
            }
        }
        return out;
    }

    private static void add(List<PlannedObject> out, Provider provider, Provider.ObjectSpec spec, OrderDocument doc, JsonNode position) {
        Object id = spec.idExtractor().apply(doc, position);
        String idValue = id == null ? null : render(id, provider, null);
        if (idValue == null || idValue.isEmpty()) {
            return; // an object without an id value is skipped, as in pretix
        }
        List<Provider.PropertySpec> properties = spec.properties();
        Object[] values = new Object[properties.size()];
        for (int i = 0; i < values.length; i++) {
            Provider.PropertySpec p = properties.get(i);
            Object v = switch (p.kind()) {
                case SOURCE -> i == spec.idProperty() ? id
                        : (position == null ? p.extractor() : p.positionExtractor()).apply(doc, position);
                case CONSTANT -> p.constant();
                case TEMPLATE -> template(p.template(), provider, doc, position, Map.of(), false);
                case REF -> new RefValue(p.ref(), p.refField());
            };
            if (p.valueMap() != null && v != null && !(v instanceof RefValue)) {
                v = mapValue(p, v);
            }
            // append keeps a list as its items (each one appended), every other mode sends the output form
            values[i] = v instanceof RefValue || p.mode() == Mode.APPEND ? v : toOutput(v, provider, p.list());
        }
        out.add(new PlannedObject(spec, position, idValue, new PlannedValues(properties, values)));
    }

    /**
     * The object's values with references filled in from the objects synced before it: a position-level
     * mapping sees the same position's objects and order-level ones; an order-level mapping referencing a
     * position-level one gets the list of all positions' values.
     */
    public static List<NewValue> resolve(Provider provider, PlannedObject planned, List<Done> done) {
        if (!planned.spec().hasRefs()) {
            return planned.values();
        }
        List<NewValue> out = new ArrayList<>(planned.values().size());
        for (NewValue nv : planned.values()) {
            if (!(nv.value() instanceof RefValue ref)) {
                out.add(nv);
                continue;
            }
            List<Object> found = new ArrayList<>();
            boolean targetPerPosition = false;
            for (Done d : done) {
                if (!d.mappingId().equals(ref.mappingId())) {
                    continue;
                }
                targetPerPosition = d.positionKey() != null;
                if (d.positionKey() != null && planned.positionKey() != null && !d.positionKey().equals(planned.positionKey())) {
                    continue;
                }
                Object v = switch (ref.field()) {
                    case "external_link" -> d.result().externalLink();
                    case "display_name" -> d.result().displayName();
                    case "id_value" -> d.result().idValue();
                    default -> d.result().remoteId();
                };
                if (v != null) {
                    found.add(v);
                }
            }
            Object value;
            if (targetPerPosition && planned.positionKey() == null) {
                value = nv.mode() == Mode.APPEND ? found : toOutput(found, provider, nv.list());
            } else {
                value = found.isEmpty() ? null : found.get(0);
            }
            out.add(new NewValue(nv.remote(), value, nv.mode(), nv.list()));
        }
        return out;
    }

    private static Object mapValue(Provider.PropertySpec p, Object v) {
        if (!(v instanceof String) && v instanceof List<?> list) {
            List<Object> mapped = new ArrayList<>();
            for (Object o : list) {
                mapped.add(mapOne(p, o));
            }
            return mapped;
        }
        return mapOne(p, v);
    }

    private static Object mapOne(Provider.PropertySpec p, Object option) {
        String key = String.valueOf(option);
        Object mapped = p.valueMap().get(key);
        if (mapped == null && !p.valueMap().containsKey(key)) {
            throw new MappingConfigException("value_map of '" + p.remote() + "' (source " + p.source()
                    + ") has no entry for option '" + key + "'");
        }
        return mapped;
    }

    /** Lists become separator-joined strings unless the property ({@code list}) or else the provider keeps JSON lists. */
    private static Object toOutput(Object v, Provider provider) {
        return toOutput(v, provider, null);
    }

    private static Object toOutput(Object v, Provider provider, Boolean asList) {
        if (v instanceof String) {
            return v; // the usual case, and a test against a final class (see isEmpty)
        }
        if (v instanceof List<?> list && !(asList != null ? asList : provider.nativeLists())) {
            List<String> parts = new ArrayList<>();
            for (Object o : list) {
                parts.add(String.valueOf(o));
            }
            return String.join(provider.separator(), parts);
        }
        return v;
    }

    static String render(Object v, Provider provider, Function<String, String> encode) {
        Object out = toOutput(v, provider);
        String s = String.valueOf(out);
        return encode == null ? s : encode.apply(s);
    }

    /** pretix's assign_properties: the fields to send, given what the target holds (empty for a new object). */
    public static Map<String, Object> assign(List<NewValue> newValues, Map<String, Object> old, boolean isNew,
                                             String separator) {
        return assign(newValues, old, isNew, separator, false);
    }

    /**
     * As {@link #assign(List, Map, boolean, String)}; with {@code nativeLists}, {@code append} to an empty
     * field starts a JSON list instead of a separator-joined string.
     */
    public static Map<String, Object> assign(List<NewValue> newValues, Map<String, Object> old, boolean isNew,
                                             String separator, boolean nativeLists) {
        return assign(new LinkedHashMap<>(), newValues, old, isNew, separator, nativeLists);
    }

    /**
     * As {@link #assign(List, Map, boolean, String, boolean)} for the values of {@code planned} (from
     * {@link #resolve}): the fields go into a {@link FieldMap} over the names its mapping can write.
     */
    public static Map<String, Object> assign(PlannedObject planned, List<NewValue> newValues, Map<String, Object> old,
                                             boolean isNew, Provider provider) {
        Provider.ObjectSpec spec = planned.spec();
        int[] slots = spec.fieldSlots();
        if (newValues.size() != slots.length) {
            return assign(new FieldMap(spec.fieldNames()), newValues, old, isNew, provider.separator(), provider.nativeLists());
        }
        FieldMap out = new FieldMap(spec.fieldNames());
        if (newValues instanceof PlannedValues asPlanned && asPlanned.properties == spec.properties()) {
            // the values as planned (no references): straight from the plan's array
            List<Provider.PropertySpec> properties = spec.properties();
            for (int i = 0; i < slots.length; i++) {
                if (properties.get(i).mode() == Mode.OVERWRITE) {
                    out.putSlot(slots[i], asPlanned.values[i]);
                } else {
                    assignOne(out, asPlanned.get(i), old, isNew, provider.separator(), provider.nativeLists());
                }
            }
            return out;
        }
        for (int i = 0; i < slots.length; i++) {
            NewValue nv = newValues.get(i);
            if (nv.mode() == Mode.OVERWRITE) {
                out.putSlot(slots[i], nv.value()); // the usual case, without finding the name
            } else {
                assignOne(out, nv, old, isNew, provider.separator(), provider.nativeLists());
            }
        }
        return out;
    }

    private static Map<String, Object> assign(Map<String, Object> out, List<NewValue> newValues, Map<String, Object> old,
                                              boolean isNew, String separator, boolean nativeLists) {
        for (NewValue nv : newValues) {
            assignOne(out, nv, old, isNew, separator, nativeLists);
        }
        return out;
    }

    private static void assignOne(Map<String, Object> out, NewValue nv, Map<String, Object> old, boolean isNew,
                                  String separator, boolean nativeLists) {
        String k = nv.remote();
        Object v = nv.value();
        if (nv.mode() == Mode.OVERWRITE) {
            out.put(k, v);
            return;
        }
        if (nv.mode() == Mode.IF_NEW && !isNew) {
            return;
        }
        if (isEmpty(v)) {
            return;
        }
        Object current = out.containsKey(k) ? out.get(k) : old.get(k);
        switch (nv.mode()) {
            case IF_NEW, IF_EMPTY -> {
                if (isEmpty(current)) {
                    out.put(k, v);
                }
            }
            case APPEND -> {
                boolean asList = nv.list() != null ? nv.list() : nativeLists;
                Object merged = append(asList && isEmpty(current) ? List.of() : current, v, separator);
                if (!asList && merged instanceof List<?> joined && !(current instanceof List<?>)) {
                    merged = String.join(separator, joined.stream().map(String::valueOf).toList());
                }
                out.put(k, merged);
            }
            default -> throw new IllegalStateException();
        }
    }

    /**
     * pretix's {@code _add_to_list}: the new items are added to the current ones unless already there. A list
     * value (choice answers, references) gives one item per entry; the separator is removed from each new
     * item ({@code "a;b"} appended to {@code "x"} with {@code ;} is {@code "x;ab"}), so one value stays one item.
     */
    private static Object append(Object current, Object v, String separator) {
        List<Object> items = v instanceof Collection<?> c ? new ArrayList<>(c) : List.of(v);
        if (current instanceof List<?> list) {
            List<Object> merged = new ArrayList<>(list);
            for (Object item : items) {
                Object clean = item instanceof String str ? str.replace(separator, "").trim() : item;
                if (!isEmpty(clean) && merged.stream().noneMatch(e -> sameValue(e, clean))) {
                    merged.add(clean);
                }
            }
            return merged;
        }
        List<String> parts = new ArrayList<>();
        if (!isEmpty(current)) {
            for (String s : String.valueOf(current).split(Pattern.quote(separator))) {
                if (!s.isEmpty()) {
                    parts.add(s);
                }
            }
        }
        for (Object item : items) {
            String clean = String.valueOf(item).replace(separator, "").trim();
            if (!clean.isEmpty() && !parts.contains(clean)) {
                parts.add(clean);
            }
        }
        return String.join(separator, parts);
    }

    /** The subset of {@code desired} that differs from what the target holds. */
    public static Map<String, Object> changes(Map<String, Object> desired, Map<String, Object> old) {
        Map<String, Object> out = desired instanceof FieldMap f ? f.emptyLike() : new LinkedHashMap<>();
        desired.forEach((k, v) -> {
            if (!old.containsKey(k) || !sameValue(old.get(k), v)) {
                if (!(isEmpty(v) && isEmpty(old.get(k)))) {
                    out.put(k, v);
                }
            }
        });
        return out;
    }

    /**
     * Every type test here tries {@code String} first: it is a final class, so the test is one compare. A test of a
     * String against an interface ({@code List}, {@code Collection}) walks String's interfaces and, on Java 17,
     * rewrites the one-entry cache in String's class each time another interface is asked for (JDK-8180450):
     * that made {@code toOutput} alone 60 % of the mapping benchmark.
     */
    static boolean isEmpty(Object v) {
        if (v instanceof String s) {
            return s.isEmpty();
        }
        return v == null || (v instanceof Collection<?> c && c.isEmpty());
    }

    /** Equal as JSON values; scalars compare by their text so "23.00" equals a number 23.00 sent back as text. */
    static boolean sameValue(Object a, Object b) {
        if (Objects.equals(a, b)) {
            return true;
        }
        if (a == null || b == null) {
            return false;
        }
        if (a instanceof String && b instanceof String) {
            return false; // not equal (above); String first, as in isEmpty
        }
        if (a instanceof Collection<?> ca && b instanceof Collection<?> cb) {
            if (ca.size() != cb.size()) {
                return false;
            }
            var ia = ca.iterator();
            var ib = cb.iterator();
            while (ia.hasNext()) {
                if (!sameValue(ia.next(), ib.next())) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof Collection<?> || b instanceof Collection<?> || a instanceof Map<?, ?> || b instanceof Map<?, ?>) {
            return false;
        }
        return String.valueOf(a).equals(String.valueOf(b));
    }

    /**
     * Fills {name} placeholders of a template from source fields and the given extras. Each template text is
     * compiled once ({@link Template}) and kept: the templates are those of the loaded mapping files.
     */
    public static String template(String template, Provider provider, OrderDocument doc, JsonNode position,
                                  Map<String, String> extras, boolean urlEncode) {
        if (template == null) {
            return null;
        }
        return compiled(template).render(provider, doc, position, extras, urlEncode);
    }

    /** At most this many compiled templates are kept; past it (mapping files edited and reloaded very often) they are compiled again. */
    private static final int MAX_TEMPLATES = 10_000;
    private static final Map<String, Template> TEMPLATES = new ConcurrentHashMap<>();

    private static Template compiled(String text) {
        Template t = TEMPLATES.get(text);
        if (t == null) {
            if (TEMPLATES.size() >= MAX_TEMPLATES) {
                TEMPLATES.clear();
            }
            t = Template.compile(text);
            TEMPLATES.put(text, t);
        }
        return t;
    }

    /** Converts a JSON object of the target into plain Java values for comparison. */
    public static Map<String, Object> toMap(ObjectMapper mapper, JsonNode node) {
        if (node == null || !node.isObject()) {
            return Map.of();
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> m = mapper.convertValue(node, Map.class);
        return m;
    }
}
