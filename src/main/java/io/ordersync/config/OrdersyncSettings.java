package io.ordersync.config;

import io.ordersync.db.Database;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.function.Function;

/**
 * Every ordersync setting, declared once: its property name and default in {@link #DEFAULTS}, its meaning on the
 * field (and in README's "Settings" table, which SettingsTest compares with this class). The routes use the
 * same keys as plain {@code {{ordersync.…}}} placeholders: {@link Ordersync#install} gives Camel the defaults of
 * the keys nobody set, so neither a route file nor application.properties repeats a default.
 */
public final class OrdersyncSettings {

    /** Every {@code ordersync.*} key and its default (empty: none). */
    public static final Map<String, String> DEFAULTS;

    static {
        Map<String, String> d = new LinkedHashMap<>();
        d.put("ordersync.db.url", "jdbc:h2:file:./data/ordersync");
        d.put("ordersync.db.user", "sa");
        d.put("ordersync.db.password", "");
        d.put("ordersync.db.pool-size", "10");
        d.put("ordersync.db.connection-timeout-ms", "3000");
        // PostgreSQL: a statement whose connection stays silent this long is given up (a server gone without a word)
        d.put("ordersync.db.socket-timeout", "PT60S");
        d.put("ordersync.db.h2-commit", "write");
        // manual: a start on a damaged H2 file fails and names ./ordersync recover-db; auto: the start runs it
        d.put("ordersync.db.h2-recover", "manual");
        d.put("ordersync.mappings.dir", "mappings");
        d.put("ordersync.mappings.watch-period-ms", "1000");
        // a mapping file missing for less than this (a replace that is not atomic) keeps its provider and its queue
        d.put("ordersync.mappings.removal-grace-ms", "30000");
        // a save through the editor of another instance on the database is applied to this instance's files
        d.put("ordersync.mappings.share-edits", "true");
        // empty: a generated ordersync-<8 hex digits>
        d.put("ordersync.instance-id", "");
        d.put("ordersync.dispatch.period-ms", "50");
        d.put("ordersync.dispatch.batch-size", "100");
        d.put("ordersync.queue.lease", "PT5M");
        d.put("ordersync.queue.presence-ttl", "PT30S");
        d.put("ordersync.queue.reaper-period-ms", "10000");
        d.put("ordersync.outbox.poll-delay-ms", "10");
        d.put("ordersync.outbox.batch-size", "100");
        d.put("ordersync.intake.max-document-bytes", "1000000");
        d.put("ordersync.intake.token", "");
        d.put("ordersync.redelivery.maximum", "2");
        d.put("ordersync.redelivery.delay-ms", "200");
        d.put("ordersync.delivery.max-in-process-retry-after", "PT5S");
        d.put("ordersync.delivery.max-retry-after", "PT1H");
        d.put("ordersync.admin.token", "");
        d.put("ordersync.admin.username", "");
        d.put("ordersync.admin.password", "");
        d.put("ordersync.admin.cookie-secure", "auto");
        d.put("ordersync.admin.trusted-proxies", "");
        d.put("ordersync.jms.enabled", "false");
        d.put("ordersync.jms.url", "");
        d.put("ordersync.jms.user", "");
        d.put("ordersync.jms.password", "");
        d.put("ordersync.jms.queue", "ordersync.events");
        d.put("ordersync.jms.data-dir", "data/artemis");
        d.put("ordersync.jms.embedded-port", "61616");
        // as camel.server.max-body-size for HTTP: a larger message is rejected unread
        d.put("ordersync.jms.max-message-bytes", "2097152");
        // pretix as a source (README "Connect pretix"); off while the URL is empty
        d.put("ordersync.pretix.url", "");
        d.put("ordersync.pretix.organizer", "");
        // comma-separated event slugs; empty: every event of the organizer
        d.put("ordersync.pretix.events", "");
        d.put("ordersync.pretix.token", "");
        // when set, pretix's webhook URL must carry ?secret=<it>
        d.put("ordersync.pretix.webhook-secret", "");
        // without the secret: webhooks taken per second at most (more: 429, which pretix retries); 0: no limit
        d.put("ordersync.pretix.webhook-rate-limit", "50");
        // fetches waiting (not parked) beyond which a webhook is answered 503 (pretix retries it)
        d.put("ordersync.pretix.max-waiting-fetches", "10000");
        d.put("ordersync.pretix.actions", io.ordersync.pretix.PretixActions.DEFAULT);
        // 0: no polling (webhooks only)
        d.put("ordersync.pretix.poll-interval-ms", "0");
        d.put("ordersync.pretix.catalog-max-age", "PT10M");
        d.put("ordersync.pretix.import-page-pause-ms", "250");
        d.put("ordersync.pretix.timeout-ms", "10000");
        // how long a fetch or an import page belongs to the instance working on it (a killed one's is taken up after)
        d.put("ordersync.pretix.lease", "PT2M");
        // every delivery try is stored (issue 17): bodies cut to this many characters, JSON fields whose name
        // contains one of these words redacted (besides every credential value)
        d.put("ordersync.attempts.body-limit", "2000");
        d.put("ordersync.attempts.secret-fields", "password,passwd,secret,token,key,authorization,session,signature,credential");
        // data protection: how long tries, and order data (snapshots, results, log, rejected events), are kept
        d.put("ordersync.retention.attempts", "P30D");
        d.put("ordersync.retention.orders", "P365D");
        d.put("ordersync.retention.purge-period-ms", "3600000");
        // PostgreSQL: how often the outbox and the sync queue are vacuumed (route queue-vacuum; QueueVacuum)
        d.put("ordersync.db.vacuum-period-ms", "5000");
        // PostgreSQL: how often the queue tables' row estimates are checked, and analyzed when stale (route
        // queue-statistics; QueueVacuum#analyzeIfStale)
        d.put("ordersync.db.statistics-check-ms", "1000");
        // operational alerts (README "Alerts"): off while neither a webhook URL nor a mail URI is set
        d.put("ordersync.alerts.webhook-url", "");
        d.put("ordersync.alerts.webhook-secret", "");
        d.put("ordersync.alerts.mail.uri", "");
        d.put("ordersync.alerts.mail.to", "");
        d.put("ordersync.alerts.mail.from", "ordersync@localhost");
        d.put("ordersync.alerts.min-interval", "PT15M");
        d.put("ordersync.alerts.check-period-ms", "10000");
        // the heap request bodies being read may take at once (HttpHardening); empty: a sixteenth of the heap, at least
        // two bodies of camel.server.max-body-size
        d.put("ordersync.http.body-budget-bytes", "");
        DEFAULTS = Collections.unmodifiableMap(d);
    }

