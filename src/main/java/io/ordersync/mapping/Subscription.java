package io.ordersync.mapping;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.SourceFields;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Which order events a provider is queued for: its triggers and its provider-level filter. An instance that runs
 * the provider announces it (as JSON, in {@code provider_presence}); an instance on the same database without
 * the provider's file reads it back and queues the events it accepts for that provider as the file says, so that
 * during a rolling deploy no event is missed by the instances that have not got the file yet.
 *
 * The instance that syncs a queued order checks the provider's filter again (on the order as it is then), so what
 * is queued here decides only how much work is queued, never what is sent.
 *
 * @param evaluable false when the filter cannot be evaluated here (a source field this version does not know):
 *                  every triggered order is queued, and the filter decides when it is synced
 */
public record Subscription(String provider, Set<String> triggers, List<Provider.Condition> filter, boolean evaluable) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .setSerializationInclusion(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL);

    /** As announced: triggers, and the filter's conditions as written in the file. */
    private record Wire(List<String> triggers, List<ProviderConfig.Condition> filter) {
    }

    /** The longest announcement: the column holds a million characters on H2. */
    public static final int MAX_CHARS = 900_000;

    /**
     * The provider's subscription as JSON, for the other instances; null when it is not to be announced: longer
     * than {@link #MAX_CHARS}, or holding one of the provider's credentials (pasted as a filter value), which
     * stay out of the database.
     */
    public static String announce(Provider p) {
        String json = json(p);
        if (json.length() > MAX_CHARS) {
            return null;
        }
        for (String secret : p.secretValues()) {
            for (Provider.Condition c : p.filter()) {
                if (mentions(c.equalTo(), secret) || mentions(c.in(), secret) || mentions(c.notIn(), secret)) {
                    return null;
                }
            }
        }
        return json;
    }

    /** Whether a filter value (or one of a list) contains the secret, as the value is, not as JSON escapes it. */
    private static boolean mentions(Object value, String secret) {
        if (value instanceof Collection<?> list) {
            for (Object v : list) {
                if (mentions(v, secret)) {
                    return true;
                }
            }
            return false;
        }
        return value != null && String.valueOf(value).contains(secret);
    }

    private static String json(Provider p) {
        List<ProviderConfig.Condition> filter = new ArrayList<>();
        for (Provider.Condition c : p.filter()) {
            filter.add(new ProviderConfig.Condition(c.field(), c.equalTo(), c.in(), c.notIn(), c.empty()));
        }
        try {
            return JSON.writeValueAsString(new Wire(new ArrayList<>(p.triggers()), filter));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the subscription of " + p.identifier(), e);
        }
    }

    /**
     * Reads an announced subscription; null when the text is not one, or names no trigger. What this version does not
     * know is ignored (an instance of a later version may announce more); an announcement without a filter is one
     * without conditions (the filter is checked again when the order is synced).
     */
    public static Subscription read(String provider, String json) {
        if (json == null) {
            return null;
        }
        Wire w;
        try {
            w = JSON.readValue(json, Wire.class);
        } catch (JsonProcessingException e) {
            return null;
        }
        if (w == null || w.triggers() == null) {
            return null;
        }
        Subscription sub = of(provider, w.triggers(), w.filter());
        return sub.triggers().isEmpty() ? null : sub;
    }

    /** A subscription from a file's triggers and filter as written; not evaluable if a condition is not one here. */
    public static Subscription of(String provider, Collection<String> triggers, List<ProviderConfig.Condition> filter) {
        List<Provider.Condition> conditions = new ArrayList<>();
        boolean evaluable = true;
        for (ProviderConfig.Condition c : filter == null ? List.<ProviderConfig.Condition>of() : filter) {
            int tests = c == null ? 0 : (c.equalTo() != null ? 1 : 0) + (c.in() != null ? 1 : 0) + (c.notIn() != null ? 1 : 0)
                    + (c.empty() != null ? 1 : 0);
            if (tests != 1 || c.field() == null || SourceFields.inputOf(c.field()) == null) {
                evaluable = false;
                continue;
            }
            conditions.add(new Provider.Condition(c.field(), c.equalTo(), c.in(), c.notIn(), c.empty()));
        }
        Set<String> types = new LinkedHashSet<>();
        for (String t : triggers == null ? List.<String>of() : triggers) {
            if (t != null && !t.isBlank()) {
                types.add(t);
            }
        }
        return new Subscription(provider, Set.copyOf(types), List.copyOf(conditions), evaluable);
    }

    /** The first of {@code types} this subscription queues the order for, or null. */
    public String triggeredBy(OrderDocument doc, Collection<String> types) {
        for (String type : types) {
            if (triggers.contains(type)) {
                return !evaluable || Filters.orderMatches(filter, doc) ? type : null;
            }
        }
        return null;
    }
}
