package io.ordersync.mapping;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

import java.io.StringReader;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The YAML node tree of a mapping file, for line and column of any key path, and for unknown-key checks. */
final class YamlLocator {

    private static final PropertyNamingStrategies.SnakeCaseStrategy SNAKE = new PropertyNamingStrategies.SnakeCaseStrategy();

    private final Node root;

    private YamlLocator(Node root) {
        this.root = root;
    }

    /** Composes the node tree; YAML syntax errors propagate as snakeyaml's MarkedYAMLException. */
    static YamlLocator parse(String text) {
        // anchors and aliases: Jackson's YAML reader takes an alias for the text of its name (remote: *f sent "f"),
        // and nested aliases cost seconds to walk; refused where they are, before the tree is composed
        // nesting deeper than the composer's limit is refused here, where it starts: SnakeYAML's scanner costs time in
        // proportion to the depth for every token, and a file of 120 000 '[' took 7 s of CPU before the limit was seen
        int depth = 0;
        for (org.yaml.snakeyaml.events.Event ev : new Yaml(new LoaderOptions()).parse(new StringReader(text))) {
            if (ev instanceof org.yaml.snakeyaml.events.CollectionStartEvent && ++depth > MAX_DEPTH) {
                throw new TooDeep(ev.getStartMark());
            } else if (ev instanceof org.yaml.snakeyaml.events.CollectionEndEvent) {
                depth--;
            }
            if (ev instanceof org.yaml.snakeyaml.events.AliasEvent
                    || ev instanceof org.yaml.snakeyaml.events.NodeEvent n && n.getAnchor() != null) {
                throw new AnchorNotSupported(ev.getStartMark());
            }
        }
        Node root = new Yaml(new LoaderOptions()).compose(new StringReader(text));
        return new YamlLocator(root);
    }

    /** The deepest nesting of lists and mappings a mapping file may have (SnakeYAML's composer allows 50). */
    static final int MAX_DEPTH = 50;

    /** Lists and mappings nested deeper than {@link #MAX_DEPTH}, where the level over it starts. */
    static final class TooDeep extends org.yaml.snakeyaml.error.MarkedYAMLException {
        TooDeep(org.yaml.snakeyaml.error.Mark at) {
            super(null, null, "lists and mappings nested deeper than " + MAX_DEPTH + " levels", at);
        }
    }

    /** An anchor ({@code &name}) or alias ({@code *name}) in a mapping file, where it is. */
    static final class AnchorNotSupported extends org.yaml.snakeyaml.error.MarkedYAMLException {
        AnchorNotSupported(org.yaml.snakeyaml.error.Mark at) {
            super(null, null, "anchors and aliases (&name, *name) are not supported in mapping files: write the value out", at);
        }
    }

    boolean isEmpty() {
        return root == null;
    }

    /** 1-based [line, column] of the value at a path like {@code objects[0].properties[2].source}; nearest parent if absent. */
    int[] locate(String path) {
        Node node = root;
        Node lastFound = root;
        if (node == null) {
            return new int[]{0, 0};
        }
        for (String segment : segments(path)) {
            if (segment.startsWith("[")) {
                int i = Integer.parseInt(segment.substring(1, segment.length() - 1));
                node = node instanceof SequenceNode s && i < s.getValue().size() ? s.getValue().get(i) : null;
            } else {
                node = valueOf(node, segment);
            }
            if (node == null) {
                break;
            }
            lastFound = node;
        }
        Mark m = lastFound.getStartMark();
        return new int[]{m.getLine() + 1, m.getColumn() + 1};
    }

    private static Node valueOf(Node node, String key) {
        if (node instanceof MappingNode m) {
            for (NodeTuple t : m.getValue()) {
                if (t.getKeyNode() instanceof ScalarNode k && k.getValue().equals(key)) {
                    return t.getValueNode();
                }
            }
        }
        return null;
    }