    /** JDBC URL of the database; H2 files under ./data by default, PostgreSQL in production. */
    public final String jdbcUrl;
    public final String jdbcUser;
    public final String jdbcPassword;
    /** Maximum connections in the HikariCP pool. */
    public final int poolSize;
    /** How long a caller waits for a pooled connection before the database counts as unreachable. */
    public final long connectionTimeoutMs;
    /**
     * PostgreSQL: how long a statement waits for the server's answer before its connection is given up as broken
     * (the driver's {@code socketTimeout}); zero: as long as the operating system keeps the connection.
     */
    public final Duration socketTimeout;
    /** PostgreSQL: how often the queue tables are vacuumed; 0: never (left to autovacuum). */
    public final long vacuumPeriodMs;
    /** PostgreSQL: how often the queue tables' row estimates are checked (analyzed when stale); 0: never. */
    public final long statisticsCheckMs;
    /** H2 only: when a commit reaches the database file (write, sync or delayed; see Database). */
    public final String h2Commit;
    /** Whether a start on an H2 file that H2 cannot open rebuilds it ({@code ordersync.db.h2-recover=auto}). */
    public final boolean h2RecoverAuto;
    /** Directory holding one mapping file per provider. */
    public final Path mappingsDir;
    /** How long a mapping file may be missing before its provider is removed and its queued rows dropped. */
    public final Duration mappingsRemovalGrace;
    /** Saves through the editor of another instance on the database are applied to this instance's files. */
    public final boolean shareEdits;
    /** Name of this instance, stored with each claim so an operator sees who holds a row. */
    public final String instanceId;
    /** Most queue rows claimed in one dispatch round. */
    public final int claimBatchSize;
    /** How long a claim lasts before the reaper hands the row back to the queue. */
    public final Duration lease;
    /** How long an instance's word that it runs a provider holds (refreshed at a third of it); see ProviderPresence. */
    public final Duration presenceTtl;
    /** Largest order document accepted, in bytes. */
    public final int maxDocumentBytes;
    /** ordersync.pretix.webhook-rate-limit (per second, 0: none) and ordersync.pretix.max-waiting-fetches. */
    public final int pretixWebhookRateLimit;
    public final int pretixMaxWaitingFetches;
    /** Longest Retry-After honoured by an in-process redelivery; longer waits go back to the queue. */
    public final Duration maxInProcessRetryAfter;
    /** Longest pause a target's Retry-After imposes on its provider; a longer one is cut to this. */
    public final Duration maxRetryAfter;

