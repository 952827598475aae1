package io.ordersync.delivery;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.ordersync.mapping.Provider;
import org.apache.camel.CamelContext;
import org.apache.camel.Endpoint;
import org.apache.camel.Exchange;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.component.http.HttpComponent;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A provider's HTTP target over camel-http: one component per provider for its own timeouts and pool. */
public final class HttpTarget implements Transport {

    private static final AtomicInteger COUNTER = new AtomicInteger();

    /** Exchange property naming the provider's HTTP endpoint, for the rate-limited route provider-<id>-http. */
    public static final String HTTP_ENDPOINT = "ordersyncHttpEndpoint";

    private final Provider provider;
    private final ProducerTemplate template;
    private final Endpoint endpoint;
    private final Endpoint via;
    private final ProviderGate gate;
    private final CircuitBreaker breaker;

    public HttpTarget(CamelContext context, ProducerTemplate template, Provider provider, ProviderGate gate,
                      ProviderBreakers breakers) {
        this.provider = provider;
        this.template = template;
        this.gate = gate;
        this.breaker = breakers.of(provider);
        HttpComponent component = new HttpComponent();
        component.setConnectTimeout(provider.connectTimeoutMs());
        component.setResponseTimeout(provider.responseTimeoutMs());
        component.setSoTimeout(provider.responseTimeoutMs());
        component.setConnectionRequestTimeout(provider.responseTimeoutMs());
        component.setConnectionsPerRoute(Math.max(20, provider.concurrency() * 2));
        // retries are ours (Camel redelivery, then the queue): HttpClient must not re-send 429/503 by itself
        component.setHttpClientConfigurer(builder -> builder.disableAutomaticRetries());
        String name = "ordersync-http" + COUNTER.incrementAndGet();
        context.addComponent(name, component);
        String hostPart = provider.baseUrl().replaceFirst("^https?://", "");
        // copyHeaders=false: the response message carries only the target's headers; copying the request's
        // headers onto every response (3 % of the end-to-end benchmark's CPU) served nothing, the status,
        // body and Retry-After are all that is read
        this.endpoint = context.getEndpoint(name + "://" + hostPart + "?throwExceptionOnFailure=false&copyHeaders=false");
        // with a rate limit, every request passes the Throttle EIP of route provider-<id>-http
        this.via = provider.rateLimit() > 0 ? context.getEndpoint("direct:provider-http-" + provider.identifier()) : endpoint;
    }

    public Provider provider() {
        return provider;
    }

