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
            """)
    void settingsOutOfTheirBoundsAreRefusedWithTheReason(String key, String value, String message) {
        Properties p = new Properties();
        p.setProperty(key, value);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> OrdersyncSettings.from(p))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(message);
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
