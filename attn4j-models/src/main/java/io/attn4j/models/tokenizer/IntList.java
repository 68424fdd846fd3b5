package io.attn4j.models.tokenizer;

import java.util.Arrays;

/** A growable list of ints, so token ids are not boxed. */
final class IntList {
    private int[] values = new int[64];
    private int size;

    void add(int v) {
        if (size == values.length) {
            values = Arrays.copyOf(values, values.length * 2);
        }
        values[size++] = v;
    }

    int size() {
        return size;
    }

    int get(int i) {
        return values[i];
    }

    void truncate(int newSize) {
        size = newSize;
    }

    int[] toArray() {
        return Arrays.copyOf(values, size);
    }
}
