package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;

/**
 * Attention sinks plus a recent window: StreamingLLM (Xiao, Tian, Chen, Han, Lewis: "Efficient Streaming Language
 * Models with Attention Sinks", ICLR 2024, arXiv:2309.17453).
 *
 * <p><b>Algorithm.</b> Keep the first {@code sinks} tokens of the sequence (the attention sinks that absorb the
 * softmax's spare mass) and the most recent ones, {@code budget − sinks} of them; drop the middle.
 *
 * <p><b>Choices.</b> 4 sinks (the paper's count). The window is whatever the budget leaves, so the policy is comparable
 * at any budget; a budget below the sink count keeps the first {@code budget} sinks. Positions are the tokens' original
 * ones: with relative encodings the decode kernel sees true distances (the paper instead re-assigns positions inside
 * the cache — a choice for models that extrapolate poorly, available through the score mod). No scoring input is
 * needed: the observation is ignored.
 *
 * <p><b>Complexity.</b> O(n) per head per compression; {@code budget} rows per head.
 */
public final class StreamingLlm extends ScoringPolicy {

    /** @param sinks the first tokens always kept ({@code >= 0}) */
    public record Config(int sinks) implements MechanismConfig {
        public Config {
            if (sinks < 0) {
                throw new IllegalArgumentException("sinks = " + sinks + "; allowed: >= 0");
            }
        }

        public static Config defaults() {
            return new Config(4);
        }
    }

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("streaming",
            "StreamingLLM (attention sinks + recent window)",
            "Xiao, Tian, Chen, Han, Lewis: \"Efficient Streaming Language Models with Attention Sinks\", ICLR 2024 "
                    + "(arXiv:2309.17453)", Weights.FREE, "O(n) per head", "budget rows per head",
            Config.class, Config.defaults(), config -> new StreamingLlm((Config) config));

    private final Config config;

    public StreamingLlm(Config config) {
        this.config = config;
    }

    public Config config() {
        return config;
    }

    @Override
    public String id() {
        return "streaming";
    }

    @Override
    protected void score(KvCache cache, int seq, int head, Observation observation, float[] scores) {
        sinksThenRecent(cache, seq, head, config.sinks(), scores);
    }

    /**
     * Scores in StreamingLLM's order, for every policy that keeps sinks and a recent window: rows at positions
     * {@code < sinks} by how early they are (first sink highest), every other row by its position (recent highest).
     */
    static void sinksThenRecent(KvCache cache, int seq, int head, int sinks, float[] scores) {
        int n = cache.length(seq, head);
        for (int r = 0; r < n; r++) {
            int p = cache.position(seq, head, r);
            scores[r] = p < sinks ? Float.MAX_VALUE / (p + 1) : p;
        }
    }
}
