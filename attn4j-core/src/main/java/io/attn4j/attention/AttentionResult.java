package io.attn4j.attention;

import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;

/**
 * The output of an attention call and whatever else the {@link AttentionSpec} asked for. Accessors for things not
 * requested throw {@link IllegalStateException} saying how to request them.
 */
public final class AttentionResult {
    private final Tensor output;
    private final Layout layout;
    private final Tensor lse;
    private final Tensor columnMass;
    private final Tensor entropy;
    private final TopKeys topKeys;

    /**
     * @param output     {@code [batch, Lq, heads, Dv]} in {@code layout}
     * @param lse        {@code [batch, heads, Lq]}, or {@code null}
     * @param columnMass {@code [batch, heads, Lk]}, or {@code null}
     * @param entropy    {@code [batch, heads, Lq]}, or {@code null}
     * @param topKeys    or {@code null}
     */
    public AttentionResult(Tensor output, Layout layout, Tensor lse, Tensor columnMass, Tensor entropy,
                           TopKeys topKeys) {
        this.output = output;
        this.layout = layout;
        this.lse = lse;
        this.columnMass = columnMass;
        this.entropy = entropy;
        this.topKeys = topKeys;
    }

    /** The attention output, {@code [batch, Lq, heads, Dv]} in the spec's layout. */
    public Tensor output() {
        return output;
    }

    public Layout layout() {
        return layout;
    }

    public boolean hasLse() {
        return lse != null;
    }

    /** The log-sum-exp of each query's logits, {@code [batch, heads, Lq]}; −∞ for a query that sees no key. */
    public Tensor lse() {
        return require(lse, "lse", "AttentionSpec.returnLse()");
    }

    /** Output and log-sum-exp as a mergeable {@link PartialState}. */
    public PartialState partialState() {
        return new PartialState(output, lse(), layout);
    }

    /** Per-key attention mass {@code Σ_i p_ij}, {@code [batch, heads, Lk]}. */
    public Tensor columnMass() {
        return require(columnMass, "column mass", "AttentionSpec.observe(Observers.columnMass())");
    }

    /** Per-query entropy in nats, {@code [batch, heads, Lq]}. */
    public Tensor entropy() {
        return require(entropy, "entropy", "AttentionSpec.observe(Observers.entropy())");
    }

    /** The most attended keys of each query. */
    public TopKeys topKeys() {
        return require(topKeys, "top keys", "AttentionSpec.observe(Observers.topK(k))");
    }

    private static <T> T require(T value, String what, String how) {
        if (value == null) {
            throw new IllegalStateException(what + " was not requested; request it with " + how);
        }
        return value;
    }
}
