package io.ordersync.mapping;

import io.ordersync.order.OrderDocument;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The providers of the mappings directory. A file that breaks keeps the last good version of its
 * provider running (and reports its errors); a file that never loaded disables only its provider.
 */
public final class ProviderRegistry {

    private static final Logger LOG = LoggerFactory.getLogger(ProviderRegistry.class);

    /** A provider's state: the latest load of its file, and the version that runs (last good, or null). */
    public record State(ProviderLoader.Loaded latest, Provider running) {
        /** active, active_with_errors (last good version runs, the file has errors) or disabled. */
        public String status() {
            return running == null ? "disabled" : latest.valid() ? "active" : "active_with_errors";
        }
    }

    /** What a reload changed: providers added, changed (running version replaced) and removed. */
    public record Changes(List<String> added, List<String> changed, List<String> removed, List<String> failed) {
        public boolean any() {
            return !added.isEmpty() || !changed.isEmpty() || !removed.isEmpty() || !failed.isEmpty();
        }
    }

    private final Path dir;
    private final ProviderLoader loader;
    private volatile Map<String, State> states = Map.of();
    private volatile Map<Path, byte[]> contents = Map.of();
    /** Edited files seen once: loaded when the next check sees the same bytes (an editor may still be writing). */
    private final Map<Path, byte[]> settling = new java.util.HashMap<>();
    private boolean loadedOnce;
    /** Files gone since a check, by when they were first missed: their providers run on until the grace is over. */
    private final Map<Path, java.time.Instant> missing = new java.util.HashMap<>();
    private final java.time.Duration removalGrace;
    /** Providers with two files (.yaml and .yml) at the last reload: read again once one of them is gone. */
    private Set<String> duplicated = Set.of();

    /** The largest mapping file read (the editor takes 256 Ki characters): a larger one is an error, not read. */
    public static final long MAX_FILE_BYTES = 1 << 20;
    /**
     * What a file that is not read (over {@link #MAX_FILE_BYTES}, not a regular file) is held as: this mark, then why
     * (with its size and time, so a change of either is seen). The mark is random per process: no file can be taken
     * for it (an 11-byte file that began with the fixed mark of before was, and failed every reload).
     */
    private static final byte[] UNREAD_MARK = randomMark();

    private static byte[] randomMark() {
        byte[] mark = new byte[16];
        new java.security.SecureRandom().nextBytes(mark);
        return mark;
    }

    /** A registry that removes the provider of a file that has been gone for 30 s. */
    public ProviderRegistry(Path dir, ProviderLoader loader) {
        this(dir, loader, DEFAULT_REMOVAL_GRACE);
    }

    /** The grace a file that disappears gets before its provider is removed (and its queued rows dropped). */
    public static final java.time.Duration DEFAULT_REMOVAL_GRACE = java.time.Duration.ofSeconds(30);

    /**
     * {@code removalGrace}: how long a mapping file may be missing before its provider is removed. A replace that is
     * not atomic (rsync, a checkout, an editor's backup and rename) leaves the directory without the file for a
     * moment, and a removed provider's queued rows are dropped: the provider runs on meanwhile.
     */
    public ProviderRegistry(Path dir, ProviderLoader loader, java.time.Duration removalGrace) {
        this.dir = dir;
        this.loader = loader;
        this.removalGrace = removalGrace;
    }

    public Path dir() {
        return dir;
    }

    public ProviderLoader loader() {
        return loader;
    }

