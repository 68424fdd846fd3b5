package io.attn4j.linear;

import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.runtime.Engine;

/**
 * Feature maps over whole operands: every row {@code (b, t, h)} of a {@code [B, L, H, D]} view goes through a
 * {@link RowMap} into a new contiguous {@code [B, L, H, F]} array, in parallel over rows. The mapped operands feed
 * {@link GatedLinearRecurrence}.
 */
public final class Features {
    private static final int ROWS_PER_TASK = 256;

    private Features() {
    }

    /** One row's feature map: reads {@code in[inOffset, inOffset + D)}, writes {@code out[outOffset, outOffset + F)}. */
    @FunctionalInterface
    public interface RowMap {
        void apply(float[] in, int inOffset, float[] out, int outOffset, int head);
    }

    /** The view of a contiguous {@code [B, L, H, F]} array. */
    public static HeadView contiguous(float[] data, int length, int heads, int features) {
        return new HeadView(data, 0, length * heads * features, heads * features, features);
    }

    /** Every row of {@code in} ({@code [batch, length, heads, ·]}) mapped to {@code features} values. */
    public static HeadView map(Engine engine, HeadView in, int batch, int length, int heads, int features,
                               RowMap map) {
        long n = (long) batch * length * heads * features;
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("mapped features of " + n + " floats (" + batch + " × " + length + " × "
                    + heads + " × " + features + "); at most " + (Integer.MAX_VALUE - 8) + " fit in one array");
        }
        float[] out = new float[(int) n];
        int rows = batch * length;
        int tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        engine.parallelFor(tasks, task -> {
            for (int r = task * ROWS_PER_TASK; r < Math.min(rows, (task + 1) * ROWS_PER_TASK); r++) {
                int b = r / length, t = r % length;
                for (int h = 0; h < heads; h++) {
                    map.apply(in.data(), in.at(b, t, h), out, (r * heads + h) * features, h);
                }
            }
        });
        return contiguous(out, length, heads, features);
    }
}
