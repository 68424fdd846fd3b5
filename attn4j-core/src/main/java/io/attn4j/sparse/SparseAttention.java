package io.attn4j.sparse;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Work;
import io.attn4j.tensor.Tensor;

/**
 * A mechanism that attends to a subset of the keys (and may estimate the rest). Besides its output it can say which
 * keys it kept on an input, so its attention-mass recall and row KL can be measured against the exact weights.
 */
public interface SparseAttention extends AttentionMechanism {

    /**
     * The keys this mechanism keeps for {@code q}, {@code k}, {@code v} and {@code spec}: the same selection
     * {@link #forward} makes (selections are deterministic), computed without the attention itself.
     */
    KeptKeys keptKeys(Tensor q, Tensor k, Tensor v, AttentionSpec spec);

    /**
     * Exact attention on the kept pairs ({@link Work#ofKept}); mechanisms that spend work choosing them add it as
     * the selection.
     */
    @Override
    default Work work(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        return Work.ofKept(Work.Shape.of(q, k, v, spec), keptKeys(q, k, v, spec)::kept);
    }
}
