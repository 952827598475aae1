package io.ordersync.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.camel.Exchange;

/**
 * JSON replies and request bodies of the REST API. The API's routes use the REST DSL's JSON binding
 * (routes/api.camel.yaml): a request body arrives parsed, and a successful answer is handed to the binding as a
 * tree, which writes it. An error answer (status 300 or more, which the binding leaves alone) and the answers of
 * the verbs that have binding off are written here.
 */
final class Json {

    private Json() {
    }

    /** An answer of a verb with JSON binding. */
    static void reply(ObjectMapper mapper, Exchange exchange, int status, Object body) throws Exception {
        head(exchange, status);
        // a tree serialises the same with any ObjectMapper, so the binding's own mapper writes what ours would
        exchange.getMessage().setBody(status < 300 ? mapper.valueToTree(body) : mapper.writeValueAsString(body));
    }

    /** An answer of a verb with binding off, written as text here. */
    static void replyText(ObjectMapper mapper, Exchange exchange, int status, Object body) throws Exception {
        head(exchange, status);
        exchange.getMessage().setBody(mapper.writeValueAsString(body));
    }

    private static void head(Exchange exchange, int status) {
        // request headers (and form fields the HTTP server turned into headers) must not flow into the response
        exchange.getMessage().removeHeaders("*", "Set-Cookie", "Retry-After");
        exchange.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, status);
        exchange.getMessage().setHeader(Exchange.CONTENT_TYPE, "application/json");
    }

    /** The request body, a JSON object (every body of the API is one); an empty body is an empty object; null otherwise. */
    static JsonNode body(ObjectMapper mapper, Exchange exchange) {
        JsonNode node = parse(mapper, exchange);
        return node != null && node.isObject() ? node : null;
    }

    private static JsonNode parse(ObjectMapper mapper, Exchange exchange) {
        Object parsed = exchange.getIn().getBody();
        if (parsed instanceof JsonNode node) {
            return node;
        }
        if (parsed instanceof java.util.Map<?, ?> || parsed instanceof java.util.List<?>) {
            // the binding parsed it (into maps and lists)
            return mapper.valueToTree(parsed);
        }
        String text = exchange.getIn().getBody(String.class);
        if (text == null || text.isBlank()) {
            return mapper.createObjectNode();
        }
        try {
            // a key given twice, or anything after the object, is refused as by the request validator (the bodies read
            // here are those of verbs whose binding is off: before, {"token":"x","token":"y"} logged in with the last)
            return io.ordersync.order.DocumentParser.strictReader(mapper).readTree(text);
        } catch (Exception e) {
            return null;
        }
    }

    /** A path parameter's number (the REST DSL sets path parameters over request headers of the same name). */
    static Long longParam(Exchange exchange, String name) {
        return longOf(exchange.getIn().getHeader(name, String.class));
    }

    /** A number given as text: null when absent, Long.MIN_VALUE when not a number. */
    static Long longOf(String v) {
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
