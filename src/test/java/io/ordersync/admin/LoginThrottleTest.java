package io.ordersync.admin;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** The throttle's memory stays bounded whatever the other instances report (found by an attack, 2026-12-06). */
class LoginThrottleTest {

    @Test
    void keysReadFromTheOtherInstancesDoNotGrowTheMemoryPastItsBound() throws Exception {
        int[] round = {0};
        // what the other instances' table answers: a second of a spray of addresses each time (the test's stand-in for
        // the table; the table itself is exercised in SharedLoginLockoutTest)
        LoginThrottle t = new LoginThrottle(new LoginThrottle.Shared() {
            public Map<String, Integer> failed(Map<String, Integer> keys) {
                return Map.of();
            }

            public void cleared(Set<String> keys) {
            }

            public Map<String, LoginThrottle.Count> changed(Duration longestLock) {
                Map<String, LoginThrottle.Count> out = new HashMap<>();
                for (int i = 0; i < 60_000; i++) {
                    // half failed once elsewhere, half are locked there
                    out.put(round[0] + "-" + i, new LoginThrottle.Count(i % 2 == 0 ? 1 : 9, Duration.ZERO));
                }
                round[0]++;
                return out;
            }
        });
        for (int s = 0; s < 5; s++) {
            t.locked(Instant.now(), "client:10.0.0.1");
            Thread.sleep(1010);
        }
        assertThat(t.keys()).isLessThanOrEqualTo(LoginThrottle.MAX_KEYS);
    }
}