    /**
     * Reads the files that changed since the last reload (all of them the first time). After the first
     * load, an edited file is read only once its bytes stayed the same between two checks, so a file an
     * editor is still writing is not taken half-written.
     */
    public synchronized Changes reload() {
        Map<Path, byte[]> now = readAll();
        if (loadedOnce) {
            for (Map.Entry<Path, byte[]> e : new LinkedHashMap<>(now).entrySet()) {
                byte[] before = contents.get(e.getKey());
                if (before != null && Arrays.equals(before, e.getValue())) {
                    settling.remove(e.getKey());
                    continue;
                }
                byte[] seen = settling.put(e.getKey(), e.getValue());
                if (seen == null || !Arrays.equals(seen, e.getValue())) {
                    // not settled yet: keep the previous content (and state) for this round
                    if (before != null) {
                        now.put(e.getKey(), before);
                    } else {
                        now.remove(e.getKey());
                    }
                } else {
                    settling.remove(e.getKey());
                }
            }
        }
        java.time.Instant at = java.time.Instant.now();
        missing.keySet().removeIf(now::containsKey);
        Set<String> present = new java.util.HashSet<>();
        now.keySet().forEach(f -> present.add(idOf(f)));
        for (Path gone : contents.keySet()) {
            // no grace when the provider's other file (.yaml beside .yml) is still there: that one is read now
            if (!now.containsKey(gone) && loadedOnce && !present.contains(idOf(gone))) {
                java.time.Instant since = missing.computeIfAbsent(gone, g -> {
                    LOG.warn("Mapping file {} is gone; its provider runs on unless it is still gone in {} s", g,
                            removalGrace.toSeconds());
                    return at;
                });
                if (at.isBefore(since.plus(removalGrace))) {
                    now.put(gone, contents.get(gone));
                } else {
                    missing.remove(gone);
                }
            }
        }
        loadedOnce = true;
        // <id>.yaml and <id>.yml both there: neither is taken (which one counts would be a guess); the running version stays
        Map<String, List<Path>> byId = new LinkedHashMap<>();
        for (Path file : now.keySet()) {
            byId.computeIfAbsent(idOf(file), k -> new ArrayList<>()).add(file);
        }
        Map<String, State> next = new LinkedHashMap<>();
        List<String> added = new ArrayList<>();
        List<String> changed = new ArrayList<>();
        List<String> removed = new ArrayList<>();
        List<String> failed = new ArrayList<>();
        for (Map.Entry<Path, byte[]> e : now.entrySet()) {
            Path file = e.getKey();
            String id = idOf(file);
            State old = states.get(id);
            List<Path> same = byId.get(id);
            if (same.size() > 1) {
                if (!next.containsKey(id)) {
                    String names = same.stream().map(f -> f.getFileName().toString()).sorted().collect(java.util.stream.Collectors.joining(" and "));
                    ProviderLoader.Loaded l = new ProviderLoader.Loaded(file, id, null, null, List.of(new MappingError(names, 0, 0, "",
                            "two files for provider '" + id + "': remove one (neither is read while both are there)")));
                    next.put(id, new State(l, old == null ? null : old.running()));
                    failed.add(id);
                    LOG.error("Provider {}: both {} exist; neither is read{}", id, names,
                            old != null && old.running() != null ? "; the running version keeps running" : "");
                }
                continue;
            }
            if (old != null && Arrays.equals(contents.get(file), e.getValue()) && file.equals(old.latest().file())
                    && !duplicated.contains(id)) {
                next.put(id, old);
                continue;
            }
            String unread = unreadReason(e.getValue());
            ProviderLoader.Loaded l = unread != null
                    ? new ProviderLoader.Loaded(file, id, null, null, List.of(new MappingError(file.getFileName().toString(), 0, 0, "", unread)))
                    : loader.load(file);
            Provider running = l.valid() ? l.provider() : old == null ? null : old.running();
            next.put(id, new State(l, running));
            if (l.valid()) {
                LOG.info("Provider {} ({}) {} from {}", id, l.provider().displayName(), old == null ? "loaded" : "reloaded", file);
                (old == null || old.running() == null ? added : changed).add(id);
            } else {
                failed.add(id);
                LOG.error("Provider {}: {} has errors{}:\n  {}", id, file,
                        running != null ? "; the last good version keeps running" : "; the provider is disabled",
                        String.join("\n  ", l.messages()));
            }
        }
        for (String id : states.keySet()) {
            if (!next.containsKey(id)) {
                removed.add(id);
                LOG.warn("Provider {} removed: its mapping file is gone", id);
            }
        }
        states = next;
        contents = now;
        Set<String> twice = new java.util.HashSet<>();
        byId.forEach((id, files) -> {
            if (files.size() > 1) {
                twice.add(id);
            }
        });
        duplicated = twice;
        return new Changes(added, changed, removed, failed);
    }

