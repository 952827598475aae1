package io.ordersync.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.db.Tx;
import io.ordersync.mapping.MappingError;
import io.ordersync.mapping.ProviderLoader;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.order.OrderStore;
import org.apache.camel.Exchange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

import javax.sql.DataSource;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.sql.PreparedStatement;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Editing mapping files through the API and the UI (API.md "Mapping editor"): validate a text as you type, splice
 * a form's properties into an object mapping (the rest of the file, its comments and layout untouched), and save —
 * only a text that validates, only over the version the editor started from, written atomically, every save
 * recorded with who and the diff. The registry's file watch then loads it (hot reload).
 */
public final class MappingEditor {

    private static final Logger LOG = LoggerFactory.getLogger(MappingEditor.class);
    static final int MAX_FILE_CHARS = 256 * 1024;

    private final ProviderRegistry providers;
    private final DataSource ds;
    private final ObjectMapper mapper;
    private final String instanceId;
    /** This process's, new at each start: its own saves are not applied again (two processes may share an id). */
    private final String incarnation = java.util.UUID.randomUUID().toString();
    private final java.time.Clock clock;
    private final boolean shareEdits;
    /** Changes of other processes already looked at (id → when it was saved), within {@link #EDITS_WINDOW}. */
    private final Map<Long, Instant> handled = new java.util.HashMap<>();
    /** Whether the start's look at files older than the editor's last save was made. */
    private boolean looked;
    /**
     * How far back each look for other processes' saves reaches: ids are given at the insert and committed in
     * another order, so the look goes by time and remembers what it handled, not by the highest id.
     */
    static final java.time.Duration EDITS_WINDOW = java.time.Duration.ofMinutes(2);

    /**
     * {@code clock}: the queue's (the database's), which stamps and finds saves; {@code shareEdits}: apply the saves
     * made through the editor of another instance on this database to this instance's files
     * ({@code ordersync.mappings.share-edits}); {@code signer}: signs a save and checks another's, with the key derived
     * from the admin credentials (a row someone wrote into the table without knowing them is applied nowhere).
     */
    public MappingEditor(ProviderRegistry providers, DataSource ds, ObjectMapper mapper, String instanceId, java.time.Clock clock,
                         boolean shareEdits, UiSessions signer) {
        this.providers = providers;
        this.ds = ds;
        this.mapper = mapper;
        this.instanceId = instanceId;
        this.clock = clock;
        this.shareEdits = shareEdits;
        this.signer = signer;
    }

    private final UiSessions signer;

    /** The save's signature, or null when the key cannot be had (the save is made here all the same; others skip it). */
    private String signature(String provider, String base, String made, String text) {
        try {
            return signer.sign(SIGNED, signedPart(provider, base, made, text));
        } catch (UiSessions.Unavailable unsigned) {
            return null;
        }
    }
    static final String SIGNED = "mapping-change";

    /** What a save's signature covers: the provider, both versions and the text. */
    static String signedPart(String provider, String base, String made, String content) {
        return provider + "\0" + base + "\0" + made + "\0" + content;
    }

    private Path file(String id) {
        ProviderRegistry.State s = id == null ? null : providers.states().get(id);
        return s == null ? null : s.latest().file();
    }

