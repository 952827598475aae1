package io.ordersync.mapping;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** pretix's assign_properties semantics, mode by mode: new or existing object, empty or filled values. */
class PropertyModesTest {

    private static final Object ABSENT = new Object();

    static Stream<Arguments> cases() {
        return Stream.of(
                // mode, is new, old remote value, new value, expected sent value (ABSENT: field not sent)
                Arguments.of(Mode.OVERWRITE, true, ABSENT, "a", "a"),
                Arguments.of(Mode.OVERWRITE, false, "x", "a", "a"),
                Arguments.of(Mode.OVERWRITE, false, "x", "", ""),
                Arguments.of(Mode.OVERWRITE, false, "x", null, null),
                Arguments.of(Mode.IF_NEW, true, ABSENT, "a", "a"),
                Arguments.of(Mode.IF_NEW, false, ABSENT, "a", ABSENT),
                Arguments.of(Mode.IF_NEW, false, "x", "a", ABSENT),
                Arguments.of(Mode.IF_NEW, true, ABSENT, "", ABSENT),
                Arguments.of(Mode.IF_EMPTY, true, ABSENT, "a", "a"),
                Arguments.of(Mode.IF_EMPTY, false, "", "a", "a"),
                Arguments.of(Mode.IF_EMPTY, false, null, "a", "a"),
                Arguments.of(Mode.IF_EMPTY, false, "x", "a", ABSENT),
                Arguments.of(Mode.IF_EMPTY, false, "", "", ABSENT),
                Arguments.of(Mode.APPEND, true, ABSENT, "a", "a"),
                Arguments.of(Mode.APPEND, false, "x;y", "a", "x;y;a"),
                Arguments.of(Mode.APPEND, false, "x;a", "a", "x;a"),
                // one value is one item: the separator is stripped from it (pretix's _add_to_list)
                Arguments.of(Mode.APPEND, false, "x", "a;b", "x;ab"),
                // a list value (choice answers) appends each of its entries
                Arguments.of(Mode.APPEND, false, "x", List.of("a", "b"), "x;a;b"),
                Arguments.of(Mode.APPEND, false, "x;a", List.of("a", "b;c"), "x;a;bc"),
                Arguments.of(Mode.APPEND, false, "x", "", ABSENT),
                Arguments.of(Mode.APPEND, false, List.of("x"), "a", List.of("x", "a")),
                Arguments.of(Mode.APPEND, false, List.of("x", "a"), "a", List.of("x", "a")),
                Arguments.of(Mode.APPEND, false, List.of(), List.of("a", "b"), List.of("a", "b")),
                Arguments.of(Mode.APPEND, false, List.of("x"), List.of(), ABSENT));
    }

    @ParameterizedTest(name = "{0} new={1} old={2} value={3} -> {4}")
    @MethodSource("cases")
    void modes(Mode mode, boolean isNew, Object old, Object value, Object expected) {
        Map<String, Object> oldValues = new HashMap<>();
        if (old != ABSENT) {
            oldValues.put("f", old);
        }
        Map<String, Object> out = MappingEngine.assign(List.of(new MappingEngine.NewValue("f", value, mode)),
                oldValues, isNew, ";");
        if (expected == ABSENT) {
            assertThat(out).doesNotContainKey("f");
        } else {
            assertThat(out).containsEntry("f", expected);
        }
    }

