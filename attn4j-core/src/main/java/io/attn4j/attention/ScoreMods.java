package io.attn4j.attention;

import io.attn4j.simd.VectorOps;

import java.util.Arrays;
import java.util.Objects;

/** The standard {@link ScoreMod}s, each with a SIMD tile implementation and a float64 form for the reference. */
public final class ScoreMods {
    private ScoreMods() {
    }

    /**
     * ALiBi (Press et al., "Train Short, Test Long: Attention with Linear Biases Enables Input Length
     * Extrapolation"): {@code s − m_h · |p − k|} with the paper's geometric slopes {@link #alibiSlopes(int)}. On a
     * causal mask this is the paper's bias {@code m_h · (k − p)}; without one it is the symmetric form bidirectional
     * ALiBi encoders use.
     */
    public static ScoreMod alibi(int heads) {
        return new Alibi(alibiSlopes(heads), 0);
    }

    /** ALiBi with explicit per-head slopes (finite, {@code >= 0}). */
    public static ScoreMod alibi(float[] slopes) {
        Objects.requireNonNull(slopes, "slopes");
        if (slopes.length == 0) {
            throw new IllegalArgumentException("slopes is empty; allowed: one slope per query head");
        }
        for (int h = 0; h < slopes.length; h++) {
            if (!Float.isFinite(slopes[h]) || slopes[h] < 0) {
                throw new IllegalArgumentException("slopes[" + h + "] = " + slopes[h] + "; allowed: finite and >= 0");
            }
        }
        return new Alibi(slopes.clone(), 0);
    }

    /**
     * The ALiBi slopes for {@code heads} heads: {@code 2^(−8(h+1)/n)} for a power of two {@code n}; otherwise the
     * slopes of the nearest lower power of two followed by every other slope of twice that count, as in the paper.
     */
    public static float[] alibiSlopes(int heads) {
        if (heads < 1) {
            throw new IllegalArgumentException("heads = " + heads + "; allowed: >= 1");
        }
        int power = Integer.highestOneBit(heads);
        float[] slopes = new float[heads];
        for (int h = 0; h < power; h++) {
            slopes[h] = (float) Math.pow(2, -8.0 * (h + 1) / power);
        }
        for (int h = power; h < heads; h++) {
            // slopes for 2·power heads, odd positions (1, 3, 5, ...) in 1-based terms: indices 0, 2, 4, ...
            int index = 2 * (h - power);
            slopes[h] = (float) Math.pow(2, -8.0 * (index + 1) / (2 * power));
        }
        return slopes;
    }

    /** Logit soft-capping (Gemma 2, Grok): {@code cap · tanh(s / cap)}, {@code cap} finite and {@code > 0}. */
    public static ScoreMod softcap(float cap) {
        if (!(cap > 0) || !Float.isFinite(cap)) {
            throw new IllegalArgumentException("softcap cap = " + cap + "; allowed: finite and > 0");
        }
        return new Softcap(cap);
    }

    /** Softmax temperature: {@code s / t}, {@code t} finite and {@code > 0}. */
    public static ScoreMod temperature(float t) {
        if (!(t > 0) || !Float.isFinite(t)) {
            throw new IllegalArgumentException("temperature = " + t + "; allowed: finite and > 0");
        }
        return new Temperature(t);
    }

    static ScoreMod chain(ScoreMod first, ScoreMod second) {
        return new Chain(Objects.requireNonNull(first, "first"), Objects.requireNonNull(second, "next"));
    }

    /** An element-wise {@link VectorOps} operation with one parameter. */
    private enum Run {
        SOFTCAP, SCALE
    }

    /**
     * Applies {@code run} to every contiguous run of a tile (along whichever axis has stride 1); false when neither
     * has, and the caller falls back to element-wise application. No lambda: this runs once per tile.
     */
    private static boolean alongRuns(Run run, float parameter, float[] s, int offset, int queryStride, int keyStride,
                                     int queries, int keys, VectorOps ops) {
        if (keyStride != 1 && queryStride != 1) {
            return false;
        }
        int runs = keyStride == 1 ? queries : keys;
        int length = keyStride == 1 ? keys : queries;
        int step = keyStride == 1 ? queryStride : keyStride;
        for (int r = 0; r < runs; r++) {
            switch (run) {
                case SOFTCAP -> ops.softcap(s, offset + r * step, length, parameter);
                case SCALE -> ops.scale(s, offset + r * step, length, parameter);
            }
        }
        return true;
    }

