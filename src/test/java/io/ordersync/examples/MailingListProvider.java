package io.ordersync.examples;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.spi.SyncProvider;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A mailing-list provider in Java (PROVIDERS.md, "A provider in Java"): an audience member is keyed by the
 * MD5 of the lower-cased e-mail, as Mailchimp's members API does ({@code PUT /lists/{list}/members/{hash}}
 * creates or updates). Registered in {@code META-INF/services/io.ordersync.spi.SyncProvider}; its objects
 * and properties come from {@code mappings/mailing-list.yaml} (kind: java).
 * <p>
 * Settings, read when the first object is synced: {@code mailing-list.url} (the API's base URL) and
 * {@code mailing-list.key} (its API key), as system properties or environment variables
 * ({@code MAILING_LIST_URL}, {@code MAILING_LIST_KEY}).
 */
public final class MailingListProvider implements SyncProvider {

    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Override
    public String identifier() {
        return "mailing-list";
    }

    @Override
    public String displayName() {
        return "Mailing list (MD5-keyed members)";
    }

    @Override
    public List<String> objects() {
        return List.of("member");
    }

    /** The member's key: the hex MD5 of the lower-cased e-mail address. */
    public static String memberHash(String email) {
        try {
            byte[] md5 = MessageDigest.getInstance("MD5").digest(email.trim().toLowerCase(Locale.ROOT).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md5);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public Synced sync(MappedObject object) throws Exception {
        String base = setting("mailing-list.url", "MAILING_LIST_URL");
        String key = setting("mailing-list.key", "MAILING_LIST_KEY");
        String hash = memberHash(object.idValue());
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("email_address", object.idValue());
        body.put("status_if_new", "subscribed");
        Map<String, Object> merge = new LinkedHashMap<>(object.properties());
        merge.remove(object.idField());
        Object tags = merge.remove("tags");
        body.put("merge_fields", merge);
        if (tags != null) {
            body.put("tags", tags);
        }
        HttpRequest request = HttpRequest.newBuilder(URI.create(base + "/members/" + hash))
                .timeout(Duration.ofSeconds(10))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)))
                .build();
        HttpResponse<String> response;
        try {
            response = http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            // connection refused, reset: ordersync classifies an IOException as recoverable anyway; said here for the reader
            throw new Recoverable("mailing list unreachable: " + e.getMessage());
        }
        int status = response.statusCode();
        if (status == 429 || status >= 500) {
            long wait = response.headers().firstValue("Retry-After").map(MailingListProvider::seconds).orElse(0L);
            throw new Recoverable("mailing list answered " + status, wait);
        }
        if (status >= 400) {
            throw new Permanent("mailing list refused member " + hash + ": HTTP " + status + " " + response.body());
        }
        return new Synced(hash, base + "/members/" + hash, status == 201 ? "created" : "updated");
    }

    private static long seconds(String v) {
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static String setting(String property, String env) {
        String v = System.getProperty(property);
        if (v == null) {
            v = System.getenv(env);
        }
        if (v == null || v.isBlank()) {
            throw new IllegalStateException("set " + property + " (or " + env + ")");
        }
        return v;
    }
}
