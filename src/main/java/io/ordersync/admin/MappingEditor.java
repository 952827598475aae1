package io.ordersync.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.db.Tx;
import io.ordersync.mapping.MappingError;
import io.ordersync.mapping.ProviderLoader;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.order.OrderStore;
import org.apache.camel.Exchange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

import javax.sql.DataSource;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.sql.PreparedStatement;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Editing mapping files through the API and the UI (API.md "Mapping editor"): validate a text as you type, splice
 * a form's properties into an object mapping (the rest of the file, its comments and layout untouched), and save —
 * only a text that validates, only over the version the editor started from, written atomically, every save
 * recorded with who and the diff. The registry's file watch then loads it (hot reload).
 */
public final class MappingEditor {

    private static final Logger LOG = LoggerFactory.getLogger(MappingEditor.class);
    static final int MAX_FILE_CHARS = 256 * 1024;

    private final ProviderRegistry providers;
    private final DataSource ds;
    private final ObjectMapper mapper;

    public MappingEditor(ProviderRegistry providers, DataSource ds, ObjectMapper mapper) {
        this.providers = providers;
        this.ds = ds;
        this.mapper = mapper;
    }

    private Path file(String id) {
        ProviderRegistry.State s = id == null ? null : providers.states().get(id);
        return s == null ? null : s.latest().file();
    }

