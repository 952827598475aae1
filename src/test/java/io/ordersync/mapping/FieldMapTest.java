package io.ordersync.mapping;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.ConcurrentModificationException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** FieldMap behaves as a LinkedHashMap: the same operations give the same entries in the same order. */
class FieldMapTest {

    private static final String[] NAMES = {"email", "name", "status", "total", "tags"};

    @Test
    void randomOperationsMatchALinkedHashMap() throws Exception {
        Random random = new Random(42);
        // names as the compiled mapping has them, equal copies (a caller's own strings) and names outside them
        List<String> keys = new ArrayList<>(List.of(NAMES));
        for (String n : NAMES) {
            keys.add(new String(n));
        }
        keys.addAll(List.of("other", "extra"));
        ObjectMapper json = new ObjectMapper();
        for (int round = 0; round < 2000; round++) {
            FieldMap map = new FieldMap(NAMES);
            Map<String, Object> expected = new LinkedHashMap<>();
            for (int op = 0; op < 12; op++) {
                String k = keys.get(random.nextInt(keys.size()));
                Object v = random.nextInt(4) == 0 ? null : "v" + random.nextInt(3);
                switch (random.nextInt(6)) {
                    case 0, 1, 2 -> assertThat(map.put(k, v)).isEqualTo(expected.put(k, v));
                    case 3 -> assertThat(map.remove(k)).isEqualTo(expected.remove(k));
                    case 4 -> {
                        Iterator<Map.Entry<String, Object>> it = map.entrySet().iterator();
                        Iterator<Map.Entry<String, Object>> itExpected = expected.entrySet().iterator();
                        while (it.hasNext()) {
                            Map.Entry<String, Object> e = it.next();
                            itExpected.next();
                            if (e.getKey().equals(k)) {
                                it.remove();
                                itExpected.remove();
                            }
                        }
                    }
                    default -> assertThat(map.get(k)).isEqualTo(expected.get(k));
                }
                assertThat(map.containsKey(k)).isEqualTo(expected.containsKey(k));
                assertThat(map.size()).isEqualTo(expected.size());
                assertThat(new ArrayList<>(map.entrySet())).isEqualTo(new ArrayList<>(expected.entrySet()));
                assertThat(map).isEqualTo(expected);
                assertThat(map.hashCode()).isEqualTo(expected.hashCode());
            }
            assertThat(json.writeValueAsString(map)).isEqualTo(json.writeValueAsString(expected));
            List<String> seen = new ArrayList<>();
            map.forEach((k, v) -> seen.add(k + "=" + v));
            assertThat(seen).isEqualTo(expected.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
        }
        assertThat(NAMES).containsExactly("email", "name", "status", "total", "tags"); // the shared names unchanged
    }

    @Test
    void anEntrysValueCanBeSetAndANullNameIsRefused() {
        FieldMap map = new FieldMap(NAMES);
        map.put("total", "1");
        map.entrySet().iterator().next().setValue(null);
        assertThat(map).containsEntry("total", null).hasSize(1);
        assertThatThrownBy(() -> map.put(null, "x")).isInstanceOf(NullPointerException.class);
    }

    @Test
    void changingTheMapWhileIteratingIsDetected() {
        FieldMap map = new FieldMap(NAMES);
        map.put("email", "a");
        map.put("name", "b");
        assertThatThrownBy(() -> map.forEach((k, v) -> map.put("status", "c")))
                .isInstanceOf(ConcurrentModificationException.class);
        Iterator<Map.Entry<String, Object>> it = map.entrySet().iterator();
        it.next();
        map.remove("name");
        assertThatThrownBy(it::next).isInstanceOf(ConcurrentModificationException.class);
    }
}
