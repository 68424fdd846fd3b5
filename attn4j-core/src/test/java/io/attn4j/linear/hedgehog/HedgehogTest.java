package io.attn4j.linear.hedgehog;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.linear.Form;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static io.attn4j.testing.Numerics.assertFinite;
import static io.attn4j.testing.Numerics.relativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Hedgehog: φ is its formula, explicit maps equal linear attention by hand, the stability clamp, the diagnostics. */
class HedgehogTest {
    private static final Engine ENGINE = Engine.defaults();

    private static float[] gaussian(SplittableRandom random, int n, double sd) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (sd * random.nextGaussian());
        }
        return x;
    }

    private static float[][] maps(SplittableRandom random, int count, int n, double sd) {
        float[][] m = new float[count][];
        for (int i = 0; i < count; i++) {
            m[i] = gaussian(random, n, sd);
        }
        return m;
    }

    @Test
    void theFeatureMapIsItsFormula() {
        SplittableRandom random = new SplittableRandom(Fresh.seed());
        int f = 5, d = 3;
        float[] w = gaussian(random, f * d, 0.7), b = gaussian(random, f, 0.3), x = gaussian(random, d, 1);
        Hedgehog.FeatureMaps maps = Hedgehog.FeatureMaps.shared(f, d, w, b);
        double[] phi = maps.queryFeatures(0, x, 0);
        assertEquals(2 * f, phi.length);
        for (int i = 0; i < f; i++) {
            double u = b[i];
            for (int j = 0; j < d; j++) {
                u += (double) w[i * d + j] * x[j];
            }
            assertEquals(Math.exp(u), phi[i], 1e-12 * Math.exp(Math.abs(u)));
            assertEquals(Math.exp(-u), phi[f + i], 1e-12 * Math.exp(Math.abs(u)));
        }
        assertArrayEquals(phi, maps.keyFeatures(0, x, 0), "a shared map serves queries and keys");
        // the computed rows: queries are the formula divided by e^{max |u|}, keys the formula (below the clamp)
        float[] qOut = new float[2 * f], kOut = new float[2 * f];
        maps.query(0, x, 0, qOut, 0, new double[f]);
        maps.key(0, x, 0, kOut, 0, new double[f]);
        double ratio = qOut[0] / phi[0];
        for (int i = 0; i < 2 * f; i++) {
            assertEquals(ratio, qOut[i] / phi[i], 1e-6 * ratio, "query feature " + i);
            assertEquals(phi[i], kOut[i], 1e-6 * phi[i], "key feature " + i);
        }
        // the identity default: φ_q(q)·φ_k(k) = Σ_i 2 cosh(q_i + k_i)
        Hedgehog.FeatureMaps identity = new Hedgehog(Hedgehog.Config.defaults(), ENGINE).maps(d, 1);
        float[] y = gaussian(random, d, 1);
        double[] a = identity.queryFeatures(0, x, 0), c = identity.keyFeatures(0, y, 0);
        double kernel = 0, cosh = 0;
        for (int i = 0; i < 2 * d; i++) {
            kernel += a[i] * c[i];
        }
        for (int i = 0; i < d; i++) {
            cosh += 2 * Math.cosh((double) x[i] + y[i]);
        }
        assertEquals(cosh, kernel, 1e-12 * cosh);
    }

    /** Linear attention by hand: double loops over the formula's features, float64. */
    private static double[] byHand(Hedgehog.FeatureMaps maps, float[] q, float[] k, float[] v, int n, int lk, int heads,
                                   int kvHeads, int d, int dv, boolean causal) {
        double[] out = new double[n * heads * dv];
        for (int h = 0; h < heads; h++) {
            int g = h / (heads / kvHeads);
            for (int t = 0; t < n; t++) {
                double[] fq = maps.queryFeatures(maps.queryMap(h, heads, kvHeads), q, (t * heads + h) * d);
                double norm = 0;
                double[] num = new double[dv];
                int last = causal ? t + lk - n : lk - 1;
                for (int s = 0; s <= last; s++) {
                    double[] fk = maps.keyFeatures(maps.keyMap(g), k, (s * kvHeads + g) * d);
                    double weight = 0;
                    for (int i = 0; i < fq.length; i++) {
                        weight += fq[i] * fk[i];
                    }
                    norm += weight;
                    for (int c = 0; c < dv; c++) {
                        num[c] += weight * v[(s * kvHeads + g) * dv + c];
                    }
                }
                for (int c = 0; c < dv; c++) {
                    out[(t * heads + h) * dv + c] = norm == 0 ? 0 : num[c] / norm;
                }
            }
        }
        return out;
    }

    @Test
    void explicitMapsGiveLinearAttentionWithThoseFeatures() {
        SplittableRandom random = new SplittableRandom(Fresh.seed());
        int heads = 4, kvHeads = 2, d = 6, dv = 5, f = 4;
        // separate maps: one per query head, one per KV head for keys
        Hedgehog.FeatureMaps maps = new Hedgehog.FeatureMaps(f, d, maps(random, heads, f * d, 0.5),
                maps(random, heads, f, 0.2), maps(random, kvHeads, f * d, 0.5), maps(random, kvHeads, f, 0.2));
        Hedgehog hedgehog = new Hedgehog(Hedgehog.Config.of(maps), ENGINE);
        for (int[] lengths : new int[][] {{11, 11}, {3, 9}, {9, 9}}) {
            int n = lengths[0], lk = lengths[1];
            float[] q = gaussian(random, n * heads * d, 1), k = gaussian(random, lk * kvHeads * d, 1);
            float[] v = gaussian(random, lk * kvHeads * dv, 1);
            Tensor qt = Tensor.of(q, 1, n, heads, d), kt = Tensor.of(k, 1, lk, kvHeads, d);
            Tensor vt = Tensor.of(v, 1, lk, kvHeads, dv);
            for (boolean causal : new boolean[] {true, false}) {
                Tensor expected = Tensor.of(toFloats(byHand(maps, q, k, v, n, lk, heads, kvHeads, d, dv, causal)), 1,
                        n, heads, dv);
                AttentionSpec spec = causal ? AttentionSpec.causal() : AttentionSpec.noncausal();
                for (Form form : List.of(Form.reference(), Form.chunked(4), Form.recurrent())) {
                    Tensor ours = hedgehog.run(qt, kt, vt, spec, null, form).output();
                    double e = relativeError(ours, expected);
                    assertTrue(e <= 1e-5, form + " " + spec + " n=" + n + " lk=" + lk + ": error " + e + " (seed "
                            + Fresh.base() + ")");
                }
            }
        }
    }

    private static float[] toFloats(double[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = (float) x[i];
        }
        return y;
    }

    @Test
    void extremeKeysAndQueriesStayFinite() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 70, 2, 2, 16));
        float[] k = in.k().toArray(), q = in.q().toArray();
        for (int i = 0; i < k.length; i++) {
            k[i] *= 1e4f;
            q[i] *= 1e4f;
        }
        Tensor bigK = Tensor.of(k, in.k().shape()), bigQ = Tensor.of(q, in.q().shape());
        Hedgehog hedgehog = new Hedgehog(Hedgehog.Config.seeded(0, Fresh.seed()), ENGINE);
        for (Form form : List.of(Form.reference(), Form.chunked(), Form.recurrent())) {
            var r = hedgehog.run(bigQ, bigK, in.v(), AttentionSpec.causal(), null, form);
            assertFinite(r.output(), "hedgehog on |x| ~ 1e4, " + form);
            for (float x : r.state().data()) {
                assertTrue(Float.isFinite(x), "state holds " + x);
            }
        }
    }

    @Test
    void mapsThatDoNotFitTheCallAreRefused() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 8, 4, 2, 16));
        Hedgehog wrongDim = new Hedgehog(Hedgehog.Config.of(Hedgehog.FeatureMaps.identity(8, 8)), ENGINE);
        var e = assertThrows(IllegalArgumentException.class,
                () -> wrongDim.forward(in.q(), in.k(), in.v(), AttentionSpec.causal()));
        assertTrue(e.getMessage().contains("head dim 8") && e.getMessage().contains("16"), e.getMessage());
        float[][] three = new float[3][16 * 16], bias = new float[3][16];
        Hedgehog wrongHeads = new Hedgehog(Hedgehog.Config.of(Hedgehog.FeatureMaps.tied(16, 16, three, bias)), ENGINE);
        var h = assertThrows(IllegalArgumentException.class,
                () -> wrongHeads.forward(in.q(), in.k(), in.v(), AttentionSpec.causal()));
        assertTrue(h.getMessage().contains("3 query maps"), h.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Hedgehog.FeatureMaps.shared(2, 2, new float[3],
                new float[2]));
        assertThrows(IllegalArgumentException.class, () -> Hedgehog.FeatureMaps.shared(1, 1, new float[] {Float.NaN},
                new float[1]));
    }

    // ------------------------------------------------------------------------------------------ diagnostics

    @Test
    void softmaxWeightsAreMonotoneAndUniformWeightsHaveEntropyLogN() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(2, 50, 4, 2, 16));
        AttentionSpec noncausal = AttentionSpec.noncausal(), causal = AttentionSpec.causal();
        var softmax = HedgehogDiagnostics.measure(in.q(), in.k(), noncausal, HedgehogDiagnostics.softmax(0.25));
        assertEquals(1.0, softmax.monotonicity(), 0.0, "weights ∝ exp(q·k) follow q·k");
        assertEquals(2L * 4 * 50 * 49 / 2 * 50, softmax.pairs(), "every pair of every row");
        var reversed = HedgehogDiagnostics.measure(in.q(), in.k(), noncausal,
                (h, q, qo, k, ko, d) -> -HedgehogDiagnostics.softmax(1).logWeight(h, q, qo, k, ko, d));
        assertEquals(0.0, reversed.monotonicity(), 0.0);
        HedgehogDiagnostics.Kernel uniform = (h, q, qo, k, ko, d) -> 0;
        var flat = HedgehogDiagnostics.measure(in.q(), in.k(), noncausal, uniform);
        assertEquals(Math.log(50), flat.entropy(), 1e-12);
        assertEquals(0.5, flat.monotonicity(), 0.0, "all weights tied");
        // causal: row i sees i + 1 keys
        double expected = 0;
        for (int i = 0; i < 50; i++) {
            expected += Math.log(i + 1);
        }
        assertEquals(expected / 50, HedgehogDiagnostics.spikiness(in.q(), in.k(), causal, uniform), 1e-12);
        assertTrue(softmax.entropy() < Math.log(50), "softmax is spikier than uniform");
    }

    @Test
    void longRowsAreSampledAndStillMeasured() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.cross(1, 200, 1000, 1, 1, 8));
        var r = HedgehogDiagnostics.measure(in.q(), in.k(), AttentionSpec.noncausal(), HedgehogDiagnostics.softmax(1),
                10);
        assertEquals(10, r.rows());
        assertEquals(1.0, r.monotonicity(), 0.0);
        assertTrue(r.pairs() > 0 && r.pairs() <= 10L * HedgehogDiagnostics.ALL_PAIRS_UP_TO, "pairs " + r.pairs());
        assertTrue(r.entropy() > 0 && r.entropy() < Math.log(1000), "entropy " + r.entropy());
    }

    @Test
    void hedgehogsKernelAgainstSoftmaxOnTheSameInputs() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 64, 2, 2, 16));
        Hedgehog.FeatureMaps identity = new Hedgehog(Hedgehog.Config.defaults(), ENGINE).maps(16, 2);
        var hedgehog = HedgehogDiagnostics.measure(in.q(), in.k(), AttentionSpec.causal(),
                HedgehogDiagnostics.hedgehog(identity, 2, 2));
        var softmax = HedgehogDiagnostics.measure(in.q(), in.k(), AttentionSpec.causal(),
                HedgehogDiagnostics.softmax(0.25));
        System.out.printf("identity hedgehog: entropy %.3f, monotonicity %.3f; softmax: entropy %.3f, monotonicity "
                + "%.3f%n", hedgehog.entropy(), hedgehog.monotonicity(), softmax.entropy(), softmax.monotonicity());
        assertTrue(hedgehog.monotonicity() > 0.5 && hedgehog.monotonicity() < 1, "" + hedgehog.monotonicity());
        // the diagnostics' kernel equals the mechanism's weights: one query row's output by hand
        double[] logits = new double[64];
        var kernel = HedgehogDiagnostics.hedgehog(identity, 2, 2);
        float[] q = in.q().toArray(), k = in.k().toArray();
        double direct = 0, viaLog = 0;
        for (int s = 0; s < 64; s++) {
            logits[s] = kernel.logWeight(1, q, (63 * 2 + 1) * 16, k, (s * 2 + 1) * 16, 16);
            double[] a = identity.queryFeatures(0, q, (63 * 2 + 1) * 16), b = identity.keyFeatures(0, k,
                    (s * 2 + 1) * 16);
            double w = 0;
            for (int i = 0; i < a.length; i++) {
                w += a[i] * b[i];
            }
            direct += w;
            viaLog += Math.exp(logits[s]);
        }
        assertEquals(direct, viaLog, 1e-9 * direct);
    }
}