    /** Admin bearer token for the REST API and UI (none by default). */
    public final String adminToken;
    /** Admin user for HTTP basic and the UI login (none by default). */
    public final String adminUsername;
    public final String adminPassword;
    /** A token that may only post events to /api/events (for the shop), besides the admin token. */
    public final String intakeToken;
    /** Secure flag of the UI session cookie: true, false, or auto (when the request came over HTTPS). */
    public final String cookieSecure;
    /** Reverse proxies whose X-Forwarded-For names the client (addresses or CIDR ranges; none by default). */
    public final java.util.List<String> trustedProxies;

    /** pretix as a source: base URL (empty: off), organizer, events (empty: all), API token, action → trigger type. */
    public final io.ordersync.pretix.PretixSettings pretix;

    /** Longest stored request or answer body of a try, in characters (at most 4000). */
    public final int attemptBodyLimit;
    /** Words that mark a JSON field of a stored body as secret (its value is redacted). */
    public final java.util.List<String> attemptSecretFields;
    /** Tries older than this are purged. */
    public final Duration retainAttempts;
    /** Orders with nothing queued whose snapshot is older than this are purged, with their results and log; log lines and rejected events older than this too. */
    public final Duration retainOrders;

    /** Alerts: webhook URL and its whsec_ secret, camel-mail endpoint URI, recipients, sender, one alert per key and interval. */
    public final String alertsWebhookUrl;
    public final String alertsWebhookSecret;
    public final String alertsMailUri;
    public final String alertsMailTo;
    public final String alertsMailFrom;
    public final Duration alertsMinInterval;

    /** JMS intake on; without a URL an embedded Artemis broker is started. */
    public final boolean jmsEnabled;
    /** A JMS message larger than this is a rejected event, its content neither read nor stored. */
    public final long jmsMaxMessageBytes;
    public final String jmsUrl;
    public final String jmsUser;
    public final String jmsPassword;
    /** Journal directory of the embedded broker, and its TCP port on loopback. */
    public final Path jmsDataDir;
    public final int jmsEmbeddedPort;

    /** A setting that is wrong: the start stops with its message (which names the key, never a secret's value). */
    public static final class Invalid extends IllegalArgumentException {
        public Invalid(String message) {
            super(message);
        }
    }

    /** The value of every key: the one given, or its default. */
    private final Map<String, String> values;

