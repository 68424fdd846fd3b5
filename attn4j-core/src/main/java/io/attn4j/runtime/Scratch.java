package io.attn4j.runtime;

import java.util.Arrays;

/**
 * Per-thread scratch buffers, reused across calls so kernels allocate nothing in steady state.
 *
 * <p>A kernel asks for a buffer by slot number and minimum size; the buffer keeps its contents from earlier calls,
 * so a kernel must write every element it reads. With {@code -Dattn4j.poisonScratch=true} (set by the test build)
 * every buffer handed out is first filled with NaN (floats) or {@link #POISON_INT} (ints), so a read of stale
 * scratch shows up as a wrong answer instead of passing by luck on zero-filled memory.
 *
 * <p>Slots are owned by the kernel running on the thread; kernels do not nest on one thread.
 */
public final class Scratch {
    /** The int a poisoned int buffer is filled with. */
    public static final int POISON_INT = 0xDEADBEEF;
    private static final boolean POISON = Boolean.getBoolean("attn4j.poisonScratch");
    private static final int SLOTS = 16;
    private static final ThreadLocal<Scratch> LOCAL = ThreadLocal.withInitial(Scratch::new);

    private final float[][] floats = new float[SLOTS][];
    private final int[][] ints = new int[SLOTS][];

    private Scratch() {
    }

    /** The calling thread's scratch. */
    public static Scratch get() {
        return LOCAL.get();
    }

    /** True when buffers are poisoned before being handed out (tests). */
    public static boolean poisoned() {
        return POISON;
    }

    /** A float buffer of at least {@code size} elements for {@code slot}. */
    public float[] floats(int slot, int size) {
        float[] buffer = floats[slot];
        if (buffer == null || buffer.length < size) {
            buffer = new float[Math.max(size, buffer == null ? 0 : buffer.length + buffer.length / 2)];
            floats[slot] = buffer;
        }
        if (POISON) {
            Arrays.fill(buffer, 0, size, Float.NaN);
        }
        return buffer;
    }

    /** An int buffer of at least {@code size} elements for {@code slot}. */
    public int[] ints(int slot, int size) {
        int[] buffer = ints[slot];
        if (buffer == null || buffer.length < size) {
            buffer = new int[Math.max(size, buffer == null ? 0 : buffer.length + buffer.length / 2)];
            ints[slot] = buffer;
        }
        if (POISON) {
            Arrays.fill(buffer, 0, size, POISON_INT);
        }
        return buffer;
    }
}
