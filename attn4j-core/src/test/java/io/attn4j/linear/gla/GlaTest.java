package io.attn4j.linear.gla;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.linear.Form;
import io.attn4j.linear.RecurrentResult;
import io.attn4j.linear.lightning.Lightning;
import io.attn4j.linear.linear.LinearAttention;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GLA with explicit gates, at the extremes, and its relations to lightning and plain linear attention. */
class GlaTest {
    static List<VectorOps> paths() {
        return SimdPaths.all();
    }

    private static Tensor gates(long seed, int b, int n, int h, int d, double lo, double hi) {
        Random random = new Random(seed);
        float[] g = new float[b * n * h * d];
        for (int i = 0; i < g.length; i++) {
            g[i] = (float) -(lo + (hi - lo) * random.nextDouble());
        }
        return Tensor.of(g, b, n, h, d);
    }

    private static void formsAgree(Gla gla, AttentionInputs in, Tensor logGates, String what) {
        RecurrentResult ref = gla.run(in.q(), in.k(), in.v(), logGates, AttentionSpec.causal(), null, Form.reference());
        for (Form form : List.of(Form.chunked(), Form.chunked(16), Form.recurrent())) {
            RecurrentResult ours = gla.run(in.q(), in.k(), in.v(), logGates, AttentionSpec.causal(), null, form);
            assertFinite(ours.output(), what + " " + form);
            double e = relativeError(ours.output(), ref.output());
            assertTrue(e <= 1e-4, what + " " + form + ": error " + e + " (seed " + Fresh.base() + ")");
        }
    }

