package io.ordersync;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.cli.Commands;
import io.ordersync.support.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The validate, preview and fields commands, run as the command line runs them. */
class CommandsTest {

    @TempDir
    Path tmp;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) throws Exception {
        return new Commands(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8)).run(args);
    }

    private String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void validateExitsNonZeroOnErrorsAndNamesFileLineAndField() throws Exception {
        Path broken = Path.of("src/test/resources/broken-mappings/b06-unknown-source-field.yaml");
        assertThat(run("validate", "--ignore-unset", broken.toString())).isEqualTo(1);
        assertThat(out()).contains("b06-unknown-source-field.yaml:22:18: objects[0].properties[0].source: unknown source field 'emial' (did you mean 'email'?)");
        assertThat(out()).contains("1 file, 1 with errors");
    }

    @Test
    void validateAcceptsTheSamples() throws Exception {
        assertThat(run("validate", "--ignore-unset", "mappings")).isEqualTo(0);
        assertThat(out()).contains("ok     mappings/crm.yaml").contains("3 files, 0 with errors");
    }

    /**
     * validate checks triggers against the types of ordersync.pretix.actions as the service reads it (here a -D option):
     * a type of the user's own rules is a trigger, the default type it replaced a misspelling of it.
     */
    @Test
    void validateChecksTriggersAgainstTheConfiguredPretixActions(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("crm.yaml"), Files.readString(Path.of("mappings/crm.yaml"))
                .replaceFirst("(?m)^triggers:.*$", "triggers: [order.cancelled]"));
        assertThat(run("validate", "--ignore-unset", dir.toString())).as(out()).isEqualTo(1);
        assertThat(out()).contains("'order.cancelled' is no event type ordersync.pretix.actions produces (did you mean 'order.canceled'?)");
        out.reset();
        System.setProperty("ordersync.pretix.actions", "pretix.event.order.canceled=order.cancelled");
        try {
            assertThat(run("validate", "--ignore-unset", dir.toString())).as(out()).isEqualTo(0);
        } finally {
            System.clearProperty("ordersync.pretix.actions");
        }
    }

    /** A kind: java file of a provider on the class path validates as the service loads it (before: refused here). */
    @Test
    void validateKnowsTheJavaProvidersOnTheClassPath() throws Exception {
        assertThat(run("validate", "--ignore-unset", "examples/java-provider/mappings")).as(out()).isEqualTo(0);
        assertThat(out()).contains("ok     examples/java-provider/mappings/mailing-list.yaml").contains("1 file, 0 with errors");
    }

    /** What the service refuses, validate refuses too: a file over 1 MiB, and <id>.yaml beside <id>.yml (found by an attack). */
    @Test
    void validateRefusesWhatTheServiceRefuses(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        String crm = Files.readString(Path.of("mappings/crm.yaml"));
        Files.writeString(dir.resolve("crm.yaml"), crm);
        Files.writeString(dir.resolve("crm.yml"), crm);
        Files.writeString(dir.resolve("big.yaml"), crm.replace("identifier: crm", "identifier: big") + "# filler\n".repeat(120_000));
        assertThat(run("validate", "--ignore-unset", dir.toString())).isEqualTo(1);
        assertThat(out()).contains("two files for provider 'crm'").contains("big.yaml: the file has 108").contains("a mapping file may have at most 1048576")
                .contains("3 files, 3 with errors");
    }

    @Test
    void validateWithoutIgnoreUnsetReportsMissingSecrets() throws Exception {
        assertThat(run("validate", "mappings/webhook.yaml")).isEqualTo(1);
        assertThat(out()).contains("webhook.secret: environment variable WEBHOOK_SECRET is not set");
    }

    @Test
    void previewPrintsTheRequestsOfASync() throws Exception {
        Path mapping = Fixtures.mapping(tmp, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "1000"));
        Path order = tmp.resolve("order.json");
        Files.writeString(order, Fixtures.read("fixtures/order-xyz34.json"));
        Path remote = tmp.resolve("remote.json");
        Files.writeString(remote, "{\"contact\": [{\"id\": \"9\", \"email\": \"anna@example.com\", \"tags\": \"vip\"}]}");
        System.setProperty("test.crm.url", "https://crm.example.org");
        System.setProperty("test.crm.token", "t0k");
        try {
            assertThat(run("preview", "--provider", mapping.toString(), "--order", order.toString(), "--remote", remote.toString())).isEqualTo(0);
        } finally {
            System.clearProperty("test.crm.url");
            System.clearProperty("test.crm.token");
        }
        JsonNode preview = new ObjectMapper().readTree(out());
        JsonNode requests = preview.path("requests");
        assertThat(requests.get(0).path("url").asText()).isEqualTo("https://crm.example.org/contacts?email=anna%40example.com");
        assertThat(requests.get(1).path("method").asText()).isEqualTo("PATCH");
        assertThat(requests.get(1).path("body").path("tags").asText()).isEqualTo("vip;democon");
        assertThat(requests.get(3).path("body").path("meal").asText()).isEqualTo("meat");
        assertThat(out()).doesNotContain("t0k");
    }

    @Test
    void fieldsListsTheCatalogue() throws Exception {
        assertThat(run("fields")).isEqualTo(0);
        assertThat(out()).contains("event_order_code").contains("question_<identifier>").contains("checkin_date_<list id>");
    }

    @Test
    void noCommandMeansRunTheService() throws Exception {
        assertThat(run()).isEqualTo(-1);
    }
}
