package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.Ports;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import jakarta.jms.Connection;
import jakarta.jms.MessageProducer;
import jakarta.jms.Session;
import org.apache.activemq.artemis.core.config.impl.ConfigurationImpl;
import org.apache.activemq.artemis.core.server.embedded.EmbeddedActiveMQ;
import org.apache.activemq.artemis.jms.client.ActiveMQConnectionFactory;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** JMS intake against a real Artemis broker: embedded or external, poison messages, ordering, a broker restart. */
class JmsIntakeTest extends AppTestSupport {

    private static int freePort() {
        return Ports.free();
    }

    private static void send(String url, List<String> bodies) throws Exception {
        send(url, null, null, bodies);
    }

    private static void send(String url, String user, String password, List<String> bodies) throws Exception {
        try (ActiveMQConnectionFactory cf = new ActiveMQConnectionFactory(url);
             Connection c = user == null ? cf.createConnection() : cf.createConnection(user, password)) {
            Session session = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageProducer producer = session.createProducer(session.createQueue("ordersync.events"));
            for (String body : bodies) {
                producer.send(session.createTextMessage(body));
            }
        }
    }

    private OrdersyncApp start(Map<String, String> jms) throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "1s", "response_timeout_ms", "2000"));
        Map<String, String> props = new HashMap<>(Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret",
                "ordersync.jms.enabled", "true"));
        props.putAll(jms);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, props).start();
        return app;
    }

    @Test
    void theEmbeddedBrokerTakesEventsPoisonIsRejectedOnceAndOrderIsKept() throws Exception {
        int port = freePort();
        start(Map.of("ordersync.jms.data-dir", tmp.resolve("artemis").toString(), "ordersync.jms.embedded-port", String.valueOf(port),
                "ordersync.jms.user", "shop", "ordersync.jms.password", "jms-s3cret-pw"));
        // an anonymous sender, or one with a wrong password, is refused
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> send("tcp://127.0.0.1:" + port, List.of("{}")))
                .isInstanceOf(jakarta.jms.JMSSecurityException.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> send("tcp://127.0.0.1:" + port, "shop", "guess", List.of("{}")))
                .isInstanceOf(jakarta.jms.JMSSecurityException.class);
        // nor does Artemis's built-in cluster login, which skips every permission check, work with its default password
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> send("tcp://127.0.0.1:" + port, "ACTIVEMQ.CLUSTER.ADMIN.USER",
                "CHANGE ME!!", List.of("{}"))).isInstanceOf(jakarta.jms.JMSException.class)
                .hasMessageContaining("Unable to authenticate cluster user");
        // the listener is on 127.0.0.1 alone: another loopback address (which a listener on 0.0.0.0 would answer) is refused
        try (java.net.Socket other = new java.net.Socket()) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> other.connect(new java.net.InetSocketAddress("127.0.0.2", port), 2000))
                    .isInstanceOf(java.net.ConnectException.class);
        }
        ObjectNode placed = fixture("order-xyz34");
        ObjectNode paid = fixture("order-xyz34");
        paid.put("type", "order.paid");
        ((ObjectNode) paid.path("order")).put("status", "p").put("last_modified", "2026-03-03T09:00:00Z");
        send("tcp://127.0.0.1:" + port, "shop", "jms-s3cret-pw", List.of("{not json", placed.toString(), "{\"type\": 1}", paid.toString()));
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'") == 2);
        awaitQueueEmpty();
        assertThat(target.objects("contacts")).hasSize(1);
        assertThat(target.objects("contacts").get(0).path("status").asText()).as("the later event wins").isEqualTo("paid");
        // poison messages: stored once with their reason, and not redelivered. One consumer takes the queue in
        // order and a rolled-back message comes back before later ones, so once a later marker event has been
        // received, no poison message is still on its way back
        ObjectNode marker = fixture("order-abc12");
        send("tcp://127.0.0.1:" + port, "shop", "jms-s3cret-pw", List.of(marker.toString()));
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'") == 3);
        assertThat(app.query("SELECT source, reason FROM rejected_event ORDER BY id")).extracting(m -> m.get("reason"))
                .satisfiesExactly(r -> assertThat((String) r).contains("not valid JSON"),
                        r -> assertThat((String) r).contains("type must be a string"));
        assertThat(app.query("SELECT DISTINCT source FROM rejected_event")).extracting(m -> m.get("source")).containsExactly("jms");
    }

    /** Without credentials the embedded broker has no TCP acceptor: nobody can send to it from outside. */
    /**
     * Found by a review: while the database was out of reach every delivery of a message rolled back and counted;
     * after 20 the embedded broker moved it to its dead-letter address, which had no queue, and Artemis deleted it.
     * An outage of 35 s lost every message sent during it. Now intake holds the message until the database answers.
     */
    @Test
    void messagesSentDuringADatabaseOutageAreTakenInWhenItIsBack() throws Exception {
        java.util.Properties db = io.ordersync.support.Postgres.newDatabase();
        try (io.ordersync.support.TcpProxy proxy = io.ordersync.support.TcpProxy.inFrontOfDatabase(db.getProperty("ordersync.db.url"))) {
            int port = freePort();
            Map<String, String> props = new HashMap<>();
            db.forEach((k, v) -> props.put((String) k, (String) v));
            props.put("ordersync.db.url", proxy.jdbcUrl());
            props.put("ordersync.db.connection-timeout-ms", "250");
            props.put("ordersync.jms.data-dir", tmp.resolve("artemis").toString());
            props.put("ordersync.jms.embedded-port", String.valueOf(port));
            props.put("ordersync.jms.user", "shop");
            props.put("ordersync.jms.password", "jms-s3cret-pw");
            start(props);
            proxy.cut();
            List<String> orders = new java.util.ArrayList<>();
            for (int i = 0; i < 3; i++) {
                ObjectNode doc = fixture("order-abc12");
                ((ObjectNode) doc.path("order")).put("code", "JMS" + i).put("email", "jms" + i + "@example.org");
                orders.add(doc.toString());
            }
            send("tcp://127.0.0.1:" + port, "shop", "jms-s3cret-pw", orders);
            // longer than the broker's 20 deliveries a second apart, each with a 250 ms wait for a connection
            Thread.sleep(35_000);
            proxy.restore();
            await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM order_snapshot") == 3);
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("each taken in once").isEqualTo(3);
            await().atMost(Duration.ofSeconds(30)).until(() -> target.objects("contacts").size() == 3);
        }
    }

    /** Its readObject says whether ordersync deserialized it. */
    public static final class Gadget implements java.io.Serializable {
        static final java.util.concurrent.atomic.AtomicBoolean OPENED = new java.util.concurrent.atomic.AtomicBoolean();

        private void readObject(java.io.ObjectInputStream in) throws java.io.IOException, ClassNotFoundException {
            in.defaultReadObject();
            OPENED.set(true);
        }
    }

    /**
     * Found by a review: Camel turned every message into its body, and an ObjectMessage's body is Java
     * deserialization of whatever classes the sender chose (Artemis allows every class by default). Intake reads
     * text and bytes messages itself; any other kind is kept as a rejected event, unopened. A bytes message is taken.
     */
    @Test
    void anObjectMessageIsRejectedWithoutBeingOpenedAndABytesMessageIsTaken() throws Exception {
        int port = freePort();
        start(Map.of("ordersync.jms.data-dir", tmp.resolve("artemis").toString(), "ordersync.jms.embedded-port", String.valueOf(port),
                "ordersync.jms.user", "shop", "ordersync.jms.password", "jms-s3cret-pw"));
        Gadget.OPENED.set(false);
        try (ActiveMQConnectionFactory cf = new ActiveMQConnectionFactory("tcp://127.0.0.1:" + port);
             Connection c = cf.createConnection("shop", "jms-s3cret-pw")) {
            Session session = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageProducer producer = session.createProducer(session.createQueue("ordersync.events"));
            producer.send(session.createObjectMessage(new Gadget()));
            jakarta.jms.BytesMessage bytes = session.createBytesMessage();
            bytes.writeBytes(fixture("order-abc12").toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            producer.send(bytes);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'") == 1);
        assertThat(app.query("SELECT reason FROM rejected_event")).extracting(r -> (String) r.get("reason"))
                .singleElement().asString().contains("ObjectMessage").contains("not read");
        assertThat(Gadget.OPENED.get()).as("deserialized by ordersync").isFalse();
    }

    /**
     * Found by a review: a JMS message had no size limit of its own (HTTP bodies stop at 2 MiB). A text message of
     * 100 MB was read into the heap, and stored whole as a rejected event. Now a message over
     * ordersync.jms.max-message-bytes is rejected: unread when its size is known first (a bytes message, or one Artemis
     * sends as a large message), else with its first 4 096 characters kept. The messages after it are taken in.
     */
    @Test
    void aMessageOverTheLimitIsRejectedAndNotStoredWhole() throws Exception {
        int port = freePort();
        start(Map.of("ordersync.jms.data-dir", tmp.resolve("artemis").toString(), "ordersync.jms.embedded-port", String.valueOf(port),
                "ordersync.jms.user", "shop", "ordersync.jms.password", "jms-s3cret-pw", "ordersync.jms.max-message-bytes", "65536"));
        String big = "{\"type\": \"order.placed\", \"pad\": \"" + "x".repeat(5_000_000) + "\"}";
        try (ActiveMQConnectionFactory cf = new ActiveMQConnectionFactory("tcp://127.0.0.1:" + port);
             Connection c = cf.createConnection("shop", "jms-s3cret-pw")) {
            Session session = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageProducer producer = session.createProducer(session.createQueue("ordersync.events"));
            // a large message to Artemis (over its 100 KiB): its size is known before its body is read
            producer.send(session.createTextMessage(big));
            jakarta.jms.BytesMessage bytes = session.createBytesMessage();
            bytes.writeBytes(big.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            producer.send(bytes);
            // 40 000 characters, 80 000 bytes: over the limit, under Artemis's large-message size (100 KiB), so read
            // before it is measured
            producer.send(session.createTextMessage(big.substring(0, 40_000)));
            producer.send(session.createTextMessage(fixture("order-abc12").toString()));
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'") == 1);
        List<Map<String, Object>> rejected = app.query("SELECT reason, payload FROM rejected_event ORDER BY id");
        assertThat(rejected).extracting(r -> (String) r.get("reason")).satisfiesExactly(
                r -> assertThat(r).matches("the message is \\d+ bytes, over the limit of 65536 \\(ordersync.jms.max-message-bytes\\): not read"),
                r -> assertThat(r).isEqualTo("the message is 5000035 bytes, over the limit of 65536 (ordersync.jms.max-message-bytes): not read"),
                r -> assertThat(r).isEqualTo("the message is 80000 bytes (two a character of its text), over the limit of 65536 "
                        + "(ordersync.jms.max-message-bytes): its first 4096 characters are kept"));
        assertThat(rejected).extracting(r -> String.valueOf(r.get("payload")).length()).containsExactly(0, 0, 4097);
    }

    @Test
    void withoutCredentialsTheEmbeddedBrokerIsInVmOnly() throws Exception {
        int port = freePort();
        start(Map.of("ordersync.jms.data-dir", tmp.resolve("artemis").toString(), "ordersync.jms.embedded-port", String.valueOf(port)));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> send("tcp://127.0.0.1:" + port + "?reconnectAttempts=0&initialConnectAttempts=1",
                List.of("{}"))).isInstanceOf(jakarta.jms.JMSException.class);
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isZero();
    }

    @Test
    void anExternalBrokerRestartedMidRunLosesNothing() throws Exception {
        int port = freePort();
        Path journal = tmp.resolve("external-broker");
        EmbeddedActiveMQ broker = broker(journal, port);
        try {
            start(Map.of("ordersync.jms.url", "tcp://127.0.0.1:" + port));
            send("tcp://127.0.0.1:" + port, orders(0, 30));
            await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'") >= 10);
            broker.stop();
            broker = broker(journal, port);
            send("tcp://127.0.0.1:" + port, orders(30, 60));
            await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'") >= 60);
            awaitQueueEmpty();
            assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE kind = 'received'")).as("each event accepted once").isEqualTo(60);
            assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isEqualTo(60);
            assertThat(target.objects("contacts")).hasSize(60);
        } finally {
            app.stop();
            broker.stop();
        }
    }

    private static List<String> orders(int from, int to) {
        List<String> out = new java.util.ArrayList<>();
        for (int i = from; i < to; i++) {
            ObjectNode doc = fixture("order-xyz34");
            ((ObjectNode) doc.path("order")).put("code", "J" + i).put("email", "j" + i + "@example.org");
            out.add(doc.toString());
        }
        return out;
    }

    private static EmbeddedActiveMQ broker(Path journal, int port) throws Exception {
        EmbeddedActiveMQ broker = new EmbeddedActiveMQ().setConfiguration(new ConfigurationImpl()
                .setPersistenceEnabled(true).setSecurityEnabled(false)
                .setJournalDirectory(journal.resolve("journal").toString())
                .setBindingsDirectory(journal.resolve("bindings").toString())
                .setLargeMessagesDirectory(journal.resolve("large").toString())
                .setPagingDirectory(journal.resolve("paging").toString())
                .addAcceptorConfiguration("tcp", "tcp://127.0.0.1:" + port));
        broker.start();
        return broker;
    }

    /**
     * A message redelivered after its enqueue committed (the acknowledgement was lost: the broker or the connection
     * went away between the two) is recognised by its JMS message id and acknowledged without a second intake
     * (RELIABILITY.md). The lost acknowledgement is stood in for by the id recorded before the message is consumed,
     * as the first delivery's transaction records it; the broker, the message and its id are real.
     */
    @Test
    void aRedeliveryOfAMessageAlreadyTakenInIsRecognisedByItsIdAndAcknowledged() throws Exception {
        int port = freePort();
        start(Map.of("ordersync.jms.data-dir", tmp.resolve("artemis").toString(), "ordersync.jms.embedded-port", String.valueOf(port),
                "ordersync.jms.user", "shop", "ordersync.jms.password", "jms-s3cret-pw"));
        app.context().getRouteController().stopRoute("intake-jms");
        String url = "tcp://127.0.0.1:" + port;
        send(url, "shop", "jms-s3cret-pw", List.of(fixture("order-xyz34").toString()));
        String id;
        try (ActiveMQConnectionFactory cf = new ActiveMQConnectionFactory(url);
             Connection c = cf.createConnection("shop", "jms-s3cret-pw")) {
            c.start();
            Session session = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            java.util.Enumeration<?> waiting = session.createBrowser(session.createQueue("ordersync.events")).getEnumeration();
            assertThat(waiting.hasMoreElements()).isTrue();
            id = ((jakarta.jms.Message) waiting.nextElement()).getJMSMessageID();
        }
        assertThat(id).isNotBlank();
        io.ordersync.db.Tx.run(app.dataSource(), c -> io.ordersync.intake.IntakeService.firstTime(c, "jms", id));
        app.context().getRouteController().startRoute("intake-jms");
        // a later message is taken in: the one before it was consumed (one consumer, in order) and acknowledged
        send(url, "shop", "jms-s3cret-pw", List.of(fixture("order-abc12").toString()));
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'ABC12'") == 1);
        assertThat(app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'XYZ34'")).as("not taken in a second time").isZero();
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isZero();
        try (ActiveMQConnectionFactory cf = new ActiveMQConnectionFactory(url);
             Connection c = cf.createConnection("shop", "jms-s3cret-pw")) {
            c.start();
            Session session = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            assertThat(session.createBrowser(session.createQueue("ordersync.events")).getEnumeration().hasMoreElements())
                    .as("acknowledged, not left for another delivery").isFalse();
        }
    }
}