    private record Alibi(float[] slopes, int offset) implements ScoreMod {
        @Override
        public float apply(float score, int batch, int head, int query, int key) {
            return score - slopes[head] * Math.abs(query + offset - key);
        }

        @Override
        public double applyExact(double score, int batch, int head, int query, int key) {
            return score - (double) slopes[head] * Math.abs(query + offset - key);
        }

        @Override
        public void applyTile(float[] s, int offset, int queryStride, int keyStride, int batch, int head,
                              int q0, int queries, int k0, int keys, VectorOps ops) {
            float slope = slopes[head];
            int position = q0 + this.offset; // position of query q0
            if (keyStride == 1) {
                // row i: keys k0 + j' against position + i, distance |(k0 − position − i) + j'|
                for (int i = 0; i < queries; i++) {
                    ops.subtractDistance(s, offset + i * queryStride, keys, k0 - (position + i), slope);
                }
            } else if (queryStride == 1) {
                // row j: queries position + i' against key k0 + j, distance |(position − k0 − j) + i'|
                for (int j = 0; j < keys; j++) {
                    ops.subtractDistance(s, offset + j * keyStride, queries, position - (k0 + j), slope);
                }
            } else {
                ScoreMod.super.applyTile(s, offset, queryStride, keyStride, batch, head, q0, queries, k0, keys, ops);
            }
        }

        @Override
        public ScoreMod bind(int batch, int heads, int queryLength, int keyLength) {
            if (heads != slopes.length) {
                throw new IllegalArgumentException("alibi has " + slopes.length + " slopes but the query has " + heads
                        + " heads; allowed: one slope per query head");
            }
            return new Alibi(slopes, keyLength - queryLength);
        }

        @Override
        public String toString() {
            return "alibi(" + slopes.length + " heads)";
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Alibi a && a.offset == offset && Arrays.equals(a.slopes, slopes);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(slopes) * 31 + offset;
        }
    }

    private record Softcap(float cap) implements ScoreMod {
        @Override
        public float apply(float score, int batch, int head, int query, int key) {
            return cap * (float) Math.tanh(score / cap);
        }

        @Override
        public double applyExact(double score, int batch, int head, int query, int key) {
            return cap * Math.tanh(score / cap);
        }

        @Override
        public void applyTile(float[] s, int offset, int queryStride, int keyStride, int batch, int head,
                              int q0, int queries, int k0, int keys, VectorOps ops) {
            if (!alongRuns(Run.SOFTCAP, cap, s, offset, queryStride, keyStride, queries, keys, ops)) {
                ScoreMod.super.applyTile(s, offset, queryStride, keyStride, batch, head, q0, queries, k0, keys, ops);
            }
        }
    }

    private record Temperature(float t) implements ScoreMod {
        @Override
        public float apply(float score, int batch, int head, int query, int key) {
            return score / t;
        }

        @Override
        public double applyExact(double score, int batch, int head, int query, int key) {
            return score / t;
        }

        @Override
        public void applyTile(float[] s, int offset, int queryStride, int keyStride, int batch, int head,
                              int q0, int queries, int k0, int keys, VectorOps ops) {
            if (!alongRuns(Run.SCALE, 1f / t, s, offset, queryStride, keyStride, queries, keys, ops)) {
                ScoreMod.super.applyTile(s, offset, queryStride, keyStride, batch, head, q0, queries, k0, keys, ops);
            }
        }
    }

    private record Chain(ScoreMod first, ScoreMod second) implements ScoreMod {
        @Override
        public float apply(float score, int batch, int head, int query, int key) {
            return second.apply(first.apply(score, batch, head, query, key), batch, head, query, key);
        }

        @Override
        public double applyExact(double score, int batch, int head, int query, int key) {
            return second.applyExact(first.applyExact(score, batch, head, query, key), batch, head, query, key);
        }

        @Override
        public void applyTile(float[] s, int offset, int queryStride, int keyStride, int batch, int head,
                              int q0, int queries, int k0, int keys, VectorOps ops) {
            first.applyTile(s, offset, queryStride, keyStride, batch, head, q0, queries, k0, keys, ops);
            second.applyTile(s, offset, queryStride, keyStride, batch, head, q0, queries, k0, keys, ops);
        }

        @Override
        public ScoreMod bind(int batch, int heads, int queryLength, int keyLength) {
            return new Chain(first.bind(batch, heads, queryLength, keyLength),
                    second.bind(batch, heads, queryLength, keyLength));
        }
    }
}
