package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;

/**
 * Accumulated attention with a forgetting factor: A2SF (Jo, Shin: "A2SF: Accumulative Attention Scoring with
 * Forgetting Factor for Token Pruning in Transformer Decoder", 2024, arXiv:2407.20485).
 *
 * <p><b>Algorithm.</b> H2O's accumulated attention is unfair in a decoder: causal masking lets early tokens collect
 * attention from more queries than late ones. A2SF multiplies the sum by a forgetting factor {@code α} at every
 * query, so after query {@code t} row {@code k} scores {@code A_k = Σ_{q ≤ t} α^(t−q) · S_{q,k}} (per KV head, a GQA
 * group's query heads averaged): old attention fades, recent attention counts fully. The decode kernel applies the
 * factor per step; at prefill the prompt's queries are weighted {@code α^(n−1−i)}. Each head keeps its recent rows
 * and the highest scores — {@link AccumulatedAttention} (shared with {@link H2o}, which is {@code α = 1}).
 *
 * <p><b>Choices.</b>
 * <ul>
 *   <li>{@code α = 0.9} by default. The paper tunes α per model and task (its point is that a good α depends on
 *       both) and the authors' code takes it as a parameter; 0.9 is a middle value: its effective memory,
 *       {@code 1/(1−α)} = 10 queries, is well short of typical prompts (so the factor matters) without shrinking
 *       the score to the last couple of queries (which would make it a recent window). α must be in (0, 1];
 *       {@code α = 1} is exactly H2O.</li>
 *   <li>Budget split: half recent, half selected ({@code recentFraction = 0.5}), as the authors' code does for
 *       H2O and A2SF alike (a configurable local ratio); no sinks by default.</li>
 *   <li>The factor is per query, not per token position: at prefill, per prompt query; at decode, per step (one
 *       query per sequence). The tally is float32, so with small α the scores of rows nobody attended for a
 *       long time underflow to 0 (they are then tied and the later rows win).</li>
 * </ul>
 *
 * <p><b>Complexity.</b> As {@link H2o}: prefill O(n² · G · D) per KV head once, compression O(n log n) per head;
 * {@code B} rows per head plus one float per row.
 */
public final class A2sf extends AccumulatedAttention {

    /**
     * @param forgettingFactor α, the decay per query, in (0, 1]
     * @param recentFraction   the share of the budget kept for the most recent rows, in [0, 1]
     * @param sinks            the first tokens always kept ({@code >= 0})
     */
    public record Config(double forgettingFactor, double recentFraction, int sinks) implements MechanismConfig {
        public Config {
            if (!(forgettingFactor > 0 && forgettingFactor <= 1)) {
                throw new IllegalArgumentException("forgettingFactor = " + forgettingFactor
                        + "; allowed: (0, 1] (1 is H2O)");
            }
            checkShared(recentFraction, sinks);
        }

        public static Config defaults() {
            return new Config(0.9, 0.5, 0);
        }
    }

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("a2sf",
            "A2SF (accumulated attention with a forgetting factor + recent window)",
            "Jo, Shin: \"A2SF: Accumulative Attention Scoring with Forgetting Factor for Token Pruning in Transformer "
                    + "Decoder\", 2024 (arXiv:2407.20485)",
            Weights.FREE, "prefill O(n^2 G D) per KV head (observed attention, once); compression O(n log n) per head",
            "budget rows per head + one float tally per row", Config.class, Config.defaults(),
            config -> new A2sf((Config) config));

    private final Config config;

    public A2sf(Config config) {
        super(config.forgettingFactor(), config.recentFraction(), config.sinks());
        this.config = config;
    }

    public Config config() {
        return config;
    }

    @Override
    public String id() {
        return "a2sf";
    }

    @Override
    public A2sf keepSinks(int sinks) {
        return new A2sf(new Config(config.forgettingFactor(), config.recentFraction(), sinks));
    }
}
