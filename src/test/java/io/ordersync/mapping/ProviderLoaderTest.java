package io.ordersync.mapping;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Mapping files are read into providers; every broken file is reported with its file and a clear reason. */
class ProviderLoaderTest {

    @TempDir
    Path dir;

    private static final String GOOD = """
            identifier: crm
            display_name: CRM
            triggers: [order.paid]
            target:
              base_url: "{{crm.url}}"
              auth: {type: bearer, token: "{{crm.token}}"}
            retry: {max_attempts: 3, backoff: [10s, 1m], recoverable_statuses: ["429", "500-599"]}
            objects:
              - id: contact
                source: Order
                remote_type: contact
                id_field: {source: email, remote: email}
                lookup: {path: "/contacts?email={id_value}", result: /results/0}
                create: {path: /contacts}
                update: {path: "/contacts/{remote_id}"}
                properties:
                  - {source: email, remote: email}
                  - {value: x, remote: origin, mode: if_new}
            """;

    private final ProviderLoader loader = new ProviderLoader(text -> {
        Map<String, String> props = Map.of("{{crm.url}}", "https://crm.example.org/api/", "{{crm.token}}", "t0k",
                "Bearer {{crm.token}}", "Bearer t0k");
        if (!props.containsKey(text)) {
            if (text.contains("{{")) {
                throw new IllegalArgumentException("Property with key " + text + " not found");
            }
            return text;
        }
        return props.get(text);
    }).withJavaProviders(io.ordersync.spi.SyncProviders.load(ProviderLoaderTest.class.getClassLoader()));

    private static final String MAILING_LIST = """
            identifier: mailing-list
            kind: java
            triggers: [order.paid]
            objects:
              - id: member
                source: Order
                remote_type: member
                id_field: {source: email, remote: email_address}
                properties:
                  - {source: invoice_address_name_given_name, remote: FNAME}
            """;

    /**
     * A trigger that is a pretix action, or a type the actions produce with another case, a doubled letter or a hyphen,
     * is refused with the type meant; any other string may be a type of one's own, and the types the configured actions
     * produce count (a review of the first version, which refused order.charged and order.unpaid as near misses and
     * ignored ordersync.pretix.actions).
     */
    @Test
    void aTriggerIsRefusedOnlyWhenItIsAMistakeNoTypeOfOnesOwnMakes() {
        var defaults = io.ordersync.pretix.PretixActions.parse(io.ordersync.pretix.PretixActions.DEFAULT);
        assertThat(ProviderLoader.nearMissTrigger("order.cancelled", defaults)).contains("(did you mean 'order.canceled'?)");
        assertThat(ProviderLoader.nearMissTrigger("Order.Paid", defaults)).contains("(did you mean 'order.paid'?)");
        assertThat(ProviderLoader.nearMissTrigger("order.check-in", defaults)).contains("(did you mean 'order.checkin'?)");
        assertThat(ProviderLoader.nearMissTrigger("order_placed", defaults)).isNull(); // '.' is no hyphen
        // an action: the type its rule makes, not a type that looks like it (denied and deleted orders are canceled)
        assertThat(ProviderLoader.nearMissTrigger("pretix.event.order.denied", defaults))
                .isEqualTo("'pretix.event.order.denied' is a pretix action, not an event type: ordersync.pretix.actions makes "
                        + "its orders 'order.canceled' (did you mean 'order.canceled'?)");
        assertThat(ProviderLoader.nearMissTrigger("pretix.event.checkin", defaults)).contains("(did you mean 'order.checkin'?)");
        for (String own : java.util.List.of("order.paid", "order.refunded", "order.created", "order.charged", "order.unpaid",
                "order.exported", "order.void", "ticket.scanned", "pretix.custom")) {
            assertThat(ProviderLoader.nearMissTrigger(own, defaults)).as(own).isNull();
        }
        // the configured actions: their types are triggers, however close to the defaults'
        var own = io.ordersync.pretix.PretixActions.parse("pretix.event.order.canceled=order.cancelled,"
                + "pretix.event.order.refund.*=pretix.refund,pretix.event.order.paid=order.paid");
        assertThat(ProviderLoader.nearMissTrigger("order.cancelled", own)).isNull();
        assertThat(ProviderLoader.nearMissTrigger("pretix.refund", own)).isNull();
        assertThat(ProviderLoader.nearMissTrigger("order.canceled", own)).contains("(did you mean 'order.cancelled'?)");
        assertThat(ProviderLoader.nearMissTrigger("pretix.event.order.refund.created", own)).contains("(did you mean 'pretix.refund'?)");
    }

    /** A file without a retry block gets MAPPINGS.md's defaults: 5 attempts, 5 s, 5 min, 30 min, 2 h, then every 5 h. */
    @Test
    void withoutARetryBlockTheDefaultsOfMappingsMdHold() throws Exception {
        Provider p = load("mailing-list", MAILING_LIST).provider();
        assertThat(p.maxAttempts()).isEqualTo(5);
        assertThat(java.util.stream.IntStream.rangeClosed(1, 7).mapToObj(p::backoffAfter).toList()).containsExactly(
                java.time.Duration.ofSeconds(5), java.time.Duration.ofMinutes(5), java.time.Duration.ofMinutes(30),
                java.time.Duration.ofHours(2), java.time.Duration.ofHours(5), java.time.Duration.ofHours(5), java.time.Duration.ofHours(5));
    }

    @Test
    void aJavaProviderIsFoundByItsIdentifierAndNamesTheObjectsItSyncs() throws Exception {
        ProviderLoader.Loaded ok = load("mailing-list", MAILING_LIST);
        assertThat(ok.messages()).isEmpty();
        assertThat(ok.provider().kind()).isEqualTo(Provider.Kind.JAVA);
        assertThat(ok.provider().displayName()).isEqualTo("Mailing list (MD5-keyed members)");
        ProviderLoader.Loaded wrong = load("mailing-list", MAILING_LIST.replace("remote_type: member", "remote_type: membr"));
        assertThat(wrong.messages()).singleElement().asString()
                .isEqualTo("mailing-list.yaml:7:18: objects[0].remote_type: the Java provider mailing-list syncs member, "
                        + "not 'membr' (did you mean 'member'?)");
    }

