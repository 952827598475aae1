package io.ordersync.delivery;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/** Standard Webhooks signatures: {@code v1,<base64 HMAC-SHA256 of "id.timestamp.body">} with the whsec_ key. */
public final class WebhookSigner {

    private WebhookSigner() {
    }

    /**
     * The key of a {@code whsec_…} secret: base64 after the prefix (the prefix may be left out), 24 to 64 bytes as
     * Standard Webhooks asks. A shorter key was taken before (a secret of a few letters signed every message).
     *
     * @throws IllegalArgumentException saying what is wrong, without the secret
     */
    public static byte[] key(String secret) {
        String b64 = secret.startsWith("whsec_") ? secret.substring("whsec_".length()) : secret;
        byte[] key;
        try {
            key = Base64.getDecoder().decode(b64);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the secret must be whsec_ followed by base64, as Standard Webhooks defines");
        }
        if (key.length < 24 || key.length > 64) {
            throw new IllegalArgumentException("the secret's key is " + key.length + " bytes: Standard Webhooks asks for 24 to 64 "
                    + "(whsec_ and the base64 of 24 random bytes or more)");
        }
        return key;
    }

    /** The three headers of a signed message sent now. */
    public static Map<String, String> headers(byte[] key, String messageId, long timestampSeconds, String body) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put("webhook-id", messageId);
        h.put("webhook-timestamp", String.valueOf(timestampSeconds));
        h.put("webhook-signature", "v1," + sign(key, messageId, timestampSeconds, body));
        return h;
    }

    static String sign(byte[] key, String messageId, long timestampSeconds, String body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            byte[] sig = mac.doFinal((messageId + "." + timestampSeconds + "." + body).getBytes(StandardCharsets.UTF_8));
            return Base64.getEncoder().encodeToString(sig);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    /** A message id that stays the same when the same message is retried: a hash of what it says. */
    public static String messageId(String provider, String body) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest((provider + "\n" + body).getBytes(StandardCharsets.UTF_8));
            return "msg_" + HexFormat.of().formatHex(h, 0, 16);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
