package io.ordersync.mapping;

import com.fasterxml.jackson.databind.JsonNode;
import io.ordersync.order.OrderDocument;
import io.ordersync.order.SourceFields;

import java.util.Collection;
import java.util.List;

/** Evaluates filter conditions: every condition must hold. */
public final class Filters {

    private Filters() {
    }

    /**
     * Provider filters: conditions on order fields test the order; a condition on a position field holds
     * when at least one position satisfies it (e.g. "the order contains product 1345").
     */
    public static boolean orderMatches(List<Provider.Condition> conditions, OrderDocument doc) {
        for (Provider.Condition c : conditions) {
            if (SourceFields.inputOf(c.field()) == SourceFields.Input.POSITION) {
                boolean any = false;
                for (JsonNode p : doc.positions()) {
                    if (holds(c, SourceFields.value(c.field(), doc, p))) {
                        any = true;
                        break;
                    }
                }
                if (!any) {
                    return false;
                }
            } else if (!holds(c, SourceFields.value(c.field(), doc, null))) {
                return false;
            }
        }
        return true;
    }

    /** Object filters: the conditions against one position (or the order, for Order mappings). */
    public static boolean matches(List<Provider.Condition> conditions, OrderDocument doc, JsonNode position) {
        for (Provider.Condition c : conditions) {
            if (!holds(c, SourceFields.value(c.field(), doc, position))) {
                return false;
            }
        }
        return true;
    }

    static boolean holds(Provider.Condition c, Object value) {
        if (c.empty() != null) {
            return c.empty() == MappingEngine.isEmpty(value);
        }
        if (c.equalTo() != null) {
            return contains(value, c.equalTo());
        }
        if (c.in() != null) {
            return c.in().stream().anyMatch(o -> contains(value, o));
        }
        if (c.notIn() != null) {
            return c.notIn().stream().noneMatch(o -> contains(value, o));
        }
        return true;
    }

    /** Equal as text; a list value (choice answers) contains the option. */
    private static boolean contains(Object value, Object option) {
        if (value instanceof Collection<?> list) {
            return list.stream().anyMatch(v -> String.valueOf(v).equals(String.valueOf(option)));
        }
        return value != null && String.valueOf(value).equals(String.valueOf(option));
    }
}
