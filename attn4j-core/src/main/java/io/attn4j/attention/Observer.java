package io.attn4j.attention;

/**
 * A statistic of the attention weights computed inside the kernel, without materialising the n × n matrix.
 * Request with {@link AttentionSpec#observe}; read from {@link AttentionResult}. Weights are the softmax
 * probabilities {@code p_ij} after score mods and masks.
 */
public sealed interface Observer permits Observer.ColumnMass, Observer.Entropy, Observer.TopK {

    /**
     * Per-key attention mass {@code Σ_i p_ij} over the queries of each (batch, query head): what H2O-style policies
     * accumulate. Costs a second sweep over QKᵀ that uses the final log-sum-exp of each query; O(Lk) extra memory.
     */
    record ColumnMass() implements Observer {
    }

    /**
     * Per-query entropy {@code −Σ_j p_ij ln p_ij} in nats, 0 for a query that sees no key. Computed online from
     * {@code H = lse − Σ_j p_ij s_ij}: one extra accumulator per query.
     */
    record Entropy() implements Observer {
    }

    /**
     * The {@code k} keys of largest weight for each query, with their weights, in descending order of weight (ties:
     * lower key first). Queries that see fewer than {@code k} keys are padded with index −1 and weight 0.
     */
    record TopK(int k) implements Observer {
        public TopK {
            if (k < 1 || k > 4096) {
                throw new IllegalArgumentException("topK k = " + k + "; allowed: 1 to 4096");
            }
        }
    }
}
