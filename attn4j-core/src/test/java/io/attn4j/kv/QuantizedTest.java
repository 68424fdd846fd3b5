package io.attn4j.kv;

import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.attn4j.kv.KvTesting.expected;
import static io.attn4j.kv.KvTesting.random;
import static io.attn4j.testing.Numerics.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The quantised cache as a policy: its format, every row kept, decode error within the bound derived from
 * {@link KvFormat#maxError}, bytes held, composition with StreamingLLM in a session, and bad configs refused.
 */
class QuantizedTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(2);
    /** The float32 decode kernel's own tolerance against the float64 oracle (as in KvCacheTest). */
    private static final double KERNEL_TOLERANCE = 2e-5;

    private static String seeds(long seed) {
        return " (seed " + seed + ", base " + Fresh.base() + ")";
    }

    private static KvCache filled(KvFormat format, Tensor k, Tensor v) {
        KvCache cache = KvCache.builder(1, k.size(2), k.size(3)).valueDim(v.size(3)).format(format).build();
        cache.append(0, k, v);
        return cache;
    }

    /**
     * Decode over an int8 or int4 cache against exact attention over the float32 rows, on random inputs, within
     * the bound derived from {@link KvFormat#maxError}. For one query head (query {@code q}, logit scale
     * {@code s}) and its KV head's rows {@code j}:
     * <ul>
     *   <li>element {@code c} of row {@code j} is off by at most {@code ε_jc = maxError(range of its group)}
     *       (plus float32 rounding of the dequantisation, {@code 1e-6 · max |x|} of the group, as KvCacheTest
     *       allows), for keys ({@code εK}) and values ({@code εV});</li>
     *   <li>so each logit is off by at most {@code δ_j = s · Σ_c |q_c| · εK_jc}; let {@code δ = max_j δ_j};</li>
     *   <li>replacing the values first: {@code |Σ_j p_j (v̂_jc − v_jc)| <= max_j εV_jc};</li>
     *   <li>then moving the logits along {@code ℓ + t(ℓ̂ − ℓ)}, {@code t ∈ [0, 1]}: {@code do_c/dt = Σ_j p_j(t)
     *       e_j (v̂_jc − o_c(t))} with {@code |e_j| <= δ}, and the mean absolute deviation of a distribution on an
     *       interval of length {@code R̂_c = max_j v̂_jc − min_j v̂_jc} is at most {@code R̂_c / 2}, so this part
     *       moves the output by at most {@code δ · R̂_c / 2}.</li>
     * </ul>
     * Bound: {@code |ô_c − o_c| <= max_j εV_jc + δ · R̂_c / 2}, plus the kernel's float32 tolerance (the quantised
     * decode is checked against its own float64 oracle with that tolerance too). The bound is worst case (every
     * key error aligned against the query, attention on two extreme values); on random inputs the measured error
     * is well under 1 % of it, so the test also checks that the error scales with the precision: int4's RMS error
     * is 8 to 34 times int8's at the same group size (the step ratio is 255/15 = 17), and smaller groups (smaller
     * ranges) lower it.
     */
    @Test
    void decodeErrorStaysWithinTheBoundDerivedFromMaxError() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int n = 1500, hkv = 2, hq = 8, d = 64, dv = 48, queries = 3, group = hq / hkv;
        Tensor k = random(rng, 1, n, hkv, d), v = random(rng, 1, n, hkv, dv);
        Tensor q = random(rng, 1, queries, hq, d);
        float scale = (float) (1 / Math.sqrt(d));
        KvCache exact = filled(KvFormat.float32(), k, v);
        Tensor truth = expected(exact, q, scale, null);
        KvFormat[] formats = {KvFormat.int8(64), KvFormat.int4(64), KvFormat.int4(16)};
        double[] rms = new double[formats.length];
        int which = 0;
        for (KvFormat format : formats) {
            KvPolicy policy = KvPolicies.quantized(format.precision(), format.groupSize());
            assertEquals(format, policy.format());
            KvCache cache = filled(policy.format(), k, v);
            Tensor out = Tensor.zeros(1, queries, hq, dv);
            new KvDecode(ENGINE).plan(cache, hq, queries).run(q, out, KvDecode.Options.defaults().withScale(scale));
            assertClose(format + " decode vs its float64 oracle" + seeds(seed), out,
                    expected(cache, q, scale, null), KERNEL_TOLERANCE);
            float[][][] epsK = new float[hkv][][], epsV = new float[hkv][][];
            for (int h = 0; h < hkv; h++) {
                epsK[h] = bounds(k, h, format);
                epsV[h] = bounds(v, h, format);
            }
            float[][][] stored = new float[hkv][n][dv]; // the dequantised values
            for (int h = 0; h < hkv; h++) {
                for (int j = 0; j < n; j++) {
                    cache.value(0, h, j, stored[h][j], 0);
                }
            }
            double worst = 0, squares = 0;
            for (int t = 0; t < queries; t++) {
                int visible = n - queries + t + 1; // causal, bottom-right aligned
                for (int h = 0; h < hq; h++) {
                    int kvh = h / group;
                    double delta = 0;
                    for (int j = 0; j < visible; j++) {
                        double dj = 0;
                        for (int c = 0; c < d; c++) {
                            dj += Math.abs(q.get(0, t, h, c)) * epsK[kvh][j][c];
                        }
                        delta = Math.max(delta, scale * dj);
                    }
                    for (int c = 0; c < dv; c++) {
                        double maxEps = 0, lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j < visible; j++) {
                            maxEps = Math.max(maxEps, epsV[kvh][j][c]);
                            lo = Math.min(lo, stored[kvh][j][c]);
                            hi = Math.max(hi, stored[kvh][j][c]);
                        }
                        double bound = maxEps + delta * (hi - lo) / 2;
                        double error = Math.abs(out.get(0, t, h, c) - truth.get(0, t, h, c));
                        assertTrue(error <= bound + KERNEL_TOLERANCE, format + " query " + t + " head " + h
                                + " element " + c + ": error " + error + " > bound " + bound + seeds(seed));
                        worst = Math.max(worst, error / bound);
                        squares += error * error;
                    }
                }
            }
            rms[which++] = Math.sqrt(squares / (queries * hq * dv));
            System.out.printf("quantized %s: rms decode error %.3g, largest error / bound %.3f%n", format,
                    rms[which - 1], worst);
        }
        double ratio = rms[1] / rms[0];
        assertTrue(ratio > 8 && ratio < 34, "int4 / int8 rms error ratio " + ratio + "; expected about 17"
                + seeds(seed));
        assertTrue(rms[2] < rms[1], "int4 with groups of 16 (" + rms[2] + ") is no better than with 64 ("
                + rms[1] + ")" + seeds(seed));
    }

    /** {@code ε_jc} of every element of {@code x [1, n, heads, width]}'s head {@code h} under {@code format}. */
    private static float[][] bounds(Tensor x, int h, KvFormat format) {
        int n = x.size(1), width = x.size(3), g = format.groupSize();
        float[][] eps = new float[n][width];
        for (int t = 0; t < n; t++) {
            for (int c0 = 0; c0 < width; c0 += g) {
                float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
                for (int c = c0; c < Math.min(width, c0 + g); c++) {
                    lo = Math.min(lo, x.get(0, t, h, c));
                    hi = Math.max(hi, x.get(0, t, h, c));
                }
                double e = format.maxError(hi - lo) + 1e-6 * Math.max(Math.abs(lo), Math.abs(hi));
                for (int c = c0; c < Math.min(width, c0 + g); c++) {
                    eps[t][c] = (float) e;
                }
            }
        }
        return eps;
    }

    /** int8 holds at most half the bytes of float32 and int4 at most a quarter (codes, scales and metadata). */
    @Test
    void bytesHeldAreAtMostAHalfAndAQuarterOfFloat32() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        for (int d : new int[] {64, 128}) {
            int n = 1000, hkv = 2;
            Tensor k = random(rng, 1, n, hkv, d), v = random(rng, 1, n, hkv, d);
            long full = filled(KvFormat.float32(), k, v).memory().total();
            KvCache int8 = filled(KvPolicies.create("quantized").format(), k, v);
            KvCache int4 = filled(KvPolicies.quantized(KvFormat.Precision.INT4, 64).format(), k, v);
            double r8 = (double) int8.memory().total() / full, r4 = (double) int4.memory().total() / full;
            System.out.printf("quantized d=%d: int8 holds %.3f, int4 %.3f of float32%n", d, r8, r4);
            assertTrue(r8 <= 0.5, "d = " + d + ": int8 holds " + r8 + " of float32" + seeds(seed));
            assertTrue(r4 <= 0.25, "d = " + d + ": int4 holds " + r4 + " of float32" + seeds(seed));
            assertEquals(int8.memory().rows(), (long) n * hkv);
        }
    }

    /** Alone, compression keeps every row whatever the budget. */
    @Test
    void compressionKeepsEveryRow() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int n = 300, hkv = 2, d = 16;
        KvPolicy policy = KvPolicies.create("quantized");
        KvCache cache = filled(policy.format(), random(rng, 1, n, hkv, d), random(rng, 1, n, hkv, d));
        long version = cache.version();
        policy.compress(cache, 0, Budget.tokens(10), Observation.none(cache, 4, ENGINE));
        assertEquals(version, cache.version());
        for (int h = 0; h < hkv; h++) {
            assertEquals(n, cache.length(0, h));
        }
    }

    /**
     * StreamingLLM then quantisation (and the other order) in a session over a cache built with the composition's
     * format: every head holds the sinks and the recent window, the rows are int8, and each decode step equals the
     * float64 oracle over the quantised rows the step saw.
     */
    @Test
    void composesWithStreamingInASession() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int n = 200, hkv = 2, hq = 4, d = 32, budget = 48, every = 4;
        float scale = (float) (1 / Math.sqrt(d));
        KvPolicy quantized = KvPolicies.create("quantized");
        for (KvPolicy policy : new KvPolicy[] {KvPolicies.streaming(4).then(quantized),
                quantized.then(KvPolicies.streaming(4))}) {
            assertEquals(KvFormat.int8(64), policy.format(), policy.id());
            KvCache cache = KvCache.builder(1, hkv, d).format(policy.format()).paged(16).build();
            KvSession session = new KvSession(cache, policy, Budget.tokens(budget), hq, every, 8, ENGINE);
            session.prefill(0, random(rng, n, hq, d), random(rng, n, hkv, d), random(rng, n, hkv, d));
            for (int s = 1; s <= 10; s++) {
                Tensor q = random(rng, 1, 1, hq, d), out = Tensor.zeros(1, 1, hq, d);
                session.step(q, random(rng, 1, 1, hkv, d), random(rng, 1, 1, hkv, d), out);
                if (s % every != 0) { // no compression after this step: the cache is what the step attended to
                    assertClose(policy.id() + " step " + s + seeds(seed), out, expected(cache, q, scale, null),
                            KERNEL_TOLERANCE);
                }
            }
            int seen = cache.tokensSeen(0);
            assertEquals(n + 10, seen);
            int[] want = new int[budget];
            for (int i = 0; i < budget; i++) {
                want[i] = i < 4 ? i : seen - 2 - (budget - 4) + (i - 4); // compressed at step 8, then 2 more
            }
            for (int h = 0; h < hkv; h++) {
                int[] positions = cache.positions(0, h);
                assertEquals(budget + 2, positions.length, policy.id() + seeds(seed));
                assertArrayEquals(want, java.util.Arrays.copyOf(positions, budget), policy.id() + seeds(seed));
            }
            assertEquals(KvFormat.int8(64), cache.format());
        }
    }

    @Test
    void aCacheOfAnotherFormatOrAClashingCompositionIsRefused() {
        KvPolicy quantized = KvPolicies.create("quantized");
        KvCache float32 = KvCache.builder(1, 2, 16).build();
        assertThrows(IllegalArgumentException.class,
                () -> new KvSession(float32, quantized, Budget.tokens(8), 4, 0, 8, ENGINE));
        assertThrows(IllegalArgumentException.class,
                () -> quantized.then(KvPolicies.quantized(KvFormat.Precision.INT4, 64)));
    }

    @Test
    void badConfigsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Quantized.Config(KvFormat.Precision.FLOAT32, 64));
        assertThrows(IllegalArgumentException.class, () -> new Quantized.Config(null, 64));
        for (int group : new int[] {0, 1, 7, -64, 65538}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Quantized.Config(KvFormat.Precision.INT8, group));
            assertTrue(e.getMessage().contains("groupSize = " + group), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new Quantized(null));
    }

    @Test
    void registeredWithItsDefaults() {
        KvPolicyDescriptor descriptor = KvPolicies.get("quantized");
        assertEquals(new Quantized.Config(KvFormat.Precision.INT8, 64), descriptor.defaults());
        Quantized policy = assertInstanceOf(Quantized.class, descriptor.create());
        assertEquals("quantized", policy.id());
        assertEquals(KvFormat.int8(64), policy.format());
        assertEquals(KvFormat.int4(32),
                descriptor.create(new Quantized.Config(KvFormat.Precision.INT4, 32)).format());
    }
}
