package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;

/**
 * RazorAttention: retrieval heads keep everything, the other heads keep sinks and a recent window and fold what
 * they drop into one compensation token (Tang, Lin, Lin, Han, Hong, Yao, Wang: "RazorAttention: Efficient KV Cache
 * Compression Through Retrieval Heads", 2024, arXiv:2407.15891; ICLR 2025).
 *
 * <p><b>Algorithm.</b> The retrieval heads of the layer — the best-scoring {@code retrievalFraction} of all KV
 * heads of the model ({@link HeadScores#retrievalHeads(double)}) — are never touched. Every other head holding more
 * than {@code r = budget.rows(tokensSeen)} rows keeps the rows at positions {@code < sinks} (at most {@code r − 1}
 * of them, earliest first), then the most recent rows up to {@code r − 1} kept in all, and merges every other row
 * into one compensation row ({@link KvCache#keepAndMerge}): {@code r} rows in all.
 *
 * <p><b>The compensation token</b> (the paper's equations 4 and 5). The dropped rows {@code D} of a head, each with
 * multiplicity {@code m_j} (1 for an original token), become one row with
 * <pre>
 *   m̂ = Σ_{j∈D} m_j,   k̂ = Σ_{j∈D} m_j k_j / m̂,   v̂ = Σ_{j∈D} m_j v_j / m̂,
 * </pre>
 * and attention gives it the logit {@code scale · q·k̂ + log m̂}, i.e. the weight {@code m̂ · exp(scale · q·k̂)}:
 * <pre>
 *   o = (Σ_{kept} e^{s_j} v_j + m̂ e^{scale q·k̂} v̂) / (Σ_{kept} e^{s_j} + m̂ e^{scale q·k̂})
 * </pre>
 * — the dropped tokens count as {@code m̂} copies of their mean key and value. When the dropped keys are equal,
 * their total attention mass and value contribution are restored exactly; otherwise the mean key stands in for
 * their spread (by Jensen, the mass {@code m̂ e^{q·k̂}} is a lower bound of {@code Σ e^{q·k_j}}). A compensation
 * row dropped again by a later compression (decode-time) is merged with its multiplicity, so merging twice equals
 * merging once (up to the float32 rounding of the stored mean and of {@code log m}). Its position is the weighted
 * mean of the dropped positions, rounded (what relative encodings see).
 *
 * <p><b>Budget rule.</b> Non-retrieval heads hold at most {@code budget.rows(tokensSeen)} rows including the
 * compensation row; retrieval heads keep every row whatever the budget (the paper's point: they are the heads that
 * need the whole context). A head within its budget is untouched, so a budget {@code >=} the cache length changes
 * nothing.
 *
 * <p><b>Choices where the paper is open or differs.</b>
 * <ul>
 *   <li>Retrieval heads: the paper protects about 15 % of the heads, picked by echo and induction scores on
 *       repeated random tokens (RoPE models) or by the ALiBi slopes; here a {@link HeadScores} gives a score per
 *       KV head (loaded, or calibrated by the mass outside sinks + window, which stands for those scores — see
 *       {@link HeadScores}), and the top {@code ⌈0.15 · total⌉} over all layers are protected (default 0.15).
 *       Heads are KV heads: a GQA group is protected or compressed as one.</li>
 *   <li>Window length: the paper's Algorithm 1 keeps {@code L_h = max(S0, N/C)} recent tokens for a
 *       compression ratio {@code C} and a floor {@code S0}; here the window is what the budget leaves
 *       ({@code Budget.ratio(1/C)} gives {@code N/C}; the floor is the caller's: a token budget), so the policy is
 *       comparable with the others at any budget. The compensation row takes one row of the budget.</li>
 *   <li>Sinks: Algorithm 1 takes the sink count {@code N0} as a parameter; default 4 (StreamingLLM's).</li>
 *   <li>Positions stay the tokens' own (see {@link KvCache}); no observation is needed: it is ignored.</li>
 * </ul>
 *
 * <p><b>Complexity.</b> One compression O(n log n) to order a head's rows plus O(dropped · (D + Dv)) to average
 * them; memory: every row on retrieval heads, {@code budget} rows on the others.
 */
public final class Razor extends ScoringPolicy {