    /**
     * The running version of a provider could not be started (its route failed to build): the previous
     * version runs again (or none), and the file's state carries the reason, so the API and UI do not say
     * "active" for a provider without a route.
     */
    public synchronized void startFailed(String identifier, Provider previous, String reason) {
        State s = states.get(identifier);
        if (s == null) {
            return;
        }
        ProviderLoader.Loaded l = s.latest();
        List<MappingError> errors = new ArrayList<>(l.errors());
        errors.add(new MappingError(l.file() == null ? identifier : l.file().getFileName().toString(), 0, 0, "",
                "cannot start the provider's route: " + reason
                        + (previous != null ? "; the last good version keeps running" : "; the provider is disabled")));
        Map<String, State> next = new LinkedHashMap<>(states);
        next.put(identifier, new State(new ProviderLoader.Loaded(l.file(), l.identifier(), l.config(), null, errors), previous));
        states = next;
    }

    /** Whether any file was added, removed or edited since the last reload. */
    public boolean changedOnDisk() {
        Map<Path, byte[]> now = readAll();
        if (!now.keySet().equals(contents.keySet())) {
            return true;
        }
        for (Map.Entry<Path, byte[]> e : now.entrySet()) {
            if (!Arrays.equals(contents.get(e.getKey()), e.getValue())) {
                return true;
            }
        }
        return false;
    }

