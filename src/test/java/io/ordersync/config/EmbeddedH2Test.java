package io.ordersync.config;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A provider's limits are shared only where other processes can be on the database: an embedded H2 file is one
 * process's, so the presence entries found there are a crashed predecessor's and must not halve the limits.
 */
class EmbeddedH2Test {

    @Test
    void onlyAnEmbeddedH2IsOneProcesss() {
        assertThat(Ordersync.embeddedH2("jdbc:h2:file:./data/ordersync")).isTrue();
        assertThat(Ordersync.embeddedH2("jdbc:h2:./data/ordersync;WRITE_DELAY=0")).isTrue();
        assertThat(Ordersync.embeddedH2("jdbc:h2:mem:x")).isTrue();
        assertThat(Ordersync.embeddedH2("jdbc:h2:tcp://db/ordersync")).isFalse();
        assertThat(Ordersync.embeddedH2("jdbc:h2:ssl://db/ordersync")).isFalse();
        assertThat(Ordersync.embeddedH2("jdbc:h2:file:./data/ordersync;AUTO_SERVER=TRUE")).isFalse();
        assertThat(Ordersync.embeddedH2("jdbc:postgresql://db/ordersync")).isFalse();
    }
}