    private static List<String> segments(String path) {
        List<String> out = new ArrayList<>();
        if (path == null || path.isEmpty()) {
            return out;
        }
        for (String part : path.split("\\.")) {
            int b = part.indexOf('[');
            if (b < 0) {
                out.add(part);
            } else {
                if (b > 0) {
                    out.add(part.substring(0, b));
                }
                String rest = part.substring(b);
                while (!rest.isEmpty()) {
                    int e = rest.indexOf(']');
                    out.add(rest.substring(0, e + 1));
                    rest = rest.substring(e + 1);
                }
            }
        }
        return out;
    }

    /** A key given twice in one mapping: where its second occurrence is, and the line of the first. */
    record DuplicateKey(String key, int line, int column, int firstLine) {
    }

    /** Every key given twice in one mapping, anywhere in the file (the parser would keep the last in silence). */
    List<DuplicateKey> duplicateKeys() {
        List<DuplicateKey> out = new ArrayList<>();
        duplicates(root, out, 0);
        return out;
    }

    private static void duplicates(Node node, List<DuplicateKey> out, int depth) {
        if (node == null || depth > 100) {
            return;
        }
        if (node instanceof MappingNode map) {
            Map<String, Node> seen = new LinkedHashMap<>();
            for (NodeTuple t : map.getValue()) {
                if (t.getKeyNode() instanceof ScalarNode k) {
                    Node first = seen.putIfAbsent(k.getValue(), k);
                    if (first != null) {
                        out.add(new DuplicateKey(k.getValue(), k.getStartMark().getLine() + 1, k.getStartMark().getColumn() + 1,
                                first.getStartMark().getLine() + 1));
                    }
                }
                duplicates(t.getValueNode(), out, depth + 1);
            }
        } else if (node instanceof SequenceNode seq) {
            for (Node n : seq.getValue()) {
                duplicates(n, out, depth + 1);
            }
        }
    }

    /** Every key in the file that the record type does not declare, as (path, key, allowed keys). */
    record UnknownKey(String path, String key, List<String> allowed) {
    }

    List<UnknownKey> unknownKeys(Class<?> type) {
        List<UnknownKey> out = new ArrayList<>();
        walk(root, type, "", out);
        return out;
    }

    private static void walk(Node node, Type type, String path, List<UnknownKey> out) {
        if (node == null) {
            return;
        }
        Class<?> raw = type instanceof Class<?> c ? c : type instanceof ParameterizedType p ? (Class<?>) p.getRawType() : Object.class;
        if (List.class.isAssignableFrom(raw) && node instanceof SequenceNode seq && type instanceof ParameterizedType p) {
            for (int i = 0; i < seq.getValue().size(); i++) {
                walk(seq.getValue().get(i), p.getActualTypeArguments()[0], path + "[" + i + "]", out);
            }
            return;
        }
        if (!raw.isRecord() || !(node instanceof MappingNode map)) {
            return;
        }
        Map<String, Type> keys = keys(raw);
        for (NodeTuple t : map.getValue()) {
            if (!(t.getKeyNode() instanceof ScalarNode k)) {
                continue;
            }
            String key = k.getValue();
            String childPath = path.isEmpty() ? key : path + "." + key;
            Type childType = keys.get(key);
            if (childType == null) {
                out.add(new UnknownKey(childPath, key, new ArrayList<>(keys.keySet())));
            } else {
                walk(t.getValueNode(), childType, childPath, out);
            }
        }
    }

    /** The YAML keys of a record type, as Jackson binds them (snake_case, or an explicit @JsonProperty). */
    static Map<String, Type> keys(Class<?> record) {
        Map<String, Type> keys = new LinkedHashMap<>();
        for (RecordComponent rc : record.getRecordComponents()) {
            JsonProperty jp = rc.getAnnotation(JsonProperty.class);
            if (jp == null && rc.getAccessor() != null) {
                jp = rc.getAccessor().getAnnotation(JsonProperty.class);
            }
            if (jp == null) {
                try {
                    jp = record.getDeclaredField(rc.getName()).getAnnotation(JsonProperty.class);
                } catch (NoSuchFieldException e) {
                    jp = null;
                }
            }
            keys.put(jp != null ? jp.value() : SNAKE.translate(rc.getName()), rc.getGenericType());
        }
        return keys;
    }
}
