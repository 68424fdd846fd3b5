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
 * DuoAttention: retrieval heads (picked over all layers from head scores at the configured sparsity) are untouched,
 * streaming heads hold exactly sinks + recent within the budget (the rows StreamingLLM keeps at that budget), a
 * budget at or above the length changes nothing, decode over the result is exact over the kept rows, and invalid
 * configurations are refused.
 */
class DuoTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(3);
    private static final int HKV = 4, HQ = 8, D = 16;
    /** Over both layers the top half (sparsity 0.5) is: layer 0 heads 1, 2 and layer 1 heads 0, 3. */
    private static final HeadScores SCORES = HeadScores.of(new double[] {0.1, 0.8, 0.7, 0.2},
            new double[] {0.9, 0.3, 0.05, 0.6});

    private static String seeds() {
        return " (seed base " + Fresh.base() + ")";
    }

    private static Duo duo(int layer, double sparsity, int sinks) {
        return new Duo(new Duo.Config(SCORES, layer, sparsity, sinks));
    }

    @Test
    void streamingHeadsKeepSinksAndRecentAndRetrievalHeadsKeepEverything() {
        Random rng = new Random(Fresh.seed());
        int n = 300, sinks = 8, budget = 40;
        Tensor k = random(rng, n, HKV, D), v = random(rng, n, HKV, D), q = random(rng, 1, 2, HQ, D);
        for (KvCache cache : new KvCache[] {KvCache.builder(1, HKV, D).build(),
                KvCache.builder(1, HKV, D).paged(32).build()}) {
            cache.append(0, k, v);
            KvCache streaming = KvCache.builder(1, HKV, D).build();
            streaming.append(0, k, v);
            Duo duo = duo(1, 0.5, sinks);
            assertArrayEquals(new boolean[] {true, false, false, true}, duo.retrievalHeads());
            duo.compress(cache, 0, Budget.tokens(budget), Observation.none(cache, HQ, ENGINE));
            new StreamingLlm(new StreamingLlm.Config(sinks)).compress(streaming, 0, Budget.tokens(budget),
                    Observation.none(streaming, HQ, ENGINE));
            int[] want = new int[budget];
            for (int i = 0; i < budget; i++) {
                want[i] = i < sinks ? i : n - budget + i;
            }
            float[] key = new float[D];
            for (int h = 0; h < HKV; h++) {
                if (duo.isRetrieval(h)) {
                    assertEquals(n, cache.length(0, h), "retrieval head " + h + seeds());
                    for (int r = 0; r < n; r++) {
                        cache.key(0, h, r, key, 0);
                        assertEquals(r, cache.position(0, h, r));
                        for (int c = 0; c < D; c++) {
                            assertEquals(k.get(r, h, c), key[c], 0, "retrieval head " + h + " row " + r + seeds());
                        }
                    }
                } else {
                    assertArrayEquals(want, cache.positions(0, h), "streaming head " + h + seeds());
                    assertArrayEquals(streaming.positions(0, h), cache.positions(0, h),
                            "streaming head " + h + " = StreamingLLM at the same budget" + seeds());
                    for (int r = 0; r < budget; r++) {
                        assertEquals(1, cache.multiplicity(0, h, r), 0, "no merged rows");
                    }
                }
            }
            Tensor out = Tensor.zeros(1, 2, HQ, D);
            new KvDecode(ENGINE).plan(cache, HQ, 2).run(q, out);
            assertClose(cache.storage() + ": decode vs float64 over the kept rows", out,
                    expected(cache, q, (float) (1 / Math.sqrt(D)), null), 2e-5);
        }
    }

    @Test
    void budgetsSmallLargeAndRelative() {
        Random rng = new Random(Fresh.seed());
        int n = 100, sinks = 6;
        Tensor k = random(rng, n, HKV, D), v = random(rng, n, HKV, D);
        for (Budget budget : new Budget[] {Budget.tokens(1), Budget.tokens(4), Budget.tokens(7), Budget.ratio(0.25),
                Budget.tokens(99)}) {
            KvCache cache = KvCache.builder(1, HKV, D).build();
            cache.append(0, k, v);
            duo(0, 0.5, sinks).compress(cache, 0, budget, Observation.none(cache, HQ, ENGINE));
            int rows = budget.rows(n), s = Math.min(sinks, rows);
            int[] want = new int[rows];
            for (int i = 0; i < rows; i++) {
                want[i] = i < s ? i : n - rows + i;
            }
            for (int h = 0; h < HKV; h++) {
                boolean retrieval = h == 1 || h == 2;
                assertEquals(retrieval ? n : rows, cache.length(0, h), "budget " + budget + ", head " + h + seeds());
                if (!retrieval) {
                    assertArrayEquals(want, cache.positions(0, h), "budget " + budget + ", head " + h + seeds());
                }
            }
        }
        KvCache cache = KvCache.builder(1, HKV, D).build();
        cache.append(0, k, v);
        long version = cache.version();
        for (Budget budget : new Budget[] {Budget.tokens(n), Budget.tokens(n + 1), Budget.ratio(1)}) {
            duo(0, 0.5, sinks).compress(cache, 0, budget, Observation.none(cache, HQ, ENGINE));
            assertEquals(version, cache.version(), "a budget >= the length changes nothing: " + budget);
        }
    }

    @Test
    void sparsityDecidesHowManyHeadsStream() {
        Random rng = new Random(Fresh.seed());
        int n = 80;
        Tensor k = random(rng, n, HKV, D), v = random(rng, n, HKV, D);
        // sparsity 0: every head is a retrieval head; 1: every head streams; 0.75: ⌈0.25 · 8⌉ = 2 retrieval heads
        int[][] lengths = {{n, n, n, n}, {10, 10, 10, 10}, {10, n, 10, 10}};
        double[] sparsity = {0, 1, 0.75};
        for (int i = 0; i < sparsity.length; i++) {
            KvCache cache = KvCache.builder(1, HKV, D).build();
            cache.append(0, k, v);
            duo(0, sparsity[i], 4).compress(cache, 0, Budget.tokens(10), Observation.none(cache, HQ, ENGINE));
            int[] got = new int[HKV];
            for (int h = 0; h < HKV; h++) {
                got[h] = cache.length(0, h);
            }
            assertArrayEquals(lengths[i], got, "sparsity " + sparsity[i] + seeds());
        }
        assertArrayEquals(new boolean[] {true, false, false, false}, duo(1, 0.75, 4).retrievalHeads());
    }

    @Test
    void defaultsFollowThePaperAndTheRegistry() {
        Duo.Config defaults = (Duo.Config) KvPolicies.get("duo").defaults();
        assertEquals(0.5, defaults.sparsity());
        assertEquals(64, defaults.sinks());
        assertEquals(Budget.tokens(320), defaults.paperBudget());
        KvPolicy p = KvPolicies.get("duo").create(defaults.withScores(SCORES, 1));
        assertInstanceOf(Duo.class, p);
        assertEquals("duo", p.id());
        assertArrayEquals(new boolean[] {true, false, false, true}, KvPolicies.duo(SCORES, 1).retrievalHeads());
        java.util.List<String> ids = KvPolicies.all().stream().map(KvPolicyDescriptor::id).toList();
        assertEquals(ids.indexOf("razor") + 1, ids.indexOf("duo"), "catalog order: razor, then duo " + ids);
    }

    @Test
    void invalidConfigurationsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Duo.Config(SCORES, 0, -0.01, 64));
        assertThrows(IllegalArgumentException.class, () -> new Duo.Config(SCORES, 0, 1.01, 64));
        assertThrows(IllegalArgumentException.class, () -> new Duo.Config(SCORES, 0, Double.NaN, 64));
        assertThrows(IllegalArgumentException.class, () -> new Duo.Config(SCORES, 0, 0.5, -1));
        assertThrows(IllegalArgumentException.class, () -> new Duo.Config(SCORES, 2, 0.5, 64));
        assertThrows(IllegalArgumentException.class, () -> new Duo.Config(null, -1, 0.5, 64));
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> KvPolicies.create("duo"));
        assertTrue(none.getMessage().contains("HeadScores") && none.getMessage().contains("duo"), none.getMessage());
        KvCache cache = KvCache.builder(1, 2, D).build();
        cache.append(0, Tensor.zeros(30, 2, D), Tensor.zeros(30, 2, D));
        IllegalArgumentException heads = assertThrows(IllegalArgumentException.class,
                () -> duo(0, 0.5, 4).compress(cache, 0, Budget.tokens(5), Observation.none(cache, 2, ENGINE)));
        assertTrue(heads.getMessage().contains("the cache has 2"), heads.getMessage());
        assertEquals(30, cache.length(0, 0), "nothing written");
    }
}
