package io.ordersync.delivery;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.ops.AlertSender;
import org.junit.jupiter.api.Test;

import java.util.Base64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The key of a {@code whsec_} secret, for the webhooks of providers and of alerts: Standard Webhooks asks for 24 to
 * 64 bytes. A secret of a few bytes was taken before and signed every message with it (found by a review).
 */
class WebhookKeyTest {

    private static String whsec(int bytes) {
        return "whsec_" + Base64.getEncoder().encodeToString(new byte[bytes]);
    }

    @Test
    void keysOf24To64BytesAreTakenWithOrWithoutThePrefix() {
        assertThat(WebhookSigner.key(whsec(24))).hasSize(24);
        assertThat(WebhookSigner.key(whsec(64))).hasSize(64);
        assertThat(WebhookSigner.key(whsec(32).substring("whsec_".length()))).hasSize(32);
    }

    @Test
    void aShortOrOverlongKeyOrNoBase64IsRefusedWithoutTheSecret() {
        String shortKey = "whsec_" + Base64.getEncoder().encodeToString("hunter2".getBytes());
        assertThatThrownBy(() -> WebhookSigner.key(shortKey)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("the secret's key is 7 bytes: Standard Webhooks asks for 24 to 64 (whsec_ and the base64 of 24 random bytes or more)")
                .message().doesNotContain(shortKey.substring(6));
        assertThatThrownBy(() -> WebhookSigner.key(whsec(23))).hasMessageContaining("23 bytes");
        assertThatThrownBy(() -> WebhookSigner.key(whsec(65))).hasMessageContaining("65 bytes");
        assertThatThrownBy(() -> WebhookSigner.key("whsec_")).hasMessageContaining("0 bytes");
        assertThatThrownBy(() -> WebhookSigner.key("whsec_not base64 %%")).hasMessage(
                "the secret must be whsec_ followed by base64, as Standard Webhooks defines");
    }

    @Test
    void anAlertWebhookWithAShortKeyDoesNotStart() {
        assertThatThrownBy(() -> new AlertSender(new ObjectMapper(), "https://hooks.example.org/x", "whsec_c2hvcnQ=", "", "", "a@b"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("ordersync.alerts.webhook-secret: the secret's key is 5 bytes")
                .message().doesNotContain("c2hvcnQ");
        assertThat(new AlertSender(new ObjectMapper(), "https://hooks.example.org/x", whsec(24), "", "", "a@b").webhook()).isTrue();
    }
}
