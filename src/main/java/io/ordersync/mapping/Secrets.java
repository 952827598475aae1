package io.ordersync.mapping;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/** Which values are secrets, and their removal from anything ordersync stores, logs or shows. */
public final class Secrets {

    /** What a secret is replaced with. */
    public static final String REDACTED = "[redacted]";

    /** Shorter values are not redacted (they would match ordinary text); no real credential is this short. */
    static final int MIN_LENGTH = 6;

    /** Exactly one placeholder without a default: {@code {{env:NAME}}}, {@code {{sys:name}}} or {@code {{a.property}}}. */
    static final Pattern ONE_PLACEHOLDER = Pattern.compile("\\{\\{(?:env:|sys:)?[A-Za-z0-9_.\\-]+}}");

    /** A secret header's value: an optional scheme word ("Bearer", "Token", …) and exactly one placeholder. */
    static final Pattern SECRET_HEADER_VALUE = Pattern.compile("(?:[A-Za-z][A-Za-z0-9_-]* )?" + ONE_PLACEHOLDER.pattern());

    private static final Set<String> SECRET_HEADERS = Set.of("authorization", "proxy-authorization", "cookie", "x-api-key",
            "api-key", "apikey");
    private static final Pattern SECRET_HEADER_WORD = Pattern.compile("token|secret|key|auth|password|passwd|session|signature");

    private Secrets() {
    }

    /**
     * An endpoint URI as ordersync shows it (log, failure messages, previews): the secret query parameters (password,
     * username, token, secret, accessKey, … as Camel's {@code URISupport} knows them) and the password of the authority's user
     * info masked as {@code xxxxxx}. Camel's {@code sanitizeUri} takes user info to run to the URI's last '@', so an
     * address in a parameter ({@code smtp://host:25?username=u&password=p&from=shop@example.org}) masked the port, the
     * user name and every parameter up to it ({@code smtp://host:xxxxxx@example.org}); here user info is the
     * authority's alone.
     */
    public static String shownUri(String uri) {
        if (uri == null) {
            return null;
        }
        int q = uri.indexOf('?');
        String base = q < 0 ? uri : uri.substring(0, q);
        String query = q < 0 ? "" : org.apache.camel.util.URISupport.sanitizeUri(uri.substring(q));
        int slashes = base.indexOf("://");
        if (slashes < 0) {
            // an opaque URI (jms:queue:crm, file:/out/a@b): it has no user info
            return base + query;
        }
        int start = slashes + 3;
        int end = base.indexOf('/', start);
        String authority = end < 0 ? base.substring(start) : base.substring(start, end);
        int at = authority.lastIndexOf('@');
        int colon = at < 0 ? -1 : authority.indexOf(':');
        if (colon < 0 || colon > at) {
            return base + query;
        }
        return base.substring(0, start) + authority.substring(0, colon + 1) + "xxxxxx" + authority.substring(at)
                + (end < 0 ? "" : base.substring(end)) + query;
    }

    /** Whether a request header carries a credential by its name (Authorization, Cookie, X-Api-Key, *-Token, …). */
    public static boolean isSecretHeader(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return SECRET_HEADERS.contains(n) || SECRET_HEADER_WORD.matcher(n).find();
    }

    /**
     * The secret values of a provider's resolved headers: each secret header's whole value, its credential
     * without the scheme word, and for HTTP basic the decoded password and "user:password".
     */
    static Set<String> ofHeaders(Map<String, String> headers) {
        Set<String> out = new LinkedHashSet<>();
        headers.forEach((name, value) -> {
            if (value == null || !isSecretHeader(name)) {
                return;
            }
            out.add(value);
            int space = value.indexOf(' ');
            String credential = space > 0 ? value.substring(space + 1).trim() : value;
            out.add(credential);
            if (value.regionMatches(true, 0, "Basic ", 0, 6)) {
                try {
                    String pair = new String(Base64.getDecoder().decode(credential), StandardCharsets.UTF_8);
                    out.add(pair);
                    int colon = pair.indexOf(':');
                    if (colon >= 0) {
                        out.add(pair.substring(colon + 1));
                    }
                } catch (IllegalArgumentException notBase64) {
                    // nothing more to add
                }
            }
        });
        out.removeIf(s -> s.length() < MIN_LENGTH);
        return out;
    }

    /** The text with every occurrence of every secret replaced by {@value #REDACTED}; null stays null. */
    public static String redact(String text, Collection<String> secrets) {
        if (text == null || secrets.isEmpty()) {
            return text;
        }
        String out = text;
        for (String s : secrets) {
            if (occursIn(out, s)) {
                out = out.replace(s, REDACTED);
            }
        }
        return out;
    }

    /** Whether {@code secret} is one that counts (at least {@link #MIN_LENGTH} long) and {@code text} holds it as it is. */
    static boolean occursIn(String text, String secret) {
        return secret != null && secret.length() >= MIN_LENGTH && text.contains(secret);
    }
}
