package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;

import java.util.Arrays;
import java.util.Objects;

/**
 * Task-KV (He, Liu, Chen: "Task-KV: Task-aware KV Cache Optimization via Semantic Differentiation of Attention
 * Heads", 2025, arXiv:2501.15113): heads whose output lies far from the heads' semantic center (<em>heterogeneous</em>
 * heads) keep their whole cache, as far as the budget allows; the others keep attention sinks, recent tokens and a
 * few <em>middle activations</em> — tokens from the middle of the context chosen by the attention they receive.
 * The split is made anew for every prompt, so it follows the task.
 *
 * <p><b>Algorithm</b> (one sequence).
 * <ol>
 *   <li><em>Semantic separator.</em> With the last {@code window} observed queries, for each KV head {@code h} the
 *       observed attention per row {@code A_h[j]} ({@link ObservedAttention}: the queries' weights averaged over the
 *       head's GQA group) and the head's output vector {@code o_h = Σ_j A_h[j]·v_j / Σ_j A_h[j]} — the attention
 *       output of those queries, averaged over the queries and the group. The semantic center is
 *       {@code c = mean_h o_h}; the head's distance {@code d_h = ‖o_h − c‖₂}. A head is heterogeneous when
 *       {@code d_h > threshold · mean_h d_h}.</li>
 *   <li><em>Budgets</em> (per-head; the total over heads is {@code <= kvHeads × B}, {@code B =
 *       budget.rows(tokensSeen)}). Every head is first given {@code small_h = min(length_h, B, sinks + recent +
 *       middle)}; the rest of the total goes to heterogeneous heads, farthest first, each up to its whole length;
 *       what is still left is shared evenly by the non-heterogeneous heads, up to their lengths (they are not told
 *       apart: ordering them by distance would let float rounding decide, since e.g. two heads are always equally
 *       far from their mean). A budget at or above every head's length therefore changes nothing.</li>
 *   <li><em>Selection</em> in a head that must drop rows: the first {@code sinks} tokens, then the last
 *       {@code recent} tokens, then the rows with the most observed attention (the middle activations), up to the
 *       head's budget; kept rows stay in position order.</li>
 * </ol>
 *
 * <p><b>Choices</b> (the paper's text could not be read from here beyond its abstract; every rule below is ours
 * and follows the abstract's description).
 * <ul>
 *   <li>The head's "semantic vector" is its attention output over the observation window, averaged over the
 *       window's queries and, with GQA, over the group's query heads (heads are KV heads: the cache is per KV head).
 *       Raw outputs, Euclidean distance: a head's magnitude is part of what it adds to the residual stream. No output
 *       projection is applied (the cache has no model weights).</li>
 *   <li>Threshold relative to the mean distance (default 1.25: a head 25% farther than the average head), not a
 *       fixed fraction of heads, so the number of heterogeneous heads varies with the prompt — the paper's point
 *       that head importance depends on the task. If every head is at the same distance none is heterogeneous.</li>
 *   <li>"Full budget" for heterogeneous heads is bounded by the total, {@code kvHeads × B}: a cache policy must meet
 *       its budget. When the total cannot give every heterogeneous head its whole length, the farthest heads come
 *       first, and a head that gets less keeps sinks, recent and its most attended rows like the others.</li>
 *   <li>Middle activations are the rows with the most observed attention from the window (SnapKV's vote without
 *       pooling), outside the sinks and the recent window; default 4 sinks, 32 recent, 32 middle rows, a
 *       32-query window.</li>
 *   <li>Ties: equal attention goes to the later row ({@link ScoringPolicy#topRows}); equal distances to the lower
 *       head.</li>
 * </ul>
 *
 * <p><b>Complexity.</b> O(w·n·G·d) per KV head for the window's attention ({@code w} queries) plus O(n·dv) for the
 * output and O(n log n) for the ranking; {@code kvHeads × B} rows in total.
 */
public final class TaskKv implements KvPolicy {

    /**
     * @param threshold heterogeneous when the distance exceeds {@code threshold × mean distance} ({@code > 0})
     * @param sinks     first tokens always kept ({@code >= 0})
     * @param recent    last tokens always kept ({@code >= 0})
     * @param middle    middle activations of a non-heterogeneous head ({@code >= 0})
     * @param window    observed queries used, the last ones ({@code >= 1})
     */
    public record Config(double threshold, int sinks, int recent, int middle, int window) implements MechanismConfig {
        public Config {
            if (!(threshold > 0 && Double.isFinite(threshold))) {
                throw new IllegalArgumentException("threshold = " + threshold + "; allowed: finite and > 0 (a multiple "
                        + "of the mean distance)");
            }
            if (sinks < 0) {
                throw new IllegalArgumentException("sinks = " + sinks + "; allowed: >= 0");
            }
            if (recent < 0) {
                throw new IllegalArgumentException("recent = " + recent + "; allowed: >= 0");
            }
            if (middle < 0) {
                throw new IllegalArgumentException("middle = " + middle + "; allowed: >= 0");
            }
            if (window < 1) {
                throw new IllegalArgumentException("window = " + window + "; allowed: >= 1 query");
            }
        }

        /** Threshold 1.25, 4 sinks, 32 recent, 32 middle activations, the last 32 queries. */
        public static Config defaults() {
            return new Config(1.25, 4, 32, 32, 32);
        }
    }

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("task-kv",
            "Task-KV (heterogeneous heads by distance from the semantic center keep full caches; others sinks + "
                    + "recent + middle activations)",
            "He, Liu, Chen: \"Task-KV: Task-aware KV Cache Optimization via Semantic Differentiation of Attention "
                    + "Heads\", 2025 (arXiv:2501.15113)", Weights.FREE, "O(w n G d) per KV head",
            "kvHeads x budget rows in total, heterogeneous heads first",
            Config.class, Config.defaults(), config -> new TaskKv((Config) config));

