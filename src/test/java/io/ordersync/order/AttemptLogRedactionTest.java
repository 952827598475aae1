package io.ordersync.order;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** What a stored try keeps of a body: secret-named fields and credential values redacted, whatever the body's form. */
class AttemptLogRedactionTest {

    private final AttemptLog log = new AttemptLog(null, 4000,
            List.of("password", "passwd", "secret", "token", "key", "authorization", "session", "signature", "credential"));

    @Test
    void jsonFormDataSeveralValuesAndPrefixedAnswersAllLoseTheirSecrets() {
        Set<String> secrets = Set.of("tok/SECRET/123456");
        assertThat(log.body("{\"ok\": true, \"refresh_token\": \"rt-LEAK-1\", \"user\": {\"Passwd\": \"pw-LEAK-2\", \"x-api-key\": \"k-LEAK-3\"}}", secrets))
                .contains("\"ok\":true").doesNotContain("LEAK");
        assertThat(log.body("{\"ok\":false}\n{\"refresh_token\":\"rt-LEAK-1\"}", secrets)).contains("\"ok\":false").doesNotContain("LEAK");
        assertThat(log.body(")]}',\n{\"access_token\": \"at-LEAK-9\", \"n\": 1}", secrets)).contains("\"n\": 1").doesNotContain("LEAK");
        assertThat(log.body("grant=x&password=pw-LEAK-6&token=tk-LEAK-7&name=Ann", secrets)).contains("name=Ann").doesNotContain("LEAK");
        assertThat(log.body("{provider=crm, session_id=s-LEAK-8, action=created}", secrets)).contains("action=created").doesNotContain("LEAK");
        // an escaped echo of a credential reads as itself once parsed, and is found
        assertThat(log.body("{\"got\": \"Bearer tok\\/SECRET\\/123456\"}", secrets)).doesNotContain("SECRET");
        assertThat(log.body("{\"got\": \"tok/\\u0053ECRET/123456\"}", secrets)).doesNotContain("SECRET");
    }

    @Test
    void aSecretFieldIsFoundInAnyCaseAnywhereInTheBodyWithoutALowerCasedCopy() {
        assertThat(log.containsWord("{\"API_KEY\": 1}")).isTrue();
        assertThat(log.containsWord("{\"x\": \"é\", \"AccessToKen\": 1}")).isTrue();
        // the last characters of the body
        assertThat(log.containsWord("…pAsSwOrD")).isTrue();
        // Kelvin sign: lower-cases to k, as String.toLowerCase found it
        assertThat(log.containsWord("{\"\u212Aey\": 1}")).isTrue();
        assertThat(log.containsWord("{\"name\": \"Anna\", \"total\": \"46.00\"}")).isFalse();
        assertThat(log.containsWord("")).isFalse();
        assertThat(log.containsWord("toke")).isFalse();
        AttemptLog nonAscii = new AttemptLog(null, 4000, List.of("émail"));
        assertThat(nonAscii.containsWord("{\"ÉMAIL\": 1}")).isTrue();
        assertThat(nonAscii.containsWord("{\"mail\": 1}")).isFalse();
        // a word with a non-ASCII letter after an ASCII one, whose lower case is longer (İ → i̇): as configured
        AttemptLog dotted = new AttemptLog(null, 4000, List.of("GİZLİ"));
        assertThat(dotted.containsWord("{\"GİZLİ_anahtar\": 1}")).isTrue();
    }

    @Test
    void theCutBodyAndItsNoteFitTheColumn() {
        String body = log.body("x".repeat(10_000), Set.of());
        assertThat(body.length()).isLessThanOrEqualTo(4000);
        assertThat(body).endsWith("… [10000 characters]");
    }
}
