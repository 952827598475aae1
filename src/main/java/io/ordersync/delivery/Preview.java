package io.ordersync.delivery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.mapping.Provider;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.OrderStore;

import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.apache.camel.ProducerTemplate;

import java.util.List;


/**
 * The requests a sync would send, without sending them. A preview runs the provider templates themselves
 * (routes/provider.camel.yaml: routes {@code ordersync-preview-sync} and {@code ordersync-preview-call}, made
 * from the same {@code provider-sync} and {@code provider-call} templates as every provider's routes) with the
 * target pointed at a recording step ({@link Target}, route {@code ordersync-preview-target}): it records each
 * request as the call route prepared it and answers as the target would, from the remote objects given (per
 * mapping id or remote type; absent means "does not exist yet"). So preview and delivery are one code path: the
 * same steps, decisions and messages; only the target differs, and nothing of the real provider (its Retry-After
 * pause, throttle, breaker, metrics) is used. Header values of the provider (credentials) are shown as
 * {@code <redacted>}.
 */
public final class Preview {

    /** The identifier the preview routes are made with: never a provider's ({@code [a-z0-9][a-z0-9_-]*}). */
    public static final String IDENTIFIER = "ordersync.preview";
    /** Exchange property holding the preview's {@link Recording}; its presence marks an exchange as a preview. */
    public static final String PROPERTY = "ordersync.preview";
    static final String SYNC_ENDPOINT = "direct:ordersync-sync-" + IDENTIFIER;

    private final ObjectMapper mapper;
    private final ProducerTemplate template;

    /** {@code template}: of the CamelContext whose routes include the preview routes. */
    public Preview(ObjectMapper mapper, ProducerTemplate template) {
        this.mapper = mapper;
        this.template = template;
    }

    /**
     * Binds what the preview routes need (their recording target, their breaker, which is off) and returns the
     * preview that runs them.
     */
    public static Preview bindInto(org.apache.camel.CamelContext context, ObjectMapper mapper) {
        Preview preview = new Preview(mapper, context.createProducerTemplate());
        context.getRegistry().bind("ordersync.preview.target", preview.new Target());
        context.getRegistry().bind("ordersync.breaker." + IDENTIFIER, ProviderBreakers.off(IDENTIFIER));
        return preview;
    }

    /**
     * A CamelContext of its own with only the provider templates, their error handling and the preview routes
     * (routes/provider.camel.yaml and routes/errors.camel.yaml under {@code routesDir}), for a preview without a
     * running ordersync (the {@code ordersync preview} command). Close it when done.
     */
    public static Standalone standalone(java.nio.file.Path routesDir, ObjectMapper mapper) throws Exception {
        org.apache.camel.impl.DefaultCamelContext context = new org.apache.camel.impl.DefaultCamelContext();
        io.ordersync.config.OrdersyncSettings.DEFAULTS.forEach(context.getPropertiesComponent()::addInitialProperty);
        // only the preview's paths of the steps run here: no queue, store, gate pause or metrics are touched
        new DeliverySteps(null, null, null, new ProviderGate(), null, null,
                java.time.Duration.ofSeconds(5), java.time.Duration.ofHours(1), new OAuth2Tokens(java.time.Clock.systemUTC()),
                id -> null, java.time.Clock.systemUTC()).bindInto(context.getRegistry());
        Preview preview = bindInto(context, mapper);
        // the call template's rate Throttle names its limit's expression (the preview's call route is not throttled,
        // but the route is made with it, so the name must be bound): never evaluated here
        context.getRegistry().bind("ordersync.providers.rateShare", org.apache.camel.support.builder.ExpressionBuilder.constantExpression(1));
        List<org.apache.camel.spi.Resource> files = new java.util.ArrayList<>();
        for (String name : List.of("errors.camel.yaml", "provider.camel.yaml")) {
            files.add(org.apache.camel.support.ResourceHelper.resolveResource(context, "file:" + routesDir.resolve(name)));
        }
        var builders = org.apache.camel.support.PluginHelper.getRoutesLoader(context).findRoutesBuilders(files);
        // as camel-main adds them: route configurations, then routes and templates, then the templated routes
        for (org.apache.camel.RoutesBuilder b : builders) {
            if (b instanceof org.apache.camel.RouteConfigurationsBuilder c) {
                c.addRouteConfigurationsToCamelContext(context);
            }
        }
        for (org.apache.camel.RoutesBuilder b : builders) {
            b.addRoutesToCamelContext(context);
        }
        for (org.apache.camel.RoutesBuilder b : builders) {
            b.addTemplatedRoutesToCamelContext(context);
        }
        context.start();
        return new Standalone(context, preview);
    }