    static String hash(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)), 0, 16);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The placeholders ({{…}}) a text uses. */
    static Set<String> placeholders(String text) {
        Set<String> out = new java.util.HashSet<>();
        Matcher m = Pattern.compile("\\{\\{[^{}]+}}").matcher(text);
        while (m.find()) {
            out.add(m.group());
        }
        return out;
    }

    /** A mapping file that the editor cannot show: not a regular file, or over the size a mapping file may have. */
    public static final class UnreadableFile extends java.io.IOException {
        UnreadableFile(String message) {
            super(message);
        }
    }

    /**
     * A mapping file's text as the editor shows and saves it: read as the registry reads it (no FIFO or device, at
     * most 1 MiB); bytes that are not UTF-8 shown as U+FFFD, so a file saved in another encoding opens and a save
     * replaces it (the registry reports it with line and column meanwhile).
     */
    public static String readText(Path f) throws java.io.IOException {
        ProviderLoader.FileRead read;
        try {
            read = ProviderLoader.readFile(f, ProviderRegistry.MAX_FILE_BYTES);
        } catch (java.nio.file.NoSuchFileException gone) {
            throw new UnreadableFile(f.getFileName() + " is gone from the mappings directory (its provider runs on for the "
                    + "removal grace, then is removed); put it back on disk to edit it");
        } catch (java.nio.file.AccessDeniedException denied) {
            throw new UnreadableFile(f.getFileName() + ": " + ProviderRegistry.PERMISSION_DENIED + "; fix it on disk");
        } catch (java.io.IOException failed) {
            throw new UnreadableFile(f.getFileName() + ": cannot be read: " + failed.getMessage() + "; fix it on disk");
        }
        if (read.problem() != null) {
            throw new UnreadableFile(f.getFileName() + ": " + read.problem() + "; fix it on disk");
        }
        return new String(read.bytes(), StandardCharsets.UTF_8);
    }

    /** Loads an edited text as the registry would, resolving only the placeholders its saved file uses. */
    private ProviderLoader.Loaded load(Edit e) throws Exception {
        Set<String> allowed = placeholders(readText(e.file()));
        return providers.loader().restrictedTo(allowed, providers.credentials(e.id())).load(e.file().getFileName().toString(), e.text(), e.file());
    }

    private static List<Map<String, Object>> errors(ProviderLoader.Loaded l) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (MappingError e : l.errors()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("line", e.line());
            m.put("column", e.column());
            m.put("path", e.path());
            m.put("message", e.message());
            m.put("text", e.toString());
            out.add(m);
        }
        return out;
    }

    /** The provider, its file and the edited text of a request; null after answering 404 or 413. */
    private record Edit(String id, Path file, String text) {
    }

    private Edit edit(Exchange exchange) throws Exception {
        String id = exchange.getIn().getHeader("id", String.class);
        Path f = file(id);
        if (f == null) {
            Json.reply(mapper, exchange, 404, Map.of("error", "no provider '" + id + "'"));
            return null;
        }
        String body = exchange.getIn().getBody(String.class);
        String text = body == null ? "" : body;
        if (text.length() > MAX_FILE_CHARS) {
            Json.reply(mapper, exchange, 413, Map.of("error", "a mapping file is at most " + MAX_FILE_CHARS + " characters"));
            return null;
        }
        return new Edit(id, f, text);
    }

    /** {@code GET /api/providers/{id}/edit}: the file's text and its version (for the save's base). */
    public void open(Exchange exchange) throws Exception {
        String id = exchange.getIn().getHeader("id", String.class);
        Path f = file(id);
        if (f == null) {
            Json.reply(mapper, exchange, 404, Map.of("error", "no provider '" + id + "'"));
            return;
        }
        String text;
        try {
            text = readText(f);
        } catch (UnreadableFile unreadable) {
            Json.reply(mapper, exchange, 422, Map.of("error", unreadable.getMessage()));
            return;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("provider", id);
        out.put("file", f.getFileName().toString());
        out.put("text", text);
        out.put("version", hash(text));
        out.put("objects", structure(text));
        Json.reply(mapper, exchange, 200, out);
    }

    private static final ObjectMapper YAML = new ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory());

    /** The object mappings of a text as the form shows them (id, source, properties), or null when it does not parse. */
    static List<Map<String, Object>> structure(String text) {
        try {
            JsonNode root = YAML.readTree(text);
            List<Map<String, Object>> out = new ArrayList<>();
            for (JsonNode o : root.path("objects")) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("id", o.path("id").asText(""));
                m.put("source", o.path("source").asText(""));
                m.put("properties", o.path("properties").isArray() ? o.path("properties") : List.of());
                out.add(m);
            }
            return out;
        } catch (Exception e) {
            return null;
        }
    }

    /** {@code POST /api/providers/{id}/validate} with the YAML text: its errors, each with line and column. */
    public void validate(Exchange exchange) throws Exception {
        Edit e = edit(exchange);
        if (e == null) {
            return;
        }
        ProviderLoader.Loaded l;
        try {
            l = load(e);
        } catch (UnreadableFile unreadable) {
            Json.reply(mapper, exchange, 422, Map.of("error", unreadable.getMessage()));
            return;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("valid", l.valid());
        out.put("errors", errors(l));
        out.put("objects", structure(e.text()));
        Json.reply(mapper, exchange, 200, out);
    }

    /**
     * {@code PUT /api/providers/{id}/file} with the YAML text and header {@code X-Ordersync-Base: <version>}: saved
     * when it validates (422 with the errors otherwise) and the file is still the version the editor opened (409
     * otherwise); the write is atomic; the change is recorded.
     */
    public void save(Exchange exchange) throws Exception {
        Edit e = edit(exchange);
        if (e == null) {
            return;
        }
        String id = e.id();
        Path f = e.file();
        String base = AdminAuth.requestHeader(exchange, "X-Ordersync-Base");
        synchronized (this) {
            String current;
            try {
                current = readText(f);
            } catch (UnreadableFile unreadable) {
                Json.reply(mapper, exchange, 409, Map.of("error", unreadable.getMessage()));
                return;
            }
            String text = keepLineEnds(current, e.text());
            if (base == null || !base.equals(hash(current))) {
                Json.reply(mapper, exchange, 409, Map.of("error", "the file changed since it was opened (or no X-Ordersync-Base was "
                        + "given): reload it and apply the edit again", "version", hash(current)));
                return;
            }
            ProviderLoader.Loaded l = load(e);
            if (!l.valid()) {
                Json.reply(mapper, exchange, 422, Map.of("error", "the mapping has errors: not saved", "errors", errors(l)));
                return;
            }
            if (!id.equals(l.identifier())) {
                Json.reply(mapper, exchange, 422, Map.of("error", "identifier must stay '" + id + "' (the file name)"));
                return;
            }
            if (text.equals(current)) {
                Json.reply(mapper, exchange, 200, Map.of("saved", false, "version", hash(current), "diff", ""));
                return;
            }
            String diff = unifiedDiff(f.getFileName().toString(), current, text);
            String made = hash(text);
            String signature = signature(id, base, made, text);
            String actor = exchange.getProperty(AdminAuth.ACTOR, "unknown", String.class);
            lockRow(id);
            boolean[] written = {false};
            // durable: the other instances apply what is recorded here (a change lost in a crash would reach none).
            // Under the provider's lock row: a save of the same version on another instance a moment ago (not here
            // yet) is a conflict, as on one instance; otherwise the two would keep different files for good
            String raced;
            try {
                raced = Tx.runDurable(ds, c -> {
                    try (PreparedStatement lock = c.prepareStatement("SELECT provider FROM mapping_lock WHERE provider = ? FOR UPDATE")) {
                        lock.setString(1, id);
                        lock.executeQuery().close();
                    }
                    try (PreparedStatement q = c.prepareStatement("SELECT instance_id FROM mapping_change WHERE provider = ? "
                            + "AND base_version = ? AND incarnation <> ? AND changed_at >= ? FETCH FIRST 1 ROWS ONLY")) {
                        q.setString(1, id);
                        q.setString(2, base);
                        q.setString(3, incarnation);
                        q.setObject(4, clock.instant().minus(EDITS_WINDOW).atOffset(ZoneOffset.UTC));
                        try (java.sql.ResultSet rs = q.executeQuery()) {
                            if (rs.next()) {
                                return rs.getString(1) == null ? "?" : printable(rs.getString(1));
                            }
                        }
                    }
                    try (PreparedStatement ps = c.prepareStatement("INSERT INTO mapping_change (provider, actor, diff, changed_at, "
                            + "base_version, new_version, content, instance_id, incarnation, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                        ps.setString(1, id);
                        ps.setString(2, actor);
                        ps.setString(3, diff);
                        ps.setObject(4, clock.instant().atOffset(ZoneOffset.UTC));
                        ps.setString(5, base);
                        ps.setString(6, made);
                        ps.setString(7, text);
                        ps.setString(8, instanceId);
                        ps.setString(9, incarnation);
                        ps.setString(10, signature);
                        ps.executeUpdate();
                    }
                    // the file last: a change the database did not record is not written (found by a review: a
                    // refused insert left the new file running, unrecorded, and never sent to the other instances)
                    write(f, text, base);
                    written[0] = true;
                    return null;
                });
            } catch (RuntimeException failed) {
                if (written[0]) {
                    // the commit failed after the file was replaced: the old text goes back, as nothing was recorded
                    try {
                        write(f, current, made);
                        LOG.warn("Saving {} failed at the commit; the file is back to its previous text", f.getFileName());
                    } catch (java.io.IOException | RuntimeException restore) {
                        failed.addSuppressed(restore);
                        LOG.error("Saving {} failed at the commit, and the previous text could not be put back", f.getFileName(), restore);
                    }
                }
                if (failed.getCause() instanceof ChangedOnDisk changed) {
                    Map<String, Object> answer = new LinkedHashMap<>();
                    answer.put("error", changed.getMessage() + ": not saved; reload it and apply the edit again");
                    try {
                        answer.put("version", hash(readText(f)));
                    } catch (java.io.IOException unreadable) {
                        // gone or unreadable now: no version to give
                    }
                    Json.reply(mapper, exchange, 409, answer);
                    return;
                }
                throw failed;
            }
            if (raced != null) {
                Json.reply(mapper, exchange, 409, Map.of("error", "the file was just saved from the same version on instance " + raced
                        + ": it reaches this instance within a second or two; reload it and apply the edit again", "version", base));
                return;
            }
            LOG.info("Mapping file {} saved by {} through the API", f.getFileName(), actor);
            Json.reply(mapper, exchange, 200, Map.of("saved", true, "version", hash(text), "diff", diff));
        }
    }

    /**
     * Writes a mapping file atomically: the file a link points to is replaced, not the link; and it keeps its mode
     * (a temporary file is 0600).
     */
    /** The file on disk is no longer the version a write replaces: edited by hand (or deployed) meanwhile. */
    static final class ChangedOnDisk extends java.io.IOException {
        ChangedOnDisk(String message) {
            super(message);
        }
    }

    /**
     * Replaces the file, which must still be version {@code replaces}: checked right before the atomic move, after
     * the new text is written beside it, so an edit on disk since the caller read the file is not overwritten
     * (found by an attack: a save whose validation took 0.35 s silently undid a hand edit made meanwhile). What is
     * left is the moment between that check and the move.
     */
    static void write(Path f, String text, String replaces) throws java.io.IOException {
        Path real = f.toRealPath();
        Path tmp = Files.createTempFile(real.getParent(), "." + real.getFileName() + "-", ".tmp");
        try {
            Files.writeString(tmp, text);
            try {
                Files.setPosixFilePermissions(tmp, Files.getPosixFilePermissions(real));
            } catch (UnsupportedOperationException notPosix) {
                // Windows: the directory's default
            }
            String now;
            try {
                now = readText(real);
            } catch (java.io.IOException unreadable) {
                throw new ChangedOnDisk(f.getFileName() + " was changed on disk while it was saved (" + unreadable.getMessage() + ")");
            }
            if (!hash(now).equals(replaces)) {
                throw new ChangedOnDisk(f.getFileName() + " was changed on disk while it was saved");
            }
            Files.move(tmp, real, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** What a look at another process's save does with this instance's file. */
    enum Apply { WRITE, ALREADY, DIFFERENT }

    /** Pure: the file's version against the versions a save replaced and made. */
    static Apply decide(String fileVersion, String baseVersion, String newVersion) {
        if (fileVersion.equals(newVersion)) {
            return Apply.ALREADY;
        }
        return fileVersion.equals(baseVersion) ? Apply.WRITE : Apply.DIFFERENT;
    }

    /** A save of another process, without its text ({@code length}: the text's, in characters). */
    private record Change(long id, String provider, String actor, Instant at, String base, String made, String instanceId,
                          String incarnation, String signature, long length) {
    }

    /** The provider's row in {@code mapping_lock}, made once (a second instance that races it finds it made). */
    private void lockRow(String provider) {
        try {
            Tx.run(ds, c -> {
                try (PreparedStatement ins = c.prepareStatement("INSERT INTO mapping_lock (provider) SELECT ? WHERE NOT EXISTS "
                        + "(SELECT 1 FROM mapping_lock WHERE provider = ?)")) {
                    ins.setString(1, provider);
                    ins.setString(2, provider);
                    ins.executeUpdate();
                }
                return null;
            });
        } catch (Tx.TxException raced) {
            // made by another instance at the same moment: there now
        }
    }

    /** A value of a row as it may go into a log line: printable, at most 100 characters. */
    private static String printable(String value) {
        if (value == null) {
            return null;
        }
        String cut = value.length() > 100 ? value.substring(0, 100) + "…" : value;
        return cut.replaceAll("\\p{Cntrl}", "?");
    }

    /** The text of a save, read when it is to be written. */
    private String content(long id) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT content FROM mapping_change WHERE id = ?")) {
                ps.setLong(1, id);
                try (java.sql.ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? rs.getString(1) : null;
                }
            }
        });
    }

    /**
     * Route {@code mappings-watch}, before the reload: the saves made through the editor of another instance on this
     * database since this process started are applied to this instance's files, in the order they were made: a
     * file that is still the version a save replaced gets the saved text (written as a save writes it; the reload
     * right after loads it), one that already has it is left alone (a shared mappings directory), one that differs
     * is left alone with a warning. A text that does not load here (a placeholder this instance cannot resolve) is
     * not written either. Saves made before this process started are not applied: it runs the files it was
     * deployed with, and a file that is a version the editor replaced is named in a warning.
     */
    public synchronized void applyEditsOfOthers() {
        if (!shareEdits) {
            return;
        }
        try {
            lookForEditsOfOthers();
        } catch (Exception e) {
            // never in the way of the reload that follows in the route (the files on disk are loaded all the same)
            Instant now = Instant.now();
            if (lastFailureLogged == null || now.isAfter(lastFailureLogged.plusSeconds(60))) {
                lastFailureLogged = now;
                LOG.warn("Could not look for mapping files saved through another instance's editor (tried again every "
                        + "second, said again in a minute at most): {}", e.toString());
            }
        }
    }

    private Instant lastFailureLogged;
    /** The queue's time of the last look that worked (null before the first). */
    private Instant lastLook;
    /** Saves whose apply failed, by id: how many times. */
    private final Map<Long, Integer> failures = new java.util.HashMap<>();
    /** Tries (one a second) before a save that cannot be applied is given up. */
    static final int GIVE_UP_AFTER = 60;
    /** The queue's time when this process's routes were about to start (null: not told; the first look's time). */
    private volatile Instant startedAt;

    /** Called before the routes start: saves of other instances from now on are applied, earlier ones are not. */
    public void started() {
        startedAt = clock.instant();
    }

    private void lookForEditsOfOthers() throws Exception {
        Instant now = clock.instant();
        boolean first = !looked;
        Instant start = startedAt != null ? startedAt : now;
        // from the last look that worked (or the start), with the window's overlap for saves committed late: an
        // instance that could not look for a while (the database out of reach) still finds what was saved meanwhile
        Instant from = lastLook != null ? lastLook : start;
        Instant since = (from.isBefore(now) ? from : now).minus(EDITS_WINDOW);
        handled.values().removeIf(at -> at.isBefore(since));
        // the texts are read only for saves not handled yet (a look every second must not read them all again)
        List<Change> changes = Tx.run(ds, c -> {
            List<Change> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT id, provider, actor, changed_at, base_version, new_version, "
                    + "instance_id, incarnation, signature, LENGTH(content) FROM mapping_change WHERE changed_at >= ? "
                    + "AND content IS NOT NULL AND incarnation <> ? ORDER BY id")) {
                ps.setObject(1, since.atOffset(ZoneOffset.UTC));
                ps.setString(2, incarnation);
                try (java.sql.ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(new Change(rs.getLong(1), rs.getString(2), printable(rs.getString(3)),
                                rs.getObject(4, java.time.OffsetDateTime.class).toInstant(), rs.getString(5), rs.getString(6),
                                printable(rs.getString(7)), rs.getString(8), rs.getString(9), rs.getLong(10)));
                    }
                }
            }
            return out;
        });
        if (first) {
            // saves made before this process started are not applied: it runs the files it was deployed with (a
            // restart right after a save would otherwise undo a deploy of other files); it says so when one of them
            // is a version the editor replaced. Those made since its start are, below
            changes.stream().filter(ch -> ch.at().isBefore(start)).forEach(ch -> handled.put(ch.id(), ch.at()));
        }
        Set<String> held = new java.util.HashSet<>();
        for (Change ch : changes) {
            if (handled.containsKey(ch.id()) || held.contains(ch.provider())) {
                continue;
            }
            try {
                apply(ch);
                handled.put(ch.id(), ch.at());
                failures.remove(ch.id());
            } catch (Exception e) {
                // tried again at the next look; later saves of this provider wait for it (they were made on it), the
                // others go on. After a minute of failures it is given up, and said so
                held.add(ch.provider());
                int n = failures.merge(ch.id(), 1, Integer::sum);
                if (n >= GIVE_UP_AFTER) {
                    handled.put(ch.id(), ch.at());
                    failures.remove(ch.id());
                    LOG.error("Mapping file of {}: the edit #{} saved by {} on instance {} could not be applied here, {} tries: {}. "
                            + "Given up: this instance keeps its file", ch.provider(), ch.id(), ch.actor(), ch.instanceId(), n, e.toString());
                } else if (n == 1) {
                    LOG.warn("Mapping file of {}: the edit #{} saved by {} on instance {} could not be applied here (tried again "
                            + "every second): {}", ch.provider(), ch.id(), ch.actor(), ch.instanceId(), e.toString());
                }
            }
        }
        lastLook = now;
        if (first) {
            // after the saves since the start are applied: a file they brought up to date is no warning
            looked = true;
            warnAboutReplacedFiles(start);
        }
    }

    private void apply(Change ch) throws Exception {
        Path f = file(ch.provider());
        if (f == null || ch.base() == null || ch.made() == null) {
            // a provider this instance has no file for: the instances that run it apply it
            return;
        }
        String what = "the edit #" + ch.id() + " saved by " + ch.actor() + " on instance " + ch.instanceId();
        String current = readText(f);
        switch (decide(hash(current), ch.base(), ch.made())) {
            case ALREADY -> {
                // the same file (a shared directory), or applied already
            }
            case DIFFERENT -> LOG.warn("Mapping file {}: {} is not applied here: this instance's file is not the version that "
                    + "edit was made on (edited here or deployed differently). Give every instance the same files", f.getFileName(), what);
            case WRITE -> {
                String content = ch.length() > MAX_FILE_CHARS ? null : content(ch.id());
                if (content == null || !hash(content).equals(ch.made())
                        || !signer.signed(SIGNED, signedPart(ch.provider(), ch.base(), ch.made(), content), ch.signature())) {
                    LOG.warn("Mapping file {}: {} is not applied here: its signature does not hold (the instances have different "
                            + "admin credentials, or the row was not written by ordersync)", f.getFileName(), what);
                    return;
                }
                ProviderLoader.Loaded l = load(new Edit(ch.provider(), f, content));
                if (!l.valid() || !ch.provider().equals(l.identifier())) {
                    LOG.warn("Mapping file {}: {} is not applied here: it does not load on this instance: {}", f.getFileName(), what,
                            l.errors().isEmpty() ? "its identifier is not '" + ch.provider() + "'" : l.errors().get(0));
                    return;
                }
                write(f, content, hash(current));
                LOG.info("Mapping file {}: applied {}", f.getFileName(), what);
            }
        }
    }

    /**
     * At the first look: a file that is a version some save through the editor before this process's start replaced
     * is named in a warning (saves since the start were applied, or said why not, one by one).
     */
    private void warnAboutReplacedFiles(Instant start) {
        java.time.OffsetDateTime before = start.atOffset(ZoneOffset.UTC);
        for (Map.Entry<String, ProviderRegistry.State> e : providers.states().entrySet()) {
            try {
                Path f = e.getValue().latest().file();
                if (f == null || !Files.isRegularFile(f)) {
                    continue;
                }
                String version = hash(readText(f));
                Map<String, Object> newest = Tx.run(ds, c -> {
                    List<Map<String, Object>> rows = OrderStore.rows(c, "SELECT id, actor, changed_at, instance_id, new_version "
                            + "FROM mapping_change WHERE provider = ? AND new_version IS NOT NULL AND changed_at < ? ORDER BY id DESC "
                            + "FETCH FIRST 1 ROWS ONLY", e.getKey(), before);
                    return rows.isEmpty() ? null : rows.get(0);
                });
                if (newest == null || version.equals(newest.get("new_version"))) {
                    continue;
                }
                // only a version a save replaced: a file deployed with changes of its own is the operator's choice
                boolean replaced = Tx.run(ds, c -> !OrderStore.rows(c, "SELECT id FROM mapping_change WHERE provider = ? AND base_version = ? "
                        + "AND changed_at < ? FETCH FIRST 1 ROWS ONLY", e.getKey(), version, before).isEmpty());
                if (replaced) {
                    LOG.warn("Mapping file {} is a version the editor replaced (its last save: #{} by {} on instance {} at {}): this "
                            + "instance runs the file it was deployed with. Put the editor's changes into the files you deploy "
                            + "(GET /api/providers/{}/history has them as diffs)", f.getFileName(), newest.get("id"), newest.get("actor"),
                            newest.get("instance_id"), newest.get("changed_at"), e.getKey());
                }
            } catch (Exception ex) {
                LOG.debug("Could not compare mapping file of {} with the editor's saves: {}", e.getKey(), ex.toString());
            }
        }
    }

    /**
     * The text to write: with the file's Windows line ends (CRLF) when the file has them and the text none (a browser's
     * editor sends LF). Before, a save of a CRLF file wrote it with LF, and its diff showed every line as changed.
     */
    static String keepLineEnds(String current, String text) {
        boolean crlf = current.contains("\r\n") && current.replace("\r\n", "").indexOf('\n') < 0;
        return crlf && text.indexOf('\r') < 0 ? text.replace("\n", "\r\n") : text;
    }

    /** A unified diff (3 lines of context) of two versions of a file. */
    static String unifiedDiff(String name, String before, String after) {
        // lines without their CR: a CRLF file's diff is about its text, not its line ends
        List<String> a = List.of(before.split("\r?\n", -1));
        List<String> b = List.of(after.split("\r?\n", -1));
        var patch = com.github.difflib.DiffUtils.diff(a, b);
        return String.join("\n", com.github.difflib.UnifiedDiffUtils.generateUnifiedDiff("a/" + name, "b/" + name, a, patch, 3));
    }

    /** {@code GET /api/fields}: the source fields a mapping can read, by the part of the order they come from. */
    public void fields(Exchange exchange) throws Exception {
        List<Map<String, Object>> out = new ArrayList<>();
        for (io.ordersync.order.SourceFields.Field f : io.ordersync.order.SourceFields.catalogue()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", f.name());
            m.put("input", f.input().name().toLowerCase(java.util.Locale.ROOT));
            m.put("type", f.type());
            m.put("label", f.label());
            out.add(m);
        }
        Json.reply(mapper, exchange, 200, Map.of("fields", out, "patterns", List.of("attendee_name_<part>", "invoice_address_name_<part>",
                "question_<identifier>", "checkin_date_<list id>")));
    }

    /** {@code GET /api/providers/{id}/history}: the saves of the file, newest first. */
    public void history(Exchange exchange) throws Exception {
        String id = exchange.getIn().getHeader("id", String.class);
        Json.reply(mapper, exchange, 200, Map.of("changes", Tx.run(ds, c -> OrderStore.rows(c,
                "SELECT id, actor, diff, changed_at, instance_id FROM mapping_change WHERE provider = ? ORDER BY id DESC FETCH FIRST 100 ROWS ONLY", id))));
    }

    /**
     * {@code POST /api/providers/{id}/properties} {@code {"text": yaml, "object": 0, "properties": [{…}]}}: the text with
     * that object mapping's properties replaced by these (one flow mapping a line, in order); nothing else of the
     * text changes. Not saved: the editor validates and saves it.
     */
    public void properties(Exchange exchange) throws Exception {
        JsonNode in = Json.body(mapper, exchange);
        if (in == null || !in.path("text").isTextual() || !in.path("object").canConvertToInt() || !in.path("properties").isArray()) {
            Json.reply(mapper, exchange, 400, Map.of("error", "body: {\"text\": yaml, \"object\": index, \"properties\": [ … ]}"));
            return;
        }
        try {
            Json.reply(mapper, exchange, 200, Map.of("text", splice(in.path("text").asText(), in.path("object").asInt(), in.path("properties"))));
        } catch (IllegalArgumentException e) {
            Json.reply(mapper, exchange, 422, Map.of("error", e.getMessage()));
        }
    }

    /** A line break of YAML other than LF and CRLF: a lone CR, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR. */
    private static final java.util.regex.Pattern OTHER_LINE_BREAK = java.util.regex.Pattern.compile("\r(?!\n)|[\u0085\u2028\u2029]");

    private static final List<String> KEYS = List.of("source", "value", "template", "ref", "ref_field", "remote", "mode", "list", "value_map");

    /** The text with object {@code index}'s properties block replaced; pure, for tests. */
    static String splice(String text, int index, JsonNode properties) {
        if (text.length() > MAX_FILE_CHARS) {
            throw new IllegalArgumentException("a mapping file is at most " + MAX_FILE_CHARS + " characters");
        }
        // the form cuts the text into lines at LF (a CR before it stays with its line); SnakeYAML's lines also end at a
        // lone CR, NEL, LS and PS, so its marks pointed elsewhere: past the end (a 500), or a block spliced into the
        // wrong lines, silently (found by an attack)
        java.util.regex.Matcher other = OTHER_LINE_BREAK.matcher(text);
        if (other.find()) {
            int line = 1 + (int) text.substring(0, other.start()).chars().filter(ch -> ch == '\n').count();
            throw new IllegalArgumentException("the form edits files whose lines end in LF or CRLF; line " + line + " has another "
                    + "line break (U+" + String.format(java.util.Locale.ROOT, "%04X", (int) text.charAt(other.start())) + "): edit the file as text");
        }
        Node root;
        try {
            root = new Yaml(new LoaderOptions()).compose(new StringReader(text));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("the text is not YAML the form can edit: " + e.getMessage().split("\n")[0]);
        }
        SequenceNode objects = root instanceof MappingNode m && value(m, "objects") instanceof SequenceNode s ? s : null;
        if (objects == null || index < 0 || index >= objects.getValue().size() || !(objects.getValue().get(index) instanceof MappingNode object)) {
            throw new IllegalArgumentException("no object mapping " + index + " (objects must be a list of mappings)");
        }
        String[] lines = text.split("\n", -1);
        StringBuilder block = new StringBuilder();
        int keyIndent = object.getStartMark().getColumn();
        String pad = " ".repeat(keyIndent + 2);
        for (JsonNode p : properties) {
            if (!p.isObject()) {
                throw new IllegalArgumentException("each property is an object such as {\"source\": \"email\", \"remote\": \"email\"}");
            }
            block.append(pad).append("- ").append(flow(p)).append('\n');
        }
        NodeTuple existing = tuple(object, "properties");
        List<String> out = new ArrayList<>();
        if (existing == null) {
            // no properties yet: after the object's last line
            int end = lastLine(object, lines);
            for (int i = 0; i <= end; i++) {
                out.add(lines[i]);
            }
            out.add(" ".repeat(keyIndent) + "properties:" + (properties.isEmpty() ? " []" : ""));
            if (!block.isEmpty()) {
                out.add(block.substring(0, block.length() - 1));
            }
            for (int i = end + 1; i < lines.length; i++) {
                out.add(lines[i]);
            }
            return String.join("\n", out);
        }
        int keyLine = existing.getKeyNode().getStartMark().getLine();
        Node value = existing.getValueNode();
        int endLine = endLine(value, lines, keyLine);
        // keep comments and blank lines that follow the last item out of the replaced block
        while (endLine > keyLine && (lines[endLine].isBlank() || lines[endLine].strip().startsWith("#"))) {
            endLine--;
        }
        for (int i = 0; i < keyLine; i++) {
            out.add(lines[i]);
        }
        out.add(lines[keyLine].substring(0, existing.getKeyNode().getStartMark().getColumn()) + "properties:" + (properties.isEmpty() ? " []" : ""));
        if (!block.isEmpty()) {
            out.add(block.substring(0, block.length() - 1));
        }
        for (int i = endLine + 1; i < lines.length; i++) {
            out.add(lines[i]);
        }
        return String.join("\n", out);
    }

    /**
     * The last line of a node: a block node's end mark is where the next token starts (the next line, or the next
     * item's dash), so a mark with only white space before it on its line ends the line above.
     */
    private static int endLine(Node node, String[] lines, int floor) {
        int end = Math.min(node.getEndMark().getLine(), lines.length - 1);
        int col = node.getEndMark().getColumn();
        if (end > floor && lines[end].substring(0, Math.min(col, lines[end].length())).isBlank()) {
            end--;
        }
        return end;
    }

    private static int lastLine(MappingNode object, String[] lines) {
        int end = endLine(object, lines, object.getStartMark().getLine());
        while (end > object.getStartMark().getLine() && (lines[end].isBlank() || lines[end].strip().startsWith("#"))) {
            end--;
        }
        return Math.min(end, lines.length - 1);
    }

    /** One property as a YAML flow mapping, its keys in the usual order, values quoted where YAML needs it. */
    static String flow(JsonNode p) {
        List<String> parts = new ArrayList<>();
        for (String k : KEYS) {
            JsonNode v = p.get(k);
            if (v == null || v.isNull() || v.isTextual() && v.asText().isEmpty()) {
                continue;
            }
            parts.add(k + ": " + scalar(v));
        }
        var it = p.fieldNames();
        while (it.hasNext()) {
            String k = it.next();
            if (!KEYS.contains(k)) {
                throw new IllegalArgumentException("unknown property key '" + k + "'");
            }
        }
        return "{" + String.join(", ", parts) + "}";
    }

    private static String scalar(JsonNode v) {
        if (v.isObject()) {
            List<String> kv = new ArrayList<>();
            v.fields().forEachRemaining(e -> kv.add(quote(e.getKey()) + ": " + scalar(e.getValue())));
            return "{" + String.join(", ", kv) + "}";
        }
        if (v.isBoolean() || v.isNumber()) {
            return v.asText();
        }
        return quote(v.asText());
    }

    private static String quote(String s) {
        if (s.matches("[A-Za-z_][A-Za-z0-9_.\\-]*") && !s.matches("(?i)true|false|yes|no|on|off|null|~")) {
            return s;
        }
        // YAML double-quoted: every character that is not printable as it is goes as an escape (a raw CR was read
        // as a space, a NUL made the file unreadable; found by an attack)
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        s.codePoints().forEach(cp -> {
            switch (cp) {
                case '\\' -> sb.append("\\\\");
                case '"' -> sb.append("\\\"");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (Character.isISOControl(cp) || cp == 0x2028 || cp == 0x2029 || cp == 0x85 || cp == 0xFEFF
                            || cp == 0xFFFE || cp == 0xFFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                        sb.append(String.format(java.util.Locale.ROOT, "\\u%04X", cp));
                    } else {
                        sb.appendCodePoint(cp);
                    }
                }
            }
        });
        return sb.append('"').toString();
    }

    private static NodeTuple tuple(MappingNode m, String key) {
        for (NodeTuple t : m.getValue()) {
            if (t.getKeyNode() instanceof ScalarNode k && k.getValue().equals(key)) {
                return t;
            }
        }
        return null;
    }

    private static Node value(MappingNode m, String key) {
        NodeTuple t = tuple(m, key);
        return t == null ? null : t.getValueNode();
    }
}
