package io.ordersync.pretix;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.delivery.RetryAfter;
import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.apache.camel.http.common.HttpMethods;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The requests the pretix routes send and what their answers mean: {@link #request} puts a GET with
 * {@code Authorization: Token …} into the message (route pretix-get sends it with its own camel-http
 * component), {@link #check} turns the answer into a {@link PretixException} unless it is a 2xx. pretix's
 * 429 pauses every request to it until its Retry-After has passed ({@link #pausedUntil}).
 */
public final class PretixHttp {

    /** Exchange property: a 404 is an answer (a sub-event or voucher that no longer exists), not a failure. */
    static final String OPTIONAL = "ordersync.pretix.optional";
    static final String URL = "ordersync.pretix.url";

    private final PretixSettings settings;
    private final ObjectMapper mapper;
    private final Clock clock;
    private final AtomicReference<Instant> pausedUntil = new AtomicReference<>(Instant.EPOCH);

    public PretixHttp(PretixSettings settings, ObjectMapper mapper, Clock clock) {
        this.settings = settings;
        this.mapper = mapper;
        this.clock = clock;
    }

    /** Until when pretix asked not to be called (429 Retry-After); null when it did not. */
    public Instant pausedUntil() {
        Instant until = pausedUntil.get();
        return until.isAfter(clock.instant()) ? until : null;
    }

    /** A GET of {@code url} (on the configured pretix, with the token) into the message. */
    void request(Exchange exchange, String url, boolean optional) {
        Message in = exchange.getIn();
        in.getHeaders().clear();
        in.setBody(null);
        int q = url.indexOf('?');
        in.setHeader(Exchange.HTTP_METHOD, HttpMethods.GET);
        in.setHeader(Exchange.HTTP_URI, q < 0 ? url : url.substring(0, q));
        if (q >= 0) {
            in.setHeader(Exchange.HTTP_QUERY, url.substring(q + 1));
        }
        in.setHeader("Accept", "application/json");
        if (!settings.token().isEmpty()) {
            in.setHeader("Authorization", "Token " + settings.token());
        }
        exchange.setProperty(OPTIONAL, optional);
        exchange.setProperty(URL, url);
    }

    /** A {@code next} link of pretix: followed only when it stays on the configured pretix (the token goes with it). */
    String sameOrigin(String next) {
        if (!next.startsWith(settings.url() + "/")) {
            throw new PretixException("pretix's next page link " + next + " is not on " + settings.url()
                    + " (ordersync.pretix.url must be the URL pretix itself uses); not followed", false, null);
        }
        return next;
    }

    /** Route pretix-get, after the call: a 2xx (or the 404 of an optional resource) passes, anything else fails. */
    public void check(Exchange exchange) {
        Message out = exchange.getMessage();
        Integer code = out.getHeader(Exchange.HTTP_RESPONSE_CODE, Integer.class);
        int status = code == null ? 0 : code;
        String url = exchange.getProperty(URL, String.class);
        if (status >= 200 && status < 300) {
            return;
        }
        if (status == 404 && Boolean.TRUE.equals(exchange.getProperty(OPTIONAL, Boolean.class))) {
            return;
        }
        // an answer may repeat what it got (a proxy's error page, a debugging server): the token never leaves here
        // (redacted whole, then shortened: a token cut in two would not be recognised)
        String detail = detail(io.ordersync.mapping.Secrets.redact(String.valueOf(out.getBody(String.class)),
                settings.token().isEmpty() ? java.util.Set.of() : java.util.Set.of(settings.token())));
        String what = "GET " + url + " answered " + status + (detail.isEmpty() ? "" : ": " + detail);
        if (status == 429 || status >= 500 || status == 0) {
            Instant retryAt = status == 429 ? RetryAfter.at(out.getHeader("Retry-After", String.class), clock.instant(), Duration.ofHours(1)) : null;
            if (status == 429) {
                Instant until = retryAt != null ? retryAt : clock.instant().plusSeconds(60);
                pausedUntil.accumulateAndGet(until, (a, b) -> a.isAfter(b) ? a : b);
            }
            throw new PretixException(what, true, retryAt);
        }
        if (status == 401 || status == 403) {
            throw new PretixException(what + " — check ordersync.pretix.token (a team API token of organizer '"
                    + settings.organizer() + "' that can view orders) and ordersync.pretix.organizer", false, null);
        }
        throw new PretixException(what, false, null);
    }

    /**
     * What an exception of a pretix route means: a PretixException as it is; a network failure or timeout is
     * recoverable, and so is any failure of ordersync's own database (a restart, a failover, a conflict that
     * outlasted its retries): the work is tried again after its backoff, not refused as if pretix had said no.
     */
    static PretixException classify(Throwable e, String url) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof PretixException p) {
                return p;
            }
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.sql.SQLException sql) {
                return new PretixException("storing what pretix answered failed (ordersync's database"
                        + (sql.getSQLState() == null ? "" : ", SQLState " + sql.getSQLState()) + "): " + sql.getMessage(), true, null);
            }
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof io.ordersync.delivery.RequestDeadline.AnswerTooLarge) {
                // the same resource gives the same answer: fetched again at every backoff, for ever
                return new PretixException("GET " + url + " failed: " + t.getMessage(), false, null);
            }
            if (t instanceof IOException || t instanceof SocketTimeoutException) {
                return new PretixException("GET " + url + " failed: " + t.getClass().getSimpleName()
                        + (t.getMessage() == null ? "" : ": " + t.getMessage()), true, null);
            }
        }
        return new PretixException("reading " + url + " failed: " + e, false, null);
    }

    /** pretix's {@code {"detail": "…"}}, shortened; the raw body's start otherwise. */
    private String detail(String body) {
        if (body == null || body.isBlank() || "null".equals(body)) {
            return "";
        }
        try {
            JsonNode n = mapper.readTree(body);
            if (n.hasNonNull("detail")) {
                return cut(n.path("detail").asText());
            }
        } catch (Exception notJson) {
            // the body's start
        }
        return cut(body.strip());
    }

    private static String cut(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "…" : s;
    }

    /** Backoff of a fetch that failed {@code attempts} times: 5 s, 30 s, 2 min, 10 min, then 30 min. */
    static Duration backoff(int attempts) {
        return switch (attempts) {
            case 0, 1 -> Duration.ofSeconds(5);
            case 2 -> Duration.ofSeconds(30);
            case 3 -> Duration.ofMinutes(2);
            case 4 -> Duration.ofMinutes(10);
            default -> Duration.ofMinutes(30);
        };
    }
}
