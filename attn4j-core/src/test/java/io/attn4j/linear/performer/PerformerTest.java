package io.attn4j.linear.performer;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.linear.Form;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static io.attn4j.testing.Numerics.assertFinite;
import static io.attn4j.testing.Numerics.relativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** FAVOR+: fidelity against exact softmax by m, unbiasedness, seeded redraws, orthogonal blocks, the key bound. */
class PerformerTest {
    private static final Engine ENGINE = Engine.defaults();

    private static Tensor scaled(Tensor t, float factor) {
        float[] data = t.toArray();
        for (int i = 0; i < data.length; i++) {
            data[i] *= factor;
        }
        return Tensor.of(data, t.shape());
    }

    /** Mean relative error to exact softmax over a few inputs and draws: small-norm queries and keys (σ = 0.5). */
    private static double fidelity(int m, long inputSeed) {
        double sum = 0;
        int runs = 4;
        for (int r = 0; r < runs; r++) {
            AttentionInputs in = StandardInputs.random(inputSeed + r, InputShape.self(1, 128, 4, 2, 32));
            Tensor q = scaled(in.q(), 0.5f), k = scaled(in.k(), 0.5f);
            AttentionSpec spec = AttentionSpec.causal();
            Tensor exact = new ReferenceAttention(ENGINE).forward(q, k, in.v(), spec).output();
            Performer performer = new Performer(Performer.Config.defaults().withFeatures(m).redraw(inputSeed + 7 * r),
                    ENGINE);
            sum += relativeError(performer.forward(q, k, in.v(), spec).output(), exact);
        }
        return sum / runs;
    }

    @Test
    void fidelityToSoftmaxImprovesWithMoreFeatures() {
        long seed = Fresh.seed();
        double e64 = fidelity(64, seed), e256 = fidelity(256, seed), e1024 = fidelity(1024, seed);
        System.out.printf("performer relative error to softmax: m=64 %.4f, m=256 %.4f, m=1024 %.4f%n", e64, e256,
                e1024);
        assertTrue(e64 > e256 && e256 > e1024, "error must fall with m: " + e64 + ", " + e256 + ", " + e1024
                + " (seed " + Fresh.base() + ")");
        // measured 0.155 to 0.20 at the default m = 256 over twelve seeds (the Javadoc's figure)
        assertTrue(e256 <= 0.25, "error at m = 256: " + e256 + " (seed " + Fresh.base() + ")");
    }

    @Test
    void theKernelEstimateIsUnbiased() {
        SplittableRandom random = new SplittableRandom(Fresh.seed());
        int d = 8;
        double scale = 1 / Math.sqrt(d);
        for (int pair = 0; pair < 3; pair++) {
            float[] q = new float[d], k = new float[d];
            double dot = 0;
            for (int i = 0; i < d; i++) {
                q[i] = (float) (0.6 * random.nextGaussian());
                k[i] = (float) (0.6 * random.nextGaussian());
                dot += q[i] * k[i];
            }
            double exact = Math.exp(scale * dot);
            int draws = 4000;
            double sum = 0, sumSquares = 0;
            for (int s = 0; s < draws; s++) {
                double estimate = RandomFeatures.draw(16, d, random.nextLong(), true).kernel(q, 0, k, 0, scale);
                sum += estimate;
                sumSquares += estimate * estimate;
            }
            double mean = sum / draws, standardError = Math.sqrt((sumSquares / draws - mean * mean) / draws);
            assertTrue(Math.abs(mean - exact) <= 4.5 * standardError, "mean estimate " + mean + " vs exp(scale q·k) "
                    + exact + " (standard error " + standardError + ", seed " + Fresh.base() + ")");
            assertTrue(standardError < 0.05 * exact, "the check must be sharp: standard error " + standardError);
        }
    }