    private final Config config;

    public TaskKv(Config config) {
        this.config = Objects.requireNonNull(config, "config");
    }

    public Config config() {
        return config;
    }

    @Override
    public String id() {
        return "task-kv";
    }

    /**
     * What the separator found for one sequence.
     *
     * @param attention     [head][row] observed attention of the window
     * @param outputs       [head][dv] each head's output vector
     * @param distances     each head's distance from the semantic center
     * @param heterogeneous whether each head is heterogeneous
     * @param budgets       rows each head keeps
     */
    record Plan(float[][] attention, double[][] outputs, double[] distances, boolean[] heterogeneous, int[] budgets) {
    }

    @Override
    public void compress(KvCache cache, int seq, Budget budget, Observation observation) {
        Plan plan = plan(cache, seq, budget, observation);
        int seen = cache.tokensSeen(seq);
        for (int h = 0; h < cache.kvHeads(); h++) {
            int n = cache.length(seq, h);
            if (n <= plan.budgets()[h]) {
                continue;
            }
            // sinks first (earliest first), then recent rows (latest first), then attention: sinks score
            // MAX / (p + 1) >= MAX / sinks > MAX / (sinks + 2), the recent rows' score, far above any attention
            float[] scores = plan.attention()[h].clone();
            float recentScore = Float.MAX_VALUE / ((float) config.sinks() + 2);
            for (int r = 0; r < n; r++) {
                int p = cache.position(seq, h, r);
                if (p < config.sinks()) {
                    scores[r] = Float.MAX_VALUE / (p + 1);
                } else if (p >= seen - config.recent()) {
                    scores[r] = recentScore;
                }
            }
            cache.keep(seq, h, ScoringPolicy.topRows(scores, n, plan.budgets()[h]));
        }
    }

    /** The separator's result and the budgets, without changing the cache. */
    Plan plan(KvCache cache, int seq, Budget budget, Observation observation) {
        Objects.requireNonNull(cache, "cache");
        Objects.requireNonNull(budget, "budget");
        Objects.requireNonNull(observation, "observation");
        observation.require("task-kv", cache, 1);
        Observation window = observation.last(config.window());
        int kv = cache.kvHeads(), dv = cache.valueDim(), b = budget.rows(cache.tokensSeen(seq));
        float[][] attention = new float[kv][];
        double[][] outputs = new double[kv][dv];
        double[] center = new double[dv];
        float[] v = new float[dv];
        int[] lengths = new int[kv];
        for (int h = 0; h < kv; h++) {
            lengths[h] = cache.length(seq, h);
            attention[h] = ObservedAttention.of(cache, seq, h, window);
            double mass = 0;
            for (int r = 0; r < lengths[h]; r++) {
                float a = attention[h][r];
                if (a == 0) {
                    continue;
                }
                mass += a;
                cache.value(seq, h, r, v, 0);
                for (int c = 0; c < dv; c++) {
                    outputs[h][c] += a * (double) v[c];
                }
            }
            for (int c = 0; c < dv; c++) {
                outputs[h][c] = mass == 0 ? 0 : outputs[h][c] / mass;
                center[c] += outputs[h][c] / kv;
            }
        }
        double[] distances = new double[kv];
        double mean = 0;
        for (int h = 0; h < kv; h++) {
            double sum = 0;
            for (int c = 0; c < dv; c++) {
                double diff = outputs[h][c] - center[c];
                sum += diff * diff;
            }
            distances[h] = Math.sqrt(sum);
            mean += distances[h] / kv;
        }
        boolean[] heterogeneous = new boolean[kv];
        for (int h = 0; h < kv; h++) {
            heterogeneous[h] = mean > 0 && distances[h] > config.threshold() * mean;
        }
        return new Plan(attention, outputs, distances, heterogeneous,
                budgets(lengths, distances, heterogeneous, b));
    }

    private int[] budgets(int[] lengths, double[] distances, boolean[] heterogeneous, int b) {
        int kv = lengths.length;
        long small = (long) config.sinks() + config.recent() + config.middle();
        int[] budgets = new int[kv];
        long left = (long) kv * b;
        for (int h = 0; h < kv; h++) {
            budgets[h] = (int) Math.min(Math.min(lengths[h], b), small);
            left -= budgets[h];
        }
        Integer[] farthest = new Integer[kv];
        Arrays.setAll(farthest, i -> i);
        Arrays.sort(farthest, (x, y) -> {
            int cmp = Double.compare(distances[y], distances[x]);
            return cmp != 0 ? cmp : Integer.compare(x, y);
        });
        for (int h : farthest) { // heterogeneous heads first, farthest first
            if (heterogeneous[h]) {
                int extra = (int) Math.min(lengths[h] - budgets[h], left);
                budgets[h] += extra;
                left -= extra;
            }
        }
        // the other heads share what is left evenly, up to their lengths (a remainder to the lower heads): they are
        // not told apart, and ordering them by distance would let float rounding decide between equal distances
        // (two KV heads are always equally far from their mean)
        while (left > 0) {
            int open = 0;
            for (int h = 0; h < kv; h++) {
                open += !heterogeneous[h] && budgets[h] < lengths[h] ? 1 : 0;
            }
            if (open == 0) {
                break;
            }
            long share = Math.max(1, left / open);
            for (int h = 0; h < kv && left > 0; h++) {
                if (!heterogeneous[h] && budgets[h] < lengths[h]) {
                    int extra = (int) Math.min(Math.min(lengths[h] - budgets[h], share), left);
                    budgets[h] += extra;
                    left -= extra;
                }
            }
        }
        return budgets;
    }
}
