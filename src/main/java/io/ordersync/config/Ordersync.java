package io.ordersync.config;

import io.ordersync.db.OrdersyncDataSource;
import io.ordersync.db.Database;
import io.ordersync.db.DatabaseClock;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.admin.AdminApi;
import io.ordersync.admin.AdminAuth;
import io.ordersync.admin.OperationsApi;
import io.ordersync.admin.RejectedApi;
import io.ordersync.admin.SessionApi;
import io.ordersync.admin.StaticFiles;
import io.ordersync.delivery.DeliverySteps;
import io.ordersync.delivery.Preview;
import io.ordersync.delivery.ProviderBreakers;
import io.ordersync.delivery.ProviderGate;
import io.ordersync.intake.HttpIntakeProcessor;
import io.ordersync.intake.IntakeService;
import io.ordersync.intake.JmsBroker;
import io.ordersync.intake.JmsIntakeProcessor;
import io.ordersync.intake.OutboxIntakeProcessor;
import io.ordersync.mapping.Provider;
import io.ordersync.mapping.ProviderLoader;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.ParsedDocuments;
import io.ordersync.ops.DatabaseHealthCheck;
import io.ordersync.ops.SyncMetrics;
import org.apache.camel.health.HealthCheckRegistry;
import io.ordersync.order.OrderStore;
import io.ordersync.order.AttemptLog;
import io.ordersync.order.Retention;
import io.ordersync.queue.Dispatcher;
import io.ordersync.queue.ProviderPresence;
import io.ordersync.queue.SyncOutcome;
import io.ordersync.queue.QueueView;
import io.ordersync.queue.SyncQueue;
import org.apache.camel.CamelContext;
import org.apache.camel.ExtendedStartupListener;
import org.apache.camel.builder.TemplatedRouteBuilder;
import org.apache.camel.spi.Registry;
import org.apache.camel.support.service.ServiceSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds ordersync's beans and binds them into a CamelContext's registry under the names the routes in
 * {@code routes/*.camel.yaml} use. Works the same under camel-main and in a plain CamelContext, so an
 * existing Camel platform can host the routes.
 */
public final class Ordersync {

    private static final Logger LOG = LoggerFactory.getLogger(Ordersync.class);

    /** Name of the route template each provider route is made from (routes/provider.camel.yaml). */
    public static final String PROVIDER_TEMPLATE = "provider";
    /** Template of a provider's call route: every request to its target (routes/provider.camel.yaml). */
    public static final String PROVIDER_CALL_TEMPLATE = "provider-call";
    /** Template of a provider's sync route: the objects of one order, in order. */
    public static final String PROVIDER_SYNC_TEMPLATE = "provider-sync";

    private final CamelContext context;
    private final OrdersyncSettings settings;
    private final Database.Opening database;
    private final OrdersyncDataSource dataSource;
    private final ProviderRegistry providers;
    private final Dispatcher dispatcher;
    /** The database's time, read here: every time the queue stores or compares (leases, due times, retries). */
    private final DatabaseClock clock;
    private final io.ordersync.admin.MappingEditor mappingEditor;
    private final io.ordersync.admin.UiSessions sessions;
    /** The start's check of the admin credentials ({@link io.ordersync.admin.UiSessions#checkCredentials}). */
    private final java.util.concurrent.atomic.AtomicReference<Thread> credentialsCheck = new java.util.concurrent.atomic.AtomicReference<>();
    private final SyncQueue queue;
    private final OrderStore store;
    private final JmsBroker jms;
    private final ProviderBreakers breakers;
    private final io.ordersync.spi.SyncProviders javaProviders;

    /**
     * What a provider's routes are built from: a change of any of these re-creates them (a change of anything
     * else, mappings included, is read by the running route at the next sync).
     */
    private record RouteShape(Provider.Kind kind, int concurrency, int rateLimit, String destination, int connectTimeoutMs,
                              int responseTimeoutMs, Provider.BreakerSpec breaker) {
        static RouteShape of(Provider p) {
            return new RouteShape(p.kind(), p.concurrency(), p.rateLimit(), p.destination() == null ? null : p.destination().uri(),
                    p.connectTimeoutMs(), p.responseTimeoutMs(), p.breaker());
        }
    }

    /** The shape of each provider's running routes, and the HTTP component its call route uses (or null). */
    private final Map<String, RouteShape> routeShapes = new HashMap<>();
    private final Map<String, String> routeComponents = new HashMap<>();
    private static final java.util.concurrent.atomic.AtomicInteger COMPONENTS = new java.util.concurrent.atomic.AtomicInteger();

    private Ordersync(CamelContext context, OrdersyncSettings settings) {
        this.context = context;
        this.settings = settings;
        Database.Opening early = context.getRegistry().lookupByNameAndType(EARLY_DATABASE, Database.Opening.class);
        if (early != null && early.isFor(settings)) {
            this.database = early;
        } else {
            if (early != null) {
                LOG.warn("The database opened before configuration ({}) is not the configured one ({}); closing it",
                        early.jdbcUrl(), settings.jdbcUrl);
                early.dataSource().close();
            }
            this.database = Database.openInBackground(settings);
        }
        this.dataSource = database.dataSource();
        ObjectMapper mapper = new ObjectMapper();
        this.store = new OrderStore(dataSource);
        this.queue = new SyncQueue(dataSource);
        this.javaProviders = io.ordersync.spi.SyncProviders.load(context.getApplicationContextClassLoader() != null
                ? context.getApplicationContextClassLoader() : Ordersync.class.getClassLoader());
        this.providers = new ProviderRegistry(settings.mappingsDir,
                new ProviderLoader(text -> context.resolvePropertyPlaceholders(text)).withJavaProviders(javaProviders)
                        .withPretixActions(settings.pretix.actions()),
                settings.mappingsRemovalGrace);
        // an embedded H2 file is one process's: the presence entries of other processes on it are those of a
        // predecessor that crashed, which must not take half of the limits until they run out
        providers.shareLimits(!embeddedH2(settings.jdbcUrl));
        providers.reload();
        // H2 stores a document in-row, up to Database.MAX_DOCUMENT_CHARS: a larger limit would let one through
        // intake that the database then refuses
        int maxDocument = Database.isPostgres(settings.jdbcUrl) ? settings.maxDocumentBytes
                : Math.min(settings.maxDocumentBytes, Database.MAX_DOCUMENT_CHARS);
        DocumentParser parser = new DocumentParser(mapper, maxDocument);
        ParsedDocuments parsed = new ParsedDocuments(parser, PARSED_DOCUMENT_CHARS);
        org.apache.camel.ProducerTemplate wake = context.createProducerTemplate();
        // queue times are the database's (instances whose clocks differ agree on leases); an embedding platform may
        // bind its own clock as ordersync.clock
        java.time.Clock base = context.getRegistry().lookupByNameAndType(CLOCK, java.time.Clock.class);
        this.clock = new DatabaseClock(dataSource, base != null ? base : java.time.Clock.systemUTC());
        // a target's Retry-After pauses its provider on every instance on this database (and outlasts a restart)
        ProviderGate gate = new ProviderGate(new io.ordersync.delivery.PauseTable(dataSource, settings.instanceId),
                settings.maxRetryAfter, clock);
        this.breakers = new ProviderBreakers(gate);
        this.dispatcher = new Dispatcher(dataSource, queue, store, providers, gate, settings.instanceId, settings.lease,
                settings.claimBatchSize, new ProviderPresence(dataSource, settings.instanceId, settings.presenceTtl), new Dispatcher.Signals(breakers::isOpen, breakers::isHalfOpen, id -> {
                    // nothing more is claimed once a stop began: the provider routes finish what they hold (the
                    // stop waits for it), they are not fed new rows meanwhile
                    if (context.isStopping()) {
                        return false;
                    }
                    org.apache.camel.Route route = context.getRoute("provider-" + id);
                    // the route may be removed between the two reads (a hot reload re-creates it): no status then.
                    // Seen as a NullPointerException of a claim in a test's log (EmbeddingTest's reloads)
                    org.apache.camel.ServiceStatus status = route == null ? null : context.getRouteController().getRouteStatus(route.getId());
                    return status != null && status.isStarted();
                },
                // a wake-up is a message to the dispatch-wake route; while one waits, further ones are dropped (merged)
                () -> wake.sendBody(DISPATCH_WAKE, null)), clock);
        IntakeService intake = new IntakeService(dataSource, parser, store, queue, providers, parsed, dispatcher::newRows, clock);
        SyncMetrics metrics = new SyncMetrics(context, store, clock);
        dispatcher.countReapedIn(metrics::synced);
        io.ordersync.delivery.OAuth2Tokens tokens = new io.ordersync.delivery.OAuth2Tokens(java.time.Clock.systemUTC());
        AttemptLog attempts = new AttemptLog(dataSource, settings.attemptBodyLimit, settings.attemptSecretFields);
        Retention retention = new Retention(dataSource, store, settings.retainAttempts, settings.retainOrders, settings.jdbcUrl);
        SyncOutcome outcome = new SyncOutcome(dataSource, queue, store, providers, dispatcher, metrics,
                java.util.Arrays.asList(settings.adminToken, settings.adminPassword, settings.intakeToken,
                        settings.jmsPassword, settings.jdbcPassword, settings.pretix.token(), settings.pretix.webhookSecret(),
                        settings.alertsWebhookSecret), tokens::current,
                attempts, clock);
        dispatcher.beforeHandBack(() -> {
            if (!outcome.awaitCommitted(java.time.Duration.ofSeconds(10))) {
                LOG.warn("Outcomes of syncs still being stored after 10 s at shutdown; their rows are not handed back");
                return false;
            }
            return true;
        });

        Registry r = context.getRegistry();
        r.bind("ordersync.dataSource", dataSource);
        r.bind("ordersync.orderStore", store);
        r.bind("ordersync.syncQueue", queue);
        r.bind("ordersync.providers", providers);
        // the dispatcher's content-based router asks these of each claimed row (ref language: called as they are;
        // a bean expression copies the exchange for every call)
        r.bind("ordersync.providers.rowActive", (org.apache.camel.Predicate) e -> providers.isActive(e.getIn().getBody(io.ordersync.queue.QueueEntry.class).provider()));
        r.bind("ordersync.providers.rowBroken", (org.apache.camel.Predicate) e -> providers.isBroken(e.getIn().getBody(io.ordersync.queue.QueueEntry.class).provider()));
        // the provider routes' limits: this process's share of a provider's concurrency (per sync, the row in the
        // body; the gate at the start of provider-<id>) and of its rate limit (per request, the sync's provider; the
        // Throttle EIP of provider-<id>-call), the limits divided among the processes that run the provider
        r.bind("ordersync.providers.concurrencyGate", new io.ordersync.delivery.ConcurrencyGate(
                e -> e.getIn().getBody(io.ordersync.queue.QueueEntry.class).provider(), e -> {
                    Provider p = providers.active(e.getIn().getBody(io.ordersync.queue.QueueEntry.class).provider());
                    return p == null ? 1 : providers.concurrencyShare(p);
                }, new io.ordersync.delivery.ConcurrencyGate.Places() {
                    @Override
                    public void entered(org.apache.camel.Exchange e) {
                        dispatcher.began(e.getIn().getBody(io.ordersync.queue.QueueEntry.class), io.ordersync.delivery.DeliverySteps.sentFlag(e));
                    }

                    @Override
                    public void untried(org.apache.camel.Exchange e) {
                        dispatcher.handBack(e.getIn().getBody(io.ordersync.queue.QueueEntry.class),
                                "its sync was stopped while it waited for its place (nothing sent)");
                    }

                    @Override
                    public void ended(org.apache.camel.Exchange e) {
                        // the body is the target's answer by now; the row is in the property the sync's first step set
                        io.ordersync.queue.QueueEntry row = e.getProperty(io.ordersync.delivery.DeliverySteps.ENTRY, io.ordersync.queue.QueueEntry.class);
                        if (row == null && e.getIn().getBody() instanceof io.ordersync.queue.QueueEntry first) {
                            row = first;
                        }
                        if (row == null) {
                            return;
                        }
                        if (Boolean.TRUE.equals(e.getProperty(io.ordersync.delivery.DeliverySteps.SYNCED, Boolean.class))
                                && dispatcher.outcomePending(row)) {
                            // the sync went through to its end, and a stop cut the route before its outcome step (a hot
                            // reload that re-creates the routes, with syncs slower than its grace time): its success is
                            // stored, not the row handed back to be sent again
                            LOG.info("Queue row {} ({} {} for {}): its sync went through while its route was stopped; its success is stored",
                                    row.id(), row.eventSlug(), row.orderCode(), row.provider());
                            outcome.success(e);
                        } else {
                            dispatcher.ended(row);
                        }
                    }
                }));
        r.bind("ordersync.providers.rateShare", new org.apache.camel.support.ExpressionAdapter() {
            @Override
            public Object evaluate(org.apache.camel.Exchange e) {
                return providers.rateShare(e.getProperty(io.ordersync.delivery.Sync.PROPERTY, io.ordersync.delivery.Sync.class)
                        .provider().identifier());
            }
        });
        r.bind("ordersync.dispatcher", dispatcher);
        r.bind("ordersync.databaseClock", clock);
        r.bind("ordersync.syncOutcome", outcome);
        r.bind("ordersync.attempts", attempts);
        r.bind("ordersync.retention", retention);
        r.bind("ordersync.queueVacuum", new io.ordersync.db.QueueVacuum(dataSource, settings.jdbcUrl, settings.vacuumPeriodMs,
                settings.statisticsCheckMs));
        r.bind("ordersync.outboxIntake", new OutboxIntakeProcessor(intake));
        r.bind("ordersync.httpIntake", new HttpIntakeProcessor(intake, mapper));
        r.bind("ordersync.jmsIntake", new JmsIntakeProcessor(intake, settings.jmsMaxMessageBytes));
        this.jms = new JmsBroker(settings.jmsUrl, settings.jmsDataDir, settings.jmsEmbeddedPort, settings.jmsUser, settings.jmsPassword);
        if (settings.jmsEnabled) {
            // without JMS intake the intake-jms route is not created, and the Artemis client is never loaded
            r.bind("ordersync.jmsConnectionFactory", jms.connectionFactory());
            // intake's own JMS component: a host's configuration of the shared "jms" component (more consumers, which
            // would take one order's events out of order; another transaction manager) does not reach it (a review)
            context.addComponent(JMS_COMPONENT, new org.apache.camel.component.jms.JmsComponent());
        }
        DeliverySteps steps = new DeliverySteps(providers, store, parsed, gate, metrics, javaProviders, settings.maxInProcessRetryAfter,
                settings.maxRetryAfter, tokens, dispatcher::takeSnapshot, clock);
        steps.bindInto(r);
        bindPretix(context, settings, intake, mapper, clock);
        QueueView view = new QueueView(dataSource, store);
        Preview preview = Preview.bindInto(context, mapper);
        r.bind("ordersync.adminApi", new AdminApi(queue, view, store, mapper, providers, parser, breakers, gate, preview, attempts,
                metrics.history(), clock));
        r.bind("ordersync.ordersApi", new io.ordersync.admin.OrdersApi(store, retention, mapper));
        // one key for the sessions and for the editor's saves that other instances apply: derived from the admin
        // credentials, so someone who can only write to the database can forge neither
        this.sessions = new io.ordersync.admin.UiSessions(dataSource, clock, settings.adminToken,
                settings.adminUsername, settings.adminPassword);
        this.mappingEditor = new io.ordersync.admin.MappingEditor(providers, dataSource, mapper, settings.instanceId, clock,
                settings.shareEdits, sessions);
        r.bind("ordersync.mappingEditor", mappingEditor);
        AdminAuth auth = new AdminAuth(settings.adminToken, settings.adminUsername, settings.adminPassword, settings.intakeToken,
                () -> metrics.registry().counter("ordersync.login.failures").increment(), sessions, dataSource)
                .trustProxies(settings.trustedProxies);
        if (!auth.configured()) {
            LOG.warn("No admin credentials configured: the REST API and the UI refuse every request. "
                    + "Set ordersync.admin.token, or ordersync.admin.username and ordersync.admin.password");
        }
        r.bind("ordersync.adminAuth", auth);
        // the REST DSL's clientRequestValidation finds it by type: credentials checked before any body is read,
        // and the API's JSON errors for the bodies it refuses
        r.bind("ordersync.requestValidator", new io.ordersync.admin.JsonRequestValidator(mapper, auth));
        r.bind("ordersync.sessionApi", new SessionApi(auth, mapper, settings.cookieSecure));
        r.bind("ordersync.operationsApi", new OperationsApi(dataSource, queue, view, store, providers, mapper, breakers, parser, clock));
        r.bind("ordersync.rejectedApi", new RejectedApi(intake, store, mapper));
        r.bind("ordersync.staticFiles", new StaticFiles());
        r.bind("ordersync.syncMetrics", metrics);
        r.bind("ordersync.alerts", new io.ordersync.ops.Alerts(dataSource, providers, breakers, settings.alertsMinInterval,
                settings.instanceId, clock));
        r.bind("ordersync.alertSender", new io.ordersync.ops.AlertSender(mapper, settings.alertsWebhookUrl, settings.alertsWebhookSecret,
                settings.alertsMailUri, settings.alertsMailTo, settings.alertsMailFrom));
        // the alert webhook's own client: Camel's default http component waits 3 minutes to connect and for each
        // read, and not at all for the whole answer; the alerts' timer (and the e-mail after the webhook) waited on it
        org.apache.camel.component.http.HttpComponent alertsHttp = new org.apache.camel.component.http.HttpComponent();
        alertsHttp.setConnectTimeout(ALERT_TIMEOUT_MS);
        alertsHttp.setResponseTimeout(ALERT_TIMEOUT_MS);
        alertsHttp.setSoTimeout(ALERT_TIMEOUT_MS);
        alertsHttp.setConnectionRequestTimeout(ALERT_TIMEOUT_MS);
        alertsHttp.setCookieManagementDisabled(true);
        alertsHttp.setHttpClientConfigurer(builder -> builder.disableAutomaticRetries().addExecInterceptorFirst("ordersync-deadline",
                new io.ordersync.delivery.RequestDeadline(2L * ALERT_TIMEOUT_MS, "twice the alerts' " + ALERT_TIMEOUT_MS + " ms")));
        if (context.hasComponent(ALERTS_HTTP) == null) {
            context.addComponent(ALERTS_HTTP, alertsHttp);
        }
        HealthCheckRegistry health = HealthCheckRegistry.get(context);
        if (health != null) {
            if (!health.register(new DatabaseHealthCheck(dataSource))) {
                // Camel keeps the check registered first under an id: a platform's own "database" check stays, and
                // the readiness of ordersync's database is not checked (a review: before, without a word)
                LOG.warn("A health check with the id 'database' is registered already: ordersync's readiness check of its "
                        + "own database is not; the readiness answer does not say whether ordersync's database is reachable");
            }
        }
        r.bind("ordersync", this);
    }

    /**
     * pretix as a source (routes/pretix.camel.yaml): the steps of its routes, and its own camel-http component
     * (timeouts of ordersync.pretix.timeout-ms; HttpClient retries nothing by itself, the routes do).
     */
    private static void bindPretix(CamelContext context, OrdersyncSettings settings, IntakeService intake, ObjectMapper mapper,
                                   java.time.Clock clock) {
        io.ordersync.pretix.PretixSettings ps = settings.pretix;
        var http = new io.ordersync.pretix.PretixHttp(ps, mapper, clock);
        var catalog = new io.ordersync.pretix.PretixCatalog(ps, http, mapper, clock);
        var source = new io.ordersync.pretix.PretixSource(ps, new io.ordersync.pretix.PretixStore(intake.dataSource(), ps.lease()), http, catalog,
                intake, mapper, clock, settings.pretixWebhookRateLimit, settings.pretixMaxWaitingFetches);
        Registry r = context.getRegistry();
        r.bind("ordersync.pretix.source", source);
        r.bind("ordersync.pretix.catalog", catalog);
        r.bind("ordersync.pretix.orderRequest", (org.apache.camel.Processor) source::orderRequest);
        r.bind("ordersync.pretix.orderReceived", (org.apache.camel.Processor) source::orderReceived);
        r.bind("ordersync.pretix.pageReceived", (org.apache.camel.Processor) source::pageReceived);
        r.bind("ordersync.pretix.accept", (org.apache.camel.Processor) source::accept);
        r.bind("ordersync.pretix.failed", (org.apache.camel.Processor) source::failed);
        r.bind("ordersync.pretix.catalogReceived", (org.apache.camel.Processor) catalog::received);
        r.bind("ordersync.pretix.check", (org.apache.camel.Processor) http::check);
        org.apache.camel.component.http.HttpComponent component = new org.apache.camel.component.http.HttpComponent();
        component.setConnectTimeout(ps.timeoutMs());
        component.setResponseTimeout(ps.timeoutMs());
        component.setSoTimeout(ps.timeoutMs());
        component.setConnectionRequestTimeout(ps.timeoutMs());
        // a GET whose kept-alive connection the server had closed is sent once more; statuses (429, 503) are the routes' to handle
        component.setHttpClientConfigurer(builder -> builder.setRetryStrategy(
                new org.apache.hc.client5.http.impl.DefaultHttpRequestRetryStrategy(1, org.apache.hc.core5.util.TimeValue.ZERO_MILLISECONDS) {
                    @Override
                    public boolean retryRequest(org.apache.hc.core5.http.HttpResponse response, int execCount,
                                                org.apache.hc.core5.http.protocol.HttpContext context) {
                        return false;
                    }
                })
                // each wait for data is bounded by the timeout, the whole exchange (a body that trickles) by twice it
                .addExecInterceptorFirst("ordersync-deadline", new io.ordersync.delivery.RequestDeadline(2L * ps.timeoutMs(),
                        "twice ordersync.pretix.timeout-ms")));
        // installed again into the same context (a test does): the new settings' component replaces the old
        if (context.hasComponent("ordersync-pretix-http") != null) {
            context.removeComponent("ordersync-pretix-http");
        }
        context.addComponent("ordersync-pretix-http", component);
        if (ps.enabled()) {
            LOG.info("pretix source: {}", ps);
        }
    }

    /** The dispatch-wake route's queue: one pending wake-up at most, further ones are dropped. */
    static final String DISPATCH_WAKE = "seda:ordersync-dispatch-wake?size=1&discardWhenFull=true&waitForTaskToComplete=Never";

    /**
     * Characters of accepted documents kept parsed for their delivery: a few hundred typical orders, enough for
     * the gap between intake and delivery. A parsed document takes about ten times its text in heap (a map entry
     * per field); at 4 000 000 characters the cache was half of the live heap (about 40 MB), and every document
     * in it was copied by the young collections while it lived there (BENCHMARKS.md, round three).
     */
    static final long PARSED_DOCUMENT_CHARS = 1_000_000;

    /** Registry name of a database opening started before the context is configured (see {@link #openDatabaseEarly}). */
    static final String EARLY_DATABASE = "ordersync.earlyDatabase";

    /**
     * Registry name of the instance's clock (a {@link java.time.Clock}; the system's when nothing is bound). The queue's
     * times are the database's ({@link DatabaseClock}): this clock serves only until the database's is first read, and
     * to say in the log how far it is off.
     */
    public static final String CLOCK = "ordersync.clock";

    /**
     * Registry name of a {@code Boolean.TRUE} that says the HTTP server is ordersync's alone (its launcher binds it):
     * then its security headers and body checks cover every path, not only ordersync's own.
     */
    public static final String OWNS_HTTP_SERVER = "ordersync.ownsHttpServer";

    /** The JMS component of route intake-jms, ordersync's own (not the platform's "jms"). */
    public static final String JMS_COMPONENT = "ordersync-jms";

    /** A misspelt setting (ordersync.delivery.concurency) stops the start instead of being left at its default. */
    private static void refuseUnknownKeys(CamelContext context, boolean warnRetired) {
        java.util.Set<String> given = new java.util.HashSet<>(context.getPropertiesComponent().loadProperties().stringPropertyNames());
        given.addAll(System.getProperties().stringPropertyNames());
        given.addAll(System.getenv().keySet());
        for (String retired : warnRetired ? OrdersyncSettings.retiredKeys(given) : java.util.List.<String>of()) {
            LOG.warn("{} is set, but this version has no such setting (it was retired): remove it", retired);
        }
        java.util.List<String> unknown = OrdersyncSettings.unknownKeys(given);
        if (!unknown.isEmpty()) {
            throw new OrdersyncSettings.Invalid(String.join("; ", unknown));
        }
    }

    /**
     * Starts opening and migrating the database as soon as the properties can be read (camel-main's
     * {@code beforeConfigure}), so that it overlaps with Camel's own bootstrap too; {@link #install} takes it
     * over when its settings name the same database.
     */
    public static void openDatabaseEarly(CamelContext context) {
        refuseUnknownKeys(context, false); // install says which retired keys are set, once
        OrdersyncSettings settings = OrdersyncSettings.from(
                key -> context.getPropertiesComponent().resolveProperty(key).orElse(null));
        context.getRegistry().bind(EARLY_DATABASE, Database.openInBackground(settings));
    }

    /**
     * Waits until the installed instance's database is known to take writes, and rethrows its refusal (the launcher's
     * {@code afterConfigure}, before the context starts; the check is the migrations' first step, and is done by then).
     * A standalone start refused by a database that takes no writes then ends with the launcher's one line; before, the
     * refusal came out of the context's start, which logged it at ERROR with a stack trace, then each of its 59 routes
     * as stopped. The migrations themselves still overlap the context's start (waiting for them here cost a start 0.7 s).
     */
    public static void awaitWritable(CamelContext context) {
        Ordersync o = context.getRegistry().lookupByNameAndType("ordersync", Ordersync.class);
        if (o != null) {
            o.database.awaitWritable();
        }
    }

    /**
     * Opens the database (migrating it), reads the mapping files and binds every bean; provider routes are
     * created from the {@value #PROVIDER_TEMPLATE} template once the routes are loaded.
     */
    public static Ordersync install(CamelContext context, OrdersyncSettings settings) {
        var properties = context.getPropertiesComponent();
        refuseUnknownKeys(context, true);
        // the routes' {{ordersync.…}} placeholders read what the settings say: the default of every key nobody set,
        // and the settings' value where the platform's properties say something else (an embedding platform passes
        // its settings to install; before, its routes read the defaults: ordersync.jms.enabled=true started the
        // broker but not the route that reads it, found by a review)
        settings.values().forEach((key, value) -> {
            var now = properties.resolveProperty(key);
            if (now.isEmpty()) {
                properties.addInitialProperty(key, value);
            } else if (!now.get().trim().equals(value)) {
                properties.addOverrideProperty(key, value);
            }
        });
        Ordersync o = new Ordersync(context, settings);
        try {
            if (settings.jmsEnabled && o.jms.embeddedBroker()) {
                // started before the routes, stopped after them
                context.addService(o.jms, true, true);
            }
            // stopped after the routes: hands back unstarted claims, then closes the pool
            context.addService(o.dispatcher, true, true);
            context.addService(new ServiceSupport() {
                @Override
                protected void doStop() throws InterruptedException {
                    // a start's check of the credentials ends first: an instance stopped at once still rotated
                    Thread check = o.credentialsCheck.get();
                    if (check != null) {
                        check.join(10_000);
                    }
                    o.dataSource.close();
                }
            }, true, true);
            context.addStartupListener(new ExtendedStartupListener() {
                @Override
                public void onCamelContextStarting(CamelContext ctx, boolean alreadyStarted) {
                    // no route starts before the schema is there
                    o.database.awaitSchema();
                    // nor before the queue's times are the database's
                    o.clock.synchronize();
                    // the editor's saves made by other instances from now on reach this instance's files
                    o.mappingEditor.started();
                }

                @Override
                public void onCamelContextStarted(CamelContext ctx, boolean alreadyStarted) {
                    // the HTTP hardening: HardeningListener, last of the start's listeners
                }

                @Override
                public void onCamelContextFullyStarted(CamelContext ctx, boolean alreadyStarted) throws Exception {
                    // a file fixed while ordersync was down (or by a deploy that restarts it): its parked rows are due
                    o.createProviderRoutes(o.providers.active().stream().map(Provider::identifier).toList());
                    // the admin credentials compared with those the UI sessions were last made with: credentials set
                    // back to earlier ones end the sessions of their earlier use even if nobody logs in before the
                    // next change. A PBKDF2 derivation (0.2 s, about 0.8 s with the production options' C1 only) when a
                    // session is live: on its own thread, not in the start's time; a login or cookie meanwhile waits
                    // for it, and a stop waits for it too (up to 10 s)
                    if (o.credentialsCheck.get() == null) {
                        Thread check = new Thread(o.sessions::checkCredentials, "ordersync-credentials-check");
                        check.setDaemon(true);
                        if (o.credentialsCheck.compareAndSet(null, check)) {
                            check.start();
                        }
                    }
                }
            });
            context.addStartupListener(new HardeningListener(o));
        } catch (Exception e) {
            throw new IllegalStateException("cannot register ordersync services", e);
        }
        return o;
    }

    /**
     * One route per runnable provider, {@code provider-<identifier>}, from the route template; routes of
     * providers that are gone (or can no longer run) are removed, and a changed concurrency re-creates the route.
     */
    public synchronized void createProviderRoutes() throws Exception {
        Map<String, Provider> running = new HashMap<>();
        providers.active().forEach(p -> running.put(p.identifier(), p));
        for (String id : new ArrayList<>(routeShapes.keySet())) {
            Provider p = running.get(id);
            if (p == null || !RouteShape.of(p).equals(routeShapes.get(id))) {
                removeProviderRoutes(id);
                LOG.info("Route provider-{} removed{}", id, p == null ? "" : " (its kind, endpoint, concurrency, rate limit, "
                        + "timeouts or circuit breaker changed)");
            }
        }
        for (Provider p : running.values()) {
            if (routeShapes.containsKey(p.identifier()) && context.getRoute("provider-" + p.identifier()) != null) {
                // its routes run with the same shape: the new version is read per sync
                startedVersions.put(p.identifier(), p);
                continue;
            }
            List<String> added = new ArrayList<>();
            try {
                addProviderRoutes(p, added);
                startedVersions.put(p.identifier(), p);
            } catch (Exception e) {
                // a version that cannot run must not leave its provider without a route while the API says active:
                // the last version that ran is started again, and the file's state says why
                removeAdded(p.identifier(), added);
                Provider previous = startedVersions.get(p.identifier());
                String reason = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
                LOG.error("Provider {}: the route of the new version cannot start ({}){}", p.identifier(), reason,
                        previous != null ? "; starting the last good version again" : "; the provider is disabled");
                providers.startFailed(p.identifier(), previous, reason);
                if (previous != null) {
                    List<String> again = new ArrayList<>();
                    try {
                        addProviderRoutes(previous, again);
                    } catch (Exception failedAgain) {
                        removeAdded(p.identifier(), again);
                        providers.startFailed(p.identifier(), null, reason);
                        LOG.error("Provider {}: the last good version cannot start either", p.identifier(), failedAgain);
                    }
                }
            }
        }
        // the other instances on the database learn at once which providers this one runs now
        dispatcher.announce();
    }

    /** Whether the HTTP server's hardening handlers are installed (see {@link HttpHardening}). */
    private final java.util.concurrent.atomic.AtomicBoolean hardened = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Puts HttpHardening's handlers into the HTTP server once it is up. Last of the start's listeners: a platform's
     * server added to a context before its start is started by Camel's DeferServiceStartupListener (order
     * LOWEST - 1000), and before it there was no router to find (found by a review: embedded, the hardening was off).
     * The readiness check answers only after this, so no intake request comes before it.
     */
    private static final class HardeningListener implements org.apache.camel.StartupListener, org.apache.camel.Ordered {
        private final Ordersync o;

        HardeningListener(Ordersync o) {
            this.o = o;
        }

        @Override
        public void onCamelContextStarted(CamelContext ctx, boolean alreadyStarted) {
            // Camel may call this more than once during one start: the handlers go in once
            if (o.hardened.compareAndSet(false, true)) {
                HttpHardening.install(ctx);
                if (ctx.getRegistry().findByType(org.apache.camel.spi.RestClientRequestValidator.class).size() > 1) {
                    // Camel takes the validator only when it is the one bound: with a platform's own beside it, none
                    LOG.warn("A second RestClientRequestValidator is bound beside ordersync's: Camel then uses neither, and "
                            + "ordersync's API reads request bodies before it checks their credentials (its routes still check "
                            + "them); bind none, and ordersync's checks only its own verbs (api-…, rest-…) and Camel's the others");
                }
            }
        }

        @Override
        public int getOrder() {
            return org.apache.camel.Ordered.LOWEST;
        }
    }

    /** The version of each provider whose route last started: the one to go back to when a new one cannot start. */
    private final Map<String, Provider> startedVersions = new HashMap<>();

    /**
     * Creates the provider's three routes from the templates: provider-<id>-call (its target's endpoint, throttle
     * and circuit breaker), provider-<id>-sync (the objects of one order) and provider-<id> (queue row, outcome). An HTTP provider gets its own camel-http component (its timeouts
     * and connection pool), which lives and dies with these routes.
     */
    private void addProviderRoutes(Provider p, List<String> added) throws Exception {
        String routeId = "provider-" + p.identifier();
        for (String id : List.of(routeId + "-call", routeId + "-sync", routeId)) {
            if (context.getRoute(id) != null) {
                throw new IllegalStateException("the route id " + id + " is taken by another route (rename that route)");
            }
        }
        String target = switch (p.kind()) {
            case HTTP, WEBHOOK -> {
                String name = "ordersync-http-" + COMPONENTS.incrementAndGet();
                org.apache.camel.component.http.HttpComponent component = new io.ordersync.delivery.ProviderHttpComponent();
                component.setConnectTimeout(p.connectTimeoutMs());
                component.setResponseTimeout(p.responseTimeoutMs());
                component.setSoTimeout(p.responseTimeoutMs());
                component.setConnectionRequestTimeout(p.responseTimeoutMs());
                component.setConnectionsPerRoute(Math.max(20, p.concurrency() * 2));
                // retries are ours (Camel redelivery, then the queue): HttpClient must not re-send 429/503 by itself.
                // The timeouts above bound each wait for data; the deadline bounds the whole exchange, body included
                long deadline = (long) p.connectTimeoutMs() + p.responseTimeoutMs();
                component.setHttpClientConfigurer(builder -> builder.disableAutomaticRetries()
                        .addExecInterceptorFirst("ordersync-deadline", new io.ordersync.delivery.RequestDeadline(deadline,
                                "connect_timeout_ms + response_timeout_ms")));
                // every request carries its own credentials: no cookie a target sets is sent back (one order's
                // session is not another's), and no shared cookie store is locked on every request
                component.setCookieManagementDisabled(true);
                context.addComponent(name, component);
                routeComponents.put(p.identifier(), name);
                // copyHeaders=false: the answer carries only the target's headers (status, body, Retry-After are read)
                yield name + "://" + p.baseUrl().replaceFirst("^https?://", "") + "?throwExceptionOnFailure=false&copyHeaders=false&clearExpiredCookies=false";
            }
            case ENDPOINT, ROUTE -> p.destination().uri();
            case JAVA -> "bean:ordersync.delivery?method=syncJava";
        };
        context.getRegistry().bind("ordersync.breaker." + p.identifier(), breakers.of(p));
        TemplatedRouteBuilder.builder(context, PROVIDER_CALL_TEMPLATE)
                .routeId(routeId + "-call")
                .parameter("identifier", p.identifier())
                .parameter("target", target)
                .parameter("throttled", String.valueOf(p.rateLimit() > 0))
                .add();
        added.add(routeId + "-call");
        TemplatedRouteBuilder.builder(context, PROVIDER_SYNC_TEMPLATE)
                .routeId(routeId + "-sync")
                .parameter("identifier", p.identifier())
                .add();
        added.add(routeId + "-sync");
        TemplatedRouteBuilder.builder(context, PROVIDER_TEMPLATE)
                .routeId(routeId)
                .parameter("identifier", p.identifier())
                .parameter("concurrency", String.valueOf(p.concurrency()))
                .add();
        added.add(routeId);
        routeShapes.put(p.identifier(), RouteShape.of(p));
        LOG.info("Route {} created ({} consumers, {} {})", routeId, p.concurrency(), p.kind().code(),
                p.kind() == Provider.Kind.HTTP || p.kind() == Provider.Kind.WEBHOOK ? p.baseUrl()
                        : p.destination().uri() == null ? "" : io.ordersync.mapping.Secrets.shownUri(io.ordersync.mapping.Secrets.redact(p.destination().uri(), p.secretValues())));
    }

    /** An H2 database only this process can open: embedded (file or memory), not a server nor AUTO_SERVER. */
    static boolean embeddedH2(String url) {
        String u = url.toLowerCase(java.util.Locale.ROOT);
        return u.startsWith("jdbc:h2:") && !u.startsWith("jdbc:h2:tcp:") && !u.startsWith("jdbc:h2:ssl:") && !u.contains("auto_server=true");
    }

    /** The alert webhook's HTTP component (routes/alerts.camel.yaml) and its timeouts. */
    static final String ALERTS_HTTP = "ordersync-alerts-http";
    static final int ALERT_TIMEOUT_MS = 10_000;

    /** Removes the routes ordersync made for the provider, and its HTTP component. */
    private void removeProviderRoutes(String id) throws Exception {
        removeAdded(id, List.of("provider-" + id, "provider-" + id + "-sync", "provider-" + id + "-call"));
    }

    /** Removes these routes (only ones ordersync made) and the provider's HTTP component. */
    private void removeAdded(String id, List<String> routeIds) throws Exception {
        for (String routeId : routeIds) {
            if (context.getRoute(routeId) != null) {
                context.getRouteController().stopRoute(routeId);
                context.removeRoute(routeId);
            }
        }
        String component = routeComponents.remove(id);
        if (component != null) {
            org.apache.camel.Component c = context.removeComponent(component);
            if (c != null) {
                c.stop();
            }
        }
        routeShapes.remove(id);
        if (providers.active().stream().noneMatch(p -> p.identifier().equals(id))) {
            // gone, or no longer runnable: a later failed start of its file must not start this old version again
            startedVersions.remove(id);
        }
    }

    /**
     * Hot reload of {@code mappings/}: called by the mappings-watch route; re-reads changed files (a broken
     * edit keeps the last good version running) and brings the provider routes in line.
     */
    public void reloadMappings() throws Exception {
        if (!providers.changedOnDisk()) {
            return;
        }
        ProviderRegistry.Changes changes = providers.reload();
        if (changes.any()) {
            // intake queues rows for a new provider from now on: the other instances learn it runs here before its
            // routes are built, so that one without its file does not take those rows for a removed provider's
            dispatcher.announce();
            List<String> good = new java.util.ArrayList<>(changes.added());
            good.addAll(changes.changed());
            createProviderRoutes(good);
        }
    }

    /**
     * As {@link #createProviderRoutes()}; then the syncs of the providers {@code loaded} (a start, a hot reload)
     * parked as a configuration error (a broken file, a mapping that failed at run time) are due again where the
     * version loaded is the one whose route started: the fix is what they waited for (MAPPINGS.md). A version whose
     * route could not start (the previous one runs again) releases nothing.
     */
    synchronized void createProviderRoutes(java.util.Collection<String> loaded) throws Exception {
        Map<String, Provider> versions = new HashMap<>();
        providers.active().forEach(p -> versions.put(p.identifier(), p));
        createProviderRoutes();
        for (String id : loaded) {
            Provider version = versions.get(id);
            if (version == null || startedVersions.get(id) != version) {
                continue;
            }
            int due = queue.retryParked(id, io.ordersync.queue.FailureMode.CONFIG.code(), clock.instant());
            if (due > 0) {
                LOG.info("Provider {}: {} syncs parked for a configuration error are due again with the version loaded now", id, due);
            }
        }
    }

    public ProviderRegistry providers() {
        return providers;
    }

    public SyncQueue queue() {
        return queue;
    }

    public OrderStore store() {
        return store;
    }

    public Dispatcher dispatcher() {
        return dispatcher;
    }

    public OrdersyncDataSource dataSource() {
        return dataSource;
    }

    public OrdersyncSettings settings() {
        return settings;
    }
}
