package io.ordersync.intake;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** What a rejected event keeps of an outbox payload over the document limit: its start, never half a character. */
class OutboxKeptTest {

    @Test
    void theStartKeptNeverEndsInHalfASurrogatePair() {
        String emojiAtTheCut = "x".repeat(OutboxIntakeProcessor.KEPT_OF_OVERSIZED - 1) + "\uD83D\uDE00" + "tail";
        assertThat(OutboxIntakeProcessor.kept(emojiAtTheCut)).isEqualTo("x".repeat(OutboxIntakeProcessor.KEPT_OF_OVERSIZED - 1));
        // as H2's SUBSTRING gives it: cut inside the pair already
        assertThat(OutboxIntakeProcessor.kept(emojiAtTheCut.substring(0, OutboxIntakeProcessor.KEPT_OF_OVERSIZED)))
                .isEqualTo("x".repeat(OutboxIntakeProcessor.KEPT_OF_OVERSIZED - 1));
        String whole = "ü".repeat(5000);
        assertThat(OutboxIntakeProcessor.kept(whole)).hasSize(OutboxIntakeProcessor.KEPT_OF_OVERSIZED);
        assertThat(OutboxIntakeProcessor.kept("short")).isEqualTo("short");
        assertThat(OutboxIntakeProcessor.kept("")).isEmpty();
    }
}
