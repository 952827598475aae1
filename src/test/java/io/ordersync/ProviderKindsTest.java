package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.icegreen.greenmail.junit5.GreenMailExtension;
import com.icegreen.greenmail.util.ServerSetupTest;
import io.ordersync.examples.MailingListProvider;
import io.ordersync.support.Ports;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.FakeTarget;
import io.ordersync.support.OrdersyncApp;
import jakarta.jms.Connection;
import jakarta.jms.Message;
import jakarta.jms.MessageConsumer;
import jakarta.jms.Session;
import jakarta.jms.TextMessage;
import jakarta.mail.internet.MimeMessage;
import org.apache.activemq.artemis.core.config.impl.ConfigurationImpl;
import org.apache.activemq.artemis.core.server.embedded.EmbeddedActiveMQ;
import org.apache.activemq.artemis.jms.client.ActiveMQConnectionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The provider kinds beside http and webhook, end to end against real parts: the worked examples of
 * PROVIDERS.md (a route provider calling two HTTP endpoints, a Java provider found through ServiceLoader,
 * an endpoint provider to an Artemis queue), and endpoint providers to an SMTP server (GreenMail) and to a
 * table of another database (camel-sql). Each shares the queue, retries and failure modes of every provider.
 */
class ProviderKindsTest extends AppTestSupport {

    @RegisterExtension
    static GreenMailExtension mail = new GreenMailExtension(ServerSetupTest.SMTP.dynamicPort());

    private static final Path EXAMPLES = Path.of("examples");

    private static ObjectNode order(String type, String code, String email) {
        ObjectNode doc = fixture("order-abc12");
        doc.put("type", type);
        ((ObjectNode) doc.path("order")).put("code", code).put("email", email);
        return doc;
    }

    private OrdersyncApp start(Map<String, String> props) throws Exception {
        Map<String, String> p = new HashMap<>(props);
        p.put("ordersync.mappings.watch-period-ms", "200");
        app = new OrdersyncApp(tmp.resolve("data"), mappings, p).start();
        return app;
    }

    private void copyExample(String example, String file) throws Exception {
        Files.createDirectories(mappings);
        Files.copy(EXAMPLES.resolve(example).resolve("mappings").resolve(file), mappings.resolve(file));
    }

    private List<Map<String, Object>> results(String provider) {
        return app.query("SELECT * FROM sync_result WHERE provider = ? ORDER BY id", provider);
    }

    private String queueError(String provider) {
        List<Map<String, Object>> rows = app.query("SELECT last_error, need_manual_retry FROM sync_queue WHERE provider = ? AND last_error IS NOT NULL", provider);
        return rows.isEmpty() ? null : rows.get(0).get("need_manual_retry") + ": " + rows.get(0).get("last_error");
    }

    @Test
    void aRouteProviderRunsTheUsersRouteWithItsHeadersAndBothCalls() throws Exception {
        copyExample("route-provider", "two-step-crm.yaml");
        start(Map.of("two-step-crm.url", target.url(), "two-step-crm.token", "s3cret",
                "camel.main.routes-include-pattern", "file:routes/*.camel.yaml,file:examples/route-provider/routes/*.camel.yaml"));
        target.recordRequests(true);
        // the first contact write fails with 503 once: recoverable (HTTP status through the provider's retry settings)
        target.failNext(1, "/contacts", 503, null);
        assertThat(app.post("/api/events", order("order.placed", "R1", "ada@example.org").toString()).statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() -> results("two-step-crm").size() == 1);
        awaitQueueEmpty();

        ObjectNode contact = target.objects("contacts").get(0);
        assertThat(contact.path("id").asText()).isEqualTo("ada@example.org");
        assertThat(contact.path("name").asText()).isEqualTo("John Doe");
        assertThat(contact.path("status").asText()).isEqualTo("paid");
        assertThat(target.objects("activities")).hasSize(1);
        assertThat(target.objects("activities").get(0).path("note").asText()).isEqualTo("order democon/R1 synced");
        // the header the route adds is on the requests it makes
        assertThat(target.requests()).filteredOn(r -> r.path().startsWith("/contacts/") && r.method().equals("PUT"))
                .hasSize(2).allSatisfy(r -> assertThat(r.header("X-Source")).isEqualTo("ordersync"));
        Map<String, Object> result = results("two-step-crm").get(0);
        assertThat(result.get("remote_id")).isEqualTo("ada@example.org");
        assertThat(result.get("action")).isEqualTo("synced");
        assertThat(result.get("display_name")).isEqualTo("John Doe");

        // a 400 from the CRM is the user's data, not an outage: parked as permanent with the answer
        target.failNext(5, "/contacts", 400, null);
        app.post("/api/events", order("order.placed", "R2", "bob@example.org").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> queueError("two-step-crm") != null
                && queueError("two-step-crm").startsWith("permanent"));
        assertThat(queueError("two-step-crm")).contains("400");

        JsonNode providers = JSON.readTree(app.get("/api/providers").body());
        assertThat(providers.toString()).contains("\"kind\":\"route\"");
    }

