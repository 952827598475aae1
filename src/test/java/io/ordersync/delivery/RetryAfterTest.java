package io.ordersync.delivery;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;

/** Retry-After is read in both of its forms, defensively, and never pauses longer than the cap. */
class RetryAfterTest {

    private static final Instant NOW = Instant.parse("2026-12-02T10:00:00Z");
    private static final Duration CAP = Duration.ofHours(1);

    @ParameterizedTest(name = "Retry-After: \"{0}\" waits {1} s")
    @CsvSource(delimiter = '|', nullValues = "none", textBlock = """
            120                            | 120
            ' 7 '                          | 7
            +5                             | 5
            0                              | 0
            -30                            | 0
            3600                           | 3600
            315360000                      | 3600
            99999999999999999              | 3600
            999999999999999999999999999999 | 3600
            Wed, 02 Dec 2026 10:05:00 GMT  | 300
            Wed, 02 Dec 2026 09:00:00 GMT  | 0
            Wed, 31 Dec 2036 23:59:59 GMT  | 3600
            Wednesday, 02-Dec-26 10:01:00 GMT | 60
            Wed Dec  2 10:02:00 2026       | 120
            soon                           | none
            1e3                            | none
            ''                             | none
            """)
    void retryAfterIsBounded(String header, Long seconds) {
        Instant at = RetryAfter.at(header, NOW, CAP);
        if (seconds == null) {
            assertThat(at).isNull();
        } else {
            assertThat(Duration.between(NOW, at).toSeconds()).isEqualTo(seconds);
        }
    }
}
