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

    /**
     * The work a {@link #forward} call on these operands does, counted as this mechanism computes it
     * ({@link Work}): exact attention counts the mask's area (this default); sparse mechanisms count the pairs they
     * keep and their selection apart; linear forms state their own formula. Benchmarks divide it by a measured time;
     * nothing is computed beyond what counting needs (a sparse mechanism runs its selection).
     *
     * @throws IllegalArgumentException  for operands that are not rank-4 tensors
     * @throws UnsupportedInputException for a pattern this mechanism does not declare
     */
    default Work work(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        Work.Shape s = Work.Shape.of(q, k, v, spec);
        descriptor().requirePattern(Pattern.of(s.queryLength(), s.keyLength(), spec.isCausal()));
        return Work.dense(s, spec);
    }
}
