package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;

import java.util.Locale;

/**
 * Observation-window voting with pooled scores: SnapKV (Li, Huang, Yang, Venkitesh, Locatelli, Ye, Cai, Lewis,
 * Chen: "SnapKV: LLM Knows What You are Looking for Before Generation", 2024, arXiv:2404.14469).
 *
 * <p><b>Algorithm.</b> For each KV head of the sequence:
 * <ol>
 *   <li>The <em>observation window</em> is the last {@code window} queries the observation holds
 *       ({@link Observation#last}); it starts at position {@code w0}. Rows at positions {@code >= w0} are the
 *       window's own rows; the rows before are the <em>prefix</em>.</li>
 *   <li>Votes: {@code A[j]} = the attention the window's queries pay to row {@code j}, summed over the window and
 *       averaged over the head's GQA group ({@link ObservedAttention}): each query's softmax runs over every row it
 *       can see (prefix and the window rows before it, causally), as in the reference code, which takes the
 *       softmax over all keys and then slices off the window's columns.</li>
 *   <li>Clustering: the prefix votes are pooled with a 1-D kernel of {@code kernel} positions centred on each row
 *       ({@link Pooling}), so the neighbours of a strongly attended token survive with it (the paper's clustering
 *       step: keeping a selected token's neighbourhood preserves the information around it).</li>
 *   <li>Selection: the window's own rows score {@code +∞} (always kept, and they count within the budget, as in
 *       kvpress's {@code SnapKVPress} which pads the window with the maximum score); the prefix rows compete for
 *       the rest of the budget by pooled score ({@link ScoringPolicy#topRows}).</li>
 * </ol>
 *
 * <p><b>Choices where the paper is open.</b>
 * <ul>
 *   <li><b>Window 64, kernel 5</b>: kvpress's defaults ({@code window_size=64, kernel_size=5}); the SnapKV code's
 *       {@code SnapKVCluster} has the same defaults (its model patch uses 32 when the model config gives none).</li>
 *   <li><b>Average pooling by default</b>, max pooling as an option. The paper's listing pools with an unnamed
 *       {@code pool1d}; the reference code ({@code snapkv_utils.py}) supports {@code 'avgpool'} and
 *       {@code 'maxpool'} with {@code 'avgpool'} the default, and kvpress uses {@code avg_pool1d}. Average pooling
 *       follows torch's {@code avg_pool1d} with zero padding counted ({@code count_include_pad}): the sum over the
 *       kernel divided by {@code kernel}, also at the edges. Max pooling ignores the padding.</li>
 *   <li><b>Pool along positions</b>: the kernel covers the rows whose positions lie within {@code kernel/2} of the
 *       row's position, among the prefix rows (the window's votes for its own rows are not pooled into the
 *       prefix, as in the reference, which slices the window's columns off before pooling). On a fresh prefill
 *       cache these are exactly the neighbouring rows; after earlier compressions, tokens no longer cached count
 *       as zero votes (like padding), so a pooled score never borrows from a row that is not there. A merged
 *       (compensation) row counts at its rounded mean position.</li>
 *   <li><b>Group average, then pool</b> (the brief's order; ObservedAttention averages the group). For average
 *       pooling this equals kvpress's pool-then-average (both are linear); for max pooling it is the pool of the
 *       group's mean, not the mean of per-query-head pools.</li>
 *   <li><b>Sum, not mean, over the window</b>: the same ranking as kvpress's mean (a constant factor).</li>
 *   <li><b>Budget below the window</b>: the reference asserts {@code budget > window}; here the most recent
 *       {@code budget} window rows are kept (ties among {@code +∞} go to later rows), so every budget is honoured.
 *       </li>
 *   <li><b>At decode</b>: called with a session's observation (its recent decode queries), the window is the last
 *       {@code window} of those, and the same rule compresses the cache again (kvpress's {@code DecodingPress}
 *       idea); the paper itself compresses once, at prefill.</li>
 *   <li>Ties in the pooled score (frequent with max pooling: a peak's neighbours share its score) go to later
 *       rows.</li>
 * </ul>
 * An observation without queries is refused ({@link Observation#require}).
 *
 * <p><b>Complexity.</b> Per head, O(w · n · G · D) for the window's attention over n rows (w queries, G query heads
 * per KV head), O(n · kernel) for pooling and O(n log n) for the selection; memory O(n) per head.
 */
