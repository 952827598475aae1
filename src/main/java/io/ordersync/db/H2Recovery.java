package io.ordersync.db;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Rebuilds an embedded H2 database whose file H2 no longer opens ({@code ./ordersync recover-db}). H2 2.3 can leave
 * its file damaged after a kill or a power cut ("File corrupted while reading record", RELIABILITY.md): the data is
 * still in the file, and H2's {@code Recover} tool reads it out as SQL. This runs that tool on a copy, keeps the
 * damaged file beside the database as {@code <name>.mv.db.damaged-<UTC time>}, runs the SQL into a new file
 * under the database's own name and user, and reports what the new database holds.
 */
public final class H2Recovery {

    /** H2's error code for a file it cannot read ({@code ErrorCode.FILE_CORRUPTED_1}). */
    static final int FILE_CORRUPTED = 90030;

    /** What a recovery did. */
    public record Result(boolean rebuilt, Path database, Path damaged, Map<String, Long> counts) {
    }

    private H2Recovery() {
    }

    /**
     * The database file's path without {@code .mv.db} for an embedded H2 file URL ({@code jdbc:h2:file:…} or
     * {@code jdbc:h2:<path>}), else null (in memory, a server, PostgreSQL).
     */
    public static Path fileOf(String jdbcUrl) {
        if (jdbcUrl == null || !jdbcUrl.startsWith("jdbc:h2:")) {
            return null;
        }
        String rest = jdbcUrl.substring("jdbc:h2:".length());
        int options = rest.indexOf(';');
        if (options >= 0) {
            rest = rest.substring(0, options);
        }
        if (rest.startsWith("file:")) {
            rest = rest.substring("file:".length());
        } else if (rest.matches("^[a-zA-Z][a-zA-Z0-9+]*:.*") && !rest.matches("^[a-zA-Z]:[\\\\/].*")) {
            return null; // mem:, tcp:, ssl:, zip:, nio…: not a file this tool can rebuild (a Windows drive is one)
        }
        if (rest.startsWith("~")) {
            rest = System.getProperty("user.home") + rest.substring(1);
        }
        return rest.isEmpty() ? null : Path.of(rest).toAbsolutePath().normalize();
    }

    /**
     * Deletes the copies of damaged files ({@code <name>.mv.db.damaged-<UTC time>}) that recoveries of the database of
     * {@code jdbcUrl} kept, whose time is before {@code before}: they hold the orders of then, personal data the orders'
     * retention would have deleted from the database by now (a review: with {@code h2-recover=auto} they piled up).
     * Returns the files deleted; nothing for a URL that is not an H2 file.
     */
    public static List<Path> deleteDamagedCopiesBefore(String jdbcUrl, java.time.Instant before) {
        Path base = fileOf(jdbcUrl);
        if (base == null || base.getParent() == null || !Files.isDirectory(base.getParent())) {
            return List.of();
        }
        String prefix = base.getFileName() + ".mv.db.damaged-";
        DateTimeFormatter format = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);
        List<Path> deleted = new java.util.ArrayList<>();
        try (var files = Files.list(base.getParent())) {
            for (Path f : files.filter(f -> f.getFileName().toString().startsWith(prefix)).toList()) {
                java.time.Instant at;
                try {
                    at = java.time.Instant.from(format.parse(f.getFileName().toString().substring(prefix.length())));
                } catch (java.time.DateTimeException notOurs) {
                    continue; // a name of someone else's making: not ours to delete
                }
                if (at.isBefore(before) && Files.isRegularFile(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    Files.delete(f);
                    deleted.add(f);
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot delete old copies of damaged database files beside " + base, e);
        }
        return deleted;
    }

    /**
     * Whether {@code e} (or a cause) is H2 saying that its file is damaged: its error 90030 only. A locked file
     * (90020), a wrong file password (90049) or credentials are not damage, and the file is left alone.
     */
    public static boolean isDamage(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException s && s.getErrorCode() == FILE_CORRUPTED) {
                return true;
            }
        }
        return false;
    }

    /** The message a start on a damaged file ends with: what happened and the command that repairs it. */
    public static String damagedMessage(String jdbcUrl, Throwable cause) {
        return "The H2 database file " + fileOf(jdbcUrl) + ".mv.db is damaged (" + rootMessage(cause) + "). H2 can leave "
                + "its file so after a kill or a power cut; the data is still in it. Stop every ordersync on this file "
                + "and run ./ordersync recover-db (with the same ordersync.db.* settings): it keeps the damaged file and "
                + "rebuilds the database from it (RELIABILITY.md, \"H2 after a crash\").";
    }