    @ParameterizedTest
    @MethodSource("paths")
    void extremeGatesStayFiniteAndTheFormsAgree(VectorOps ops) {
        Gla gla = new Gla(Gla.Config.defaults(), Engine.of(ops, 3));
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 300, 2, 2, 32));
        // near 1 (log a ≈ −1e-6), moderate, near 0 (log a down to −60: the factored intra-chunk path is refused),
        // and a mix of features that forget at once beside features that never do
        formsAgree(gla, in, gates(Fresh.seed(), 1, 300, 2, 32, 0, 1e-6), "gates near 1");
        formsAgree(gla, in, gates(Fresh.seed(), 1, 300, 2, 32, 0.01, 0.5), "moderate gates");
        formsAgree(gla, in, gates(Fresh.seed(), 1, 300, 2, 32, 5, 60), "gates near 0");
        Tensor mixed = gates(Fresh.seed(), 1, 300, 2, 32, 0, 1e-3);
        for (int t = 0; t < 300; t++) {
            for (int i = 0; i < 32; i += 2) {
                mixed.set(-80f, 0, t, 1, i);
            }
        }
        formsAgree(gla, in, mixed, "mixed extremes");
    }

    @Test
    void gatesOfZeroAreUnnormalisedLinearAttention() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(2, 150, 4, 2, 32));
        Gla gla = new Gla(Gla.Config.defaults(), Engine.defaults());
        Tensor ones = Tensor.zeros(2, 150, 2, 32); // log a = 0
        Tensor glaOut = gla.run(in.q(), in.k(), in.v(), ones, AttentionSpec.causal(), null, Form.chunked()).output();
        LinearAttention linear = new LinearAttention(new LinearAttention.Config(
                LinearAttention.FeatureMap.IDENTITY, false, 0f, Form.chunked()), Engine.defaults());
        Tensor linOut = linear.forward(in.q(), in.k(), in.v(), AttentionSpec.causal()).output();
        assertTrue(relativeError(glaOut, linOut) <= 1e-6, "gla with a = 1 is linear attention");
    }

    @Test
    void aConstantGateIsLightningsDecay() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 200, 2, 2, 32));
        float log = (float) Math.log(0.9);
        Tensor constant = Tensor.zeros(1, 200, 2, 32);
        constant.fill(log);
        Tensor glaOut = new Gla(Gla.Config.defaults(), Engine.defaults()).run(in.q(), in.k(), in.v(), constant,
                AttentionSpec.causal(), null, Form.chunked()).output();
        Tensor lightning = new Lightning(Lightning.Config.ofLogDecays(log, log), Engine.defaults())
                .forward(in.q(), in.k(), in.v(), AttentionSpec.causal()).output();
        assertTrue(relativeError(glaOut, lightning) <= 1e-5, "per-feature gates all equal to λ give lightning");
    }

    @Test
    void lightningMatchesItsClosedForm() {
        // o_t = Σ_{s≤t} λ^{t−s} (scale q_t·k_s) v_s, in float64
        int n = 70, d = 16;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 1, 1, d));
        double lambda = 1 - Math.pow(2, -5);
        Tensor out = new Lightning(Lightning.Config.defaults(), Engine.defaults())
                .forward(in.q(), in.k(), in.v(), AttentionSpec.causal()).output();
        float[] q = in.q().toArray(), k = in.k().toArray(), v = in.v().toArray(), o = out.toArray();
        double scale = 1 / Math.sqrt(d);
        for (int t = 0; t < n; t++) {
            for (int c = 0; c < d; c++) {
                double sum = 0;
                for (int s = 0; s <= t; s++) {
                    double dot = 0;
                    for (int i = 0; i < d; i++) {
                        dot += q[t * d + i] * k[s * d + i];
                    }
                    sum += Math.pow(lambda, t - s) * scale * dot * v[s * d + c];
                }
                assertEquals(sum, o[t * d + c], 1e-4 * Math.max(1, Math.abs(sum)), "row " + t + " channel " + c);
            }
        }
    }

    @Test
    void gatesFromKeysFollowTheLowRankFormula() {
        int d = 8;
        Gla gla = new Gla(Gla.Config.defaults(), Engine.defaults());
        float[][] w = gla.weights(d);
        assertEquals(d * Gla.GATE_RANK, w[0].length);
        // a gate tensor computed by hand equals what the keys produce inside the mechanism
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 40, 1, 1, d));
        float[] k = in.k().toArray();
        float[] g = new float[40 * d];
        for (int t = 0; t < 40; t++) {
            for (int o = 0; o < d; o++) {
                double logit = w[2][o];
                for (int j = 0; j < Gla.GATE_RANK; j++) {
                    double low = 0;
                    for (int i = 0; i < d; i++) {
                        low += k[t * d + i] * w[0][i * Gla.GATE_RANK + j];
                    }
                    logit += low * w[1][j * d + o];
                }
                g[t * d + o] = (float) (Gla.logSigmoid(logit) / 16);
            }
        }
        Tensor byHand = gla.run(in.q(), in.k(), in.v(), Tensor.of(g, 1, 40, 1, d), AttentionSpec.causal(), null,
                Form.reference()).output();
        Tensor fromKeys = gla.run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, Form.reference()).output();
        assertTrue(relativeError(fromKeys, byHand) <= 1e-5, "gates from keys");
    }

    @Test
    void badGatesAreRefusedWithTheirPlace() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 10, 2, 2, 8));
        Gla gla = new Gla(Gla.Config.defaults(), Engine.defaults());
        Tensor positive = Tensor.zeros(1, 10, 2, 8);
        positive.set(0.5f, 0, 3, 1, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> gla.run(in.q(), in.k(), in.v(), positive,
                AttentionSpec.causal(), null, Form.chunked()));
        assertTrue(e.getMessage().contains("0.5") && e.getMessage().contains("<= 0"), e.getMessage());
        var shape = assertThrows(IllegalArgumentException.class, () -> gla.run(in.q(), in.k(), in.v(),
                Tensor.zeros(1, 10, 2, 4), AttentionSpec.causal(), null, Form.chunked()));
        assertTrue(shape.getMessage().contains("logGates has shape"), shape.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Gla.Config(1, null, null, null, 0.5f, Form.chunked()));
        assertThrows(IllegalArgumentException.class, () -> Lightning.Config.ofLogDecays(0.1f));
    }
}
