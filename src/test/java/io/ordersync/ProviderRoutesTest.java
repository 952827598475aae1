package io.ordersync;

import io.ordersync.support.AppTestSupport;
import io.ordersync.support.FakeTarget;
import org.apache.camel.builder.AdviceWith;
import org.apache.camel.builder.NotifyBuilder;
import org.apache.camel.component.mock.MockEndpoint;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.sql.PreparedStatement;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Route-level tests of dispatch-run's content-based router and of the provider-errors route configuration,
 * observed on the routes themselves (AdviceWith, MockEndpoint, NotifyBuilder), beside the end-to-end tests.
 * The provider routes as routes: a step added to the call route reaches every request (what an integrator
 * does in routes/provider.camel.yaml), and a sync is seen done by the route itself (NotifyBuilder), not by
 * polling the database.
 */
class ProviderRoutesTest extends AppTestSupport {

    @Test
    void aStepAddedToTheCallRouteReachesEveryRequestOfTheProvider() throws Exception {
        startWithCrm();
        target.recordRequests(true);
        AdviceWith.adviceWith(app.context(), "provider-crm-call", a ->
                a.weaveByType(org.apache.camel.model.ToDefinition.class).before().setHeader("X-Trace").simple("${exchangeProperty[ordersync.entry].orderCode}"));
        NotifyBuilder synced = new NotifyBuilder(app.context()).fromRoute("provider-crm")
                // the sync of all three objects (the copies the circuit breaker makes of each call complete too)
                .filter(e -> e.getProperty(io.ordersync.delivery.Sync.PROPERTY, io.ordersync.delivery.Sync.class) != null
                        && e.getProperty(io.ordersync.delivery.Sync.PROPERTY, io.ordersync.delivery.Sync.class).results().size() == 3)
                .whenCompleted(1).create();
        assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
        assertThat(synced.matches(20, TimeUnit.SECONDS)).as("the provider route completed one sync").isTrue();
        // one contact and two tickets: each a lookup and a create, all with the header the added step sets
        assertThat(target.requests()).hasSize(6).extracting(r -> r.header("X-Trace")).containsOnly("ABC12");
        assertThat(target.requests()).extracting(FakeTarget.Request::method).containsExactly("GET", "POST", "GET", "POST", "GET", "POST");
    }

