package io.ordersync.support;

import com.sun.net.httpserver.HttpServer;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/**
 * Between ordersync and {@link Prism}: every request goes to Prism, which validates it against the vendor's
 * description, and is recorded with Prism's answer. Prism's answers to lookups come from the description's
 * examples, so every object would look as if it existed; in "empty target" mode the proxy answers lookups
 * (after Prism has checked them) as the vendor answers an unknown object, so that creates are checked too.
 */
public final class VendorProxy implements AutoCloseable {

    /** One request as ordersync sent it, and Prism's verdict. */
    public record Exchange(String method, String path, String requestBody, int prismStatus, String prismBody, int answeredStatus) {
        @Override
        public String toString() {
            return method + " " + path + " → Prism " + prismStatus + (answeredStatus != prismStatus ? " (answered " + answeredStatus + ")" : "")
                    + (prismStatus >= 300 ? ": " + prismBody : "");
        }
    }

    /** How the vendor answers a lookup of an object it does not have. */
    public record NotFound(Predicate<String> isLookup, int status, String body) {
    }

    private static final Set<String> HOP = Set.of("connection", "content-length", "host", "upgrade", "expect", "transfer-encoding");

    private final HttpServer server;
    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<Exchange> exchanges = new CopyOnWriteArrayList<>();
    private volatile NotFound emptyTarget;

    public VendorProxy(String prismUrl) throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            try (ex) {
                byte[] in = ex.getRequestBody().readAllBytes();
                String pathAndQuery = ex.getRequestURI().getRawPath() + (ex.getRequestURI().getRawQuery() == null ? "" : "?" + ex.getRequestURI().getRawQuery());
                HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(prismUrl + pathAndQuery)).timeout(Duration.ofSeconds(20))
                        .method(ex.getRequestMethod(), in.length == 0 ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(in));
                ex.getRequestHeaders().forEach((name, values) -> {
                    if (!HOP.contains(name.toLowerCase())) {
                        values.forEach(v -> b.header(name, v));
                    }
                });
                HttpResponse<byte[]> r = client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
                String prismBody = new String(r.body(), StandardCharsets.UTF_8);
                String key = ex.getRequestMethod() + " " + ex.getRequestURI().getRawPath();
                NotFound nf = emptyTarget;
                int status = r.statusCode();
                byte[] out = r.body();
                String type = r.headers().firstValue("Content-Type").orElse("application/json");
                if (nf != null && nf.isLookup().test(key) && status < 300) {
                    status = nf.status();
                    out = nf.body().getBytes(StandardCharsets.UTF_8);
                    type = "application/json";
                }
                exchanges.add(new Exchange(ex.getRequestMethod(), pathAndQuery, new String(in, StandardCharsets.UTF_8),
                        r.statusCode(), prismBody, status));
                ex.getResponseHeaders().set("Content-Type", type);
                ex.sendResponseHeaders(status, out.length == 0 ? -1 : out.length);
                if (out.length > 0) {
                    ex.getResponseBody().write(out);
                }
            } catch (Exception e) {
                ex.sendResponseHeaders(502, -1);
            }
        });
        server.start();
    }

    public String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** Lookups matching {@code isLookup} ("METHOD /path") are answered as not found (after Prism checked them); null: Prism answers. */
    public VendorProxy emptyTarget(NotFound notFound) {
        this.emptyTarget = notFound;
        return this;
    }

    public List<Exchange> exchanges() {
        return List.copyOf(exchanges);
    }

    public void clear() {
        exchanges.clear();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