public final class SnapKv extends ScoringPolicy {

    /** How the prefix votes are pooled along positions. */
    public enum Pooling {
        /** The mean over the kernel, zero padding counted (torch {@code avg_pool1d}; SnapKV's and kvpress's). */
        AVG,
        /** The maximum over the kernel (torch {@code max_pool1d}; the reference code's {@code 'maxpool'}). */
        MAX
    }

    /**
     * @param window  observation-window queries ({@code >= 1})
     * @param kernel  pooling kernel in positions (odd, {@code >= 1}; 1: no pooling)
     * @param pooling average or max pooling
     */
    public record Config(int window, int kernel, Pooling pooling) implements MechanismConfig {
        public Config {
            if (window < 1) {
                throw new IllegalArgumentException("window = " + window + "; allowed: >= 1 query");
            }
            if (kernel < 1 || kernel % 2 == 0 || kernel > 1_000_001) {
                throw new IllegalArgumentException("kernel = " + kernel + "; allowed: an odd number from 1 to "
                        + "1000001 (centred pooling)");
            }
            if (pooling == null) {
                throw new IllegalArgumentException("pooling = null; allowed: AVG, MAX");
            }
        }

        public static Config defaults() {
            return new Config(64, 5, Pooling.AVG);
        }
    }

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("snapkv",
            "SnapKV (observation-window voting, pooled scores)",
            "Li, Huang, Yang, Venkitesh, Locatelli, Ye, Cai, Lewis, Chen: \"SnapKV: LLM Knows What You are Looking "
                    + "for Before Generation\", 2024 (arXiv:2404.14469)", Weights.FREE,
            "O(w·n·G·D + n·kernel + n log n) per head (w window queries, G queries per KV head)",
            "budget rows per head (the window's rows included)",
            Config.class, Config.defaults(), config -> new SnapKv((Config) config));

    private final Config config;

    public SnapKv(Config config) {
        if (config == null) {
            throw new IllegalArgumentException("config = null; allowed: a SnapKv.Config");
        }
        this.config = config;
    }

    public Config config() {
        return config;
    }

    @Override
    public String id() {
        return "snapkv";
    }

    @Override
    public void compress(KvCache cache, int seq, Budget budget, Observation observation) {
        observation.require(id(), cache, 1);
        super.compress(cache, seq, budget, observation);
    }

    @Override
    protected void score(KvCache cache, int seq, int head, Observation observation, float[] scores) {
        observation.require(id(), cache, 1);
        Observation window = observation.last(config.window());
        float[] votes = ObservedAttention.of(cache, seq, head, window);
        int[] positions = cache.positions(seq, head);
        int n = positions.length, prefix = 0;
        while (prefix < n && positions[prefix] < window.firstPosition()) {
            prefix++;
        }
        pool(votes, positions, prefix, config.kernel(), config.pooling(), scores);
        for (int r = prefix; r < n; r++) {
            scores[r] = Float.POSITIVE_INFINITY;
        }
    }

    /**
     * Pools {@code values[0 .. rows)} along positions: {@code out[r]} is the mean (sum / kernel) or the maximum of
     * the values of rows whose positions lie within {@code kernel/2} of {@code positions[r]} ({@code positions}
     * ascending). Missing positions count as zero for the mean and are ignored by the maximum.
     */
    static void pool(float[] values, int[] positions, int rows, int kernel, Pooling pooling, float[] out) {
        int radius = kernel / 2, lo = 0, hi = 0;
        for (int r = 0; r < rows; r++) {
            long p = positions[r];
            while (positions[lo] < p - radius) {
                lo++;
            }
            while (hi < rows && positions[hi] <= p + radius) {
                hi++;
            }
            if (pooling == Pooling.MAX) {
                float max = Float.NEGATIVE_INFINITY;
                for (int i = lo; i < hi; i++) {
                    max = Math.max(max, values[i]);
                }
                out[r] = max;
            } else {
                double sum = 0;
                for (int i = lo; i < hi; i++) {
                    sum += values[i];
                }
                out[r] = (float) (sum / kernel);
            }
        }
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "snapkv(window=%d, kernel=%d, %s)", config.window(), config.kernel(),
                config.pooling());
    }
}