    /**
     * Rebuilds the database of {@code jdbcUrl} when H2 cannot open it; with {@code force}, also one that opens.
     * Refuses (IllegalStateException, IllegalArgumentException) a missing file, one that is no H2 database, one in
     * use, an encrypted or read-only database, and a file from which H2's tool recovers no ordersync schema.
     *
     * <p>Nothing under the database's name changes until the rebuilt file is complete: it is built in a private
     * work directory beside the file, the damaged file is kept as {@code <name>.mv.db.damaged-<UTC time>} (a hard
     * link where the file system has them, else a copy), and the rebuilt file replaces it by an atomic rename, with
     * the damaged file's permissions and owner. The file stays locked against other processes throughout. The work
     * directory holds the recovered SQL, every order in clear text: it is readable by its owner only, removed at
     * the end and on SIGTERM, and one left by a killed run is removed by the next.
     */
    public static Result recover(String jdbcUrl, String user, String password, boolean force, Clock clock) throws Exception {
        Path base = fileOf(jdbcUrl);
        if (base == null) {
            throw new IllegalArgumentException("recover-db rebuilds an embedded H2 file database; ordersync.db.url is "
                    + jdbcUrl.replaceAll("(?i)(password=)[^;&]*", "$1***"));
        }
        String options = optionsOf(jdbcUrl);
        String upper = options.toUpperCase(java.util.Locale.ROOT);
        if (upper.contains(";CIPHER=")) {
            throw new IllegalArgumentException("recover-db does not rebuild an encrypted H2 database (CIPHER)");
        }
        if (upper.contains(";FILE_LOCK=NO")) {
            throw new IllegalArgumentException("recover-db needs H2's file lock to know that no process uses the file; "
                    + "ordersync.db.url has FILE_LOCK=NO");
        }
        if (upper.contains(";ACCESS_MODE_DATA=R")) {
            throw new IllegalArgumentException("ordersync.db.url opens the database read-only (ACCESS_MODE_DATA=r)");
        }
        Path file = Path.of(base + ".mv.db");
        if (!Files.isRegularFile(file)) {
            throw new IllegalStateException("no database file " + file);
        }
        if (Files.size(file) < MIN_FILE_BYTES) {
            throw new IllegalStateException(file + " is not an H2 database file (" + Files.size(file) + " bytes); nothing changed");
        }
        Path real = file.toRealPath(); // a link to the file: the file itself is rebuilt, where it is
        Path dir = real.getParent();
        String name = real.getFileName().toString().substring(0, real.getFileName().toString().length() - ".mv.db".length());
        removeLeftWorkDirectories(dir, name);
        String url = "jdbc:h2:file:" + base + options;
        try (FileChannel probe = FileChannel.open(real, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            lock(probe, file).release(); // the open below takes H2's own lock; the rebuild takes this one again and holds it
        }
        if (!force) {
            try (Connection c = DriverManager.getConnection(upper.contains(";IFEXISTS=") ? url : url + ";IFEXISTS=TRUE",
                    user, password)) {
                return new Result(false, file, null, counts(c));
            } catch (SQLException e) {
                if (!isDamage(e)) {
                    throw e; // a wrong password, a locked file, another H2 version: not for this tool
                }
            }
        }
        String stamp = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC).format(clock.instant());
        try (FileChannel channel = FileChannel.open(real, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            FileLock lock = lock(channel, file);
            Path work = dir.resolve(name + WORK_DIRECTORY + stamp);
            createPrivateDirectory(work);
            Thread cleanUp = new Thread(() -> delete(work), "ordersync-recover-db-cleanup");
            Runtime.getRuntime().addShutdownHook(cleanUp);
            try {
                Files.copy(real, work.resolve(name + ".mv.db"));
                // H2's recovery tool: every table's rows, the schema and the users, as the SQL that builds them again
                org.h2.tools.Recover.execute(work.toString(), name);
                Path script = work.resolve(name + ".h2.sql");
                if (!Files.isRegularFile(script) || !holdsOrdersync(script)) {
                    throw new IllegalStateException("H2's recovery tool found no ordersync schema in " + file + "; nothing changed");
                }
                Path rebuilt = work.resolve("rebuilt");
                try {
                    org.h2.tools.RunScript.execute("jdbc:h2:file:" + rebuilt + options, user, password, script.toString(),
                            StandardCharsets.UTF_8, false);
                } catch (SQLException | RuntimeException e) {
                    throw new IllegalStateException("the recovered data could not be loaded into a new database, nothing "
                            + "changed: " + rootMessage(e), e);
                }
                Files.delete(script);
                Map<String, Long> counts;
                try (Connection c = DriverManager.getConnection("jdbc:h2:file:" + rebuilt + options + ";IFEXISTS=TRUE", user, password)) {
                    counts = counts(c);
                }
                Path rebuiltFile = work.resolve("rebuilt.mv.db");
                copyAccess(real, rebuiltFile);
                Path damaged = dir.resolve(name + ".mv.db.damaged-" + stamp);
                try {
                    Files.createLink(damaged, real);
                } catch (IOException | UnsupportedOperationException e) {
                    Files.copy(real, damaged, StandardCopyOption.COPY_ATTRIBUTES);
                }
                Files.move(rebuiltFile, real, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                return new Result(true, file, damaged, counts);
            } finally {
                delete(work);
                try {
                    Runtime.getRuntime().removeShutdownHook(cleanUp);
                } catch (IllegalStateException shuttingDown) {
                    // the hook runs anyway
                }
                lock.release();
            }
        }
    }

    /** The smallest H2 2.x file: its two header blocks. */
    static final long MIN_FILE_BYTES = 8192;
    private static final String WORK_DIRECTORY = ".recovery-";

    /** The URL's settings ({@code ;KEY=value…}), kept for the rebuilt database; empty when it has none. */
    static String optionsOf(String jdbcUrl) {
        int i = jdbcUrl.indexOf(';');
        return i < 0 ? "" : jdbcUrl.substring(i);
    }

    /** Takes H2's lock on the file for this process; refuses when another process (or this one) holds it. */
    private static FileLock lock(FileChannel channel, Path file) throws IOException {
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        }
        if (lock == null) {
            throw new IllegalStateException("the database file " + file + " is in use: stop ordersync first");
        }
        return lock;
    }

    /** Whether the recovered SQL builds ordersync's schema (Flyway's history table; its name is always lower case). */
    private static boolean holdsOrdersync(Path script) throws IOException {
        try (Stream<String> lines = Files.lines(script, StandardCharsets.UTF_8)) {
            return lines.anyMatch(l -> l.startsWith("CREATE") && l.contains(".\"flyway_schema_history\"("));
        }
    }

    private static void createPrivateDirectory(Path dir) throws IOException {
        try {
            Files.createDirectory(dir, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                    java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        } catch (UnsupportedOperationException e) {
            Files.createDirectory(dir);
        }
    }

    /** The rebuilt file gets the damaged one's permissions and owner (a run as root must not widen or take it). */
    private static void copyAccess(Path from, Path to) throws IOException {
        try {
            Files.setPosixFilePermissions(to, Files.getPosixFilePermissions(from));
        } catch (UnsupportedOperationException e) {
            return; // not a POSIX file system
        }
        try {
            Files.setOwner(to, Files.getOwner(from));
        } catch (IOException e) {
            // only root may give a file away; a user rebuilding their own file already owns it
        }
    }

    /** Work directories of runs that were killed: they hold clear-text copies of the data. */
    private static void removeLeftWorkDirectories(Path dir, String name) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            files.filter(p -> p.getFileName().toString().startsWith(name + WORK_DIRECTORY) && Files.isDirectory(p))
                    .forEach(H2Recovery::delete);
        }
    }

    private static void delete(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort: the next run removes what is left
        }
    }

    /** What an operator checks after a rebuild: waiting work and what has been taken in. */
    private static Map<String, Long> counts(Connection c) throws SQLException {
        Map<String, Long> out = new LinkedHashMap<>();
        try (Statement st = c.createStatement()) {
            out.put("events received", count(st, "SELECT COUNT(*) FROM order_log WHERE kind = 'received'"));
            out.put("orders", count(st, "SELECT COUNT(*) FROM order_snapshot"));
            out.put("queue rows", count(st, "SELECT COUNT(*) FROM sync_queue"));
            out.put("outbox rows", count(st, "SELECT COUNT(*) FROM order_outbox"));
            out.put("synced objects", count(st, "SELECT COUNT(*) FROM sync_result"));
        }
        return out;
    }

    private static long count(Statement st, String sql) {
        try (ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        } catch (SQLException e) {
            return -1; // a database ordersync never migrated: the counts are for information only
        }
    }

    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }
}
