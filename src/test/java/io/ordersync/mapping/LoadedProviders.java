package io.ordersync.mapping;

import static org.assertj.core.api.Assertions.assertThat;

/** Mapping files written in a test: loaded as crm.yaml without placeholders, and checked to have no errors. */
final class LoadedProviders {

    private LoadedProviders() {
    }

    static Provider crm(String yaml) {
        ProviderLoader.Loaded loaded = new ProviderLoader(text -> text).load("crm.yaml", yaml, null);
        assertThat(loaded.errors()).isEmpty();
        return loaded.provider();
    }
}
