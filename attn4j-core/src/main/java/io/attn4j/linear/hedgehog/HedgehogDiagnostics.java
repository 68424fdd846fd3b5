package io.attn4j.linear.hedgehog;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.UnsupportedInputException;
import io.attn4j.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * The two properties of softmax attention the Hedgehog paper finds that linear attentions lack, measured on the
 * attention weights a kernel induces on given queries and keys ({@code w_ts ∝ κ(q_t, k_s)} over the keys the query
 * sees):
 * <ul>
 *   <li><b>spikiness</b>: the mean row entropy {@code −Σ_s w_ts log w_ts} in nats — low is spiky; uniform weights
 *       over n keys give {@code log n}. Compare a kernel's with softmax's on the same q, k
 *       ({@link #softmax(double)});</li>
 *   <li><b>monotonicity</b>: pairwise concordance — over the pairs of keys a query sees whose dot products
 *       {@code q·k} differ, the fraction ordered the same way by their weights (a pair with equal weights counts
 *       one half). Weights increasing in {@code q·k}, as softmax's, give 1; decreasing ones 0. Kendall's τ is
 *       {@code 2·monotonicity − 1} (τ-a over pairs without ties in q·k).</li>
 * </ul>
 * Rows are sampled for long inputs: every query row up to {@code maxRows} rows per (batch, head), else
 * {@code maxRows} rows evenly spaced from the first to the last. A row with at most {@value #ALL_PAIRS_UP_TO} key
 * pairs counts every pair; a longer one {@value #ALL_PAIRS_UP_TO} pairs drawn uniformly (with replacement, seeded
 * by its position, so results are deterministic). Monotonicity pools the pairs of all sampled rows; spikiness
 * averages the rows that see at least one key. Weights are computed in float64 from the kernel's log weights.
 */
public final class HedgehogDiagnostics {
    /** Rows per (batch, head) measured by default. */
    public static final int DEFAULT_ROWS = 64;
    /** Key pairs per row counted exactly up to this many, sampled beyond. */
    public static final int ALL_PAIRS_UP_TO = 1 << 18;

    private HedgehogDiagnostics() {
    }

    /** A kernel as the log of an unnormalised attention weight, for query head {@code head}. */
    @FunctionalInterface
    public interface Kernel {
        double logWeight(int head, float[] q, int qOffset, float[] k, int kOffset, int dim);
    }

    /** Softmax attention's kernel: {@code log κ = scale · q·k}. */
    public static Kernel softmax(double scale) {
        return (head, q, qOffset, k, kOffset, dim) -> scale * dot(q, qOffset, k, kOffset, dim);
    }

    /**
     * Hedgehog's kernel {@code log(φ_q(q)·φ_k(k))} for the given maps and head counts (the exact formula, without
     * the key clamp), computed as a log-sum-exp of the {@code 2F} terms {@code ±(u_q,i + u_k,i)}.
     */
    public static Kernel hedgehog(Hedgehog.FeatureMaps maps, int heads, int kvHeads) {
        int f = maps.features(), group = heads / kvHeads;
        return (head, q, qOffset, k, kOffset, dim) -> {
            int qm = maps.queryMap(head, heads, kvHeads), km = maps.keyMap(head / group);
            double[] uq = preActivations(maps.queryWeights()[qm], maps.queryBias()[qm], q, qOffset, f, dim);
            double[] uk = preActivations(maps.keyWeights()[km], maps.keyBias()[km], k, kOffset, f, dim);
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < f; i++) {
                max = Math.max(max, Math.abs(uq[i] + uk[i]));
            }
            double sum = 0;
            for (int i = 0; i < f; i++) {
                double s = uq[i] + uk[i];
                sum += Math.exp(s - max) + Math.exp(-s - max);
            }
            return max + Math.log(sum);
        };
    }

    private static double[] preActivations(float[] w, float[] b, float[] x, int offset, int f, int d) {
        double[] u = new double[f];
        for (int i = 0; i < f; i++) {
            double s = b[i];
            for (int j = 0; j < d; j++) {
                s += (double) w[i * d + j] * x[offset + j];
            }
            u[i] = s;
        }
        return u;
    }

    /**
     * Both measures.
     *
     * @param entropy      mean row entropy of the weights, nats
     * @param monotonicity pooled pairwise concordance of weights with {@code q·k}, in [0, 1]; NaN when no row sees
     *                     two keys with different dot products
     * @param rows         rows measured
     * @param pairs        key pairs counted
     */
    public record Report(double entropy, double monotonicity, long rows, long pairs) {
    }

    /** {@link #measure(Tensor, Tensor, AttentionSpec, Kernel, int)} with {@link #DEFAULT_ROWS}. */
    public static Report measure(Tensor q, Tensor k, AttentionSpec spec, Kernel kernel) {
        return measure(q, k, spec, kernel, DEFAULT_ROWS);
    }

    /** The mean row entropy: {@link #measure}'s {@code entropy}. */
    public static double spikiness(Tensor q, Tensor k, AttentionSpec spec, Kernel kernel) {
        return measure(q, k, spec, kernel).entropy();
    }

    /** The pooled pairwise concordance: {@link #measure}'s {@code monotonicity}. */
    public static double monotonicity(Tensor q, Tensor k, AttentionSpec spec, Kernel kernel) {
        return measure(q, k, spec, kernel).monotonicity();
    }

    /**
     * Measures the weights {@code kernel} induces on q ({@code [B, Lq, H, D]}) and k ({@code [B, Lk, Hkv, D]}) in the
     * spec's layout; causal specs let query i see keys up to {@code i + Lk − Lq}.
     *
     * @throws UnsupportedInputException for a spec with a mask or score mod
     * @throws IllegalArgumentException  for invalid operands or {@code maxRows < 1}
     */
    public static Report measure(Tensor q, Tensor k, AttentionSpec spec, Kernel kernel, int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows = " + maxRows + "; allowed: >= 1");
        }
        if (spec != null && (spec.mask() != null || spec.scoreMod() != null)) {
            throw new UnsupportedInputException("the Hedgehog diagnostics take causal or noncausal specs without a "
                    + "mask or score mod (got " + spec + ")");
        }
        // k stands in for v: only the q and k views are read
        AttentionProblem p = AttentionProblem.of(q, k, k, spec, null);
        HeadView qv = p.q(), kv = p.k();
        int lq = p.queryLength(), lk = p.keyLength(), d = p.headDim(), group = p.group();
        int rows = Math.min(lq, maxRows);
        double entropySum = 0, concordant = 0;
        long entropyRows = 0, pairs = 0, measured = 0;
        double[] logits = new double[lk], dots = new double[lk];
        for (int b = 0; b < p.batch(); b++) {
            for (int h = 0; h < p.heads(); h++) {
                int g = h / group;
                for (int r = 0; r < rows; r++) {
                    int i = rows == lq ? r : rows == 1 ? lq - 1 : (int) ((long) r * (lq - 1) / (rows - 1));
                    int visible = spec.isCausal() ? Math.min(lk, Math.max(0, i + lk - lq + 1)) : lk;
                    measured++;
                    if (visible == 0) {
                        continue;
                    }
                    int qAt = qv.at(b, i, h);
                    double max = Double.NEGATIVE_INFINITY;
                    for (int s = 0; s < visible; s++) {
                        int kAt = kv.at(b, s, g);
                        logits[s] = kernel.logWeight(h, qv.data(), qAt, kv.data(), kAt, d);
                        dots[s] = dot(qv.data(), qAt, kv.data(), kAt, d);
                        max = Math.max(max, logits[s]);
                    }
                    double z = 0;
                    for (int s = 0; s < visible; s++) {
                        z += Math.exp(logits[s] - max);
                    }
                    double logZ = Math.log(z), entropy = 0;
                    for (int s = 0; s < visible; s++) {
                        double logW = logits[s] - max - logZ;
                        entropy -= Math.exp(logW) * logW;
                    }
                    entropySum += entropy;
                    entropyRows++;
                    long rowPairs = (long) visible * (visible - 1) / 2;
                    if (rowPairs <= ALL_PAIRS_UP_TO) {
                        for (int s = 0; s < visible; s++) {
                            for (int u = s + 1; u < visible; u++) {
                                double c = concordance(dots, logits, s, u);
                                if (c >= 0) {
                                    concordant += c;
                                    pairs++;
                                }
                            }
                        }
                    } else {
                        SplittableRandom random = new SplittableRandom(((long) b * p.heads() + h) * lq + i);
                        for (int x = 0; x < ALL_PAIRS_UP_TO; x++) {
                            int s = random.nextInt(visible), u = random.nextInt(visible - 1);
                            u += u >= s ? 1 : 0;
                            double c = concordance(dots, logits, s, u);
                            if (c >= 0) {
                                concordant += c;
                                pairs++;
                            }
                        }
                    }
                }
            }
        }
        return new Report(entropyRows == 0 ? Double.NaN : entropySum / entropyRows,
                pairs == 0 ? Double.NaN : concordant / pairs, measured, pairs);
    }

    /** 1 concordant, 1/2 tied weights, 0 discordant, −1 when the dot products tie (not counted). */
    private static double concordance(double[] dots, double[] logits, int s, int u) {
        double dd = dots[s] - dots[u];
        if (dd == 0) {
            return -1;
        }
        double dw = logits[s] - logits[u];
        return dw == 0 ? 0.5 : (dd > 0) == (dw > 0) ? 1 : 0;
    }

    private static double dot(float[] a, int aOffset, float[] b, int bOffset, int d) {
        double s = 0;
        for (int j = 0; j < d; j++) {
            s += (double) a[aOffset + j] * b[bOffset + j];
        }
        return s;
    }
}
