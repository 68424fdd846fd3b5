package io.attn4j.attention;

import io.attn4j.catalog.Mechanism;
import io.attn4j.tensor.Tensor;

/**
 * An attention mechanism: exact or approximate, created from the {@link io.attn4j.catalog.Catalog}. Instances are
 * immutable and safe to call from many threads at once.
 */
public interface AttentionMechanism {

    /** The catalog entry of this mechanism. */
    Mechanism descriptor();

    /**
     * Attention of {@code q} over {@code k}, {@code v} as {@code spec} says, written into {@code out} (or a new
     * tensor when {@code out} is {@code null}).
     *
     * @throws UnsupportedInputException if the mechanism does not support the call's pattern or options
     * @throws IllegalArgumentException  for invalid inputs, before anything is written
     */
    AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out);

    /** {@link #forward(Tensor, Tensor, Tensor, AttentionSpec, Tensor)} into a new output tensor. */
    default AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        return forward(q, k, v, spec, null);
    }
}
