package io.ordersync.delivery;

import java.util.Map;

/** Sends one request to a provider's target: over HTTP for real, or recorded for a preview. */
public interface Transport {

    /** What a request is for, so a preview can answer it like the target would. */
    enum Purpose { LOOKUP, CREATE, UPDATE, UPSERT, DELETE, WEBHOOK, SEND }

    /** One request; {@code path} is relative to the provider's base URL. */
    record Request(String method, String path, String body, Map<String, String> headers, Purpose purpose,
                   String mappingId, String remoteType, String idValue) {
    }

    /** A response from the target. */
    record Response(int status, String body, String retryAfter) {
    }

    Response send(Request request);
}
