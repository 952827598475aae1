package io.ordersync.spi;

import java.util.List;
import java.util.Map;

/**
 * A provider written in Java, in the spirit of pretix's {@code OutboundSyncProvider}: ordersync plans the
 * objects from the provider's mapping file ({@code mappings/<identifier>.yaml} with {@code kind: java}),
 * and calls {@link #sync} once per object, in file order; the queue, retries, failure modes, results, log,
 * metrics, API and UI are ordersync's, as for every provider.
 * <p>
 * Register an implementation with {@link java.util.ServiceLoader}: a line with its class name in
 * {@code META-INF/services/io.ordersync.spi.SyncProvider} of a jar on the class path.
 * <p>
 * Failures: throw {@link Recoverable} for a failure worth trying again later (the target is down, rate
 * limited), {@link Permanent} for one that will fail again (the target refused the data). Any other
 * exception is classified like one from a Camel endpoint: I/O errors and timeouts are recoverable,
 * everything else is permanent. One instance serves all workers of the provider concurrently.
 */
public interface SyncProvider {

    /** The provider's identifier: its mapping file is {@code mappings/<identifier>.yaml}. */
    String identifier();

    /** The name shown in the UI and API. */
    default String displayName() {
        return identifier();
    }

    /** The remote types this provider can sync; a mapping file naming another {@code remote_type} is refused. */
    List<String> objects();

    /** Syncs one object; returns what the target calls it. Called with the mapped properties of the file. */
    Synced sync(MappedObject object) throws Exception;

    /**
     * One mapped object: its mapping ({@code id} and {@code remote_type} of the file), the id field and value
     * it is known by at the target, its properties (mapped values, in file order) and the results of the
     * objects synced before it in this sync (per mapping id), for references.
     */
    record MappedObject(String provider, String event, String order, String mapping, String remoteType, String idField,
                        String idValue, Map<String, Object> properties, Map<String, List<Synced>> earlier) {
    }

    /**
     * The outcome of one object: the remote id (may be null), a link to it (may be null) and the action,
     * one of {@code created}, {@code updated}, {@code nothing_to_do}, {@code sent}.
     */
    record Synced(String remoteId, String link, String action) {
        public static Synced created(String remoteId, String link) {
            return new Synced(remoteId, link, "created");
        }

        public static Synced updated(String remoteId, String link) {
            return new Synced(remoteId, link, "updated");
        }
    }

    /** A failure worth trying again later; {@code retryAfterSeconds} (or 0) when the target named a time. */
    class Recoverable extends Exception {
        private final long retryAfterSeconds;

        public Recoverable(String message) {
            this(message, 0);
        }

        public Recoverable(String message, long retryAfterSeconds) {
            super(message);
            this.retryAfterSeconds = retryAfterSeconds;
        }

        public long retryAfterSeconds() {
            return retryAfterSeconds;
        }
    }

    /** A failure that will not go away by trying again: the row is parked as {@code permanent}. */
    class Permanent extends Exception {
        public Permanent(String message) {
            super(message);
        }
    }
}