    private OrdersyncSettings(Function<String, String> given) {
        Map<String, String> v = new LinkedHashMap<>();
        DEFAULTS.forEach((key, defaultValue) -> {
            String value = given.apply(key);
            if (value != null && value.isBlank() && key.equals("ordersync.db.url")) {
                // an unset variable in a deployment (ORDERSYNC_DB_URL=) would start this instance on a local H2 file
                // beside the others on PostgreSQL, and it would answer 202 for events none of them sees (a review)
                throw new Invalid("ordersync.db.url is set, but empty: give the database's JDBC URL, or "
                        + "leave the setting out for the embedded H2 file (" + defaultValue + ")");
            }
            String text = value == null || value.isBlank() ? defaultValue : value.trim();
            // true and false in any case, as Boolean.parseBoolean read them before (TRUE worked)
            String used = defaultValue.equals("true") || defaultValue.equals("false") ? text.toLowerCase(java.util.Locale.ROOT) : text;
            // a key only the routes read ({{ordersync.dispatch.period-ms}}) is checked here too, by its default's kind:
            // else a wrong value stopped a route's start with Camel's stack trace, not the key's name (an attack)
            if (defaultValue.matches("-?[0-9]+") && !used.matches("-?[0-9]+")) {
                throw new Invalid(key + " must be a whole number, not '" + used + "'");
            }
            if ((defaultValue.equals("true") || defaultValue.equals("false")) && !used.equals("true") && !used.equals("false")) {
                throw new Invalid(key + " must be true or false, not '" + used + "'");
            }
            if (key.equals("ordersync.http.body-budget-bytes") && !used.isEmpty() && !used.matches("[0-9]{1,18}")) {
                throw new Invalid(key + " must be a number of bytes, or empty for a sixteenth of the heap, not '" + used + "'");
            }
            v.put(key, used);
        });
        this.values = Collections.unmodifiableMap(v);
        Function<String, String> props = values::get;
        this.alertsWebhookUrl = get(props, "ordersync.alerts.webhook-url");
        this.alertsWebhookSecret = get(props, "ordersync.alerts.webhook-secret");
        this.alertsMailUri = get(props, "ordersync.alerts.mail.uri");
        this.alertsMailTo = get(props, "ordersync.alerts.mail.to");
        this.alertsMailFrom = get(props, "ordersync.alerts.mail.from");
        this.alertsMinInterval = duration(props, "ordersync.alerts.min-interval");
        this.attemptBodyLimit = integer(props, "ordersync.attempts.body-limit");
        this.attemptSecretFields = java.util.Arrays.stream(get(props, "ordersync.attempts.secret-fields").split(","))
                .map(String::trim).filter(w -> !w.isEmpty()).toList();
        this.retainAttempts = duration(props, "ordersync.retention.attempts");
        this.retainOrders = duration(props, "ordersync.retention.orders");
        if (attemptBodyLimit < 0 || attemptBodyLimit > 4000) {
            throw new Invalid("ordersync.attempts.body-limit must be 0 to 4000, not " + attemptBodyLimit);
        }
        if (retainAttempts.isNegative() || retainOrders.isNegative()) {
            throw new Invalid("ordersync.retention.* must not be negative");
        }
        this.jmsEnabled = Boolean.parseBoolean(get(props, "ordersync.jms.enabled"));
        this.jmsUrl = get(props, "ordersync.jms.url");
        this.jmsUser = get(props, "ordersync.jms.user");
        this.jmsPassword = get(props, "ordersync.jms.password");
        this.jmsDataDir = Path.of(get(props, "ordersync.jms.data-dir"));
        this.jmsEmbeddedPort = integer(props, "ordersync.jms.embedded-port");
        this.jmsMaxMessageBytes = longValue(props, "ordersync.jms.max-message-bytes");
        if (jmsMaxMessageBytes < 1024 || jmsMaxMessageBytes > Integer.MAX_VALUE / 2) {
            throw new Invalid("ordersync.jms.max-message-bytes must be 1024 to " + Integer.MAX_VALUE / 2
                    + ", not " + jmsMaxMessageBytes);
        }
        this.adminToken = get(props, "ordersync.admin.token");
        this.adminUsername = get(props, "ordersync.admin.username");
        this.adminPassword = get(props, "ordersync.admin.password");
        this.intakeToken = get(props, "ordersync.intake.token");
        // before, anything else behaved as auto, without a word (an audit)
        this.cookieSecure = oneOf(props, "ordersync.admin.cookie-secure", "auto", "true", "false");
        this.trustedProxies = java.util.Arrays.stream(get(props, "ordersync.admin.trusted-proxies").split(","))
                .map(String::strip).filter(s -> !s.isEmpty()).toList();
        // an address that does not parse stops the start here, with the setting's name
        new io.ordersync.admin.ClientAddress(trustedProxies);
        this.jdbcUrl = get(props, "ordersync.db.url");
        this.jdbcUser = get(props, "ordersync.db.user");
        this.jdbcPassword = get(props, "ordersync.db.password");
        this.poolSize = integer(props, "ordersync.db.pool-size");
        if (poolSize < 2) {
            // Flyway holds two connections while it migrates (PostgreSQL): with one, the start failed after the
            // connection timeout with "Connection is not available"
            throw new Invalid("ordersync.db.pool-size must be at least 2 (the schema migration on PostgreSQL holds two "
                    + "connections at once), not " + poolSize);
        }
        this.connectionTimeoutMs = longValue(props, "ordersync.db.connection-timeout-ms");
        this.socketTimeout = duration(props, "ordersync.db.socket-timeout");
        if (!socketTimeout.isZero() && (socketTimeout.compareTo(Duration.ofSeconds(1)) < 0
                || socketTimeout.compareTo(Duration.ofDays(1)) > 0 || socketTimeout.toNanos() % 1_000_000_000L != 0)) {
            throw new Invalid("ordersync.db.socket-timeout must be PT0S (off) or whole seconds from PT1S to "
                    + "P1D, not " + socketTimeout);
        }
        this.vacuumPeriodMs = longValue(props, "ordersync.db.vacuum-period-ms");
        if (vacuumPeriodMs < 0) {
            throw new Invalid("ordersync.db.vacuum-period-ms must be 0 (off) or more, not " + vacuumPeriodMs);
        }
        this.statisticsCheckMs = longValue(props, "ordersync.db.statistics-check-ms");
        if (statisticsCheckMs < 0) {
            throw new Invalid("ordersync.db.statistics-check-ms must be 0 (off) or more, not " + statisticsCheckMs);
        }
        // before, checked when the database opened, with a stack trace (an audit)
        this.h2Commit = oneOf(props, "ordersync.db.h2-commit", "write", "sync", "delayed");
        this.h2RecoverAuto = oneOf(props, "ordersync.db.h2-recover", "manual", "auto").equals("auto");
        this.mappingsDir = Path.of(get(props, "ordersync.mappings.dir"));
        this.mappingsRemovalGrace = Duration.ofMillis(longValue(props, "ordersync.mappings.removal-grace-ms"));
        // TRUE passed the check of every true-or-false setting above and was then refused here (a review)
        this.shareEdits = oneOf(props, "ordersync.mappings.share-edits", "true", "false").equals("true");
        String instance = get(props, "ordersync.instance-id");
        this.instanceId = instance.isEmpty() ? "ordersync-" + UUID.randomUUID().toString().substring(0, 8) : instance;
        this.claimBatchSize = integer(props, "ordersync.dispatch.batch-size");
        if (claimBatchSize < 1) {
            throw new Invalid("ordersync.dispatch.batch-size must be at least 1, not " + claimBatchSize);
        }
        this.lease = duration(props, "ordersync.queue.lease");
        if (lease.isNegative() || lease.isZero()) {
            // zero: every claim expired at once, and each row's attempts were used up by the reaper, not by syncs
            throw new Invalid("ordersync.queue.lease must be positive (longer than the slowest sync), not " + lease);
        }
        this.presenceTtl = duration(props, "ordersync.queue.presence-ttl");
        if (presenceTtl.compareTo(Duration.ofSeconds(3)) < 0) {
            throw new Invalid("ordersync.queue.presence-ttl must be at least PT3S, not " + presenceTtl);
        }
        this.maxDocumentBytes = integer(props, "ordersync.intake.max-document-bytes");
        this.pretixWebhookRateLimit = integer(props, "ordersync.pretix.webhook-rate-limit");
        if (pretixWebhookRateLimit < 0) {
            throw new Invalid("ordersync.pretix.webhook-rate-limit must be 0 (no limit) or more, not " + pretixWebhookRateLimit);
        }
        this.pretixMaxWaitingFetches = integer(props, "ordersync.pretix.max-waiting-fetches");
        if (pretixMaxWaitingFetches < 1) {
            throw new Invalid("ordersync.pretix.max-waiting-fetches must be at least 1, not " + pretixMaxWaitingFetches);
        }
        this.maxInProcessRetryAfter = duration(props, "ordersync.delivery.max-in-process-retry-after");
        this.maxRetryAfter = duration(props, "ordersync.delivery.max-retry-after");
        this.pretix = new io.ordersync.pretix.PretixSettings(get(props, "ordersync.pretix.url"), get(props, "ordersync.pretix.organizer"),
                get(props, "ordersync.pretix.events"), get(props, "ordersync.pretix.token"),
                pretixActions(get(props, "ordersync.pretix.actions")),
                longValue(props, "ordersync.pretix.poll-interval-ms"), duration(props, "ordersync.pretix.catalog-max-age"),
                longValue(props, "ordersync.pretix.import-page-pause-ms"), integer(props, "ordersync.pretix.timeout-ms"),
                duration(props, "ordersync.pretix.lease"), get(props, "ordersync.pretix.webhook-secret"));
        if (maxRetryAfter.isNegative() || maxRetryAfter.isZero()) {
            throw new Invalid("ordersync.delivery.max-retry-after must be positive, not " + maxRetryAfter);
        }
    }

