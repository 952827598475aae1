package io.ordersync.mapping;

import com.fasterxml.jackson.databind.JsonNode;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.SourceFields;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A template ({@code /contacts/{remote_id}}, {@code {attendee_name_given_name|upper}}) compiled once: its literal
 * text and its placeholders, each bound to its source field's extraction and its parsed functions. Rendering
 * finds nothing by name and parses nothing; only a placeholder that names an extra ({@code id_value},
 * {@code remote_id}, {@code ref:…}) reads the extras map. Immutable and thread-safe.
 */
final class Template {

    /** {name} or {name|function|function(args)} (TemplateFunctions). */
    static final Pattern VAR = Pattern.compile("\\{(ref:[A-Za-z0-9_-]+|[A-Za-z0-9_]+)((?:\\|[^{}|]+)*)}");

    /** One placeholder: its name, its field's extraction, its functions (empty: none). */
    private record Part(String name, BiFunction<OrderDocument, JsonNode, Object> field,
                        List<TemplateFunctions.Call> functions, boolean encoded) {
    }

    private final String text;
    /** The literal text before each placeholder, and after the last one (one more than parts). */
    private final String[] literals;
    private final Part[] parts;

    private Template(String text, String[] literals, Part[] parts) {
        this.text = text;
        this.literals = literals;
        this.parts = parts;
    }

    /** Compiles {@code text}; an unknown template function or a bad argument throws IllegalArgumentException. */
    static Template compile(String text) {
        Matcher m = VAR.matcher(text);
        List<String> literals = new ArrayList<>();
        List<Part> parts = new ArrayList<>();
        int last = 0;
        while (m.find()) {
            literals.add(text.substring(last, m.start()));
            String name = m.group(1);
            String pipeline = m.group(2);
            parts.add(new Part(name, SourceFields.extractor(name), TemplateFunctions.parse(pipeline),
                    !"base_url".equals(name)));
            last = m.end();
        }
        literals.add(text.substring(last));
        return new Template(text, literals.toArray(String[]::new), parts.toArray(Part[]::new));
    }

    /**
     * The text with each placeholder replaced: the extra of that name if {@code extras} has one, else the source
     * field's value ("" for none; a list as the provider joins it). With {@code urlEncode}, each value except
     * {@code base_url} is percent-encoded, and a path segment of only dots is encoded too.
     */
    String render(Provider provider, OrderDocument doc, JsonNode position, Map<String, String> extras, boolean urlEncode) {
        if (parts.length == 0) {
            return text;
        }
        StringBuilder sb = new StringBuilder(text.length() + 32);
        for (int i = 0; i < parts.length; i++) {
            sb.append(literals[i]);
            Part part = parts[i];
            String value;
            if (!extras.isEmpty() && extras.containsKey(part.name())) {
                value = extras.get(part.name());
            } else {
                Object v = part.field().apply(doc, position);
                value = v == null ? "" : MappingEngine.render(v, provider, null);
            }
            if (value == null) {
                value = "";
            }
            if (!part.functions().isEmpty()) {
                value = TemplateFunctions.apply(part.functions(), value);
            }
            if (urlEncode && part.encoded()) {
                value = URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
                if (value.equals(".") || value.equals("..")) {
                    // a whole path segment of dots would change the path's structure (/contacts/.. is /)
                    value = value.replace(".", "%2E");
                }
            }
            sb.append(value);
        }
        sb.append(literals[parts.length]);
        return sb.toString();
    }

    @Override
    public String toString() {
        return text;
    }
}
