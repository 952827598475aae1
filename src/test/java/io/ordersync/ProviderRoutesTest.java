package io.ordersync;

import io.ordersync.support.AppTestSupport;
import io.ordersync.support.FakeTarget;
import org.apache.camel.builder.AdviceWith;
import org.apache.camel.builder.NotifyBuilder;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
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
}