    /** A standalone preview and its CamelContext. */
    public record Standalone(org.apache.camel.CamelContext context, Preview preview) implements AutoCloseable {
        @Override
        public void close() {
            try {
                context.close();
            } catch (Exception e) {
                throw new IllegalStateException("stopping the preview's CamelContext: " + e.getMessage(), e);
            }
        }
    }

    /** Whether this exchange is a preview's. */
    public static boolean of(Exchange exchange) {
        return exchange.getProperty(PROPERTY) != null;
    }

    /** What one preview records: the requests, and the remote objects it answers from. */
    record Recording(Provider provider, JsonNode remote, ArrayNode requests) {
    }

    private static void redact(JsonNode node, java.util.Set<String> secrets) {
        if (secrets.isEmpty()) {
            return;
        }
        if (node instanceof ObjectNode o) {
            for (var it = o.fields(); it.hasNext(); ) {
                var f = it.next();
                if (f.getValue().isTextual()) {
                    f.setValue(o.textNode(io.ordersync.mapping.Secrets.redact(f.getValue().textValue(), secrets)));
                } else {
                    redact(f.getValue(), secrets);
                }
            }
        } else if (node instanceof ArrayNode a) {
            for (int i = 0; i < a.size(); i++) {
                if (a.get(i).isTextual()) {
                    a.set(i, a.textNode(io.ordersync.mapping.Secrets.redact(a.get(i).textValue(), secrets)));
                } else {
                    redact(a.get(i), secrets);
                }
            }
        }
    }

    public ObjectNode run(Provider provider, OrderDocument doc, JsonNode remote) throws Exception {
        return run(provider, doc, remote, java.util.Set.of());
    }

    /**
     * The target of the preview's call route: records the request the call route prepared and puts the answer
     * into the message as the provider's target would (an HTTP status and body; nothing for an endpoint; no
     * reply of its own for a route or a Java provider).
     */
    public final class Target implements Processor {
        @Override
        public void process(Exchange exchange) throws Exception {
            Recording rec = exchange.getProperty(PROPERTY, Recording.class);
            Sync sync = exchange.getProperty(Sync.PROPERTY, Sync.class);
            Provider provider = rec.provider();
            Transport.Request request = sync.request();
            ObjectNode r = rec.requests().addObject();
            r.put("method", request.method());
            r.put("url", request.purpose() == Transport.Purpose.SEND ? (provider.kind() == Provider.Kind.JAVA
                    ? "java:" + provider.identifier() : io.ordersync.mapping.Secrets.shownUri(request.path())) : provider.baseUrl() + request.path());
            // the headers as the call route left them: the provider's credentials redacted, Camel's own left out
            // (a header a step of the template adds shows here as it would be sent)
            ObjectNode headers = r.putObject("headers");
            new java.util.TreeMap<>(exchange.getIn().getHeaders()).forEach((name, value) -> {
                if (!name.startsWith("Camel") && value != null) {
                    headers.put(name, provider.headers().containsKey(name) ? "<redacted>" : String.valueOf(value));
                }
            });
            if (request.body() != null) {
                r.set("body", mapper.readTree(request.body()));
            }
            Transport.Response answer = answer(provider, request, rec.remote());
            var message = exchange.getMessage();
            message.getHeaders().clear();
            message.setBody(null);
            if (provider.kind() == Provider.Kind.HTTP || provider.kind() == Provider.Kind.WEBHOOK) {
                message.setHeader(Exchange.HTTP_RESPONSE_CODE, answer.status());
                message.setBody(answer.body());
            }
        }
    }

