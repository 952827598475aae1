package io.ordersync.mapping;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Arrays;
import java.util.ConcurrentModificationException;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * The fields of one remote object, in the order they were first set (as a {@code LinkedHashMap}), over the
 * field names its mapping can write, known when the mapping file was compiled. A name is found by comparing
 * references with those names (the compiled mapping passes the same strings), then by {@code equals}: no
 * hashing and no node per field. A name outside them is added at the end, so it is a complete {@link java.util.Map}.
 * Not thread-safe; null values are kept as values, as in {@code LinkedHashMap}.
 */
public final class FieldMap extends AbstractMap<String, Object> {

    /** A null value that was put (a slot holding Java null has never been set). */
    private static final Object NULL = new Object();

    private String[] names;
    private Object[] values;
    /** The slots set, in the order they were first set. */
    private int[] order;
    private int size;
    private int modCount;

    /** A map over {@code names}, which must be distinct; the array is shared and never changed here. */
    public FieldMap(String[] names) {
        this.names = names;
        this.values = new Object[names.length];
        this.order = new int[names.length];
    }

    /** An empty map over the same names. */
    public FieldMap emptyLike() {
        return new FieldMap(names);
    }

    private int slotOf(Object key) {
        String[] n = names;
        for (int i = 0; i < n.length; i++) {
            if (n[i] == key) {
                return i;
            }
        }
        if (key instanceof String) {
            for (int i = 0; i < n.length; i++) {
                if (n[i].equals(key)) {
                    return i;
                }
            }
        }
        return -1;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public boolean containsKey(Object key) {
        int slot = slotOf(key);
        return slot >= 0 && values[slot] != null;
    }

    @Override
    public Object get(Object key) {
        int slot = slotOf(key);
        if (slot < 0) {
            return null;
        }
        Object v = values[slot];
        return v == NULL ? null : v;
    }

    @Override
    public Object put(String key, Object value) {
        if (key == null) {
            throw new NullPointerException("field name");
        }
        int slot = slotOf(key);
        if (slot < 0) {
            slot = addName(key);
        }
        return putSlot(slot, value);
    }

    /** Sets the field of slot {@code slot}: the index of its name in the names this map was made over. */
    public Object putSlot(int slot, Object value) {
        Object previous = values[slot];
        values[slot] = value == null ? NULL : value;
        if (previous == null) {
            if (size == order.length) {
                order = Arrays.copyOf(order, Math.max(4, size * 2));
            }
            order[size++] = slot;
            modCount++;
            return null;
        }
        return previous == NULL ? null : previous;
    }

    private int addName(String key) {
        int slot = names.length;
        names = Arrays.copyOf(names, slot + 1); // a copy: the compiled names stay as they are
        names[slot] = key;
        values = Arrays.copyOf(values, slot + 1);
        return slot;
    }

    @Override
    public Object remove(Object key) {
        int slot = slotOf(key);
        if (slot < 0 || values[slot] == null) {
            return null;
        }
        Object previous = values[slot];
        removeSlot(slot);
        return previous == NULL ? null : previous;
    }

    private void removeSlot(int slot) {
        values[slot] = null;
        for (int i = 0; i < size; i++) {
            if (order[i] == slot) {
                System.arraycopy(order, i + 1, order, i, size - i - 1);
                size--;
                modCount++;
                return;
            }
        }
    }

    @Override
    public void clear() {
        Arrays.fill(values, null);
        size = 0;
        modCount++;
    }

    @Override
    public void forEach(BiConsumer<? super String, ? super Object> action) {
        int expected = modCount;
        for (int i = 0; i < size; i++) {
            int slot = order[i];
            Object v = values[slot];
            action.accept(names[slot], v == NULL ? null : v);
            if (modCount != expected) {
                throw new ConcurrentModificationException();
            }
        }
    }

    @Override
    public Set<Entry<String, Object>> entrySet() {
        return new AbstractSet<>() {
            @Override
            public int size() {
                return size;
            }

            @Override
            public Iterator<Entry<String, Object>> iterator() {
                return new Iterator<>() {
                    private int next;
                    private int last = -1;
                    private int expected = modCount;

                    @Override
                    public boolean hasNext() {
                        return next < size;
                    }

                    @Override
                    public Entry<String, Object> next() {
                        if (modCount != expected) {
                            throw new ConcurrentModificationException();
                        }
                        if (next >= size) {
                            throw new NoSuchElementException();
                        }
                        last = order[next++];
                        return new Field(last);
                    }

                    @Override
                    public void remove() {
                        if (last < 0) {
                            throw new IllegalStateException();
                        }
                        if (modCount != expected) {
                            throw new ConcurrentModificationException();
                        }
                        removeSlot(last);
                        last = -1;
                        next--;
                        expected = modCount;
                    }
                };
            }
        };
    }

    /** An entry that reads and writes the map's slot. */
    private final class Field implements Entry<String, Object> {
        private final int slot;

        Field(int slot) {
            this.slot = slot;
        }

        @Override
        public String getKey() {
            return names[slot];
        }

        @Override
        public Object getValue() {
            Object v = values[slot];
            return v == NULL ? null : v;
        }

        @Override
        public Object setValue(Object value) {
            Object previous = getValue();
            values[slot] = value == null ? NULL : value;
            return previous;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Entry<?, ?> e && getKey().equals(e.getKey()) && java.util.Objects.equals(getValue(), e.getValue());
        }

        @Override
        public int hashCode() {
            return getKey().hashCode() ^ java.util.Objects.hashCode(getValue());
        }

        @Override
        public String toString() {
            return getKey() + "=" + getValue();
        }
    }
}
