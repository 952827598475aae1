package io.ordersync.config;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Each ordersync.* key and its default is declared once (OrdersyncSettings.DEFAULTS); nothing else repeats or contradicts it. */
class SettingsTest {

    @Test
    void routesUseDeclaredKeysWithoutDefaultsOfTheirOwn() throws IOException {
        Pattern placeholder = Pattern.compile("\\{\\{(ordersync\\.[^}:]+)(:[^}]*)?}}");
        int seen = 0;
        try (Stream<Path> files = Files.list(Path.of("routes"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).toList()) {
                Matcher m = placeholder.matcher(Files.readString(f));
                while (m.find()) {
                    seen++;
                    assertThat(OrdersyncSettings.DEFAULTS).as(f + ": " + m.group()).containsKey(m.group(1));
                    assertThat(m.group(2)).as(f + ": " + m.group() + " repeats a default").isNull();
                }
            }
        }
        assertThat(seen).isGreaterThan(5);
    }

    @Test
    void readmeListsEveryKeyWithItsDefault() throws IOException {
        Map<String, String> documented = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of("README.md"))) {
            if (!line.startsWith("| `ordersync.")) {
                continue;
            }
            String[] cells = line.split("\\|");
            String[] keys = cells[1].trim().split(" / ");
            String[] defaults = cells[2].trim().split(" / ");
            String first = keys[0].replace("`", "");
            for (int i = 0; i < keys.length; i++) {
                String k = keys[i].replace("`", "");
                String key = i == 0 ? k : first.substring(0, first.lastIndexOf('.')) + k;
                String d = defaults[Math.min(i, defaults.length - 1)].replace("`", "");
                documented.put(key, d.equals("none") || d.equals("empty") || d.equals("random") ? "" : d);
            }
        }
        assertThat(new TreeSet<>(documented.keySet())).isEqualTo(new TreeSet<>(OrdersyncSettings.DEFAULTS.keySet()));
        documented.forEach((key, d) -> assertThat(d).as(key).isEqualTo(OrdersyncSettings.DEFAULTS.get(key)));
    }

    @Test
    void applicationPropertiesRepeatsNoDefault() throws IOException {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(Path.of("src/main/resources/application.properties"))) {
            p.load(in);
        }
        p.stringPropertyNames().stream().filter(k -> k.startsWith("ordersync.")).forEach(k -> {
            assertThat(OrdersyncSettings.DEFAULTS).as(k + " is not a setting").containsKey(k);
            assertThat(p.getProperty(k).trim()).as(k + " repeats its default").isNotEqualTo(OrdersyncSettings.DEFAULTS.get(k));
        });
    }

    @Test
    void unsetKeysTakeTheirDeclaredDefault() {
        Properties p = new Properties();
        p.setProperty("ordersync.db.pool-size", "3");
        OrdersyncSettings s = OrdersyncSettings.from(p);
        assertThat(s.poolSize).isEqualTo(3);
        assertThat(s.lease).isEqualTo(java.time.Duration.parse(OrdersyncSettings.DEFAULTS.get("ordersync.queue.lease")));
        assertThat(s.instanceId).matches("ordersync-[0-9a-f]{8}");
    }

    @Test
    void aNegativeVacuumPeriodIsRefusedAndZeroIsOff() {
        Properties p = new Properties();
        p.setProperty("ordersync.db.vacuum-period-ms", "-5");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> OrdersyncSettings.from(p))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("ordersync.db.vacuum-period-ms must be 0 (off) or more, not -5");
        p.setProperty("ordersync.db.vacuum-period-ms", "0");
        assertThat(OrdersyncSettings.from(p).vacuumPeriodMs).isZero();
        assertThat(OrdersyncSettings.from(new Properties()).vacuumPeriodMs).isEqualTo(5000);
    }

    @Test
    void aNegativeStatisticsCheckPeriodIsRefusedAndZeroIsOff() {
        Properties p = new Properties();
        p.setProperty("ordersync.db.statistics-check-ms", "-1");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> OrdersyncSettings.from(p))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("ordersync.db.statistics-check-ms must be 0 (off) or more, not -1");
        p.setProperty("ordersync.db.statistics-check-ms", "0");
        assertThat(OrdersyncSettings.from(p).statisticsCheckMs).isZero();
        assertThat(OrdersyncSettings.from(new Properties()).statisticsCheckMs).isEqualTo(1000);
    }

    @Test
    void aPoolOfOneConnectionIsRefusedWithTheReason() {
        Properties p = new Properties();
        p.setProperty("ordersync.db.pool-size", "1");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> OrdersyncSettings.from(p))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("ordersync.db.pool-size must be at least 2 (the schema migration on PostgreSQL holds two connections at once), not 1");
    }

    /** The bounds README gives for presence-ttl, the attempts' body limit and the retention (README audit). */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}={1}")
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', textBlock = """
            ordersync.queue.presence-ttl   | PT2S   | ordersync.queue.presence-ttl must be at least PT3S, not PT2S
            ordersync.attempts.body-limit  | 4001   | ordersync.attempts.body-limit must be 0 to 4000, not 4001
            ordersync.attempts.body-limit  | -1     | ordersync.attempts.body-limit must be 0 to 4000, not -1
            ordersync.retention.attempts   | -P1D   | ordersync.retention.* must not be negative
            ordersync.retention.orders     | -PT1S  | ordersync.retention.* must not be negative
            ordersync.db.socket-timeout    | PT0.5S | ordersync.db.socket-timeout must be PT0S (off) or whole seconds from PT1S to P1D, not PT0.5S
            ordersync.db.socket-timeout    | PT1.5S | ordersync.db.socket-timeout must be PT0S (off) or whole seconds from PT1S to P1D, not PT1.5S
            ordersync.db.socket-timeout    | -PT5S  | ordersync.db.socket-timeout must be PT0S (off) or whole seconds from PT1S to P1D, not PT-5S
            ordersync.db.socket-timeout    | P2D    | ordersync.db.socket-timeout must be PT0S (off) or whole seconds from PT1S to P1D, not PT48H
            ordersync.queue.lease          | 5m     | ordersync.queue.lease must be an ISO-8601 duration such as PT30S, PT5M or P1D, not '5m'
            ordersync.queue.lease          | PT0S   | ordersync.queue.lease must be positive (longer than the slowest sync), not PT0S
            ordersync.dispatch.batch-size  | 0      | ordersync.dispatch.batch-size must be at least 1, not 0
            ordersync.dispatch.batch-size  | 1e3    | ordersync.dispatch.batch-size must be a whole number, not '1e3'
            ordersync.db.connection-timeout-ms | 3s | ordersync.db.connection-timeout-ms must be a whole number, not '3s'
            ordersync.dispatch.period-ms   | 50ms   | ordersync.dispatch.period-ms must be a whole number, not '50ms'
            ordersync.jms.enabled          | yes    | ordersync.jms.enabled must be true or false, not 'yes'
            ordersync.http.body-budget-bytes | 2MB  | ordersync.http.body-budget-bytes must be a number of bytes, or empty for a sixteenth of the heap, not '2MB'
            ordersync.delivery.concurency  | 4      | ordersync.delivery.concurency is not an ordersync setting
            ordersync.admin.cookie-secure  | yes    | ordersync.admin.cookie-secure must be auto, true or false, not 'yes'
            ordersync.db.h2-commit         | fast   | ordersync.db.h2-commit must be write, sync or delayed, not 'fast'
            ordersync.pretix.actions       | pretix.event.order.paid | ordersync.pretix.actions: 'pretix.event.order.paid' is not action=type
            ordersync.jms.max-message-bytes | 1023      | ordersync.jms.max-message-bytes must be 1024 to 1073741823
            ordersync.jms.max-message-bytes | 1073741824 | ordersync.jms.max-message-bytes must be 1024 to 1073741823
            """)
    void settingsOutOfTheirBoundsAreRefusedWithTheReason(String key, String value, String message) {
        Properties p = new Properties();
        p.setProperty(key, value);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> OrdersyncSettings.from(p))
                .isInstanceOf(OrdersyncSettings.Invalid.class).hasMessageContaining(message);
    }

    /**
     * A setting with a few values takes them in any case, as the true-or-false ones always did: share-edits=TRUE passed
     * that check and was then refused by its own (a review).
     */
    @Test
    void settingsOfAFewValuesTakeThemInAnyCase() {
        Properties p = new Properties();
        p.setProperty("ordersync.mappings.share-edits", "FALSE");
        p.setProperty("ordersync.db.h2-commit", " Sync ");
        p.setProperty("ordersync.db.h2-recover", "AUTO");
        p.setProperty("ordersync.admin.cookie-secure", "True");
        OrdersyncSettings settings = OrdersyncSettings.from(p);
        assertThat(settings.shareEdits).isFalse();
        assertThat(settings.h2Commit).isEqualTo("sync");
        assertThat(settings.h2RecoverAuto).isTrue();
        assertThat(settings.cookieSecure).isEqualTo("true");
        OrdersyncSettings defaults = OrdersyncSettings.from(new Properties());
        assertThat(defaults.shareEdits).isTrue();
        assertThat(defaults.h2Commit).isEqualTo("write");
        assertThat(defaults.h2RecoverAuto).isFalse();
        assertThat(defaults.cookieSecure).isEqualTo("auto");
        p.setProperty("ordersync.db.h2-recover", "Never");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> OrdersyncSettings.from(p))
                .isInstanceOf(OrdersyncSettings.Invalid.class)
                .hasMessage("ordersync.db.h2-recover must be manual or auto, not 'Never'");
    }

    /** An unset variable in a deployment (ORDERSYNC_DB_URL=) started the instance on a local H2 file (a review). */
    @Test
    void aDatabaseUrlSetButEmptyIsRefusedAndLeftOutIsTheH2File() {
        for (String blank : new String[]{"", "  "}) {
            Properties p = new Properties();
            p.setProperty("ordersync.db.url", blank);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> OrdersyncSettings.from(p))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("ordersync.db.url is set, but empty");
        }
        assertThat(OrdersyncSettings.from(new Properties()).jdbcUrl).isEqualTo("jdbc:h2:file:./data/ordersync");
        Properties p = new Properties();
        p.setProperty("ordersync.alerts.mail.from", " ");
        assertThat(OrdersyncSettings.from(p).values()).as("other blank keys take their default")
                .containsEntry("ordersync.alerts.mail.from", "ordersync@localhost");
    }

    /** A misspelt key was ignored and its setting left at the default (a review). */
    @Test
    void misspeltKeysAreNamedWithTheKeyTheyAreNear() {
        assertThat(OrdersyncSettings.unknownKeys(java.util.List.of("ordersync.delivery.concurency", "ordersync.queue.leas",
                "ORDERSYNC_DB_URLL", "ordersync.pretix.unknown-thing", "ORDERSYNC_JMS_NOPE", "ordersync.instance-idd")))
                .containsExactly("ORDERSYNC_DB_URLL is not an ordersync setting (did you mean ORDERSYNC_DB_URL?)",
                        "ORDERSYNC_JMS_NOPE is not an ordersync setting",
                        "ordersync.delivery.concurency is not an ordersync setting",
                        "ordersync.instance-idd is not an ordersync setting (did you mean ordersync.instance-id?)",
                        "ordersync.pretix.unknown-thing is not an ordersync setting",
                        "ordersync.queue.leas is not an ordersync setting (did you mean ordersync.queue.lease?)");
        // the keys themselves, in both forms, other sections (a test's knobs), other namespaces
        java.util.List<String> fine = new java.util.ArrayList<>(OrdersyncSettings.DEFAULTS.keySet());
        OrdersyncSettings.DEFAULTS.keySet().forEach(k -> fine.add(k.toUpperCase(java.util.Locale.ROOT).replace('.', '_').replace('-', '_')));
        fine.addAll(java.util.List.of("ordersync.crash.runs", "ordersync.test.fork", "ORDERSYNC_CI", "ORDERSYNC_CLASS_ARCHIVE",
                "camel.main.name", "crm.token", "PATH",
                // keys of earlier versions: a WARN at the start, not a refusal (an upgrade keeps its properties)
                "ordersync.db.vacuum-check-ms", "ORDERSYNC_DB_VACUUM_DEAD_ROWS",
                // Kubernetes' service links for services named ordersync and ordersync-db
                "ORDERSYNC_SERVICE_HOST", "ORDERSYNC_SERVICE_PORT", "ORDERSYNC_SERVICE_PORT_HTTP", "ORDERSYNC_PORT",
                "ORDERSYNC_PORT_8080_TCP", "ORDERSYNC_PORT_8080_TCP_ADDR", "ORDERSYNC_PORT_8080_TCP_PORT", "ORDERSYNC_PORT_8080_TCP_PROTO",
                "ORDERSYNC_DB_SERVICE_HOST", "ORDERSYNC_DB_SERVICE_PORT", "ORDERSYNC_DB_PORT", "ORDERSYNC_DB_PORT_5432_TCP_ADDR"));
        assertThat(OrdersyncSettings.unknownKeys(fine)).isEmpty();
        assertThat(OrdersyncSettings.retiredKeys(fine)).containsExactly("ORDERSYNC_DB_VACUUM_DEAD_ROWS", "ordersync.db.vacuum-check-ms");
        // this JVM's own system properties and environment (CI's included) hold none
        java.util.Set<String> here = new java.util.HashSet<>(System.getProperties().stringPropertyNames());
        here.addAll(System.getenv().keySet());
        assertThat(OrdersyncSettings.unknownKeys(here)).isEmpty();
    }

    /** Upper-case values that were accepted before these checks still are (AuthSecurityTest's TRUE for cookie-secure). */
    @Test
    void booleanAndCookieSettingsTakeAnyCase() {
        Properties p = new Properties();
        p.setProperty("ordersync.jms.enabled", "TRUE");
        p.setProperty("ordersync.admin.cookie-secure", "False");
        OrdersyncSettings s = OrdersyncSettings.from(p);
        assertThat(s.jmsEnabled).isTrue();
        assertThat(s.values()).containsEntry("ordersync.jms.enabled", "true");
        assertThat(s.cookieSecure).isEqualTo("false");
    }

    @Test
    void theBoundsThemselvesAreAccepted() {
        Properties p = new Properties();
        p.setProperty("ordersync.queue.presence-ttl", "PT3S");
        p.setProperty("ordersync.attempts.body-limit", "4000");
        p.setProperty("ordersync.retention.attempts", "PT0S");
        p.setProperty("ordersync.retention.orders", "PT0S");
        p.setProperty("ordersync.db.socket-timeout", "PT0S");
        OrdersyncSettings s = OrdersyncSettings.from(p);
        assertThat(s.socketTimeout).isZero();
        assertThat(OrdersyncSettings.from(new Properties()).socketTimeout).as("the default").isEqualTo(java.time.Duration.ofSeconds(60));
        p.setProperty("ordersync.db.socket-timeout", "PT1S");
        assertThat(OrdersyncSettings.from(p).socketTimeout).isEqualTo(java.time.Duration.ofSeconds(1));
        p.setProperty("ordersync.db.socket-timeout", "P1D");
        assertThat(OrdersyncSettings.from(p).socketTimeout).isEqualTo(java.time.Duration.ofDays(1));
        p.remove("ordersync.db.socket-timeout");
        assertThat(s.presenceTtl).isEqualTo(java.time.Duration.ofSeconds(3));
        assertThat(s.attemptBodyLimit).isEqualTo(4000);
        assertThat(s.retainAttempts).isZero();
        assertThat(s.retainOrders).isZero();
    }
}
