package io.ordersync.config;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The training start the {@code ./ordersync} launcher runs once per build to write an application class-data
 * archive (AppCDS; README, "Memory and start"): ordersync starts with the settings it is given, then stops as soon
 * as it is ready, and the JVM writes the classes the start loaded into the archive at exit
 * ({@code -XX:ArchiveClassesAtExit}). The next starts map them instead of loading and verifying them again.
 *
 * <p>A training start must not touch what the real service works on, so it overrides: its own H2 database in the
 * launcher's scratch directory (never the configured one), loopback ports nobody listens on, no JMS, no pretix,
 * no alerts, no route reload, and no route started ({@code camel.main.auto-startup=false}: a route of the user's
 * that consumes a queue, a topic or a directory is created, its classes loaded, but it takes nothing). The
 * mapping files are the configured ones, read only.
 */
public final class ClassArchiveTraining {

    /** The system property that makes a start a training start; its value is the scratch directory. */
    public static final String PROPERTY = "ordersync.class-archive.training";

    private ClassArchiveTraining() {
    }

    /** The scratch directory of a training start, or null for any other start. */
    public static Path scratch() {
        String dir = System.getProperty(PROPERTY);
        return dir == null || dir.isBlank() ? null : Path.of(dir).toAbsolutePath();
    }

    /** The settings a training start overrides (see the class comment). */
    public static Map<String, String> overrides(Path scratch) throws IOException {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("ordersync.db.url", "jdbc:h2:file:" + scratch.resolve("training"));
        p.put("ordersync.db.user", "sa");
        p.put("ordersync.db.password", "");
        p.put("ordersync.jms.enabled", "false");
        p.put("ordersync.pretix.url", "");
        p.put("ordersync.alerts.webhook-url", "");
        p.put("ordersync.alerts.mail.uri", "");
        p.put("camel.main.auto-startup", "false");
        p.put("camel.main.routes-reload-enabled", "false");
        p.put("camel.server.host", "127.0.0.1");
        p.put("camel.management.host", "127.0.0.1");
        try (ServerSocket a = new ServerSocket(0); ServerSocket b = new ServerSocket(0)) {
            p.put("camel.server.port", String.valueOf(a.getLocalPort()));
            p.put("camel.management.port", String.valueOf(b.getLocalPort()));
        }
        return p;
    }

    /**
     * Refuses a training start whose settings are not the training's: a value from the environment
     * ({@code ORDERSYNC_DB_URL}, {@code CAMEL_SERVER_PORT}, …) wins over them, and the launcher removes those
     * variables from the training's environment. This check makes sure none was missed before the database opens.
     */
    public static void check(org.apache.camel.CamelContext context, Map<String, String> overrides) {
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            String actual = context.getPropertiesComponent().resolveProperty(e.getKey()).orElse("");
            if (!actual.equals(e.getValue())) {
                throw new IllegalStateException("class-data archive training refused: " + e.getKey()
                        + " is set elsewhere (the environment?) and would not be the training's own");
            }
        }
    }
}
