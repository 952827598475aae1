package io.ordersync.support;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Test fixtures from src/test/resources, with ${name} placeholders filled in. */
public final class Fixtures {

    private Fixtures() {
    }

    public static String read(String resource) {
        try (InputStream in = Fixtures.class.getResourceAsStream("/" + resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no test resource " + resource);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String read(String resource, Map<String, String> values) {
        String s = read(resource);
        for (Map.Entry<String, String> e : values.entrySet()) {
            s = s.replace("${" + e.getKey() + "}", e.getValue());
        }
        return s;
    }

    /** Copies a mapping file from src/test/resources/mappings into {@code dir}. */
    /**
     * The crm mapping in {@code dir} with OAuth2 client credentials instead of its bearer token: the token endpoint
     * and the client secret are the placeholders {@code test.oauth.url} and {@code test.oauth.secret}.
     */
    public static void crmWithOAuth2(Path dir) throws IOException {
        Path file = dir.resolve("crm.yaml");
        String bearer = """
                  auth:
                    type: bearer
                    token: "{{test.crm.token}}"
                """;
        String text = Files.readString(file);
        if (!text.contains(bearer)) {
            throw new IllegalStateException("crm.yaml has no bearer auth block to replace");
        }
        Files.writeString(file, text.replace(bearer, """
                  auth:
                    type: oauth2
                    token_url: "{{test.oauth.url}}"
                    client_id: ordersync
                    client_secret: "{{test.oauth.secret}}"
                    scope: "crm.write crm.read"
                """));
    }

    public static Path mapping(Path dir, String name, Map<String, String> values) throws IOException {
        Files.createDirectories(dir);
        Path file = dir.resolve(name + ".yaml");
        Files.writeString(file, read("mappings/" + name + ".yaml", values));
        return file;
    }
}
