package io.ordersync.mapping;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.DecimalFormat;
import java.text.DecimalFormatSymbols;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Functions in templates: {@code {email|lower|md5}}, {@code {order_total|cents}},
 * {@code {order_date|date(dd.MM.yyyy, Europe/Berlin)}}, applied left to right to the field's value. A small,
 * fixed set (MAPPINGS.md "Template functions"), checked when the file is loaded ({@link #parse} throws with a
 * message naming the function) and applied as a pure function at run time.
 */
public final class TemplateFunctions {

    /** The functions and how many arguments each takes (least, most). */
    static final Map<String, int[]> ARITY = Map.ofEntries(
            Map.entry("lower", new int[]{0, 0}), Map.entry("upper", new int[]{0, 0}), Map.entry("trim", new int[]{0, 0}),
            Map.entry("md5", new int[]{0, 0}), Map.entry("sha256", new int[]{0, 0}), Map.entry("default", new int[]{1, 1}),
            Map.entry("date", new int[]{1, 2}), Map.entry("cents", new int[]{0, 0}), Map.entry("number", new int[]{1, 1}),
            Map.entry("substring", new int[]{1, 2}));

    /**
     * One function of a pipeline with its arguments. {@code date}'s pattern and zone are compiled with it
     * ({@code formatter}, {@code zone}; null for the other functions), not for every value.
     */
    public record Call(String name, List<String> args, DateTimeFormatter formatter, ZoneId zone) {
        public Call(String name, List<String> args) {
            this(name, args, name.equals("date") ? DateTimeFormatter.ofPattern(args.get(0), Locale.ROOT) : null,
                    name.equals("date") ? (args.size() == 2 ? ZoneId.of(args.get(1)) : ZoneOffset.UTC) : null);
        }
    }

    private TemplateFunctions() {
    }

    /** The calls of a pipeline such as {@code |lower|md5} (empty text: none); an unknown function or bad argument throws. */
    public static List<Call> parse(String pipeline) {
        if (pipeline == null || pipeline.isEmpty()) {
            return List.of();
        }
        List<Call> calls = new ArrayList<>();
        for (String part : pipeline.substring(pipeline.startsWith("|") ? 1 : 0).split("\\|", -1)) {
            String p = part.trim();
            String name = p;
            List<String> args = List.of();
            int open = p.indexOf('(');
            if (open >= 0) {
                if (!p.endsWith(")")) {
                    throw new IllegalArgumentException("'" + p + "': the arguments of a function end with ')'");
                }
                name = p.substring(0, open).trim();
                args = new ArrayList<>();
                for (String a : p.substring(open + 1, p.length() - 1).split(",", -1)) {
                    args.add(a.trim());
                }
            }
            int[] arity = ARITY.get(name);
            if (arity == null) {
                throw new IllegalArgumentException("unknown template function '" + name + "'"
                        + Suggest.hint(name, ARITY.keySet().stream().sorted().toList()) + "; functions: "
                        + String.join(", ", ARITY.keySet().stream().sorted().toList()));
            }
            if (args.size() < arity[0] || args.size() > arity[1]) {
                throw new IllegalArgumentException("template function " + name + " takes " + (arity[0] == arity[1] ? arity[0]
                        : arity[0] + " or " + arity[1]) + " argument" + (arity[1] == 1 ? "" : "s") + ", got " + args.size());
            }
            check(name, args);
            calls.add(new Call(name, List.copyOf(args)));
        }
        return List.copyOf(calls);
    }

    private static void check(String name, List<String> args) {
        try {
            switch (name) {
                case "date" -> {
                    DateTimeFormatter.ofPattern(args.get(0), Locale.ROOT);
                    if (args.size() == 2) {
                        ZoneId.of(args.get(1));
                    }
                }
                case "number" -> new DecimalFormat(args.get(0), DecimalFormatSymbols.getInstance(Locale.ROOT));
                case "substring" -> {
                    for (String a : args) {
                        if (Integer.parseInt(a) < 0) {
                            throw new IllegalArgumentException("negative");
                        }
                    }
                }
                default -> { }
            }
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("template function " + name + "(" + String.join(", ", args) + "): "
                    + switch (name) {
                        case "date" -> "needs a date pattern such as yyyy-MM-dd and optionally a time zone such as Europe/Berlin";
                        case "number" -> "needs a number pattern such as 0.00";
                        default -> "needs a start and optionally an end index, 0 or more";
                    });
        }
    }

    /**
     * Applies the pipeline as written after the field name (parsed for this call: for tools and tests; templates
     * keep their parsed calls, see {@link Template}).
     */
    public static String apply(String pipeline, String value) {
        if (pipeline == null || pipeline.isEmpty()) {
            return value;
        }
        return apply(parse(pipeline), value);
    }

    /** Applies parsed calls (from {@link #parse}) to a value, left to right. */
    static String apply(List<Call> calls, String value) {
        String v = value == null ? "" : value;
        for (Call c : calls) {
            v = apply(c, v);
        }
        return v;
    }

    static String apply(Call c, String v) {
        return switch (c.name()) {
            case "lower" -> v.toLowerCase(Locale.ROOT);
            case "upper" -> v.toUpperCase(Locale.ROOT);
            case "trim" -> v.strip();
            case "md5" -> hex("MD5", v);
            case "sha256" -> hex("SHA-256", v);
            case "default" -> v.isEmpty() ? c.args().get(0) : v;
            case "date" -> date(v, c.formatter(), c.zone());
            case "cents" -> decimal(v) == null ? v : decimal(v).movePointRight(2).setScale(0, RoundingMode.HALF_UP).toPlainString();
            case "number" -> decimal(v) == null ? v
                    : new DecimalFormat(c.args().get(0), DecimalFormatSymbols.getInstance(Locale.ROOT)).format(decimal(v));
            case "substring" -> {
                int start = Math.min(Integer.parseInt(c.args().get(0)), v.length());
                int end = c.args().size() == 2 ? Math.max(start, Math.min(Integer.parseInt(c.args().get(1)), v.length())) : v.length();
                yield v.substring(start, end);
            }
            default -> throw new IllegalStateException("unknown template function " + c.name());
        };
    }

    private static BigDecimal decimal(String v) {
        try {
            return new BigDecimal(v.trim());
        } catch (NumberFormatException notANumber) {
            return null;
        }
    }

    /** An ISO date-time (converted to the zone, UTC by default) or date, formatted; anything else as it is. */
    private static String date(String v, DateTimeFormatter f, ZoneId zone) {
        if (v.isBlank()) {
            return v;
        }
        try {
            return OffsetDateTime.parse(v.trim()).atZoneSameInstant(zone).format(f);
        } catch (RuntimeException notADateTime) {
            try {
                return LocalDate.parse(v.trim()).format(f);
            } catch (RuntimeException notADate) {
                return v;
            }
        }
    }

    private static String hex(String algorithm, String v) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(v.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(algorithm + " is part of every Java runtime", e);
        }
    }
}
