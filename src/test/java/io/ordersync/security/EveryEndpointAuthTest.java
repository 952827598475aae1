package io.ordersync.security;

import io.ordersync.support.AppTestSupport;
import org.apache.camel.model.Model;
import org.apache.camel.model.rest.RestDefinition;
import org.apache.camel.model.rest.VerbDefinition;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every REST endpoint ordersync defines, read from Camel's model (so that one added later is covered without being
 * listed here), refuses a caller without credentials and one with a wrong token — but the few that are meant for
 * anonymous callers: the login and pretix's webhook (which only triggers a fetch with the token). The UI's pages
 * send an anonymous browser to the login page (AdminUiBrowserTest).
 */
class EveryEndpointAuthTest extends AppTestSupport {

    private static final Set<String> ANONYMOUS = Set.of("POST /api/login", "POST /api/sources/pretix/webhook");

    @Test
    void everyRestEndpointButLoginAndThePretixWebhookNeedsCredentials() throws Exception {
        startWithCrm(5, "5s", Map.of("ordersync.pretix.url", "http://127.0.0.1:9", "ordersync.pretix.organizer", "demo"));
        List<String> endpoints = new ArrayList<>();
        for (RestDefinition rest : app.context().getCamelContextExtension().getContextPlugin(Model.class).getRestDefinitions()) {
            for (VerbDefinition verb : rest.getVerbs()) {
                String path = (rest.getPath() + (verb.getPath() == null ? "" : verb.getPath())).replaceAll("\\{[^}]+}", "1");
                endpoints.add(verb.asVerb().toUpperCase() + " " + path);
            }
        }
        assertThat(endpoints).as("the model's endpoints").hasSizeGreaterThan(30).contains("POST /api/sources/pretix/import/1/cancel");
        endpoints.add("POST /api/events"); // intake: a platform-http route of its own (routes/intake.camel.yaml)
        HttpClient http = HttpClient.newHttpClient();
        List<String> open = new ArrayList<>();
        for (String endpoint : endpoints) {
            if (ANONYMOUS.contains(endpoint)) {
                continue;
            }
            String[] mp = endpoint.split(" ", 2);
            for (String authorization : new String[]{null, "Bearer wrong-token", "Basic Og=="}) {
                HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(app.url(mp[1]))).header("Content-Type", "application/json")
                        .header("X-Ordersync-Request", "1")
                        .method(mp[0], mp[0].equals("GET") || mp[0].equals("DELETE") ? HttpRequest.BodyPublishers.noBody()
                                : HttpRequest.BodyPublishers.ofString("{}"));
                if (authorization != null) {
                    b.header("Authorization", authorization);
                }
                HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 401 && r.statusCode() != 429) {
                    open.add(endpoint + " with " + authorization + ": " + r.statusCode() + " " + r.body());
                }
            }
        }
        assertThat(open).as("answered without valid credentials").isEmpty();
    }
}
