package io.ordersync.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** What the API's request validation finds wrong in a body, as a function of the body's text. */
class JsonRequestValidatorTest {

    private final JsonRequestValidator validator = new JsonRequestValidator(new ObjectMapper(), null);

    @Test
    void jsonTheBindingReadsPasses() {
        assertThat(validator.notJson("{}")).isNull();
        assertThat(validator.notJson("{\"ids\": [1, 2], \"note\": \"\\u00e9\\n\"}")).isNull();
        assertThat(validator.notJson("  [1]\n")).isNull();
        assertThat(validator.notJson("{\"a\": " + "[".repeat(900) + "]".repeat(900) + "}")).isNull();
    }

    @Test
    void whatIsWrongIsFoundInsideStringsAndAfterTheValueAndSaidByLineAndColumn() {
        // a bad escape and a raw control character are only seen when the string is read, not when it is skipped
        assertThat(validator.notJson("{\"a\": \"\\x41\"}")).isEqualTo("the request body is not valid JSON (line 1, column 9)");
        assertThat(validator.notJson("{\"a\": \"x\u0001\"}")).startsWith("the request body is not valid JSON (line 1,");
        assertThat(validator.notJson("{\n  \"a\": 1,\n}")).isEqualTo("the request body is not valid JSON (line 3, column 1)");
        assertThat(validator.notJson("{\"a\": 1} secret-token-123")).doesNotContain("secret").contains("(line 1, column");
        assertThat(validator.notJson("{\"a\": [1, 2")).contains("not valid JSON");
        // the binding reads the body as text and refuses a byte order mark as well
        assertThat(validator.notJson("\uFEFF{}")).isEqualTo("the request body is not valid JSON (line 1, column 1)");
    }

    @Test
    void aKeyTwiceInOneObjectIsRefusedWithoutQuotingIt() {
        assertThat(validator.notJson("{\"ids\": [1],\n \"ids\": [1, 2, 3]}"))
                .isEqualTo("the request body is not valid JSON for this endpoint: a key appears twice in one object (line 2, column 7)");
        assertThat(validator.notJson("{\"a\": {\"secret-key\": 1, \"secret-key\": 2}}")).doesNotContain("secret").contains("twice");
        // the same key in two objects, or the same value twice, is not a duplicate
        assertThat(validator.notJson("[{\"id\": 1}, {\"id\": 1}]")).isNull();
        assertThat(validator.notJson("{\"a\": {\"id\": 1}, \"b\": {\"id\": 1}}")).isNull();
    }

    @Test
    void aBodyNestedPastJacksonsLimitIsRefusedWithItsWords() {
        assertThat(validator.notJson("[".repeat(1001) + "]".repeat(1001)))
                .startsWith("the request body is not valid JSON for this endpoint: Document nesting depth (1001) exceeds the maximum allowed (1000");
    }
}
