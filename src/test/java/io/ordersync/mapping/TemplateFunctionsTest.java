package io.ordersync.mapping;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The template functions as pure functions, and what parse refuses. */
class TemplateFunctionsTest {

    @Test
    void eachFunction() {
        assertThat(TemplateFunctions.apply("|lower", " Ada@Example.ORG ")).isEqualTo(" ada@example.org ");
        assertThat(TemplateFunctions.apply("|trim|lower|md5", " Ada@Example.ORG ")).isEqualTo(TemplateFunctions.apply("|md5", "ada@example.org"));
        // Mailchimp's subscriber hash of "urist.mcvankab@freddiesjokes.com" (its API reference)
        assertThat(TemplateFunctions.apply("|lower|md5", "Urist.McVankab@freddiesjokes.com")).isEqualTo("62eeb292278cc15f5817cb78f7790b08");
        assertThat(TemplateFunctions.apply("|sha256", "abc")).isEqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assertThat(TemplateFunctions.apply("|upper", "abc")).isEqualTo("ABC");
        assertThat(TemplateFunctions.apply("|default(unknown)", "")).isEqualTo("unknown");
        assertThat(TemplateFunctions.apply("|default(unknown)", "x")).isEqualTo("x");
        assertThat(TemplateFunctions.apply("|cents", "46.00")).isEqualTo("4600");
        assertThat(TemplateFunctions.apply("|cents", "23.455")).isEqualTo("2346");
        assertThat(TemplateFunctions.apply("|cents", "n/a")).isEqualTo("n/a");
        assertThat(TemplateFunctions.apply("|number(0.0)", "46")).isEqualTo("46.0");
        assertThat(TemplateFunctions.apply("|date(dd.MM.yyyy HH:mm, Europe/Berlin)", "2026-03-01T10:00:00Z")).isEqualTo("01.03.2026 11:00");
        assertThat(TemplateFunctions.apply("|date(yyyy-MM-dd)", "2026-05-04T23:30:00-02:00")).as("UTC by default").isEqualTo("2026-05-05");
        assertThat(TemplateFunctions.apply("|date(dd/MM/yyyy)", "2026-03-01")).isEqualTo("01/03/2026");
        assertThat(TemplateFunctions.apply("|date(dd/MM/yyyy)", "soon")).isEqualTo("soon");
        assertThat(TemplateFunctions.apply("|substring(0, 3)", "ABC12")).isEqualTo("ABC");
        assertThat(TemplateFunctions.apply("|substring(3)", "ABC12")).isEqualTo("12");
        assertThat(TemplateFunctions.apply("|substring(2, 99)", "ABC")).isEqualTo("C");
        assertThat(TemplateFunctions.apply("|substring(9)", "ABC")).isEmpty();
    }

    @Test
    void parseRefusesWhatCannotRun() {
        assertThatThrownBy(() -> TemplateFunctions.parse("|lowr")).hasMessageContaining("unknown template function 'lowr'")
                .hasMessageContaining("did you mean 'lower'");
        assertThatThrownBy(() -> TemplateFunctions.parse("|md5(x)")).hasMessageContaining("md5 takes 0 arguments, got 1");
        assertThatThrownBy(() -> TemplateFunctions.parse("|default")).hasMessageContaining("default takes 1 argument, got 0");
        assertThatThrownBy(() -> TemplateFunctions.parse("|date(yyyy-MM-dd, Mars/Olympus)")).hasMessageContaining("time zone");
        assertThatThrownBy(() -> TemplateFunctions.parse("|date(yyyy-MM-dd bbb)")).hasMessageContaining("date pattern");
        assertThatThrownBy(() -> TemplateFunctions.parse("|substring(-1)")).hasMessageContaining("start");
        assertThatThrownBy(() -> TemplateFunctions.parse("|substring(1")).hasMessageContaining("end with ')'");
        assertThat(TemplateFunctions.parse("|lower|md5")).extracting(TemplateFunctions.Call::name).containsExactly("lower", "md5");
    }
}
