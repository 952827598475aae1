package io.ordersync.mapping;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** A provider ready to run: its mapping file read, checked, and its placeholders resolved. */
public record Provider(
        String identifier,
        String displayName,
        Kind kind,
        Set<String> triggers,
        List<Condition> filter,
        String baseUrl,
        Map<String, String> headers,
        WebhookSpec webhook,
        int connectTimeoutMs,
        int responseTimeoutMs,
        int concurrency,
        int rateLimit,
        BreakerSpec breaker,
        int maxAttempts,
        List<Duration> backoff,
        StatusSet recoverableStatuses,
        String separator,
        boolean nativeLists,
        List<ObjectSpec> objects,
        Set<String> declaredSecrets,
        Destination destination,
        OAuth2Spec oauth2) {

    /**
     * OAuth2 client credentials ({@code auth: {type: oauth2, …}}), resolved: each request carries a token from
     * {@code tokenUrl}, fetched once and shared until shortly before it expires. Null for the other auth types.
     */
    public record OAuth2Spec(String tokenUrl, String clientId, String clientSecret, String scope, boolean secretInBody) {
        @Override
        public String toString() {
            return "OAuth2Spec[tokenUrl=" + tokenUrl + ", clientId=" + clientId + ", scope=" + scope
                    + ", clientAuth=" + (secretInBody ? "body" : "basic") + "]";
        }
    }

    /**
     * How objects reach the target: an HTTP upsert, a signed webhook, the user's own route, any Camel
     * endpoint, or a Java class registered through ServiceLoader.
     */
    public enum Kind {
        HTTP, WEBHOOK, ROUTE, ENDPOINT, JAVA;

        /** As written in the file. */
        public String code() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /**
     * Where objects of a {@code route} or {@code endpoint} provider go: the Camel endpoint URI, one message per
     * object or per order, and header templates (endpoint only). Null for the other kinds.
     */
    public record Destination(String uri, boolean perOrder, Map<String, String> headers) {
    }

    /**
     * The resolved credentials of this provider (auth headers, secret headers, the webhook key), as they could
     * appear in a target's answer: removed from everything ordersync stores, logs or shows.
     */
    public java.util.Set<String> secretValues() {
        java.util.Set<String> out = new java.util.LinkedHashSet<>(Secrets.ofHeaders(headers));
        // what the file declared secret (auth token, password, API key under any header name, credential headers)
        for (String s : declaredSecrets) {
            if (s != null && s.length() >= Secrets.MIN_LENGTH) {
                out.add(s);
            }
        }
        if (webhook != null && webhook.key() != null) {
            out.add(java.util.Base64.getEncoder().encodeToString(webhook.key()));
        }
        return out;
    }

    /** The queue's next try after {@code failedAttempts} failures (1-based), from the backoff schedule. */
    public Duration backoffAfter(int failedAttempts) {
        if (backoff.isEmpty()) {
            return Duration.ofSeconds(5);
        }
        int i = Math.min(Math.max(failedAttempts, 1), backoff.size()) - 1;
        return backoff.get(i);
    }

    /** Circuit breaker settings: open when failureRate % of the last calls failed (at least minimumCalls), for openFor. */
    public record BreakerSpec(boolean enabled, int failureRate, int minimumCalls, Duration openFor) {
    }

    /** Signed webhook delivery: the path below base_url, the signing key, one message per object or per order. */
    public record WebhookSpec(String path, byte[] key, boolean perOrder) {
    }

    /**
     * One object mapping, compiled. Besides what the file says: the id field's extraction, the property that
     * reads the same source field as the id (its value is the id's, not extracted twice; -1 if none), and
     * whether any property references an earlier mapping's objects, and the distinct remote field names (the
     * slots of the object's {@link FieldMap}; shared, not to be changed) with each property's slot among them.
     */
    public record ObjectSpec(String id, boolean perPosition, String remoteType, String idSource, String idRemote,
                             List<Condition> filter, Call lookup, Call create, Call update, Call upsert,
                             List<String> remoteIdPointers, String externalLink, String displayName,
                             List<PropertySpec> properties,
                             java.util.function.BiFunction<io.ordersync.order.OrderDocument, com.fasterxml.jackson.databind.JsonNode, Object> idExtractor,
                             int idProperty, boolean hasRefs, CancelSpec onCancel, Call delete, String[] fieldNames,
                             int[] fieldSlots) {

        /** The first JSON pointer of remote_id (the one a preview names). */
        public String remoteIdPointer() {
            return remoteIdPointers.get(0);
        }

        /** The remote id inside a found or returned object: at the first of remote_id's pointers that holds a value. */
        public String remoteIdIn(com.fasterxml.jackson.databind.JsonNode object) {
            if (object == null) {
                return null;
            }
            for (String pointer : remoteIdPointers) {
                com.fasterxml.jackson.databind.JsonNode n = object.at(pointer);
                if (!n.isMissingNode() && !n.isNull() && !n.asText().isEmpty()) {
                    return n.asText();
                }
            }
            return null;
        }

        public ObjectSpec(String id, boolean perPosition, String remoteType, String idSource, String idRemote,
                          List<Condition> filter, Call lookup, Call create, Call update, Call upsert,
                          String remoteIdPointer, String externalLink, String displayName,
                          List<PropertySpec> properties) {
            this(id, perPosition, remoteType, idSource, idRemote, filter, lookup, create, update, upsert, List.of(remoteIdPointer),
                    externalLink, displayName, properties, CancelSpec.UPDATE, null);
        }

        public ObjectSpec(String id, boolean perPosition, String remoteType, String idSource, String idRemote,
                          List<Condition> filter, Call lookup, Call create, Call update, Call upsert,
                          List<String> remoteIdPointers, String externalLink, String displayName,
                          List<PropertySpec> properties, CancelSpec onCancel, Call delete) {
            this(id, perPosition, remoteType, idSource, idRemote, filter, lookup, create, update, upsert, remoteIdPointers,
                    externalLink, displayName, properties, io.ordersync.order.SourceFields.extractor(idSource),
                    sameSourceAsId(idSource, properties), properties.stream().anyMatch(p -> p.kind() == ValueKind.REF),
                    onCancel, delete, fieldNames(properties), fieldSlots(properties));
        }

        private static String[] fieldNames(List<PropertySpec> properties) {
            return properties.stream().map(PropertySpec::remote).distinct().toArray(String[]::new);
        }

        private static int[] fieldSlots(List<PropertySpec> properties) {
            List<String> names = List.of(fieldNames(properties));
            return properties.stream().mapToInt(p -> names.indexOf(p.remote())).toArray();
        }

        private static int sameSourceAsId(String idSource, List<PropertySpec> properties) {
            for (int i = 0; i < properties.size(); i++) {
                PropertySpec p = properties.get(i);
                if (p.kind() == ValueKind.SOURCE && idSource.equals(p.source()) && p.valueMap() == null) {
                    return i;
                }
            }
            return -1;
        }
    }

    /**
     * What a sync does with an object whose source is canceled (the order, or for a position mapping the position
     * or its order): {@code UPDATE} it as always, {@code DELETE} it at the target, {@code ARCHIVE} it (an update
     * with only the given values), or {@code NOTHING}.
     */
    public record CancelSpec(CancelAction action, Map<String, Object> archiveValues) {
        public static final CancelSpec UPDATE = new CancelSpec(CancelAction.UPDATE, Map.of());
    }

    public enum CancelAction { UPDATE, DELETE, ARCHIVE, NOTHING }

    /** One HTTP call of an object mapping. */
    /**
     * One request of an object mapping. {@code body}: a JSON template (string leaves are templates; the leaf
     * {@code "{properties}"} is the object's fields) for search lookups and wrapped writes; null: the default
     * body. {@code fieldsPointer}: where the found object keeps its fields (e.g. {@code /properties}); empty: at
     * its top.
     */
    public record Call(String method, String path, String resultPointer, Set<Integer> conflictStatuses,
                       com.fasterxml.jackson.databind.JsonNode body, String fieldsPointer) {
        public Call(String method, String path, String resultPointer) {
            this(method, path, resultPointer, Set.of(), null, "");
        }
    }

    /** Where a property's value comes from. */
    public enum ValueKind { SOURCE, CONSTANT, TEMPLATE, REF }

    /** One property mapping, compiled. */
    public record PropertySpec(ValueKind kind, String source, Object constant, String template, String ref,
                               String refField, String remote, Mode mode, Map<String, Object> valueMap, Boolean list,
                               java.util.function.BiFunction<io.ordersync.order.OrderDocument, com.fasterxml.jackson.databind.JsonNode, Object> extractor,
                               java.util.function.BiFunction<io.ordersync.order.OrderDocument, com.fasterxml.jackson.databind.JsonNode, Object> positionExtractor) {

        /**
         * As loaded from a file: the source field's extraction is looked up here, once (and the one for a call that
         * always has a position). {@code list}: send a list
         * value as a JSON list (true) or joined with the separator (false); null follows {@code native_lists}.
         */
        public PropertySpec(ValueKind kind, String source, Object constant, String template, String ref,
                            String refField, String remote, Mode mode, Map<String, Object> valueMap, Boolean list) {
            this(kind, source, constant, template, ref, refField, remote, mode, valueMap, list,
                    source == null ? null : io.ordersync.order.SourceFields.extractor(source),
                    source == null ? null : io.ordersync.order.SourceFields.positionExtractor(source));
        }
    }

    /**
     * A filter condition: field equals / in / not in / empty. Compiled: the field's extraction (see
     * {@link io.ordersync.order.SourceFields#extractor(String)}), whether it reads a position, and the options
     * as the text they are compared by ({@code equals}, else {@code in} or {@code not_in}; null for {@code empty}).
     */
    public record Condition(String field, Object equalTo, List<Object> in, List<Object> notIn, Boolean empty,
                            java.util.function.BiFunction<io.ordersync.order.OrderDocument, com.fasterxml.jackson.databind.JsonNode, Object> extractor,
                            boolean positionField, String[] optionTexts) {

        /** As written in a file: compiled here, once. */
        public Condition(String field, Object equalTo, List<Object> in, List<Object> notIn, Boolean empty) {
            this(field, equalTo, in, notIn, empty, io.ordersync.order.SourceFields.extractor(field),
                    io.ordersync.order.SourceFields.inputOf(field) == io.ordersync.order.SourceFields.Input.POSITION,
                    optionTexts(equalTo, in, notIn, empty));
        }

        private static String[] optionTexts(Object equalTo, List<Object> in, List<Object> notIn, Boolean empty) {
            if (empty != null) {
                return null;
            }
            if (equalTo != null) {
                return new String[] {String.valueOf(equalTo)};
            }
            List<Object> options = in != null ? in : notIn;
            return options == null ? null : options.stream().map(String::valueOf).toArray(String[]::new);
        }
    }

    /** HTTP statuses given as single codes or ranges such as {@code 500-599}. */
    public record StatusSet(List<int[]> ranges) {
        public boolean contains(int status) {
            for (int[] r : ranges) {
                if (status >= r[0] && status <= r[1]) {
                    return true;
                }
            }
            return false;
        }
    }
}
