package io.attn4j.linear.inline;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.linear.Form;
import io.attn4j.linear.linear.LinearAttention;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static io.attn4j.testing.Numerics.maxAbsDiff;
import static io.attn4j.testing.Numerics.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * InLine against a direct O(n²) float64 evaluation of its weights (causal and noncausal, with and without the
 * window), rows of weights summing to 1, the paper's injectivity argument, and prefix invariance / stateless decode
 * with a tolerance relative to the output's size.
 */
class InLineTest {
    private static final List<Form> FORMS = List.of(Form.reference(), Form.recurrent(), Form.chunked(),
            Form.chunked(7), Form.chunked(1));

    private static InLine inline(InLine.FeatureMap map, int window) {
        return new InLine(new InLine.Config(map, window, 0.7f, Form.chunked()), Engine.defaults());
    }

    /** Σ_j w_ij v_j with the explicit weights, plus λ · softmax over the window, bottom-right positions. */
    static Tensor direct(AttentionInputs in, boolean causal, InLine.FeatureMap map, int window, double lambda) {
        Tensor q = in.q(), k = in.k(), v = in.v();
        int lq = q.size(1), lk = k.size(1), heads = q.size(2), group = heads / k.size(2), d = q.size(3);
        int dv = v.size(3);
        double s = 1 / Math.sqrt(d);
        Tensor out = Tensor.zeros(1, lq, heads, dv);
        for (int h = 0; h < heads; h++) {
            int g = h / group;
            for (int i = 0; i < lq; i++) {
                int pos = i + lk - lq, visible = causal ? Math.max(0, Math.min(lk, pos + 1)) : lk;
                double[] sim = new double[visible];
                double mean = 0;
                for (int j = 0; j < visible; j++) {
                    for (int x = 0; x < d; x++) {
                        sim[j] += s * phi(map, q.get(0, i, h, x)) * phi(map, k.get(0, j, g, x));
                    }
                    mean += sim[j] / visible;
                }
                double[] o = new double[dv];
                for (int j = 0; j < visible; j++) {
                    double w = sim[j] - mean + 1.0 / visible;
                    for (int c = 0; c < dv; c++) {
                        o[c] += w * v.get(0, j, g, c);
                    }
                }
                if (window > 0) {
                    int from = Math.max(0, pos - window + 1), to = Math.min(lk - 1, causal ? pos : pos + window - 1);
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    double[] e = new double[Math.max(0, to - from + 1)];
                    for (int j = from; j <= to; j++) {
                        for (int x = 0; x < d; x++) {
                            e[j - from] += s * q.get(0, i, h, x) * k.get(0, j, g, x);
                        }
                        max = Math.max(max, e[j - from]);
                    }
                    for (int j = from; j <= to; j++) {
                        e[j - from] = Math.exp(e[j - from] - max);
                        sum += e[j - from];
                    }
                    for (int j = from; j <= to; j++) {
                        for (int c = 0; c < dv; c++) {
                            o[c] += lambda * e[j - from] / sum * v.get(0, j, g, c);
                        }
                    }
                }
                for (int c = 0; c < dv; c++) {
                    out.set((float) o[c], 0, i, h, c);
                }
            }
        }
        return out;
    }

    private static double phi(InLine.FeatureMap map, double x) {
        return map == InLine.FeatureMap.RELU ? Math.max(0, x) : x;
    }

    @Test
    void everyFormMatchesTheDirectWeights() {
        for (InLine.FeatureMap map : InLine.FeatureMap.values()) {
            for (int window : new int[] {0, 1, 5, 16}) {
                InLine m = inline(map, window);
                for (int[] lengths : new int[][] {{60, 60}, {7, 45}, {45, 20}}) {
                    AttentionInputs in = StandardInputs.random(Fresh.seed(), new InputShape(1, lengths[0], lengths[1],
                            4, 2, 16, 12));
                    for (boolean causal : new boolean[] {true, false}) {
                        Tensor expected = direct(in, causal, map, window, 0.7);
                        AttentionSpec spec = causal ? AttentionSpec.causal() : AttentionSpec.noncausal();
                        for (Form form : FORMS) {
                            Tensor ours = m.run(in.q(), in.k(), in.v(), spec, null, form).output();
                            double e = relativeError(ours, expected);
                            assertTrue(e <= 1e-5, map + " w=" + window + " " + form + " " + spec + " Lq=" + lengths[0]
                                    + " Lk=" + lengths[1] + ": error " + e);
                        }
                    }
                }
            }
        }
    }