    /** The value of every {@code ordersync.*} key, given or default (secrets included: not for logs or answers). */
    public Map<String, String> values() {
        return values;
    }

    /**
     * The keys among {@code given} that look like ordersync settings but are none, each with what it is checked
     * against: a key of one of the settings' sections ({@code ordersync.delivery.…}, {@code ordersync.db.…}) that is
     * not declared (a typo such as {@code ordersync.delivery.concurency}), or a key one or two letters away from a
     * declared one. Keys of other sections ({@code ordersync.crash.runs}, a test's) are not settings' business.
     * Environment variables are given as such ({@code ORDERSYNC_DB_URLL}) and compared in that form.
     */
    public static List<String> unknownKeys(java.util.Collection<String> given) {
        Map<String, String> byEnvName = new LinkedHashMap<>();
        Set<String> sections = new java.util.HashSet<>();
        for (String key : DEFAULTS.keySet()) {
            byEnvName.put(envName(key), key);
            sections.add(section(key));
        }
        List<String> unknown = new java.util.ArrayList<>();
        for (String key : new java.util.TreeSet<>(given)) {
            boolean env = key.startsWith("ORDERSYNC_");
            if (!env && !key.startsWith("ordersync.")) {
                continue;
            }
            String asKey = env ? key.toLowerCase(java.util.Locale.ROOT).replace('_', '.') : key;
            if ((env ? byEnvName.containsKey(key) || SERVICE_LINK.matcher(key).matches() : DEFAULTS.containsKey(key))
                    || retiredKeys(List.of(key)).size() == 1) {
                continue;
            }
            String near = null;
            int best = 3;
            for (String known : DEFAULTS.keySet()) {
                int d = distance(env ? envName(known) : known, key);
                if (d < best) {
                    best = d;
                    near = known;
                }
            }
            boolean ofASection = env ? sections.stream().anyMatch(s -> key.startsWith(envName("ordersync." + s) + "_"))
                    : sections.contains(section(asKey)) && asKey.indexOf('.', "ordersync.".length()) > 0;
            if (near != null || ofASection) {
                unknown.add(key + " is not an ordersync setting" + (near == null ? "" : " (did you mean " + (env ? envName(near) : near) + "?)"));
            }
        }
        return unknown;
    }

