package io.ordersync.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.camel.Exchange;

/** JSON replies and request bodies of the REST API. */
final class Json {

    private Json() {
    }

    static void reply(ObjectMapper mapper, Exchange exchange, int status, Object body) throws Exception {
        // request headers (and form fields the HTTP server turned into headers) must not flow into the response
        exchange.getMessage().removeHeaders("*", "Set-Cookie", "Retry-After");
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, status);
        exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "application/json");
        exchange.getMessage().setBody(mapper.writeValueAsString(body));
    }

    /** The request body as JSON; an empty body is an empty object; null when it is not JSON. */
    static JsonNode body(ObjectMapper mapper, Exchange exchange) {
        String text = exchange.getIn().getBody(String.class);
        if (text == null || text.isBlank()) {
            return mapper.createObjectNode();
        }
        try {
            return mapper.readTree(text);
        } catch (Exception e) {
            return null;
        }
    }

    static Long longParam(Exchange exchange, String name) {
        String v = exchange.getIn().getHeader(name, String.class);
        if (v == null) {
            return null;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            return Long.MIN_VALUE;
        }
    }
}
