package io.ordersync.mapping;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.ordersync.order.SourceFields;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads one mapping file, checks it and compiles it into a {@link Provider}, collecting every error with
 * its file, line, column and key path, and a hint where a near name exists.
 */
public final class ProviderLoader {

    private static final Pattern PLACEHOLDER = Pattern.compile("\\{\\{[^}]+}}");
    private static final Pattern TEMPLATE_VAR = Pattern.compile("\\{(ref:[A-Za-z0-9_-]*|[A-Za-z0-9_]*)((?:\\|[^{}|]*)*)}");
    private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)");
    private static final Set<String> URL_TEMPLATE_EXTRAS = Set.of("id_value", "remote_id", "base_url");
    private static final Set<String> HEADER_TEMPLATE_EXTRAS = Set.of("id_value");
    private static final Set<String> MODES = Set.of("overwrite", "if_new", "if_empty", "append");
    private static final Set<String> REF_FIELDS = Set.of("remote_id", "external_link", "display_name", "id_value");

    private final ObjectMapper yaml;
    private final UnaryOperator<String> placeholders;
    private volatile io.ordersync.spi.SyncProviders javaProviders = io.ordersync.spi.SyncProviders.none();
    /** Credentials known besides those of the text being loaded (the saved file's, for an unsaved text of it). */
    private volatile Set<String> knownCredentials = Set.of();

    /** The pretix actions and the types they produce (ordersync.pretix.actions): what a trigger is checked against. */
    private volatile io.ordersync.pretix.PretixActions actions = io.ordersync.pretix.PretixActions.defaults();

    /** Checks triggers against the types these actions produce (ordersync.pretix.actions) instead of the defaults'. */
    public ProviderLoader withPretixActions(io.ordersync.pretix.PretixActions actions) {
        this.actions = java.util.Objects.requireNonNull(actions, "actions");
        return this;
    }

    /** The Java providers a {@code kind: java} file may name (found through ServiceLoader). */
    public ProviderLoader withJavaProviders(io.ordersync.spi.SyncProviders javaProviders) {
        this.javaProviders = javaProviders;
        return this;
    }

    public io.ordersync.spi.SyncProviders javaProviders() {
        return javaProviders;
    }

    /**
     * @param placeholders resolves {@code {{...}}} placeholders (environment, system and application
     *                     properties); throws when one is not set, or returns null to let an unset value pass
     *                     (validation without the production environment)
     */
    /**
     * A loader that resolves only these placeholders (exactly as written, e.g. {@code {{env:CRM_TOKEN}}}); any
     * other is an error that names it. For previews of unsaved mapping text sent by a caller.
     */
    public ProviderLoader restrictedTo(Set<String> allowed) {
        return restrictedTo(allowed, Set.of());
    }

    /**
     * As {@link #restrictedTo(Set)}, and {@code credentials} (the saved file's) count as this text's own: a path, a
     * body or a header template that brings one is an error, also when the text leaves out its auth block.
     */
    public ProviderLoader restrictedTo(Set<String> allowed, Set<String> credentials) {
        ProviderLoader restricted = new ProviderLoader(text -> {
            Matcher m = PLACEHOLDER.matcher(text);
            while (m.find()) {
                if (!allowed.contains(m.group())) {
                    throw new NotAllowedPlaceholder("placeholder " + m.group() + " is not used by the saved mapping file;"
                            + " a preview of an unsaved mapping may only use the placeholders of the saved one");
                }
            }
            // what the pattern does not see Camel may still resolve ({{ordersync.admin.token:}z}}: a '}' in a default):
            // with the allowed ones taken out, no '{{' may be left
            String rest = text;
            for (String a : allowed) {
                rest = rest.replace(a, "");
            }
            if (rest.contains("{{")) {
                throw new NotAllowedPlaceholder("a placeholder that is not one of the saved mapping file's (as written there) is "
                        + "not allowed here: '{{' outside of them");
            }
            return placeholders.apply(text);
        }).withJavaProviders(javaProviders).withPretixActions(actions);
        restricted.knownCredentials = Set.copyOf(credentials);
        return restricted;
    }

    /** Whether a resolved value carries a credential: the text's own (auth, credential headers) or a known one. */
    private boolean carriesCredential(Errors errors, String value) {
        if (value == null) {
            return false;
        }
        return errors.secrets.stream().anyMatch(s -> Secrets.occursIn(value, s))
                || knownCredentials.stream().anyMatch(s -> Secrets.occursIn(value, s));
    }

    /** What one placeholder text resolves to (for redaction); throws when it is not set. */
    public String resolvePlaceholder(String placeholder) {
        return placeholders.apply(placeholder);
    }

    /** A placeholder a restricted loader may not resolve. */
    private static final class NotAllowedPlaceholder extends IllegalArgumentException {
        NotAllowedPlaceholder(String message) {
            super(message);
        }
    }

    public ProviderLoader(UnaryOperator<String> placeholders) {
        this.placeholders = placeholders;
        this.yaml = new ObjectMapper(new YAMLFactory())
                .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                // unknown keys are reported, all of them with their place, by YamlLocator
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    }

    /** The outcome of loading one file: a runnable provider, or the errors that keep it from running. */
    public record Loaded(Path file, String identifier, ProviderConfig config, Provider provider, List<MappingError> errors) {
        public boolean valid() {
            return provider != null && errors.isEmpty();
        }

        public List<String> messages() {
            return errors.stream().map(MappingError::toString).toList();
        }
    }

    /** Collects errors of one file, placing each by its key path. */
    private static final class Errors {
        final String file;
        final YamlLocator locator;
        final List<MappingError> list = new ArrayList<>();
        /** Every value resolved for a field that holds a credential: redacted wherever it shows up. */
        final Set<String> secrets = new LinkedHashSet<>();
        /**
         * Every value a placeholder resolved to, secret or not: an error message that quotes a value (a base_url that
         * is no URL) names what the file says, never what the environment holds (a token put in the wrong field).
         */
        final Set<String> resolved = new LinkedHashSet<>();

        Errors(String file, YamlLocator locator) {
            this.file = file;
            this.locator = locator;
        }

        void add(String path, String message) {
            int[] at = locator == null ? new int[]{0, 0} : locator.locate(path);
            list.add(new MappingError(file, at[0], at[1], path, message));
        }

        int size() {
            return list.size();
        }
    }

    /** A control character, a line or paragraph separator, or a bidirectional override: not for a name that is logged and shown. */
    public static boolean unprintable(int cp) {
        return Character.isISOControl(cp) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
    }

    /** Highest values a mapping file may give: each one still works at run time (SEDA allows 500 consumers). */
    static final int MAX_CONCURRENCY = 200;
    static final int MAX_RATE_LIMIT = 100_000;
    static final long MAX_TIMEOUT_MS = 600_000;
    static final int MAX_ATTEMPTS = 1000;
    static final Duration MAX_BACKOFF = Duration.ofDays(30);

    /** A mapping file as read: its bytes, or why it was not read. */
    public record FileRead(byte[] bytes, String problem) {
    }

    /**
     * Reads a mapping file, at most {@code max} bytes: a FIFO, a device or a directory is not read (opening a FIFO
     * blocks until someone writes, {@code /dev/zero} never ends), nor a larger file, which is read no further than
     * one byte past the limit (its size may not be what the file system says). A symbolic link is followed.
     */
    public static FileRead readFile(Path file, long max) throws IOException {
        java.nio.file.attribute.BasicFileAttributes a = Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class);
        if (!a.isRegularFile()) {
            return new FileRead(null, "not a regular file (a directory, a FIFO or a device); it is not read");
        }
        if (a.size() > max) {
            return new FileRead(null, "the file has " + a.size() + " bytes; a mapping file may have at most " + max + " (it is not read)");
        }
        try (java.io.InputStream in = Files.newInputStream(file)) {
            byte[] bytes = in.readNBytes((int) max + 1);
            if (bytes.length > max) {
                return new FileRead(null, "the file has over " + max + " bytes; a mapping file may have at most " + max + " (it is not read)");
            }
            return new FileRead(bytes, null);
        }
    }

    public Loaded load(Path file) {
        String fileName = file.getFileName().toString();
        byte[] bytes;
        try {
            FileRead read = readFile(file, ProviderRegistry.MAX_FILE_BYTES);
            if (read.problem() != null) {
                return new Loaded(file, idOf(fileName), null, null, List.of(new MappingError(fileName, 0, 0, "", read.problem())));
            }
            bytes = read.bytes();
        } catch (IOException e) {
            return new Loaded(file, idOf(fileName), null, null,
                    List.of(new MappingError(fileName, 0, 0, "", "cannot read: " + e.getClass().getSimpleName()
                            + (e.getMessage() == null ? "" : ": " + e.getMessage()))));
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                    .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            return new Loaded(file, idOf(fileName), null, null, List.of(notUtf8(fileName, bytes)));
        }
        return load(fileName, text, file);
    }

    /** Where the first byte that is not UTF-8 is, as line and column, and what to do about it. */
    static MappingError notUtf8(String fileName, byte[] bytes) {
        java.nio.charset.CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
        java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(bytes);
        java.nio.CharBuffer out = java.nio.CharBuffer.allocate(bytes.length + 1);
        decoder.decode(in, out, true);
        int bad = in.position();
        out.flip();
        int line = 1;
        int column = 1;
        while (out.hasRemaining()) {
            if (out.get() == '\n') {
                line++;
                column = 1;
            } else {
                column++;
            }
        }
        return new MappingError(fileName, line, column, "", String.format(java.util.Locale.ROOT, "the file is not UTF-8: byte 0x%02X cannot be read "
                + "(saved as Latin-1 or Windows-1252?); save the file as UTF-8", bytes[bad] & 0xff));
    }

    /** Loads a mapping given as text (e.g. a preview of an unsaved edit); {@code fileName} names it in errors. */
    public Loaded load(String fileName, String text, Path file) {
        String expectedId = idOf(fileName);
        YamlLocator locator;
        try {
            locator = YamlLocator.parse(text);
        } catch (MarkedYAMLException e) {
            Mark m = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            String msg = (e.getContext() == null ? "" : e.getContext() + ", ") + e.getProblem();
            if (e.getContextMark() != null && m != null && e.getContextMark().getLine() != m.getLine()) {
                msg += " (it started at line " + (e.getContextMark().getLine() + 1) + ")";
            }
            return new Loaded(file, expectedId, null, null, List.of(new MappingError(fileName,
                    m == null ? 0 : m.getLine() + 1, m == null ? 0 : m.getColumn() + 1, "", "YAML syntax: " + msg)));
        } catch (YAMLException e) {
            return new Loaded(file, expectedId, null, null, List.of(new MappingError(fileName, 0, 0, "", "YAML: " + e.getMessage())));
        }
        if (locator.isEmpty()) {
            return new Loaded(file, expectedId, null, null, List.of(new MappingError(fileName, 1, 1, "", "file is empty")));
        }
        Errors errors = new Errors(fileName, locator);
        for (YamlLocator.DuplicateKey d : locator.duplicateKeys()) {
            errors.list.add(new MappingError(fileName, d.line(), d.column(), d.key(), "key '" + d.key()
                    + "' is given twice (first on line " + d.firstLine() + "); only one may stay"));
        }
        for (YamlLocator.UnknownKey u : locator.unknownKeys(ProviderConfig.class)) {
            errors.add(u.path(), "unknown key '" + u.key() + "'" + Suggest.hint(u.key(), u.allowed())
                    + "; allowed here: " + String.join(", ", u.allowed()));
        }
        ProviderConfig config;
        try {
            config = yaml.readValue(text, ProviderConfig.class);
        } catch (JsonMappingException e) {
            errors.add(jsonPath(e), "wrong type: " + e.getOriginalMessage().lines().findFirst().orElse("")
                    .replaceAll(" \\(class [^)]*\\)", "").replaceAll("`[a-z.]+\\.", "`"));
            return new Loaded(file, expectedId, null, null, errors.list);
        } catch (JsonProcessingException e) {
            errors.add("", e.getOriginalMessage());
            return new Loaded(file, expectedId, null, null, errors.list);
        }
        if (config == null) {
            errors.add("", "file is empty");
            return new Loaded(file, expectedId, null, null, errors.list);
        }
        Provider provider = compile(errors, expectedId, config);
        Set<String> hidden = new LinkedHashSet<>(errors.secrets);
        hidden.addAll(errors.resolved);
        List<MappingError> list = errors.list.stream().map(e -> new MappingError(e.file(), e.line(), e.column(), e.path(),
                Secrets.redact(e.message(), hidden))).toList();
        return new Loaded(file, config.identifier() != null ? config.identifier() : expectedId, config,
                errors.size() == 0 ? provider : null, list);
    }

    /** The provider identifier a mapping file's name gives: its name without {@code .yaml} or {@code .yml}. */
    static String idOf(String fileName) {
        return fileName.replaceFirst("\\.ya?ml$", "");
    }

    private static String jsonPath(JsonMappingException e) {
        StringBuilder sb = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                sb.append(sb.length() == 0 ? "" : ".").append(ref.getFieldName());
            } else if (ref.getIndex() >= 0) {
                sb.append('[').append(ref.getIndex()).append(']');
            }
        }
        return sb.toString();
    }

    /** The longest provider identifier the database's provider columns hold. */
    public static final int MAX_IDENTIFIER = 100;

    private Provider compile(Errors errors, String expectedId, ProviderConfig c) {
        if (c.identifier() == null || c.identifier().isBlank()) {
            errors.add("identifier", "identifier is required (the file name without .yaml: '" + expectedId + "')");
        } else if (!c.identifier().equals(expectedId)) {
            errors.add("identifier", "'" + c.identifier() + "' must match the file name '" + expectedId + "'");
        } else if (!c.identifier().matches("[a-z0-9][a-z0-9_-]*")) {
            errors.add("identifier", "'" + c.identifier() + "' may contain only a-z, 0-9, '_' and '-'");
        } else if (c.identifier().length() > MAX_IDENTIFIER) {
            // the database's provider columns (sync_queue, sync_result, provider_presence) hold 100 characters
            errors.add("identifier", "the identifier is " + c.identifier().length() + " characters long, at most "
                    + MAX_IDENTIFIER + " (and the file name with it)");
        }
        Provider.Kind kind = Provider.Kind.HTTP;
        if (c.kind() != null) {
            switch (c.kind()) {
                case "http" -> kind = Provider.Kind.HTTP;
                case "webhook" -> kind = Provider.Kind.WEBHOOK;
                case "route" -> kind = Provider.Kind.ROUTE;
                case "endpoint" -> kind = Provider.Kind.ENDPOINT;
                case "java" -> kind = Provider.Kind.JAVA;
                default -> errors.add("kind", "kind '" + c.kind() + "' is not one of http, webhook, route, endpoint, java"
                        + Suggest.hint(c.kind(), KINDS));
            }
        }
        boolean overHttp = kind == Provider.Kind.HTTP || kind == Provider.Kind.WEBHOOK;
        Provider.Destination destination = destination(errors, kind, c);
        if (c.triggers() == null || c.triggers().isEmpty()) {
            errors.add("triggers", "triggers must list at least one event type, e.g. [order.placed, order.paid]");
        } else {
            for (int i = 0; i < c.triggers().size(); i++) {
                String trigger = c.triggers().get(i);
                if (trigger == null || trigger.isBlank()) {
                    errors.add("triggers[" + i + "]", "an empty item: each trigger is an event type, e.g. order.paid");
                } else {
                    String why = nearMissTrigger(trigger, actions);
                    if (why != null) {
                        errors.add("triggers[" + i + "]", why);
                    }
                }
            }
        }
        List<Provider.Condition> filter = conditions(errors, "filter", c.filter(), true);
        // target
        String baseUrl = null;
        Map<String, String> headers = new LinkedHashMap<>();
        Provider.OAuth2Spec oauth2 = null;
        ProviderConfig.Target t = c.target();
        if (!overHttp) {
            if (t != null && (t.baseUrl() != null || t.auth() != null || t.headers() != null)) {
                errors.add("target", "target.base_url, auth and headers are for kind http and webhook; a " + kind.code()
                        + " provider takes only concurrency, rate_limit, timeouts and circuit_breaker from target");
            }
        } else if (t == null || t.baseUrl() == null) {
            errors.add("target", "target.base_url is required");
        } else {
            baseUrl = resolve(errors, "target.base_url", t.baseUrl(), false);
            if (baseUrl != null && !baseUrl.matches("https?://.+")) {
                errors.add("target.base_url", "must be an http:// or https:// URL, got '" + baseUrl + "'");
            }
            if (baseUrl != null && baseUrl.endsWith("/")) {
                baseUrl = baseUrl.substring(0, baseUrl.length() - 1);
            }
            if (baseUrl != null && baseUrl.matches("(?i)https?://[^/?#]*@.*")) {
                errors.add("target.base_url", "credentials in the URL (user:password@host) are refused: they would be "
                        + "logged and shown with the URL; use target.auth");
                baseUrl = null;
            }
            if (t.headers() != null) {
                for (Map.Entry<String, String> h : t.headers().entrySet()) {
                    String at = "target.headers." + h.getKey();
                    if (Secrets.isSecretHeader(h.getKey()) && (h.getValue() == null
                            || !Secrets.SECRET_HEADER_VALUE.matcher(h.getValue().trim()).matches())) {
                        errors.add(at, "header " + h.getKey() + " carries a credential: its value must be one placeholder "
                                + "without a default, optionally after a scheme word (\"Bearer {{env:CRM_TOKEN}}\")");
                        continue;
                    }
                    headers.put(h.getKey(), resolve(errors, at, h.getValue(), false));
                }
            }
            if (t.auth() != null) {
                oauth2 = auth(errors, t.auth(), headers);
            }
        }
        Provider.WebhookSpec webhook = null;
        if (kind == Provider.Kind.WEBHOOK) {
            webhook = webhook(errors, c.webhook());
        } else if (c.webhook() != null) {
            errors.add("webhook", "webhook settings need kind: webhook");
        }
        // retry
        ProviderConfig.Retry r = c.retry();
        int maxAttempts = r != null && r.maxAttempts() != null ? r.maxAttempts() : 5;
        if (maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS) {
            errors.add("retry.max_attempts", "must be 1 to " + MAX_ATTEMPTS + ", got " + maxAttempts);
        }
        List<Duration> backoff = new ArrayList<>();
        List<String> schedule = r != null && r.backoff() != null ? r.backoff() : List.of("5s", "5m", "30m", "2h", "5h");
        for (int i = 0; i < schedule.size(); i++) {
            Duration d = parseDuration(schedule.get(i));
            if (d == null) {
                errors.add("retry.backoff[" + i + "]", "'" + schedule.get(i) + "' is not a duration (use e.g. 5s, 5m, 2h, 1d or PT5M)");
            } else if (d.isNegative() || d.compareTo(MAX_BACKOFF) > 0) {
                errors.add("retry.backoff[" + i + "]", "'" + schedule.get(i) + "' must be 0s to 30d");
            } else {
                backoff.add(d);
            }
        }
        List<int[]> ranges = new ArrayList<>();
        List<String> statuses = r != null && r.recoverableStatuses() != null ? r.recoverableStatuses()
                : List.of("408", "425", "429", "500-599");
        for (int i = 0; i < statuses.size(); i++) {
            Matcher m = Pattern.compile("(\\d{3})(?:\\s*-\\s*(\\d{3}))?").matcher(String.valueOf(statuses.get(i)).trim());
            if (m.matches()) {
                int from = Integer.parseInt(m.group(1));
                int to = m.group(2) == null ? from : Integer.parseInt(m.group(2));
                if (to < from || from < 100 || to > 599) {
                    // a range that matches no status (599-500), or no HTTP status at all (before: taken, never matching)
                    errors.add("retry.recoverable_statuses[" + i + "]", "'" + statuses.get(i) + "' matches no HTTP status: "
                            + "a status is 100 to 599, a range runs from the lower to the higher (500-599)");
                } else {
                    ranges.add(new int[]{from, to});
                }
            } else {
                errors.add("retry.recoverable_statuses[" + i + "]", "'" + statuses.get(i) + "' is not a status or a range like 500-599");
            }
        }
        String separator = c.separator() == null ? "," : c.separator();
        if (separator.isEmpty()) {
            errors.add("separator", "separator must not be empty");
        }
        // objects
        List<Provider.ObjectSpec> objects = new ArrayList<>();
        if (c.objects() == null || c.objects().isEmpty()) {
            errors.add("objects", "objects must list at least one object mapping");
        } else {
            Map<String, Boolean> earlier = new LinkedHashMap<>();
            Set<String> all = new LinkedHashSet<>();
            c.objects().forEach(o -> {
                if (o != null && o.id() != null) {
                    all.add(o.id());
                }
            });
            for (int i = 0; i < c.objects().size(); i++) {
                Provider.ObjectSpec spec = object(errors, "objects[" + i + "]", c.objects().get(i), kind, earlier, all);
                if (spec != null) {
                    objects.add(spec);
                }
            }
        }
        if (kind == Provider.Kind.JAVA && destination != null && c.objects() != null) {
            List<String> can = javaProviders.get(c.identifier()).objects();
            for (int i = 0; i < c.objects().size(); i++) {
                ProviderConfig.ObjectMapping o = c.objects().get(i);
                if (o != null && o.remoteType() != null && !can.contains(o.remoteType())) {
                    errors.add("objects[" + i + "].remote_type", "the Java provider " + c.identifier() + " syncs "
                            + String.join(", ", can) + ", not '" + o.remoteType() + "'" + Suggest.hint(o.remoteType(), can));
                }
            }
        }
        int concurrency = t != null && t.concurrency() != null ? t.concurrency() : 4;
        if (concurrency < 1 || concurrency > MAX_CONCURRENCY) {
            errors.add("target.concurrency", "must be 1 to " + MAX_CONCURRENCY + " (concurrent requests), got " + concurrency);
        }
        int rateLimit = t != null && t.rateLimit() != null ? t.rateLimit() : 0;
        if (rateLimit < 0 || rateLimit > MAX_RATE_LIMIT) {
            errors.add("target.rate_limit", "must be 0 (no limit) to " + MAX_RATE_LIMIT + " requests per second, got " + rateLimit);
        }
        for (String[] timeout : new String[][]{{"connect_timeout_ms", t == null || t.connectTimeoutMs() == null ? null
                : String.valueOf(t.connectTimeoutMs())}, {"response_timeout_ms", t == null || t.responseTimeoutMs() == null ? null
                : String.valueOf(t.responseTimeoutMs())}}) {
            if (timeout[1] != null) {
                long ms = Long.parseLong(timeout[1]);
                if (ms < 1 || ms > MAX_TIMEOUT_MS) {
                    errors.add("target." + timeout[0], "must be 1 to " + MAX_TIMEOUT_MS + " ms (10 minutes), got " + ms);
                }
            }
        }
        ProviderConfig.CircuitBreaker cb = t == null ? null : t.circuitBreaker();
        Duration openFor = parseDuration(cb == null || cb.openFor() == null ? "30s" : cb.openFor());
        if (openFor == null) {
            errors.add("target.circuit_breaker.open_for", "'" + cb.openFor() + "' is not a duration");
            openFor = Duration.ofSeconds(30);
        } else if (openFor.compareTo(Duration.ofMillis(100)) < 0 || openFor.compareTo(Duration.ofDays(1)) > 0) {
            errors.add("target.circuit_breaker.open_for", "'" + cb.openFor() + "' must be 100ms to 1d");
            openFor = Duration.ofSeconds(30);
        }
        if (cb != null && cb.minimumCalls() != null && (cb.minimumCalls() < 1 || cb.minimumCalls() > 1000)) {
            errors.add("target.circuit_breaker.minimum_calls", "must be 1 to 1000, got " + cb.minimumCalls());
        }
        int failureRate = cb == null || cb.failureRate() == null ? 50 : cb.failureRate();
        if (failureRate < 1 || failureRate > 100) {
            errors.add("target.circuit_breaker.failure_rate", "must be a percentage, 1 to 100");
            failureRate = 50;
        }
        Provider.BreakerSpec breaker = new Provider.BreakerSpec(cb == null || !Boolean.FALSE.equals(cb.enabled()), failureRate,
                cb == null || cb.minimumCalls() == null ? 10 : Math.max(1, cb.minimumCalls()), openFor);
        String displayName = c.displayName() != null ? c.displayName()
                : kind == Provider.Kind.JAVA && destination != null ? javaProviders.get(c.identifier()).displayName() : c.identifier();
        if (c.displayName() != null && (c.displayName().length() > 200 || c.displayName().codePoints().anyMatch(ProviderLoader::unprintable))) {
            // it goes into the log, the UI and alerts: a line break or an escape sequence would forge a log line (found by an attack)
            errors.add("display_name", "must be one line of at most 200 characters, without control characters");
        }
        return new Provider(c.identifier(), displayName, kind,
                c.triggers() == null ? Set.of() : new LinkedHashSet<>(c.triggers()), filter, baseUrl, headers, webhook,
                t != null && t.connectTimeoutMs() != null ? t.connectTimeoutMs() : 5000,
                t != null && t.responseTimeoutMs() != null ? t.responseTimeoutMs() : 30000,
                concurrency, rateLimit, breaker, maxAttempts, backoff, new Provider.StatusSet(ranges), separator,
                Boolean.TRUE.equals(c.nativeLists()), objects, Set.copyOf(errors.secrets), destination, oauth2);
    }

    /**
     * Why a trigger is refused although it is not empty, or null. Refused are only the mistakes no type of one's own
     * makes: a pretix action that {@code actions} (ordersync.pretix.actions) turns into a type, instead of that type;
     * and a type the actions produce written in another case, with a doubled letter, or with a hyphen or underscore
     * ({@code Order.Paid}, {@code order.cancelled}, {@code order.check-in}), which no order would ever queue. Any other
     * string may be a type of one's own (sent to the intake, or produced by one's own actions).
     */
    static String nearMissTrigger(String trigger, io.ordersync.pretix.PretixActions actions) {
        java.util.Set<String> types = actions.types();
        if (types.contains(trigger)) {
            return null;
        }
        java.util.Optional<String> typeOfAction = trigger.startsWith("pretix.") ? actions.typeOf(trigger) : java.util.Optional.empty();
        if (typeOfAction.isPresent()) {
            return "'" + trigger + "' is a pretix action, not an event type: ordersync.pretix.actions makes its orders '"
                    + typeOfAction.get() + "' (did you mean '" + typeOfAction.get() + "'?)";
        }
        String shape = shape(trigger);
        for (String type : types) {
            if (shape(type).equals(shape)) {
                return "'" + trigger + "' is no event type ordersync.pretix.actions produces (did you mean '" + type
                        + "'?); the types are compared as written";
            }
        }
        return null;
    }

    /** A type without case, doubled letters, hyphens and underscores: order.cancelled and Order.Canceled are alike. */
    private static String shape(String type) {
        return type.toLowerCase(Locale.ROOT).replaceAll("[-_\\s]", "").replaceAll("(.)\\1+", "$1");
    }

    private static final List<String> KINDS = List.of("http", "webhook", "route", "endpoint", "java");

    /**
     * Components a mapping file may not send objects to: they run code or reach into the process (beans,
     * scripts, commands, route control) instead of delivering a message.
     */
    private static final Set<String> REFUSED_SCHEMES = Set.of("bean", "class", "exec", "language", "controlbus", "ref",
            "stub", "mock", "dataset", "browse", "groovy", "jsh", "joor", "java", "js", "mvel", "ognl", "spel", "python",
            "ssh", "docker", "kubernetes", "jmx", "management");

    /** The Simple expressions a destination URI may hold: reading the message's body or one of its headers. */
    private static final Pattern SAFE_SIMPLE = Pattern.compile("\\$\\{(body|headers?\\.[A-Za-z0-9_-]+|headers?\\[[A-Za-z0-9_-]+])}");

    /** Refuses destinations that would run code or reach ordersync's own routes and beans. */
    private static void refuseInternal(Errors errors, String at, String given) {
        // Camel decodes %xx in a URI's options: %23type: is #type: to it, so the checks read the text with every
        // ASCII escape decoded (a % that starts none, as in a LIKE 'a%', stays as it is)
        String uri = given;
        for (int i = 0; i < 3; i++) {
            String decoded = ASCII_ESCAPE.matcher(uri).replaceAll(m -> java.util.regex.Matcher.quoteReplacement(
                    String.valueOf((char) Integer.parseInt(m.group(1), 16))));
            if (decoded.equals(uri)) {
                break;
            }
            uri = decoded;
        }
        String scheme = uri.substring(0, uri.indexOf(':')).toLowerCase(java.util.Locale.ROOT);
        String rest = SAFE_SIMPLE.matcher(uri).replaceAll("");
        if (rest.contains("${") || rest.contains("$simple{")) {
            // components evaluate some options as Simple (file: fileName=${bean:type:…}, sql: :#${…}), which can call
            // any method: only reading the message is allowed
            errors.add(at, "a Simple expression (${…}) in a destination URI is evaluated by Camel and may call any code: only "
                    + "${body} and ${header.Name} are allowed in a mapping file; compute anything else in your own route (kind: route)");
        } else if (REFUSED_SCHEMES.contains(scheme) || scheme.startsWith("ordersync")) {
            errors.add(at, "'" + scheme + ":' runs code or reaches into the process instead of delivering a message; "
                    + "call it from your own route (kind: route) if you mean it");
        } else if (uri.matches("(?s)(direct|seda|vm|direct-vm|disruptor|disruptor-vm):/{0,2}(ordersync-|provider-).*")) {
            errors.add(at, "'" + Secrets.shownUri(uri) + "' is one of ordersync's own routes");
        } else if (uri.contains("#ordersync") || uri.contains("#bean:ordersync")) {
            errors.add(at, "ordersync's own beans (#ordersync.…) are not for destinations: configure a bean of your own");
        } else if (uri.contains("#property:")) {
            // a property's value by reference: a way round the placeholders a mapping file may use (its secrets)
            errors.add(at, "#property: references are not for destinations: use a placeholder {{…}} of the file's own");
        } else if (uri.contains("#type:") || uri.contains("#class:") || uri.contains("#valueAs(") || uri.contains("#bean:type:")) {
            // by type Camel may take ordersync's own bean (its only DataSource); by class it runs a constructor
            errors.add(at, "a destination names its beans by name (#myBean), not by type or class (#type:, #class:): by type "
                    + "it may get one of ordersync's own, by class it runs code");
        } else if (DATABASE_SCHEMES.contains(scheme) && !(uri.indexOf('?') >= 0
                && ("&" + uri.substring(uri.indexOf('?') + 1)).matches("(?s).*&dataSource=#[^&#]+.*"))) {
            // found by a review: camel-sql autowires its dataSource, and ordersync's is the only DataSource there is
            errors.add(at, "give the database by name (?dataSource=#yourDataSource, a bean of your own): without it Camel "
                    + "takes the only DataSource it finds, which is ordersync's own database");
        } else if (MESSAGING_SCHEMES.contains(scheme) && !(uri.indexOf('?') >= 0
                && ("&" + uri.substring(uri.indexOf('?') + 1)).matches("(?s).*&connectionFactory=#[^&#]+.*"))) {
            // found by a review: camel-jms autowires its connectionFactory, and with JMS intake on, ordersync's is the
            // only one there is: jms:queue:x sent to the intake broker (jms:queue:ordersync.events even back into intake)
            errors.add(at, "give the broker by name (?connectionFactory=#yourBroker, a bean of your own): without it Camel "
                    + "takes the only connection factory it finds, which is ordersync's own intake broker when JMS intake is on");
        }
    }

    /** A %xx escape of an ASCII character. */
    private static final java.util.regex.Pattern ASCII_ESCAPE = java.util.regex.Pattern.compile("%([0-7][0-9A-Fa-f])");

    /** Components that take a JMS or AMQP connection factory, which Camel autowires when the URI names none. */
    private static final Set<String> MESSAGING_SCHEMES = Set.of("jms", "activemq", "amqp", "sjms", "sjms2");

    /** Components that take a DataSource, which Camel autowires when the URI names none. */
    private static final Set<String> DATABASE_SCHEMES = Set.of("sql", "sql-stored", "jdbc", "spring-jdbc", "elsql", "mybatis",
            "mybatis-bean", "jpa");

    /** Where objects of a route, endpoint or java provider go; checks that only its own kind's section is set. */
    private Provider.Destination destination(Errors errors, Provider.Kind kind, ProviderConfig c) {
        if (kind != Provider.Kind.ROUTE && c.route() != null) {
            errors.add("route", "route is for kind: route");
        }
        if (kind != Provider.Kind.ENDPOINT && c.endpoint() != null) {
            errors.add("endpoint", "endpoint settings are for kind: endpoint");
        }
        switch (kind) {
            case ROUTE -> {
                if (c.route() == null || c.route().isBlank()) {
                    errors.add("kind", "a route provider needs route: the Camel endpoint of your route, e.g. direct:my-crm");
                    return null;
                }
                String uri = resolve(errors, "route", c.route().trim(), false);
                if (uri != null && !uri.matches("[a-z][a-z0-9+.-]*:.+")) {
                    errors.add("route", "'" + uri + "' is not a Camel endpoint URI (scheme:path, e.g. direct:my-crm)");
                } else if (uri != null) {
                    refuseInternal(errors, "route", uri);
                }
                return new Provider.Destination(uri, false, Map.of());
            }
            case ENDPOINT -> {
                ProviderConfig.Endpoint e = c.endpoint();
                if (e == null || e.uri() == null || e.uri().isBlank()) {
                    errors.add(e == null ? "kind" : "endpoint", "an endpoint provider needs endpoint.uri, e.g. jms:queue:crm or file:out");
                    return null;
                }
                String uri = resolve(errors, "endpoint.uri", e.uri().trim(), false);
                if (uri != null && !uri.matches("[a-z][a-z0-9+.-]*:.+")) {
                    errors.add("endpoint.uri", "'" + uri + "' is not a Camel endpoint URI (scheme:path, e.g. jms:queue:crm)");
                } else if (uri != null) {
                    refuseInternal(errors, "endpoint.uri", uri);
                }
                boolean perOrder = false;
                if (e.per() != null) {
                    switch (e.per()) {
                        case "object" -> perOrder = false;
                        case "order" -> perOrder = true;
                        default -> errors.add("endpoint.per", "per must be object or order, got '" + e.per() + "'");
                    }
                }
                Map<String, String> headers = new LinkedHashMap<>();
                if (e.headers() != null) {
                    // credential headers first: a header template after or before one is checked against it alike
                    List<Map.Entry<String, String>> ordered = new ArrayList<>(e.headers().entrySet());
                    ordered.sort(java.util.Comparator.comparing(h -> !Secrets.isSecretHeader(h.getKey())));
                    for (Map.Entry<String, String> h : ordered) {
                        String at = "endpoint.headers." + h.getKey();
                        if (h.getKey() == null || !h.getKey().matches("[A-Za-z][A-Za-z0-9_.-]{0,99}")) {
                            errors.add(at, "a header name is letters, digits, '_', '.', '-'");
                            continue;
                        }
                        if (h.getKey().regionMatches(true, 0, "Camel", 0, 5) || h.getKey().regionMatches(true, 0, "Ordersync", 0, 9)) {
                            errors.add(at, "headers starting with Camel or Ordersync steer Camel's components and ordersync "
                                    + "(the destination, the method); set them in a route (kind: route), not here");
                            continue;
                        }
                        if (Secrets.isSecretHeader(h.getKey())) {
                            // a credential: one placeholder (after a scheme word), kept out of previews and messages
                            if (h.getValue() == null || !Secrets.SECRET_HEADER_VALUE.matcher(h.getValue().trim()).matches()) {
                                errors.add(at, "header " + h.getKey() + " carries a credential: its value must be one placeholder "
                                        + "without a default, optionally after a scheme word (\"Bearer {{env:CRM_TOKEN}}\")");
                                continue;
                            }
                            String v = resolve(errors, at, h.getValue(), false);
                            if (v != null) {
                                errors.secrets.add(v);
                                errors.secrets.add(v.substring(v.lastIndexOf(' ') + 1));
                                headers.put(h.getKey(), v);
                            }
                            continue;
                        }
                        // placeholders first, then the template, as in paths (before: any {{…}} was "unbalanced braces");
                        // a header has {id_value} of the template fields paths have, not {remote_id} or {base_url}
                        String v = resolve(errors, at, h.getValue(), false);
                        if (v == null) {
                            continue;
                        }
                        checkTemplate(errors, at, v, false, HEADER_TEMPLATE_EXTRAS);
                        if (carriesCredential(errors, v)) {
                            // a header that is no credential is a template: a function of it could show the credential
                            // changed, past redaction (as in a path or body)
                            errors.add(at, "a credential of this provider: only a credential header (Authorization, X-Api-Key, "
                                    + "*-Token, …) may carry one, as exactly its placeholder");
                            continue;
                        }
                        headers.put(h.getKey(), v);
                    }
                }
                return new Provider.Destination(uri, perOrder, Map.copyOf(headers));
            }
            case JAVA -> {
                io.ordersync.spi.SyncProvider p = c.identifier() == null ? null : javaProviders.get(c.identifier());
                if (p == null) {
                    errors.add("kind", "kind: java needs a Java provider registered as '" + c.identifier()
                            + "' (META-INF/services/io.ordersync.spi.SyncProvider on the class path); registered: "
                            + (javaProviders.all().isEmpty() ? "none" : String.join(", ", javaProviders.all().keySet())));
                    return null;
                }
                return new Provider.Destination(null, false, Map.of());
            }
            default -> {
                return null;
            }
        }
    }

    /** The longest {@code result} pointer (the preview builds an answer a level per step of it). */
    static final int MAX_RESULT_POINTER = 500;

    private Provider.WebhookSpec webhook(Errors errors, ProviderConfig.Webhook w) {
        if (w == null || w.secret() == null) {
            errors.add("webhook", "a webhook provider needs webhook.secret (a whsec_… key, as a placeholder)");
            return null;
        }
        String secret = resolve(errors, "webhook.secret", w.secret(), true);
        byte[] key = null;
        if (secret != null) {
            try {
                key = io.ordersync.delivery.WebhookSigner.key(secret);
            } catch (IllegalArgumentException e) {
                errors.add("webhook.secret", e.getMessage());
            }
        }
        boolean perOrder = false;
        if (w.per() != null) {
            switch (w.per()) {
                case "object" -> perOrder = false;
                case "order" -> perOrder = true;
                default -> errors.add("webhook.per", "'" + w.per() + "' is not one of object, order");
            }
        }
        return new Provider.WebhookSpec(w.path() == null ? "" : w.path(), key, perOrder);
    }

    /** Puts the credentials into the headers; returns the OAuth2 client of an {@code oauth2} auth (null otherwise). */
    private Provider.OAuth2Spec auth(Errors errors, ProviderConfig.Auth a, Map<String, String> headers) {
        String type = a.type() == null ? "" : a.type().toLowerCase(Locale.ROOT);
        switch (type) {
            case "none" -> { }
            case "oauth2" -> {
                String tokenUrl = resolve(errors, "target.auth.token_url", require(errors, "target.auth.token_url", a.tokenUrl()), false);
                if (tokenUrl != null && !tokenUrl.matches("https?://[^\\s]+")) {
                    errors.add("target.auth.token_url", "must be an http:// or https:// URL, got '" + tokenUrl + "'");
                    tokenUrl = null;
                } else if (tokenUrl != null && (tokenUrl.matches("(?i)https?://[^/?#]*@.*")
                        || tokenUrl.matches("(?i).*[?&](client_secret|password)=.*"))) {
                    // the token URL is quoted in every failure of a fetch (a review): credentials go in client_id and
                    // client_secret, which are sent as the grant asks and never shown
                    errors.add("target.auth.token_url", "credentials in the URL (user:password@host, client_secret=…) are "
                            + "refused: the URL is logged and shown with each failure; use client_id and client_secret");
                    tokenUrl = null;
                }
                String clientId = resolve(errors, "target.auth.client_id", require(errors, "target.auth.client_id", a.clientId()), false);
                String clientSecret = resolve(errors, "target.auth.client_secret", require(errors, "target.auth.client_secret",
                        a.clientSecret()), true);
                String scope = a.scope() == null ? null : resolve(errors, "target.auth.scope", a.scope(), false);
                String clientAuth = a.clientAuth() == null ? "basic" : a.clientAuth().trim().toLowerCase(Locale.ROOT);
                if (!clientAuth.equals("basic") && !clientAuth.equals("body")) {
                    errors.add("target.auth.client_auth", "client_auth is basic (HTTP Basic, the default) or body (client_id and "
                            + "client_secret in the form), got '" + a.clientAuth() + "'" + Suggest.hint(clientAuth, List.of("basic", "body")));
                }
                return tokenUrl == null || clientId == null || clientSecret == null ? null
                        : new Provider.OAuth2Spec(tokenUrl, clientId, clientSecret, scope, clientAuth.equals("body"));
            }
            case "bearer" -> {
                String token = resolve(errors, "target.auth.token", require(errors, "target.auth.token", a.token()), true);
                if (token != null) {
                    headers.put("Authorization", "Bearer " + token);
                }
            }
            case "basic" -> {
                String user = resolve(errors, "target.auth.username", require(errors, "target.auth.username", a.username()), false);
                String pass = resolve(errors, "target.auth.password", require(errors, "target.auth.password", a.password()), true);
                if (user != null && pass != null) {
                    headers.put("Authorization", "Basic " + Base64.getEncoder()
                            .encodeToString((user + ":" + pass).getBytes(StandardCharsets.UTF_8)));
                }
            }
            case "api_key" -> {
                String header = require(errors, "target.auth.header", a.header());
                // a header value: one placeholder, optionally after a scheme word ("Bearer {{env:KEY}}")
                String raw = require(errors, "target.auth.value", a.value());
                String value = null;
                if (raw != null && !Secrets.SECRET_HEADER_VALUE.matcher(raw.trim()).matches()) {
                    errors.add("target.auth.value", secretRule(raw).replace("a secret must be exactly one placeholder such as "
                            + "{{env:MY_SECRET}}", "an API key must be one placeholder such as {{env:MY_KEY}}, optionally after a "
                            + "scheme word (\"Bearer {{env:MY_KEY}}\")"));
                } else {
                    value = resolve(errors, "target.auth.value", raw, false);
                    if (value != null) {
                        // secret whatever the header is called
                        errors.secrets.add(value);
                        int space = value.indexOf(' ');
                        errors.secrets.add(space > 0 ? value.substring(space + 1).trim() : value);
                    }
                }
                if (header != null && value != null) {
                    headers.put(header, value);
                }
            }
            default -> errors.add("target.auth.type", "'" + a.type() + "' is not one of none, bearer, basic, api_key, oauth2"
                    + Suggest.hint(a.type(), List.of("none", "bearer", "basic", "api_key", "oauth2")));
        }
        return null;
    }

    private static String require(Errors errors, String path, String value) {
        if (value == null || value.isBlank()) {
            errors.add(path.substring(0, path.lastIndexOf('.')), path + " is required");
            return null;
        }
        return value;
    }

    /** Resolves placeholders; a secret must be given as a placeholder, never as a literal in the file. */
    private String resolve(Errors errors, String path, String value, boolean secret) {
        if (value == null) {
            return null;
        }
        if (secret && !Secrets.ONE_PLACEHOLDER.matcher(value.trim()).matches()) {
            errors.add(path, secretRule(value));
            return null;
        }
        try {
            String resolved = placeholders.apply(value);
            if (secret && resolved != null) {
                errors.secrets.add(resolved);
            }
            if (resolved != null && !resolved.equals(value)) {
                errors.resolved.add(resolved);
                Matcher each = PLACEHOLDER.matcher(value);
                while (each.find()) {
                    errors.resolved.add(placeholders.apply(each.group()));
                }
            }
            return resolved;
        } catch (RuntimeException e) {
            if (e instanceof NotAllowedPlaceholder) {
                errors.add(path, e.getMessage());
                return null;
            }
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
            errors.add(path, missing.isEmpty() ? value + " cannot be resolved: " + rootMessage(e)
                    : String.join(", ", missing) + (missing.size() == 1 ? " is" : " are") + " not set");
            return null;
        }
    }

    /** Why a secret's value is refused: it must be exactly one placeholder without a default. */
    private static String secretRule(String value) {
        if (!PLACEHOLDER.matcher(value).find()) {
            return "a secret must not be written in the file; use a placeholder such as {{env:MY_SECRET}}";
        }
        if (value.matches("(?s).*\\{\\{(?:env:|sys:)?+[^}:]+:[^}]*}}.*")) {
            return "a secret's placeholder must not have a default ({{env:NAME:default}} would put the secret in the file)";
        }
        return "a secret must be exactly one placeholder such as {{env:MY_SECRET}}, with no text around it";
    }

    private static String rootMessage(Throwable e) {
        while (e.getCause() != null) {
            e = e.getCause();
        }
        return e.getMessage();
    }

    private Provider.ObjectSpec object(Errors errors, String at, ProviderConfig.ObjectMapping o, Provider.Kind kind,
                                      Map<String, Boolean> earlier, Set<String> all) {
        if (o == null) {
            errors.add(at, "empty object mapping");
            return null;
        }
        int before = errors.size();
        if (o.id() == null || o.id().isBlank()) {
            errors.add(at, at + ".id is required");
        } else if (earlier.containsKey(o.id())) {
            errors.add(at + ".id", "id '" + o.id() + "' is used by an earlier object mapping");
        } else if (o.id().length() > 100) {
            // each is a column of the order's results (sync_result): a longer one could not be recorded
            errors.add(at + ".id", "id is " + o.id().length() + " characters long, at most 100 are allowed");
        }
        boolean perPosition;
        if ("Order".equals(o.source())) {
            perPosition = false;
        } else if ("OrderPosition".equals(o.source())) {
            perPosition = true;
        } else {
            errors.add(at + ".source", "source must be Order or OrderPosition, got '" + o.source() + "'"
                    + Suggest.hint(o.source(), List.of("Order", "OrderPosition")));
            perPosition = false;
        }
        if (o.remoteType() == null) {
            errors.add(at, at + ".remote_type is required");
        } else if (o.remoteType().length() > 100) {
            errors.add(at + ".remote_type", "remote_type is " + o.remoteType().length() + " characters long, at most 100 are allowed");
        }
        if (o.idField() != null && o.idField().remote() != null && o.idField().remote().length() > 200) {
            errors.add(at + ".id_field.remote", "id_field.remote is " + o.idField().remote().length()
                    + " characters long, at most 200 are allowed");
        }
        if (o.idField() == null || o.idField().source() == null || o.idField().remote() == null) {
            errors.add(o.idField() == null ? at : at + ".id_field", "id_field needs source and remote");
        } else {
            checkField(errors, at + ".id_field.source", o.idField().source(), perPosition);
        }
        List<Provider.Condition> filter = conditions(errors, at + ".filter", o.filter(), false);
        if (filter != null && !perPosition) {
            for (Provider.Condition cond : filter) {
                checkField(errors, at + ".filter", cond.field(), false);
            }
        }
        Provider.Call lookup = call(errors, at + ".lookup", o.lookup(), "GET", perPosition, earlier);
        Provider.Call create = call(errors, at + ".create", o.create(), "POST", perPosition, earlier);
        Provider.Call update = call(errors, at + ".update", o.update(), "PATCH", perPosition, earlier);
        Provider.Call upsert = call(errors, at + ".upsert", o.upsert(), "PUT", perPosition, earlier);
        Provider.Call delete = call(errors, at + ".delete", o.delete(), "DELETE", perPosition, earlier);
        Provider.CancelSpec onCancel = onCancel(errors, at + ".on_cancel", o.onCancel(), kind, lookup, update, delete);
        if (delete != null && onCancel.action() != Provider.CancelAction.DELETE) {
            errors.add(at + ".delete", "delete is the call of on_cancel: delete");
        }
        if (kind == Provider.Kind.HTTP && upsert == null && (lookup == null || create == null || update == null)) {
            errors.add(at, "an http object mapping needs either upsert, or lookup, create and update");
        }
        if (kind != Provider.Kind.HTTP && (lookup != null || create != null || update != null || upsert != null)) {
            errors.add(at, "a " + kind.code() + " object mapping has no lookup/create/update/upsert: "
                    + (kind == Provider.Kind.WEBHOOK ? "objects are POSTed to webhook.path" : "lookup and write are the "
                    + (kind == Provider.Kind.JAVA ? "Java provider's" : kind == Provider.Kind.ROUTE ? "route's" : "endpoint's") + " job"));
        }
        checkTemplate(errors, at + ".external_link", o.externalLink(), perPosition, URL_TEMPLATE_EXTRAS);
        checkTemplate(errors, at + ".display_name", o.displayName(), perPosition, URL_TEMPLATE_EXTRAS);
        for (String[] call : new String[][]{{"lookup", lookup == null ? null : lookup.path()}, {"create", create == null ? null : create.path()},
                {"update", update == null ? null : update.path()}, {"upsert", upsert == null ? null : upsert.path()},
                {"delete", delete == null ? null : delete.path()}}) {
            checkTemplate(errors, at + "." + call[0] + ".path", call[1], perPosition, callExtras(earlier));
        }
        List<Provider.PropertySpec> props = new ArrayList<>();
        List<ProviderConfig.PropertyMapping> list = o.properties() == null ? List.of() : o.properties();
        for (int i = 0; i < list.size(); i++) {
            Provider.PropertySpec p = property(errors, at + ".properties[" + i + "]", list.get(i), perPosition, earlier, all);
            if (p != null) {
                props.add(p);
            }
        }
        if (o.id() != null) {
            earlier.put(o.id(), perPosition);
        }
        List<String> remoteIds = remoteIdPointers(errors, at + ".remote_id", o.remoteId());
        if (errors.size() > before) {
            return null;
        }
        return new Provider.ObjectSpec(o.id(), perPosition, o.remoteType(), o.idField().source(), o.idField().remote(),
                filter == null ? List.of() : filter, lookup, create, update, upsert,
                remoteIds, o.externalLink(), o.displayName(), props, onCancel, delete);
    }

    /** remote_id: one JSON pointer, or a list of them (the first that holds a value wins); default /id. */
    private static List<String> remoteIdPointers(Errors errors, String at, Object value) {
        if (value == null) {
            return List.of("/id");
        }
        List<String> out = new ArrayList<>();
        for (Object o : value instanceof List<?> l ? l : List.of(value)) {
            String p = o == null ? "" : String.valueOf(o);
            if (!p.startsWith("/") || o instanceof Map) {
                errors.add(at, "remote_id is a JSON pointer starting with '/' (or a list of them), got '" + p + "'");
            } else {
                out.add(p);
            }
        }
        if (out.isEmpty()) {
            errors.add(at, "remote_id needs at least one JSON pointer, e.g. /id");
            return List.of("/id");
        }
        return List.copyOf(out);
    }

    /** on_cancel: update (default), delete (needs lookup and delete), nothing, or {archive: {field: value}} (needs lookup and update). */
    private static Provider.CancelSpec onCancel(Errors errors, String at, Object value, Provider.Kind kind, Provider.Call lookup,
                                                Provider.Call update, Provider.Call delete) {
        if (value == null) {
            return Provider.CancelSpec.UPDATE;
        }
        if (kind != Provider.Kind.HTTP) {
            errors.add(at, "on_cancel is for kind http (a " + kind.code() + " provider gets the canceled order as it is)");
            return Provider.CancelSpec.UPDATE;
        }
        if (value instanceof Map<?, ?> m && m.size() == 1 && m.get("archive") instanceof Map<?, ?> values && !values.isEmpty()) {
            if (lookup == null || update == null) {
                errors.add(at, "on_cancel: archive needs lookup and update (the object is found and updated with the archive values)");
            }
            Map<String, Object> archive = new LinkedHashMap<>();
            values.forEach((k, v) -> archive.put(String.valueOf(k), v));
            return new Provider.CancelSpec(Provider.CancelAction.ARCHIVE, Map.copyOf(archive));
        }
        String text = String.valueOf(value).trim().toLowerCase(Locale.ROOT);
        switch (text) {
            case "update" -> {
                return Provider.CancelSpec.UPDATE;
            }
            case "nothing" -> {
                return new Provider.CancelSpec(Provider.CancelAction.NOTHING, Map.of());
            }
            case "delete" -> {
                if (lookup == null || delete == null) {
                    errors.add(at, "on_cancel: delete needs lookup and delete: {path: \"/contacts/{remote_id}\"}");
                }
                return new Provider.CancelSpec(Provider.CancelAction.DELETE, Map.of());
            }
            default -> {
                errors.add(at, "on_cancel must be update, delete, nothing or {archive: {field: value, …}}, got " + value
                        + Suggest.hint(text, List.of("update", "delete", "nothing", "archive")));
                return Provider.CancelSpec.UPDATE;
            }
        }
    }

    private Provider.PropertySpec property(Errors errors, String at, ProviderConfig.PropertyMapping p, boolean perPosition,
                                           Map<String, Boolean> earlier, Set<String> all) {
        if (p == null) {
            errors.add(at, "empty property mapping");
            return null;
        }
        if (p.remote() == null || p.remote().isBlank()) {
            errors.add(at, "remote (the remote field name) is required");
        }
        int given = (p.source() != null ? 1 : 0) + (p.value() != null ? 1 : 0) + (p.template() != null ? 1 : 0) + (p.ref() != null ? 1 : 0);
        if (given != 1) {
            errors.add(at, "needs exactly one of source, value, template or ref" + (given > 1 ? " (found " + given + ")" : ""));
        }
        Provider.ValueKind kind = p.source() != null ? Provider.ValueKind.SOURCE : p.template() != null
                ? Provider.ValueKind.TEMPLATE : p.ref() != null ? Provider.ValueKind.REF : Provider.ValueKind.CONSTANT;
        if (p.source() != null) {
            checkField(errors, at + ".source", p.source(), perPosition);
        }
        if (p.template() != null) {
            checkTemplate(errors, at + ".template", p.template(), perPosition, Set.of());
        }
        if (p.value() != null && !(p.value() instanceof String || p.value() instanceof Number || p.value() instanceof Boolean)) {
            errors.add(at + ".value", "a constant must be a string, number or boolean");
        }
        String refField = p.refField() == null ? "remote_id" : p.refField();
        if (p.ref() != null) {
            if (!earlier.containsKey(p.ref())) {
                errors.add(at + ".ref", all.contains(p.ref())
                        ? "'" + p.ref() + "' is defined later in the file; a mapping can only reference earlier ones"
                        : "no object mapping '" + p.ref() + "'" + Suggest.hint(p.ref(), earlier.keySet()));
            }
            if (!REF_FIELDS.contains(refField)) {
                errors.add(at + ".ref_field", "'" + refField + "' is not one of " + String.join(", ", REF_FIELDS) + Suggest.hint(refField, REF_FIELDS));
            }
        } else if (p.refField() != null) {
            errors.add(at + ".ref_field", "ref_field needs ref");
        }
        Mode mode = Mode.OVERWRITE;
        if (p.mode() != null) {
            if (MODES.contains(p.mode())) {
                mode = Mode.parse(p.mode());
            } else {
                errors.add(at + ".mode", "mode '" + p.mode() + "' is not one of overwrite, if_new, if_empty, append" + Suggest.hint(p.mode(), MODES));
            }
        }
        if (p.valueMap() != null) {
            checkValueMap(errors, at, p);
        }
        return new Provider.PropertySpec(kind, p.source(), p.value(), p.template(), p.ref(), refField, p.remote(), mode, p.valueMap(),
                p.list());
    }

    /** Known choices: a value map must cover every option of a choice field. */
    private static void checkValueMap(Errors errors, String at, ProviderConfig.PropertyMapping p) {
        List<String> options = SourceFields.choices(p.source());
        if (p.source() != null && SourceFields.hasOpenChoices(p.source())) {
            // the options are the event's own (its locales): the map names those it needs; an unmapped one is
            // a configuration error when an order has it
            return;
        }
        if (p.source() == null || options == null) {
            if (p.source() == null || !p.source().startsWith("question_")) {
                errors.add(at + ".value_map", "value_map needs a choice field as source (order_status, ticket_status, order_locale, question_…)");
            }
            return;
        }
        List<String> missing = new ArrayList<>();
        for (String option : options) {
            if (!p.valueMap().containsKey(option)) {
                missing.add(option);
            }
        }
        if (!missing.isEmpty()) {
            errors.add(at + ".value_map", "value_map misses option" + (missing.size() > 1 ? "s " : " ") + String.join(", ", missing)
                    + " of " + p.source());
        }
        for (String key : p.valueMap().keySet()) {
            if (!options.contains(key)) {
                errors.add(at + ".value_map." + key, "'" + key + "' is not an option of " + p.source() + Suggest.hint(key, options));
            }
        }
    }

    private List<Provider.Condition> conditions(Errors errors, String at, List<ProviderConfig.Condition> list, boolean providerLevel) {
        if (list == null) {
            return List.of();
        }
        List<Provider.Condition> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            ProviderConfig.Condition c = list.get(i);
            String cat = at + "[" + i + "]";
            if (c == null || c.field() == null) {
                errors.add(cat, "a condition needs field");
                continue;
            }
            if (SourceFields.inputOf(c.field()) == null) {
                errors.add(cat + ".field", "unknown source field '" + c.field() + "'" + Suggest.hint(c.field(), SourceFields.names()));
            }
            int tests = (c.equalTo() != null ? 1 : 0) + (c.in() != null ? 1 : 0) + (c.notIn() != null ? 1 : 0) + (c.empty() != null ? 1 : 0);
            if (tests != 1) {
                errors.add(cat, "a condition needs exactly one of equals, in, not_in, empty");
            }
            out.add(new Provider.Condition(c.field(), c.equalTo(), c.in(), c.notIn(), c.empty()));
        }
        return out;
    }

    private Provider.Call call(Errors errors, String at, ProviderConfig.Call c, String defaultMethod, boolean perPosition,
                               Map<String, Boolean> earlier) {
        if (c == null) {
            return null;
        }
        if (c.path() == null) {
            errors.add(at, "path is required");
            return null;
        }
        String path = placeholdersIn(errors, at + ".path", c.path());
        String method = c.method() == null ? defaultMethod : c.method().toUpperCase(Locale.ROOT);
        if (!Set.of("GET", "POST", "PUT", "PATCH", "DELETE").contains(method)) {
            errors.add(at + ".method", "'" + c.method() + "' is not one of GET, POST, PUT, PATCH, DELETE");
        }
        if (c.result() != null && !c.result().isEmpty() && !c.result().startsWith("/")) {
            errors.add(at + ".result", "must be a JSON pointer starting with '/', got '" + c.result() + "'");
        } else if (c.result() != null && c.result().length() > MAX_RESULT_POINTER) {
            // the preview builds an answer in which the pointer leads to the object, a level per step
            errors.add(at + ".result", "a result pointer is at most " + MAX_RESULT_POINTER + " characters");
        }
        Set<Integer> conflict = Set.of();
        if (c.conflict() != null) {
            if (!at.endsWith("create")) {
                errors.add(at + ".conflict", "conflict is for create: the statuses that mean the object exists already");
            }
            for (Integer status : c.conflict()) {
                if (status == null || status < 400 || status > 499) {
                    errors.add(at + ".conflict", "a conflict status is a 4xx status, got " + status);
                }
            }
            conflict = Set.copyOf(c.conflict().stream().filter(java.util.Objects::nonNull).toList());
        } else if (at.endsWith("create")) {
            // the usual answer of an API to the create of an object that exists
            conflict = Set.of(409);
        }
        com.fasterxml.jackson.databind.JsonNode body = null;
        if (c.body() != null) {
            body = resolveBody(errors, at + ".body", BODY_MAPPER.valueToTree(c.body()));
            checkBody(errors, at + ".body", body, at.endsWith("lookup"), perPosition, earlier);
        }
        if (c.fields() != null && !at.endsWith("lookup")) {
            errors.add(at + ".fields", "fields is for lookup: where the found object keeps its fields, e.g. /properties");
        }
        if (c.fields() != null && !c.fields().isEmpty() && !c.fields().startsWith("/")) {
            errors.add(at + ".fields", "must be a JSON pointer starting with '/', got '" + c.fields() + "'");
        }
        return new Provider.Call(method, path, c.result() == null ? "" : c.result(), conflict, body,
                c.fields() == null ? "" : c.fields());
    }

    /**
     * Resolves the {{...}} placeholders of a call's path or body text at load (a list id from the environment);
     * a value that is not set while validating without the environment stands in as "unset". A resolved value
     * may not bring braces: it would become a template. Nor may it bring the provider's credential: the path and
     * body are templates, and a function of one ({@code default(…)|upper}, {@code substring}) would show the
     * credential changed, where redaction (which finds it as it is) cannot see it: in preview, attempts, errors.
     */
    private String placeholdersIn(Errors errors, String at, String text) {
        if (text == null || !text.contains("{{")) {
            return text;
        }
        Matcher m = PLACEHOLDER.matcher(text);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String value = resolve(errors, at, m.group(), false);
            if (carriesCredential(errors, value)) {
                errors.add(at, m.group() + " is this provider's credential: a path or body cannot use it (its templates could "
                        + "show it changed); a credential goes in target.auth or a credential header");
                m.appendReplacement(sb, "unset");
                continue;
            }
            if (value != null && (value.contains("{") || value.contains("}"))) {
                errors.add(at, m.group() + " resolves to a value with braces, which would read as a template");
                value = "";
            }
            m.appendReplacement(sb, Matcher.quoteReplacement(value == null ? "unset" : value));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    private static final Pattern WHOLE_PLACEHOLDER = Pattern.compile("\\{\\{[^}]+}}");
    private static final Pattern JSON_SCALAR = Pattern.compile("-?(?:0|[1-9]\\d{0,17})(?:\\.\\d+)?|true|false");

    /**
     * The body template with its placeholders resolved: a value that is only a placeholder takes the type its
     * value reads as (listIds: ["{{env:BREVO_LIST_ID}}"] with 7 sends [7]); text around one stays text.
     */
    private com.fasterxml.jackson.databind.JsonNode resolveBody(Errors errors, String at, com.fasterxml.jackson.databind.JsonNode node) {
        if (node.isTextual()) {
            String t = node.textValue();
            if (!t.contains("{{")) {
                return node;
            }
            String resolved = placeholdersIn(errors, at, t);
            if (WHOLE_PLACEHOLDER.matcher(t.strip()).matches() && JSON_SCALAR.matcher(resolved.strip()).matches()) {
                try {
                    return BODY_MAPPER.readTree(resolved.strip());
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    return BODY_MAPPER.getNodeFactory().textNode(resolved);
                }
            }
            return BODY_MAPPER.getNodeFactory().textNode(resolved);
        }
        if (node.isObject()) {
            com.fasterxml.jackson.databind.node.ObjectNode o = BODY_MAPPER.createObjectNode();
            node.fields().forEachRemaining(e -> o.set(e.getKey(), resolveBody(errors, at, e.getValue())));
            return o;
        }
        if (node.isArray()) {
            com.fasterxml.jackson.databind.node.ArrayNode a = BODY_MAPPER.createArrayNode();
            node.forEach(e -> a.add(resolveBody(errors, at, e)));
            return a;
        }
        return node;
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper BODY_MAPPER = new com.fasterxml.jackson.databind.ObjectMapper();

    /** A body template: its string leaves are templates; "{properties}" only in writes, and only as a whole leaf. */
    private static void checkBody(Errors errors, String at, com.fasterxml.jackson.databind.JsonNode node, boolean lookup, boolean perPosition,
                                  Map<String, Boolean> earlier) {
        if (node.isTextual()) {
            String t = node.textValue();
            if (t.equals("{properties}")) {
                if (lookup) {
                    errors.add(at, "{properties} is for create, update and upsert bodies: a lookup has only the id ({id_value})");
                }
                return;
            }
            if (t.contains("{properties}")) {
                errors.add(at, "{properties} must be a whole value (\"{properties}\"), not inside text: '" + t + "'");
                return;
            }
            checkTemplate(errors, at, t, perPosition, callExtras(earlier));
        } else if (node.isContainerNode()) {
            node.forEach(child -> checkBody(errors, at, child, lookup, perPosition, earlier));
        }
    }

    private static void checkField(Errors errors, String at, String field, boolean perPosition) {
        SourceFields.Input input = SourceFields.inputOf(field);
        if (input == null) {
            errors.add(at, "unknown source field '" + field + "'" + Suggest.hint(field, SourceFields.names()));
        } else if (input == SourceFields.Input.POSITION && !perPosition) {
            errors.add(at, "'" + field + "' is a position field: use it in a mapping with source OrderPosition");
        }
    }

    /** What a call's path and body may name besides source fields: id_value, remote_id, base_url, ref:<earlier mapping>. */
    private static Set<String> callExtras(Map<String, Boolean> earlier) {
        Set<String> extras = new java.util.HashSet<>(URL_TEMPLATE_EXTRAS);
        earlier.keySet().forEach(id -> extras.add("ref:" + id));
        return extras;
    }

    private static void checkTemplate(Errors errors, String at, String template, boolean perPosition, Set<String> extras) {
        if (template == null) {
            return;
        }
        int depth = 0;
        for (char ch : template.toCharArray()) {
            depth += ch == '{' ? 1 : ch == '}' ? -1 : 0;
            if (depth < 0 || depth > 1) {
                break;
            }
        }
        if (depth != 0) {
            errors.add(at, "unbalanced braces in template '" + template + "'");
            return;
        }
        Matcher m = TEMPLATE_VAR.matcher(template);
        while (m.find()) {
            String name = m.group(1);
            if (name.isEmpty()) {
                errors.add(at, "empty {} in template '" + template + "'");
            } else if (name.startsWith("ref:")) {
                if (!extras.contains(name)) {
                    errors.add(at, "{" + name + "}: " + (extras.contains("id_value")
                            ? "no earlier object mapping '" + name.substring(4) + "' (a call can name the remote id of a mapping above it)"
                            : "ref: is for the paths and bodies of calls"));
                }
            } else if (!extras.contains(name)) {
                checkField(errors, at, name, perPosition);
            }
            if (m.group(2) != null && !m.group(2).isEmpty()) {
                try {
                    TemplateFunctions.parse(m.group(2));
                } catch (IllegalArgumentException e) {
                    errors.add(at, e.getMessage() + " in template '" + template + "'");
                }
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