    /**
     * Keys earlier versions had: an upgrade with one of them left in its properties starts, with a WARN that names it
     * ({@link #retiredKeys}); any other unknown key stops the start.
     */
    public static final Set<String> RETIRED = Set.of("ordersync.db.vacuum-check-ms", "ordersync.db.vacuum-dead-rows");

    /** The keys among {@code given} (in either form) that earlier versions had and this one ignores. */
    public static List<String> retiredKeys(java.util.Collection<String> given) {
        return given.stream().filter(k -> RETIRED.contains(k) || RETIRED.stream().anyMatch(r -> envName(r).equals(k))).sorted().toList();
    }

    /**
     * The variables Kubernetes gives a pod for each service ({@code ORDERSYNC_DB_SERVICE_HOST}, {@code ORDERSYNC_PORT},
     * {@code ORDERSYNC_DB_PORT_5432_TCP_ADDR}, … for services named ordersync or ordersync-db): not settings.
     */
    private static final java.util.regex.Pattern SERVICE_LINK = java.util.regex.Pattern.compile(
            "ORDERSYNC(_[A-Z0-9]+)*_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_ADDR|_PORT|_PROTO)?)?)");

    private static String section(String key) {
        String rest = key.substring("ordersync.".length());
        int dot = rest.indexOf('.');
        return dot < 0 ? rest : rest.substring(0, dot);
    }

