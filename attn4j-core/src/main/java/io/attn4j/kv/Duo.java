package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;

import java.util.Objects;

/**
 * DuoAttention: retrieval heads keep the full cache, streaming heads keep attention sinks and a recent window
 * (Xiao, Tang, Zuo, Guo, Yang, Tang, Fu, Han: "DuoAttention: Efficient Long-Context LLM Inference with Retrieval and
 * Streaming Heads", 2024, arXiv:2410.10819; ICLR 2025).
 *
 * <p><b>Algorithm.</b> Each KV head of the layer is a retrieval head or a streaming head, fixed once from head
 * scores of a calibration run ({@link HeadScores}): the best-scoring {@code 1 − sparsity} of all KV heads of the
 * model ({@code ⌈(1 − sparsity) · total⌉}, one ranking over every layer, as the paper's quantile over all gate
 * values) are retrieval heads and are never touched. A streaming head holding more than
 * {@code r = budget.rows(tokensSeen)} rows keeps its first {@code min(sinks, r)} rows at positions {@code < sinks},
 * then the most recent rows, {@code r} in all — StreamingLLM at the same budget ({@link StreamingLlm}), per head.
 *
 * <p><b>Budget rule.</b> Streaming heads hold at most {@code budget.rows(tokensSeen)} rows (the budget is their
 * window); retrieval heads keep every row whatever the budget. A head within its budget is untouched, so a budget
 * {@code >=} the cache length changes nothing. The paper's constant streaming cache of {@code sinks + recent}
 * tokens is the budget {@link Config#paperBudget()}: 64 + 256 = {@code Budget.tokens(320)} at the defaults.
 *
 * <p><b>Choices and the paper's numbers.</b>
 * <ul>
 *   <li>Head scores: the paper optimises a gate {@code α ∈ [0, 1]} per KV head on synthetic multi-passkey data to
 *       minimise the deviation of the last hidden states between full attention and the mix
 *       {@code α · full + (1 − α) · streaming}, with an L1 penalty on {@code α}. Released gate files
 *       ({@code full_attention_heads.tsv}) load with {@link HeadScores#read}; without a trained gate,
 *       {@link HeadScores#calibrate} gives the training-free proxy documented there (the mass a head's attention
 *       puts outside sinks + recent, i.e. how far its streaming attention is from its full attention).</li>
 *   <li>Sparsity 0.5 (half the heads stream): the repository's needle-in-a-haystack script for
 *       Llama-3-8B-Instruct-Gradient-1048k (a GQA model); the same script uses 0.75 for Llama-2-7B-32K (MHA).</li>
 *   <li>Sinks and window: the repository's defaults ({@code duo_attn/utils.py}: {@code --sink_size 64
 *       --recent_size 256}) are the defaults here (sinks 64, {@link #PAPER_RECENT} 256); its released attention
 *       patterns (Llama-2-7B-32K, Llama-3-8B-1048k, Llama-3.1-8B, Mistral-7B v0.2) were trained with 128 sinks and
 *       256 recent tokens, and kvpress's {@code DuoAttentionPress} deploys them with those numbers: use
 *       {@code sinks = 128} with those files.</li>
 *   <li>Heads are KV heads: a GQA group streams or retrieves as one (the paper's rule for GQA models).</li>
 *   <li>A budget below {@code sinks} keeps the first {@code budget} sinks. No observation is needed: it is
 *       ignored. Positions stay the tokens' own.</li>
 * </ul>
 *
 * <p><b>Complexity.</b> One compression O(n log n) per streaming head; memory: every row on retrieval heads,
 * {@code budget} rows on streaming heads.
 */
public final class Duo extends ScoringPolicy {

    /** The paper's (and repository's) recent window of a streaming head. */
    public static final int PAPER_RECENT = 256;

