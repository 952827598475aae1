package io.ordersync.mapping;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** A provider ready to run: its mapping file read, checked, and its placeholders resolved. */
public record Provider(
        String identifier,
        String displayName,
        Set<String> triggers,
        String baseUrl,
        Map<String, String> headers,
        int connectTimeoutMs,
        int responseTimeoutMs,
        int concurrency,
        int maxAttempts,
        List<Duration> backoff,
        StatusSet recoverableStatuses,
        String separator,
        boolean nativeLists,
        List<ObjectSpec> objects) {

    /** The queue's next try after {@code failedAttempts} failures (1-based), from the backoff schedule. */
    public Duration backoffAfter(int failedAttempts) {
        if (backoff.isEmpty()) {
            return Duration.ofSeconds(5);
        }
        int i = Math.min(Math.max(failedAttempts, 1), backoff.size()) - 1;
        return backoff.get(i);
    }

    /** One object mapping, compiled. */
    public record ObjectSpec(String id, boolean perPosition, String remoteType, String idSource, String idRemote,
                             Call lookup, Call create, Call update, Call upsert,
                             String remoteIdPointer, String externalLink, String displayName,
                             List<PropertySpec> properties) {
    }

    /** One HTTP call of an object mapping. */
    public record Call(String method, String path, String resultPointer) {
    }

    /** One property mapping, compiled. */
    public record PropertySpec(String source, Object constant, String remote, Mode mode, Map<String, Object> valueMap) {
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