    static String hash(String text) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)), 0, 16);
    }

    /** The placeholders ({{…}}) a text uses. */
    static Set<String> placeholders(String text) {
        Set<String> out = new java.util.HashSet<>();
        Matcher m = Pattern.compile("\\{\\{[^{}]+}}").matcher(text);
        while (m.find()) {
            out.add(m.group());
        }
        return out;
    }

    /** Loads an edited text as the registry would, resolving only the placeholders its saved file uses. */
    private ProviderLoader.Loaded load(Edit e) throws Exception {
        Set<String> allowed = placeholders(Files.readString(e.file()));
        return providers.loader().restrictedTo(allowed).load(e.file().getFileName().toString(), e.text(), e.file());
    }

    private static List<Map<String, Object>> errors(ProviderLoader.Loaded l) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (MappingError e : l.errors()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("line", e.line());
            m.put("column", e.column());
            m.put("path", e.path());
            m.put("message", e.message());
            m.put("text", e.toString());
            out.add(m);
        }
        return out;
    }

    /** The provider, its file and the edited text of a request; null after answering 404 or 413. */
    private record Edit(String id, Path file, String text) {
    }

    private Edit edit(Exchange exchange) throws Exception {
        String id = exchange.getIn().getHeader("id", String.class);
        Path f = file(id);
        if (f == null) {
            Json.reply(mapper, exchange, 404, Map.of("error", "no provider '" + id + "'"));
            return null;
        }
        String body = exchange.getIn().getBody(String.class);
        String text = body == null ? "" : body;
        if (text.length() > MAX_FILE_CHARS) {
            Json.reply(mapper, exchange, 413, Map.of("error", "a mapping file is at most " + MAX_FILE_CHARS + " characters"));
            return null;
        }
        return new Edit(id, f, text);
    }

    /** {@code GET /api/providers/{id}/edit}: the file's text and its version (for the save's base). */
    public void open(Exchange exchange) throws Exception {
        String id = exchange.getIn().getHeader("id", String.class);
        Path f = file(id);
        if (f == null) {
            Json.reply(mapper, exchange, 404, Map.of("error", "no provider '" + id + "'"));
            return;
        }
        String text = Files.readString(f);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("provider", id);
        out.put("file", f.getFileName().toString());
        out.put("text", text);
        out.put("version", hash(text));
        out.put("objects", structure(text));
        Json.reply(mapper, exchange, 200, out);
    }

    private static final ObjectMapper YAML = new ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory());

    /** The object mappings of a text as the form shows them (id, source, properties), or null when it does not parse. */
    static List<Map<String, Object>> structure(String text) {
        try {
            JsonNode root = YAML.readTree(text);
            List<Map<String, Object>> out = new ArrayList<>();
            for (JsonNode o : root.path("objects")) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("id", o.path("id").asText(""));
                m.put("source", o.path("source").asText(""));
                m.put("properties", o.path("properties").isArray() ? o.path("properties") : List.of());
                out.add(m);
            }
            return out;
        } catch (Exception e) {
            return null;
        }
    }

    /** {@code POST /api/providers/{id}/validate} with the YAML text: its errors, each with line and column. */
    public void validate(Exchange exchange) throws Exception {
        Edit e = edit(exchange);
        if (e == null) {
            return;
        }
        ProviderLoader.Loaded l = load(e);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("valid", l.valid());
        out.put("errors", errors(l));
        out.put("objects", structure(e.text()));
        Json.reply(mapper, exchange, 200, out);
    }

    /**
     * {@code PUT /api/providers/{id}/file} with the YAML text and header {@code X-Ordersync-Base: <version>}: saved
     * when it validates (422 with the errors otherwise) and the file is still the version the editor opened (409
     * otherwise); the write is atomic; the change is recorded.
     */
    public void save(Exchange exchange) throws Exception {
        Edit e = edit(exchange);
        if (e == null) {
            return;
        }
        String id = e.id();
        Path f = e.file();
        String text = e.text();
        String base = AdminAuth.requestHeader(exchange, "X-Ordersync-Base");
        synchronized (this) {
            String current = Files.readString(f);
            if (base == null || !base.equals(hash(current))) {
                Json.reply(mapper, exchange, 409, Map.of("error", "the file changed since it was opened (or no X-Ordersync-Base was "
                        + "given): reload it and apply the edit again", "version", hash(current)));
                return;
            }
            ProviderLoader.Loaded l = load(e);
            if (!l.valid()) {
                Json.reply(mapper, exchange, 422, Map.of("error", "the mapping has errors: not saved", "errors", errors(l)));
                return;
            }
            if (!id.equals(l.identifier())) {
                Json.reply(mapper, exchange, 422, Map.of("error", "identifier must stay '" + id + "' (the file name)"));
                return;
            }
            if (text.equals(current)) {
                Json.reply(mapper, exchange, 200, Map.of("saved", false, "version", hash(current), "diff", ""));
                return;
            }
            String diff = unifiedDiff(f.getFileName().toString(), current, text);
            // the file a link points to is replaced, not the link; and it keeps its mode (a temporary file is 0600)
            Path real = f.toRealPath();
            Path tmp = Files.createTempFile(real.getParent(), "." + id + "-", ".yaml.tmp");
            try {
                Files.writeString(tmp, text);
                try {
                    Files.setPosixFilePermissions(tmp, Files.getPosixFilePermissions(real));
                } catch (UnsupportedOperationException notPosix) {
                    // Windows: the directory's default
                }
                Files.move(tmp, real, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
            String actor = exchange.getProperty(AdminAuth.ACTOR, "unknown", String.class);
            Tx.run(ds, c -> {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO mapping_change (provider, actor, diff, changed_at) VALUES (?, ?, ?, ?)")) {
                    ps.setString(1, id);
                    ps.setString(2, actor);
                    ps.setString(3, diff);
                    ps.setObject(4, Instant.now().atOffset(ZoneOffset.UTC));
                    ps.executeUpdate();
                }
                return null;
            });
            LOG.info("Mapping file {} saved by {} through the API", f.getFileName(), actor);
            Json.reply(mapper, exchange, 200, Map.of("saved", true, "version", hash(text), "diff", diff));
        }
    }

    /** A unified diff (3 lines of context) of two versions of a file. */
    static String unifiedDiff(String name, String before, String after) {
        List<String> a = List.of(before.split("\n", -1));
        List<String> b = List.of(after.split("\n", -1));
        var patch = com.github.difflib.DiffUtils.diff(a, b);
        return String.join("\n", com.github.difflib.UnifiedDiffUtils.generateUnifiedDiff("a/" + name, "b/" + name, a, patch, 3));
    }

    /** {@code GET /api/fields}: the source fields a mapping can read, by the part of the order they come from. */
    public void fields(Exchange exchange) throws Exception {
        List<Map<String, Object>> out = new ArrayList<>();
        for (io.ordersync.order.SourceFields.Field f : io.ordersync.order.SourceFields.catalogue()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", f.name());
            m.put("input", f.input().name().toLowerCase(java.util.Locale.ROOT));
            m.put("type", f.type());
            m.put("label", f.label());
            out.add(m);
        }
        Json.reply(mapper, exchange, 200, Map.of("fields", out, "patterns", List.of("attendee_name_<part>", "invoice_address_name_<part>",
                "question_<identifier>", "checkin_date_<list id>")));
    }

    /** {@code GET /api/providers/{id}/history}: the saves of the file, newest first. */
    public void history(Exchange exchange) throws Exception {
        String id = exchange.getIn().getHeader("id", String.class);
        Json.reply(mapper, exchange, 200, Map.of("changes", Tx.run(ds, c -> OrderStore.rows(c,
                "SELECT id, actor, diff, changed_at FROM mapping_change WHERE provider = ? ORDER BY id DESC FETCH FIRST 100 ROWS ONLY", id))));
    }

    /**
     * {@code POST /api/providers/{id}/properties} {@code {"text": yaml, "object": 0, "properties": [{…}]}}: the text with
     * that object mapping's properties replaced by these (one flow mapping a line, in order); nothing else of the
     * text changes. Not saved: the editor validates and saves it.
     */
    public void properties(Exchange exchange) throws Exception {
        JsonNode in = Json.body(mapper, exchange);
        if (in == null || !in.path("text").isTextual() || !in.path("object").canConvertToInt() || !in.path("properties").isArray()) {
            Json.reply(mapper, exchange, 400, Map.of("error", "body: {\"text\": yaml, \"object\": index, \"properties\": [ … ]}"));
            return;
        }
        try {
            Json.reply(mapper, exchange, 200, Map.of("text", splice(in.path("text").asText(), in.path("object").asInt(), in.path("properties"))));
        } catch (IllegalArgumentException e) {
            Json.reply(mapper, exchange, 422, Map.of("error", e.getMessage()));
        }
    }

    private static final List<String> KEYS = List.of("source", "value", "template", "ref", "ref_field", "remote", "mode", "list", "value_map");

    /** The text with object {@code index}'s properties block replaced; pure, for tests. */
    static String splice(String text, int index, JsonNode properties) {
        if (text.length() > MAX_FILE_CHARS) {
            throw new IllegalArgumentException("a mapping file is at most " + MAX_FILE_CHARS + " characters");
        }
        Node root;
        try {
            root = new Yaml(new LoaderOptions()).compose(new StringReader(text));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("the text is not YAML the form can edit: " + e.getMessage().split("\n")[0]);
        }
        SequenceNode objects = root instanceof MappingNode m && value(m, "objects") instanceof SequenceNode s ? s : null;
        if (objects == null || index < 0 || index >= objects.getValue().size() || !(objects.getValue().get(index) instanceof MappingNode object)) {
            throw new IllegalArgumentException("no object mapping " + index + " (objects must be a list of mappings)");
        }
        String[] lines = text.split("\n", -1);
        StringBuilder block = new StringBuilder();
        int keyIndent = object.getStartMark().getColumn();
        String pad = " ".repeat(keyIndent + 2);
        for (JsonNode p : properties) {
            if (!p.isObject()) {
                throw new IllegalArgumentException("each property is an object such as {\"source\": \"email\", \"remote\": \"email\"}");
            }
            block.append(pad).append("- ").append(flow(p)).append('\n');
        }
        NodeTuple existing = tuple(object, "properties");
        List<String> out = new ArrayList<>();
        if (existing == null) {
            // no properties yet: after the object's last line
            int end = lastLine(object, lines);
            for (int i = 0; i <= end; i++) {
                out.add(lines[i]);
            }
            out.add(" ".repeat(keyIndent) + "properties:" + (properties.isEmpty() ? " []" : ""));
            if (!block.isEmpty()) {
                out.add(block.substring(0, block.length() - 1));
            }
            for (int i = end + 1; i < lines.length; i++) {
                out.add(lines[i]);
            }
            return String.join("\n", out);
        }
        int keyLine = existing.getKeyNode().getStartMark().getLine();
        Node value = existing.getValueNode();
        int endLine = endLine(value, lines, keyLine);
        // keep comments and blank lines that follow the last item out of the replaced block
        while (endLine > keyLine && (lines[endLine].isBlank() || lines[endLine].strip().startsWith("#"))) {
            endLine--;
        }
        for (int i = 0; i < keyLine; i++) {
            out.add(lines[i]);
        }
        out.add(lines[keyLine].substring(0, existing.getKeyNode().getStartMark().getColumn()) + "properties:" + (properties.isEmpty() ? " []" : ""));
        if (!block.isEmpty()) {
            out.add(block.substring(0, block.length() - 1));
        }
        for (int i = endLine + 1; i < lines.length; i++) {
            out.add(lines[i]);
        }
        return String.join("\n", out);
    }

    /**
     * The last line of a node: a block node's end mark is where the next token starts (the next line, or the next
     * item's dash), so a mark with only white space before it on its line ends the line above.
     */
    private static int endLine(Node node, String[] lines, int floor) {
        int end = Math.min(node.getEndMark().getLine(), lines.length - 1);
        int col = node.getEndMark().getColumn();
        if (end > floor && lines[end].substring(0, Math.min(col, lines[end].length())).isBlank()) {
            end--;
        }
        return end;
    }

    private static int lastLine(MappingNode object, String[] lines) {
        int end = endLine(object, lines, object.getStartMark().getLine());
        while (end > object.getStartMark().getLine() && (lines[end].isBlank() || lines[end].strip().startsWith("#"))) {
            end--;
        }
        return Math.min(end, lines.length - 1);
    }

    /** One property as a YAML flow mapping, its keys in the usual order, values quoted where YAML needs it. */
    static String flow(JsonNode p) {
        List<String> parts = new ArrayList<>();
        for (String k : KEYS) {
            JsonNode v = p.get(k);
            if (v == null || v.isNull() || v.isTextual() && v.asText().isEmpty()) {
                continue;
            }
            parts.add(k + ": " + scalar(v));
        }
        var it = p.fieldNames();
        while (it.hasNext()) {
            String k = it.next();
            if (!KEYS.contains(k)) {
                throw new IllegalArgumentException("unknown property key '" + k + "'");
            }
        }
        return "{" + String.join(", ", parts) + "}";
    }

    private static String scalar(JsonNode v) {
        if (v.isObject()) {
            List<String> kv = new ArrayList<>();
            v.fields().forEachRemaining(e -> kv.add(quote(e.getKey()) + ": " + scalar(e.getValue())));
            return "{" + String.join(", ", kv) + "}";
        }
        if (v.isBoolean() || v.isNumber()) {
            return v.asText();
        }
        return quote(v.asText());
    }

    private static String quote(String s) {
        if (s.matches("[A-Za-z_][A-Za-z0-9_.\\-]*") && !s.matches("(?i)true|false|yes|no|on|off|null|~")) {
            return s;
        }
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    private static NodeTuple tuple(MappingNode m, String key) {
        for (NodeTuple t : m.getValue()) {
            if (t.getKeyNode() instanceof ScalarNode k && k.getValue().equals(key)) {
                return t;
            }
        }
        return null;
    }

    private static Node value(MappingNode m, String key) {
        NodeTuple t = tuple(m, key);
        return t == null ? null : t.getValueNode();
    }
}
