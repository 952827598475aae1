package io.ordersync;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.queue.Dispatcher;
import io.ordersync.queue.SyncOutcome;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import io.ordersync.support.Postgres;
import io.ordersync.support.TcpProxy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The network path between ordersync and its PostgreSQL cut for 12 seconds while syncs are under way (a proxy
 * between them closes every connection and refuses new ones), the server itself running on. The syncs under way
 * reach the target, but their outcomes cannot be stored. The instance hands their rows back itself once the database
 * answers again: before, they waited for their lease (5 minutes by default) after an outage of seconds.
 */
class DatabasePathCutTest extends AppTestSupport {

    private static final int ORDERS = 60;

    private final ListAppender<ILoggingEvent> log = new ListAppender<>();
    private final Logger dispatcherLog = (Logger) LoggerFactory.getLogger(Dispatcher.class);
    private final Logger outcomeLog = (Logger) LoggerFactory.getLogger(SyncOutcome.class);

    @AfterEach
    void detach() {
        dispatcherLog.detachAppender(log);
        outcomeLog.detachAppender(log);
    }

    /** {@code n} orders, codes and e-mail addresses {@code prefix0}, {@code prefix1}, …, each answered 202. */
    private void post(String prefix, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            ObjectNode doc = fixture("order-abc12");
            ((ObjectNode) doc.path("order")).put("code", prefix + i);
            ((ObjectNode) doc.path("order")).put("email", prefix.toLowerCase(java.util.Locale.ROOT) + i + "@example.org");
            assertThat(app.post("/api/events", doc.toString()).statusCode()).isEqualTo(202);
        }
    }

    @Test
    void rowsWhoseOutcomeCouldNotBeStoredAreHandedBackWhenTheDatabaseAnswersAgainNotAtTheirLease() throws Exception {
        Properties db = Postgres.newDatabase();
        String url = db.getProperty("ordersync.db.url");
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "5000"));
        // every request takes a while: syncs are under way when the path is cut
        target.randomFaults(0, 1.0, 150);
        log.start();
        dispatcherLog.addAppender(log);
        outcomeLog.addAppender(log);
        try (TcpProxy proxy = TcpProxy.inFrontOfDatabase(url)) {
            Map<String, String> props = crmOn(db);
            props.put("ordersync.db.url", proxy.jdbcUrl());
            // the default lease (5 minutes) is far longer than this test may wait
            assertThat(props).doesNotContainKey("ordersync.queue.lease");
            app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
            post("C", ORDERS);
            await().atMost(Duration.ofSeconds(60)).until(() -> target.objects("contacts").size() >= 5);

            // longer than two connection timeouts (3 s each): a success's commit, then its failure's record, fail
            proxy.cut();
            Thread.sleep(12_000);
            proxy.restore();

            await().atMost(Duration.ofSeconds(90)).ignoreExceptions().until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            assertThat(log.list).extracting(ILoggingEvent::getFormattedMessage)
                    .as("syncs under way whose outcome the database did not take, handed back")
                    .anyMatch(m -> m.contains("the outcome of its last sync could not be stored while the database was out of reach"));
            assertThat(target.objects("contacts")).as("each order's contact once (a sync done again finds it)").hasSize(ORDERS);
            assertThat(target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/contacts")).count())
                    .as("each order's contact created once").isEqualTo(ORDERS);
            // a sync done again that finds its contact as it should be logs no second success ("nothing to do"), but
            // its result is stored: every order's contact is known by its remote id
            assertThat(app.count("SELECT COUNT(DISTINCT order_code) FROM sync_result WHERE provider = 'crm' AND remote_id IS NOT NULL"))
                    .isEqualTo(ORDERS);
        }
    }

    /**
     * The server vanishes without a word while syncs run (a failover to another host; a firewall that drops the
     * packets of open connections): the connections open at that moment stay open and silent, new ones reach the
     * database. A statement waiting on a silent connection gives up after {@code ordersync.db.socket-timeout}, as
     * a database out of reach: before, the dispatcher, the outcome commits and intake waited on them for good (the
     * kernel gives up on a connection whose packets are not acknowledged after about 15 minutes).
     */
    @Test
    @org.junit.jupiter.api.Timeout(150)
    void connectionsThatFallSilentAreGivenUpAfterTheSocketTimeout() throws Exception {
        Properties db = Postgres.newDatabase();
        String url = db.getProperty("ordersync.db.url");
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "5000"));
        target.randomFaults(0, 1.0, 100);
        try (TcpProxy proxy = TcpProxy.inFrontOfDatabase(url)) {
            Map<String, String> props = crmOn(db);
            props.put("ordersync.db.url", proxy.jdbcUrl());
            props.put("ordersync.db.socket-timeout", "PT5S");
            app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
            post("V", ORDERS);
            await().atMost(Duration.ofSeconds(60)).until(() -> target.objects("contacts").size() >= 5);
            proxy.blackholeOpen();
            // events keep coming: each is answered (202 once stored, or 503 while the database is out of reach)
            for (int i = 0; i < 5; i++) {
                ObjectNode doc = fixture("order-abc12");
                ((ObjectNode) doc.path("order")).put("code", "W" + i);
                ((ObjectNode) doc.path("order")).put("email", "w" + i + "@example.org");
                long t0 = System.nanoTime();
                int status = app.post("/api/events", doc.toString()).statusCode();
                while (status == 503) {
                    Thread.sleep(500);
                    status = app.post("/api/events", doc.toString()).statusCode();
                }
                assertThat(status).isEqualTo(202);
                assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("an event answered 202").isLessThan(Duration.ofSeconds(30));
            }
            await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            assertThat(target.objects("contacts")).as("each order's contact once").hasSize(ORDERS + 5);
            assertThat(target.writes().stream().filter(r -> r.method().equals("POST") && r.path().equals("/contacts")).count())
                    .as("each order's contact created once").isEqualTo(ORDERS + 5);
        }
    }

    /**
     * The instance stops while the path is still cut: the rows whose outcomes it could not store stay claimed (the
     * lease hands them back), and the stop says so instead of hanging or failing.
     */
    @Test
    void aStopWhileTheDatabaseIsOutOfReachLeavesThoseRowsToTheirLease() throws Exception {
        Properties db = Postgres.newDatabase();
        String url = db.getProperty("ordersync.db.url");
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "20", "backoff", "1s", "response_timeout_ms", "5000"));
        target.randomFaults(0, 1.0, 150);
        log.start();
        dispatcherLog.addAppender(log);
        outcomeLog.addAppender(log);
        try (TcpProxy proxy = TcpProxy.inFrontOfDatabase(url)) {
            Map<String, String> props = crmOn(db);
            props.put("ordersync.db.url", proxy.jdbcUrl());
            props.put("ordersync.queue.lease", "PT10S");
            props.put("ordersync.queue.reaper-period-ms", "500");
            app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
            post("S", 20);
            await().atMost(Duration.ofSeconds(60)).until(() -> target.objects("contacts").size() >= 2);
            proxy.cut();
            await().atMost(Duration.ofSeconds(30)).until(() -> log.list.stream().map(ILoggingEvent::getFormattedMessage)
                    .anyMatch(m -> m.contains("could not be stored")));
            app.stop();
            assertThat(log.list).extracting(ILoggingEvent::getFormattedMessage)
                    .anyMatch(m -> m.contains("whose outcomes could not be stored are not handed back; each waits for its lease"));

            proxy.restore();
            app = new OrdersyncApp(tmp.resolve("a"), mappings, props).start();
            await().atMost(Duration.ofSeconds(60)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
            assertThat(target.objects("contacts")).hasSize(20);
        }
    }
}
