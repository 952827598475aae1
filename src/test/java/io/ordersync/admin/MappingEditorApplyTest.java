package io.ordersync.admin;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** What a look at another instance's save does with this instance's file, as a function of the three versions. */
class MappingEditorApplyTest {

    @Test
    void theFilesVersionDecides() {
        // still the version the save replaced: written
        assertThat(MappingEditor.decide("v0", "v0", "v1")).isEqualTo(MappingEditor.Apply.WRITE);
        // already the saved version (a shared directory, or written before): left alone, said nothing
        assertThat(MappingEditor.decide("v1", "v0", "v1")).isEqualTo(MappingEditor.Apply.ALREADY);
        // anything else (edited here, deployed differently): left alone, with a warning
        assertThat(MappingEditor.decide("v9", "v0", "v1")).isEqualTo(MappingEditor.Apply.DIFFERENT);
        // a save that changed nothing is never recorded; were it, the file is already that version
        assertThat(MappingEditor.decide("v0", "v0", "v0")).isEqualTo(MappingEditor.Apply.ALREADY);
    }
}
