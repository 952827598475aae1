package io.ordersync.delivery;

import io.ordersync.support.TrickleServer;
import org.apache.hc.client5.http.classic.methods.HttpGet;
import org.apache.hc.client5.http.impl.classic.CloseableHttpClient;
import org.apache.hc.client5.http.impl.classic.HttpClients;
import org.apache.hc.core5.http.io.entity.EntityUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.SocketTimeoutException;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The deadline's sweeper thread runs while exchanges are under way and ends when none has been for a while (found by
 * a review: it ran for ever, so ordersync embedded in a host's Camel platform left a thread holding its classes after
 * it was undeployed). A later exchange starts it again, and its deadline holds. A real HttpClient against a loopback
 * server that answers a byte every 200 ms.
 */
class RequestDeadlineTest {

    private static boolean sweeperAlive() {
        return Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("ordersync-http-deadline") && t.isAlive());
    }

    private static void trickledRequestTimesOut(CloseableHttpClient client, TrickleServer server) {
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> client.execute(new HttpGet(server.url() + "/x"), r -> EntityUtils.toString(r.getEntity())))
                .isInstanceOf(SocketTimeoutException.class).hasMessageContaining("no complete answer within 1000 ms");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
    }

    @Test
    @Timeout(60)
    void theSweeperEndsWhenNothingIsUnderWayAndAnotherExchangeStartsItAgain() throws Exception {
        try (TrickleServer server = TrickleServer.trickling(200);
             CloseableHttpClient client = HttpClients.custom()
                     .addExecInterceptorFirst("ordersync-deadline", new RequestDeadline(1000, "1000 ms")).build()) {
            trickledRequestTimesOut(client, server);
            await().atMost(Duration.ofSeconds(15)).until(() -> !RequestDeadline.sweeperRuns() && !sweeperAlive());
            trickledRequestTimesOut(client, server);
            assertThat(sweeperAlive()).isTrue();
            await().atMost(Duration.ofSeconds(15)).until(() -> !sweeperAlive());
        }
    }
}
