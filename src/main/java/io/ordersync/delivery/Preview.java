package io.ordersync.delivery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.mapping.Provider;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.OrderStore;

import java.util.List;


/**
 * The requests a sync would send, without sending them: the sync's own decisions ({@link Sync}) run against a
 * transport that records each request and answers as the target would, from the remote objects given
 * (per mapping id or remote type; absent means "does not exist yet"). Header values of the provider
 * (credentials) are shown as {@code <redacted>}.
 */
public final class Preview {

    private final ObjectMapper mapper;

    public Preview(ObjectMapper mapper) {
        this.mapper = mapper;
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

    /** As {@link #run(Provider, OrderDocument, JsonNode)}; {@code alsoRedact}: more values no answer may show. */
    public ObjectNode run(Provider provider, OrderDocument doc, JsonNode remote, java.util.Set<String> alsoRedact) throws Exception {
        ObjectNode out = mapper.createObjectNode();
        out.put("provider", provider.identifier());
        ArrayNode requests = out.putArray("requests");
        Transport recorder = request -> {
            ObjectNode r = requests.addObject();
            r.put("method", request.method());
            r.put("url", request.purpose() == Transport.Purpose.SEND ? (provider.kind() == Provider.Kind.JAVA
                    ? "java:" + provider.identifier() : org.apache.camel.util.URISupport.sanitizeUri(request.path())) : provider.baseUrl() + request.path());
            ObjectNode headers = r.putObject("headers");
            provider.headers().keySet().forEach(h -> headers.put(h, "<redacted>"));
            request.headers().forEach(headers::put);
            try {
                if (request.body() != null) {
                    r.set("body", mapper.readTree(request.body()));
                }
                return answer(provider, request, remote);
            } catch (Exception e) {
                throw new IllegalStateException("preview failed: " + e.getMessage(), e);
            }
        };
        java.util.Set<String> secrets = new java.util.HashSet<>(provider.secretValues());
        secrets.addAll(alsoRedact);
        List<OrderStore.Result> results = Sync.simulate(provider, doc, recorder);
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
                String id = existing != null ? existing.at(spec.remoteIdPointer()).asText("") : "<new " + spec.remoteType() + ">";
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

    /** A response document in which the JSON pointer leads to {@code object}. */
    private JsonNode wrap(String pointer, JsonNode object) {
        if (pointer == null || pointer.isEmpty()) {
            return object;
        }
        String[] tokens = pointer.substring(1).split("/");
        JsonNode node = object;
        for (int i = tokens.length - 1; i >= 0; i--) {
            if (tokens[i].matches("\\d+")) {
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
