package io.attn4j.analysis;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.runtime.Engine;
import io.attn4j.sparse.KeptKeys;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;

/**
 * How close an approximation is to exact attention on one input (BENCHMARKS.md), measured against
 * {@code reference} (float64) on a sample of query rows of every batch element and head:
 * <ul>
 *   <li><b>relative error</b> {@code ‖o − o_ref‖ / ‖o_ref‖} over the sampled rows;</li>
 *   <li><b>attention-mass recall</b>: for each sampled row, the share of its exact softmax mass on the keys the
 *       mechanism kept ({@link KeptKeys}), averaged over rows (and its minimum);</li>
 *   <li><b>row KL</b>: {@code KL(p_method ‖ p_ref)} averaged over rows, when the mechanism's weights are the exact
 *       softmax renormalised over its kept keys ({@link KeptKeys#exactOnKept()}); then it equals
 *       {@code −log recall} of the row. The other direction is infinite as soon as one key is dropped.</li>
 * </ul>
 * Rows: all of them up to 64 queries, else 32 spread evenly over the first {@code Lq − 8} plus the last 8 (where
 * causal rows see the most keys). Each sampled row stands for the rows it represents — a spread row for
 * {@code (Lq − 8) / 32} queries, a last row for itself — so every figure is an estimate of the mean over
 * <em>all</em> query rows, not over the sample; otherwise the last 8 rows, a fifth of the sample, would weigh as a
 * fifth of the sequence (on {@code structured} inputs they are the needle queries). The minimum recall is over the
 * sampled rows, unweighted. The exact weights of the sampled rows are kept in float32 (rows × Lk per head), so
 * measuring many mechanisms against one sample costs one reference pass.
 */
public final class Fidelity {
    private static final int ALL_ROWS_UP_TO = 64;

    /** Figures of one output; NaN for what was not measurable (no kept keys, or weights that are not exact on them). */
    public record Measures(double relativeError, double massRecall, double minMassRecall, double rowKl) {
    }

    private final int batch, heads, lq, lk;
    private final int[] rows;
    private final double[] rowWeight; // queries each sampled row stands for
    private final double[][] reference; // [(b·H + h)·rows + r][Dv]
    private final float[][] weights;    // [(b·H + h)·rows + r][Lk]

    /** The reference rows of {@code q}, {@code k}, {@code v} under {@code spec}. */
    public Fidelity(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        AttentionProblem p = AttentionProblem.of(q, k, v, spec, null);
        this.batch = p.batch();
        this.heads = p.heads();
        this.lq = p.queryLength();
        this.lk = p.keyLength();
        this.rows = sampleRows(lq);
        this.rowWeight = new double[rows.length];
        java.util.Arrays.fill(rowWeight, 1);
        if (lq > ALL_ROWS_UP_TO) {
            java.util.Arrays.fill(rowWeight, 0, 32, (lq - 8) / 32.0);
        }
        int n = batch * heads * rows.length;
        reference = new double[n][];
        weights = new float[n][];
        Engine.defaults().parallelFor(n, t -> {
            int r = t % rows.length, bh = t / rows.length;
            double[] probabilities = new double[lk];
            double[] row = new double[p.valueDim()];
            ReferenceAttention.row(p, bh / heads, bh % heads, rows[r], probabilities, row);
            reference[t] = row;
            float[] w = new float[lk];
            for (int j = 0; j < lk; j++) {
                w[j] = (float) probabilities[j];
            }
            weights[t] = w;
        });
    }

    /** The query rows measured: all up to 64, else 32 spread over [0, Lq − 8) and the last 8. */
    public static int[] sampleRows(int queryLength) {
        if (queryLength <= ALL_ROWS_UP_TO) {
            int[] all = new int[queryLength];
            Arrays.setAll(all, i -> i);
            return all;
        }
        int[] rows = new int[40];
        for (int r = 0; r < 32; r++) {
            rows[r] = (int) ((long) r * (queryLength - 8) / 32);
        }
        for (int r = 0; r < 8; r++) {
            rows[32 + r] = queryLength - 8 + r;
        }
        return rows;
    }

    public int[] rows() {
        return rows.clone();
    }

    /** The relative error of {@code out} ({@code [B, Lq, H, Dv]}, BSHD) on the sampled rows. */
    public double relativeError(Tensor out) {
        double num = 0, den = 0;
        for (int t = 0; t < reference.length; t++) {
            int r = t % rows.length, bh = t / rows.length;
            for (int c = 0; c < reference[t].length; c++) {
                double diff = out.get(bh / heads, rows[r], bh % heads, c) - reference[t][c];
                num += rowWeight[r] * diff * diff;
                den += rowWeight[r] * reference[t][c] * reference[t][c];
            }
        }
        return Math.sqrt(num / Math.max(den, 1e-300));
    }

    /** Every figure for {@code out}; {@code kept} may be {@code null} (recall and KL are then NaN). */
    public Measures measure(Tensor out, KeptKeys kept) {
        double error = relativeError(out);
        if (kept == null) {
            return new Measures(error, Double.NaN, Double.NaN, Double.NaN);
        }
        double[] recall = new double[reference.length];
        Engine.defaults().parallelFor(reference.length, t -> {
            int r = t % rows.length, bh = t / rows.length;
            int b = bh / heads, h = bh % heads, q = rows[r];
            float[] w = weights[t];
            double mass = 0, total = 0;
            for (int j = 0; j < lk; j++) {
                if (w[j] != 0f) {
                    total += w[j];
                    if (kept.kept(b, h, q, j)) {
                        mass += w[j];
                    }
                }
            }
            recall[t] = total == 0 ? 1 : Math.min(1, mass / total); // a row that sees no key loses nothing
        });
        double sum = 0, weights = 0, min = 1, kl = 0;
        for (int t = 0; t < recall.length; t++) {
            double w = rowWeight[t % rows.length], x = recall[t];
            sum += w * x;
            weights += w;
            min = Math.min(min, x);
            kl += w * (x > 0 ? -Math.log(x) : Double.POSITIVE_INFINITY);
        }
        return new Measures(error, sum / weights, min, kept.exactOnKept() ? kl / weights : Double.NaN);
    }
}
