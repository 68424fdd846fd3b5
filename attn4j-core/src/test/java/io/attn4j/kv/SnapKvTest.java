package io.attn4j.kv;

import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.Needle;
import io.attn4j.inputs.StandardInputs;
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
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SnapKV: the budget contract with the window always kept, no change under a large budget, GQA scoring equal to the
 * expanded MHA cache averaged per group, pooling along positions, a planted peak kept with its neighbours, needles
 * of structured inputs found after compression, decode exact over the kept rows, and bad input refused.
 */
class SnapKvTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(2);

    private static String seeds(long seed) {
        return " (seed " + seed + ", base " + Fresh.base() + ")";
    }

    /** A cache holding {@code k}, {@code v} ({@code [1, n, hkv, d]}) and the observation of {@code q}. */
    private static KvCache cache(Tensor k, Tensor v, KvCache.Builder builder) {
        KvCache cache = builder.build();
        cache.append(0, k, v);
        return cache;
    }

    private static Observation observe(Tensor q, int first) {
        Tensor queries = q.reshape(q.size(1), q.size(2), q.size(3));
        return new Observation(queries, first, (float) (1 / Math.sqrt(q.size(3))), ENGINE);
    }

    @Test
    void budgetContractKeepsTheWindowAndHoldsEveryHeadWithinItsBudget() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int n = 700, hkv = 3, hq = 6, d = 16;
        Tensor k = random(rng, 1, n, hkv, d), v = random(rng, 1, n, hkv, d), q = random(rng, 1, n, hq, d);
        for (Budget budget : new Budget[] {Budget.tokens(100), Budget.ratio(0.25), Budget.tokens(40)}) {
            for (SnapKv.Pooling pooling : SnapKv.Pooling.values()) {
                KvCache cache = cache(k, v, KvCache.builder(1, hkv, d).paged(64));
                SnapKv policy = KvPolicies.snapKv(50, 5, pooling);
                policy.compress(cache, 0, budget, observe(q, 0));
                int rows = budget.rows(n);
                for (int h = 0; h < hkv; h++) {
                    String what = budget + " " + pooling + " head " + h + seeds(seed);
                    assertEquals(rows, cache.length(0, h), what);
                    int[] positions = cache.positions(0, h);
                    // the window (the last 50 positions) is kept; a budget below it keeps its most recent rows
                    int window = Math.min(50, rows);
                    for (int i = 0; i < window; i++) {
                        assertEquals(n - window + i, positions[rows - window + i], what);
                    }
                }
            }
        }
    }

    @Test
    void aBudgetAtLeastTheLengthChangesNothing() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int n = 300, hkv = 2, hq = 4, d = 8;
        Tensor k = random(rng, 1, n, hkv, d), v = random(rng, 1, n, hkv, d), q = random(rng, 1, n, hq, d);
        for (Budget budget : new Budget[] {Budget.tokens(n), Budget.tokens(5 * n), Budget.ratio(1)}) {
            KvCache cache = cache(k, v, KvCache.builder(1, hkv, d));
            long version = cache.version();
            KvPolicies.create("snapkv").compress(cache, 0, budget, observe(q, 0));
            assertEquals(version, cache.version(), budget + seeds(seed));
            for (int h = 0; h < hkv; h++) {
                assertEquals(n, cache.length(0, h), budget + seeds(seed));
            }
        }
    }

    @Test
    void gqaScoringEqualsTheExpandedMhaCacheAveragedPerGroup() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int n = 500, hkv = 2, hq = 8, d = 16, group = hq / hkv;
        Tensor k = random(rng, 1, n, hkv, d), v = random(rng, 1, n, hkv, d), q = random(rng, 1, n, hq, d);
        Tensor kx = Tensor.zeros(1, n, hq, d), vx = Tensor.zeros(1, n, hq, d); // K/V expanded to one per query head
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < hq; h++) {
                for (int c = 0; c < d; c++) {
                    kx.set(k.get(0, t, h / group, c), 0, t, h, c);
                    vx.set(v.get(0, t, h / group, c), 0, t, h, c);
                }
            }
        }
        KvCache gqa = cache(k, v, KvCache.builder(1, hkv, d)), mha = cache(kx, vx, KvCache.builder(1, hq, d));
        Observation obs = observe(q, 0);
        int window = 40, kernel = 7;
        for (SnapKv.Pooling pooling : SnapKv.Pooling.values()) {
            SnapKv policy = KvPolicies.snapKv(window, kernel, pooling), raw = KvPolicies.snapKv(window, 1, pooling);
            for (int kvh = 0; kvh < hkv; kvh++) {
                float[] ours = new float[n];
                policy.score(gqa, 0, kvh, obs, ours);
                // average the group's MHA heads: pooled scores for AVG (linear: kvpress's pool-then-average),
                // unpooled votes then pooled for MAX (the documented average-then-pool order)
                double[] mean = new double[n];
                for (int g = 0; g < group; g++) {
                    float[] s = new float[n];
                    (pooling == SnapKv.Pooling.AVG ? policy : raw).score(mha, 0, kvh * group + g, obs, s);
                    for (int j = 0; j < n; j++) {
                        mean[j] += s[j] / group;
                    }
                }
                float[] expected = new float[n];
                if (pooling == SnapKv.Pooling.AVG) {
                    for (int j = 0; j < n; j++) {
                        expected[j] = (float) mean[j];
                    }
                } else {
                    float[] votes = new float[n];
                    for (int j = 0; j < n; j++) {
                        votes[j] = (float) mean[j];
                    }
                    SnapKv.pool(votes, mha.positions(0, 0), n - window, kernel, pooling, expected);
                    Arrays.fill(expected, n - window, n, Float.POSITIVE_INFINITY);
                }
                for (int j = 0; j < n; j++) {
                    String what = pooling + " head " + kvh + " row " + j + seeds(seed);
                    if (j >= n - window) {
                        assertEquals(Float.POSITIVE_INFINITY, ours[j], what);
                        assertEquals(Float.POSITIVE_INFINITY, expected[j], what);
                    } else {
                        assertEquals(expected[j], ours[j], 1e-5 * Math.abs(expected[j]) + 1e-9, what);
                    }
                }
            }
            // and the same rows are kept: GQA heads equal the group's expanded heads' choice of the averaged scores
            KvCache compressed = cache(k, v, KvCache.builder(1, hkv, d));
            policy.compress(compressed, 0, Budget.tokens(120), obs);
            for (int kvh = 0; kvh < hkv; kvh++) {
                float[] ours = new float[n];
                policy.score(gqa, 0, kvh, obs, ours);
                assertArrayEquals(ScoringPolicy.topRows(ours, n, 120), compressed.positions(0, kvh),
                        pooling + " head " + kvh + seeds(seed));
            }
        }
    }

    @Test
    void poolingRunsAlongPositionsWithZeroPaddingForTheMeanAndNoneForTheMax() {
        float[] values = {1, 2, 3, 4, 5, 100};
        int[] positions = {0, 1, 2, 5, 6, 9};
        float[] out = new float[6];
        SnapKv.pool(values, positions, 5, 3, SnapKv.Pooling.AVG, out); // the sixth row is not pooled (window)
        assertArrayEquals(new float[] {1f, 2f, 5f / 3, 3f, 3f, 0f}, out, 1e-6f);
        SnapKv.pool(values, positions, 5, 3, SnapKv.Pooling.MAX, out);
        assertArrayEquals(new float[] {2f, 3f, 3f, 5f, 5f, 0f}, out, 0f);
        SnapKv.pool(values, positions, 5, 1, SnapKv.Pooling.AVG, out);
        assertArrayEquals(new float[] {1f, 2f, 3f, 4f, 5f, 0f}, out, 0f);
    }

    /**
     * One key at {@code peak} is aligned with every window query (a heavy hitter); every other key is noise. With a
     * budget of the window plus the kernel, the peak and its kernel's neighbours are kept — and without pooling
     * (kernel 1) the neighbours are not: it is the pooling that keeps them.
     */
    @Test
    void aPlantedPeakIsKeptWithItsNeighbours() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int n = 400, hkv = 2, hq = 4, d = 16, window = 16, kernel = 5, peak = 123;
        Tensor k = random(rng, 1, n, hkv, d), v = random(rng, 1, n, hkv, d), q = random(rng, 1, n, hq, d);
        for (int t = n - window; t < n; t++) {
            for (int h = 0; h < hq; h++) {
                q.set(q.get(0, t, h, 0) + 6f, 0, t, h, 0);
            }
        }
        for (int h = 0; h < hkv; h++) {
            k.set(6f, 0, peak, h, 0);
        }
        for (SnapKv.Pooling pooling : SnapKv.Pooling.values()) {
            KvCache cache = cache(k, v, KvCache.builder(1, hkv, d));
            KvPolicies.snapKv(window, kernel, pooling).compress(cache, 0, Budget.tokens(window + kernel),
                    observe(q, 0));
            KvCache unpooled = cache(k, v, KvCache.builder(1, hkv, d));
            KvPolicies.snapKv(window, 1, pooling).compress(unpooled, 0, Budget.tokens(window + kernel),
                    observe(q, 0));
            for (int h = 0; h < hkv; h++) {
                int[] kept = cache.positions(0, h);
                for (int p = peak - kernel / 2; p <= peak + kernel / 2; p++) {
                    assertTrue(Arrays.binarySearch(kept, p) >= 0, pooling + " head " + h + " dropped " + p
                            + " next to the peak: " + Arrays.toString(kept) + seeds(seed));
                }
                int[] alone = unpooled.positions(0, h);
                assertTrue(Arrays.binarySearch(alone, peak) >= 0, "kernel 1 dropped the peak" + seeds(seed));
                int neighbours = 0;
                for (int p = peak - kernel / 2; p <= peak + kernel / 2; p++) {
                    neighbours += p != peak && Arrays.binarySearch(alone, p) >= 0 ? 1 : 0;
                }
                assertTrue(neighbours < kernel - 1, "kernel 1 kept every neighbour anyway: "
                        + Arrays.toString(alone) + seeds(seed));
            }
        }
    }

    /**
     * A structured prompt with needles (the last query rows look for planted keys): after compression to 1/8 with
     * the prompt's queries, each needle query's top-weighted key among the kept rows of its KV head, for every
     * query head of the group, is its needle key. The needle queries sit inside the observation window and put at
     * least 90 % of their mass on their needle (the input's construction), so SnapKV's window votes for every
     * needle; a miss means the voting, pooling or selection lost it. Measured: every needle found at 8K and 32K
     * tokens with either pooling; the bound 95 % is the catalog's target. The same check on StreamingLLM at the
     * same budget (sinks and the recent eighth: only the deepest needle survives) finds 1 in 8, and is asserted
     * below a half, so the check tells a query-aware policy from a blind one. {@code -Dattn4j.snapkv.needleLength}
     * runs it at another length.
     */
    @Test
    void needlesAreFoundAfterCompressingToAnEighth() {
        long seed = Fresh.seed();
        int n = Integer.getInteger("attn4j.snapkv.needleLength", 8192);
        AttentionInputs in = StandardInputs.structured(seed, InputShape.self(1, n, 8, 2, 64));
        for (SnapKv.Pooling pooling : SnapKv.Pooling.values()) {
            double rate = needleRate(in, new SnapKv(new SnapKv.Config(64, 5, pooling)));
            System.out.printf("snapkv %s n=%d: needles found %.4f%n", pooling, n, rate);
            assertTrue(rate >= 0.95, pooling + ": " + rate + " of needles found at " + n + " tokens" + seeds(seed));
        }
        double blind = needleRate(in, KvPolicies.streaming(4));
        System.out.printf("streaming n=%d: needles found %.4f%n", n, blind);
        assertTrue(blind < 0.5, "streaming found " + blind + " of needles: the check does not discriminate"
                + seeds(seed));
    }

    private static double needleRate(AttentionInputs in, KvPolicy policy) {
        int n = in.shape().keyLength(), hq = in.shape().heads(), hkv = in.shape().kvHeads(), d = in.shape().headDim();
        int group = hq / hkv;
        KvCache cache = cache(in.k(), in.v(), KvCache.builder(1, hkv, d));
        policy.compress(cache, 0, Budget.ratio(1.0 / 8), observe(in.q(), 0));
        int found = 0, total = 0;
        float[] key = new float[d];
        for (Needle needle : in.needles()) {
            int h = needle.kvHead(), rows = cache.length(0, h);
            assertTrue(rows <= Budget.ratio(1.0 / 8).rows(n));
            for (int g = 0; g < group; g++) {
                int qh = h * group + g, best = -1;
                double bestLogit = Double.NEGATIVE_INFINITY;
                for (int r = 0; r < rows && cache.position(0, h, r) <= needle.queryIndex(); r++) {
                    cache.key(0, h, r, key, 0);
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) in.q().get(0, needle.queryIndex(), qh, c) * key[c];
                    }
                    if (dot > bestLogit) {
                        bestLogit = dot;
                        best = cache.position(0, h, r);
                    }
                }
                found += best == needle.keyPosition() ? 1 : 0;
                total++;
            }
        }
        assertTrue(total >= 16, "too few needles: " + total);
        return (double) found / total;
    }

    @Test
    void decodeOverTheCompressedCacheIsExactOverTheKeptRows() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int n = 600, hkv = 2, hq = 6, d = 16;
        Tensor k = random(rng, 1, n, hkv, d), v = random(rng, 1, n, hkv, d), q = random(rng, 1, n, hq, d);
        for (KvCache.Builder builder : new KvCache.Builder[] {KvCache.builder(1, hkv, d),
                KvCache.builder(1, hkv, d).paged(32), KvCache.builder(1, hkv, d).format(KvFormat.int8(8))}) {
            KvCache cache = cache(k, v, builder);
            KvPolicies.create("snapkv").compress(cache, 0, Budget.tokens(150), observe(q, 0));
            Tensor step = random(rng, 1, 1, hq, d), out = Tensor.zeros(1, 1, hq, d);
            float scale = (float) (1 / Math.sqrt(d));
            new KvDecode(ENGINE).plan(cache, hq, 1).run(step, out, KvDecode.Options.defaults().withScale(scale));
            assertClose(cache.storage() + " " + cache.format() + seeds(seed), out, expected(cache, step, scale, null),
                    2e-5);
        }
    }

    /** In a session compressing every 8 steps, the window is the session's last queries and the budget holds. */
    @Test
    void atDecodeTheWindowIsTheSessionsRecentQueries() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int n = 300, hkv = 2, hq = 4, d = 16, window = 16, budget = 64;
        KvCache cache = KvCache.builder(1, hkv, d).build();
        KvSession session = new KvSession(cache, KvPolicies.snapKv(window, 5), Budget.tokens(budget), hq, 8, 32,
                ENGINE);
        session.prefill(0, random(rng, n, hq, d), random(rng, n, hkv, d), random(rng, n, hkv, d));
        for (int s = 0; s < 24; s++) {
            session.step(random(rng, 1, 1, hq, d), random(rng, 1, 1, hkv, d), random(rng, 1, 1, hkv, d),
                    Tensor.zeros(1, 1, hq, d));
        }
        int seen = cache.tokensSeen(0);
        assertEquals(n + 24, seen);
        for (int h = 0; h < hkv; h++) {
            int[] positions = cache.positions(0, h);
            assertEquals(budget, positions.length, "head " + h + seeds(seed));
            for (int i = 0; i < window; i++) { // the last compression (at step 24) kept its window's 16 tokens
                assertEquals(seen - window + i, positions[budget - window + i], "head " + h + seeds(seed));
            }
        }
    }

    @Test
    void badConfigsAndObservationsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new SnapKv.Config(0, 5, SnapKv.Pooling.AVG));
        assertThrows(IllegalArgumentException.class, () -> new SnapKv.Config(64, 4, SnapKv.Pooling.AVG));
        assertThrows(IllegalArgumentException.class, () -> new SnapKv.Config(64, 0, SnapKv.Pooling.MAX));
        assertThrows(IllegalArgumentException.class, () -> new SnapKv.Config(64, -3, SnapKv.Pooling.MAX));
        assertThrows(IllegalArgumentException.class, () -> new SnapKv.Config(64, 5, null));
        assertThrows(IllegalArgumentException.class, () -> new SnapKv(null));
        Random rng = new Random(Fresh.seed());
        KvCache cache = cache(random(rng, 1, 100, 2, 8), random(rng, 1, 100, 2, 8), KvCache.builder(1, 2, 8));
        SnapKv policy = new SnapKv(SnapKv.Config.defaults());
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> policy.compress(cache, 0, Budget.tokens(10), Observation.none(cache, 4, ENGINE)));
        assertTrue(none.getMessage().contains("snapkv"), none.getMessage());
        assertThrows(IllegalArgumentException.class, () -> policy.compress(cache, 0, Budget.tokens(10),
                observe(random(rng, 1, 100, 3, 8), 0))); // 3 query heads for 2 KV heads
        assertThrows(IllegalArgumentException.class, () -> policy.compress(cache, 0, Budget.tokens(10),
                observe(random(rng, 1, 100, 4, 6), 0))); // wrong head dimension
        assertEquals(100, cache.length(0, 0));
        assertEquals(100, cache.length(0, 1));
    }

    @Test
    void registeredWithItsDefaults() {
        KvPolicyDescriptor descriptor = KvPolicies.get("snapkv");
        assertEquals(SnapKv.Config.defaults(), descriptor.defaults());
        assertEquals(new SnapKv.Config(64, 5, SnapKv.Pooling.AVG), descriptor.defaults());
        SnapKv policy = assertInstanceOf(SnapKv.class, descriptor.create());
        assertEquals("snapkv", policy.id());
        assertEquals(new SnapKv.Config(32, 7, SnapKv.Pooling.MAX),
                ((SnapKv) descriptor.create(new SnapKv.Config(32, 7, SnapKv.Pooling.MAX))).config());
    }
}
