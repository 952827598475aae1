package io.ordersync.admin;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.camel.Exchange;
import org.apache.camel.model.Model;
import org.apache.camel.model.rest.RestDefinition;
import org.apache.camel.model.rest.VerbDefinition;
import org.apache.camel.support.MessageHelper;
import org.apache.camel.support.processor.DefaultRestClientRequestValidator;
import org.apache.camel.spi.RestClientRequestValidator;

import java.io.IOException;
import java.util.Map;

/**
 * The REST DSL's request validation ({@code clientRequestValidation} in routes/api.camel.yaml) with the API's own
 * errors: a JSON {@code {"error": …}} instead of Camel's plain text, and a body the JSON binding would not read is
 * refused here, saying where it stops being JSON. Camel's check of a body (json-simple, and only for a request
 * typed {@code application/json}) lets through what the binding's Jackson then refuses (text sent as
 * {@code text/plain}, nesting deeper than Jackson's limit): the binding answered those with a plain-text
 * {@code Invalid JSon payload.}. This check reads the body with Jackson's own limits, for every verb whose binding
 * is JSON, whatever its type says.
 *
 * <p>The message names a line and column, never the body's text, which is the client's and may be anything.
 *
 * <p>It runs before the binding reads the body, and so before the route's own credentials check: it runs that
 * check first ({@link AdminAuth}), so that no body of a client without credentials is read or parsed, and refuses a
 * charset Java does not know (Camel's conversion of the body would answer an empty plain-text 500).
 */
public final class JsonRequestValidator implements RestClientRequestValidator {

    private static final String NOT_JSON = "the request body is not valid JSON";

    private final RestClientRequestValidator camel = new DefaultRestClientRequestValidator();
    /**
     * Jackson's default limits, those of the binding's reader (camel-jackson's own ObjectMapper), and one check the
     * binding lacks: a key twice in one object. The binding keeps the last value, so a body such as
     * {@code {"ids": [1], "ids": [1, 2, 3]}} would act on what a reviewer of the request (or a proxy's log) did not
     * read first; pretix's and our own document intake refuse it too.
     */
    private final JsonFactory json = JsonFactory.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
    private final ObjectMapper mapper;
    private final AdminAuth auth;

    /** {@code auth}: the API's credentials check, run before any body is read (null: none, for tests of the body check). */
    public JsonRequestValidator(ObjectMapper mapper, AdminAuth auth) {
        this.mapper = mapper;
        this.auth = auth;
    }

    @Override
    public ValidationError validate(Exchange exchange, ValidationContext context) {
        String route = exchange.getFromRouteId();
        // ordersync's verbs: their routes are named rest-… and, inlined with their direct: route (Camel's default), api-…
        if (route == null || !(route.startsWith("api-") || route.startsWith("rest-"))) {
            // a platform's own REST verb (embedded, Camel takes the one validator bound for all): Camel's check, not
            // ordersync's credentials (before, a host's verbs answered 401 and counted failed logins; a review)
            return camel.validate(exchange, context);
        }
        if (auth != null) {
            // the binding reads and parses the body before the route's own check of the credentials
            // (routes/auth.camel.yaml) runs: without this, anyone could have 2 MiB bodies parsed
            auth.process(exchange);
            if (exchange.isRouteStop()) {
                Integer status = exchange.getMessage().getHeader(Exchange.HTTP_RESPONSE_CODE, Integer.class);
                return new ValidationError(status == null ? 401 : status, exchange.getMessage().getBody(String.class));
            }
        }
        if (!io.ordersync.intake.HttpIntakeProcessor.charsetKnown(exchange)) {
            // Camel's conversion of the body would fail with a plain-text 500 (and the bean's own read likewise)
            return answer(exchange, 415, io.ordersync.intake.HttpIntakeProcessor.UNKNOWN_CHARSET);
        }
        ValidationError error = camel.validate(exchange, context);
        if (error != null) {
            String message = error.body() == null ? null : error.body().trim();
            if ("Invalid JSon payload.".equals(message)) {
                String where = notJson(MessageHelper.extractBodyAsString(exchange.getIn()));
                message = where != null ? where : NOT_JSON;
            } else if (message == null || message.isEmpty()) {
                message = switch (error.statusCode()) {
                    case 415 -> "this endpoint does not take a body of this Content-Type";
                    case 406 -> "this endpoint cannot answer in a type the request's Accept header allows";
                    default -> "the request is not valid for this endpoint";
                };
            }
            return answer(exchange, error.statusCode(), message);
        }
        if (!bindsJson(exchange)) {
            return null; // a verb with binding off reads its body itself (mapping files, documents, the login)
        }
        String body = MessageHelper.extractBodyAsString(exchange.getIn());
        if (body == null || body.isEmpty()) {
            return null;
        }
        String where = notJson(body);
        return where == null ? null : answer(exchange, 400, where);
    }

    /** Null when Jackson reads {@code body} to its end, else what is wrong and where, without the body's text. */
    String notJson(String body) {
        if (body == null) {
            return null;
        }
        try (JsonParser p = json.createParser(body)) {
            // every token, to the end: a truncated body or a part after the value fails as in the binding
            while (p.nextToken() != null) {
                p.finishToken();
            }
            return null;
        } catch (StreamConstraintsException e) {
            // Jackson's own words: numbers only ("nesting depth (1001) exceeds the maximum allowed (1000, …)")
            return NOT_JSON + " for this endpoint: " + e.getOriginalMessage() + at(e.getLocation());
        } catch (JsonProcessingException e) {
            if (e.getOriginalMessage() != null && e.getOriginalMessage().startsWith("Duplicate field")) {
                // Jackson's message quotes the key, which is the client's text: only where it is
                return NOT_JSON + " for this endpoint: a key appears twice in one object" + at(e.getLocation());
            }
            return NOT_JSON + at(e.getLocation());
        } catch (IOException e) {
            return NOT_JSON;
        }
    }

    private static String at(JsonLocation location) {
        return location == null || location.getLineNr() < 1 ? ""
                : " (line " + location.getLineNr() + ", column " + location.getColumnNr() + ")";
    }

    /**
     * Whether the verb that received the exchange has JSON binding (its own mode, else its REST block's). The
     * REST definitions are read at each request (some forty verbs), so a reloaded routes/api.camel.yaml counts.
     */
    private static boolean bindsJson(Exchange exchange) {
        String routeId = exchange.getFromRouteId();
        Model model = exchange.getContext().getCamelContextExtension().getContextPlugin(Model.class);
        if (routeId == null || model == null) {
            return false;
        }
        for (RestDefinition rest : model.getRestDefinitions()) {
            for (VerbDefinition verb : rest.getVerbs()) {
                // with inlined routes (Camel's default) the verb's route takes the id of the direct: route it calls
                if (routeId.equals(verb.getRouteId())
                        || verb.getTo() != null && ("direct:" + routeId).equals(verb.getTo().getUri())) {
                    String mode = verb.getBindingMode() != null ? verb.getBindingMode() : rest.getBindingMode();
                    return mode != null && (mode.contains("json") || mode.equals("auto"));
                }
            }
        }
        return false;
    }

    private ValidationError answer(Exchange exchange, int status, String message) {
        try {
            // as every error of the API: no request header or parameter flows into the response
            Json.replyText(mapper, exchange, status, Map.of("error", message));
        } catch (Exception e) {
            throw new IllegalStateException(e); // a map of two strings always writes
        }
        return new ValidationError(status, exchange.getMessage().getBody(String.class));
    }

}
