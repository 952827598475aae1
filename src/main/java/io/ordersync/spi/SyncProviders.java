package io.ordersync.spi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/** The Java providers on the class path, found once through {@link ServiceLoader}, by identifier. */
public final class SyncProviders {

    private static final Logger LOG = LoggerFactory.getLogger(SyncProviders.class);

    private final Map<String, SyncProvider> byId;

    private SyncProviders(Map<String, SyncProvider> byId) {
        this.byId = Collections.unmodifiableMap(byId);
    }

    /** The providers registered with the class loader; one that cannot be loaded is logged and left out. */
    public static SyncProviders load(ClassLoader loader) {
        Map<String, SyncProvider> out = new LinkedHashMap<>();
        var it = ServiceLoader.load(SyncProvider.class, loader).iterator();
        while (true) {
            SyncProvider p;
            try {
                if (!it.hasNext()) {
                    break;
                }
                p = it.next();
            } catch (ServiceConfigurationError e) {
                LOG.error("A Java provider cannot be loaded: {}", e.getMessage());
                continue;
            }
            SyncProvider other = out.putIfAbsent(p.identifier(), p);
            if (other != null) {
                LOG.error("Two Java providers are registered as '{}': {} and {}; the first is used", p.identifier(),
                        other.getClass().getName(), p.getClass().getName());
            } else {
                LOG.info("Java provider {} ({}) found: {}", p.identifier(), p.displayName(), p.getClass().getName());
            }
        }
        return new SyncProviders(out);
    }

    public static SyncProviders none() {
        return new SyncProviders(Map.of());
    }

    public SyncProvider get(String identifier) {
        return byId.get(identifier);
    }

    public Map<String, SyncProvider> all() {
        return byId;
    }
}