    @Test
    void routeAndEndpointProvidersNeedNoTargetAndKeepTheirDestination() throws Exception {
        ProviderLoader.Loaded route = load("mine", MAILING_LIST.replace("identifier: mailing-list", "identifier: mine")
                .replace("kind: java", "kind: route\nroute: direct:mine"));
        assertThat(route.messages()).isEmpty();
        assertThat(route.provider().destination().uri()).isEqualTo("direct:mine");
        ProviderLoader.Loaded endpoint = load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"jms:queue:crm?connectionFactory=#crmBroker\", per: order, headers: {Subject: \"Order {order_code}\"}}"));
        assertThat(endpoint.messages()).isEmpty();
        assertThat(endpoint.provider().destination()).isEqualTo(new Provider.Destination("jms:queue:crm?connectionFactory=#crmBroker", true,
                Map.of("Subject", "Order {order_code}")));
        ProviderLoader.Loaded badHeader = load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"jms:queue:crm?connectionFactory=#crmBroker\", headers: {Subject: \"Order {order_cod}\"}}"));
        assertThat(badHeader.messages()).anySatisfy(m -> assertThat(m).contains("order_cod"));
        // a credential header of an endpoint follows the rule of target.headers, and is a secret of the provider
        ProviderLoader.Loaded literal = load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"jms:queue:crm?connectionFactory=#crmBroker\", headers: {Authorization: \"Bearer abc123\"}}"));
        assertThat(literal.messages()).anySatisfy(m -> assertThat(m).contains("header Authorization carries a credential"));
        ProviderLoader.Loaded placeholder = load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"jms:queue:crm?connectionFactory=#crmBroker\", headers: {Authorization: \"Bearer {{crm.token}}\"}}"));
        assertThat(placeholder.messages()).isEmpty();
        assertThat(placeholder.provider().secretValues()).contains("Bearer t0k");
        // a placeholder in a header that is no credential is resolved, then the value is a template (before: any {{…}}
        // was "unbalanced braces"); {remote_id} and {base_url}, which a header is never given, are refused at load
        ProviderLoader.Loaded resolved = load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"jms:queue:crm?connectionFactory=#crmBroker\", headers: {X-Base: \"{{crm.url}}\"}}"));
        assertThat(resolved.messages()).isEmpty();
        assertThat(resolved.provider().destination().headers()).containsEntry("X-Base", "https://crm.example.org/api/");
        ProviderLoader.Loaded remoteId = load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"jms:queue:crm?connectionFactory=#crmBroker\", headers: {X-Id: \"{remote_id}\"}}"));
        assertThat(remoteId.messages()).anySatisfy(m -> assertThat(m).contains("endpoint.headers.X-Id").contains("remote_id"));
    }

    /**
     * A Simple expression in a destination URI is refused: components evaluate some options as Simple (file:
     * fileName=${bean:type:java.lang.System?method=…}), which calls any method (found by an independent attack).
     */
    @Test
    void aSimpleExpressionInADestinationUriIsRefused() throws Exception {
        for (String uri : new String[]{"file:/tmp/out?fileName=${bean:type:java.lang.System?method=setProperty('x','y')}",
                "file:/tmp/out?fileName=$simple{date:now:yyyy}", "file:/tmp/out?fileName=${header.x}-${date:now:yyyy}",
                "sql:INSERT INTO t VALUES (:#${bean:type:java.lang.System?method=exit(1)})", "jms:queue:${headers.x.toString()}"}) {
            ProviderLoader.Loaded endpoint = load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                    .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"" + uri + "\"}"));
            assertThat(endpoint.provider()).as(uri).isNull();
            assertThat(endpoint.messages()).as(uri).anySatisfy(m -> assertThat(m).contains("a Simple expression (${…}) in a destination URI")
                    .contains("only ${body} and ${header.Name} are allowed"));
            ProviderLoader.Loaded route = load("mine", MAILING_LIST.replace("identifier: mailing-list", "identifier: mine")
                    .replace("kind: java", "kind: route\nroute: \"" + uri.replace("file:/tmp/out", "direct:mine") + "\""));
            assertThat(route.provider()).as(uri).isNull();
        }
        // none, or reading the body or a header (camel-sql's :#${body}) is fine
        for (String uri : new String[]{"file:/tmp/out?fileName=orders.json", "sql:INSERT INTO t VALUES (:#${body}, :#${header.OrderCode})?dataSource=#crmCopy",
                "file:/tmp/out?fileName=${headers.Name}.json", "jms:queue:${header[Queue]}?connectionFactory=#crmBroker", "amqp:queue:crm?%63onnectionFactory=#crmBroker"}) {
            assertThat(load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                    .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"" + uri + "\"}")).messages()).as(uri).isEmpty();
        }
    }

    /**
     * Every destination PROVIDERS.md lists as refused is refused, as an endpoint's URI and as a route's: the components
     * that run code or reach into the process (any case, %-escaped), ordersync's own routes and components, beans by
     * class, and endpoint headers that steer Camel or ordersync. A look-alike that delivers is taken.
     */
    @Test
    void everyDestinationTheDocumentationRefusesIsRefused() throws Exception {
        Map<String, String> refused = new java.util.LinkedHashMap<>();
        for (String scheme : List.of("bean", "class", "exec", "language", "controlbus", "ref", "stub", "mock", "dataset",
                "browse", "groovy", "jsh", "joor", "java", "js", "mvel", "ognl", "spel", "python", "ssh", "docker",
                "kubernetes", "jmx", "management")) {
            refused.put(scheme + ":something", "'" + scheme + ":' runs code or reaches into the process");
        }
        refused.put("EXEC:/bin/sh?args=-c", "is not a Camel endpoint URI"); // a scheme is lower case
        refused.put("%65xec:/bin/sh", "is not a Camel endpoint URI");
        refused.put("Language:groovy:System.exit(1)", "is not a Camel endpoint URI");
        refused.put("ordersync-sql:whatever", "'ordersync-sql:' runs code");
        refused.put("direct:ordersync-dispatch", "is one of ordersync's own routes");
        refused.put("seda:provider-crm", "is one of ordersync's own routes");
        refused.put("direct://ordersync-alert-mail", "is one of ordersync's own routes");
        refused.put("vm:provider-crm", "is one of ordersync's own routes");
        refused.put("file:/tmp/out?fileExist=#class:java.lang.Object", "not by type or class");
        refused.put("file:/tmp/out?fileExist=%23class:java.lang.Object", "not by type or class");
        for (Map.Entry<String, String> r : refused.entrySet()) {
            ProviderLoader.Loaded endpoint = load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                    .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"" + r.getKey() + "\"}"));
            assertThat(endpoint.provider()).as(r.getKey()).isNull();
            assertThat(endpoint.messages()).as(r.getKey()).anySatisfy(m -> assertThat(m).contains(r.getValue()));
            ProviderLoader.Loaded route = load("mine", MAILING_LIST.replace("identifier: mailing-list", "identifier: mine")
                    .replace("kind: java", "kind: route\nroute: \"" + r.getKey() + "\""));
            assertThat(route.provider()).as("route " + r.getKey()).isNull();
        }
        for (String header : List.of("CamelHttpUri", "camelFileName", "OrdersyncProvider", "ORDERSYNC_X")) {
            ProviderLoader.Loaded endpoint = load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                    .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"file:/tmp/out\", headers: {" + header + ": \"x\"}}"));
            assertThat(endpoint.provider()).as(header).isNull();
            assertThat(endpoint.messages()).as(header).anySatisfy(m -> assertThat(m).contains("endpoint.headers." + header)
                    .contains("headers starting with Camel or Ordersync"));
        }
        // look-alikes that deliver: a route of one's own named like ordersync's, a file named like a refused scheme
        for (String uri : List.of("direct:my-ordersync-copy", "seda:crm-provider", "file:/tmp/exec", "https://exec.example.org/hook")) {
            assertThat(load("queue", MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                    .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"" + uri + "\", headers: {X-Camel: \"x\"}}")).messages())
                    .as(uri).isEmpty();
        }
    }

    /** A Java provider's file may name only the remote types the provider syncs (its objects()), with a hint. */
    @Test
    void aJavaProvidersFileMayNameOnlyTheRemoteTypesItSyncs() throws Exception {
        assertThat(load("mailing-list", MAILING_LIST).messages()).isEmpty();
        ProviderLoader.Loaded other = load("mailing-list", MAILING_LIST.replace("remote_type: member", "remote_type: members"));
        assertThat(other.provider()).isNull();
        assertThat(other.messages()).singleElement().satisfies(m -> assertThat(m)
                .contains("objects[0].remote_type").contains("the Java provider mailing-list syncs member, not 'members'")
                .contains("did you mean 'member'?"));
    }

    /**
     * A file saved with Windows line ends (CRLF) loads as the same file with LF, and an error in it is reported at the
     * same line and column (a carriage return is no character of a value, a key or a position).
     */
    @Test
    void aFileWithWindowsLineEndsLoadsAsWithUnixOnes() throws Exception {
        ProviderLoader.Loaded unix = load("crm", GOOD);
        ProviderLoader.Loaded windows = load("crm", GOOD.replace("\n", "\r\n"));
        assertThat(windows.messages()).isEmpty();
        assertThat(windows.provider().objects()).hasSameSizeAs(unix.provider().objects());
        assertThat(windows.provider().objects().get(0).properties()).isEqualTo(unix.provider().objects().get(0).properties());
        assertThat(windows.provider().displayName()).isEqualTo("CRM");
        String broken = GOOD.replace("{value: x, remote: origin, mode: if_new}", "{value: x, remote: origin, mode: if_nwe}");
        assertThat(load("crm", broken.replace("\n", "\r\n")).messages()).isEqualTo(load("crm", broken).messages())
                .singleElement().satisfies(m -> assertThat(m).startsWith("crm.yaml:18:").contains("if_nwe").doesNotContain("\r"));
    }

    private ProviderLoader.Loaded load(String name, String yaml) throws Exception {
        Path f = dir.resolve(name + ".yaml");
        Files.writeString(f, yaml);
        return loader.load(f);
    }

    /** The token URL is quoted in every failed fetch: credentials in it are refused (b68 has the user:password form). */
    @Test
    void aTokenUrlWithTheSecretInItsQueryIsRefused() throws Exception {
        String yaml = java.nio.file.Files.readString(Path.of(ProviderLoaderTest.class.getResource(
                "/broken-mappings/b68-oauth2-token-url-with-secret.yaml").toURI()))
                .replace("https://ordersync:s3cret@login.example.com/token", "https://login.example.com/token?grant=x&CLIENT_SECRET=s3cret")
                .replace("identifier: b68-oauth2-token-url-with-secret", "identifier: query-secret");
        assertThat(load("query-secret", yaml).errors()).extracting(e -> e.message())
                .containsExactly("credentials in the URL (user:password@host, client_secret=…) are refused: the URL is logged and "
                        + "shown with each failure; use client_id and client_secret");
    }

    @Test
    void anIdentifierLongerThanTheDatabaseKeepsIsAnError() throws Exception {
        String id = "p" + "x".repeat(ProviderLoader.MAX_IDENTIFIER);
        ProviderLoader.Loaded tooLong = load(id, GOOD.replace("identifier: crm", "identifier: " + id));
        assertThat(tooLong.provider()).isNull();
        assertThat(tooLong.messages()).anySatisfy(m -> assertThat(m).contains("the identifier is 101 characters long, at most 100"));
        String longest = "x".repeat(ProviderLoader.MAX_IDENTIFIER);
        assertThat(load(longest, GOOD.replace("identifier: crm", "identifier: " + longest)).messages()).isEmpty();
    }

    /** An object's id, remote_type and id_field.remote are columns of its result: longer than they hold is an error. */
    @Test
    void namesLongerThanAResultHoldsAreErrors() throws Exception {
        ProviderLoader.Loaded tooLong = load("crm", GOOD.replace("- id: contact", "- id: c" + "x".repeat(100))
                .replace("remote_type: contact", "remote_type: c" + "x".repeat(100))
                .replace("id_field: {source: email, remote: email}", "id_field: {source: email, remote: e" + "x".repeat(200) + "}"));
        assertThat(tooLong.provider()).isNull();
        assertThat(tooLong.messages()).anySatisfy(m -> assertThat(m).contains("id is 101 characters long, at most 100"))
                .anySatisfy(m -> assertThat(m).contains("remote_type is 101 characters long, at most 100"))
                .anySatisfy(m -> assertThat(m).contains("id_field.remote is 201 characters long, at most 200"));
        assertThat(load("crm", GOOD.replace("- id: contact", "- id: " + "c".repeat(100))
                .replace("remote_type: contact", "remote_type: " + "c".repeat(100))
                .replace("id_field: {source: email, remote: email}", "id_field: {source: email, remote: " + "e".repeat(200) + "}"))
                .errors()).isEmpty();
    }

    @Test
    void aGoodFileCompiles() throws Exception {
        ProviderLoader.Loaded l = load("crm", GOOD);
        assertThat(l.errors()).isEmpty();
        Provider p = l.provider();
        assertThat(p.baseUrl()).isEqualTo("https://crm.example.org/api");
        assertThat(p.headers()).containsEntry("Authorization", "Bearer t0k");
        assertThat(p.maxAttempts()).isEqualTo(3);
        assertThat(p.backoffAfter(1)).isEqualTo(Duration.ofSeconds(10));
        assertThat(p.backoffAfter(7)).isEqualTo(Duration.ofMinutes(1));
        assertThat(p.recoverableStatuses().contains(503)).isTrue();
        assertThat(p.recoverableStatuses().contains(404)).isFalse();
        assertThat(p.objects().get(0).properties().get(1).mode()).isEqualTo(Mode.IF_NEW);
    }

    /** Every file of src/test/resources/broken-mappings says on its first line where its error is and what it says. */
    static Stream<Path> brokenFiles() throws Exception {
        Path dir = Path.of(ProviderLoaderTest.class.getResource("/broken-mappings").toURI());
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
        }
        assertThat(files).as("a corpus of at least 20 broken files").hasSizeGreaterThanOrEqualTo(20);
        return files.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("brokenFiles")
    void brokenFilesAreReportedWithFileLineAndMessage(Path file) throws Exception {
        String first = Files.readAllLines(file).get(0);
        Matcher m = Pattern.compile("# expect: (\\d+):(\\d+) (.+)").matcher(first);
        assertThat(m.matches()).as("expectation line of " + file).isTrue();
        ProviderLoader.Loaded l = loader.load(file);
        assertThat(l.valid()).isFalse();
        assertThat(l.provider()).isNull();
        String name = file.getFileName().toString();
        assertThat(l.errors()).anySatisfy(e -> {
            assertThat(e.file()).isEqualTo(name);
            assertThat(e.line()).isEqualTo(Integer.parseInt(m.group(1)));
            assertThat(e.column()).isEqualTo(Integer.parseInt(m.group(2)));
            assertThat(e.message()).contains(m.group(3));
        });
    }

    @Test
    void callsTakePlaceholdersAtLoadAndNameEarlierMappingsRemoteIds() throws Exception {
        ProviderLoader l2 = new ProviderLoader(text -> switch (text) {
            case "{{list.id}}" -> "7";
            case "{{list.name}}" -> "a1b2";
            case "{{crm.url}}" -> "https://crm.example.org";
            case "{{crm.token}}" -> "t0k";
            case "{{bad}}" -> "{email}";
            default -> text.contains("{{") ? null : text;
        });
        Path f = dir.resolve("lists.yaml");
        Files.writeString(f, """
                identifier: lists
                triggers: [order.paid]
                target: {base_url: "{{crm.url}}", auth: {type: bearer, token: "{{crm.token}}"}}
                objects:
                  - id: contact
                    source: Order
                    remote_type: contact
                    id_field: {source: email, remote: email}
                    upsert: {path: "/lists/{{list.name}}/members/{email|lower|md5}", body: {email: "{id_value}", listIds: ["{{list.id}}"], note: "list {{list.id}}", attributes: "{properties}"}}
                  - id: link
                    source: Order
                    remote_type: association
                    id_field: {source: event_order_code, remote: code}
                    upsert: {path: "/deals/{ref:contact}/link/{{unset.value}}", body: {contact: "{ref:contact}"}}
                """);
        ProviderLoader.Loaded ok = l2.load(f);
        assertThat(ok.messages()).isEmpty();
        Provider.ObjectSpec contact = ok.provider().objects().get(0);
        assertThat(contact.upsert().path()).isEqualTo("/lists/a1b2/members/{email|lower|md5}");
        // a value that is only a placeholder takes the type it reads as; text around one keeps it text
        assertThat(contact.upsert().body().toString())
                .isEqualTo("{\"email\":\"{id_value}\",\"listIds\":[7],\"note\":\"list 7\",\"attributes\":\"{properties}\"}");
        // validating without the environment: an unset placeholder stands in, nothing fails
        assertThat(ok.provider().objects().get(1).upsert().path()).isEqualTo("/deals/{ref:contact}/link/unset");

        Files.writeString(f, Files.readString(f).replace("{{list.name}}", "{{bad}}").replace("{ref:contact}/link", "{ref:contct}/link"));
        assertThat(l2.load(f).messages()).containsExactlyInAnyOrder(
                "lists.yaml:9:20: objects[0].upsert.path: {{bad}} resolves to a value with braces, which would read as a template",
                "lists.yaml:14:20: objects[1].upsert.path: {ref:contct}: no earlier object mapping 'contct' (a call can name the remote id of a mapping above it)");
    }

    @Test
    void aFileThatIsNotUtf8NamesThePlaceOfTheFirstBadByte() throws Exception {
        Path f = dir.resolve("crm.yaml");
        Files.write(f, GOOD.replace("display_name: CRM", "display_name: Café Müller").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        ProviderLoader.Loaded l = loader.load(f);
        assertThat(l.messages()).singleElement().asString()
                .isEqualTo("crm.yaml:2:18: the file is not UTF-8: byte 0xE9 cannot be read (saved as Latin-1 or "
                        + "Windows-1252?); save the file as UTF-8");
    }

    @Test
    void everyBoundaryValueTheLoaderAcceptsIsUsable() throws Exception {
        ProviderLoader.Loaded l = load("crm", GOOD.replace("  auth: {type: bearer, token: \"{{crm.token}}\"}",
                "  auth: {type: bearer, token: \"{{crm.token}}\"}\n  concurrency: 200\n  rate_limit: 100000\n"
                        + "  connect_timeout_ms: 1\n  response_timeout_ms: 600000\n  circuit_breaker: {open_for: 1d, minimum_calls: 1000}"));
        assertThat(l.errors()).isEmpty();
        assertThat(l.provider().concurrency()).isEqualTo(200);
    }

    @Test
    void valueMapsFollowPretixsChoices() throws Exception {
        String base = GOOD.replace("      - {value: x, remote: origin, mode: if_new}",
                "      - {value: x, remote: origin, mode: if_new}\n      - PROPERTY");
        assertThat(base).contains("- PROPERTY");
        // order_status has n, p, e, c: a map of those four is complete, "r" is not an option
        assertThat(load("crm", base.replace("PROPERTY",
                "{source: order_status, remote: s, value_map: {n: pending, p: paid, e: expired, c: canceled}}")).errors()).isEmpty();
        assertThat(load("crm", base.replace("PROPERTY",
                "{source: order_status, remote: s, value_map: {n: a, p: b, e: c, c: d, r: e}}")).messages())
                .anySatisfy(m -> assertThat(m).contains("'r' is not an option of order_status"));
        // order_locale: the event's locales, a map names those it needs
        assertThat(load("crm", base.replace("PROPERTY",
                "{source: order_locale, remote: language, value_map: {de: German, en: English}}")).errors()).isEmpty();
    }

    @Test
    void aPropertyCanSendItsListAsAJsonListOrJoined() throws Exception {
        String yaml = GOOD
                + """
                  - id: ticket
                    source: OrderPosition
                    remote_type: ticket
                    id_field: {source: ticket_id, remote: ticket_id}
                    upsert: {path: "/tickets/{id_value}"}
                    properties:
                      - {source: question_TOPICS, remote: topics}
                      - {source: question_TOPICS, remote: topics_list, list: true}
                """;
        for (boolean nativeLists : new boolean[]{false, true}) {
            String file = (nativeLists ? "native_lists: true\n" : "separator: \";\"\n") + yaml.replace(
                    "{source: question_TOPICS, remote: topics}", "{source: question_TOPICS, remote: topics, list: false}");
            ProviderLoader.Loaded l = load("crm", file);
            assertThat(l.errors()).isEmpty();
            io.ordersync.order.OrderDocument doc = new io.ordersync.order.DocumentParser(new com.fasterxml.jackson.databind.ObjectMapper(),
                    1 << 20).parse(io.ordersync.support.Fixtures.read("fixtures/order-catalogue.json"));
            MappingEngine.PlannedObject ticket = MappingEngine.plan(l.provider(), doc).stream()
                    .filter(o -> o.spec().id().equals("ticket")).findFirst().orElseThrow();
            Map<String, Object> sent = MappingEngine.assign(ticket.values(), Map.of(), true, l.provider().separator(),
                    l.provider().nativeLists());
            String sep = l.provider().separator();
            assertThat(sent).as("native_lists: " + nativeLists).containsEntry("topics", "AI" + sep + "OPS")
                    .containsEntry("topics_list", List.of("AI", "OPS"));
        }
    }

    /**
     * The credential's placeholder in a call's path or body: refused, since the templates there could show it
     * changed ({@code default(…)|upper}, {@code substring}) where redaction does not find it (found by an attack:
     * preview showed the token upper-cased and in pieces). Other placeholders (a list id) stay allowed there.
     */
    @Test
    void theCredentialCannotBeUsedInAPathOrABody() throws Exception {
        ProviderLoader keyed = new ProviderLoader(text -> text.replace("{{crm.url}}", "https://crm.example.org")
                .replace("{{env:CRM_TOKEN}}", "sk_live_SECRET123").replace("{{env:LIST}}", "42")
                .replace("{{env:USER}}", "api-user").replace("{{env:PASS}}", "pass-word-77"));
        String bearer = GOOD.replace("{{crm.token}}", "{{env:CRM_TOKEN}}");
        for (String[] c : new String[][]{
                {bearer, "lookup: {path: \"/contacts?email={id_value}&a={email|default({{env:CRM_TOKEN}})|upper}\", result: /results/0}",
                        "objects[0].lookup.path"},
                {bearer, "create: {path: \"/contacts/{{env:CRM_TOKEN}}\"}", "objects[0].create.path"},
                {bearer, "create: {path: /contacts, body: {k: \"{{env:CRM_TOKEN}}\", v: \"{properties}\"}}", "objects[0].create.body"},
                {GOOD.replace("auth: {type: bearer, token: \"{{crm.token}}\"}", "auth: {type: basic, username: \"{{env:USER}}\", password: \"{{env:PASS}}\"}"),
                        "update: {path: \"/contacts/{remote_id}?p={{env:PASS}}\"}", "objects[0].update.path"}}) {
            String text = c[0].replaceFirst(c[1].startsWith("lookup") ? "lookup: \\{[^\n]*" : c[1].startsWith("create") ? "create: \\{[^\n]*"
                    : "update: \\{[^\n]*", java.util.regex.Matcher.quoteReplacement(c[1]));
            assertThat(text).contains(c[1]);
            Path f = dir.resolve("crm.yaml");
            Files.writeString(f, text);
            ProviderLoader.Loaded l = keyed.load(f);
            assertThat(l.valid()).as(c[1]).isFalse();
            assertThat(l.errors()).as(c[1]).anySatisfy(e -> {
                assertThat(e.path()).isEqualTo(c[2]);
                assertThat(e.message()).contains("is this provider's credential");
                assertThat(e.line()).isPositive();
            });
            assertThat(l.messages()).as(c[1]).noneMatch(m -> m.toLowerCase(java.util.Locale.ROOT).contains("secret123")
                    || m.contains("pass-word-77"));
        }
        // a placeholder that is no credential (a list id) is still resolved in a path and a body
        Path f = dir.resolve("crm.yaml");
        Files.writeString(f, bearer.replaceFirst("create: \\{[^\n]*", java.util.regex.Matcher.quoteReplacement(
                "create: {path: \"/lists/{{env:LIST}}/contacts\", body: {listIds: [\"{{env:LIST}}\"], v: \"{properties}\"}}")));
        ProviderLoader.Loaded ok = keyed.load(f);
        assertThat(ok.errors()).isEmpty();
        assertThat(ok.provider().objects().get(0).create().path()).isEqualTo("/lists/42/contacts");

        // an endpoint's header that is no credential is a template too, whichever comes first in the file
        for (String headers : new String[]{"{X-T: \"{order_code|default({{env:CRM_TOKEN}})|upper}\", Authorization: \"Bearer {{env:CRM_TOKEN}}\"}",
                "{Authorization: \"Bearer {{env:CRM_TOKEN}}\", X-T: \"{order_code|default({{env:CRM_TOKEN}})|upper}\"}"}) {
            Path q = dir.resolve("queue.yaml");
            Files.writeString(q, MAILING_LIST.replace("identifier: mailing-list", "identifier: queue")
                    .replace("kind: java", "kind: endpoint\nendpoint: {uri: \"jms:queue:crm?connectionFactory=#crmBroker\", headers: " + headers + "}"));
            ProviderLoader.Loaded l = keyed.withJavaProviders(io.ordersync.spi.SyncProviders.none()).load(q);
            assertThat(l.errors()).as(headers).anySatisfy(e -> {
                assertThat(e.path()).isEqualTo("endpoint.headers.X-T");
                assertThat(e.message()).contains("a credential of this provider");
            });
        }

        // an unsaved text of a provider (preview, the editor) without the auth block: the saved file's credential still counts
        Files.writeString(f, GOOD.replace("auth: {type: bearer, token: \"{{crm.token}}\"}", "auth: {type: none}")
                .replaceFirst("create: \\{[^\n]*", java.util.regex.Matcher.quoteReplacement("create: {path: \"/contacts?k={email|default({{env:CRM_TOKEN}})|upper}\"}")));
        ProviderLoader restricted = keyed.restrictedTo(java.util.Set.of("{{crm.url}}", "{{env:CRM_TOKEN}}"), java.util.Set.of("sk_live_SECRET123"));
        ProviderLoader.Loaded unsaved = restricted.load(f);
        assertThat(unsaved.valid()).isFalse();
        assertThat(unsaved.errors()).anySatisfy(e -> assertThat(e.message()).contains("is this provider's credential"));
        assertThat(unsaved.messages()).noneMatch(m -> m.toLowerCase(java.util.Locale.ROOT).contains("secret123"));
        assertThat(keyed.restrictedTo(java.util.Set.of("{{crm.url}}", "{{env:CRM_TOKEN}}")).load(f).valid())
                .as("without the saved file's credentials, the text alone does not tell").isTrue();
    }

    /**
     * display_name goes into the log, the UI and alerts: a line break, an escape sequence or a bidirectional override
     * is an error (found by an attack: a save forged a log line); other Unicode is fine.
     */
    @Test
    void aDisplayNameIsOneLineWithoutControlCharacters() throws Exception {
        for (String bad : new String[]{"\"CRM\\n21:49:00.000 INFO saved by alice\"", "\"CRM\\u001b[2K\"", "\"CRM\\u202Egnp.exe\"",
                "\"CRM\\u2028x\"", "\"CRM\\ttab\"", "\"" + "x".repeat(201) + "\""}) {
            ProviderLoader.Loaded l = load("crm", GOOD.replace("display_name: CRM", "display_name: " + bad));
            assertThat(l.errors()).as(bad).anySatisfy(e -> {
                assertThat(e.path()).isEqualTo("display_name");
                assertThat(e.message()).contains("one line");
            });
        }
        assertThat(load("crm", GOOD.replace("display_name: CRM", "display_name: \"Café CRM – Zürich 日本\"")).errors()).isEmpty();
    }

    /** The defaults README and MAPPINGS.md give, for a file that names none of them. */
    @Test
    void theDefaultsAreTheDocumentedOnes() throws Exception {
        ProviderLoader.Loaded l = load("crm", GOOD.replace("retry: {max_attempts: 3, backoff: [10s, 1m], recoverable_statuses: [\"429\", \"500-599\"]}\n", ""));
        assertThat(l.errors()).isEmpty();
        Provider p = l.provider();
        assertThat(p.maxAttempts()).isEqualTo(5);
        assertThat(p.backoff()).containsExactly(java.time.Duration.ofSeconds(5), java.time.Duration.ofMinutes(5), java.time.Duration.ofMinutes(30),
                java.time.Duration.ofHours(2), java.time.Duration.ofHours(5));
        assertThat(java.util.stream.IntStream.of(408, 425, 429, 500, 503, 599).allMatch(p.recoverableStatuses()::contains)).isTrue();
        assertThat(java.util.stream.IntStream.of(400, 401, 403, 404, 409, 422, 499, 600).noneMatch(p.recoverableStatuses()::contains)).isTrue();
        assertThat(p.connectTimeoutMs()).isEqualTo(5000);
        assertThat(p.responseTimeoutMs()).isEqualTo(30_000);
        assertThat(p.concurrency()).isEqualTo(4);
        // MAPPINGS.md: the breaker on, 50 % of at least 10 calls, open for 30 s; lists joined with ","
        assertThat(p.breaker()).isEqualTo(new Provider.BreakerSpec(true, 50, 10, java.time.Duration.ofSeconds(30)));
        assertThat(p.separator()).isEqualTo(",");
    }

    /** The ranges MAPPINGS.md gives are enforced at load, each with its message; the values at the ends are taken. */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', textBlock = """
            retry: {max_attempts: 0}                                   | retry.max_attempts: must be 1 to 1000, got 0
            retry: {max_attempts: 1001}                                | retry.max_attempts: must be 1 to 1000, got 1001
            retry: {backoff: [31d]}                                    | retry.backoff[0]: '31d' must be 0s to 30d
            retry: {backoff: [5s, soon]}                               | retry.backoff[1]: 'soon' is not a duration
            target: {rate_limit: 100001}                               | target.rate_limit: must be 0 (no limit) to 100000 requests per second, got 100001
            target: {rate_limit: -1}                                   | target.rate_limit: must be 0 (no limit) to 100000 requests per second, got -1
            target: {circuit_breaker: {minimum_calls: 0}}              | target.circuit_breaker.minimum_calls: must be 1 to 1000, got 0
            target: {circuit_breaker: {minimum_calls: 1001}}           | target.circuit_breaker.minimum_calls: must be 1 to 1000, got 1001
            target: {circuit_breaker: {failure_rate: 0}}               | target.circuit_breaker.failure_rate: must be a percentage, 1 to 100
            target: {circuit_breaker: {failure_rate: 101}}             | target.circuit_breaker.failure_rate: must be a percentage, 1 to 100
            """)
    void aValueOutOfItsRangeIsRefusedAtLoad(String setting, String message) throws Exception {
        String yaml = setting.startsWith("retry")
                ? GOOD.replace("retry: {max_attempts: 3, backoff: [10s, 1m], recoverable_statuses: [\"429\", \"500-599\"]}", setting)
                : GOOD.replace("  auth: {type: bearer, token: \"{{crm.token}}\"}", "  auth: {type: bearer, token: \"{{crm.token}}\"}\n  "
                        + setting.substring("target: {".length(), setting.length() - 1));
        ProviderLoader.Loaded l = load("crm", yaml);
        assertThat(l.provider()).isNull();
        assertThat(l.messages()).anySatisfy(m -> assertThat(m).contains(message));
    }

    @Test
    void theValuesAtTheEndsOfTheRangesAreTaken() throws Exception {
        for (String setting : List.of("retry: {max_attempts: 1, backoff: [0s]}", "retry: {max_attempts: 1000, backoff: [30d]}")) {
            assertThat(load("crm", GOOD.replace("retry: {max_attempts: 3, backoff: [10s, 1m], recoverable_statuses: [\"429\", \"500-599\"]}",
                    setting)).messages()).as(setting).isEmpty();
        }
        for (String setting : List.of("rate_limit: 0", "rate_limit: 100000", "circuit_breaker: {minimum_calls: 1, failure_rate: 1}",
                "circuit_breaker: {minimum_calls: 1000, failure_rate: 100}")) {
            assertThat(load("crm", GOOD.replace("  auth: {type: bearer, token: \"{{crm.token}}\"}",
                    "  auth: {type: bearer, token: \"{{crm.token}}\"}\n  " + setting)).messages()).as(setting).isEmpty();
        }
    }

    /**
     * A header is a credential by its name (MAPPINGS.md): Authorization, Proxy-Authorization, Cookie, X-Api-Key, or one
     * with token, secret, key, auth, password, session or signature in it; its value must be one placeholder (after a
     * scheme word), and so must an api_key auth's value. A literal is refused; a placeholder is taken and redacted.
     */
    @Test
    void aHeaderIsACredentialByItsNameAndTakesOnlyAPlaceholder() throws Exception {
        for (String header : List.of("Proxy-Authorization", "Cookie", "X-Api-Key", "X-Auth-Token", "X-Client-Secret", "Api-Key",
                "X-Password", "X-Session-Id", "X-Signature", "x-my-apikey")) {
            ProviderLoader.Loaded literal = load("crm", GOOD.replace("  auth: {type: bearer, token: \"{{crm.token}}\"}",
                    "  auth: {type: bearer, token: \"{{crm.token}}\"}\n  headers: {" + header + ": \"abc123literal\"}"));
            assertThat(literal.provider()).as(header).isNull();
            assertThat(literal.messages()).as(header).anySatisfy(m -> assertThat(m).contains("header " + header + " carries a credential"));
            ProviderLoader.Loaded placeholder = load("crm", GOOD.replace("  auth: {type: bearer, token: \"{{crm.token}}\"}",
                    "  auth: {type: bearer, token: \"{{crm.token}}\"}\n  headers: {" + header + ": \"Bearer {{crm.token}}\"}"));
            assertThat(placeholder.messages()).as(header).isEmpty();
            assertThat(placeholder.provider().secretValues()).as(header).contains("Bearer t0k");
        }
        // ordinary headers take literals
        assertThat(load("crm", GOOD.replace("  auth: {type: bearer, token: \"{{crm.token}}\"}",
                "  auth: {type: bearer, token: \"{{crm.token}}\"}\n  headers: {X-Origin: shop, Accept-Language: de}")).messages()).isEmpty();
        ProviderLoader.Loaded apiKey = load("crm", GOOD.replace("auth: {type: bearer, token: \"{{crm.token}}\"}",
                "auth: {type: api_key, header: X-Credential, value: \"abc123literal\"}"));
        assertThat(apiKey.provider()).isNull();
        assertThat(apiKey.messages()).anySatisfy(m -> assertThat(m).contains("target.auth.value"));
    }

    /** Whatever a credential's header is called, its value is known as secret and redacted from a target's echo. */
    @Test
    void anApiKeyUnderAnyHeaderNameIsASecret() throws Exception {
        ProviderLoader keyed = new ProviderLoader(text -> text.replace("{{crm.url}}", "https://crm.example.org")
                .replace("{{env:CRM_KEY}}", "key-0123456789abcdef"));
        Path f = dir.resolve("crm.yaml");
        Files.writeString(f, GOOD.replace("auth: {type: bearer, token: \"{{crm.token}}\"}",
                "auth: {type: api_key, header: X-Credential, value: \"{{env:CRM_KEY}}\"}"));
        ProviderLoader.Loaded l = keyed.load(f);
        assertThat(l.errors()).isEmpty();
        assertThat(l.provider().secretValues()).contains("key-0123456789abcdef");
        assertThat(Secrets.redact("echo: X-Credential=key-0123456789abcdef", l.provider().secretValues()))
                .isEqualTo("echo: X-Credential=[redacted]");
    }

    /**
     * A placeholder's value never comes back in an error, whatever field it was put in: a token in base_url, in a
     * route or in an endpoint's uri is quoted by the error as [redacted] (the editor, the log and the API show these).
     */
    @Test
    void anErrorNeverQuotesWhatAPlaceholderResolvedTo() throws Exception {
        ProviderLoader keyed = new ProviderLoader(text -> text.replace("{{crm.url}}", "https://crm.example.org")
                .replace("{{crm.token}}", "t0k").replace("{{env:CRM_TOKEN}}", "s3cr3t-crm-token-XYZ"));
        Path f = dir.resolve("crm.yaml");
        Files.writeString(f, GOOD.replace("{{crm.url}}", "{{env:CRM_TOKEN}}"));
        ProviderLoader.Loaded l = keyed.load(f);
        assertThat(l.messages()).isNotEmpty().noneMatch(m -> m.contains("s3cr3t-crm-token-XYZ"))
                .anyMatch(m -> m.contains("base_url") && m.contains(Secrets.REDACTED));
        Files.writeString(f, GOOD.replace("{{crm.url}}", "{{env:CRM_TOKEN}}/api"));
        assertThat(keyed.load(f).messages()).isNotEmpty().noneMatch(m -> m.contains("s3cr3t-crm-token-XYZ"));
    }

    /**
     * Deep nesting is refused where it passes 50 levels, with its line and column, at once: 120 000 '[' (240 kB) took
     * 7 s of CPU before SnakeYAML's own limit was reached, without a place (found by an attack).
     */
    @Test
    void nestingDeeperThanFiftyLevelsIsRefusedWhereItStartsAndFast() throws Exception {
        String deep = GOOD + "x: " + "[".repeat(120_000) + "]".repeat(120_000) + "\n";
        long t0 = System.nanoTime();
        ProviderLoader.Loaded l = load("crm", deep);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertThat(l.valid()).isFalse();
        assertThat(l.messages()).singleElement().asString()
                .matches("crm\\.yaml:" + (GOOD.lines().count() + 1) + ":53: YAML syntax: lists and mappings nested deeper than 50 levels.*");
        // not a timing test: the unbounded scan took 7 s; this bound only tells the two apart
        assertThat(ms).isLessThan(3000);
        // the file's mapping is the first level: 49 lists in it are 50 levels, allowed (x is then an unknown key)
        String fifty = GOOD + "x: " + "[".repeat(49) + "]".repeat(49) + "\n";
        assertThat(load("crm", fifty).messages()).isNotEmpty().noneMatch(m -> m.contains("nested deeper"));
    }

    /** An alias was read as the text of its name (remote: *f sent a property "f"): anchors and aliases are refused. */
    @Test
    void anchorsAndAliasesAreRefusedWhereTheyAre() throws Exception {
        ProviderLoader.Loaded l = load("crm", GOOD.replace("id_field: {source: email, remote: email}",
                "id_field: {source: email, remote: &f email}").replace("- {source: email, remote: email}", "- {source: email, remote: *f}"));
        assertThat(l.valid()).isFalse();
        assertThat(l.messages()).singleElement().asString()
                .matches("crm\\.yaml:\\d+:\\d+: YAML syntax: anchors and aliases \\(&name, \\*name\\) are not supported.*");
        assertThat(l.errors().get(0).line()).isEqualTo(GOOD.lines().toList().indexOf(
                GOOD.lines().filter(x -> x.contains("id_field: {source: email, remote: email}")).findFirst().orElseThrow()) + 1);
    }

    @Test
    void syntaxErrorsNameTheLine() throws Exception {
        ProviderLoader.Loaded l = load("crm", GOOD.replace("triggers: [order.paid]", "triggers: [order.paid"));
        assertThat(l.messages()).singleElement().asString().matches("crm\\.yaml:\\d+:\\d+: YAML syntax: .*");
    }
}
