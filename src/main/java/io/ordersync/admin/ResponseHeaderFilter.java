package io.ordersync.admin;

import org.apache.camel.Exchange;
import org.apache.camel.spi.HeaderFilterStrategy;

import java.util.Locale;
import java.util.Set;

/**
 * The header filter of every HTTP route: platform-http copies query parameters and request headers into the
 * message, and writes the message's headers back as the response's. Only the response headers ordersync
 * sets may leave ({@link #RESPONSE_HEADERS}), never with a CR or LF, and a request can never bring one of
 * those names in (a {@code ?Set-Cookie=…} or {@code ?Refresh=…} parameter is dropped on the way in).
 */
public final class ResponseHeaderFilter implements HeaderFilterStrategy {

    /** The response headers ordersync's routes set, lower case; nothing else is written to a response. */
    static final Set<String> RESPONSE_HEADERS = Set.of("content-type", "location", "set-cookie", "www-authenticate",
            "retry-after", "cache-control", "x-frame-options", "content-disposition");

    /** Outbound: true (filter it out) for every header but ordersync's own response headers. */
    @Override
    public boolean applyFilterToCamelHeaders(String headerName, Object headerValue, Exchange exchange) {
        return !RESPONSE_HEADERS.contains(headerName.toLowerCase(Locale.ROOT)) || hasLineBreak(headerValue);
    }

    /**
     * Inbound: true (drop it) for a parameter or request header named like a response header ordersync sets, or
     * like one of Camel's own headers ({@code CamelHttpResponseCode}, {@code CamelVertxPlatformHttpRemoteAddress},
     * … set by a query or form field, they would steer the response or the login throttle).
     */
    @Override
    public boolean applyFilterToExternalHeaders(String headerName, Object headerValue, Exchange exchange) {
        String name = headerName.toLowerCase(Locale.ROOT);
        return RESPONSE_HEADERS.contains(name) || name.startsWith("camel") || name.startsWith("org.apache.camel");
    }

    private static boolean hasLineBreak(Object value) {
        if (value == null) {
            return false;
        }
        String s = value.toString();
        return s.indexOf('\r') >= 0 || s.indexOf('\n') >= 0;
    }
}
