package io.ordersync.pretix;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Which pretix webhook action becomes which trigger type ({@code ordersync.pretix.actions}): a comma-separated
 * list of {@code action=type}; an action ending in {@code .*} matches every action that starts with what comes
 * before it. The first match wins. A pure function, checked at start.
 */
public final class PretixActions {

    /** pretix's order and check-in actions, as pretix's webhook form lists them, to ordersync's trigger types. */
    public static final String DEFAULT = String.join(",",
            "pretix.event.order.placed=order.placed",
            "pretix.event.order.placed.require_approval=order.placed",
            "pretix.event.order.paid=order.paid",
            "pretix.event.order.canceled=order.canceled",
            "pretix.event.order.reactivated=order.changed",
            "pretix.event.order.expired=order.expired",
            "pretix.event.order.expirychanged=order.changed",
            "pretix.event.order.modified=order.changed",
            "pretix.event.order.contact.changed=order.changed",
            "pretix.event.order.changed.*=order.changed",
            "pretix.event.order.refund.*=order.changed",
            "pretix.event.order.approved=order.changed",
            "pretix.event.order.denied=order.canceled",
            "pretix.event.order.deleted=order.canceled",
            "pretix.event.checkin=order.checkin",
            "pretix.event.checkin.reverted=order.checkin");

    private record Rule(String action, boolean prefix, String type) {
        boolean matches(String a) {
            return prefix ? a.startsWith(action) : a.equals(action);
        }
    }

    private final List<Rule> rules;

    private PretixActions(List<Rule> rules) {
        this.rules = List.copyOf(rules);
    }

    private static final PretixActions DEFAULTS = parse(DEFAULT);

    /** The rules of {@link #DEFAULT}: what ordersync.pretix.actions is when it is not set. */
    public static PretixActions defaults() {
        return DEFAULTS;
    }

    /** Reads the setting; an entry without {@code =}, or with an empty side, is an error naming it. */
    public static PretixActions parse(String text) {
        List<Rule> rules = new ArrayList<>();
        for (String entry : text.split(",")) {
            String e = entry.trim();
            if (e.isEmpty()) {
                continue;
            }
            int eq = e.indexOf('=');
            if (eq <= 0 || eq == e.length() - 1) {
                throw new IllegalArgumentException("ordersync.pretix.actions: '" + e + "' is not action=type");
            }
            String action = e.substring(0, eq).trim();
            String type = e.substring(eq + 1).trim();
            boolean prefix = action.endsWith(".*");
            rules.add(new Rule(prefix ? action.substring(0, action.length() - 1) : action, prefix, type));
        }
        return new PretixActions(rules);
    }

    /** The types the rules produce, in the rules' order. */
    public java.util.Set<String> types() {
        java.util.Set<String> out = new java.util.LinkedHashSet<>();
        rules.forEach(r -> out.add(r.type()));
        return out;
    }

    /** The trigger type of a pretix action, or empty when no rule names it. */
    public Optional<String> typeOf(String action) {
        if (action == null) {
            return Optional.empty();
        }
        for (Rule r : rules) {
            if (r.matches(action)) {
                return Optional.of(r.type());
            }
        }
        return Optional.empty();
    }
}
