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
    public static Path mapping(Path dir, String name, Map<String, String> values) throws IOException {
        Files.createDirectories(dir);
        Path file = dir.resolve(name + ".yaml");
        Files.writeString(file, read("mappings/" + name + ".yaml", values));
        return file;
    }
}
