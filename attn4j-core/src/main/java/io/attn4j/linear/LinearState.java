package io.attn4j.linear;

import java.util.Arrays;

/**
 * The recurrent state of a linear or recurrent mechanism: one fixed-size block of float32 values per (sequence,
 * KV head). What the block holds is the mechanism's to say (its Javadoc gives the layout); for the gated linear
 * recurrence it is the matrix {@code S} ({@code Dk × Dv}, row-major by key feature) followed, when the mechanism
 * normalises, by the vector {@code z} ({@code Dk}).
 *
 * <p>Sequences are the batch rows, or with packed documents {@code batch · documents} entries ordered batch-major:
 * sequence {@code b · documents + d}. A state is passed in to continue sequences and handed back filled in; the
 * caller owns it and nothing else keeps a reference.
 */
public final class LinearState {
    private final int sequences;
    private final int heads;
    private final int size;
    private final float[] data;

    private LinearState(int sequences, int heads, int size, float[] data) {
        this.sequences = sequences;
        this.heads = heads;
        this.size = size;
        this.data = data;
    }

    /** A zero state: {@code sequences × heads} blocks of {@code size} floats. */
    public static LinearState zeros(int sequences, int heads, int size) {
        if (sequences < 1 || heads < 1 || size < 1) {
            throw new IllegalArgumentException("state shape [" + sequences + ", " + heads + ", " + size
                    + "]; allowed: every size >= 1");
        }
        long n = (long) sequences * heads * size;
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("state of " + n + " floats; at most " + (Integer.MAX_VALUE - 8)
                    + " fit in one array");
        }
        return new LinearState(sequences, heads, size, new float[(int) n]);
    }

    /** Wraps {@code data} (no copy) as a state of the given shape. */
    public static LinearState of(float[] data, int sequences, int heads, int size) {
        if (sequences < 1 || heads < 1 || size < 1 || (long) sequences * heads * size != data.length) {
            throw new IllegalArgumentException("state shape [" + sequences + ", " + heads + ", " + size + "] needs "
                    + (long) sequences * heads * size + " floats but data has " + data.length);
        }
        return new LinearState(sequences, heads, size, data);
    }

    public int sequences() {
        return sequences;
    }

    public int heads() {
        return heads;
    }

    /** Floats per (sequence, head). */
    public int size() {
        return size;
    }

    /** The backing array; block (sequence, head) starts at {@link #offset}. */
    public float[] data() {
        return data;
    }

    /** Where the block of (sequence, head) starts in {@link #data()}. */
    public int offset(int sequence, int head) {
        return (sequence * heads + head) * size;
    }

    /** Bytes held: what a decoder keeps per layer instead of a KV cache. */
    public long bytes() {
        return (long) data.length * Float.BYTES;
    }

    public LinearState copy() {
        return new LinearState(sequences, heads, size, data.clone());
    }

    /**
     * Checks that this state fits a call.
     *
     * @throws IllegalArgumentException naming the expected shape
     */
    public void requireShape(String name, int expectedSequences, int expectedHeads, int expectedSize) {
        if (sequences != expectedSequences || heads != expectedHeads || size != expectedSize) {
            throw new IllegalArgumentException(name + " has shape " + this + "; allowed: [" + expectedSequences
                    + " sequences, " + expectedHeads + " state heads, " + expectedSize + " floats per head] for this call");
        }
    }

    /**
     * Checks that every value is finite.
     *
     * @throws IllegalArgumentException naming the first non-finite value's place
     */
    public void requireFinite(String name) {
        for (int i = 0; i < data.length; i++) {
            if (!Float.isFinite(data[i])) {
                int block = i / size;
                throw new IllegalArgumentException(name + " holds " + data[i] + " at [sequence=" + block / heads
                        + ", head=" + block % heads + ", index=" + i % size + "]; allowed: finite values");
            }
        }
    }

    /** The largest absolute difference to {@code other} (tests, diagnostics). */
    public double maxAbsDiff(LinearState other) {
        other.requireShape("other", sequences, heads, size);
        double max = 0;
        for (int i = 0; i < data.length; i++) {
            max = Math.max(max, Math.abs((double) data[i] - other.data[i]));
        }
        return max;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LinearState s && s.sequences == sequences && s.heads == heads && s.size == size
                && Arrays.equals(s.data, data);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "[" + sequences + " sequences, " + heads + " heads, " + size + " floats]";
    }
}
