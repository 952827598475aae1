package io.ordersync.security;

import com.fasterxml.jackson.databind.JsonNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A body of a type the JSON endpoints do not take gets a JSON answer that says what to send, as every other error:
 * a form or multipart body (curl's {@code -d} sends {@code application/x-www-form-urlencoded}) a 415 before Vert.x
 * decodes it, and a body over {@code camel.server.max-body-size} a 413 before it is read. Intake takes any type.
 */
class BodyTypesTest extends AppTestSupport {

    @ParameterizedTest(name = "{0} {1} as {2}")
    @CsvSource(delimiter = '|', textBlock = """
            POST | /api/queue/retry             | application/x-www-form-urlencoded
            POST | /api/queue/retry             | multipart/form-data; boundary=x
            POST | /api/preview                 | application/x-www-form-urlencoded
            POST | /api/providers/crm/validate  | application/x-www-form-urlencoded
            PUT  | /api/providers/crm/file      | multipart/form-data; boundary=x
            POST | /api/login                   | application/x-www-form-urlencoded
            POST | /api/login                   | multipart/form-data; boundary=x
            """)
    void aFormBodyOnAJsonEndpointGetsAJson415(String method, String path, String type) throws Exception {
        startWithCrm();
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(app.url(path)))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("Content-Type", type)
                .method(method, HttpRequest.BodyPublishers.ofString("{\"ids\": [1]}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(415);
        assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
        JsonNode error = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.body());
        assertThat(error.path("error").asText()).contains("takes JSON (Content-Type: application/json)");
        // nothing was done: the request never reached its route
        assertThat(app.count("SELECT COUNT(*) FROM order_log")).isZero();
        // the connection was kept, its unread body dropped: the next request on it is answered as usual
        HttpResponse<String> next = client.send(HttpRequest.newBuilder(URI.create(app.url("/api/queue/retry")))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"ids\": []}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(next.statusCode()).as(next.body()).isEqualTo(200);
    }

    @Test
    void aBodyOverTheLimitGetsAJson413() throws Exception {
        startWithCrm();
        String huge = "{\"ids\": [" + "1,".repeat(1_200_000) + "1]}";
        for (String path : new String[]{"/api/events", "/api/queue/retry", "/api/login"}) {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(app.url(path)))
                    .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(huge)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(path).isEqualTo(413);
            assertThat(r.headers().firstValue("Content-Type")).as(path).hasValue("application/json");
            assertThat(r.body()).isEqualTo("{\"error\":\"the request body is over the limit of 2097152 bytes (camel.server.max-body-size)\"}");
        }
        assertThat(app.count("SELECT COUNT(*) FROM rejected_event")).isZero();
    }
}