    @Test
    void aRouteProviderWhoseRouteIsMissingParksAsConfig() throws Exception {
        copyExample("route-provider", "two-step-crm.yaml");
        // direct: waits for a consumer (30 s by default: a route file being reloaded comes back); here 1 s
        Files.writeString(mappings.resolve("two-step-crm.yaml"), Files.readString(mappings.resolve("two-step-crm.yaml"))
                .replace("route: direct:two-step-crm", "route: direct:two-step-crm?timeout=1000"));
        // the route file is not loaded: nothing consumes direct:two-step-crm
        start(Map.of("two-step-crm.url", target.url(), "two-step-crm.token", "s3cret"));
        app.post("/api/events", order("order.placed", "R3", "cy@example.org").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> queueError("two-step-crm") != null);
        assertThat(queueError("two-step-crm")).startsWith("config").contains("direct:two-step-crm?timeout=1000 has no consumer");
    }

    @Test
    void aJavaProviderKeysMembersByTheMd5OfTheLowerCasedEmail() throws Exception {
        copyExample("java-provider", "mailing-list.yaml");
        System.setProperty("mailing-list.url", target.url());
        System.setProperty("mailing-list.key", "s3cret");
        try {
            start(Map.of());
            target.recordRequests(true);
            target.failNext(1, "/members", 503, "1");
            app.post("/api/events", order("order.paid", "J1", "Grace.Hopper@Example.org").toString());
            await().atMost(Duration.ofSeconds(20)).until(() -> results("mailing-list").size() == 1);
            awaitQueueEmpty();
            String hash = MailingListProvider.memberHash("grace.hopper@example.org");
            // computed independently (Python's hashlib.md5 of the lower-cased address)
            assertThat(hash).isEqualTo("4eba6c9bf588a0062cf797d700963abf");
            ObjectNode member = target.objects("members").get(0);
            assertThat(member.path("id").asText()).isEqualTo(hash);
            // as the order has it (intake lower-cases the domain)
            assertThat(member.path("email_address").asText()).isEqualTo("Grace.Hopper@example.org");
            assertThat(member.path("merge_fields").path("FNAME").asText()).isEqualTo("John");
            Map<String, Object> result = results("mailing-list").get(0);
            assertThat(result.get("remote_id")).isEqualTo(hash);
            assertThat(result.get("action")).isEqualTo("created");
            assertThat((String) result.get("external_link")).endsWith("/members/" + hash);
            // the 503 was retried: two PUTs of the member, the second one created it
            assertThat(target.requests()).filteredOn(r -> r.method().equals("PUT")).extracting(FakeTarget.Request::path)
                    .containsExactly("/members/" + hash, "/members/" + hash);
            JsonNode providers = JSON.readTree(app.get("/api/providers").body());
            assertThat(providers.toString()).contains("\"kind\":\"java\"");

            // an order the list refuses (400) parks as permanent with the provider's message
            target.failNext(5, "/members", 400, null);
            app.post("/api/events", order("order.paid", "J2", "bad@example.org").toString());
            await().atMost(Duration.ofSeconds(20)).until(() -> queueError("mailing-list") != null
                    && queueError("mailing-list").startsWith("permanent"));
            assertThat(queueError("mailing-list")).contains("mailing list refused member");
        } finally {
            System.clearProperty("mailing-list.url");
            System.clearProperty("mailing-list.key");
        }
    }