    /**
     * @param scores            retrieval score per KV head of every layer (null only in {@link #defaults()}: the
     *                          policy refuses to be built without scores)
     * @param layer             the layer this policy compresses (its KV heads are {@code scores}' layer {@code layer})
     * @param retrievalFraction fraction of all KV heads (over every layer) kept whole, in [0, 1]
     * @param sinks             first tokens always kept on the other heads ({@code >= 0})
     */
    public record Config(HeadScores scores, int layer, double retrievalFraction, int sinks)
            implements MechanismConfig {
        public Config {
            if (layer < 0 || (scores != null && layer >= scores.layers())) {
                throw new IllegalArgumentException("razor layer = " + layer + "; allowed: 0 to "
                        + (scores == null ? "the last layer" : String.valueOf(scores.layers() - 1))
                        + " (layers with head scores)");
            }
            if (!(retrievalFraction >= 0 && retrievalFraction <= 1)) {
                throw new IllegalArgumentException("razor retrievalFraction = " + retrievalFraction
                        + "; allowed: [0, 1]");
            }
            if (sinks < 0) {
                throw new IllegalArgumentException("razor sinks = " + sinks + "; allowed: >= 0");
            }
        }

        /** No scores (give them with {@link #withScores}), layer 0, 15 % retrieval heads, 4 sinks. */
        public static Config defaults() {
            return new Config(null, 0, 0.15, 4);
        }

        /** This configuration with {@code scores}, compressing layer {@code layer}. */
        public Config withScores(HeadScores s, int l) {
            return new Config(s, l, retrievalFraction, sinks);
        }
    }

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("razor",
            "RazorAttention (retrieval heads whole; others sinks + recent + one compensation token)",
            "Tang, Lin, Lin, Han, Hong, Yao, Wang: \"RazorAttention: Efficient KV Cache Compression Through "
                    + "Retrieval Heads\", 2024 (arXiv:2407.15891)", Weights.FREE,
            "O(n log n + dropped·(D+Dv)) per non-retrieval head",
            "n rows on retrieval heads; budget rows (one a compensation row) on the others",
            Config.class, Config.defaults(), config -> new Razor((Config) config));

    private final Config config;
    private final boolean[] retrieval;

    /** @throws IllegalArgumentException when the configuration has no head scores */
    public Razor(Config config) {
        this.config = java.util.Objects.requireNonNull(config, "config");
        if (config.scores() == null) {
            throw new IllegalArgumentException("razor needs a retrieval score per KV head (config.scores() is "
                    + "null): load them with HeadScores.read(file) / HeadScores.of(...), or calibrate them with "
                    + "HeadScores.calibrate(inputs, calibration), and pass config.withScores(scores, layer)");
        }
        this.retrieval = config.scores().retrievalHeads(config.retrievalFraction())[config.layer()];
    }

    public Config config() {
        return config;
    }

    /** Whether KV head {@code head} of this layer is a retrieval head (kept whole). */
    public boolean isRetrieval(int head) {
        return retrieval[head];
    }

    /** The retrieval flags of this layer's KV heads, a copy. */
    public boolean[] retrievalHeads() {
        return retrieval.clone();
    }

    @Override
    public String id() {
        return "razor";
    }

    /** StreamingLLM's order: sinks first (earliest first), then the most recent rows. */
    @Override
    protected void score(KvCache cache, int seq, int head, Observation observation, float[] scores) {
        StreamingLlm.sinksThenRecent(cache, seq, head, config.sinks(), scores);
    }

    /** Retrieval heads: unbounded; the others: the budget, one row of it left for the compensation row. */
    @Override
    protected int[] headBudgets(KvCache cache, int seq, Budget budget, Observation observation) {
        checkHeads("razor", cache, retrieval.length, config.layer());
        int rows = budget.rows(cache.tokensSeen(seq));
        int[] budgets = new int[cache.kvHeads()];
        for (int h = 0; h < budgets.length; h++) {
            budgets[h] = retrieval[h] ? Integer.MAX_VALUE : cache.length(seq, h) <= rows ? rows : rows - 1;
        }
        return budgets;
    }

    /** Keeps the chosen rows and folds every other one into the compensation row. */
    @Override
    protected void keep(KvCache cache, int seq, int head, int[] rows) {
        cache.keepAndMerge(seq, head, rows);
    }

    static void checkHeads(String policy, KvCache cache, int kvHeads, int layer) {
        if (cache.kvHeads() != kvHeads) {
            throw new IllegalArgumentException(policy + ": the head scores of layer " + layer + " cover " + kvHeads
                    + " KV heads; the cache has " + cache.kvHeads());
        }
    }
}
