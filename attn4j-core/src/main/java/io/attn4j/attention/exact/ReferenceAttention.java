package io.attn4j.attention.exact;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.ScoreMod;
import io.attn4j.attention.TopKeys;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.util.EnumSet;

/**
 * The oracle: softmax attention exactly as {@link AttentionSpec} defines it, in float64, one query row at a time.
 *
 * <p>Every score of a row is computed in double from the float inputs, masked keys get −∞, the row is normalised
 * against its maximum, and the output, log-sum-exp and observers are accumulated in double before the final
 * rounding to float. Nothing is tiled, fused or vectorised, so it is slow and obviously right: every other mechanism
 * is tested against it, exact ones within FlashAttention's bound (error ≤ 2 × naive float32's error + 1e-6),
 * approximate ones by the fidelity their documentation promises.
 *
 * <p>Time O(B·Hq·Lq·Lk·(D + Dv)); memory O(Lk) per thread (one score row), plus O(Lk) per (batch, head) for the
 * column-mass observer. Work is split over (batch, head) pairs.
 */
public final class ReferenceAttention implements AttentionMechanism {
    public static final Mechanism DESCRIPTOR = new Mechanism("reference", Family.EXACT, "reference softmax attention",
            "the definition of scaled dot-product attention (Vaswani et al., \"Attention Is All You Need\", 2017), "
                    + "computed in float64", EnumSet.allOf(Pattern.class), Weights.FREE, true, true, true,
            "O(n^2 d)", "O(n) per row, float64", MechanismConfig.class, MechanismConfig.NONE,
            (config, engine) -> new ReferenceAttention(engine));

    private final Engine engine;

    public ReferenceAttention(Engine engine) {
        this.engine = engine;
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        AttentionProblem p = AttentionProblem.of(q, k, v, spec, out);
        int lq = p.queryLength(), lk = p.keyLength(), heads = p.heads(), dv = p.valueDim();
        boolean needLse = p.returnLse();
        Tensor lse = needLse ? Tensor.zeros(p.batch(), heads, lq) : null;
        Tensor mass = p.columnMass() ? Tensor.zeros(p.batch(), heads, lk) : null;
        Tensor entropy = p.entropy() ? Tensor.zeros(p.batch(), heads, lq) : null;
        int topK = p.topK();
        TopKeys top = topK > 0 ? new TopKeys(p.batch(), heads, lq, topK, new int[p.batch() * heads * lq * topK],
                new float[p.batch() * heads * lq * topK]) : null;
        engine.parallelFor(p.batch() * heads, bh -> {
            int b = bh / heads, h = bh % heads;
            double[] probabilities = new double[lk];
            double[] row = new double[dv];
            double[] massRow = mass == null ? null : new double[lk];
            int[] bestKeys = new int[topK];
            double[] bestScores = new double[topK];
            for (int i = 0; i < lq; i++) {
                double rowLse = row(p, b, h, i, probabilities, row);
                int at = p.out().at(b, i, h);
                for (int c = 0; c < dv; c++) {
                    p.out().data()[at + c] = (float) row[c];
                }
                int statAt = (b * heads + h) * lq + i;
                if (lse != null) {
                    lse.array()[statAt] = (float) rowLse;
                }
                if (massRow != null) {
                    for (int j = 0; j < lk; j++) {
                        massRow[j] += probabilities[j];
                    }
                }
                if (entropy != null) {
                    double hSum = 0;
                    for (int j = 0; j < lk; j++) {
                        if (probabilities[j] > 0) {
                            hSum -= probabilities[j] * Math.log(probabilities[j]);
                        }
                    }
                    entropy.array()[statAt] = (float) hSum;
                }
                if (top != null) {
                    topKeys(probabilities, lk, topK, bestKeys, bestScores);
                    for (int r = 0; r < topK; r++) {
                        top.indices()[statAt * topK + r] = bestKeys[r];
                        top.weights()[statAt * topK + r] = bestKeys[r] < 0 ? 0f : (float) bestScores[r];
                    }
                }
            }
            if (massRow != null) {
                for (int j = 0; j < lk; j++) {
                    mass.array()[(b * heads + h) * lk + j] = (float) massRow[j];
                }
            }
        });
        return p.result(lse, mass, entropy, top);
    }

    /**
     * One output row in float64: fills {@code probabilities[0, Lk)} with the softmax weights (0 for hidden keys),
     * {@code out[0, Dv)} with the output, and returns the log-sum-exp (−∞ when no key is visible).
     */
    public static double row(AttentionProblem p, int b, int h, int i, double[] probabilities, double[] out) {
        int lk = p.keyLength(), d = p.headDim(), dv = p.valueDim();
        int kvh = h / p.group();
        MaskMod mask = p.mask();
        ScoreMod scoreMod = p.scoreMod();
        float[] qd = p.q().data(), kd = p.k().data(), vd = p.v().data();
        int qRow = p.q().at(b, i, h);
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < lk; j++) {
            if (mask != null && !mask.test(b, h, i, j)) {
                probabilities[j] = Double.NEGATIVE_INFINITY;
                continue;
            }
            int kRow = p.k().at(b, j, kvh);
            double dot = 0;
            for (int t = 0; t < d; t++) {
                dot += (double) qd[qRow + t] * kd[kRow + t];
            }
            double s = p.scale() * dot;
            if (scoreMod != null) {
                s = scoreMod.applyExact(s, b, h, i, j);
            }
            probabilities[j] = s;
            max = Math.max(max, s);
        }
        java.util.Arrays.fill(out, 0, dv, 0.0);
        if (max == Double.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(probabilities, 0, lk, 0.0);
            return Double.NEGATIVE_INFINITY;
        }
        double sum = 0;
        for (int j = 0; j < lk; j++) {
            double w = probabilities[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(probabilities[j] - max);
            probabilities[j] = w;
            sum += w;
        }
        for (int j = 0; j < lk; j++) {
            double pj = probabilities[j] / sum;
            probabilities[j] = pj;
            if (pj != 0) {
                int vRow = p.v().at(b, j, kvh);
                for (int c = 0; c < dv; c++) {
                    out[c] += pj * vd[vRow + c];
                }
            }
        }
        return max + Math.log(sum);
    }

    /** The k largest weights (ties: lower key first), padded with key −1; weights of visible keys are > 0. */
    private static void topKeys(double[] probabilities, int lk, int k, int[] keys, double[] scores) {
        int count = 0;
        for (int j = 0; j < lk; j++) {
            double w = probabilities[j];
            if (w <= 0) {
                continue;
            }
            if (count == k && w <= scores[k - 1]) {
                continue;
            }
            int pos = Math.min(count, k - 1);
            while (pos > 0 && scores[pos - 1] < w) {
                scores[pos] = scores[pos - 1];
                keys[pos] = keys[pos - 1];
                pos--;
            }
            scores[pos] = w;
            keys[pos] = j;
            count = Math.min(count + 1, k);
        }
        for (int r = count; r < k; r++) {
            keys[r] = -1;
            scores[r] = 0;
        }
    }
}
