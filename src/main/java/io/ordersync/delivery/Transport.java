package io.ordersync.delivery;

import java.util.Map;

/**
 * The request a sync's decisions ask for and the answer they are given: the provider routes send it to the
 * target (routes/provider.camel.yaml), a preview to its recording step.
 */
public final class Transport {

    private Transport() {
    }

    /** What a request is for, so a preview can answer it like the target would. */
    public enum Purpose { LOOKUP, CREATE, UPDATE, UPSERT, DELETE, WEBHOOK, SEND }

    /** One request; {@code path} is relative to the provider's base URL. */
    public record Request(String method, String path, String body, Map<String, String> headers, Purpose purpose,
                   String mappingId, String remoteType, String idValue) {
    }

    /** A response from the target. */
    public record Response(int status, String body, String retryAfter) {
    }
}
