package io.ordersync.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * CPU time of other processes on this machine, from {@code /proc/<pid>/stat} (Linux): the PostgreSQL server's
 * backends, which the benchmark JVM's own CPU time does not include. Processes that ended between two readings
 * are missed; the pool keeps its backends for the whole run.
 */
final class ProcCpu {

    private ProcCpu() {
    }

    /** Milliseconds of CPU used so far by PostgreSQL's server processes (its postmaster and backends). */
    static double postgresMillis() {
        // the postmaster runs as …/bin/postgres, its children rename themselves "postgres: …"
        return millis(cmd -> cmd.startsWith("postgres:") || cmd.contains("/bin/postgres "));
    }

    /**
     * Milliseconds of CPU used so far by this JVM's JIT compiler threads (threads named "C1 CompilerThread…" and
     * "C2 CompilerThread…"); NaN where /proc is not there. The compilation MXBean counts the compilations'
     * elapsed time instead, which on two busy cores is several times their CPU time.
     */
    static synchronized double jitMillis() {
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                try {
                    String comm = Files.readString(task.resolve("comm")).trim();
                    if (comm.startsWith("C1 CompilerThre") || comm.startsWith("C2 CompilerThre")) {
                        COMPILER_TICKS.put(task.getFileName().toString(), ticks(task));
                    }
                } catch (IOException | RuntimeException gone) {
                    // the thread ended meanwhile
                }
            }
        } catch (IOException e) {
            return Double.NaN;
        }
        return COMPILER_TICKS.values().stream().mapToLong(Long::longValue).sum() * 10.0;
    }

    /**
     * The last reading of every compiler thread seen, by thread id: the JVM stops idle compiler threads, and a sum of
     * the threads alive now would go down (what they used until their last reading is kept).
     */
    private static final java.util.Map<String, Long> COMPILER_TICKS = new java.util.HashMap<>();

    /** User and system CPU time of a process or thread ({@code /proc/<pid>} or its {@code task/<tid>}), in ticks. */
    private static long ticks(Path dir) throws IOException {
        String stat = Files.readString(dir.resolve("stat"));
        // fields after the command name in parentheses: state is field 3, utime 14, stime 15
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    /** Milliseconds of CPU (user + system) used so far by the processes whose command line matches. */
    static double millis(java.util.function.Predicate<String> command) {
        double ticks = 0;
        try (var dirs = Files.list(Path.of("/proc"))) {
            for (Path dir : (Iterable<Path>) dirs::iterator) {
                String name = dir.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                try {
                    String cmd = new String(Files.readAllBytes(dir.resolve("cmdline"))).replace('\0', ' ');
                    if (!command.test(cmd)) {
                        continue;
                    }
                    ticks += ticks(dir);
                } catch (IOException | RuntimeException gone) {
                    // the process ended meanwhile
                }
            }
        } catch (IOException e) {
            return Double.NaN;
        }
        // USER_HZ is 100 on Linux
        return ticks * 10.0;
    }
}
