package io.ordersync.mapping;

import com.fasterxml.jackson.databind.JsonNode;
import io.ordersync.order.OrderDocument;

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
            if (c.positionField()) {
                boolean any = false;
                for (JsonNode p : doc.positions()) {
                    if (holds(c, c.extractor().apply(doc, p))) {
                        any = true;
                        break;
                    }
                }
                if (!any) {
                    return false;
                }
            } else if (!holds(c, c.extractor().apply(doc, null))) {
                return false;
            }
        }
        return true;
    }

    /** Object filters: the conditions against one position (or the order, for Order mappings). */
    public static boolean matches(List<Provider.Condition> conditions, OrderDocument doc, JsonNode position) {
        for (int i = 0; i < conditions.size(); i++) {
            Provider.Condition c = conditions.get(i);
            if (!holds(c, c.extractor().apply(doc, position))) {
                return false;
            }
        }
        return true;
    }

    /** Whether {@code value} passes the condition: the options compare as text (compiled with the condition). */
    static boolean holds(Provider.Condition c, Object value) {
        if (c.empty() != null) {
            return c.empty() == MappingEngine.isEmpty(value);
        }
        String[] options = c.optionTexts();
        if (options == null) {
            return true;
        }
        boolean found = false;
        for (String option : options) {
            if (contains(value, option)) {
                found = true;
                break;
            }
        }
        return c.notIn() != null && c.equalTo() == null && c.in() == null ? !found : found;
    }

    /** Equal as text; a list value (choice answers) contains the option. */
    private static boolean contains(Object value, String option) {
        if (value instanceof String s) {
            return s.equals(option); // the usual case, and a test against a final class (see MappingEngine.isEmpty)
        }
        if (value instanceof Collection<?> list) {
            for (Object v : list) {
                if (String.valueOf(v).equals(option)) {
                    return true;
                }
            }
            return false;
        }
        return value != null && String.valueOf(value).equals(option);
    }
}
