package io.attn4j.linear.lightnet;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.linear.Form;
import io.attn4j.linear.RecurrentResult;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import io.attn4j.testing.SimdPaths;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Random;

import static io.attn4j.testing.Numerics.assertFinite;
import static io.attn4j.testing.Numerics.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LightNet equals a direct float64 computation of its normalised cumulative sums
 * {@code o_t = scale · Σ_i q_t[i] Σ_{s≤t} softmax_{s≤t}(k[i]) v_s} in every form, causal (self and bottom-right
 * cross) and noncausal; stays exact at extreme keys (gates near 0 and near 1); its state rows are convex
 * combinations; and its noncausal output does not depend on the scan order.
 */
class LightNetTest {
    private static final List<Form> FORMS = List.of(Form.reference(), Form.recurrent(), Form.chunked(),
            Form.chunked(1), Form.chunked(7), Form.chunked(16));

    static List<VectorOps> paths() {
        return SimdPaths.all();
    }

    private static LightNet lightnet(VectorOps ops) {
        return new LightNet(io.attn4j.linear.FormConfig.defaults(), Engine.of(ops, 3));
    }

    /** The normalised cumulative sums, straight from their definition, in float64 (bottom-right causal). */
    static Tensor direct(Tensor q, Tensor k, Tensor v, float scale, boolean causal) {
        int batch = q.size(0), lq = q.size(1), heads = q.size(2), d = q.size(3);
        int lk = k.size(1), kvHeads = k.size(2), dv = v.size(3), group = heads / kvHeads;
        Tensor out = Tensor.zeros(batch, lq, heads, dv);
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                int g = h / group;
                for (int j = 0; j < lq; j++) {
                    int last = causal ? j + lk - lq : lk - 1;
                    double[] o = new double[dv];
                    for (int i = 0; i < d && last >= 0; i++) {
                        double max = Double.NEGATIVE_INFINITY;
                        for (int s = 0; s <= last; s++) {
                            max = Math.max(max, k.get(b, s, g, i));
                        }
                        double z = 0;
                        for (int s = 0; s <= last; s++) {
                            z += Math.exp(k.get(b, s, g, i) - max);
                        }
                        double qi = (double) scale * q.get(b, j, h, i);
                        for (int s = 0; s <= last; s++) {
                            double weight = qi * Math.exp(k.get(b, s, g, i) - max) / z;
                            for (int c = 0; c < dv; c++) {
                                o[c] += weight * v.get(b, s, g, c);
                            }
                        }
                    }
                    for (int c = 0; c < dv; c++) {
                        out.set((float) o[c], b, j, h, c);
                    }
                }
            }
        }
        return out;
    }

    private static void assertMatchesDirect(String what, VectorOps ops, Tensor q, Tensor k, Tensor v,
                                            AttentionSpec spec, double tolerance) {
        float scale = (float) (1 / Math.sqrt(q.size(3)));
        Tensor expected = direct(q, k, v, scale, spec.isCausal());
        for (Form form : FORMS) {
            Tensor ours = lightnet(ops).run(q, k, v, spec, null, form).output();
            assertFinite(ours, what + " " + form);
            double e = relativeError(ours, expected);
            assertTrue(e <= tolerance, what + " " + form + " on " + ops.name() + ": error " + e + " > " + tolerance
                    + " (seed " + Fresh.base() + ")");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void everyFormEqualsTheDirectNormalisedCumulativeSums(VectorOps ops) {
        for (int n : new int[] {1, 3, 17, 65, 200}) {
            AttentionInputs in = StandardInputs.random(Fresh.seed(), new InputShape(2, n, n, 4, 2, 16, 12));
            assertMatchesDirect("CS n=" + n, ops, in.q(), in.k(), in.v(), AttentionSpec.causal(), 1e-5);
            assertMatchesDirect("NS n=" + n, ops, in.q(), in.k(), in.v(), AttentionSpec.noncausal(), 1e-5);
        }
        for (int[] l : new int[][] {{40, 97}, {3, 50}, {30, 20}}) {
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.cross(1, l[0], l[1], 4, 1, 16));
            assertMatchesDirect("CC " + l[0] + "x" + l[1], ops, in.q(), in.k(), in.v(), AttentionSpec.causal(), 1e-5);
            assertMatchesDirect("NC " + l[0] + "x" + l[1], ops, in.q(), in.k(), in.v(), AttentionSpec.noncausal(),
                    1e-5);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void extremeKeysStayExact(VectorOps ops) {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 150, 2, 1, 16));
        // large keys: exp(k) overflows float32, gates reach e^{-300} (near 0) whenever a key jumps
        for (float factor : new float[] {60f, 400f, -400f}) {
            float[] x = in.k().toArray();
            for (int i = 0; i < x.length; i++) {
                x[i] *= factor;
            }
            Tensor scaled = Tensor.of(x, in.k().shape());
            assertMatchesDirect("keys × " + factor, ops, in.q(), scaled, in.v(), AttentionSpec.causal(), 1e-4);
        }
    }

    @Test
    void gatesNearOneOverLongRunsAverageTheValues() {
        // equal keys: Z_t = t·e^k, gates (t − 1) / t → 1, and S_t is the running mean of the values
        int n = 20000, d = 4;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 1, 1, d));
        Tensor k = Tensor.zeros(1, n, 1, d);
        k.fill(3f);
        float scale = 0.5f;
        for (Form form : List.of(Form.recurrent(), Form.chunked(), Form.reference())) {
            Tensor out = lightnet(SimdPaths.all().getFirst()).run(in.q(), k, in.v(), AttentionSpec.causal()
                    .scale(scale), null, form).output();
            double[] sum = new double[d];
            double worst = 0;
            for (int t = 0; t < n; t++) {
                double qsum = 0;
                for (int i = 0; i < d; i++) {
                    qsum += scale * in.q().get(0, t, 0, i);
                }
                for (int c = 0; c < d; c++) {
                    sum[c] += in.v().get(0, t, 0, c);
                }
                if (t % 997 == 0 || t == n - 1) {
                    for (int c = 0; c < d; c++) {
                        double expected = qsum * sum[c] / (t + 1);
                        worst = Math.max(worst, Math.abs(out.get(0, t, 0, c) - expected));
                    }
                }
            }
            assertTrue(worst < 1e-4, form + ": running mean off by " + worst);
        }
    }

    @Test
    void stateRowsAreConvexCombinations() {
        // v = 1: every row of S sums its weights to 1, so o_t = scale · Σ_i q_t[i]
        int n = 300, d = 8;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 2, 2, d));
        Tensor ones = Tensor.zeros(1, n, 2, d);
        ones.fill(1f);
        float scale = (float) (1 / Math.sqrt(d));
        for (Form form : FORMS) {
            RecurrentResult r = lightnet(SimdPaths.all().getFirst()).run(in.q(), in.k(), ones,
                    AttentionSpec.causal(), null, form);
            for (int t = 0; t < n; t += 13) {
                for (int h = 0; h < 2; h++) {
                    double qsum = 0;
                    for (int i = 0; i < d; i++) {
                        qsum += scale * in.q().get(0, t, h, i);
                    }
                    assertEquals(qsum, r.output().get(0, t, h, 0), 1e-5, form + " row " + t);
                }
            }
            // the state holds S (rows of ones), log Z and the token count
            float[] s = r.state().data();
            int at = r.state().offset(0, 1);
            assertEquals(1f, s[at + 5], 1e-5);
            assertEquals(n, s[at + d * d + d]);
            double max = Double.NEGATIVE_INFINITY, z = 0;
            for (int t = 0; t < n; t++) {
                max = Math.max(max, in.k().get(0, t, 1, 2));
            }
            for (int t = 0; t < n; t++) {
                z += Math.exp(in.k().get(0, t, 1, 2) - max);
            }
            assertEquals(max + Math.log(z), s[at + d * d + 2], 1e-5, form + ": log Z");
        }
    }

    @Test
    void theNoncausalFormDoesNotDependOnTheScanOrder() {
        // the "one scan" property: a single normalisation, so any order of the keys gives the same state
        int n = 257;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 2, 1, 16));
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Random random = new Random(Fresh.seed());
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1), x = order[i];
            order[i] = order[j];
            order[j] = x;
        }
        Tensor k = in.k().copy(), v = in.v().copy();
        for (int i = 0; i < n; i++) {
            k.slice(1, i, i + 1).copyFrom(in.k().slice(1, order[i], order[i] + 1));
            v.slice(1, i, i + 1).copyFrom(in.v().slice(1, order[i], order[i] + 1));
        }
        LightNet l = lightnet(SimdPaths.all().getFirst());
        for (Form form : FORMS) {
            Tensor a = l.run(in.q(), in.k(), in.v(), AttentionSpec.noncausal(), null, form).output();
            Tensor b = l.run(in.q(), k, v, AttentionSpec.noncausal(), null, form).output();
            assertTrue(relativeError(b, a) < 1e-6, form + ": scan order changed the output by " + relativeError(b, a));
        }
    }
}
