package io.ordersync;

import io.ordersync.cli.Commands;
import io.ordersync.db.H2Recovery;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The default setup's answer to an H2 file damaged by a kill (RELIABILITY.md, "H2 after a crash"): the start says
 * what happened and names {@code ./ordersync recover-db}, which rebuilds the database from the damaged file and
 * keeps that file. The fixture is a real one: {@code H2OutboxCrashTest} left it after its 14th kill on 2026-12-05
 * (H2 2.3.232, "Double mark"), holding 560 orders received and synced, nothing waiting.
 */
class H2RecoveryTest extends AppTestSupport {

    @Test
    void aDamagedFileFailsTheStartWithTheCommandThatRebuildsItAndNothingIsLost() throws Exception {
        Path data = damagedDatabase();
        String url = "jdbc:h2:file:" + data.resolve("ordersync").toAbsolutePath();
        // H2 itself cannot open it: the fixture is damaged
        assertThatThrownBy(() -> DriverManager.getConnection(url + ";IFEXISTS=TRUE", "sa", "").close())
                .satisfies(e -> assertThat(H2Recovery.isDamage(e)).isTrue());

        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
        Map<String, String> props = new HashMap<>(Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret"));
        OrdersyncApp refused = new OrdersyncApp(data, mappings, props);
        try {
            assertThatThrownBy(refused::start)
                    .hasStackTraceContaining("The H2 database file " + data.resolve("ordersync").toAbsolutePath() + ".mv.db is damaged")
                    .hasStackTraceContaining("run ./ordersync recover-db");
        } finally {
            refused.close();
        }

        Cli run = recoverDb(url);
        assertThat(run.code).as(run.err).isZero();
        assertThat(run.out).contains("rebuilt " + data.resolve("ordersync.mv.db").toAbsolutePath())
                .contains("events received=560").contains("queue rows=0").contains("outbox rows=0");
        try (Stream<Path> files = Files.list(data)) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            // the damaged file is kept; the recovered SQL (every order in clear text) is not left behind
            assertThat(names).anyMatch(n -> n.startsWith("ordersync.mv.db.damaged-"))
                    .noneMatch(n -> n.contains("recovery") || n.endsWith(".sql"));
        }

        app = new OrdersyncApp(data, mappings, props).start();
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).isEqualTo(560);
        assertThat(app.count("SELECT COUNT(DISTINCT order_code) FROM order_snapshot")).isEqualTo(560);
        assertThat(app.count("SELECT COUNT(*) FROM sync_result")).isEqualTo(3 * 560);
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue")).isZero();
        // the rebuilt database goes on: its identities continue, a new order is taken in and synced
        app.insertOutbox(fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(target.objects("contacts")).hasSize(1));
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).isEqualTo(561);
        app.stop();

        // a database that opens is not rebuilt
        Cli again = recoverDb(url);
        assertThat(again.code).as(again.err).isZero();
        assertThat(again.out).contains("opens: nothing to recover").contains("events received=561");
        try (Stream<Path> files = Files.list(data)) {
            assertThat(files.filter(p -> p.getFileName().toString().contains("damaged"))).hasSize(1);
        }
        // unless told to (a file that opens with a damaged index): rebuilt, nothing lost, the old file kept as well
        Thread.sleep(1100); // the kept file is named by the second
        Cli forced = recoverDb(url, "--force");
        assertThat(forced.code).as(forced.err).isZero();
        assertThat(forced.out).contains("rebuilt").contains("events received=561").contains("synced objects=" + (3 * 561));
        try (Stream<Path> files = Files.list(data)) {
            assertThat(files.filter(p -> p.getFileName().toString().contains("damaged"))).hasSize(2);
        }
    }

    @Test
    void withAutomaticRecoveryTheStartRebuildsTheFileKeepsItAndSaysWhatItHolds() throws Exception {
        Path data = damagedDatabase();
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> log = new ch.qos.logback.core.read.ListAppender<>();
        ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(io.ordersync.db.Database.class);
        log.start();
        logger.addAppender(log);
        try {
            Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
            app = new OrdersyncApp(data, mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                    "ordersync.db.h2-recover", "auto")).start();
        } finally {
            logger.detachAppender(log);
        }
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).isEqualTo(560);
        assertThat(app.count("SELECT COUNT(*) FROM sync_result")).isEqualTo(3 * 560);
        assertThat(log.list).filteredOn(e -> e.getLevel() == ch.qos.logback.classic.Level.ERROR).singleElement()
                .satisfies(e -> assertThat(e.getFormattedMessage())
                        .startsWith("The H2 database file " + data.resolve("ordersync.mv.db").toAbsolutePath() + " was damaged (")
                        .contains("Double mark").contains("the damaged file kept as " + data.toAbsolutePath() + "/ordersync.mv.db.damaged-")
                        .contains("events received=560"));
        app.insertOutbox(fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(target.objects("contacts")).hasSize(1));
    }

    @Test
    void anUnknownRecoveryModeFailsTheStart() {
        assertThatThrownBy(() -> io.ordersync.config.OrdersyncSettings.from(Map.of("ordersync.db.h2-recover", "yes")::get))
                .hasMessage("ordersync.db.h2-recover must be manual or auto, not 'yes'");
    }

    /** The fixture's damaged file as data/ordersync.mv.db under the test's directory. */
    private Path damagedDatabase() throws Exception {
        Path data = tmp.resolve("data");
        Files.createDirectories(data);
        try (InputStream in = new GZIPInputStream(getClass().getResourceAsStream("/h2/damaged-double-mark.mv.db.gz"))) {
            Files.copy(in, data.resolve("ordersync.mv.db"));
        }
        return data;
    }

    @Test
    void recoverDbRefusesAFileInUseAndADatabaseThatIsNoH2File() throws Exception {
        startWithCrm();
        String url = "jdbc:h2:file:" + tmp.resolve("data").resolve("ordersync").toAbsolutePath();
        Cli inUse = recoverDb(url);
        assertThat(inUse.code).isEqualTo(1);
        assertThat(inUse.err).contains("is in use: stop ordersync first");
        assertThat(app.get("/api/queue").statusCode()).isEqualTo(200);

        Cli postgres = recoverDb("jdbc:postgresql://db.example.org/ordersync?password=s3cret");
        assertThat(postgres.code).isEqualTo(1);
        assertThat(postgres.err).contains("rebuilds an embedded H2 file database").doesNotContain("s3cret");
    }

    @Test
    void aDamagedFileBehindALinkIsRebuiltWhereItIsWithItsPermissionsAndALeftWorkDirectoryIsRemoved() throws Exception {
        Path data = damagedDatabase();
        Path volume = Files.createDirectories(tmp.resolve("volume"));
        Files.move(data.resolve("ordersync.mv.db"), volume.resolve("real.mv.db"));
        Files.createSymbolicLink(data.resolve("ordersync.mv.db"), volume.resolve("real.mv.db"));
        Files.setPosixFilePermissions(volume.resolve("real.mv.db"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        // what a run killed with SIGKILL leaves: its work directory, with the data in clear text
        Path left = Files.createDirectories(volume.resolve("real.recovery-20261205T000000Z"));
        Files.writeString(left.resolve("real.h2.sql"), "INSERT INTO O_1 VALUES('someone@example.org');");

        Cli run = recoverDb("jdbc:h2:file:" + data.resolve("ordersync").toAbsolutePath());
        assertThat(run.code).as(run.err).isZero();
        assertThat(run.out).contains("events received=560");
        assertThat(Files.isSymbolicLink(data.resolve("ordersync.mv.db"))).isTrue();
        assertThat(Files.readSymbolicLink(data.resolve("ordersync.mv.db"))).isEqualTo(volume.resolve("real.mv.db"));
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(volume.resolve("real.mv.db"))))
                .isEqualTo("rw-------");
        try (Stream<Path> files = Files.list(volume)) {
            // besides H2's own trace file of the failed open: the rebuilt file and the damaged one, nothing else
            assertThat(files.map(p -> p.getFileName().toString()).filter(n -> !n.endsWith(".trace.db")))
                    .hasSize(2).contains("real.mv.db").anyMatch(n -> n.startsWith("real.mv.db.damaged-"));
        }
        try (Stream<Path> files = Files.list(data)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("ordersync.mv.db");
        }
    }

    @Test
    void recoverDbChangesNothingThatIsNotADamagedOrdersyncDatabase() throws Exception {
        Path data = Files.createDirectories(tmp.resolve("data"));
        String url = "jdbc:h2:file:" + data.resolve("ordersync").toAbsolutePath();
        Path file = data.resolve("ordersync.mv.db");

        Files.write(file, new byte[0]);
        Cli empty = recoverDb(url);
        assertThat(empty.code).isEqualTo(1);
        assertThat(empty.err).contains("is not an H2 database file (0 bytes); nothing changed");
        assertThat(Files.size(file)).isZero();

        byte[] text = "hello, this is not H2\n".repeat(1000).getBytes(StandardCharsets.US_ASCII);
        Files.write(file, text);
        for (String option : new String[]{"", "--force"}) {
            Cli notH2 = option.isEmpty() ? recoverDb(url) : recoverDb(url, option);
            assertThat(notH2.code).as(notH2.out).isEqualTo(1);
            assertThat(Files.readAllBytes(file)).isEqualTo(text);
        }

        // an H2 database, but not ordersync's: H2's tool recovers no ordersync schema from it
        Files.delete(file);
        try (java.sql.Connection c = DriverManager.getConnection(url, "sa", "")) {
            c.createStatement().execute("CREATE TABLE other(id INT)");
        }
        Cli other = recoverDb(url, "--force");
        assertThat(other.code).isEqualTo(1);
        assertThat(other.err).contains("found no ordersync schema").contains("nothing changed");

        for (String option : new String[]{";CIPHER=AES", ";FILE_LOCK=NO", ";ACCESS_MODE_DATA=r"}) {
            Cli refused = recoverDb(url + option);
            assertThat(refused.code).as(option).isEqualTo(1);
        }
        try (Stream<Path> files = Files.list(data)) {
            assertThat(files.map(p -> p.getFileName().toString()))
                    .noneMatch(n -> n.contains("damaged") || n.contains("recovery"));
        }
    }

    @Test
    void onlyH2sFileCorruptedErrorIsDamage() {
        assertThat(H2Recovery.isDamage(new RuntimeException(new java.sql.SQLException("corrupted", "90030", 90030)))).isTrue();
        assertThat(H2Recovery.isDamage(new java.sql.SQLException("locked", "90020", 90020))).isFalse();
        assertThat(H2Recovery.isDamage(new java.sql.SQLException("wrong file password", "90049", 90049))).isFalse();
        assertThat(H2Recovery.isDamage(new java.sql.SQLException("wrong user or password", "28000", 28000))).isFalse();
    }

    @Test
    void theDatabaseFileOfAUrl() {
        assertThat(H2Recovery.fileOf("jdbc:h2:file:./data/ordersync")).isEqualTo(Path.of("data/ordersync").toAbsolutePath());
        assertThat(H2Recovery.fileOf("jdbc:h2:/var/lib/ordersync/db;DB_CLOSE_ON_EXIT=FALSE")).isEqualTo(Path.of("/var/lib/ordersync/db"));
        assertThat(H2Recovery.fileOf("jdbc:h2:file:/x/y;MODE=PostgreSQL")).isEqualTo(Path.of("/x/y"));
        assertThat(H2Recovery.fileOf("jdbc:h2:mem:test")).isNull();
        assertThat(H2Recovery.fileOf("jdbc:h2:tcp://host/db")).isNull();
        assertThat(H2Recovery.fileOf("jdbc:postgresql://host/db")).isNull();
    }

    private record Cli(int code, String out, String err) {
    }

    /** {@code ./ordersync recover-db} with this database URL (a -D option, as the launcher passes it). */
    private static Cli recoverDb(String url, String... options) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String before = System.getProperty("ordersync.db.url");
        System.setProperty("ordersync.db.url", url);
        try {
            int code = new Commands(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8))
                    .run(java.util.stream.Stream.concat(Stream.of("recover-db"), Stream.of(options)).toArray(String[]::new));
            return new Cli(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            if (before == null) {
                System.clearProperty("ordersync.db.url");
            } else {
                System.setProperty("ordersync.db.url", before);
            }
        }
    }

    /**
     * The copies of damaged files a recovery kept hold the orders of then: the hourly purge deletes those older than
     * ordersync.retention.orders, as it deletes the orders themselves (a review: with h2-recover=auto they piled up).
     */
    @Test
    void copiesOfDamagedFilesOlderThanTheOrdersRetentionArePurged() throws Exception {
        Path data = Files.createDirectories(tmp.resolve("purged"));
        java.time.format.DateTimeFormatter stamp = java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'")
                .withZone(java.time.ZoneOffset.UTC);
        Path old = Files.writeString(data.resolve("ordersync.mv.db.damaged-" + stamp.format(java.time.Instant.now().minus(Duration.ofDays(40)))), "old");
        Path recent = Files.writeString(data.resolve("ordersync.mv.db.damaged-" + stamp.format(java.time.Instant.now().minus(Duration.ofDays(20)))), "recent");
        Path notOurs = Files.writeString(data.resolve("ordersync.mv.db.damaged-notes.txt"), "an operator's notes");
        Path otherDatabase = Files.writeString(data.resolve("other.mv.db.damaged-20200101T000000Z"), "another database's");
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
        app = new OrdersyncApp(data, mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                "ordersync.retention.orders", "P30D", "ordersync.retention.purge-period-ms", "300")).start();
        await().atMost(Duration.ofSeconds(20)).until(() -> !Files.exists(old));
        assertThat(recent).exists();
        assertThat(notOurs).exists();
        assertThat(otherDatabase).exists();
        assertThat(data.resolve("ordersync.mv.db")).exists();
    }
}
