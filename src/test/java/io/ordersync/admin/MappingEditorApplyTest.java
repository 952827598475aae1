package io.ordersync.admin;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** What a look at another instance's save does with this instance's file, as a function of the three versions. */
class MappingEditorApplyTest {

    /**
     * The write checks, right before its atomic move, that the file is still the version it replaces: a hand edit
     * made while a save was validated is not overwritten (found by an attack: it was, silently).
     */
    @Test
    void aWriteDoesNotReplaceAFileThatChangedSinceItWasRead(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path f = dir.resolve("crm.yaml");
        java.nio.file.Files.writeString(f, "identifier: crm # edited by hand\n");
        String opened = MappingEditor.hash("identifier: crm\n");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> MappingEditor.write(f, "identifier: crm # saved\n", opened))
                .isInstanceOf(MappingEditor.ChangedOnDisk.class).hasMessageContaining("crm.yaml was changed on disk");
        assertThat(java.nio.file.Files.readString(f)).isEqualTo("identifier: crm # edited by hand\n");
        try (var left = java.nio.file.Files.list(dir)) {
            assertThat(left).as("no temporary file left").containsExactly(f);
        }
        MappingEditor.write(f, "identifier: crm # saved\n", MappingEditor.hash("identifier: crm # edited by hand\n"));
        assertThat(java.nio.file.Files.readString(f)).isEqualTo("identifier: crm # saved\n");
    }

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