    @Test
    void anEndpointProviderSendsTheOrderToAnArtemisQueueAndRidesOutTheBrokerBeingDown() throws Exception {
        int port = Ports.free();
        copyExample("endpoint-jms", "crm-queue.yaml");
        // short backoff for the test
        Files.writeString(mappings.resolve("crm-queue.yaml"), Files.readString(mappings.resolve("crm-queue.yaml"))
                .replace("backoff: [5s, 1m, 10m]", "backoff: [1s]").replace("max_attempts: 5", "max_attempts: 20"));
        start(Map.of("camel.beans.crmBroker", "#class:org.apache.activemq.artemis.jms.client.ActiveMQConnectionFactory",
                "camel.beans.crmBroker.brokerURL", "tcp://127.0.0.1:" + port + "?reconnectAttempts=0"));
        // the broker is down: the order waits in the queue (recoverable), nothing is lost
        app.post("/api/events", order("order.placed", "Q1", "q1@example.org").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> queueError("crm-queue") != null);
        assertThat(queueError("crm-queue")).startsWith("null: ").contains("crm.orders");

        EmbeddedActiveMQ broker = new EmbeddedActiveMQ().setConfiguration(new ConfigurationImpl()
                .setPersistenceEnabled(false).setSecurityEnabled(false)
                .addAcceptorConfiguration("tcp", "tcp://127.0.0.1:" + port));
        broker.start();
        try {
            app.post("/api/events", order("order.placed", "Q2", "q2@example.org").toString());
            List<TextMessage> got = new ArrayList<>();
            try (ActiveMQConnectionFactory cf = new ActiveMQConnectionFactory("tcp://127.0.0.1:" + port);
                 Connection c = cf.createConnection()) {
                c.start();
                Session session = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
                MessageConsumer consumer = session.createConsumer(session.createQueue("crm.orders"));
                long until = System.currentTimeMillis() + 30_000;
                while (got.size() < 2 && System.currentTimeMillis() < until) {
                    Message m = consumer.receive(500);
                    if (m != null) {
                        got.add((TextMessage) m);
                    }
                }
            }
            assertThat(got).hasSize(2);
            awaitQueueEmpty();
            Map<String, JsonNode> byCode = new HashMap<>();
            for (TextMessage m : got) {
                byCode.put(m.getStringProperty("OrderCode"), JSON.readTree(m.getText()));
            }
            assertThat(byCode).containsOnlyKeys("Q1", "Q2");
            JsonNode q1 = byCode.get("Q1");
            assertThat(q1.path("type").asText()).isEqualTo("order.placed");
            assertThat(q1.path("data").path("order").asText()).isEqualTo("Q1");
            // per: order: the buyer and the ticket in one message
            assertThat(q1.path("data").path("objects")).hasSize(3);
            assertThat(q1.path("data").path("objects").get(0).path("properties").path("email").asText()).isEqualTo("q1@example.org");
            assertThat(results("crm-queue")).hasSize(6).allSatisfy(r -> assertThat(r.get("action")).isEqualTo("sent"));
        } finally {
            app.stop();
            broker.stop();
        }
    }

