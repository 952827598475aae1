package io.ordersync.config;

import org.apache.camel.CamelContext;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The training start the {@code ./ordersync} launcher runs once per build to write an application class-data
 * archive (AppCDS; README, "The class-data archive"): ordersync starts, then stops as soon as it is ready, and the
 * JVM writes the classes the start loaded into the archive at exit ({@code -XX:ArchiveClassesAtExit}). The next
 * starts map them instead of loading and verifying them again.
 *
 * <p>A training start must not touch anything the real service works with. The launcher gives it none of the
 * service's settings (an empty environment but for a few basics, no {@code -D} values), and this class overrides
 * what could still point elsewhere: its own H2 database in the launcher's scratch directory, free loopback ports,
 * no JMS, no pretix, no alerts, no route reload, the demo's mapping (a provider on a closed loopback port) or none,
 * no route consumer started ({@code camel.main.auto-startup=false}) and every producer started lazily, on its first
 * message, which never comes ({@code camel.main.endpoint-lazy-start-producer=true}). The routes of {@code routes/}
 * are created, so their classes are archived, but nothing in them runs. {@link #check} refuses to go on when any
 * of this did not take effect.
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
        // the demo's provider (so that loading and compiling a mapping is archived too), aimed at the discard port
        Path demo = Path.of("demo", "mappings");
        p.put("ordersync.mappings.dir", Files.isDirectory(demo) ? demo.toAbsolutePath().toString()
                : Files.createDirectories(scratch.resolve("mappings")).toString());
        p.put("ordersync.demo.sandbox-url", "http://127.0.0.1:9/api");
        p.put("camel.main.auto-startup", "false");
        p.put("camel.main.endpoint-lazy-start-producer", "true");
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
     * Refuses a training start whose settings are not the training's, before the database opens: a value from the
     * environment ({@code ORDERSYNC_DB_URL}, {@code CAMEL_SERVER_PORT}, …) wins over them (the launcher gives the
     * training an empty environment; this makes sure), and the context must neither start routes nor producers.
     */
    public static void check(CamelContext context, Map<String, String> overrides) {
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            String actual = context.getPropertiesComponent().resolveProperty(e.getKey()).orElse("");
            if (!actual.equals(e.getValue())) {
                throw new IllegalStateException("class-data archive training refused: " + e.getKey()
                        + " is set elsewhere (the environment?) and would not be the training's own");
            }
        }
        // said here, as the start's settings summary masks database URLs (they may hold a password)
        org.slf4j.LoggerFactory.getLogger(ClassArchiveTraining.class).info("class-data archive training on its own database {}",
                overrides.get("ordersync.db.url"));
    }

    /**
     * Every endpoint starts its producer lazily, on its first message, which never comes: also one whose URI says
     * {@code lazyStartProducer=false} (that wins over the global setting). An endpoint that cannot be made lazy stops
     * the training.
     */
    public static void lazyProducers(CamelContext context) {
        context.getCamelContextExtension().registerEndpointCallback((uri, endpoint) -> {
            if (!(endpoint instanceof org.apache.camel.support.DefaultEndpoint d)) {
                throw new IllegalStateException("class-data archive training refused: the producer of " + endpoint.getClass().getName()
                        + " cannot be kept from starting");
            }
            d.setLazyStartProducer(true);
            return endpoint;
        });
    }

    /** Before the context starts: no route may start, and no producer before its first message. */
    public static void checkStarting(CamelContext context) {
        if (context.isAutoStartup() || !context.getGlobalEndpointConfiguration().isLazyStartProducer()) {
            throw new IllegalStateException("class-data archive training refused: routes would start (auto-startup "
                    + context.isAutoStartup() + ", lazy producers " + context.getGlobalEndpointConfiguration().isLazyStartProducer() + ")");
        }
    }
}
