package io.attn4j.sparse;

import io.attn4j.attention.BlockMask;
import io.attn4j.attention.MaskMod;

/**
 * The keys a sparse mechanism attended to on one input, for fidelity: attention-mass recall is the share of the
 * exact softmax mass that falls on them (BENCHMARKS.md), and when the mechanism's weights are exactly the softmax
 * restricted to them, its row KL divergence from the exact weights is {@code −log recall}.
 */
public interface KeptKeys {

    /** Whether query {@code query} of (batch {@code batch}, query head {@code head}) attended to key {@code key}. */
    boolean kept(int batch, int head, int query, int key);

    /**
     * Whether the mechanism's weights on the kept keys are the exact softmax renormalised over them (true of every
     * mechanism that runs exact attention on a selection); false when it also estimates the rest (HyperAttention's
     * sampled keys).
     */
    default boolean exactOnKept() {
        return true;
    }

    /** The keys of a block mask: every key of its full tiles, and the keys its element mask shows in partial ones. */
    static KeptKeys of(BlockMask blocks) {
        MaskMod mask = blocks.mask();
        int bq = blocks.blockQ(), bk = blocks.blockK();
        return (b, h, q, k) -> {
            int kind = blocks.tileKind(blocks.row(b, h, q / bq), k / bk);
            return kind == 2 || (kind == 1 && (mask == null || mask.test(b, h, q, k)));
        };
    }
}
