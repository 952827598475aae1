package io.ordersync.security;

import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Vert.x reads a request's body whole before any route (authentication included) sees the request: bodies being read
 * share a budget of heap, so that uploads without credentials cannot exhaust it. On the real server, with a budget of
 * 3 MB: one upload of 2 MB that is still being sent holds its share; a second one is refused with a JSON 503 before its
 * body is read; once the first connection is gone, the budget is free again.
 */
class BodyBudgetTest extends AppTestSupport {

    @Test
    void uploadsBeyondTheBudgetAreRefusedBeforeTheirBodiesAreReadAndTheBudgetComesBack() throws Exception {
        startWithCrm(3, "1s", Map.of("ordersync.http.body-budget-bytes", "3000000"));
        URI base = URI.create(app.url("/"));
        try (Socket slow = new Socket(base.getHost(), base.getPort())) {
            OutputStream out = slow.getOutputStream();
            out.write(headers(2_000_000).getBytes(StandardCharsets.US_ASCII));
            out.write("{\"type\":\"order.placed\",".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            // the first upload has been admitted once a second one is refused
            await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> answerTo(headers(2_000_000)).startsWith("HTTP/1.1 503"));
            String refused = answerTo(headers(2_000_000));
            assertThat(refused).startsWith("HTTP/1.1 503").containsIgnoringCase("Retry-After: 1")
                    .containsIgnoringCase("content-type: application/json")
                    .contains("{\"error\":\"too many request bodies are being received at once; try again in a second\"}");
            // a request without a body needs no budget
            assertThat(answerTo("GET /api/providers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).startsWith("HTTP/1.1 401");
        }
        // the first upload's connection is gone: a whole upload fits again, and is answered by the routes (no login: 401)
        await().atMost(Duration.ofSeconds(10)).until(() -> answerTo(headers(100) + "x".repeat(100)).startsWith("HTTP/1.1 401"));
        String big = answerTo(headers(2_000_000) + "x".repeat(2_000_000));
        assertThat(big).startsWith("HTTP/1.1 401");
    }

    /**
     * Left empty, the budget is a sixteenth of the heap, at least two bodies of camel.server.max-body-size (README): with
     * bodies allowed just over a sixteenth of this JVM's heap, two uploads are admitted and a third is refused.
     */
    @Test
    void theDefaultBudgetHoldsTwoOfTheLargestBodies() throws Exception {
        long largest = Runtime.getRuntime().maxMemory() / 16 + 1_000_000;
        startWithCrm(3, "1s", Map.of("ordersync.http.body-budget-bytes", "", "camel.server.max-body-size", String.valueOf(largest)));
        URI base = URI.create(app.url("/"));
        try (Socket first = new Socket(base.getHost(), base.getPort()); Socket second = new Socket(base.getHost(), base.getPort())) {
            for (Socket s : new Socket[]{first, second}) {
                s.getOutputStream().write((headers(largest) + "{\"type\":").getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
            }
            await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> answerTo(headers(largest)).startsWith("HTTP/1.1 503"));
            // the first two are still being received, not refused
            for (Socket s : new Socket[]{first, second}) {
                s.setSoTimeout(500);
                assertThatThrownBy(() -> s.getInputStream().read()).isInstanceOf(java.net.SocketTimeoutException.class);
            }
        }
    }

    private static String headers(long length) {
        return "POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
                + length + "\r\n\r\n";
    }

    /** Sends the text on a new connection and reads the answer's head and body until the server closes it. */
    private String answerTo(String request) throws Exception {
        URI base = URI.create(app.url("/"));
        try (Socket s = new Socket(base.getHost(), base.getPort())) {
            s.setSoTimeout(3_000);
            OutputStream out = s.getOutputStream();
            try {
                out.write(request.getBytes(StandardCharsets.US_ASCII));
                out.flush();
            } catch (java.io.IOException closedEarly) {
                // refused before the body was sent whole: the answer is still there to read
            }
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
    }
}
