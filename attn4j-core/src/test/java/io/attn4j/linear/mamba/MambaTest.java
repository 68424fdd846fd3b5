package io.attn4j.linear.mamba;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.linear.Form;
import io.attn4j.linear.LinearState;
import io.attn4j.linear.RecurrentResult;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import io.attn4j.testing.SimdPaths;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.attn4j.testing.Numerics.assertFinite;
import static io.attn4j.testing.Numerics.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What is specific to Mamba: the explicit scan against a hand-written loop, extreme steps and decays, the
 * cumulative sum at A = 0, the skip term, GQA on the explicit API, the mapping of the mechanism onto the scan, the
 * paper's initialisation and the refusals.
 */
class MambaTest {
    private static final List<Form> FORMS = List.of(Form.reference(), Form.recurrent(), Form.chunked(),
            Form.chunked(1), Form.chunked(7));

    static List<VectorOps> paths() {
        return SimdPaths.all();
    }

    private static Tensor random(Random r, double scale, int... shape) {
        float[] data = new float[Arrays.stream(shape).reduce(1, (x, y) -> x * y)];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) (scale * r.nextGaussian());
        }
        return Tensor.of(data, shape);
    }

    private static Tensor uniform(Random r, double lo, double hi, int... shape) {
        float[] data = new float[Arrays.stream(shape).reduce(1, (x, y) -> x * y)];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) (lo + (hi - lo) * r.nextDouble());
        }
        return Tensor.of(data, shape);
    }

    private static Tensor filled(float value, int... shape) {
        Tensor t = Tensor.zeros(shape);
        t.fill(value);
        return t;
    }

    private static double stateError(LinearState a, LinearState b) {
        return relativeError(Tensor.of(a.data().clone(), a.data().length), Tensor.of(b.data().clone(),
                b.data().length));
    }

    /** The recurrence written out over plain arrays, in float64: output and final state. */
    private static double[][] handLoop(Tensor x, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d,
                                       LinearState initial) {
        int batch = x.size(0), len = x.size(1), heads = x.size(2), dv = x.size(3), n = b.size(3);
        int hq = c.size(2), group = hq / heads;
        double[] y = new double[batch * len * hq * dv];
        double[] fin = new double[batch * heads * dv * n];
        for (int bi = 0; bi < batch; bi++) {
            for (int g = 0; g < heads; g++) {
                double[][] h = new double[dv][n];
                for (int ch = 0; ch < dv; ch++) {
                    for (int i = 0; i < n; i++) {
                        h[ch][i] = initial == null ? 0 : initial.data()[initial.offset(bi, g) + ch * n + i];
                    }
                }
                for (int t = 0; t < len; t++) {
                    for (int ch = 0; ch < dv; ch++) {
                        double dt = delta.get(bi, t, g, ch), xt = x.get(bi, t, g, ch);
                        for (int i = 0; i < n; i++) {
                            h[ch][i] = Math.exp(dt * a.get(g, ch, i)) * h[ch][i] + dt * b.get(bi, t, g, i) * xt;
                        }
                    }
                    for (int qh = g * group; qh < (g + 1) * group; qh++) {
                        for (int ch = 0; ch < dv; ch++) {
                            double sum = d == null ? 0 : d.get(g, ch) * x.get(bi, t, g, ch);
                            for (int i = 0; i < n; i++) {
                                sum += c.get(bi, t, qh, i) * h[ch][i];
                            }
                            y[((bi * len + t) * hq + qh) * dv + ch] = sum;
                        }
                    }
                }
                for (int ch = 0; ch < dv; ch++) {
                    for (int i = 0; i < n; i++) {
                        fin[((bi * heads + g) * dv + ch) * n + i] = h[ch][i];
                    }
                }
            }
        }
        return new double[][] {y, fin};
    }

    private static Tensor toTensor(double[] values, int... shape) {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) values[i];
        }
        return Tensor.of(f, shape);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void theExplicitScanMatchesAHandWrittenDoubleLoop(VectorOps ops) {
        Random r = new Random(Fresh.seed());
        int batch = 2, len = 11, heads = 2, hq = 4, dv = 3, n = 5;
        Tensor x = random(r, 1, batch, len, heads, dv), b = random(r, 1, batch, len, heads, n);
        Tensor c = random(r, 1, batch, len, hq, n), d = random(r, 1, heads, dv);
        Tensor delta = uniform(r, 0.01, 1.5, batch, len, heads, dv), a = uniform(r, -3, -0.05, heads, dv, n);
        LinearState initial = LinearState.of(random(r, 0.5, batch * heads * dv * n).toArray(), batch, heads, dv * n);
        double[][] expected = handLoop(x, delta, a, b, c, d, initial);
        Tensor y = toTensor(expected[0], batch, len, hq, dv);
        LinearState fin = LinearState.of(toTensor(expected[1], expected[1].length).toArray(), batch, heads, dv * n);
        for (Form form : FORMS) {
            RecurrentResult ours = Mamba.scan(Engine.of(ops, 3), x, delta, a, b, c, d, initial.copy(), form);
            double e = relativeError(ours.output(), y), s = stateError(ours.state(), fin);
            assertTrue(e <= 1e-6 && s <= 1e-6, form + " on " + ops.name() + ": errors " + e + ", " + s);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void extremeStepsAndDecaysStayFiniteAndTheFormsAgree(VectorOps ops) {
        Random r = new Random(Fresh.seed());
        // one sequence, one head, long enough that the chunked form runs in parts
        int len = 1500, dv = 4, n = 6;
        Tensor x = random(r, 1, 1, len, 1, dv), b = random(r, 1, 1, len, 1, n), c = random(r, 1, 1, len, 2, n);
        Tensor d = filled(1f, 1, dv);
        for (float step : new float[] {1e-6f, 1e3f}) {
            for (float decay : new float[] {-1e-7f, -1e-3f, -1e3f, -1e6f}) {
                Tensor delta = filled(step, 1, len, 1, dv), a = filled(decay, 1, dv, n);
                check(ops, x, delta, a, b, c, d, "Δ = " + step + ", A = " + decay);
            }
        }
        Tensor mixedDelta = Tensor.zeros(1, len, 1, dv), mixedA = Tensor.zeros(1, dv, n);
        for (int t = 0; t < len; t++) {
            for (int ch = 0; ch < dv; ch++) {
                mixedDelta.set(r.nextBoolean() ? 1e-6f : 1e3f, 0, t, 0, ch);
            }
        }
        for (int ch = 0; ch < dv; ch++) {
            for (int i = 0; i < n; i++) {
                mixedA.set((i + ch) % 2 == 0 ? -1e-7f : -1e4f, 0, ch, i);
            }
        }
        // both extremes mixed per token, channel and state index
        check(ops, x, mixedDelta, mixedA, b, c, d, "mixed extremes");
        mixedA.fill(0f);
        check(ops, x, mixedDelta, mixedA, b, c, d, "A = 0 (no decay), Δ up to 1e3");
    }

    private static void check(VectorOps ops, Tensor x, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d,
                              String what) {
        Engine engine = Engine.of(ops, 3);
        RecurrentResult ref = Mamba.scan(engine, x, delta, a, b, c, d, null, Form.reference());
        for (Form form : FORMS) {
            RecurrentResult ours = Mamba.scan(engine, x, delta, a, b, c, d, null, form);
            assertFinite(ours.output(), what + " " + form);
            for (float v : ours.state().data()) {
                assertTrue(Float.isFinite(v), what + " " + form + ": state holds " + v);
            }
            double e = relativeError(ours.output(), ref.output()), s = stateError(ours.state(), ref.state());
            // the family's gated bound: Δ = 1e3 with A = −1e−7 is a float32 running sum of 1500 large terms
            assertTrue(e <= 1e-4 && s <= 1e-4, what + " " + form + " on " + ops.name() + ": errors " + e + ", " + s);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void withAZeroAndDeltaOneTheScanIsACumulativeSum(VectorOps ops) {
        // B = 1, C = e₀, x_t = t + 1: y_t[c] = Σ_{s ≤ t} (s + 1) = (t + 1)(t + 2) / 2, exact in float32 here
        int len = 3000, dv = 2, n = 4;
        Tensor x = Tensor.zeros(1, len, 1, dv), c = Tensor.zeros(1, len, 1, n);
        for (int t = 0; t < len; t++) {
            for (int ch = 0; ch < dv; ch++) {
                x.set(t + 1f, 0, t, 0, ch);
            }
            c.set(1f, 0, t, 0, 0);
        }
        Tensor b = filled(1f, 1, len, 1, n), delta = filled(1f, 1, len, 1, dv), a = Tensor.zeros(1, dv, n);
        for (Form form : FORMS) {
            RecurrentResult ours = Mamba.scan(Engine.of(ops, 3), x, delta, a, b, c, null, null, form);
            for (int t = 0; t < len; t++) {
                double expected = (t + 1.0) * (t + 2.0) / 2;
                for (int ch = 0; ch < dv; ch++) {
                    assertEquals(expected, ours.output().get(0, t, 0, ch), 1e-7 * expected, form + " at t = " + t);
                }
            }
            double last = len * (len + 1.0) / 2;
            for (float h : ours.state().data()) {
                assertEquals(last, h, 1e-7 * last, form + ": final state");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void theSkipTermAddsDTimesX(VectorOps ops) {
        Random r = new Random(Fresh.seed());
        int len = 40, heads = 2, dv = 5, n = 8;
        Tensor x = random(r, 1, 1, len, heads, dv), b = random(r, 1, 1, len, heads, n);
        Tensor c = random(r, 1, 1, len, heads, n), d = random(r, 1, heads, dv);
        Tensor delta = uniform(r, 0.001, 0.5, 1, len, heads, dv), a = uniform(r, -4, -0.5, heads, dv, n);
        for (Form form : FORMS) {
            Tensor with = Mamba.scan(Engine.of(ops, 2), x, delta, a, b, c, d, null, form).output();
            Tensor without = Mamba.scan(Engine.of(ops, 2), x, delta, a, b, c, null, null, form).output();
            for (int t = 0; t < len; t++) {
                for (int g = 0; g < heads; g++) {
                    for (int ch = 0; ch < dv; ch++) {
                        float skip = d.get(g, ch) * x.get(0, t, g, ch);
                        assertEquals(skip, with.get(0, t, g, ch) - without.get(0, t, g, ch), 1e-5,
                                form + " at " + t + ", " + g + ", " + ch);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void queryHeadsReadTheStateOfTheirKvHead(VectorOps ops) {
        Random r = new Random(Fresh.seed());
        int len = 600, heads = 2, group = 3, dv = 4, n = 8;
        Tensor x = random(r, 1, 1, len, heads, dv), b = random(r, 1, 1, len, heads, n);
        Tensor c = random(r, 1, 1, len, heads * group, n), d = random(r, 1, heads, dv);
        Tensor delta = uniform(r, 0.001, 0.3, 1, len, heads, dv), a = uniform(r, -8, -0.5, heads, dv, n);
        Tensor xr = repeat(x, group), br = repeat(b, group), deltaR = repeat(delta, group);
        Tensor ar = Tensor.zeros(heads * group, dv, n), dr = Tensor.zeros(heads * group, dv);
        for (int h = 0; h < heads * group; h++) {
            ar.slice(0, h, h + 1).copyFrom(a.slice(0, h / group, h / group + 1));
            dr.slice(0, h, h + 1).copyFrom(d.slice(0, h / group, h / group + 1));
        }
        for (Form form : FORMS) {
            Tensor gqa = Mamba.scan(Engine.of(ops, 3), x, delta, a, b, c, d, null, form).output();
            Tensor mha = Mamba.scan(Engine.of(ops, 3), xr, deltaR, ar, br, c, dr, null, form).output();
            assertTrue(relativeError(gqa, mha) <= 1e-6, form + ": GQA vs repeated heads " + relativeError(gqa, mha));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void packedDocumentsWithAnEmptyOneCutIntoPartsEqualTheirOwnRuns(VectorOps ops) {
        Random r = new Random(Fresh.seed());
        int[] offsets = {0, 600, 600, 1500, 1503};
        int len = offsets[offsets.length - 1], dv = 4, n = 8;
        Tensor x = random(r, 1, 1, len, 1, dv), b = random(r, 1, 1, len, 1, n), c = random(r, 1, 1, len, 2, n);
        Tensor delta = uniform(r, 0.001, 0.1, 1, len, 1, dv), a = uniform(r, -3, -0.01, 1, dv, n);
        Tensor d = random(r, 1, 1, dv);
        AttentionSpec packed = AttentionSpec.causal().mask(io.attn4j.attention.Masks.documents(offsets));
        Engine engine = Engine.of(ops, 3);
        for (Form form : FORMS) {
            RecurrentResult all = Mamba.scan(engine, x, delta, a, b, c, d, packed, null, form);
            for (int doc = 0; doc + 1 < offsets.length; doc++) {
                int from = offsets[doc], to = offsets[doc + 1];
                if (from == to) {
                    continue;
                }
                RecurrentResult alone = Mamba.scan(engine, x.slice(1, from, to), delta.slice(1, from, to), a,
                        b.slice(1, from, to), c.slice(1, from, to), d, null, Form.reference());
                double e = relativeError(all.output().slice(1, from, to), alone.output());
                assertTrue(e <= 1e-5, form + " document " + doc + ": error " + e);
            }
            for (int i = 0; i < dv * n; i++) {
                assertEquals(0f, all.state().data()[all.state().offset(1, 0) + i], form + ": the empty document");
            }
        }
    }

    /** [B, L, H, D] → [B, L, H·g, D] with head h copied to heads h·g … h·g + g − 1. */
    private static Tensor repeat(Tensor t, int g) {
        Tensor out = Tensor.zeros(t.size(0), t.size(1), t.size(2) * g, t.size(3));
        for (int i = 0; i < t.size(2) * g; i++) {
            out.slice(2, i, i + 1).copyFrom(t.slice(2, i / g, i / g + 1));
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void theMechanismIsTheScanOfItsProjectedStep(VectorOps ops) {
        Random r = new Random(Fresh.seed());
        int heads = 2, dv = 6, n = 4, len = 50;
        Mamba.Parameters w = new Mamba.Parameters(heads, dv, n, random(r, 0.3, heads * dv * dv).toArray(),
                random(r, 1, heads * dv).toArray(), random(r, 0.5, heads * dv * n).toArray(),
                random(r, 1, heads * dv).toArray());
        AttentionInputs in = StandardInputs.random(Fresh.seed(), new InputShape(1, len, len, 4, heads, n, dv));
        Mamba mamba = new Mamba(Mamba.Config.of(w), Engine.of(ops, 3));
        Tensor delta = Tensor.zeros(1, len, heads, dv);
        Tensor a = Tensor.zeros(heads, dv, n);
        for (int g = 0; g < heads; g++) {
            for (int ch = 0; ch < dv; ch++) {
                for (int t = 0; t < len; t++) {
                    double z = w.deltaBias()[g * dv + ch];
                    for (int j = 0; j < dv; j++) {
                        z += (double) w.deltaWeight()[(g * dv + ch) * dv + j] * in.v().get(0, t, g, j);
                    }
                    delta.set((float) Math.log1p(Math.exp(z)), 0, t, g, ch);
                }
                for (int i = 0; i < n; i++) {
                    a.set((float) -Math.exp(w.aLog()[(g * dv + ch) * n + i]), g, ch, i);
                }
            }
        }
        Tensor d = Tensor.of(w.skip().clone(), heads, dv);
        for (Form form : FORMS) {
            RecurrentResult viaMechanism = mamba.run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, form);
            RecurrentResult viaScan = Mamba.scan(Engine.of(ops, 3), in.v(), delta, a, in.k(), in.q(), d, null,
                    Form.reference());
            double e = relativeError(viaMechanism.output(), viaScan.output());
            assertTrue(e <= 1e-5, form + ": mechanism vs scan " + e);
        }
    }

    @Test
    void theSeededInitIsThePapers() {
        Mamba.Parameters w = Mamba.Parameters.initial(7, 64, 16);
        assertEquals(1, w.heads());
        for (int ch = 0; ch < 64; ch++) {
            float step = Mamba.softplus(w.deltaBias()[ch]);
            assertTrue(step >= 0.001f * 0.999f && step <= 0.1f * 1.001f, "Δ₀ = " + step);
            assertEquals(1f, w.skip()[ch]);
            for (int i = 0; i < 16; i++) {
                assertEquals(-(i + 1), -Math.exp(w.aLog()[ch * 16 + i]), 1e-5);
            }
            for (int j = 0; j < 64; j++) {
                assertTrue(Math.abs(w.deltaWeight()[ch * 64 + j]) <= 1 / 8f);
            }
        }
        assertEquals(Arrays.toString(w.deltaWeight()), Arrays.toString(Mamba.Parameters.initial(7, 64, 16)
                .deltaWeight()), "the same seed gives the same parameters");
    }

    @Test
    void badParametersAndOperandsAreRefusedClearly() {
        Random r = new Random(Fresh.seed());
        int len = 5, dv = 3, n = 4;
        Tensor x = random(r, 1, 1, len, 1, dv), b = random(r, 1, 1, len, 1, n), c = random(r, 1, 1, len, 1, n);
        Tensor delta = uniform(r, 0.1, 1, 1, len, 1, dv), a = uniform(r, -2, -1, 1, dv, n);
        Engine engine = Engine.defaults();
        Tensor positive = a.copy();
        positive.set(0.5f, 0, 1, 2);
        var e1 = assertThrows(IllegalArgumentException.class,
                () -> Mamba.scan(engine, x, delta, positive, b, c, null, null, Form.chunked()));
        assertTrue(e1.getMessage().contains("a holds 0.5") && e1.getMessage().contains("<= 0"), e1.getMessage());
        Tensor negative = delta.copy();
        negative.set(-0.1f, 0, 2, 0, 1);
        var e2 = assertThrows(IllegalArgumentException.class,
                () -> Mamba.scan(engine, x, negative, a, b, c, null, null, Form.chunked()));
        assertTrue(e2.getMessage().contains("delta holds -0.1"), e2.getMessage());
        var e3 = assertThrows(IllegalArgumentException.class,
                () -> Mamba.scan(engine, x, delta, Tensor.zeros(1, dv, n + 1), b, c, null, null, Form.chunked()));
        assertTrue(e3.getMessage().contains("a has shape"), e3.getMessage());
        var e4 = assertThrows(IllegalArgumentException.class,
                () -> Mamba.scan(engine, x, Tensor.zeros(1, len, 1, dv + 1), a, b, c, null, null, Form.chunked()));
        assertTrue(e4.getMessage().contains("delta has shape"), e4.getMessage());
        Mamba.Parameters w = Mamba.Parameters.initial(1, dv, n);
        Mamba mamba = new Mamba(Mamba.Config.of(w));
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, len, 2, 1, 8));
        var e5 = assertThrows(IllegalArgumentException.class,
                () -> mamba.run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, Form.chunked()));
        assertTrue(e5.getMessage().contains("parameters are for"), e5.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Mamba.Parameters(1, dv, n, w.deltaWeight(),
                w.deltaBias(), new float[dv * n + 1], w.skip()));
        assertThrows(IllegalArgumentException.class, () -> Mamba.scan(engine, x, delta, a, b, c, null,
                AttentionSpec.noncausal(), null, Form.chunked()));
    }

    @Test
    void longRunsStayCloseToTheReference() {
        // 64K tokens, one head: the chunked form runs 8 parts; errors printed for the record
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 1 << 16, 1, 1, 16));
        Mamba.Parameters init = Mamba.Parameters.initial(3, 16, 16);
        Mamba.Parameters noSkip = new Mamba.Parameters(1, 16, 16, init.deltaWeight(), init.deltaBias(), init.aLog(),
                new float[16]);
        // without the skip term the output is the scan's alone
        for (Mamba mamba : List.of(new Mamba(Mamba.Config.of(init)), new Mamba(Mamba.Config.of(noSkip)))) {
            var ref = mamba.run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, Form.reference());
            for (Form form : List.of(Form.recurrent(), Form.chunked())) {
                var ours = mamba.run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, form);
                double e = relativeError(ours.output(), ref.output()), s = stateError(ours.state(), ref.state());
                System.out.printf("mamba %s (D %s) over 2^16 tokens: output error %.2e, state error %.2e%n", form,
                        mamba.config().parameters().skip()[0], e, s);
                assertTrue(e <= 1e-5 && s <= 1e-5, form + ": errors " + e + ", " + s);
            }
        }
    }
}
