package io.ordersync.mapping;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** The providers of the mappings directory: the runnable ones and the ones whose file has errors. */
public final class ProviderRegistry {

    private static final Logger LOG = LoggerFactory.getLogger(ProviderRegistry.class);

    private final Path dir;
    private final ProviderLoader loader;
    private volatile Map<String, ProviderLoader.Loaded> loaded = Map.of();

    public ProviderRegistry(Path dir, ProviderLoader loader) {
        this.dir = dir;
        this.loader = loader;
    }

    /** (Re)reads every {@code *.yaml} file of the directory; a broken file disables only its provider. */
    public synchronized void reload() {
        Map<String, ProviderLoader.Loaded> next = new LinkedHashMap<>();
        if (!Files.isDirectory(dir)) {
            LOG.warn("Mappings directory {} does not exist: no providers", dir.toAbsolutePath());
        } else {
            List<Path> files = new ArrayList<>();
            try (Stream<Path> s = Files.list(dir)) {
                s.filter(p -> p.getFileName().toString().matches(".+\\.ya?ml")).sorted().forEach(files::add);
            } catch (IOException e) {
                throw new IllegalStateException("cannot list " + dir, e);
            }
            for (Path file : files) {
                ProviderLoader.Loaded l = loader.load(file);
                if (next.containsKey(l.identifier())) {
                    LOG.error("Provider {} is defined twice; ignoring {}", l.identifier(), file);
                    continue;
                }
                next.put(l.identifier(), l);
                if (l.valid()) {
                    LOG.info("Provider {} ({}) loaded from {}", l.identifier(), l.provider().displayName(), file);
                } else {
                    LOG.error("Provider {} is disabled, {} has errors:\n  {}", l.identifier(), file, String.join("\n  ", l.errors()));
                }
            }
        }
        loaded = next;
    }

    /** A runnable provider, or null. */
    public Provider active(String identifier) {
        ProviderLoader.Loaded l = loaded.get(identifier);
        return l != null && l.valid() ? l.provider() : null;
    }

    public boolean isActive(String identifier) {
        return active(identifier) != null;
    }

    /** Known (has a mapping file) but not runnable. */
    public boolean isBroken(String identifier) {
        ProviderLoader.Loaded l = loaded.get(identifier);
        return l != null && !l.valid();
    }

    public List<String> errors(String identifier) {
        ProviderLoader.Loaded l = loaded.get(identifier);
        return l == null ? List.of() : l.errors();
    }

    public Collection<ProviderLoader.Loaded> all() {
        return loaded.values();
    }

    public List<Provider> active() {
        List<Provider> out = new ArrayList<>();
        for (ProviderLoader.Loaded l : loaded.values()) {
            if (l.valid()) {
                out.add(l.provider());
            }
        }
        return out;
    }

    /**
     * Providers an event of this type is queued for: every provider whose file could be read and whose
     * triggers include it, also one that cannot run yet (its rows then wait, parked as a configuration error).
     */
    public List<String> subscribers(String eventType) {
        List<String> out = new ArrayList<>();
        for (ProviderLoader.Loaded l : loaded.values()) {
            if (l.config() != null && l.config().triggers() != null && l.config().triggers().contains(eventType)) {
                out.add(l.identifier());
            }
        }
        return out;
    }
}
