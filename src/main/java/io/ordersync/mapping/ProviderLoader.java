package io.ordersync.mapping;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.ordersync.order.SourceFields;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads one mapping file, checks it, and compiles it into a {@link Provider}, collecting every error. */
public final class ProviderLoader {

    private static final Pattern PLACEHOLDER = Pattern.compile("\\{\\{[^}]+}}");
    private static final Pattern TEMPLATE_VAR = Pattern.compile("\\{([A-Za-z0-9_]+)}");
    private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)");
    private static final Set<String> TEMPLATE_EXTRAS = Set.of("id_value", "remote_id", "base_url");

    private final ObjectMapper yaml;
    private final UnaryOperator<String> placeholders;

    /**
     * @param placeholders resolves {@code {{...}}} placeholders (environment, system and application
     *                     properties); throws IllegalArgumentException when one is not set
     */
    public ProviderLoader(UnaryOperator<String> placeholders) {
        this.placeholders = placeholders;
        this.yaml = new ObjectMapper(new YAMLFactory())
                .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    }

    /** The outcome of loading one file: a runnable provider, or the errors that keep it from running. */
    public record Loaded(Path file, String identifier, ProviderConfig config, Provider provider, List<String> errors) {
        public boolean valid() {
            return provider != null && errors.isEmpty();
        }
    }

    public Loaded load(Path file) {
        String fileName = file.getFileName().toString();
        String expectedId = fileName.replaceFirst("\\.ya?ml$", "");
        ProviderConfig config;
        try {
            config = yaml.readValue(Files.readString(file, StandardCharsets.UTF_8), ProviderConfig.class);
        } catch (JsonMappingException e) {
            return new Loaded(file, expectedId, null, null, List.of(describe(file, e)));
        } catch (JsonProcessingException e) {
            return new Loaded(file, expectedId, null, null, List.of(describe(file, e)));
        } catch (IOException e) {
            return new Loaded(file, expectedId, null, null, List.of(fileName + ": cannot read: " + e.getMessage()));
        }
        if (config == null) {
            return new Loaded(file, expectedId, null, null, List.of(fileName + ": file is empty"));
        }
        List<String> errors = new ArrayList<>();
        Provider provider = compile(fileName, expectedId, config, errors);
        return new Loaded(file, config.identifier() != null ? config.identifier() : expectedId, config,
                errors.isEmpty() ? provider : null, errors);
    }

    private static String describe(Path file, JsonProcessingException e) {
        JsonLocation loc = e.getLocation();
        String where = loc == null ? "" : ":" + loc.getLineNr() + ":" + loc.getColumnNr();
        String path = "";
        if (e instanceof JsonMappingException jme && !jme.getPath().isEmpty()) {
            StringBuilder sb = new StringBuilder();
            for (JsonMappingException.Reference ref : jme.getPath()) {
                if (ref.getFieldName() != null) {
                    sb.append(sb.length() == 0 ? "" : ".").append(ref.getFieldName());
                } else if (ref.getIndex() >= 0) {
                    sb.append('[').append(ref.getIndex()).append(']');
                }
            }
            path = " (at " + sb + ")";
        }
        return file.getFileName() + where + ": " + e.getOriginalMessage().lines().findFirst().orElse("") + path;
    }

    private Provider compile(String file, String expectedId, ProviderConfig c, List<String> errors) {
        if (c.identifier() == null || c.identifier().isBlank()) {
            errors.add(file + ": identifier is required");
        } else if (!c.identifier().equals(expectedId)) {
            errors.add(file + ": identifier '" + c.identifier() + "' must match the file name '" + expectedId + "'");
        } else if (!c.identifier().matches("[a-z0-9][a-z0-9_-]*")) {
            errors.add(file + ": identifier '" + c.identifier() + "' may contain only a-z, 0-9, '_' and '-'");
        }
        if (c.triggers() == null || c.triggers().isEmpty()) {
            errors.add(file + ": triggers must list at least one event type, e.g. [order.placed, order.paid]");
        }
        // target
        String baseUrl = null;
        Map<String, String> headers = new LinkedHashMap<>();
        ProviderConfig.Target t = c.target();
        if (t == null || t.baseUrl() == null) {
            errors.add(file + ": target.base_url is required");
        } else {
            baseUrl = resolve(file, "target.base_url", t.baseUrl(), false, errors);
            if (baseUrl != null && !baseUrl.matches("https?://.+")) {
                errors.add(file + ": target.base_url must be an http:// or https:// URL, got '" + baseUrl + "'");
            }
            if (baseUrl != null && baseUrl.endsWith("/")) {
                baseUrl = baseUrl.substring(0, baseUrl.length() - 1);
            }
            if (t.headers() != null) {
                t.headers().forEach((k, v) -> headers.put(k, resolve(file, "target.headers." + k, v, false, errors)));
            }
            if (t.auth() != null) {
                auth(file, t.auth(), headers, errors);
            }
        }
        // retry
        ProviderConfig.Retry r = c.retry();
        int maxAttempts = r != null && r.maxAttempts() != null ? r.maxAttempts() : 5;
        if (maxAttempts < 1) {
            errors.add(file + ": retry.max_attempts must be at least 1");
        }
        List<Duration> backoff = new ArrayList<>();
        List<String> schedule = r != null && r.backoff() != null ? r.backoff() : List.of("5s", "5m", "30m", "2h", "5h");
        for (String s : schedule) {
            Duration d = parseDuration(s);
            if (d == null) {
                errors.add(file + ": retry.backoff: '" + s + "' is not a duration (use e.g. 5s, 5m, 2h, 1d or PT5M)");
            } else {
                backoff.add(d);
            }
        }
        List<int[]> ranges = new ArrayList<>();
        List<String> statuses = r != null && r.recoverableStatuses() != null ? r.recoverableStatuses()
                : List.of("408", "425", "429", "500-599");
        for (String s : statuses) {
            Matcher m = Pattern.compile("(\\d{3})(?:\\s*-\\s*(\\d{3}))?").matcher(s.trim());
            if (m.matches()) {
                int from = Integer.parseInt(m.group(1));
                ranges.add(new int[]{from, m.group(2) == null ? from : Integer.parseInt(m.group(2))});
            } else {
                errors.add(file + ": retry.recoverable_statuses: '" + s + "' is not a status or range like 500-599");
            }
        }
        // objects
        List<Provider.ObjectSpec> objects = new ArrayList<>();
        if (c.objects() == null || c.objects().isEmpty()) {
            errors.add(file + ": objects must list at least one object mapping");
        } else {
            Set<String> ids = new HashSet<>();
            for (int i = 0; i < c.objects().size(); i++) {
                Provider.ObjectSpec spec = object(file, "objects[" + i + "]", c.objects().get(i), ids, errors);
                if (spec != null) {
                    objects.add(spec);
                }
            }
        }
        String separator = c.separator() == null ? "," : c.separator();
        int concurrency = t != null && t.concurrency() != null ? t.concurrency() : 4;
        if (concurrency < 1) {
            errors.add(file + ": target.concurrency must be at least 1");
        }
        return new Provider(c.identifier(), c.displayName() == null ? c.identifier() : c.displayName(),
                c.triggers() == null ? Set.of() : new LinkedHashSet<>(c.triggers()), baseUrl, headers,
                t != null && t.connectTimeoutMs() != null ? t.connectTimeoutMs() : 5000,
                t != null && t.responseTimeoutMs() != null ? t.responseTimeoutMs() : 30000,
                concurrency, maxAttempts, backoff, new Provider.StatusSet(ranges), separator,
                Boolean.TRUE.equals(c.nativeLists()), objects);
    }

    private void auth(String file, ProviderConfig.Auth a, Map<String, String> headers, List<String> errors) {
        String type = a.type() == null ? "" : a.type().toLowerCase(Locale.ROOT);
        switch (type) {
            case "none" -> { }
            case "bearer" -> {
                String token = resolve(file, "target.auth.token", require(file, "target.auth.token", a.token(), errors), true, errors);
                if (token != null) {
                    headers.put("Authorization", "Bearer " + token);
                }
            }
            case "basic" -> {
                String user = resolve(file, "target.auth.username", require(file, "target.auth.username", a.username(), errors), false, errors);
                String pass = resolve(file, "target.auth.password", require(file, "target.auth.password", a.password(), errors), true, errors);
                if (user != null && pass != null) {
                    headers.put("Authorization", "Basic " + Base64.getEncoder()
                            .encodeToString((user + ":" + pass).getBytes(StandardCharsets.UTF_8)));
                }
            }
            case "api_key" -> {
                String header = require(file, "target.auth.header", a.header(), errors);
                String value = resolve(file, "target.auth.value", require(file, "target.auth.value", a.value(), errors), true, errors);
                if (header != null && value != null) {
                    headers.put(header, value);
                }
            }
            default -> errors.add(file + ": target.auth.type '" + a.type() + "' is not one of none, bearer, basic, api_key");
        }
    }

    private static String require(String file, String path, String value, List<String> errors) {
        if (value == null || value.isBlank()) {
            errors.add(file + ": " + path + " is required");
            return null;
        }
        return value;
    }

    /** Resolves placeholders; a secret must be given as a placeholder, never as a literal in the file. */
    private String resolve(String file, String path, String value, boolean secret, List<String> errors) {
        if (value == null) {
            return null;
        }
        if (secret && !PLACEHOLDER.matcher(value).find()) {
            errors.add(file + ": " + path + " is a secret and must not be written in the file; use a placeholder such as {{env:MY_SECRET}}");
            return null;
        }
        try {
            return placeholders.apply(value);
        } catch (RuntimeException e) {
            List<String> missing = new ArrayList<>();
            Matcher m = PLACEHOLDER.matcher(value);
            while (m.find()) {
                String key = m.group().substring(2, m.group().length() - 2);
                try {
                    placeholders.apply(m.group());
                } catch (RuntimeException notSet) {
                    missing.add(key.startsWith("env:") ? "environment variable " + key.substring(4).split(":")[0]
                            : "property " + key.split(":")[0]);
                }
            }
            errors.add(file + ": " + path + ": " + (missing.isEmpty() ? value + " cannot be resolved: " + rootMessage(e)
                    : String.join(", ", missing) + (missing.size() == 1 ? " is" : " are") + " not set"));
            return null;
        }
    }

    private static String rootMessage(Throwable e) {
        while (e.getCause() != null) {
            e = e.getCause();
        }
        return e.getMessage();
    }

    private Provider.ObjectSpec object(String file, String at, ProviderConfig.ObjectMapping o, Set<String> ids, List<String> errors) {
        int before = errors.size();
        if (o.id() == null || o.id().isBlank()) {
            errors.add(file + ": " + at + ".id is required");
        } else if (!ids.add(o.id())) {
            errors.add(file + ": " + at + ".id '" + o.id() + "' is used twice");
        }
        boolean perPosition;
        if ("Order".equals(o.source())) {
            perPosition = false;
        } else if ("OrderPosition".equals(o.source())) {
            perPosition = true;
        } else {
            errors.add(file + ": " + at + ".source must be Order or OrderPosition, got '" + o.source() + "'");
            perPosition = false;
        }
        if (o.remoteType() == null) {
            errors.add(file + ": " + at + ".remote_type is required");
        }
        if (o.idField() == null || o.idField().source() == null || o.idField().remote() == null) {
            errors.add(file + ": " + at + ".id_field needs source and remote");
        } else {
            checkField(file, at + ".id_field.source", o.idField().source(), perPosition, errors);
        }
        Provider.Call lookup = call(file, at + ".lookup", o.lookup(), "GET", errors);
        Provider.Call create = call(file, at + ".create", o.create(), "POST", errors);
        Provider.Call update = call(file, at + ".update", o.update(), "PATCH", errors);
        Provider.Call upsert = call(file, at + ".upsert", o.upsert(), "PUT", errors);
        if (upsert == null && (lookup == null || create == null || update == null)) {
            errors.add(file + ": " + at + " needs either upsert, or lookup, create and update");
        }
        for (String template : new String[]{o.externalLink(), o.displayName(),
                lookup == null ? null : lookup.path(), create == null ? null : create.path(),
                update == null ? null : update.path(), upsert == null ? null : upsert.path()}) {
            checkTemplate(file, at, template, perPosition, errors);
        }
        List<Provider.PropertySpec> props = new ArrayList<>();
        List<ProviderConfig.PropertyMapping> list = o.properties() == null ? List.of() : o.properties();
        for (int i = 0; i < list.size(); i++) {
            ProviderConfig.PropertyMapping p = list.get(i);
            String pat = at + ".properties[" + i + "]";
            if (p.remote() == null) {
                errors.add(file + ": " + pat + ".remote is required");
            }
            if ((p.source() == null) == (p.value() == null)) {
                errors.add(file + ": " + pat + " needs exactly one of source or value");
            }
            if (p.source() != null) {
                checkField(file, pat + ".source", p.source(), perPosition, errors);
            }
            Mode mode;
            try {
                mode = Mode.parse(p.mode());
            } catch (IllegalArgumentException e) {
                errors.add(file + ": " + pat + ".mode '" + p.mode() + "' is not one of overwrite, if_new, if_empty, append");
                mode = Mode.OVERWRITE;
            }
            props.add(new Provider.PropertySpec(p.source(), p.value(), p.remote(), mode, p.valueMap()));
        }
        if (errors.size() > before) {
            return null;
        }
        return new Provider.ObjectSpec(o.id(), perPosition, o.remoteType(), o.idField().source(), o.idField().remote(),
                lookup, create, update, upsert, o.remoteId() == null ? "/id" : o.remoteId(),
                o.externalLink(), o.displayName(), props);
    }

    private static Provider.Call call(String file, String at, ProviderConfig.Call c, String defaultMethod, List<String> errors) {
        if (c == null) {
            return null;
        }
        if (c.path() == null) {
            errors.add(file + ": " + at + ".path is required");
            return null;
        }
        String method = c.method() == null ? defaultMethod : c.method().toUpperCase(Locale.ROOT);
        if (!Set.of("GET", "POST", "PUT", "PATCH").contains(method)) {
            errors.add(file + ": " + at + ".method '" + c.method() + "' is not one of GET, POST, PUT, PATCH");
        }
        if (c.result() != null && !c.result().isEmpty() && !c.result().startsWith("/")) {
            errors.add(file + ": " + at + ".result must be a JSON pointer starting with '/', got '" + c.result() + "'");
        }
        return new Provider.Call(method, c.path(), c.result() == null ? "" : c.result());
    }

    private static void checkField(String file, String at, String field, boolean perPosition, List<String> errors) {
        SourceFields.Input input = SourceFields.inputOf(field);
        if (input == null) {
            errors.add(file + ": " + at + ": unknown source field '" + field + "'");
        } else if (input == SourceFields.Input.POSITION && !perPosition) {
            errors.add(file + ": " + at + ": '" + field + "' is a position field and needs source OrderPosition");
        }
    }

    private static void checkTemplate(String file, String at, String template, boolean perPosition, List<String> errors) {
        if (template == null) {
            return;
        }
        Matcher m = TEMPLATE_VAR.matcher(template);
        while (m.find()) {
            if (!TEMPLATE_EXTRAS.contains(m.group(1))) {
                checkField(file, at, m.group(1), perPosition, errors);
            }
        }
    }

    /** Parses 5s, 5m, 2h, 1d, 250ms or ISO-8601 (PT5M); null when it is neither. */
    public static Duration parseDuration(String text) {
        if (text == null) {
            return null;
        }
        String s = text.trim();
        Matcher m = DURATION.matcher(s);
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            return switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofDays(n);
            };
        }
        try {
            return Duration.parse(s);
        } catch (RuntimeException e) {
            return null;
        }
    }
}
