package io.ordersync.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.ordersync.delivery.Preview;
import io.ordersync.mapping.ProviderLoader;
import io.ordersync.order.DocumentParser;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.SourceFields;
import org.apache.camel.impl.DefaultCamelContext;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/** The command line besides running the service: validate, preview, fields. */
public final class Commands {

    private final PrintStream out;
    private final PrintStream err;

    public Commands(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    /** Runs a command and returns the process exit code, or -1 when args name no command (run the service). */
    public int run(String[] args) throws Exception {
        if (args.length == 0) {
            return -1;
        }
        List<String> rest = new ArrayList<>(List.of(args).subList(1, args.length));
        return switch (args[0]) {
            case "validate" -> validate(rest);
            case "preview" -> preview(rest);
            case "fields" -> fields();
            case "pretix-import" -> pretixImport(rest);
            case "recover-db" -> recoverDb(rest);
            case "help", "--help", "-h" -> help();
            case "class-archive" -> {
                err.println("class-archive is a command of the ./ordersync launcher, which writes the archive; run ./ordersync class-archive");
                yield 2;
            }
            default -> -1;
        };
    }

    private int help() {
        out.println("""
                ordersync                              run the service (application.properties, -Dkey=value, environment)
                ordersync --demo                       run it with a sandbox CRM, a sandbox pretix and sample orders, on a
                                                       fresh demo database (data/demo, removed at every demo start)
                ordersync --help                       this text
                ordersync validate [--ignore-unset] [file|dir ...]
                                                       check mapping files (default: mappings/); exit 1 on errors
                ordersync preview --provider <id|file> --order <order.json> [--remote <remote.json>] [--ignore-unset]
                                                       print the HTTP requests a sync would send; sends nothing
                ordersync fields                       list the source fields a mapping can read
                ordersync pretix-import --event <slug> [--url http://127.0.0.1:8080] [--no-wait]
                                                       import every order of a pretix event through the running
                                                       ordersync (admin token: ORDERSYNC_ADMIN_TOKEN); prints progress
                ordersync recover-db [--force]         rebuild the H2 database file when H2 can no longer open it (after a
                                                       kill or power cut); keeps the damaged file; ordersync must be stopped
                ordersync class-archive                write this build's class-data archive for faster starts and exit
                                                       (./ordersync only; its first service start of a build does it too)""");
        return 0;
    }

    /** Resolves {{...}} as the service would: application.properties, system properties, environment. */
    static UnaryOperator<String> placeholders(boolean ignoreUnset) {
        DefaultCamelContext context = new DefaultCamelContext();
        context.getPropertiesComponent().setLocation("classpath:application.properties");
        return text -> {
            try {
                return context.resolvePropertyPlaceholders(text);
            } catch (RuntimeException e) {
                if (ignoreUnset) {
                    return null; // the loader then skips the checks of this value
                }
                throw e;
            }
        };
    }

    /**
     * The service's loader: with the Java providers on the class path (before: none, and every kind: java file was
     * "needs a Java provider … registered: none" here while the service ran it; an audit of MAPPINGS.md).
     */
    private ProviderLoader loader(boolean ignoreUnset) {
        UnaryOperator<String> placeholders = placeholders(ignoreUnset);
        return new ProviderLoader(placeholders).withJavaProviders(io.ordersync.spi.SyncProviders.load(Commands.class.getClassLoader()))
                .withPretixActions(pretixActions(placeholders));
    }

    /**
     * The pretix actions as the service would read them (-D, environment, application.properties), the triggers'
     * types; the defaults when the setting is not readable (its own error is the service's start's to give).
     */
    static io.ordersync.pretix.PretixActions pretixActions(UnaryOperator<String> placeholders) {
        try {
            String text = placeholders.apply("{{ordersync.pretix.actions:}}");
            return text == null || text.isBlank() ? io.ordersync.pretix.PretixActions.defaults() : io.ordersync.pretix.PretixActions.parse(text);
        } catch (RuntimeException unreadable) {
            return io.ordersync.pretix.PretixActions.defaults();
        }
    }

    private int validate(List<String> args) throws Exception {
        boolean ignoreUnset = args.remove("--ignore-unset");
        if (args.isEmpty()) {
            args.add("mappings");
        }
        ProviderLoader loader = loader(ignoreUnset);
        int files = 0;
        int broken = 0;
        for (String a : args) {
            Path p = Path.of(a);
            List<Path> list = new ArrayList<>();
            if (Files.isDirectory(p)) {
                try (Stream<Path> s = Files.list(p)) {
                    s.filter(f -> f.getFileName().toString().matches("[^.].*\\.ya?ml")).sorted().forEach(list::add);
                }
            } else {
                list.add(p);
            }
            // as the running service does: <id>.yaml beside <id>.yml is an error, neither is read
            java.util.Map<String, List<Path>> byId = new java.util.HashMap<>();
            list.forEach(f -> byId.computeIfAbsent(f.getFileName().toString().replaceFirst("\\.ya?ml$", ""), k -> new ArrayList<>()).add(f));
            for (Path f : list) {
                files++;
                List<Path> same = Files.isDirectory(p) ? byId.get(f.getFileName().toString().replaceFirst("\\.ya?ml$", "")) : List.of(f);
                if (same.size() > 1) {
                    broken++;
                    out.println("ERROR  " + f);
                    out.println("       two files for provider '" + f.getFileName().toString().replaceFirst("\\.ya?ml$", "")
                            + "': remove one (the service reads neither while both are there)");
                    continue;
                }
                ProviderLoader.Loaded l = loader.load(f);
                if (l.valid()) {
                    out.println("ok     " + f + " (" + l.provider().displayName() + ", " + l.provider().objects().size()
                            + " object mapping" + (l.provider().objects().size() == 1 ? "" : "s") + ")");
                } else {
                    broken++;
                    out.println("ERROR  " + f);
                    l.messages().forEach(m -> out.println("       " + m));
                }
            }
        }
        out.println(files + " file" + (files == 1 ? "" : "s") + ", " + broken + " with errors");
        return broken == 0 && files > 0 ? 0 : 1;
    }

    private int preview(List<String> args) throws Exception {
        boolean ignoreUnset = args.remove("--ignore-unset");
        String provider = option(args, "--provider");
        String order = option(args, "--order");
        String remote = option(args, "--remote");
        if (provider == null || order == null) {
            err.println("preview needs --provider <id|file> and --order <order.json>");
            return 2;
        }
        Path file = provider.endsWith(".yaml") || provider.endsWith(".yml") ? Path.of(provider) : Path.of("mappings", provider + ".yaml");
        ProviderLoader.Loaded l = loader(ignoreUnset).load(file);
        if (!l.valid()) {
            err.println(file + " has errors:");
            l.messages().forEach(m -> err.println("  " + m));
            return 1;
        }
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        OrderDocument doc = new DocumentParser(mapper, Integer.MAX_VALUE).parse(Files.readString(Path.of(order)));
        JsonNode remoteObjects = remote == null ? mapper.createObjectNode() : mapper.readTree(Files.readString(Path.of(remote)));
        try (Preview.Standalone preview = Preview.standalone(Path.of("routes"), mapper)) {
            out.println(mapper.writeValueAsString(preview.preview().run(l.provider(), doc, remoteObjects)));
        }
        return 0;
    }

    /**
     * Starts an import in the running ordersync ({@code POST /api/sources/pretix/import}), or finds the one of the
     * event that runs, and follows its progress until it is done, failed or canceled. Exit 0 when done, 1 when it
     * failed, was canceled or was refused, 2 on bad usage.
     */
    private int pretixImport(List<String> args) throws Exception {
        boolean noWait = args.remove("--no-wait");
        String event = option(args, "--event");
        String url = option(args, "--url");
        if (event == null) {
            err.println("pretix-import needs --event <slug>");
            return 2;
        }
        if (url == null) {
            url = "http://127.0.0.1:" + placeholders(true).apply("{{camel.server.port:8080}}");
        }
        String token = System.getenv("ORDERSYNC_ADMIN_TOKEN");
        if (token == null || token.isBlank()) {
            token = System.getProperty("ordersync.admin.token", "");
        }
        if (token.isBlank()) {
            err.println("set ORDERSYNC_ADMIN_TOKEN (the running ordersync's admin token)");
            return 2;
        }
        ObjectMapper mapper = new ObjectMapper();
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        String body = mapper.createObjectNode().put("event", event).toString();
        java.net.http.HttpResponse<String> started = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url + "/api/sources/pretix/import"))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        long id;
        if (started.statusCode() == 202) {
            id = mapper.readTree(started.body()).path("id").asLong();
            out.println("import #" + id + " of " + event + " started");
        } else if (started.statusCode() == 409 && mapper.readTree(started.body()).path("id").canConvertToLong()) {
            // one import per event at a time: the running one is followed instead
            id = mapper.readTree(started.body()).path("id").asLong();
            out.println("import #" + id + " of " + event + " is running already; following it");
        } else {
            err.println("ordersync refused the import (" + started.statusCode() + "): " + started.body());
            return 1;
        }
        if (noWait) {
            return 0;
        }
        String last = "";
        while (true) {
            JsonNode status = mapper.readTree(http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url + "/api/sources/pretix"))
                    .header("Authorization", "Bearer " + token).build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body());
            JsonNode imp = null;
            for (JsonNode i : status.path("imports")) {
                if (i.path("id").asLong() == id) {
                    imp = i;
                }
            }
            if (imp == null) {
                err.println("import #" + id + " is gone");
                return 1;
            }
            String line = imp.path("done").asInt() + imp.path("unchanged").asInt() + " / "
                    + (imp.path("total").isNull() ? "?" : imp.path("total").asText()) + " orders"
                    + (imp.path("unchanged").asInt() > 0 ? " (" + imp.path("unchanged").asInt() + " unchanged)" : "")
                    + (imp.hasNonNull("last_error") ? " — last error: " + imp.path("last_error").asText() : "");
            if (!line.equals(last)) {
                out.println(line);
                last = line;
            }
            switch (imp.path("state").asText()) {
                case "done" -> {
                    out.println("import #" + id + " done");
                    return 0;
                }
                case "failed", "canceled" -> {
                    err.println("import #" + id + " " + imp.path("state").asText() + ": " + imp.path("last_error").asText());
                    return 1;
                }
                default -> Thread.sleep(1000);
            }
        }
    }

    private static String option(List<String> args, String name) {
        int i = args.indexOf(name);
        return i >= 0 && i + 1 < args.size() ? args.get(i + 1) : null;
    }

    /**
     * Rebuilds the embedded H2 database of the service's settings ({@code ordersync.db.*}) from a file H2 cannot
     * open any more. Exit 0 when rebuilt or when there was nothing to do, 1 when refused or failed, 2 on bad usage.
     */
    private int recoverDb(List<String> args) throws Exception {
        boolean force = args.remove("--force");
        if (!args.isEmpty()) {
            err.println("recover-db takes no arguments but --force (the database is ordersync.db.url): " + args);
            return 2;
        }
        DefaultCamelContext context = new DefaultCamelContext();
        context.getPropertiesComponent().setLocation("classpath:application.properties");
        io.ordersync.config.OrdersyncSettings settings = io.ordersync.config.OrdersyncSettings.from(
                key -> context.getPropertiesComponent().resolveProperty(key).orElse(null));
        try {
            io.ordersync.db.H2Recovery.Result r = io.ordersync.db.H2Recovery.recover(settings.jdbcUrl, settings.jdbcUser,
                    settings.jdbcPassword, force, java.time.Clock.systemUTC());
            if (!r.rebuilt()) {
                out.println("recover-db: " + r.database() + " opens: nothing to recover (--force rebuilds it anyway). It holds "
                        + r.counts());
                return 0;
            }
            out.println("recover-db: rebuilt " + r.database() + " from the damaged file, which is kept as " + r.damaged());
            out.println("recover-db: the rebuilt database holds " + r.counts());
            out.println("recover-db: start ordersync; check the queue and rejected events in the UI.");
            return 0;
        } catch (Exception e) {
            // one line, as for every refusal: the file, the lock, H2's own error
            err.println("recover-db: " + (e.getMessage() != null ? e.getMessage() : e.toString()));
            return 1;
        }
    }

    private int fields() {
        out.printf("%-36s %-14s %-9s %s%n", "field", "input", "type", "label");
        for (SourceFields.Field f : SourceFields.catalogue()) {
            out.printf("%-36s %-14s %-9s %s%n", f.name(), f.input().name().toLowerCase(java.util.Locale.ROOT), f.type(), f.label());
        }
        out.printf("%-36s %-14s %-9s %s%n", "attendee_name_<part>", "position", "string", "Attendee name part (given_name, family_name, …)");
        out.printf("%-36s %-14s %-9s %s%n", "invoice_address_name_<part>", "order", "string", "Invoice address name part");
        out.printf("%-36s %-14s %-9s %s%n", "question_<identifier>", "position", "answer", "Answer: text, boolean, or list of option identifiers");
        out.printf("%-36s %-14s %-9s %s%n", "checkin_date_<list id>", "position", "datetime", "First entry check-in on the list");
        return 0;
    }
}