    /** The environment variable Camel reads for a key: upper case, dots and dashes as underscores. */
    private static String envName(String key) {
        return key.toUpperCase(java.util.Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    /** Levenshtein distance, up to 3 (more counts as 3). */
    private static int distance(String a, String b) {
        return Math.abs(a.length() - b.length()) > 2 ? 3 : Math.min(io.ordersync.mapping.Suggest.distance(a, b), 3);
    }

    /** Reads the settings through a property lookup (Camel's properties component, or plain Properties). */
    public static OrdersyncSettings from(Function<String, String> props) {
        return new OrdersyncSettings(Objects.requireNonNull(props, "props"));
    }

    /** Reads the settings from {@code props}; a key of it that is no setting (misspelt) is refused, as at a start. */
    public static OrdersyncSettings from(Properties props) {
        List<String> unknown = unknownKeys(props.stringPropertyNames());
        if (!unknown.isEmpty()) {
            throw new Invalid(String.join("; ", unknown));
        }
        return from(props::getProperty);
    }

    private static io.ordersync.pretix.PretixActions pretixActions(String text) {
        try {
            return io.ordersync.pretix.PretixActions.parse(text);
        } catch (IllegalArgumentException e) {
            throw new Invalid(e.getMessage());
        }
    }

    private static Duration duration(Function<String, String> props, String key) {
        String value = get(props, key);
        try {
            return Duration.parse(value);
        } catch (java.time.format.DateTimeParseException e) {
            throw new Invalid(key + " must be an ISO-8601 duration such as PT30S, PT5M or P1D, not '" + value + "'");
        }
    }

    private static int integer(Function<String, String> props, String key) {
        long value = longValue(props, key);
        if (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
            throw new Invalid(key + " must be a whole number up to " + Integer.MAX_VALUE + ", not " + value);
        }
        return (int) value;
    }

    private static long longValue(Function<String, String> props, String key) {
        String value = get(props, key);
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new Invalid(key + " must be a whole number, not '" + value + "'");
        }
    }

    /**
     * The value of a setting that takes one of {@code allowed}, in any case (as true and false always were), in lower
     * case; anything else stops the start with the setting's name and its values.
     */
    private static String oneOf(Function<String, String> props, String key, String... allowed) {
        String value = get(props, key);
        String lower = value.toLowerCase(java.util.Locale.ROOT);
        if (!List.of(allowed).contains(lower)) {
            String choices = String.join(", ", List.of(allowed).subList(0, allowed.length - 1)) + " or " + allowed[allowed.length - 1];
            throw new Invalid(key + " must be " + choices + ", not '" + value + "'");
        }
        return lower;
    }

    private static String get(Function<String, String> props, String key) {
        String defaultValue = DEFAULTS.get(key);
        if (defaultValue == null) {
            throw new IllegalStateException(key + " is not declared in OrdersyncSettings.DEFAULTS");
        }
        String value = props.apply(key);
        return value == null || value.isBlank() ? defaultValue : value.trim();
    }
}
