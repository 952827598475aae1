package io.ordersync.mapping;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** A provider's limit divided among the processes that run it: rounded down, never below one. */
class LimitShareTest {

    @Test
    void theLimitIsDividedRoundedDownAndAtLeastOne() {
        assertThat(ProviderRegistry.share(4, 1)).isEqualTo(4);
        assertThat(ProviderRegistry.share(4, 2)).isEqualTo(2);
        assertThat(ProviderRegistry.share(10, 3)).isEqualTo(3);
        // more processes than the limit: one each (the target sees the number of processes)
        assertThat(ProviderRegistry.share(2, 5)).isEqualTo(1);
        assertThat(ProviderRegistry.share(1, 1)).isEqualTo(1);
        // no count (yet): the whole limit
        assertThat(ProviderRegistry.share(6, 0)).isEqualTo(6);
    }
}