    /**
     * Every mode × new/existing object × remote field absent/empty/filled × empty/filled value, for a provider
     * with separator lists and one with native lists. '~' means the field is not sent; [a,b] is a JSON list.
     */
    @ParameterizedTest(name = "{0} new={1} old={2} value={3}")
    @CsvSource(delimiter = '|', textBlock = """
            # mode    | new   | old   | v  | separator | native
            overwrite | true  | -     | '' | ''    | ''
            overwrite | true  | -     | a  | a     | a
            overwrite | false | -     | '' | ''    | ''
            overwrite | false | -     | a  | a     | a
            overwrite | false | empty | '' | ''    | ''
            overwrite | false | empty | a  | a     | a
            overwrite | false | x     | '' | ''    | ''
            overwrite | false | x     | a  | a     | a
            if_new    | true  | -     | '' | ~     | ~
            if_new    | true  | -     | a  | a     | a
            if_new    | false | -     | '' | ~     | ~
            if_new    | false | -     | a  | ~     | ~
            if_new    | false | empty | '' | ~     | ~
            if_new    | false | empty | a  | ~     | ~
            if_new    | false | x     | '' | ~     | ~
            if_new    | false | x     | a  | ~     | ~
            if_empty  | true  | -     | '' | ~     | ~
            if_empty  | true  | -     | a  | a     | a
            if_empty  | false | -     | '' | ~     | ~
            if_empty  | false | -     | a  | a     | a
            if_empty  | false | empty | '' | ~     | ~
            if_empty  | false | empty | a  | a     | a
            if_empty  | false | x     | '' | ~     | ~
            if_empty  | false | x     | a  | ~     | ~
            append    | true  | -     | '' | ~     | ~
            append    | true  | -     | a  | a     | [a]
            append    | false | -     | '' | ~     | ~
            append    | false | -     | a  | a     | [a]
            append    | false | empty | '' | ~     | ~
            append    | false | empty | a  | a     | [a]
            append    | false | x     | '' | ~     | ~
            append    | false | x     | a  | x;a   | [x,a]
            """)
    void modeMatrix(String mode, boolean isNew, String old, String value, String sepExpected, String nativeExpected) {
        for (boolean nativeLists : new boolean[]{false, true}) {
            Map<String, Object> oldValues = new HashMap<>();
            if (!old.equals("-")) {
                oldValues.put("f", old.equals("empty") ? (nativeLists ? List.of() : "") : (nativeLists ? List.of("x") : "x"));
            }
            Map<String, Object> out = MappingEngine.assign(
                    List.of(new MappingEngine.NewValue("f", value, Mode.parse(mode))), oldValues, isNew, ";", nativeLists);
            String expected = nativeLists ? nativeExpected : sepExpected;
            if (expected.equals("~")) {
                assertThat(out).as("native=" + nativeLists).doesNotContainKey("f");
            } else if (expected.startsWith("[")) {
                assertThat(out).containsEntry("f", List.of(expected.substring(1, expected.length() - 1).split(",")));
            } else {
                assertThat(out).as("native=" + nativeLists).containsEntry("f", expected);
            }
        }
    }

    @Test
    void appendStripsTheSeparatorFromTheNewItem() {
        Map<String, Object> out = MappingEngine.assign(List.of(new MappingEngine.NewValue("tags", "a;", Mode.APPEND)),
                Map.of("tags", "x"), false, ";");
        assertThat(out).containsEntry("tags", "x;a");
    }

    @Test
    void aPropertysListSettingOverridesTheProviders() {
        // list: true appends to a JSON list although the provider joins lists, and the reverse
        Map<String, Object> asList = MappingEngine.assign(List.of(new MappingEngine.NewValue("links", "l1", Mode.APPEND, true)),
                Map.of(), true, ";", false);
        assertThat(asList).containsEntry("links", List.of("l1"));
        Map<String, Object> joined = MappingEngine.assign(List.of(new MappingEngine.NewValue("tags", List.of("a", "b"), Mode.APPEND, false)),
                Map.of(), true, ";", true);
        assertThat(joined).containsEntry("tags", "a;b");
    }

    @Test
    void theFirstApplicableEntryWinsForIfEmptyAndIfNew() {
        List<MappingEngine.NewValue> values = List.of(
                new MappingEngine.NewValue("name", "", Mode.IF_EMPTY),
                new MappingEngine.NewValue("name", "first", Mode.IF_EMPTY),
                new MappingEngine.NewValue("name", "second", Mode.IF_EMPTY),
                new MappingEngine.NewValue("src", "one", Mode.IF_NEW),
                new MappingEngine.NewValue("src", "two", Mode.IF_NEW));
        Map<String, Object> out = MappingEngine.assign(values, Map.of("name", ""), true, ",");
        assertThat(out).containsEntry("name", "first").containsEntry("src", "one");
    }

    @Test
    void severalAppendsToOneFieldAccumulate() {
        List<MappingEngine.NewValue> values = List.of(
                new MappingEngine.NewValue("tags", "a", Mode.APPEND),
                new MappingEngine.NewValue("tags", "b", Mode.APPEND));
        assertThat(MappingEngine.assign(values, Map.of("tags", "x"), false, ",")).containsEntry("tags", "x,a,b");
    }

    @Test
    void appendWithNativeListsStartsAListOnAnEmptyField() {
        Map<String, Object> out = MappingEngine.assign(List.of(new MappingEngine.NewValue("tags", "a", Mode.APPEND)),
                Map.of(), true, ",", true);
        assertThat(out).containsEntry("tags", List.of("a"));
    }

    @Test
    void changesLeaveOutWhatTheTargetAlreadyHolds() {
        Map<String, Object> desired = new HashMap<>(Map.of("a", "1", "b", "2.00", "c", List.of("x")));
        desired.put("d", null);
        Map<String, Object> old = Map.of("a", "1", "b", 2.00, "c", List.of("x", "y"));
        assertThat(MappingEngine.changes(desired, old)).containsOnlyKeys("b", "c");
    }
}
