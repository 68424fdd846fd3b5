package io.attn4j.kv;

import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
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
 * Task-KV: the total over heads stays within kvHeads × budget, a budget at or above the lengths changes nothing, the
 * separator's per-KV-head attention and outputs equal the expanded MHA cache's averaged per group, a head planted
 * far from the semantic center keeps everything while the others keep sinks, recent rows and a planted middle
 * activation, decode over what is kept is exact, and bad configurations are refused.
 */
class TaskKvTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(2);
    private static final String SEED = " (seed base " + Fresh.base() + ")";

    private static Observation observe(Tensor q, int first, int d) {
        return new Observation(q, first, (float) (1 / Math.sqrt(d)), ENGINE);
    }

    @Test
    void totalOverHeadsStaysWithinTheBudget() {
        Random rng = new Random(Fresh.seed());
        int n = 300, hkv = 4, hq = 8, d = 16;
        TaskKv policy = new TaskKv(new TaskKv.Config(1.0, 4, 8, 8, 16));
        for (Budget budget : new Budget[] {Budget.tokens(3), Budget.tokens(16), Budget.tokens(40), Budget.tokens(100),
                Budget.ratio(0.25)}) {
            for (boolean paged : new boolean[] {false, true}) {
                KvCache.Builder builder = KvCache.builder(1, hkv, d);
                KvCache cache = (paged ? builder.paged(32) : builder).build();
                Tensor q = random(rng, n, hq, d);
                cache.append(0, random(rng, n, hkv, d), random(rng, n, hkv, d));
                Observation obs = observe(q, 0, d);
                TaskKv.Plan plan = policy.plan(cache, 0, budget, obs);
                policy.compress(cache, 0, budget, obs);
                int b = budget.rows(n), total = 0;
                for (int h = 0; h < hkv; h++) {
                    assertEquals(plan.budgets()[h], cache.length(0, h), budget + " head " + h + SEED);
                    total += cache.length(0, h);
                    int[] pos = cache.positions(0, h);
                    int forced = Math.min(cache.length(0, h), 4);
                    for (int p = 0; p < forced; p++) {
                        assertEquals(p, pos[p], budget + ": sinks come first in head " + h + SEED);
                    }
                    if (cache.length(0, h) >= 12) {
                        for (int p = n - 8; p < n; p++) {
                            assertTrue(Arrays.binarySearch(pos, p) >= 0, budget + ": recent " + p + " kept" + SEED);
                        }
                    }
                }
                assertEquals(Math.min((long) hkv * b, (long) hkv * n), total,
                        budget + ": the whole total is used, and no more" + SEED);
            }
        }
    }

    @Test
    void aBudgetAtOrAboveTheLengthChangesNothing() {
        Random rng = new Random(Fresh.seed());
        int n = 120, hkv = 2, hq = 4, d = 8;
        for (Budget budget : new Budget[] {Budget.tokens(n), Budget.tokens(5 * n), Budget.ratio(1)}) {
            KvCache cache = KvCache.builder(1, hkv, d).build();
            cache.append(0, random(rng, n, hkv, d), random(rng, n, hkv, d));
            long version = cache.version();
            new TaskKv(TaskKv.Config.defaults()).compress(cache, 0, budget, observe(random(rng, n, hq, d), 0, d));
            assertEquals(version, cache.version(), budget + ": nothing changed" + SEED);
            assertEquals(n, cache.length(0, 0));
            assertEquals(n, cache.length(0, 1));
        }
    }

    /** GQA: a KV head's attention and output are the averages over its group of the expanded MHA heads'. */
    @Test
    void gqaSeparatorEqualsTheExpandedMhaCacheAveragedPerGroup() {
        Random rng = new Random(Fresh.seed());
        int n = 200, hkv = 2, group = 3, hq = hkv * group, d = 16;
        Tensor k = random(rng, n, hkv, d), v = random(rng, n, hkv, d), q = random(rng, n, hq, d);
        Tensor kk = Tensor.zeros(n, hq, d), vv = Tensor.zeros(n, hq, d);
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < hq; h++) {
                for (int c = 0; c < d; c++) {
                    kk.set(k.get(t, h / group, c), t, h, c);
                    vv.set(v.get(t, h / group, c), t, h, c);
                }
            }
        }
        KvCache gqa = KvCache.builder(1, hkv, d).build(), mha = KvCache.builder(1, hq, d).build();
        gqa.append(0, k, v);
        mha.append(0, kk, vv);
        TaskKv policy = new TaskKv(TaskKv.Config.defaults());
        TaskKv.Plan a = policy.plan(gqa, 0, Budget.tokens(50), observe(q, 0, d));
        TaskKv.Plan b = policy.plan(mha, 0, Budget.tokens(50), observe(q, 0, d));
        for (int h = 0; h < hkv; h++) {
            for (int r = 0; r < n; r++) {
                double mean = 0;
                for (int g = 0; g < group; g++) {
                    mean += b.attention()[h * group + g][r] / group;
                }
                assertEquals(mean, a.attention()[h][r], 1e-5, "attention of head " + h + " row " + r + SEED);
            }
            for (int c = 0; c < d; c++) {
                double mean = 0;
                for (int g = 0; g < group; g++) {
                    mean += b.outputs()[h * group + g][c] / group;
                }
                assertEquals(mean, a.outputs()[h][c], 1e-5, "output of head " + h + " element " + c + SEED);
            }
        }
    }

    /**
     * Head 2's values are shifted by 20 in every element, so its output lies far from the center: it is the only
     * heterogeneous head and keeps its whole cache; the other heads keep sinks, recent rows and a key planted in
     * the middle of head 0 that every observed query attends to.
     */
    @Test
    void aHeadFarFromTheCenterKeepsEverythingAndOthersKeepTheirMiddleActivation() {
        Random rng = new Random(Fresh.seed());
        int n = 400, hkv = 4, hq = 4, d = 16, planted = 200;
        Tensor k = random(rng, n, hkv, d), v = random(rng, n, hkv, d), q = random(rng, n, hq, d);
        float[] u = new float[d];
        for (int c = 0; c < d; c++) {
            u[c] = (float) rng.nextGaussian();
        }
        double norm = 0;
        for (float x : u) {
            norm += x * x;
        }
        for (int c = 0; c < d; c++) {
            u[c] /= (float) Math.sqrt(norm);
            k.set(8 * u[c], planted, 0, c);
            for (int t = 0; t < n; t++) {
                q.set(q.get(t, 0, c) + 4 * u[c], t, 0, c);
                v.set(v.get(t, 2, c) + 20, t, 2, c);
            }
        }
        KvCache cache = KvCache.builder(1, hkv, d).build();
        cache.append(0, k, v);
        TaskKv policy = new TaskKv(TaskKv.Config.defaults());
        Budget budget = Budget.tokens(160);
        Observation obs = observe(q, 0, d);
        TaskKv.Plan plan = policy.plan(cache, 0, budget, obs);
        assertArrayEquals(new boolean[] {false, false, true, false}, plan.heterogeneous(),
                "only head 2 is heterogeneous; distances " + Arrays.toString(plan.distances()) + SEED);
        policy.compress(cache, 0, budget, obs);
        assertEquals(n, cache.length(0, 2), "the heterogeneous head keeps its whole cache" + SEED);
        int total = 0;
        for (int h = 0; h < hkv; h++) {
            total += cache.length(0, h);
            if (h == 2) {
                continue;
            }
            int[] pos = cache.positions(0, h);
            assertTrue(cache.length(0, h) < n, "head " + h + " is compressed" + SEED);
            for (int p : new int[] {0, 1, 2, 3, n - 32, n - 1}) {
                assertTrue(Arrays.binarySearch(pos, p) >= 0, "head " + h + " keeps position " + p + SEED);
            }
        }
        assertTrue(Arrays.binarySearch(cache.positions(0, 0), planted) >= 0,
                "head 0 keeps the planted middle activation" + SEED);
        assertTrue(total <= 4 * 160, "total " + total + SEED);
    }

    @Test
    void decodeOverTheCompressedCacheIsExactOverTheKeptRows() {
        Random rng = new Random(Fresh.seed());
        int n = 260, hkv = 2, hq = 6, d = 16;
        for (KvFormat format : new KvFormat[] {KvFormat.float32(), KvFormat.int8(8)}) {
            KvCache cache = KvCache.builder(2, hkv, d).format(format).paged(40).build();
            cache.append(0, random(rng, n, hkv, d), random(rng, n, hkv, d));
            cache.append(1, random(rng, 90, hkv, d), random(rng, 90, hkv, d));
            TaskKv policy = new TaskKv(new TaskKv.Config(1.0, 4, 8, 8, 16));
            policy.compress(cache, 0, Budget.tokens(30), observe(random(rng, n, hq, d), 0, d));
            policy.compress(cache, 1, Budget.tokens(30), observe(random(rng, 90, hq, d), 0, d));
            Tensor q = random(rng, 2, 1, hq, d), out = Tensor.zeros(2, 1, hq, d);
            new KvDecode(ENGINE).plan(cache, hq, 1).run(q, out);
            assertClose(format + ": decode vs float64 over the kept rows" + SEED, out,
                    expected(cache, q, (float) (1 / Math.sqrt(d)), null), 2e-5);
        }
    }

    @Test
    void badConfigurationsAndObservationsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new TaskKv.Config(0, 4, 32, 32, 32));
        assertThrows(IllegalArgumentException.class, () -> new TaskKv.Config(Double.NaN, 4, 32, 32, 32));
        assertThrows(IllegalArgumentException.class, () -> new TaskKv.Config(1, -1, 32, 32, 32));
        assertThrows(IllegalArgumentException.class, () -> new TaskKv.Config(1, 4, -1, 32, 32));
        assertThrows(IllegalArgumentException.class, () -> new TaskKv.Config(1, 4, 32, -1, 32));
        IllegalArgumentException window = assertThrows(IllegalArgumentException.class,
                () -> new TaskKv.Config(1, 4, 32, 32, 0));
        assertTrue(window.getMessage().contains("window = 0"), window.getMessage());
        KvCache cache = KvCache.builder(1, 2, 8).build();
        cache.append(0, Tensor.zeros(50, 2, 8), Tensor.zeros(50, 2, 8));
        long version = cache.version();
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> new TaskKv(
                TaskKv.Config.defaults()).compress(cache, 0, Budget.tokens(8), Observation.none(cache, 4, ENGINE)));
        assertTrue(none.getMessage().contains("task-kv"), none.getMessage());
        assertEquals(version, cache.version(), "nothing written");
        assertInstanceOf(TaskKv.class, KvPolicies.create("task-kv"));
        assertFalse(KvPolicies.get("task-kv").paper().isEmpty());
    }
}
