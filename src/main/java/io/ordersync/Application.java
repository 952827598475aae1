package io.ordersync;

import io.ordersync.cli.Commands;
import io.ordersync.config.OrdersyncConfiguration;
import io.ordersync.demo.Demo;
import org.apache.camel.main.BaseMainSupport;
import org.apache.camel.main.Main;
import org.apache.camel.main.MainListenerSupport;

import java.util.List;
import java.util.Map;

/**
 * Runs ordersync as a standalone Camel Main application ({@code --demo}: with a sandbox target and sample
 * orders), or one of its commands (validate, preview, fields).
 */
public final class Application {

    private Application() {
    }

    private static Throwable causedBy(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && !(t instanceof io.ordersync.config.Ports.PortInUseException)
                && !(t instanceof io.ordersync.config.OrdersyncSettings.Invalid) && !(t instanceof io.ordersync.db.Database.ReadOnly)) {
            t = t.getCause();
        }
        return t;
    }

    /** The one line a normal start prints when it is ready: where the UI, the intake and the health check are. */
    static String readyLine(org.apache.camel.CamelContext context) {
        String host = context.resolvePropertyPlaceholders("{{camel.server.host:0.0.0.0}}");
        String shown = host.equals("0.0.0.0") || host.equals("::") ? "localhost" : host;
        String port = context.resolvePropertyPlaceholders("{{camel.server.port:8080}}");
        String mHost = context.resolvePropertyPlaceholders("{{camel.management.host:127.0.0.1}}");
        String mPort = context.resolvePropertyPlaceholders("{{camel.management.port:9876}}");
        String base = "http://" + shown + ":" + port;
        return "ordersync ready: admin UI " + base + "/ui/ · intake " + base + "/api/events · health http://"
                + (mHost.equals("0.0.0.0") ? "localhost" : mHost) + ":" + mPort + "/observe/health";
    }

    public static void main(String[] args) throws Exception {
        int code = new Commands(System.out, System.err).run(args);
        if (code >= 0) {
            System.exit(code);
        }
        Main main = new Main();
        main.configure().addConfiguration(OrdersyncConfiguration.class);
        // the HTTP server is ordersync's alone: its hardening covers every path (embedded: only ordersync's)
        main.bind(io.ordersync.config.Ordersync.OWNS_HTTP_SERVER, Boolean.TRUE);
        java.nio.file.Path training = io.ordersync.config.ClassArchiveTraining.scratch();
        if (training != null) {
            // the launcher's training start (./ordersync, AppCDS): ready, then stop; the JVM writes the archive at exit
            Map<String, String> overrides = io.ordersync.config.ClassArchiveTraining.overrides(training);
            overrides.forEach(System::setProperty);
            overrides.forEach(main::addOverrideProperty);
            main.addMainListener(new MainListenerSupport() {
                @Override
                public void beforeConfigure(BaseMainSupport m) {
                    // before the database opens: a setting that still wins over the training's (the environment) stops it
                    io.ordersync.config.ClassArchiveTraining.check(m.getCamelContext(), overrides);
                    io.ordersync.config.ClassArchiveTraining.lazyProducers(m.getCamelContext());
                }

                @Override
                public void beforeStart(BaseMainSupport m) {
                    io.ordersync.config.ClassArchiveTraining.checkStarting(m.getCamelContext());
                }

                @Override
                public void afterStart(BaseMainSupport m) {
                    main.completed();
                }
            });
            args = List.of(args).stream().filter(a -> !a.equals("--demo")).toArray(String[]::new);
        }
        main.addMainListener(new MainListenerSupport() {
            @Override
            public void beforeConfigure(BaseMainSupport m) {
                io.ordersync.config.Ports.checkFree(m.getCamelContext());
                // the migrations start before Camel's bootstrap, not after it
                io.ordersync.config.Ordersync.openDatabaseEarly(m.getCamelContext());
            }

            @Override
            public void afterConfigure(BaseMainSupport m) {
                // a database that refuses the start does so here, before the context starts (and logs it as an ERROR)
                io.ordersync.config.Ordersync.awaitWritable(m.getCamelContext());
            }
        });
        Demo demo = null;
        boolean isDemo = List.of(args).contains("--demo"); // a training start's args no longer have it
        main.addMainListener(new MainListenerSupport() {
            @Override
            public void afterStart(BaseMainSupport m) {
                if (!isDemo && training == null) {
                    System.out.println(readyLine(m.getCamelContext()));
                }
            }
        });
        if (isDemo) {
            Demo.freshDatabase(java.nio.file.Path.of("data"));
            demo = new Demo(0);
            Demo d = demo;
            demo.properties().forEach(main::addOverrideProperty);
            main.addMainListener(new MainListenerSupport() {
                @Override
                public void afterStart(BaseMainSupport m) {
                    d.started(m.getCamelContext(), m.getCamelContext().resolvePropertyPlaceholders("{{camel.server.port:8080}}"));
                }

                @Override
                public void afterStop(BaseMainSupport m) {
                    d.close();
                }
            });
            args = List.of(args).stream().filter(a -> !a.equals("--demo")).toArray(String[]::new);
        }
        try {
            main.run(args);
            if (training != null) {
                System.exit(0); // a thread left by a library must not hold the exit (and the archive) back
            }
        } catch (io.ordersync.config.Ports.PortInUseException e) {
            System.err.println(e.getMessage());
            System.exit(2);
        } catch (Exception e) {
            if (causedBy(e) instanceof io.ordersync.config.Ports.PortInUseException p) {
                System.err.println(p.getMessage());
                System.exit(2);
            }
            if (causedBy(e) instanceof io.ordersync.config.OrdersyncSettings.Invalid wrong) {
                // one line that names the setting, not a stack trace
                System.err.println("ordersync cannot start: " + wrong.getMessage());
                System.exit(2);
            }
            if (causedBy(e) instanceof io.ordersync.db.Database.ReadOnly readOnly) {
                // exit 1, as for a database out of reach: a supervisor's restarts find it writable again after a failover
                System.err.println("ordersync cannot start: " + readOnly.getMessage());
                System.exit(1);
            }
            throw e;
        } finally {
            if (demo != null) {
                demo.close();
            }
        }
    }
}
