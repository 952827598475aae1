package io.ordersync.admin;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The client a request comes from, for the login throttle and the log: the peer's address, or, when the peer is one
 * of the trusted reverse proxies ({@code ordersync.admin.trusted-proxies}), the rightmost address of
 * {@code X-Forwarded-For} that is not a trusted proxy itself (what a client writes into the header left of that is not
 * believed). Addresses are literals only: nothing here asks DNS.
 */
public final class ClientAddress {

    /** At most this many entries of X-Forwarded-For are read, from the right. */
    static final int MAX_HOPS = 20;
    private static final Pattern IPV4 = Pattern.compile("(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}");
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]{2,45}");

    private record Range(byte[] network, int prefix) {
        boolean contains(byte[] address) {
            if (address.length != network.length) {
                return false;
            }
            int full = prefix / 8;
            for (int i = 0; i < full; i++) {
                if (address[i] != network[i]) {
                    return false;
                }
            }
            int rest = prefix % 8;
            return rest == 0 || ((address[full] ^ network[full]) & (0xFF << (8 - rest)) & 0xFF) == 0;
        }
    }

    private final List<Range> trusted;

    /** {@code trusted}: addresses or CIDR ranges ("10.0.0.5", "10.0.0.0/8", "fd00::/8"); an invalid one is refused. */
    public ClientAddress(List<String> trusted) {
        List<Range> ranges = new ArrayList<>();
        for (String t : trusted) {
            String s = t.strip();
            if (s.isEmpty()) {
                continue;
            }
            int slash = s.indexOf('/');
            byte[] network = literal(slash < 0 ? s : s.substring(0, slash));
            if (network == null) {
                throw new IllegalArgumentException("ordersync.admin.trusted-proxies: '" + AdminAuth.printable(s)
                        + "' is not an IP address or CIDR range (no host names)");
            }
            int prefix = network.length * 8;
            if (slash >= 0) {
                try {
                    prefix = Integer.parseInt(s.substring(slash + 1));
                } catch (NumberFormatException e) {
                    prefix = -1;
                }
                if (prefix < 0 || prefix > network.length * 8) {
                    throw new IllegalArgumentException("ordersync.admin.trusted-proxies: '" + AdminAuth.printable(s)
                            + "' has a prefix length outside 0–" + network.length * 8);
                }
            }
            ranges.add(new Range(network, prefix));
        }
        this.trusted = List.copyOf(ranges);
    }

    /** Whether any proxy is trusted (else X-Forwarded-For is never read). */
    public boolean trustsProxies() {
        return !trusted.isEmpty();
    }

    /**
     * The client: {@code peer} (the connection's address) unless it is a trusted proxy; then the rightmost entry of the
     * X-Forwarded-For values (in the order the headers came) that is not a trusted proxy, the leftmost if all are. An
     * entry that is not an address literal stops the walk: the hop right of it (a trusted proxy) is the client.
     */
    public String of(String peer, List<String> forwardedFor) {
        if (trusted.isEmpty() || peer == null || !isTrusted(literal(peer)) || forwardedFor == null || forwardedFor.isEmpty()) {
            return peer;
        }
        List<String> hops = new ArrayList<>();
        for (String header : forwardedFor) {
            if (header != null) {
                for (String h : header.split(",", -1)) {
                    hops.add(h.strip());
                }
            }
        }
        String client = peer;
        for (int i = hops.size() - 1, seen = 0; i >= 0 && seen < MAX_HOPS; i--, seen++) {
            String hop = hops.get(i);
            byte[] address = literal(hop);
            if (address == null) {
                return client;
            }
            client = hop;
            if (!isTrusted(address)) {
                return client;
            }
        }
        return client;
    }

    private boolean isTrusted(byte[] address) {
        if (address == null) {
            return false;
        }
        for (Range r : trusted) {
            if (r.contains(address)) {
                return true;
            }
        }
        return false;
    }

    /** The bytes of an IPv4 or IPv6 literal, or null (never a DNS lookup: anything else is refused first). */
    static byte[] literal(String s) {
        if (s == null || s.isEmpty() || s.length() > 45) {
            return null;
        }
        String v = s.startsWith("[") && s.endsWith("]") ? s.substring(1, s.length() - 1) : s;
        if (!IPV4.matcher(v).matches() && !(v.indexOf(':') >= 0 && IPV6.matcher(v).matches())) {
            return null;
        }
        try {
            return InetAddress.getByName(v).getAddress();
        } catch (UnknownHostException e) {
            return null;
        }
    }
}