    @Test
    void rowsOfWeightsSumToOne() {
        // values = the identity basis: output row i is the weight row w_i·
        int n = 40, d = 16;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 1, 1, d));
        Tensor basis = Tensor.zeros(1, n, 1, n);
        for (int j = 0; j < n; j++) {
            basis.set(1f, 0, j, 0, j);
        }
        for (InLine.FeatureMap map : InLine.FeatureMap.values()) {
            for (boolean causal : new boolean[] {true, false}) {
                AttentionSpec spec = causal ? AttentionSpec.causal() : AttentionSpec.noncausal();
                Tensor w = inline(map, 0).run(in.q(), in.k(), basis, spec, null, Form.chunked()).output();
                boolean negative = false;
                for (int i = 0; i < n; i++) {
                    double sum = 0, magnitude = 0;
                    for (int j = 0; j < n; j++) {
                        sum += w.get(0, i, 0, j);
                        magnitude += Math.abs(w.get(0, i, 0, j));
                        negative |= w.get(0, i, 0, j) < 0;
                        if (causal && j > i) {
                            assertEquals(0f, w.get(0, i, 0, j), 0f, "a future key has weight 0");
                        }
                    }
                    // the weights are float32 differences of terms as large as the weights themselves (subtractive
                    // normalisation), so their sum carries an error relative to Σ|w|, not to 1: 1e-5 of the larger
                    // (a wrong normaliser is off by O(1/n) = 0.025 or more)
                    assertEquals(1, sum, 1e-5 * Math.max(1, magnitude), map + " " + spec + " row " + i + ", Σ|w| = "
                            + magnitude + " (seed base " + Fresh.base() + ")");
                }
                assertTrue(negative, "subtractive normalisation gives negative weights too");
            }
        }
    }

    @Test
    void injectiveWhereLinearAttentionIsNot() {
        // the paper's argument: with a positively homogeneous φ, linear attention maps q and 2q to the same weights
        // (the factor cancels in the division); InLine subtracts instead and tells them apart
        int n = 30, d = 8;
        Random random = new Random(Fresh.seed());
        Tensor q = Tensor.zeros(1, 2, 1, d), k = Tensor.zeros(1, n, 1, d), v = Tensor.zeros(1, n, 1, n);
        for (int x = 0; x < d; x++) {
            float value = (float) Math.abs(random.nextGaussian()) + 0.1f;
            q.set(value, 0, 0, 0, x);
            q.set(2 * value, 0, 1, 0, x);
        }
        for (int j = 0; j < n; j++) {
            for (int x = 0; x < d; x++) {
                k.set((float) random.nextGaussian(), 0, j, 0, x);
            }
            v.set(1f, 0, j, 0, j); // output = weights
        }
        // two queries against the same keys: noncausal cross-attention (Lq = 2, Lk = n)
        LinearAttention linear = new LinearAttention(new LinearAttention.Config(LinearAttention.FeatureMap.RELU, true,
                0f, Form.chunked()), Engine.defaults());
        Tensor lw = linear.forward(q, k, v, AttentionSpec.noncausal()).output();
        assertTrue(maxAbsDiff(lw.slice(1, 0, 1), lw.slice(1, 1, 2)) < 1e-6, "linear attention: q and 2q collide");
        for (InLine.FeatureMap map : InLine.FeatureMap.values()) {
            Tensor iw = inline(map, 0).forward(q, k, v, AttentionSpec.noncausal()).output();
            double gap = maxAbsDiff(iw.slice(1, 0, 1), iw.slice(1, 1, 2));
            assertTrue(gap > 1e-2, map + ": InLine must tell q from 2q (gap " + gap + ")");
            // and the deviation from uniform doubles exactly: w(2q) − 1/N = 2 (w(q) − 1/N)
            for (int j = 0; j < n; j++) {
                double w1 = iw.get(0, 0, 0, j) - 1.0 / n, w2 = iw.get(0, 1, 0, j) - 1.0 / n;
                assertEquals(2 * w1, w2, 1e-5, map + " key " + j);
            }
        }
    }

    @Test
    void causalRowsDependOnThePrefixAndDecodeFromACacheEqualsPrefill() {
        int n = 600;
        InLine m = new InLine(InLine.Config.defaults(), Engine.defaults());
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 4, 2, 32));
        Tensor full = m.forward(in.q(), in.k(), in.v(), AttentionSpec.causal()).output();
        double scale = 0;
        for (float x : full.toArray()) {
            scale = Math.max(scale, Math.abs(x));
        }
        for (int t : new int[] {0, 5, 16, 255, 512, 599}) {
            Tensor prefix = m.forward(in.q().slice(1, 0, t + 1), in.k().slice(1, 0, t + 1), in.v().slice(1, 0, t + 1),
                    AttentionSpec.causal()).output();
            Tensor step = m.forward(in.q().slice(1, t, t + 1), in.k().slice(1, 0, t + 1), in.v().slice(1, 0, t + 1),
                    AttentionSpec.causal()).output();
            Tensor row = full.slice(1, t, t + 1);
            assertTrue(maxAbsDiff(prefix.slice(1, t, t + 1), row) <= 1e-6 * scale, "prefix row " + t);
            assertTrue(maxAbsDiff(step, row) <= 1e-6 * scale, "decode step " + t + ": " + maxAbsDiff(step, row)
                    + " at output scale " + scale);
        }
    }
}
