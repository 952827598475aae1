package io.ordersync.delivery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.mapping.MappingConfigException;
import io.ordersync.mapping.Provider;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * OAuth2 client-credentials tokens of the providers with {@code auth: {type: oauth2}} (RFC 6749 4.4): fetched
 * once from the token endpoint (client authenticated with HTTP Basic, as RFC 6749 2.3.1 asks servers to
 * support), shared by all workers of the provider, and fetched again shortly before {@code expires_in} runs out
 * or when the target answers 401 ({@link #invalidate}). A token endpoint that refuses the client (400/401/403,
 * e.g. {@code invalid_client} of a revoked client) is a configuration error, readable; one that is down (another
 * status, no answer, an answer over {@link #MAX_ANSWER_BYTES}) is recoverable. The tokens are secrets:
 * {@link #current} lists them for redaction.
 */
public final class OAuth2Tokens {

    /**
     * A token answer is read up to this size (1 MiB; a token is a few kB): a token URL that answered with a large file
     * was read whole into the heap of every instance.
     */
    static final int MAX_ANSWER_BYTES = 1 << 20;

    /** A token is fetched again this long before it expires. */
    static final Duration EARLY = Duration.ofSeconds(30);

    private record Token(String value, Instant expiresAt) {
    }

    private final Map<Provider.OAuth2Spec, Token> tokens = new ConcurrentHashMap<>();
    private final Map<Provider.OAuth2Spec, Object> locks = new ConcurrentHashMap<>();
    private final Set<String> issued = ConcurrentHashMap.newKeySet();
    /**
     * Built on the first fetch: building the JDK's HttpClient at start loaded about 180 classes and took 0.2 s of
     * the main thread's CPU in a profile of the start, and most installations have no OAuth2 provider.
     */
    private volatile HttpClient http;
    private final ObjectMapper mapper = new ObjectMapper();
    private final Clock clock;

    public OAuth2Tokens(Clock clock) {
        this.clock = clock;
    }

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);

    private HttpClient http() {
        HttpClient h = http;
        if (h == null) {
            synchronized (this) {
                h = http;
                if (h == null) {
                    h = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT).build();
                    http = h;
                }
            }
        }
        return h;
    }

    /** A valid token for the client: the cached one, or one fetched now (one fetch at a time per client). */
    public String token(Provider.OAuth2Spec spec, Duration timeout) {
        Token t = tokens.get(spec);
        if (t != null && clock.instant().isBefore(t.expiresAt())) {
            return t.value();
        }
        synchronized (locks.computeIfAbsent(spec, k -> new Object())) {
            t = tokens.get(spec);
            if (t != null && clock.instant().isBefore(t.expiresAt())) {
                return t.value();
            }
            Token fresh = fetch(spec, timeout);
            tokens.put(spec, fresh);
            issued.add(fresh.value());
            return fresh.value();
        }
    }

    /** The target refused this token (401): the next request fetches a new one. */
    public void invalidate(Provider.OAuth2Spec spec, String token) {
        tokens.computeIfPresent(spec, (k, t) -> t.value().equals(token) ? null : t);
    }

    /** Every token handed out (to keep them out of stored errors, logs and answers). */
    public Set<String> current() {
        return issued;
    }

    private Token fetch(Provider.OAuth2Spec spec, Duration timeout) {
        StringBuilder form = new StringBuilder("grant_type=client_credentials");
        if (spec.scope() != null && !spec.scope().isBlank()) {
            form.append("&scope=").append(URLEncoder.encode(spec.scope(), StandardCharsets.UTF_8));
        }
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(spec.tokenUrl())).timeout(timeout)
                .header("Content-Type", "application/x-www-form-urlencoded").header("Accept", "application/json");
        if (spec.secretInBody()) {
            // client_secret_post (RFC 6749 2.3.1), as Salesforce's documented token request has it
            form.append("&client_id=").append(URLEncoder.encode(spec.clientId(), StandardCharsets.UTF_8))
                    .append("&client_secret=").append(URLEncoder.encode(spec.clientSecret(), StandardCharsets.UTF_8));
        } else {
            builder.header("Authorization", "Basic " + basic(spec));
        }
        HttpRequest request = builder.POST(HttpRequest.BodyPublishers.ofString(form.toString())).build();
        HttpResponse<String> r;
        // the request's timeout ends with the answer's headers (JDK 17): a body that trickles in a byte at a time held
        // this fetch, and every worker of the providers of this client waiting for its lock, for as long as it lasted.
        // The whole answer gets the connect timeout and the response timeout
        Duration deadline = CONNECT_TIMEOUT.plus(timeout);
        java.util.concurrent.CompletableFuture<HttpResponse<String>> answer = http().sendAsync(request, limited(MAX_ANSWER_BYTES));
        try {
            r = answer.get(deadline.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            answer.cancel(true);
            throw new RecoverableDeliveryException("OAuth2 token endpoint " + spec.tokenUrl() + ": no complete answer within "
                    + deadline.toMillis() + " ms", null, e);
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            if (cause instanceof TooLarge) {
                throw new RecoverableDeliveryException("OAuth2 token endpoint " + spec.tokenUrl() + ": " + cause.getMessage(), null, null);
            }
            throw new RecoverableDeliveryException("OAuth2 token endpoint " + spec.tokenUrl() + " unreachable: " + cause.getMessage(), null, cause);
        } catch (InterruptedException e) {
            answer.cancel(true);
            Thread.currentThread().interrupt();
            throw new RecoverableDeliveryException("interrupted while fetching an OAuth2 token", null, e);
        }
        JsonNode body;
        try {
            body = mapper.readTree(r.body() == null || r.body().isBlank() ? "{}" : r.body());
        } catch (IOException e) {
            body = mapper.createObjectNode();
        }
        if (r.statusCode() == 400 || r.statusCode() == 401 || r.statusCode() == 403) {
            // an endpoint that echoes the request (the secret in the form, or the Basic credentials) must not bring the
            // secret into the error: redacted before the text is cut, which would leave a part no redaction finds
            java.util.List<String> secrets = java.util.List.of(spec.clientSecret(),
                    URLEncoder.encode(spec.clientSecret(), StandardCharsets.UTF_8), basic(spec));
            String error = cut(io.ordersync.mapping.Secrets.redact(body.path("error").asText(""), secrets));
            throw new MappingConfigException("OAuth2: the token endpoint " + spec.tokenUrl() + " refused client '" + spec.clientId()
                    + "' (" + r.statusCode() + (error.isEmpty() ? "" : " " + error) + (body.hasNonNull("error_description")
                    ? ": " + cut(io.ordersync.mapping.Secrets.redact(body.path("error_description").asText(), secrets)) : "")
                    + "); check target.auth.client_id, client_secret and scope");
        }
        if (r.statusCode() < 200 || r.statusCode() >= 300) {
            throw new RecoverableDeliveryException("OAuth2 token endpoint " + spec.tokenUrl() + " answered " + r.statusCode(), null, null);
        }
        String value = body.path("access_token").asText("");
        if (value.isEmpty()) {
            throw new MappingConfigException("OAuth2: the token endpoint " + spec.tokenUrl() + " answered without an access_token");
        }
        long expiresIn = body.path("expires_in").asLong(3600);
        // fetched again before it runs out: 30 s early, or at half its life when it lives shorter than a minute
        Duration early = expiresIn < 60 ? Duration.ofSeconds(expiresIn).dividedBy(2) : EARLY;
        Instant expiresAt = clock.instant().plusSeconds(expiresIn).minus(early);
        return new Token(value, expiresAt);
    }

    /** The client's HTTP Basic credentials (RFC 6749 2.3.1: each part form-encoded first). */
    private static String basic(Provider.OAuth2Spec spec) {
        return Base64.getEncoder().encodeToString((URLEncoder.encode(spec.clientId(), StandardCharsets.UTF_8) + ":"
                + URLEncoder.encode(spec.clientSecret(), StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A text of the token endpoint's answer as it goes into an error (stored, logged, shown): one line of at most 200
     * characters. A hostile or broken endpoint's newlines could forge log lines.
     */
    static String cut(String s) {
        // control characters (C0 and C1), line and paragraph separators, bidirectional overrides: what a mapping file's
        // names may not hold either
        String line = s.codePoints().map(cp -> io.ordersync.mapping.ProviderLoader.unprintable(cp) ? ' ' : cp)
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
        return line.length() > 200 ? line.substring(0, 200) + "…" : line;
    }

    /** The answer was longer than it may be. */
    static final class TooLarge extends IOException {
        TooLarge(int limit) {
            super("an answer of more than " + limit + " bytes, not read");
        }
    }

    /** The answer's body as UTF-8 text; past {@code limit} bytes the answer is dropped and fails with {@link TooLarge}. */
    static HttpResponse.BodyHandler<String> limited(int limit) {
        return info -> new HttpResponse.BodySubscriber<>() {
            private final java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            private final java.util.concurrent.CompletableFuture<String> body = new java.util.concurrent.CompletableFuture<>();
            private java.util.concurrent.Flow.Subscription subscription;

            @Override
            public java.util.concurrent.CompletionStage<String> getBody() {
                return body;
            }

            @Override
            public void onSubscribe(java.util.concurrent.Flow.Subscription s) {
                subscription = s;
                s.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(java.util.List<java.nio.ByteBuffer> items) {
                for (java.nio.ByteBuffer b : items) {
                    if (body.isDone()) {
                        return;
                    }
                    if (bytes.size() + (long) b.remaining() > limit) {
                        subscription.cancel();
                        body.completeExceptionally(new TooLarge(limit));
                        return;
                    }
                    byte[] chunk = new byte[b.remaining()];
                    b.get(chunk);
                    bytes.write(chunk, 0, chunk.length);
                }
            }

            @Override
            public void onError(Throwable t) {
                body.completeExceptionally(t);
            }

            @Override
            public void onComplete() {
                body.complete(bytes.toString(StandardCharsets.UTF_8));
            }
        };
    }
}