    /**
     * @param scores   retrieval score per KV head of every layer (null only in {@link #defaults()}: the policy
     *                 refuses to be built without scores)
     * @param layer    the layer this policy compresses
     * @param sparsity fraction of all KV heads that stream, in [0, 1] (the rest are retrieval heads)
     * @param sinks    first tokens always kept on streaming heads ({@code >= 0})
     */
    public record Config(HeadScores scores, int layer, double sparsity, int sinks) implements MechanismConfig {
        public Config {
            if (layer < 0 || (scores != null && layer >= scores.layers())) {
                throw new IllegalArgumentException("duo layer = " + layer + "; allowed: 0 to "
                        + (scores == null ? "the last layer" : String.valueOf(scores.layers() - 1))
                        + " (layers with head scores)");
            }
            if (!(sparsity >= 0 && sparsity <= 1)) {
                throw new IllegalArgumentException("duo sparsity = " + sparsity + "; allowed: [0, 1]");
            }
            if (sinks < 0) {
                throw new IllegalArgumentException("duo sinks = " + sinks + "; allowed: >= 0");
            }
        }

        /** No scores (give them with {@link #withScores}), layer 0, sparsity 0.5, 64 sinks. */
        public static Config defaults() {
            return new Config(null, 0, 0.5, 64);
        }

        /** This configuration with {@code scores}, compressing layer {@code layer}. */
        public Config withScores(HeadScores s, int l) {
            return new Config(s, l, sparsity, sinks);
        }

        /** The paper's streaming cache as a budget: {@code sinks + 256} tokens. */
        public Budget paperBudget() {
            return Budget.tokens(sinks + PAPER_RECENT);
        }
    }

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("duo",
            "DuoAttention (retrieval heads full; streaming heads sinks + recent)",
            "Xiao, Tang, Zuo, Guo, Yang, Tang, Fu, Han: \"DuoAttention: Efficient Long-Context LLM Inference with "
                    + "Retrieval and Streaming Heads\", 2024 (arXiv:2410.10819)", Weights.FREE,
            "O(n log n) per streaming head", "n rows on retrieval heads; budget rows on streaming heads",
            Config.class, Config.defaults(), config -> new Duo((Config) config));

    private final Config config;
    private final boolean[] retrieval;

    /** @throws IllegalArgumentException when the configuration has no head scores */
    public Duo(Config config) {
        this.config = Objects.requireNonNull(config, "config");
        if (config.scores() == null) {
            throw new IllegalArgumentException("duo needs a retrieval score per KV head (config.scores() is null): "
                    + "load DuoAttention gate values with HeadScores.read(full_attention_heads.tsv) / "
                    + "HeadScores.of(...), or calibrate them with HeadScores.calibrate(inputs, calibration), and "
                    + "pass config.withScores(scores, layer)");
        }
        this.retrieval = config.scores().retrievalHeads(1 - config.sparsity())[config.layer()];
    }

    public Config config() {
        return config;
    }

    /** Whether KV head {@code head} of this layer is a retrieval head (full cache). */
    public boolean isRetrieval(int head) {
        return retrieval[head];
    }

    /** The retrieval flags of this layer's KV heads, a copy. */
    public boolean[] retrievalHeads() {
        return retrieval.clone();
    }

    @Override
    public String id() {
        return "duo";
    }

    /** StreamingLLM's order: sinks first (earliest first), then the most recent rows. */
    @Override
    protected void score(KvCache cache, int seq, int head, Observation observation, float[] scores) {
        StreamingLlm.sinksThenRecent(cache, seq, head, config.sinks(), scores);
    }

    /** Retrieval heads: unbounded; streaming heads: the budget. */
    @Override
    protected int[] headBudgets(KvCache cache, int seq, Budget budget, Observation observation) {
        Razor.checkHeads("duo", cache, retrieval.length, config.layer());
        int rows = budget.rows(cache.tokensSeen(seq));
        int[] budgets = new int[cache.kvHeads()];
        for (int h = 0; h < budgets.length; h++) {
            budgets[h] = retrieval[h] ? Integer.MAX_VALUE : rows;
        }
        return budgets;
    }
}
