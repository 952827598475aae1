package io.ordersync.admin;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.ordersync.config.OrdersyncSettings;
import io.ordersync.db.Database;
import io.ordersync.mapping.ProviderLoader;
import io.ordersync.mapping.ProviderRegistry;
import io.ordersync.support.Fixtures;
import io.ordersync.support.Postgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The look for other instances' saves, on a real database and real files, with a clock the test moves: saves made
 * while an instance could not look are still applied when it can again, and one save that cannot be applied holds up
 * only later saves of its own provider, and is given up after a minute of tries, said in the log.
 */
class MappingEditsLookTest {

    @TempDir
    Path tmp;
    private HikariDataSource ds;
    private final MovingClock clock = new MovingClock(Instant.now());
    private UiSessions signer;
    private MappingEditor editor;
    private Path dir;
    private final ListAppender<ILoggingEvent> log = new ListAppender<>();
    private final Logger editorLogger = (Logger) org.slf4j.LoggerFactory.getLogger(MappingEditor.class);

    @BeforeEach
    void setUp() throws Exception {
        ds = Database.open(OrdersyncSettings.from(Postgres.newDatabase("h2")));
        dir = tmp.resolve("mappings");
        Fixtures.mapping(dir, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
        // a second provider, "other": the crm file under another name
        Files.writeString(dir.resolve("other.yaml"), Files.readString(dir.resolve("crm.yaml")).replace("identifier: crm", "identifier: other"));
        ProviderLoader loader = new ProviderLoader(t -> t.replace("{{test.crm.url}}", "http://127.0.0.1:1")
                .replace("{{test.crm.token}}", "s3cret"));
        ProviderRegistry registry = new ProviderRegistry(dir, loader);
        registry.reload();
        assertThat(registry.isActive("crm")).isTrue();
        assertThat(registry.isActive("other")).isTrue();
        signer = new UiSessions(ds, clock, "admin-token", null, null);
        editor = new MappingEditor(registry, ds, new ObjectMapper(), "b", clock, true, signer);
        editor.started();
        editor.applyEditsOfOthers();
        log.start();
        editorLogger.addAppender(log);
    }

    @AfterEach
    void tearDown() {
        editorLogger.detachAppender(log);
        ds.close();
    }

    @Test
    void aSaveMadeWhileThisInstanceCouldNotLookIsAppliedWhenItCanAgain() throws Exception {
        String original = Files.readString(dir.resolve("crm.yaml"));
        String edited = original.replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty");
        clock.move(Duration.ofSeconds(1));
        saveElsewhere("crm", original, edited);
        // five minutes without a look (the database out of reach, the process paused): the save is older than the window
        clock.move(Duration.ofMinutes(5));
        editor.applyEditsOfOthers();
        assertThat(Files.readString(dir.resolve("crm.yaml"))).isEqualTo(edited);
        assertThat(messages()).anySatisfy(m -> assertThat(m).contains("crm.yaml: applied the edit #"));
    }

    @Test
    void aSaveThatCannotBeAppliedHoldsUpOnlyItsProviderAndIsGivenUpAfterAMinute() throws Exception {
        String crm = Files.readString(dir.resolve("crm.yaml"));
        String other = Files.readString(dir.resolve("other.yaml"));
        // other.yaml cannot be read any more (a directory now, not a file): its save fails at every try
        Files.delete(dir.resolve("other.yaml"));
        Files.createDirectory(dir.resolve("other.yaml"));
        clock.move(Duration.ofSeconds(1));
        saveElsewhere("other", other, other + "# one\n");
        saveElsewhere("other", other + "# one\n", other + "# two\n");
        String edited = crm.replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty");
        saveElsewhere("crm", crm, edited);
        editor.applyEditsOfOthers();
        // crm's save went on; other's first is said once, its second waits for it
        assertThat(Files.readString(dir.resolve("crm.yaml"))).isEqualTo(edited);
        assertThat(messages().stream().filter(m -> m.contains("could not be applied here (tried again every second)"))).hasSize(1);
        for (int i = 0; i < MappingEditor.GIVE_UP_AFTER; i++) {
            clock.move(Duration.ofSeconds(1));
            editor.applyEditsOfOthers();
        }
        assertThat(log.list).filteredOn(e -> e.getLevel() == Level.ERROR).extracting(ILoggingEvent::getFormattedMessage)
                .singleElement().asString().contains("the edit #1 ").contains("Given up: this instance keeps its file");
        // then the next one is tried (and fails the same way, said once)
        assertThat(messages().stream().filter(m -> m.contains("could not be applied here (tried again every second)"))).hasSize(2);
    }

    /** ordersync.mappings.share-edits=false: another instance's save is not written into this instance's files. */
    @Test
    void withShareEditsOffAnotherInstancesSaveIsNotApplied() throws Exception {
        MappingEditor own = new MappingEditor(editorRegistry(), ds, new ObjectMapper(), "c", clock, false, signer);
        own.started();
        own.applyEditsOfOthers();
        String original = Files.readString(dir.resolve("crm.yaml"));
        clock.move(Duration.ofSeconds(1));
        saveElsewhere("crm", original, original.replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty"));
        clock.move(Duration.ofSeconds(1));
        own.applyEditsOfOthers();
        assertThat(Files.readString(dir.resolve("crm.yaml"))).isEqualTo(original);
        // the same save reaches an instance that shares edits
        editor.applyEditsOfOthers();
        assertThat(Files.readString(dir.resolve("crm.yaml"))).contains("remote: given_name");
    }

    private ProviderRegistry editorRegistry() {
        ProviderRegistry registry = new ProviderRegistry(dir, new ProviderLoader(t -> t.replace("{{test.crm.url}}", "http://127.0.0.1:1")
                .replace("{{test.crm.token}}", "s3cret")));
        registry.reload();
        return registry;
    }

    /** Records a save of {@code provider} as another process with the same admin credentials would. */
    private void saveElsewhere(String provider, String before, String after) throws Exception {
        String base = MappingEditor.hash(before);
        String made = MappingEditor.hash(after);
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement("INSERT INTO mapping_change (provider, actor, "
                + "diff, changed_at, base_version, new_version, content, instance_id, incarnation, signature) "
                + "VALUES (?, 'UI session of admin', '', ?, ?, ?, ?, 'a', 'a-1', ?)")) {
            ps.setString(1, provider);
            ps.setObject(2, clock.instant().atOffset(ZoneOffset.UTC));
            ps.setString(3, base);
            ps.setString(4, made);
            ps.setString(5, after);
            ps.setString(6, signer.sign(MappingEditor.SIGNED, MappingEditor.signedPart(provider, base, made, after)));
            ps.executeUpdate();
        }
    }

    private java.util.List<String> messages() {
        return log.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }

    /** A clock the test moves on. */
    private static final class MovingClock extends Clock {
        private volatile Instant now;

        MovingClock(Instant start) {
            this.now = start;
        }

        void move(Duration d) {
            now = now.plus(d);
        }

        @Override
        public Instant instant() {
            return now;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }
    }
}
