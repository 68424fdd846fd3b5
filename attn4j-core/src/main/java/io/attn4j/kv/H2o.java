package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;

/**
 * Heavy hitters plus recent tokens: H2O (Zhang, Sheng, Zhou, Chen, Zheng, Cai, Song, Tian, Ré, Barrett, Wang,
 * Chen: "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models", NeurIPS 2023,
 * arXiv:2306.14048).
 *
 * <p><b>Algorithm.</b> A row's score is the attention it has received, summed over every query so far (prompt and
 * decode steps; per KV head, a GQA group's query heads averaged). Each head keeps its most recent rows and, in the
 * rest of the budget, the rows of highest score — the "heavy hitters"; the rest is evicted. The sum, where it is
 * kept, how each query is counted exactly once however often the cache is compressed, and the selection are
 * {@link AccumulatedAttention}'s (this is its decay-1 case; {@link A2sf} is the same with a forgetting factor).
 *
 * <p><b>Choices.</b>
 * <ul>
 *   <li>Budget split: half recent, half heavy hitters ({@code recentFraction = 0.5}), the paper's setting (its
 *       evaluation scripts keep 10% heavy hitters + 10% recent tokens: {@code --heavy_ratio 0.1
 *       --recent_ratio 0.1}). Recent rows are {@code ⌊0.5 · B + ½⌋}, so an odd budget gives the recent side the
 *       extra row (the newest tokens are the ones accumulation underrates: few queries have seen them yet).</li>
 *   <li>No attention sinks by default ({@code sinks = 0}; the paper has none — heavy hitters tend to include the
 *       first tokens anyway); {@code sinks > 0} forces the first tokens as StreamingLLM does.</li>
 *   <li>Prefill: the prompt's attention is summed once over the whole prompt and the cache compressed once, as in
 *       the authors' "real drop" implementation (their simulation code instead masks token by token
 *       through the prompt). Decode: the sum grows every step; eviction happens when the session compresses (every
 *       {@code compressEvery} steps; the paper evicts one token per step, which {@code compressEvery = 1} gives).</li>
 *   <li>Scores are sums over the rows held when each query ran (evicted rows take no more attention), in float32
 *       in the cache; kept rows keep their original positions.</li>
 * </ul>
 *
 * <p><b>Complexity.</b> Prefill O(n² · G · D) per KV head to observe the prompt's attention; decode adds nothing
 * to the kernel but the tally update; compression O(n log n) per head. Memory: {@code B} rows per head plus one
 * float per row.
 */
public final class H2o extends AccumulatedAttention {

    /**
     * @param recentFraction the share of the budget kept for the most recent rows, in [0, 1]
     * @param sinks          the first tokens always kept ({@code >= 0})
     */
    public record Config(double recentFraction, int sinks) implements MechanismConfig {
        public Config {
            checkShared(recentFraction, sinks);
        }

        public static Config defaults() {
            return new Config(0.5, 0);
        }
    }

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("h2o",
            "H2O (heavy hitters by accumulated attention + recent window)",
            "Zhang, Sheng, Zhou, Chen, Zheng, Cai, Song, Tian, Re, Barrett, Wang, Chen: \"H2O: Heavy-Hitter Oracle for "
                    + "Efficient Generative Inference of Large Language Models\", NeurIPS 2023 (arXiv:2306.14048)",
            Weights.FREE, "prefill O(n^2 G D) per KV head (observed attention, once); compression O(n log n) per head",
            "budget rows per head + one float tally per row", Config.class, Config.defaults(),
            config -> new H2o((Config) config));

    private final Config config;

    public H2o(Config config) {
        super(1, config.recentFraction(), config.sinks());
        this.config = config;
    }

    public Config config() {
        return config;
    }

    @Override
    public String id() {
        return "h2o";
    }

    @Override
    public H2o keepSinks(int sinks) {
        return new H2o(new Config(config.recentFraction(), sinks));
    }
}