    /** As {@link #run(Provider, OrderDocument, JsonNode)}; {@code alsoRedact}: more values no answer may show. */
    public ObjectNode run(Provider provider, OrderDocument doc, JsonNode remote, java.util.Set<String> alsoRedact) throws Exception {
        ObjectNode out = mapper.createObjectNode();
        out.put("provider", provider.identifier());
        ArrayNode requests = out.putArray("requests");
        java.util.Set<String> secrets = new java.util.HashSet<>(provider.secretValues());
        secrets.addAll(alsoRedact);
        Sync sync = new Sync(provider, doc);
        Exchange done = template.send(SYNC_ENDPOINT, e -> {
            e.setProperty(Sync.PROPERTY, sync);
            e.setProperty(PROPERTY, new Recording(provider, remote == null ? mapper.createObjectNode() : remote, requests));
        });
        if (done.getException() instanceof RuntimeException e) {
            // a mapping error (MappingConfigException) is the caller's to report; it names no secret
            throw e;
        }
        if (done.getException() != null) {
            throw done.getException();
        }
        List<OrderStore.Result> results = sync.results();
        if (!sync.passesFilter()) {
            out.put("note", "the order does not pass the provider's filter: nothing would be sent");
        }
        ArrayNode rs = out.putArray("results");
        for (OrderStore.Result r : results) {
            ObjectNode o = rs.addObject();
            o.put("mapping", r.mappingId());
            o.put("remote_type", r.remoteType());
            o.put("id_value", r.idValue());
            o.put("action", r.action());
            o.put("remote_id", r.remoteId());
            o.put("external_link", r.externalLink());
            o.put("display_name", r.displayName());
        }
        // a credential can reach the output through a URL or body template: none leaves the preview
        redact(out, secrets);
        return out;
    }

    private Transport.Response answer(Provider provider, Transport.Request request, JsonNode remote) throws Exception {
        Provider.ObjectSpec spec = provider.objects().stream().filter(o -> o.id().equals(request.mappingId())).findFirst().orElse(null);
        if (spec == null) {
            return new Transport.Response(200, "{}", null);
        }
        switch (request.purpose()) {
            case LOOKUP -> {
                JsonNode found = find(remote, spec, request.idValue());
                if (found == null) {
                    return new Transport.Response(404, "{}", null);
                }
                return new Transport.Response(200, mapper.writeValueAsString(wrap(spec.lookup().resultPointer(), found)), null);
            }
            case CREATE, UPSERT -> {
                ObjectNode created = (ObjectNode) mapper.readTree(request.body());
                JsonNode existing = find(remote, spec, request.idValue());
                String id = existing != null ? java.util.Objects.requireNonNullElse(spec.remoteIdIn(existing), "") : "<new " + spec.remoteType() + ">";
                if (spec.remoteIdPointer().matches("/[^/]+")) {
                    created.put(spec.remoteIdPointer().substring(1), id);
                }
                Provider.Call call = request.purpose() == Transport.Purpose.CREATE ? spec.create() : spec.upsert();
                return new Transport.Response(existing == null ? 201 : 200, mapper.writeValueAsString(wrap(call.resultPointer(), created)), null);
            }
            default -> {
                return new Transport.Response(200, request.body() == null ? "{}" : request.body(), null);
            }
        }
    }

    /** The object in the remote objects whose id field holds the id value. */
    private static JsonNode find(JsonNode remote, Provider.ObjectSpec spec, String idValue) {
        for (String key : new String[]{spec.id(), spec.remoteType()}) {
            for (JsonNode o : remote.path(key)) {
                if (idValue != null && idValue.equals(o.path(spec.idRemote()).asText(null))) {
                    return o;
                }
            }
        }
        return null;
    }

    /** The largest array index the preview's made-up answer holds (a larger number is an object's key). */
    static final int MAX_INDEX = 1000;

    /** A response document in which the JSON pointer leads to {@code object}. */
    private JsonNode wrap(String pointer, JsonNode object) {
        if (pointer == null || pointer.isEmpty()) {
            return object;
        }
        String[] tokens = pointer.substring(1).split("/");
        JsonNode node = object;
        for (int i = tokens.length - 1; i >= 0; i--) {
            // an array up to index 1 000; a larger number is taken as an object's key, which a pointer also reads (an
            // array up to /100000000 ran the process out of memory, and one past int was a 500: found by an attack)
            if (tokens[i].matches("\\d{1,4}") && Integer.parseInt(tokens[i]) <= MAX_INDEX) {
                ArrayNode a = mapper.createArrayNode();
                for (int k = 0; k < Integer.parseInt(tokens[i]); k++) {
                    a.addNull();
                }
                a.add(node);
                node = a;
            } else {
                ObjectNode o = mapper.createObjectNode();
                o.set(tokens[i].replace("~1", "/").replace("~0", "~"), node);
                node = o;
            }
        }
        return node;
    }

}
