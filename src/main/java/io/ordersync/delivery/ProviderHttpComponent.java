package io.ordersync.delivery;

import org.apache.camel.component.http.HttpComponent;
import org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManager;
import org.apache.hc.client5.http.io.HttpClientConnectionManager;
import org.apache.hc.client5.http.socket.ConnectionSocketFactory;
import org.apache.hc.core5.http.config.Registry;
import org.apache.hc.core5.http.io.SocketConfig;
import org.apache.hc.core5.pool.PoolConcurrencyPolicy;
import org.apache.hc.core5.util.TimeValue;

/**
 * camel-http for one provider's target: Camel's component, with a connection pool of HttpClient's
 * {@link PoolConcurrencyPolicy#LAX LAX} policy instead of {@code STRICT}. The strict pool takes one lock for every
 * lease and release of any connection; with the provider's workers on a busy machine, several of them were seen
 * waiting for it 10–20 ms at once (JFR at half load, BENCHMARKS.md issue 18 round eleven). The lax pool locks per
 * route and does not enforce a total, which a provider does not need: its workers are at most {@code concurrency},
 * and the limit per route stays {@code max(20, 2 × concurrency)}.
 */
public class ProviderHttpComponent extends HttpComponent {

    @Override
    protected HttpClientConnectionManager createConnectionManager(Registry<ConnectionSocketFactory> registry,
                                                                  int maxTotalConnections, int connectionsPerRoute,
                                                                  SocketConfig defaultSocketConfig) {
        // as HttpComponent does it (Camel 4.18), but LAX
        PoolingHttpClientConnectionManager answer = new PoolingHttpClientConnectionManager(registry, PoolConcurrencyPolicy.LAX,
                TimeValue.ofMilliseconds(getConnectionTimeToLive()), null);
        answer.setDefaultSocketConfig(defaultSocketConfig);
        int perRoute = connectionsPerRoute == 0 ? getConnectionsPerRoute() : connectionsPerRoute;
        if (perRoute > 0) {
            answer.setDefaultMaxPerRoute(perRoute);
        }
        return answer;
    }
}