    /** dispatch-run's choice: a runnable provider's row goes to its seda queue, a broken one's is parked, a gone one's dropped. */
    @Test
    void theDispatchRouterSendsEachRowWhereItsProviderStands() throws Exception {
        Files.createDirectories(mappings);
        Files.writeString(mappings.resolve("broken.yaml"), "identifier: broken\nkind: http\nobjects: [oops\n");
        startWithCrm();
        AdviceWith.adviceWith(app.context(), "dispatch-run", a -> {
            a.weaveById("dispatch-to-provider").after().to("mock:dispatched");
            a.weaveById("dispatch-park-misconfigured").after().to("mock:parked");
            a.weaveById("dispatch-drop-unknown").after().to("mock:dropped");
        });
        MockEndpoint dispatched = app.context().getEndpoint("mock:dispatched", MockEndpoint.class);
        MockEndpoint parked = app.context().getEndpoint("mock:parked", MockEndpoint.class);
        MockEndpoint dropped = app.context().getEndpoint("mock:dropped", MockEndpoint.class);
        dispatched.expectedMinimumMessageCount(1);
        dispatched.allMessages().simple("${body.provider}").isEqualTo("crm");
        parked.expectedMessageCount(1);
        parked.message(0).simple("${body.provider}").isEqualTo("broken");
        dropped.expectedMessageCount(1);
        dropped.message(0).simple("${body.provider}").isEqualTo("gone");

        assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
        for (String provider : new String[]{"broken", "gone"}) {
            io.ordersync.db.Tx.run(app.dataSource(), c -> {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO sync_queue (event_slug, order_code, provider, slot, "
                        + "triggered_by, triggered_at, not_before, failed_attempts) VALUES ('democon', 'ABC12', ?, 'waiting', 'order.paid', ?, ?, 0)")) {
                    OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
                    ps.setString(1, provider);
                    ps.setObject(2, now);
                    ps.setObject(3, now);
                    return ps.executeUpdate();
                }
            });
        }
        MockEndpoint.assertIsSatisfied(app.context(), 20, TimeUnit.SECONDS);
        // what each branch did, in the database
        assertThat(app.query("SELECT need_manual_retry AS mode FROM sync_queue WHERE provider = 'broken'"))
                .extracting(r -> r.get("mode")).containsExactly("config");
        assertThat(app.count("SELECT COUNT(*) FROM sync_queue WHERE provider = 'gone'")).isZero();
        assertThat(app.count("SELECT COUNT(*) FROM order_log WHERE provider = 'gone' AND kind = 'dropped'")).isEqualTo(1);
    }

    /**
     * provider-errors: a recoverable failure redelivers the whole sync (ordersync.redelivery.maximum = 2, so three
     * tries of the first request), then the outcome goes to the queue's backoff; a permanent one is not redelivered.
 * (Waits on the queue row: NotifyBuilder on provider-crm also sees the copies the circuit breaker completes.)
     */
    @Test
    void providerErrorsRedeliversRecoverableFailuresAndNothingElse() throws Exception {
        startWithCrm(5, "5m", Map.of());
        target.recordRequests(true);
        target.failNext(3, "/contacts", 503, null);
        assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts = 1") == 1);
        assertThat(target.requests()).as("one try and two redeliveries, all of the first request").hasSize(3)
                .allSatisfy(r -> assertThat(r.path()).startsWith("/contacts"));
        assertThat(app.query("SELECT failed_attempts, need_manual_retry AS mode FROM sync_queue WHERE provider = 'crm'"))
                .singleElement().satisfies(r -> {
                    assertThat(((Number) r.get("failed_attempts")).intValue()).isEqualTo(1);
                    assertThat(r.get("mode")).isNull();
                });

        // a 400 is permanent: no redelivery, the row is parked
        target.clearRequests();
        target.failNext(1, "/contacts", 400, null);
        var other = fixture("order-abc12");
        other.with("order").put("code", "PERM1");
        assertThat(app.post("/api/events", other.toString()).statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() -> app.count(
                "SELECT COUNT(*) FROM sync_queue WHERE order_code = 'PERM1' AND need_manual_retry IS NOT NULL") == 1);
        assertThat(target.requests()).as("no redelivery of a permanent failure").hasSize(1);
        assertThat(app.query("SELECT need_manual_retry AS mode FROM sync_queue WHERE order_code = 'PERM1'"))
                .extracting(r -> r.get("mode")).containsExactly("permanent");
    }

    /**
     * A stop (a deploy, SIGTERM, a provider's routes re-created on a mapping change) waits until each idle seda
     * consumer's poll returns: every seda route looks again within 100 ms, not Camel's default second (a stop
     * took 1.4 s with dispatch-wake at the default, 0.3 s at 100 ms).
     */
    @Test
    void everySedaConsumerLooksAgainWithinATenthOfASecond() throws Exception {
        startWithCrm();
        var seda = app.context().getRoutes().stream()
                .filter(r -> r.getEndpoint() instanceof org.apache.camel.component.seda.SedaEndpoint).toList();
        assertThat(seda).extracting(org.apache.camel.Route::getRouteId).contains("dispatch-wake", "provider-crm");
        assertThat(seda).allSatisfy(r -> assertThat(((org.apache.camel.component.seda.SedaEndpoint) r.getEndpoint()).getPollTimeout())
                .as("pollTimeout of route %s", r.getRouteId()).isLessThanOrEqualTo(100));
    }

    /** Preview runs the provider templates: what a step of the call route adds to a request shows in the preview. */
    @Test
    void previewShowsTheRequestsAsTheCallRouteLeavesThem() throws Exception {
        startWithCrm();
        target.recordRequests(true);
        AdviceWith.adviceWith(app.context(), "ordersync-preview-call", a ->
                a.weaveByType(org.apache.camel.model.ToDefinition.class).before().setHeader("X-Trace").simple("${exchangeProperty[ordersync.sync].document().orderCode()}"));
        String body = "{\"provider\": \"crm\", \"document\": " + fixture("order-abc12") + "}";
        var r = app.post("/api/preview", body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        var requests = JSON.readTree(r.body()).path("requests");
        assertThat(requests).hasSize(6);
        for (var q : requests) {
            assertThat(q.path("headers").path("X-Trace").asText()).isEqualTo("ABC12");
            assertThat(q.path("headers").path("Authorization").asText()).isEqualTo("<redacted>");
        }
        assertThat(r.body()).doesNotContain("s3cret");
        assertThat(target.requests()).as("a preview sends nothing").isEmpty();
    }
}
