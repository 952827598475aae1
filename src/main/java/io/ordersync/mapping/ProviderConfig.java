package io.ordersync.mapping;

import java.util.List;
import java.util.Map;

/**
 * A provider as written in {@code mappings/<identifier>.yaml}; keys are snake_case in the file.
 * See README.md ("Mapping files") for the meaning of every key.
 */
public record ProviderConfig(
        String identifier,
        String displayName,
        List<String> triggers,
        Target target,
        Retry retry,
        String separator,
        Boolean nativeLists,
        List<ObjectMapping> objects) {

    /** Where and how to reach the external system. */
    public record Target(String baseUrl, Auth auth, Integer connectTimeoutMs, Integer responseTimeoutMs,
                         Integer concurrency, Map<String, String> headers) {
    }

    /** Credentials; secret values must be placeholders such as {@code {{env:CRM_TOKEN}}}. */
    public record Auth(String type, String token, String username, String password, String header, String value) {
    }

    /** The durable retry policy of the queue for this provider. */
    public record Retry(Integer maxAttempts, List<String> backoff, List<String> recoverableStatuses) {
    }

    /** One kind of remote object produced from the order or from each of its positions. */
    public record ObjectMapping(String id, String source, String remoteType, IdField idField,
                                Call lookup, Call create, Call update, Call upsert,
                                String remoteId, String externalLink, String displayName,
                                List<PropertyMapping> properties) {
    }

    /** The source field that identifies the object and the remote field it is matched against. */
    public record IdField(String source, String remote) {
    }

    /** One HTTP call: method, path template (relative to base_url) and where the object is in the response. */
    public record Call(String method, String path, String result) {
    }

    /** One remote field, filled from a source field or a constant, under a mode. */
    public record PropertyMapping(String source, Object value, String remote, String mode, Map<String, Object> valueMap) {
    }
}
