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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RazorAttention: the compensation row is the multiplicity-weighted mean with logit bias log m (decode over it equals
 * a float64 oracle built from the original tensors; equal dropped keys get exactly their attention mass back),
 * retrieval heads are untouched, the other heads hold sinks + recent + one compensation row within the budget,
 * re-compression merges the old compensation row with its multiplicity, and invalid configurations are refused.
 */
class RazorTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(3);
    private static final int HKV = 3, HQ = 6, D = 16, SINKS = 4;

    /** Head 1 is the retrieval head: ⌈0.15 · 3⌉ = 1 protected head. */
    private static Razor razor() {
        return new Razor(new Razor.Config(HeadScores.of(new double[] {0.1, 0.9, 0.2}), 0, 0.15, SINKS));
    }

    private static String seeds() {
        return " (seed base " + Fresh.base() + ")";
    }

    private static Observation none(KvCache cache) {
        return Observation.none(cache, HQ, ENGINE);
    }

    @Test
    void compensationRowIsTheWeightedMeanAndDecodeEqualsTheFloat64Oracle() {
        Random rng = new Random(Fresh.seed());
        int n = 200, budget = 20;
        Tensor k = random(rng, n, HKV, D), v = random(rng, n, HKV, D), q = random(rng, 1, 2, HQ, D);
        for (KvCache cache : new KvCache[] {KvCache.builder(1, HKV, D).build(),
                KvCache.builder(1, HKV, D).paged(7).build()}) {
            cache.append(0, k, v);
            Razor razor = razor();
            assertArrayEquals(new boolean[] {false, true, false}, razor.retrievalHeads());
            razor.compress(cache, 0, Budget.tokens(budget), none(cache));
            int recent = budget - SINKS - 1, dropped = n - SINKS - recent;
            double meanPosition = (SINKS + n - recent - 1) / 2.0;
            for (int h : new int[] {0, 2}) {
                assertEquals(budget, cache.length(0, h), "head " + h + " length" + seeds());
                int[] positions = cache.positions(0, h);
                for (int i = 0; i < SINKS; i++) {
                    assertEquals(i, positions[i], "sink " + i + seeds());
                }
                assertEquals(Math.round(meanPosition), positions[SINKS], "compensation position" + seeds());
                for (int i = 0; i < recent; i++) {
                    assertEquals(n - recent + i, positions[SINKS + 1 + i], "recent " + i + seeds());
                }
                // the multiplicity is stored as a float32 logit bias log m: relative error about 2^-24 · ln m
                assertEquals(dropped, cache.multiplicity(0, h, SINKS), 1e-6 * dropped,
                        "compensation multiplicity" + seeds());
                float[] key = new float[D], value = new float[D];
                cache.key(0, h, SINKS, key, 0);
                cache.value(0, h, SINKS, value, 0);
                for (int c = 0; c < D; c++) {
                    double mk = 0, mv = 0;
                    for (int p = SINKS; p < n - recent; p++) {
                        mk += k.get(p, h, c);
                        mv += v.get(p, h, c);
                    }
                    assertEquals(mk / dropped, key[c], 1e-6, "mean key, element " + c + seeds());
                    assertEquals(mv / dropped, value[c], 1e-6, "mean value, element " + c + seeds());
                }
            }
            assertEquals(n, cache.length(0, 1), "the retrieval head keeps everything" + seeds());
            Tensor out = Tensor.zeros(1, 2, HQ, D);
            new KvDecode(ENGINE).plan(cache, HQ, 2).run(q, out);
            float scale = (float) (1 / Math.sqrt(D));
            assertClose(cache.storage() + ": decode vs the compensation-token oracle", out,
                    compensationOracle(k, v, q, n, budget, scale), 2e-5);
            assertClose(cache.storage() + ": decode vs float64 over the kept rows", out,
                    expected(cache, q, scale, null), 2e-5);
        }
    }

    /**
     * The paper's equation 5 from the original tensors, in float64: kept rows as they are, the dropped rows of a
     * compressed head as m copies of their mean key and value; head 1 (retrieval) attends to everything.
     */
    private static Tensor compensationOracle(Tensor k, Tensor v, Tensor q, int n, int budget, float scale) {
        int lq = q.size(1), group = HQ / HKV, recent = budget - SINKS - 1;
        Tensor out = Tensor.zeros(1, lq, HQ, D);
        for (int h = 0; h < HQ; h++) {
            int kvh = h / group;
            boolean whole = kvh == 1;
            double[] meanK = new double[D], meanV = new double[D];
            int m = n - SINKS - recent;
            for (int p = SINKS; p < n - recent; p++) {
                for (int c = 0; c < D; c++) {
                    meanK[c] += k.get(p, kvh, c) / (double) m;
                    meanV[c] += v.get(p, kvh, c) / (double) m;
                }
            }
            for (int t = 0; t < lq; t++) {
                int qPos = n - lq + t;
                double max = Double.NEGATIVE_INFINITY;
                double[] logits = new double[n + 1];
                java.util.Arrays.fill(logits, Double.NEGATIVE_INFINITY);
                for (int p = 0; p <= qPos; p++) {
                    if (whole || p < SINKS || p >= n - recent) {
                        double dot = 0;
                        for (int c = 0; c < D; c++) {
                            dot += (double) q.get(0, t, h, c) * k.get(p, kvh, c);
                        }
                        logits[p] = scale * dot;
                    }
                }
                if (!whole) {
                    double dot = 0;
                    for (int c = 0; c < D; c++) {
                        dot += q.get(0, t, h, c) * meanK[c];
                    }
                    logits[n] = scale * dot + Math.log(m);
                }
                for (double s : logits) {
                    max = Math.max(max, s);
                }
                double sum = 0;
                double[] acc = new double[D];
                for (int p = 0; p <= n; p++) {
                    if (logits[p] == Double.NEGATIVE_INFINITY) {
                        continue;
                    }
                    double w = Math.exp(logits[p] - max);
                    sum += w;
                    for (int c = 0; c < D; c++) {
                        acc[c] += w * (p == n ? meanV[c] : v.get(p, kvh, c));
                    }
                }
                for (int c = 0; c < D; c++) {
                    out.set((float) (acc[c] / sum), 0, t, h, c);
                }
            }
        }
        return out;
    }

    @Test
    void droppedRowsWithEqualKeysGetExactlyTheirAttentionMassBack() {
        Random rng = new Random(Fresh.seed());
        int n = 160, budget = 24, recent = budget - SINKS - 1, lq = 3;
        Tensor k = random(rng, n, HKV, D), v = random(rng, n, HKV, D), q = random(rng, 1, lq, HQ, D);
        for (int p = SINKS; p < n - recent; p++) { // every dropped row of head 0 and 2 has the same key
            for (int h : new int[] {0, 2}) {
                for (int c = 0; c < D; c++) {
                    k.set(k.get(SINKS, h, c), p, h, c);
                }
            }
        }
        KvCache full = KvCache.builder(1, HKV, D).build(), cache = KvCache.builder(1, HKV, D).build();
        full.append(0, k, v);
        cache.append(0, k, v);
        razor().compress(cache, 0, Budget.tokens(budget), none(cache));
        float scale = (float) (1 / Math.sqrt(D));
        Tensor out = Tensor.zeros(1, lq, HQ, D), exact = Tensor.zeros(1, lq, HQ, D);
        new KvDecode(ENGINE).plan(cache, HQ, lq).run(q, out);
        new KvDecode(ENGINE).plan(full, HQ, lq).run(q, exact);
        assertClose("merged cache vs the full cache when dropped keys are equal", out, exact, 2e-6);
        assertClose("full cache vs float64", exact, expected(full, q, scale, null), 2e-6);
        // the compensation row receives the attention mass the dropped rows had, query by query
        Observation obs = new Observation(q.select(0, 0), n - lq, scale, ENGINE);
        for (int h : new int[] {0, 2}) {
            float[] merged = ObservedAttention.of(cache, 0, h, obs), original = ObservedAttention.of(full, 0, h, obs);
            double droppedMass = 0;
            for (int p = SINKS; p < n - recent; p++) {
                droppedMass += original[p];
            }
            assertEquals(droppedMass, merged[SINKS], 1e-5, "head " + h + ": mass of the compensation row" + seeds());
            for (int i = 0; i < recent; i++) {
                assertEquals(original[n - recent + i], merged[SINKS + 1 + i], 1e-5, "recent row " + i + seeds());
            }
        }
    }

    @Test
    void retrievalHeadsAreUntouched() {
        Random rng = new Random(Fresh.seed());
        int n = 150;
        Tensor k = random(rng, n, HKV, D), v = random(rng, n, HKV, D);
        KvCache cache = KvCache.builder(1, HKV, D).paged(16).build();
        cache.append(0, k, v);
        Razor razor = razor();
        razor.compress(cache, 0, Budget.tokens(10), none(cache));
        cache.append(0, random(rng, 30, HKV, D), random(rng, 30, HKV, D));
        razor.compress(cache, 0, Budget.tokens(10), none(cache));
        assertEquals(n + 30, cache.length(0, 1), seeds());
        float[] key = new float[D], value = new float[D];
        for (int r = 0; r < n; r++) {
            assertEquals(r, cache.position(0, 1, r));
            assertEquals(1, cache.multiplicity(0, 1, r), 0);
            cache.key(0, 1, r, key, 0);
            cache.value(0, 1, r, value, 0);
            for (int c = 0; c < D; c++) {
                assertEquals(k.get(r, 1, c), key[c], 0, "retrieval key row " + r + seeds());
                assertEquals(v.get(r, 1, c), value[c], 0, "retrieval value row " + r + seeds());
            }
        }
        assertEquals(10, cache.length(0, 0), seeds());
        assertEquals(10, cache.length(0, 2), seeds());
    }

    @Test
    void otherHeadsHoldSinksRecentAndOneCompensationRowWithinTheBudget() {
        Random rng = new Random(Fresh.seed());
        int n = 120;
        Tensor k = random(rng, n, HKV, D), v = random(rng, n, HKV, D);
        for (Budget budget : new Budget[] {Budget.tokens(1), Budget.tokens(2), Budget.tokens(3), Budget.tokens(5),
                Budget.tokens(6), Budget.tokens(40), Budget.ratio(0.1), Budget.tokens(119)}) {
            KvCache cache = KvCache.builder(1, HKV, D).build();
            cache.append(0, k, v);
            razor().compress(cache, 0, budget, none(cache));
            int rows = budget.rows(n), sinks = Math.min(SINKS, rows - 1), recent = rows - 1 - sinks;
            String what = "budget " + budget + seeds();
            assertEquals(n, cache.length(0, 1), "retrieval head, " + what);
            for (int h : new int[] {0, 2}) {
                assertEquals(rows, cache.length(0, h), "head " + h + ", " + what);
                int[] positions = cache.positions(0, h);
                double total = 0, weighted = 0;
                for (int r = 0; r < rows; r++) {
                    total += cache.multiplicity(0, h, r);
                }
                assertEquals(n, total, 1e-6 * n, "multiplicities add up to the tokens seen (float32 log m), " + what);
                for (int p = sinks; p < n - recent; p++) {
                    weighted += p;
                }
                int[] want = new int[rows];
                for (int i = 0; i < sinks; i++) {
                    want[i] = i;
                }
                want[sinks] = (int) Math.round(weighted / (n - sinks - recent));
                for (int i = 0; i < recent; i++) {
                    want[sinks + 1 + i] = n - recent + i;
                }
                assertArrayEquals(want, positions, "positions, " + what);
                assertEquals(n - sinks - recent, cache.multiplicity(0, h, sinks), 1e-6 * n, "merged count, " + what);
            }
        }
    }

    @Test
    void aBudgetAtOrAboveTheLengthChangesNothing() {
        Random rng = new Random(Fresh.seed());
        int n = 90;
        KvCache cache = KvCache.builder(1, HKV, D).build();
        cache.append(0, random(rng, n, HKV, D), random(rng, n, HKV, D));
        long version = cache.version();
        for (Budget budget : new Budget[] {Budget.tokens(n), Budget.tokens(n + 7), Budget.ratio(1)}) {
            razor().compress(cache, 0, budget, none(cache));
            assertEquals(version, cache.version(), "budget " + budget + seeds());
            for (int h = 0; h < HKV; h++) {
                assertEquals(n, cache.length(0, h));
            }
        }
    }

    @Test
    void recompressionMergesTheOldCompensationRowWithItsMultiplicity() {
        Random rng = new Random(Fresh.seed());
        int n1 = 200, n2 = 60, budget = 20, recent = budget - SINKS - 1, n = n1 + n2;
        Tensor k = random(rng, n, HKV, D), v = random(rng, n, HKV, D);
        KvCache cache = KvCache.builder(2, HKV, D).build();
        cache.append(1, k.slice(0, 0, n1), v.slice(0, 0, n1));
        razor().compress(cache, 1, Budget.tokens(budget), none(cache));
        cache.append(1, k.slice(0, n1, n), v.slice(0, n1, n));
        razor().compress(cache, 1, Budget.tokens(budget), none(cache));
        int dropped = n - SINKS - recent;
        float[] key = new float[D];
        for (int h : new int[] {0, 2}) {
            assertEquals(budget, cache.length(1, h), seeds());
            assertEquals(dropped, cache.multiplicity(1, h, SINKS), 1e-6 * dropped, "merged twice = merged once"
                    + seeds());
            cache.key(1, h, SINKS, key, 0);
            for (int c = 0; c < D; c++) {
                double mean = 0;
                for (int p = SINKS; p < n - recent; p++) {
                    mean += k.get(p, h, c);
                }
                assertEquals(mean / dropped, key[c], 1e-5, "mean key over both merges, element " + c + seeds());
            }
            assertEquals(n - recent, cache.position(1, h, SINKS + 1), "first recent row" + seeds());
        }
        assertEquals(0, cache.length(0, 0), "the other sequence is untouched");
    }

    @Test
    void invalidConfigurationsAreRefused() {
        HeadScores scores = HeadScores.of(new double[] {0.1, 0.9, 0.2}, new double[] {0.5, 0.4, 0.3});
        assertThrows(IllegalArgumentException.class, () -> new Razor.Config(scores, 0, -0.1, 4));
        assertThrows(IllegalArgumentException.class, () -> new Razor.Config(scores, 0, 1.5, 4));
        assertThrows(IllegalArgumentException.class, () -> new Razor.Config(scores, 0, Double.NaN, 4));
        assertThrows(IllegalArgumentException.class, () -> new Razor.Config(scores, 0, 0.15, -1));
        assertThrows(IllegalArgumentException.class, () -> new Razor.Config(scores, -1, 0.15, 4));
        IllegalArgumentException layer = assertThrows(IllegalArgumentException.class,
                () -> new Razor.Config(scores, 2, 0.15, 4));
        assertTrue(layer.getMessage().contains("layer = 2") && layer.getMessage().contains("0 to 1"),
                layer.getMessage());
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> new Razor(Razor.Config.defaults()));
        assertTrue(none.getMessage().contains("HeadScores"), none.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KvPolicies.create("razor"));
        // scores for 3 KV heads, a cache with 4
        KvCache cache = KvCache.builder(1, 4, D).build();
        cache.append(0, Tensor.zeros(50, 4, D), Tensor.zeros(50, 4, D));
        Razor razor = new Razor(Razor.Config.defaults().withScores(scores, 1));
        IllegalArgumentException heads = assertThrows(IllegalArgumentException.class,
                () -> razor.compress(cache, 0, Budget.tokens(10), Observation.none(cache, 4, ENGINE)));
        assertTrue(heads.getMessage().contains("3 KV heads"), heads.getMessage());
        assertEquals(50, cache.length(0, 0), "nothing written");
    }

    @Test
    void isRegisteredAndSelectsHeadsOverAllLayers() {
        KvPolicyDescriptor d = KvPolicies.get("razor");
        assertEquals(0.15, ((Razor.Config) d.defaults()).retrievalFraction());
        assertEquals(4, ((Razor.Config) d.defaults()).sinks());
        HeadScores scores = HeadScores.of(new double[] {0.1, 0.9, 0.2, 0.3}, new double[] {0.5, 0.4, 0.3, 0.95});
        // ⌈0.25 · 8⌉ = 2 heads over both layers: layer 0 head 1 and layer 1 head 3
        KvPolicy p0 = d.create(new Razor.Config(scores, 0, 0.25, 4)), p1 = KvPolicies.razor(scores, 1);
        assertInstanceOf(Razor.class, p0);
        assertEquals("razor", p0.id());
        assertArrayEquals(new boolean[] {false, true, false, false}, ((Razor) p0).retrievalHeads());
        assertArrayEquals(new boolean[] {false, false, false, true}, ((Razor) p1).retrievalHeads(),
                "0.15 of 8 heads rounds up to 2: layer 1 head 3 is second");
        assertFalse(((Razor) p1).isRetrieval(0));
    }
}
