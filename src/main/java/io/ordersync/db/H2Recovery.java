package io.ordersync.db;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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

    /** Whether {@code e} (or a cause) is H2 saying that its file is damaged. */
    public static boolean isDamage(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException s && s.getErrorCode() == FILE_CORRUPTED) {
                return true;
            }
            if (t.getClass().getName().equals("org.h2.mvstore.MVStoreException")) {
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
     * Refuses (IllegalStateException) when the file is missing or in use by a running process.
     */
    public static Result recover(String jdbcUrl, String user, String password, boolean force, Clock clock) throws Exception {
        Path base = fileOf(jdbcUrl);
        if (base == null) {
            throw new IllegalArgumentException("recover-db rebuilds an embedded H2 file database; ordersync.db.url is "
                    + jdbcUrl.replaceAll("(?i)(password=)[^;&]*", "$1***"));
        }
        Path file = Path.of(base + ".mv.db");
        if (!Files.isRegularFile(file)) {
            throw new IllegalStateException("no database file " + file);
        }
        requireUnused(file);
        String url = "jdbc:h2:file:" + base;
        if (!force) {
            try (Connection c = DriverManager.getConnection(url + ";IFEXISTS=TRUE", user, password)) {
                return new Result(false, file, null, counts(c));
            } catch (SQLException e) {
                if (!isDamage(e)) {
                    throw e; // a wrong password, a file of another H2 version: not for this tool
                }
            }
        }
        String stamp = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC).format(clock.instant());
        String name = base.getFileName().toString();
        Path work = base.resolveSibling(name + ".recovery-" + stamp);
        Files.createDirectory(work);
        try {
            Files.copy(file, work.resolve(name + ".mv.db"));
            // H2's recovery tool: every table's rows, the schema and the users, as the SQL that builds them again
            org.h2.tools.Recover.execute(work.toString(), name);
            Path script = work.resolve(name + ".h2.sql");
            if (!Files.isRegularFile(script)) {
                throw new IllegalStateException("H2's recovery tool wrote no script for " + file);
            }
            Path damaged = base.resolveSibling(name + ".mv.db.damaged-" + stamp);
            Files.move(file, damaged);
            try {
                org.h2.tools.RunScript.execute(url, user, password, script.toString(), StandardCharsets.UTF_8, false);
            } catch (SQLException | RuntimeException e) {
                // leave things as they were: the damaged file under its name, no half-built database
                Files.deleteIfExists(file);
                Files.move(damaged, file);
                throw new IllegalStateException("the rebuilt database refused the recovered data, nothing changed: "
                        + rootMessage(e), e);
            }
            try (Connection c = DriverManager.getConnection(url + ";IFEXISTS=TRUE", user, password)) {
                return new Result(true, file, damaged, counts(c));
            }
        } finally {
            // the script holds every order in clear text: it does not stay on the disk
            try (Stream<Path> files = Files.walk(work)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** Refuses when a process holds the file (H2 locks it while a database is open). */
    private static void requireUnused(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                throw new IllegalStateException("the database file " + file + " is in use: stop ordersync first");
            }
            lock.release();
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