    /**
     * Sends one request. Connection failures and timeouts become {@link RecoverableDeliveryException};
     * HTTP error statuses are returned for the caller to classify.
     */
    @Override
    public Response send(Request request) {
        String method = request.method();
        String path = request.path();
        String body = request.body();
        Instant now = Instant.now();
        Instant paused = gate.pausedUntil(provider.identifier(), now);
        if (paused != null) {
            throw new DeferredDeliveryException("target asked for a pause (Retry-After) until " + paused
                    + "; no request sent", paused, false);
        }
        if (breaker != null && !breaker.tryAcquirePermission()) {
            throw new DeferredDeliveryException("circuit breaker open: the target kept failing; no request sent, "
                    + "a probe follows after " + provider.breaker().openFor().toSeconds() + " s", now.plus(provider.breaker().openFor()), false);
        }
        long started = System.nanoTime();
        String url = provider.baseUrl() + path;
        int q = url.indexOf('?');
        String uri = q < 0 ? url : url.substring(0, q);
        String query = q < 0 ? null : url.substring(q + 1);
        Exchange result = template.send(via, ex -> {
            ex.setProperty(HTTP_ENDPOINT, endpoint.getEndpointUri());
            // the enum itself: a String would go through a type-converter lookup on every request
            ex.getIn().setHeader(Exchange.HTTP_METHOD, org.apache.camel.component.http.HttpMethods.valueOf(method));
            ex.getIn().setHeader(Exchange.HTTP_URI, uri);
            if (query != null) {
                ex.getIn().setHeader(Exchange.HTTP_QUERY, query);
            }
            ex.getIn().setHeader("Accept", "application/json");
            for (Map.Entry<String, String> h : provider.headers().entrySet()) {
                ex.getIn().setHeader(h.getKey(), h.getValue());
            }
            for (Map.Entry<String, String> h : request.headers().entrySet()) {
                ex.getIn().setHeader(h.getKey(), h.getValue());
            }
            if ("POST".equals(method) && request.idValue() != null) {
                // targets that honour idempotency keys (Stripe-style) make a repeated create a no-op
                ex.getIn().setHeader("Idempotency-Key", idempotencyKey(request));
            }
            if (body != null) {
                ex.getIn().setHeader(Exchange.CONTENT_TYPE, "application/json; charset=utf-8");
                ex.getIn().setBody(body);
            }
        });
        Exception failure = result.getException();
        Integer code = failure != null ? null : result.getMessage().getHeader(Exchange.HTTP_RESPONSE_CODE, Integer.class);
        if (breaker != null) {
            long took = System.nanoTime() - started;
            if (failure != null || code == null || provider.recoverableStatuses().contains(code)) {
                breaker.onError(took, TimeUnit.NANOSECONDS, failure != null ? failure : new IllegalStateException("HTTP " + code));
            } else {
                breaker.onSuccess(took, TimeUnit.NANOSECONDS);
            }
        }
        if (failure != null) {
            boolean timedOut = failure instanceof SocketTimeoutException || hasCause(failure, SocketTimeoutException.class);
            String what = method + " " + path + " " + (timedOut ? "timed out" : "failed") + ": " + rootMessage(failure);
            if (timedOut && "POST".equals(method)) {
                // the target may still be creating the object: try again only after it had a whole timeout
                // to finish, so the retry's lookup finds it instead of creating a second one
                throw new DeferredDeliveryException(what + "; outcome unknown, next try after the target had time to finish",
                        Instant.now().plusMillis(provider.responseTimeoutMs()));
            }
            throw new RecoverableDeliveryException(what, null, failure);
        }
        Integer status = result.getMessage().getHeader(Exchange.HTTP_RESPONSE_CODE, Integer.class);
        String text = result.getMessage().getBody(String.class);
        String retryAfter = result.getMessage().getHeader("Retry-After", String.class);
        return new Response(status == null ? 0 : status, text, retryAfter);
    }

    /** Stable for one object of one provider: provider, mapping and id value, hashed. */
    private String idempotencyKey(Request request) {
        try {
            byte[] h = java.security.MessageDigest.getInstance("SHA-256").digest((provider.identifier() + "\n"
                    + request.mappingId() + "\n" + request.idValue() + "\n" + request.body()).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return "ordersync-" + java.util.HexFormat.of().formatHex(h, 0, 16);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Parses Retry-After, as delay-seconds or an HTTP date (RFC 1123, also RFC 850 and asctime as RFC 9110
     * asks recipients to accept), into an instant between {@code now} and {@code now + max}: a longer wait is
     * cut to {@code max}, a date in the past or a negative number means now. Null when absent or unreadable.
     */
    public static Instant retryAt(String retryAfter, Instant now, Duration max) {
        if (retryAfter == null || retryAfter.isBlank()) {
            return null;
        }
        String v = retryAfter.trim();
        Instant latest = now.plus(max);
        if (v.matches("[+-]?\\d{1,30}")) {
            if (v.startsWith("-")) {
                return now;
            }
            String digits = v.startsWith("+") ? v.substring(1) : v;
            // more digits than a long holds is longer than any cap
            long seconds = digits.length() > 18 ? Long.MAX_VALUE : Long.parseLong(digits);
            return seconds >= max.toSeconds() ? latest : now.plusSeconds(seconds);
        }
        for (DateTimeFormatter f : HTTP_DATES) {
            try {
                Instant at = ZonedDateTime.parse(v, f).toInstant();
                return at.isBefore(now) ? now : at.isAfter(latest) ? latest : at;
            } catch (RuntimeException notThisForm) {
                // try the next form
            }
        }
        return null;
    }

    private static final DateTimeFormatter[] HTTP_DATES = {
            DateTimeFormatter.RFC_1123_DATE_TIME,
            DateTimeFormatter.ofPattern("EEEE, dd-MMM-yy HH:mm:ss zzz", java.util.Locale.ENGLISH),
            DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", java.util.Locale.ENGLISH).withZone(java.time.ZoneOffset.UTC)};

    private static boolean hasCause(Throwable t, Class<? extends IOException> type) {
        while (t != null) {
            if (type.isInstance(t)) {
                return true;
            }
            t = t.getCause();
        }
        return false;
    }

    static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        String m = root.getMessage();
        return root.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }
}