    private Map<Path, byte[]> readAll() {
        Map<Path, byte[]> out = new LinkedHashMap<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> p.getFileName().toString().matches("[^.].*\\.ya?ml")).sorted().forEach(files::add);
        } catch (IOException e) {
            LOG.warn("Cannot list {}: {}", dir, e.getMessage());
            return new LinkedHashMap<>(contents);
        }
        for (Path f : files) {
            try {
                ProviderLoader.FileRead read = ProviderLoader.readFile(f, MAX_FILE_BYTES);
                if (read.problem() != null) {
                    out.put(f, unread(read.problem(), Files.getLastModifiedTime(f).toMillis()));
                    continue;
                }
                out.put(f, read.bytes());
            } catch (java.nio.file.NoSuchFileException e) {
                if (Files.isSymbolicLink(f)) {
                    // a link whose file is gone: an error to see, not a file being replaced
                    out.put(f, unread("cannot be read: it is a link to a file that does not exist", 0));
                    continue;
                }
                // replaced right now (an editor's rename): take it at the next check
                byte[] previous = contents.get(f);
                if (previous != null) {
                    out.put(f, previous);
                }
            } catch (IOException e) {
                // cannot be read (its permissions, an I/O error): a file with an error, said in the API and the log,
                // as one too large is; before, it was skipped without a word (a review), and after a restart its
                // provider was gone and its queued rows dropped
                String problem = e instanceof java.nio.file.AccessDeniedException ? PERMISSION_DENIED : "cannot be read: " + e.getMessage();
                long modified;
                try {
                    modified = Files.getLastModifiedTime(f).toMillis();
                } catch (IOException unknown) {
                    modified = 0;
                }
                out.put(f, unread(problem, modified));
            }
        }
        return out;
    }

    /** What a file not read is held as: {@link #UNREAD_MARK}, the reason, and its time (a change is seen as one). */
    private static byte[] unread(String problem, long modified) {
        byte[] why = (problem + "\0" + modified).getBytes(StandardCharsets.UTF_8);
        byte[] held = Arrays.copyOf(UNREAD_MARK, UNREAD_MARK.length + why.length);
        System.arraycopy(why, 0, held, UNREAD_MARK.length, why.length);
        return held;
    }

    /** The error of a mapping file ordersync may not read. */
    public static final String PERMISSION_DENIED = "cannot be read: permission denied (ordersync's user needs read access)";

    private static String idOf(Path file) {
        return ProviderLoader.idOf(file.getFileName().toString());
    }

    /** Why a file held as {@link #UNREAD_MARK} was not read; null for a file that was read. */
    private static String unreadReason(byte[] content) {
        if (content.length < UNREAD_MARK.length || !Arrays.equals(content, 0, UNREAD_MARK.length, UNREAD_MARK, 0, UNREAD_MARK.length)) {
            return null;
        }
        String why = new String(content, UNREAD_MARK.length, content.length - UNREAD_MARK.length, StandardCharsets.UTF_8);
        return why.substring(0, why.lastIndexOf('\0'));
    }

    /**
     * The credentials of a provider's saved file and of its running version: what an unsaved text of it may not put
     * in a path, a body or a header template (a preview without the file's auth block still names them).
     */
    public java.util.Set<String> credentials(String identifier) {
        State s = states.get(identifier);
        java.util.Set<String> out = new java.util.LinkedHashSet<>();
        if (s != null) {
            if (s.latest().provider() != null) {
                out.addAll(s.latest().provider().secretValues());
            }
            if (s.running() != null) {
                out.addAll(s.running().secretValues());
            }
        }
        return out;
    }

    /** The running version of a provider, or null. */
    public Provider active(String identifier) {
        State s = states.get(identifier);
        return s == null ? null : s.running();
    }

    public boolean isActive(String identifier) {
        return active(identifier) != null;
    }

    /** Known (has a mapping file) but no version of it can run. */
    public boolean isBroken(String identifier) {
        State s = states.get(identifier);
        return s != null && s.running() == null;
    }

    public List<String> errors(String identifier) {
        State s = states.get(identifier);
        return s == null ? List.of() : s.latest().messages();
    }

    public Map<String, State> states() {
        return states;
    }

    public Collection<ProviderLoader.Loaded> all() {
        return states.values().stream().map(State::latest).toList();
    }

    public List<Provider> active() {
        List<Provider> out = new ArrayList<>();
        for (State s : states.values()) {
            if (s.running() != null) {
                out.add(s.running());
            }
        }
        return out;
    }

    /**
     * Providers this order event is queued for: running providers whose triggers include its type and
     * whose filter the order passes; also providers that cannot run but whose file names the trigger and whose
     * filter, where it can be read, the order passes (their rows then wait, parked as a configuration error).
     */
    public List<String> subscribers(OrderDocument doc) {
        return new ArrayList<>(subscribers(doc, List.of(doc.type())).keySet());
    }

    /**
     * The providers triggered by any of {@code types} (a document that stands for several events: a new order
     * read from pretix already paid is placed and paid), each with the first of the types it is triggered by.
     * Also the providers this instance has no file for but another instance on the database runs
     * ({@link #runElsewhere}), as that instance's file subscribes them.
     */
    public Map<String, String> subscribers(OrderDocument doc, java.util.Collection<String> types) {
        Map<String, String> out = new java.util.LinkedHashMap<>();
        Map<String, State> here = states;
        Map<String, Elsewhere> others = elsewhere;
        long now = others.isEmpty() ? 0 : System.currentTimeMillis();
        for (Map.Entry<String, State> e : here.entrySet()) {
            Provider p = e.getValue().running();
            Elsewhere other = p == null ? others.get(e.getKey()) : null;
            if (other != null && other.untilMillis() > now) {
                continue; // broken here, running elsewhere: queued below as the instance that runs it says
            }
            ProviderConfig broken = p == null ? e.getValue().latest().config() : null;
            if (broken != null && broken.identifier() != null && !e.getKey().equals(broken.identifier())
                    && here.containsKey(broken.identifier())) {
                // a copy of another provider's file that is there too (crm-old.yaml, "crm copy.yaml" with identifier
                // crm beside crm.yaml): not a provider waiting for its fix, so no order is queued (and parked) for
                // it. A file renamed on purpose (crm.yaml gone, crm2.yaml still says crm) queues as any broken file
                continue;
            }
            java.util.Collection<String> triggers = p != null ? p.triggers() : broken != null ? broken.triggers() : null;
            if (triggers == null || (p != null && !Filters.orderMatches(p.filter(), doc))) {
                continue;
            }
            if (broken != null && broken.filter() != null) {
                // a file with errors: its rows are parked until it is fixed, then synced. Its filter holds as written
                // when it can be read; when it cannot, every triggered order is queued (and parked)
                Subscription sub = Subscription.of(e.getKey(), triggers, broken.filter());
                if (sub.evaluable() && !Filters.orderMatches(sub.filter(), doc)) {
                    continue;
                }
            }
            for (String type : types) {
                if (triggers.contains(type)) {
                    out.put(e.getKey(), type);
                    break;
                }
            }
        }
        if (!others.isEmpty()) {
            for (Map.Entry<String, Elsewhere> e : others.entrySet()) {
                State s = here.get(e.getKey());
                if ((s != null && s.running() != null) || e.getValue().untilMillis() <= now) {
                    continue;
                }
                for (Subscription sub : e.getValue().subscriptions()) {
                    String type = sub.triggeredBy(doc, types);
                    if (type != null) {
                        out.put(e.getKey(), type);
                        break;
                    }
                }
            }
        }
        return out;
    }

    /**
     * Whether an operator's sync of {@code doc} (one order now, or a backfill) is queued for {@code provider}: the
     * provider's filter decides, as at intake; for a file with errors its filter as written, when that can be read,
     * and what the instance that runs the provider announced. When neither can tell, the order is queued: the
     * filter is checked again when it is synced, with the file as it is then.
     */
    public boolean passesFilter(String provider, OrderDocument doc) {
        State s = states.get(provider);
        if (s != null && s.running() != null) {
            return Filters.orderMatches(s.running().filter(), doc);
        }
        Elsewhere other = elsewhere.get(provider);
        if (other != null && other.untilMillis() > System.currentTimeMillis()) {
            for (Subscription sub : other.subscriptions()) {
                if (!sub.evaluable() || Filters.orderMatches(sub.filter(), doc)) {
                    return true;
                }
            }
            return false;
        }
        ProviderConfig broken = s == null ? null : s.latest().config();
        if (broken == null || broken.filter() == null) {
            return true;
        }
        Subscription sub = Subscription.of(provider, List.of(), broken.filter());
        return !sub.evaluable() || Filters.orderMatches(sub.filter(), doc);
    }

    /**
     * Whether another live instance runs a version of {@code provider} whose filter takes {@code doc} (a deploy that
     * changes the filter: until every instance runs the new version, an order either version takes is synced).
     */
    public boolean admittedElsewhere(String provider, OrderDocument doc) {
        Elsewhere other = elsewhere.get(provider);
        if (other == null || other.untilMillis() <= System.currentTimeMillis()) {
            return false;
        }
        for (Subscription sub : other.subscriptions()) {
            if (sub.evaluable() && Filters.orderMatches(sub.filter(), doc)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The providers an operator's sync can queue an order for: those of this instance's files, and those only another
     * live instance on the database runs (a rolling deploy that adds a provider: its file is not here yet, its rows are
     * synced there). In this instance's order, then the others'.
     */
    public java.util.Set<String> syncable() {
        java.util.Set<String> out = new java.util.LinkedHashSet<>(states.keySet());
        long now = System.currentTimeMillis();
        elsewhere.forEach((id, other) -> {
            if (other.untilMillis() > now) {
                out.add(id);
            }
        });
        return out;
    }

    /** What the other instances announced for a provider: its subscriptions, valid until (epoch milliseconds). */
    public record Elsewhere(List<Subscription> subscriptions, long untilMillis) {
    }

    private volatile Map<String, Elsewhere> elsewhere = Map.of();

    /**
     * The providers the other live instances on the database run, with their subscriptions (read every second by
     * the dispatcher). An announcement runs out at its time even if no newer read replaces it.
     */
    public void runElsewhere(Map<String, Elsewhere> others) {
        this.elsewhere = Map.copyOf(others);
    }

    /** Processes (this one included) that run each provider, as the last reading of the others' word found them. */
    private volatile Map<String, Integer> runningOn = Map.of();

    /** What the dispatcher read: how many other live processes run each provider. */
    public void runningElsewhere(Map<String, Integer> othersByProvider) {
        this.runningOn = Map.copyOf(othersByProvider);
    }

    /** Whether the limits are shared with other processes (false: a database only this process can open). */
    private volatile boolean shareLimits = true;

    public void shareLimits(boolean share) {
        this.shareLimits = share;
    }

    /** How many processes on the database run this provider, this one counted: at least 1. */
    public int instances(String provider) {
        return shareLimits ? 1 + runningOn.getOrDefault(provider, 0) : 1;
    }

    /**
     * This process's share of the provider's {@code target.concurrency}: the concurrency divided among the processes
     * that run it, at least 1 (so the target sees at most the concurrency, or one sync per process when there are
     * more processes than that).
     */
    public int concurrencyShare(Provider p) {
        return share(p.concurrency(), instances(p.identifier()));
    }

    /** This process's share of the provider's {@code target.rate_limit} (requests per second), as above; 0: none. */
    public int rateShare(String provider) {
        Provider p = active(provider);
        return p == null || p.rateLimit() <= 0 ? 1 : share(p.rateLimit(), instances(provider));
    }

    /** Pure: a limit divided among {@code processes}, rounded down, at least 1. */
    public static int share(int limit, int processes) {
        return Math.max(1, limit / Math.max(1, processes));
    }

    public Map<String, Elsewhere> elsewhere() {
        return elsewhere;
    }
}