    @Test
    void aRedrawChangesTheFeaturesAndEachSeedIsDeterministic() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 40, 2, 2, 16));
        AttentionSpec spec = AttentionSpec.causal();
        Performer a = new Performer(Performer.Config.defaults().withFeatures(64), ENGINE);
        Performer again = new Performer(Performer.Config.defaults().withFeatures(64), ENGINE);
        Performer other = a.redraw(12345L);
        assertEquals(12345L, other.config().seed());
        assertArrayEquals(a.features(16, 0).omega(), again.features(16, 0).omega());
        assertFalse(Arrays.equals(a.features(16, 0).omega(), other.features(16, 0).omega()));
        float[] out = a.forward(in.q(), in.k(), in.v(), spec).output().toArray();
        assertArrayEquals(out, again.forward(in.q(), in.k(), in.v(), spec).output().toArray(), "same seed, same bits");
        assertFalse(Arrays.equals(out, other.forward(in.q(), in.k(), in.v(), spec).output().toArray()));
        assertArrayEquals(other.features(16, 0).omega(), a.redraw(12345L).features(16, 0).omega());
    }

    @Test
    void perHeadDrawsDifferByKvHeadAndQueriesUseTheirKvHeadsDraw() {
        Performer shared = new Performer(Performer.Config.defaults().withFeatures(32), ENGINE);
        Performer perHead = new Performer(new Performer.Config(32, 0L, true, true, 1e-12f, Form.chunked()), ENGINE);
        assertArrayEquals(shared.features(16, 0).omega(), shared.features(16, 3).omega());
        assertFalse(Arrays.equals(perHead.features(16, 0).omega(), perHead.features(16, 1).omega()));
        // GQA with per-head draws equals repeating K/V, when the repeated heads keep their draw: here one KV head
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 30, 4, 1, 16));
        Tensor out = perHead.forward(in.q(), in.k(), in.v(), AttentionSpec.causal()).output();
        for (int h = 0; h < 4; h++) {
            Tensor alone = perHead.forward(in.q().slice(2, h, h + 1), in.k(), in.v(), AttentionSpec.causal()).output();
            assertTrue(relativeError(alone, out.slice(2, h, h + 1)) <= 1e-6, "head " + h);
        }
    }

    @Test
    void orthogonalBlocksHaveOrthogonalRowsWithChiNorms() {
        int d = 32, m = 80; // blocks [0, 32), [32, 64), [64, 80)
        RandomFeatures f = RandomFeatures.draw(m, d, Fresh.seed(), true);
        float[] w = f.omega();
        double minNorm = Double.MAX_VALUE, maxNorm = 0;
        for (int i = 0; i < m; i++) {
            double ni = norm(w, i, d);
            minNorm = Math.min(minNorm, ni);
            maxNorm = Math.max(maxNorm, ni);
            for (int j = i + 1; j < m && j / d == i / d; j++) {
                double cos = dot(w, i, j, d) / (ni * norm(w, j, d));
                assertTrue(Math.abs(cos) < 1e-5, "rows " + i + " and " + j + " of one block: cosine " + cos);
            }
        }
        // chi(32) norms: spread around √32 ≈ 5.66, not all equal
        assertTrue(minNorm < maxNorm - 0.5 && minNorm > 2 && maxNorm < 10, "norms " + minNorm + " to " + maxNorm);
        RandomFeatures iid = RandomFeatures.draw(m, d, Fresh.seed(), false);
        float[] g = iid.omega();
        double worst = 0;
        for (int j = 1; j < d; j++) {
            worst = Math.max(worst, Math.abs(dot(g, 0, j, d) / (norm(g, 0, d) * norm(g, j, d))));
        }
        assertTrue(worst > 1e-3, "i.i.d. rows are not orthogonal");
    }

    private static double dot(float[] w, int i, int j, int d) {
        double s = 0;
        for (int x = 0; x < d; x++) {
            s += (double) w[i * d + x] * w[j * d + x];
        }
        return s;
    }

    private static double norm(float[] w, int i, int d) {
        return Math.sqrt(dot(w, i, i, d));
    }

    @Test
    void keysFarOutsideTheDataOrOnTheBoundStayFinite() {
        // keys of norm 1e3 and queries of norm 1e3: features underflow or saturate, but nothing overflows
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 50, 2, 2, 64));
        Performer performer = new Performer(Performer.Config.defaults(), ENGINE);
        for (Form form : new Form[] {Form.chunked(), Form.recurrent(), Form.reference()}) {
            var r = performer.run(scaled(in.q(), 100f), scaled(in.k(), 100f), in.v(), AttentionSpec.causal(), null,
                    form);
            assertFinite(r.output(), "performer on huge inputs, " + form);
            for (float x : r.state().data()) {
                assertTrue(Float.isFinite(x), "state holds " + x);
            }
        }
        // keys placed exactly on a random row, k' = ω_0, reach the bound exp(|ω_0|²/2): e^{~30} at D = 32 (exact),
        // e^{~130} at D = 256 (clamped at e^60); both stay finite
        for (int d : new int[] {32, 256}) {
            RandomFeatures f = performer.features(d, 0);
            assertEquals(d == 256, f.keysMayClamp(), "D = " + d + ": max |ω|²/2 = " + f.maxHalfNormSquared());
            AttentionInputs aligned = StandardInputs.random(Fresh.seed(), InputShape.self(1, 30, 1, 1, d));
            float[] k = aligned.k().toArray(), omega = f.omega();
            double unscale = Math.pow(d, 0.25); // k = ω / √scale with scale = 1/√D
            for (int j = 0; j < d; j++) {
                k[10 * d + j] = (float) (omega[j] * unscale);
            }
            Tensor keys = Tensor.of(k, aligned.k().shape());
            for (Form form : new Form[] {Form.chunked(), Form.recurrent(), Form.reference()}) {
                var r = performer.run(aligned.q(), keys, aligned.v(), AttentionSpec.causal(), null, form);
                assertFinite(r.output(), "performer with a key on ω_0, D = " + d + ", " + form);
                for (float x : r.state().data()) {
                    assertTrue(Float.isFinite(x), "state holds " + x);
                }
            }
            assertFinite(performer.forward(aligned.q(), aligned.k(), aligned.v(), AttentionSpec.noncausal()).output(),
                    "D = " + d);
        }
    }
}
