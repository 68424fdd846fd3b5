package io.attn4j.kv;

import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static io.attn4j.kv.KvTesting.expected;
import static io.attn4j.kv.KvTesting.random;
import static io.attn4j.testing.Numerics.assertBitIdentical;
import static io.attn4j.testing.Numerics.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Recycled Attention in a {@link KvSession}: full steps equal full-cache decode bit for bit; the steps between equal
 * exact attention over the recorded rows plus the new tokens, where the recorded rows are the top-K of the full
 * step's group-averaged weights (checked against a float64 oracle) copied with their positions and contents; the
 * cache keeps everything; state is per cache; bad configurations are refused.
 */
class RecycledTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(2);
    private static final String SEED = " (seed base " + Fresh.base() + ")";

    @Test
    void fullStepsEqualFullDecodeAndTheStepsBetweenReadTheRecordedRowsPlusNewTokens() {
        int s = 2, prompt = 180, hkv = 2, hq = 6, d = 16, stride = 4, k = 24, steps = 11;
        for (KvFormat format : new KvFormat[] {KvFormat.float32(), KvFormat.int8(8)}) {
            Random rng = new Random(Fresh.seed());
            KvCache cache = KvCache.builder(s, hkv, d).format(format).build();
            KvCache reference = KvCache.builder(s, hkv, d).format(format).build();
            Recycled policy = KvPolicies.recycled(stride, 0);
            KvSession session = new KvSession(cache, policy, Budget.tokens(k), hq, 0, 8, ENGINE);
            KvSession full = new KvSession(reference, KvPolicies.full(), Budget.tokens(k), hq, 0, 8, ENGINE);
            for (int b = 0; b < s; b++) {
                int n = prompt - 50 * b;
                Tensor q = random(rng, n, hq, d), kk = random(rng, n, hkv, d), vv = random(rng, n, hkv, d);
                session.prefill(b, q, kk, vv);
                full.prefill(b, q, kk, vv);
            }
            int[] refreshSeen = new int[s];
            int[][][] recorded = new int[s][hkv][];
            for (int step = 1; step <= steps; step++) {
                Tensor q = random(rng, s, 1, hq, d), kk = random(rng, s, 1, hkv, d), vv = random(rng, s, 1, hkv, d);
                Tensor out = Tensor.zeros(s, 1, hq, d), ref = Tensor.zeros(s, 1, hq, d);
                session.step(q, kk, vv, out);
                full.step(q, kk, vv, ref);
                String at = format + " step " + step + SEED;
                KvCache side = policy.side(cache);
                if ((step - 1) % stride == 0) {
                    assertBitIdentical(at + ": a full step is full-cache decode", out, ref);
                    for (int b = 0; b < s; b++) {
                        refreshSeen[b] = cache.tokensSeen(b);
                        for (int h = 0; h < hkv; h++) {
                            recorded[b][h] = checkTopK(cache, q, b, h, side.positions(b, h), k, at);
                        }
                    }
                } else {
                    assertClose(at + ": exact attention over the side cache", out,
                            expected(side, q, (float) (1 / Math.sqrt(d)), null), 2e-5);
                    for (int b = 0; b < s; b++) {
                        for (int h = 0; h < hkv; h++) {
                            int[] want = Arrays.copyOf(recorded[b][h], k + cache.tokensSeen(b) - refreshSeen[b]);
                            for (int p = refreshSeen[b], i = k; p < cache.tokensSeen(b); p++) {
                                want[i++] = p;
                            }
                            assertTrue(Arrays.equals(want, side.positions(b, h)), at + ": sequence " + b + " head "
                                    + h + " reads the recorded rows and the new tokens");
                            assertSameRows(cache, side, b, h, at);
                        }
                    }
                }
                for (int b = 0; b < s; b++) {
                    for (int h = 0; h < hkv; h++) {
                        assertEquals(cache.tokensSeen(b), cache.length(b, h), at + ": the cache keeps everything");
                    }
                }
            }
        }
    }

    /**
     * The recorded positions are the K rows of largest group-averaged float64 attention of the full step's query
     * (a tolerance of 1e-6 in weight for near ties); returns them.
     */
    private static int[] checkTopK(KvCache cache, Tensor q, int b, int kvh, int[] recorded, int k, String at) {
        int n = cache.length(b, kvh), d = cache.headDim(), group = q.size(2) / cache.kvHeads();
        assertEquals(k, recorded.length, at + ": K rows recorded");
        double[] weight = new double[n];
        float[] key = new float[d];
        for (int g = 0; g < group; g++) {
            int h = kvh * group + g;
            double[] logit = new double[n];
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int r = 0; r < n; r++) {
                cache.key(b, kvh, r, key, 0);
                double dot = 0;
                for (int c = 0; c < d; c++) {
                    dot += (double) q.get(b, 0, h, c) * key[c];
                }
                logit[r] = dot / Math.sqrt(d);
                max = Math.max(max, logit[r]);
            }
            for (int r = 0; r < n; r++) {
                sum += Math.exp(logit[r] - max);
            }
            for (int r = 0; r < n; r++) {
                weight[r] += Math.exp(logit[r] - max) / sum / group;
            }
        }
        double minKept = Double.POSITIVE_INFINITY, maxDropped = 0;
        for (int r = 0; r < n; r++) {
            boolean kept = Arrays.binarySearch(recorded, cache.position(b, kvh, r)) >= 0;
            if (kept) {
                minKept = Math.min(minKept, weight[r]);
            } else {
                maxDropped = Math.max(maxDropped, weight[r]);
            }
        }
        assertTrue(minKept >= maxDropped - 1e-6, at + ": recorded rows are the top-K by weight (" + minKept
                + " kept vs " + maxDropped + " dropped)");
        return recorded.clone();
    }

    /** The side cache's rows are the cache's rows at those positions: keys and values identical. */
    private static void assertSameRows(KvCache cache, KvCache side, int b, int h, String at) {
        int d = cache.headDim();
        float[] a = new float[d], c = new float[d];
        for (int r = 0; r < side.length(b, h); r++) {
            int p = side.position(b, h, r); // an uncompressed cache holds position p at row p
            side.key(b, h, r, a, 0);
            cache.key(b, h, p, c, 0);
            assertTrue(Arrays.equals(a, c), at + ": key at position " + p);
            side.value(b, h, r, a, 0);
            cache.value(b, h, p, c, 0);
            assertTrue(Arrays.equals(a, c), at + ": value at position " + p);
        }
    }

    /** K at or above the length: every step reads a full copy, so every step equals full decode. */
    @Test
    void aKAtOrAboveTheLengthIsFullDecodeAtEveryStep() {
        Random rng = new Random(Fresh.seed());
        int n = 60, hkv = 1, hq = 2, d = 8;
        KvCache cache = KvCache.builder(1, hkv, d).build(), reference = KvCache.builder(1, hkv, d).build();
        KvSession session = new KvSession(cache, KvPolicies.recycled(3, 500), Budget.tokens(4), hq, 0, 4, ENGINE);
        KvSession full = new KvSession(reference, KvPolicies.full(), Budget.tokens(4), hq, 0, 4, ENGINE);
        Tensor q0 = random(rng, n, hq, d), k0 = random(rng, n, hkv, d), v0 = random(rng, n, hkv, d);
        session.prefill(0, q0, k0, v0);
        full.prefill(0, q0, k0, v0);
        for (int step = 1; step <= 7; step++) {
            Tensor q = random(rng, 1, 1, hq, d), k = random(rng, 1, 1, hkv, d), v = random(rng, 1, 1, hkv, d);
            Tensor out = Tensor.zeros(1, 1, hq, d), ref = Tensor.zeros(1, 1, hq, d);
            session.step(q, k, v, out);
            full.step(q, k, v, ref);
            assertClose("step " + step + SEED, out, ref, 1e-6);
        }
    }

    /** One policy, two caches: state is per cache; a truncation forces a full step. */
    @Test
    void stateIsPerCacheAndATruncationForcesAFullStep() {
        Random rng = new Random(Fresh.seed());
        int n = 80, hkv = 2, hq = 2, d = 8;
        Recycled policy = KvPolicies.recycled(5, 6);
        KvCache a = KvCache.builder(1, hkv, d).build(), b = KvCache.builder(1, hkv, d).build();
        a.append(0, random(rng, n, hkv, d), random(rng, n, hkv, d));
        b.append(0, random(rng, n + 7, hkv, d), random(rng, n + 7, hkv, d));
        Observation obs = Observation.none(a, hq, ENGINE);
        assertSame(a, policy.attendTo(a, random(rng, 1, 1, hq, d), 1, obs));
        assertSame(b, policy.attendTo(b, random(rng, 1, 1, hq, d), 1, obs));
        KvCache sideA = policy.attendTo(a, random(rng, 1, 1, hq, d), 2, obs);
        KvCache sideB = policy.attendTo(b, random(rng, 1, 1, hq, d), 2, obs);
        assertNotSame(sideA, sideB);
        assertEquals(n, sideA.tokensSeen(0));
        assertEquals(n + 7, sideB.tokensSeen(0));
        assertEquals(6, sideA.length(0, 0));
        a.append(0, random(rng, 1, hkv, d), random(rng, 1, hkv, d));
        assertEquals(7, policy.attendTo(a, random(rng, 1, 1, hq, d), 3, obs).length(0, 1), "plus the new token");
        a.truncate(0, n - 10);
        assertSame(a, policy.attendTo(a, random(rng, 1, 1, hq, d), 4, obs), "a truncation forces a full step");
        policy.reset(b);
        assertSame(b, policy.attendTo(b, random(rng, 1, 1, hq, d), 3, obs), "after reset the step is full");
    }

    @Test
    void badConfigurationsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Recycled.Config(0, 0));
        IllegalArgumentException topK = assertThrows(IllegalArgumentException.class,
                () -> new Recycled.Config(4, -1));
        assertTrue(topK.getMessage().contains("topK = -1"), topK.getMessage());
        KvCache cache = KvCache.builder(1, 2, 8).build();
        cache.append(0, Tensor.zeros(10, 2, 8), Tensor.zeros(10, 2, 8));
        Observation obs = Observation.none(cache, 4, ENGINE);
        Recycled policy = KvPolicies.recycled(4, 0);
        IllegalArgumentException noBudget = assertThrows(IllegalArgumentException.class,
                () -> policy.attendTo(cache, Tensor.zeros(1, 1, 4, 8), 1, obs));
        assertTrue(noBudget.getMessage().contains("topK = 0"), noBudget.getMessage());
        assertThrows(IllegalArgumentException.class, () -> policy.attendTo(cache, Tensor.zeros(1, 1, 3, 8), 1, obs));
        assertThrows(IllegalArgumentException.class, () -> policy.attendTo(cache, Tensor.zeros(2, 1, 4, 8), 1, obs));
        long version = cache.version();
        policy.compress(cache, 0, Budget.tokens(2), obs);
        assertEquals(version, cache.version(), "compress keeps everything");
        assertSame(cache, policy.attendTo(cache, Tensor.zeros(1, 1, 4, 8), 1, obs));
        assertEquals(2, policy.side(cache).length(0, 1), "K from the budget of compress");
        assertInstanceOf(Recycled.class, KvPolicies.create("recycled"));
    }
}
