package io.attn4j.attention;

import io.attn4j.simd.VectorOps;

/**
 * A transform of attention logits, fused into the kernels: FlexAttention's {@code score_mod}. It receives the
 * scaled logit {@code s = scale · q·k} of query {@code query} and key {@code key} (in batch {@code batch}, query head
 * {@code head}) and returns the logit the softmax sees. Positions follow the bottom-right alignment of
 * {@link MaskMod}, fixed by {@link #bind}.
 *
 * <p>Kernels call {@link #applyTile} on a whole tile of logits; the default implementation calls {@link #apply} per
 * element, and the built-in mods of {@link ScoreMods} override it with SIMD loops. The reference kernel calls
 * {@link #applyExact} in float64.
 */
@FunctionalInterface
public interface ScoreMod {

    /** The transformed logit. */
    float apply(float score, int batch, int head, int query, int key);

    /** The transformed logit in float64, for the reference kernel; by default {@link #apply} in float32. */
    default double applyExact(double score, int batch, int head, int query, int key) {
        return apply((float) score, batch, head, query, key);
    }

    /**
     * Applies this mod in place to a tile of logits: element (query {@code q0 + i}, key {@code k0 + j}) is at
     * {@code s[offset + i·queryStride + j·keyStride]} for {@code i < queries, j < keys}.
     */
    default void applyTile(float[] s, int offset, int queryStride, int keyStride, int batch, int head,
                           int q0, int queries, int k0, int keys, VectorOps ops) {
        for (int i = 0; i < queries; i++) {
            for (int j = 0; j < keys; j++) {
                int at = offset + i * queryStride + j * keyStride;
                s[at] = apply(s[at], batch, head, q0 + i, k0 + j);
            }
        }
    }

    /**
     * This mod fixed for a call of the given shape: position alignment ({@code Lk − Lq}) and a check that the mod
     * fits the head count. Mods that need neither return themselves.
     *
     * @throws IllegalArgumentException if the mod cannot serve this shape (for example ALiBi slopes for another
     *                                  head count)
     */
    default ScoreMod bind(int batch, int heads, int queryLength, int keyLength) {
        return this;
    }

    /** This mod, then {@code next}. */
    default ScoreMod andThen(ScoreMod next) {
        return ScoreMods.chain(this, next);
    }
}
