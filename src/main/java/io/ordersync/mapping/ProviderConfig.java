package io.ordersync.mapping;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.List;
import java.util.Map;

/**
 * A provider as written in {@code mappings/<identifier>.yaml}; keys are snake_case in the file.
 * MAPPINGS.md describes every key; src/main/resources/schema/mapping.schema.json is the same as a JSON Schema.
 */
public record ProviderConfig(
        String identifier,
        String displayName,
        String kind,
        List<String> triggers,
        List<Condition> filter,
        Target target,
        Webhook webhook,
        String route,
        Endpoint endpoint,
        Retry retry,
        String separator,
        Boolean nativeLists,
        List<ObjectMapping> objects) {

    /** Where and how to reach the external system. */
    public record Target(String baseUrl, Auth auth, Integer connectTimeoutMs, Integer responseTimeoutMs,
                         Integer concurrency, Integer rateLimit, CircuitBreaker circuitBreaker, Map<String, String> headers) {
    }

    /** Pauses a provider whose target keeps failing; it probes and resumes by itself. */
    public record CircuitBreaker(Boolean enabled, Integer failureRate, Integer minimumCalls, String openFor) {
    }

    /**
     * Credentials; secret values must be placeholders such as {@code {{env:CRM_TOKEN}}}. {@code oauth2}: the
     * client-credentials grant against {@code token_url} with {@code client_id}, {@code client_secret} and an
     * optional {@code scope}.
     */
    public record Auth(String type, String token, String username, String password, String header, String value,
                       String tokenUrl, String clientId, String clientSecret, String scope, String clientAuth) {
    }

    /** A webhook provider: signed POSTs (Standard Webhooks) of each object or of the whole order. */
    public record Webhook(String path, String secret, String per) {
    }

    /**
     * A {@code kind: endpoint} provider: the Camel endpoint URI each object (or the order's objects) is sent to
     * as JSON, and headers (templates) set on each message.
     */
    public record Endpoint(String uri, String per, Map<String, String> headers) {
    }

    /** The durable retry policy of the queue for this provider. */
    public record Retry(Integer maxAttempts, List<String> backoff, List<String> recoverableStatuses) {
    }

    /** One kind of remote object produced from the order or from each of its positions. */
    /**
     * {@code onCancel}: {@code update} (default), {@code delete}, {@code nothing}, or {@code {archive: {field: value}}};
     * {@code delete}: the call that deletes the remote object (for {@code on_cancel: delete}).
     */
    public record ObjectMapping(String id, String source, String remoteType, IdField idField, List<Condition> filter,
                                Call lookup, Call create, Call update, Call upsert,
                                Object remoteId, String externalLink, String displayName,
                                List<PropertyMapping> properties, Object onCancel, Call delete) {
    }

    /** The source field that identifies the object and the remote field it is matched against. */
    public record IdField(String source, String remote) {
    }

    /** One HTTP call: method, path template (relative to base_url) and where the object is in the response. */
    /** {@code conflict} (create only): statuses meaning "it exists already" — the object is looked up again and updated. */
    public record Call(String method, String path, String result, List<Integer> conflict, Object body, String fields) {
    }

    /** One remote field, filled from a source field, a constant, a template or an earlier mapping's objects. */
    public record PropertyMapping(String source, Object value, String template, String ref, String refField,
                                  String remote, String mode, Map<String, Object> valueMap, Boolean list) {
    }

    /** A condition over one source field; every condition of a filter must hold. */
    public record Condition(String field, @JsonProperty("equals") Object equalTo, List<Object> in,
                            @JsonProperty("not_in") List<Object> notIn, Boolean empty) {
    }
}
