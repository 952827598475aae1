package io.ordersync.mapping;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Mapping files are read into providers; every broken file is reported with its file and a clear reason. */
class ProviderLoaderTest {

    @TempDir
    Path dir;

    private static final String GOOD = """
            identifier: crm
            display_name: CRM
            triggers: [order.paid]
            target:
              base_url: "{{crm.url}}"
              auth: {type: bearer, token: "{{crm.token}}"}
            retry: {max_attempts: 3, backoff: [10s, 1m], recoverable_statuses: ["429", "500-599"]}
            objects:
              - id: contact
                source: Order
                remote_type: contact
                id_field: {source: email, remote: email}
                lookup: {path: "/contacts?email={id_value}", result: /results/0}
                create: {path: /contacts}
                update: {path: "/contacts/{remote_id}"}
                properties:
                  - {source: email, remote: email}
                  - {value: x, remote: origin, mode: if_new}
            """;

    private final ProviderLoader loader = new ProviderLoader(text -> {
        Map<String, String> props = Map.of("{{crm.url}}", "https://crm.example.org/api/", "{{crm.token}}", "t0k");
        if (!props.containsKey(text)) {
            if (text.contains("{{")) {
                throw new IllegalArgumentException("Property with key " + text + " not found");
            }
            return text;
        }
        return props.get(text);
    });

    private ProviderLoader.Loaded load(String name, String yaml) throws Exception {
        Path f = dir.resolve(name + ".yaml");
        Files.writeString(f, yaml);
        return loader.load(f);
    }

    @Test
    void aGoodFileCompiles() throws Exception {
        ProviderLoader.Loaded l = load("crm", GOOD);
        assertThat(l.errors()).isEmpty();
        Provider p = l.provider();
        assertThat(p.baseUrl()).isEqualTo("https://crm.example.org/api");
        assertThat(p.headers()).containsEntry("Authorization", "Bearer t0k");
        assertThat(p.maxAttempts()).isEqualTo(3);
        assertThat(p.backoffAfter(1)).isEqualTo(Duration.ofSeconds(10));
        assertThat(p.backoffAfter(7)).isEqualTo(Duration.ofMinutes(1));
        assertThat(p.recoverableStatuses().contains(503)).isTrue();
        assertThat(p.recoverableStatuses().contains(404)).isFalse();
        assertThat(p.objects().get(0).properties().get(1).mode()).isEqualTo(Mode.IF_NEW);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            YAML syntax              | 'identifier: crm\\nobjects: [unclosed' | ''               | crm.yaml:
            unknown key              | triggers: [order.paid]|triggerz: [order.paid]         | Unrecognized field "triggerz"
            unknown source field     | 'source: email, remote: email}'|'source: emial, remote: email}' | unknown source field 'emial'
            unknown mode             | 'mode: if_new}'|'mode: sometimes}'                      | mode 'sometimes' is not one of
            literal secret           | '"{{crm.token}}"'|'"hunter2"'                           | must not be written in the file
            missing secret           | '"{{crm.token}}"'|'"{{crm.other}}"'                     | target.auth.token: property crm.other is not set
            identifier mismatch      | 'identifier: crm'|'identifier: other'                   | must match the file name
            bad source model         | 'source: Order'|'source: Orders'                        | must be Order or OrderPosition
            position field on Order  | 'source: email, remote: email}'|'source: attendee_name, remote: email}' | needs source OrderPosition
            bad duration             | '10s, 1m'|'10 parsecs'                                  | is not a duration
            bad auth type            | 'type: bearer'|'type: kerberos'                         | is not one of none, bearer, basic, api_key
            """)
    void brokenFilesAreReported(String name, String from, String to, String message) throws Exception {
        String yaml = from.contains("\\n") ? from.replace("\\n", "\n") : GOOD.replace(from, to);
        ProviderLoader.Loaded l = load("crm", yaml);
        assertThat(l.valid()).isFalse();
        assertThat(l.errors()).anySatisfy(e -> assertThat(e).startsWith("crm.yaml").contains(message));
    }

    @Test
    void syntaxErrorsNameTheLine() throws Exception {
        ProviderLoader.Loaded l = load("crm", GOOD.replace("triggers: [order.paid]", "triggers: [order.paid"));
        assertThat(l.errors()).singleElement().asString().matches("crm\\.yaml:\\d+:\\d+: .*");
    }
}