    @Test
    void anEndpointProviderMailsEachObjectThroughARealSmtpServer() throws Exception {
        Files.createDirectories(mappings);
        Files.writeString(mappings.resolve("mailer.yaml"), """
                identifier: mailer
                kind: endpoint
                endpoint:
                  uri: "smtp://127.0.0.1:{{test.smtp.port}}?from=ordersync@example.org&to=crm-inbox@example.org"
                  headers:
                    Subject: "Ticket {id_value} of order {order_code}"
                triggers: [order.placed]
                retry: {max_attempts: 3, backoff: [1s]}
                objects:
                  - id: ticket
                    source: OrderPosition
                    remote_type: ticket
                    id_field: {source: ticket_id, remote: ticket_id}
                    properties:
                      - {source: product, remote: product}
                      - {source: attendee_name, remote: attendee}
                """);
        start(Map.of("test.smtp.port", String.valueOf(mail.getSmtp().getPort())));
        app.post("/api/events", order("order.placed", "M1", "m1@example.org").toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> mail.getReceivedMessages().length == 2);
        awaitQueueEmpty();
        List<String> subjects = new ArrayList<>();
        for (MimeMessage m : mail.getReceivedMessages()) {
            subjects.add(m.getSubject());
            assertThat(m.getAllRecipients()[0].toString()).isEqualTo("crm-inbox@example.org");
            JsonNode body = JSON.readTree(new String(m.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim());
            assertThat(body.path("data").path("object_type").asText()).isEqualTo("ticket");
        }
        assertThat(subjects).allMatch(s -> s.startsWith("Ticket ") && s.endsWith(" of order M1"));
    }

    /**
     * An endpoint URI's credentials, from placeholders ordersync does not know as secrets, are masked wherever the URI
     * is shown or stored (PROVIDERS.md, "Secrets in endpoint URIs"): here a mail server that is down, so that the URI
     * goes into failure messages — the queue's last error, the order's log and tries, the API, the log — and a preview.
     */
    @Test
    void anEndpointUrisCredentialsAreMaskedWhereverItIsShown() throws Exception {
        String password = "Pw-" + java.util.UUID.randomUUID();
        Files.createDirectories(mappings);
        Files.writeString(mappings.resolve("mailer.yaml"), """
                identifier: mailer
                kind: endpoint
                endpoint:
                  uri: "smtp://127.0.0.1:{{test.smtp.port}}?username=crm&password={{test.smtp.password}}&from=ordersync@example.org&to=crm-inbox@example.org&connectionTimeout=2000"
                triggers: [order.placed]
                retry: {max_attempts: 2, backoff: [1s]}
                objects:
                  - id: ticket
                    source: OrderPosition
                    remote_type: ticket
                    id_field: {source: ticket_id, remote: ticket_id}
                    properties:
                      - {source: product, remote: product}
                """);
        try (io.ordersync.support.LogCapture log = io.ordersync.support.LogCapture.root()) {
            int port = Ports.free();
            start(Map.of("test.smtp.port", String.valueOf(port), "test.smtp.password", password));
            app.post("/api/events", order("order.placed", "S1", "s1@example.org").toString());
            await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry IS NOT NULL") == 1);
            var preview = app.post("/api/preview", "{\"provider\": \"mailer\", \"order\": {\"event\": \"democon\", \"code\": \"S1\"}}");
            assertThat(preview.statusCode()).isEqualTo(200);
            StringBuilder shown = new StringBuilder(preview.body());
            shown.append(app.get("/api/orders/democon/S1").body()).append(app.get("/api/queue?state=parked").body())
                    .append(app.get("/api/providers/mailer/history").body()).append(app.get("/api/providers").body());
            for (String table : List.of("sync_queue", "order_log", "sync_tries", "sync_result", "park_news")) {
                shown.append(app.query("SELECT * FROM " + table));
            }
            // the URI is there to be shown (not a check of nothing), its port and addresses too, its password is not
            assertThat(shown).contains("smtp://127.0.0.1:" + port + "?username=xxxxxx&password=xxxxxx&from=ordersync@example.org")
                    .doesNotContain(password);
            assertThat(log.events()).isNotEmpty().allSatisfy(e -> assertThat(e.getFormattedMessage()
                    + (e.getThrowableProxy() == null ? "" : e.getThrowableProxy().getMessage())).doesNotContain(password));
        }
    }

    @Test
    void anEndpointProviderWritesRowsIntoAnotherDatabaseWithCamelSql() throws Exception {
        String url = "jdbc:h2:mem:crm-copy-" + System.nanoTime() + ";DB_CLOSE_DELAY=-1";
        try (var c = DriverManager.getConnection(url, "sa", "")) {
            c.createStatement().execute("CREATE TABLE crm_copy (id IDENTITY PRIMARY KEY, order_code VARCHAR(100), doc VARCHAR(10000))");
            Files.createDirectories(mappings);
            Files.writeString(mappings.resolve("archive.yaml"), """
                    identifier: archive
                    kind: endpoint
                    endpoint:
                      uri: "sql:INSERT INTO crm_copy (order_code, doc) VALUES (:#OrderCode, :#${body})?dataSource=#crmCopy"
                      per: order
                      headers:
                        OrderCode: "{order_code}"
                    triggers: [order.placed]
                    objects:
                      - id: buyer
                        source: Order
                        remote_type: buyer
                        id_field: {source: email, remote: email}
                        properties:
                          - {source: order_total, remote: total}
                    """);
            start(Map.of("camel.beans.crmCopy", "#class:org.h2.jdbcx.JdbcDataSource", "camel.beans.crmCopy.URL", url,
                    "camel.beans.crmCopy.user", "sa"));
            app.post("/api/events", order("order.placed", "S1", "s1@example.org").toString());
            app.post("/api/events", order("order.placed", "S2", "s2@example.org").toString());
            awaitQueueEmpty();
            await().atMost(Duration.ofSeconds(10)).until(() -> results("archive").size() == 2);
            var rs = c.createStatement().executeQuery("SELECT order_code, doc FROM crm_copy ORDER BY order_code");
            List<String> codes = new ArrayList<>();
            while (rs.next()) {
                codes.add(rs.getString(1));
                assertThat(JSON.readTree(rs.getString(2)).path("data").path("objects").get(0).path("properties").path("email").asText())
                        .isEqualTo(rs.getString(1).toLowerCase() + "@example.org");
            }
            assertThat(codes).containsExactly("S1", "S2");
        }
    }
}
