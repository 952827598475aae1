package io.ordersync.security;

import com.fasterxml.jackson.databind.JsonNode;
import io.ordersync.support.AppTestSupport;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
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

    }

    @Test
    void aRefusedFormBodyIsDroppedAndItsConnectionAnswersTheNextRequest() throws Exception {
        startWithCrm();
        URI base = URI.create(app.url("/"));
        String auth = "Authorization: Bearer " + OrdersyncApp.ADMIN_TOKEN + "\r\n";
        byte[] body = ("x=" + "a".repeat(1_500_000)).getBytes(StandardCharsets.US_ASCII);
        try (Socket s = new Socket(base.getHost(), base.getPort())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write(("POST /api/queue/retry HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: application/x-www-form-urlencoded\r\n"
                    + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            // answered before the body is sent
            assertThat(head(in)).startsWith("HTTP/1.1 415");
            out.write(body);
            out.write(("POST /api/queue/retry HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: application/json\r\n"
                    + "Content-Length: 11\r\n\r\n{\"ids\": []}").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            assertThat(head(in)).as("the same connection, after the dropped body").startsWith("HTTP/1.1 200");
        }
    }

    /** Reads a response's head and its body (by its Content-Length). */
    private static String head(InputStream in) throws Exception {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            head.append((char) b);
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?i)content-length: *(\\d+)").matcher(head);
        if (m.find()) {
            in.readNBytes(Integer.parseInt(m.group(1)));
        }
        return head.toString();
    }

    @Test
    void anHttp2BodyWithoutALengthIsCheckedAsAnyOther() throws Exception {
        startWithCrm();
        URI base = URI.create(app.url("/"));
        io.vertx.core.Vertx vertx = io.vertx.core.Vertx.vertx();
        try {
            // HTTP/2 over cleartext with prior knowledge: a stream's body needs neither a length nor Transfer-Encoding
            io.vertx.core.http.HttpClient client = vertx.createHttpClient(new io.vertx.core.http.HttpClientOptions()
                    .setProtocolVersion(io.vertx.core.http.HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false));
            String answer = client.request(io.vertx.core.http.HttpMethod.POST, base.getPort(), base.getHost(), "/api/queue/retry")
                    .compose(request -> {
                        request.putHeader("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN)
                                .putHeader("Content-Type", "multipart/form-data; boundary=x").setChunked(true);
                        request.write("{\"ids\": [1]}");
                        return request.end().compose(sent -> request.response());
                    })
                    .compose(response -> response.body().map(body -> response.version() + " " + response.statusCode() + " "
                            + response.getHeader("Content-Type") + " " + body))
                    .toCompletionStage().toCompletableFuture().get(20, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(answer).startsWith("HTTP_2 415 application/json {\"error\":\"this endpoint takes JSON");
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, java.util.concurrent.TimeUnit.SECONDS);
        }
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

    /**
     * A body that is not JSON, or JSON that Jackson will not read (nested deeper than its limit of 1 000), on an
     * endpoint that takes JSON: a JSON 400 that says where the body stops being JSON, without echoing the body,
     * and nothing done. A key twice in one object is refused too (the binding kept the last one). Camel's own answer was the plain-text {@code Invalid JSon payload.}
     */
    @ParameterizedTest(name = "{0} {1} as {2}: {3}")
    @CsvSource(delimiter = '|', textBlock = """
            POST | /api/queue/retry              | application/json | truncated | line 1, column
            POST | /api/queue/retry              | application/json | not-json  | line 1, column 4
            POST | /api/queue/retry              | text/plain       | not-json  | line 1, column 4
            POST | /api/queue/retry              | application/json | too-deep  | exceeds the maximum allowed (1000
            POST | /api/queue/retry              | application/json | trailing  | line 1, column 16
            POST | /api/queue/retry              | application/json | duplicate | a key appears twice in one object (line 1, column 19)
            POST | /api/queue/cancel             | application/json | duplicate | a key appears twice in one object (line 1, column 19)
            POST | /api/providers/crm/properties | application/json | not-json  | line 1, column 4
            POST | /api/preview                  | application/json | script    | line 1, column 1
            """)
    void aBodyThatIsNotJsonGetsAJson400ThatSaysWhere(String method, String path, String type, String kind, String where) throws Exception {
        startWithCrm();
        String body = switch (kind) {
            case "truncated" -> "{\"ids\": [1, 2";
            case "not-json" -> "ids=1&ids=2";
            case "too-deep" -> "{\"ids\": " + "[".repeat(5000) + "]".repeat(5000) + "}";
            case "script" -> "<script>alert(1)</script>";
            case "trailing" -> "{\"ids\": []} ids=1";
            case "duplicate" -> "{\"ids\": [1], \"ids\": [2]}";
            default -> throw new IllegalArgumentException(kind);
        };
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(app.url(path)))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("Content-Type", type)
                .header("X-Echo", "ids=").method(method, HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(r.headers().map().keySet()).as("no request header comes back").doesNotContain("x-echo");
        assertThat(r.headers().firstValue("Content-Type")).as(r.body()).hasValue("application/json");
        String error = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.body()).path("error").asText();
        assertThat(error).startsWith("the request body is not valid JSON").contains(where);
        assertThat(r.body()).doesNotContain("script").doesNotContain("ids=");
        assertThat(app.count("SELECT COUNT(*) FROM order_log")).isZero();
    }

    /**
     * The login reads its body itself (binding off), as strictly as the validator reads the others: before, a key given
     * twice was taken with its last value, {"token": "x", "token": "<the token>"} logged in (an audit of API.md).
     */
    @Test
    void theLoginRefusesAKeyGivenTwiceAndTextAfterTheObject() throws Exception {
        startWithCrm();
        for (String body : new String[]{"{\"token\": \"wrong\", \"token\": \"" + OrdersyncApp.ADMIN_TOKEN + "\"}",
                "{\"token\": \"" + OrdersyncApp.ADMIN_TOKEN + "\"} x"}) {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(app.url("/api/login")))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(body + ": " + r.body()).isEqualTo(400);
            assertThat(r.headers().firstValue("Set-Cookie")).isEmpty();
        }
        HttpResponse<String> ok = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(app.url("/api/login")))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                        "{\"token\": \"" + OrdersyncApp.ADMIN_TOKEN + "\"}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
    }

    /**
     * No body is read for a request without valid credentials: the binding parsed it before the route checked them,
     * so anyone could have bodies of 2 MiB parsed (found by an independent attack). An unknown charset is a JSON 415
     * (it was Camel's empty plain-text 500, also on the login), and a byte order mark a JSON 400.
     */
    @Test
    void credentialsAreCheckedBeforeTheBodyAndAnUnknownCharsetIsAJson415() throws Exception {
        startWithCrm();
        HttpClient client = HttpClient.newHttpClient();
        for (String body : new String[]{"{\"ids\": [1, 2", "{\"ids\": []}"}) {
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(app.url("/api/queue/retry")))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(body).isEqualTo(401);
            assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
            assertThat(r.headers().firstValue("WWW-Authenticate")).hasValue("Bearer realm=\"ordersync\"");
            assertThat(r.body()).startsWith("{\"error\":\"authentication required");
        }
        // /api/events read its body outside its own error handling: Camel's plain-text 500 (found by an attack)
        for (String path : new String[]{"/api/queue/retry", "/api/login", "/api/providers/crm/validate", "/api/events"}) {
            for (String charset : new String[]{"bogus-xyz", "\"a b\""}) {
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(app.url(path)))
                        .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN)
                        .header("Content-Type", "application/json; charset=" + charset)
                        .POST(HttpRequest.BodyPublishers.ofString("{\"ids\": []}")).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).as(path + " " + charset + ": " + r.body()).isEqualTo(415);
                assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
                assertThat(r.body()).contains("charset").doesNotContain("bogus");
            }
        }
        HttpResponse<String> bom = client.send(HttpRequest.newBuilder(URI.create(app.url("/api/queue/retry")))
                .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("\uFEFF{\"ids\": []}")).build(), HttpResponse.BodyHandlers.ofString());
        // refused by the binding as well (it reads the body as text): a JSON 400, not the binding's plain text
        assertThat(bom.statusCode()).as(bom.body()).isEqualTo(400);
        assertThat(bom.body()).isEqualTo("{\"error\":\"the request body is not valid JSON (line 1, column 1)\"}");
    }

    /**
     * A NUL in a body (found by an attack): PostgreSQL's text holds none, so a raw NUL in a posted event (not JSON)
     * was a 500 where the rejected event was stored, and a resubmitted document with an escaped NUL in a field was a
     * 500 where POST /api/events answers 400. On H2 and PostgreSQL: a JSON 4xx, the event kept as rejected.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "on {0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"h2", "postgresql"})
    void aNulInABodyIsA4xxAndTheEventIsKept(String db) throws Exception {
        startWithCrm(5, "1h", databaseSettings(db));
        HttpResponse<String> raw = app.post("/api/events", "{\"type\": \"order.placed\", \"x\": \"a\u0000b\"}");
        assertThat(raw.statusCode()).as(raw.body()).isEqualTo(400);
        long id = new com.fasterxml.jackson.databind.ObjectMapper().readTree(raw.body()).path("rejected_id").asLong();
        assertThat(app.query("SELECT payload FROM rejected_event WHERE id = ?", id)).singleElement()
                .satisfies(r -> assertThat((String) r.get("payload")).contains("a\uFFFDb"));
        com.fasterxml.jackson.databind.node.ObjectNode doc = fixture("order-abc12");
        ((com.fasterxml.jackson.databind.node.ObjectNode) doc.path("order")).put("email", "nul\u0000@example.org");
        HttpResponse<String> resubmitted = app.post("/api/rejected/" + id + "/resubmit", doc.toString());
        if (db.equals("postgresql")) {
            assertThat(resubmitted.statusCode()).as(resubmitted.body()).isEqualTo(400);
            assertThat(resubmitted.body()).contains("the database refused a value of the document");
            assertThat(app.count("SELECT COUNT(*) FROM rejected_event WHERE id = ?", id)).as("kept").isEqualTo(1);
        } else {
            assertThat(resubmitted.statusCode()).as("H2 holds a NUL: %s", resubmitted.body()).isEqualTo(202);
        }
    }
}
