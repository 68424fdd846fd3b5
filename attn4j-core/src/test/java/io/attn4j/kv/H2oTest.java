package io.attn4j.kv;

import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.attn4j.kv.AccumulatedTesting.ENGINE;
import static io.attn4j.kv.AccumulatedTesting.cache;
import static io.attn4j.kv.AccumulatedTesting.expectedRows;
import static io.attn4j.kv.AccumulatedTesting.run;
import static io.attn4j.kv.AccumulatedTesting.tallyIndex;
import static io.attn4j.kv.KvTesting.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * H2O: the accumulated attention counts every query once (the prompt at prefill, each decode step by the kernel),
 * planted heavy keys survive and an unattended one is dropped, the selection is the recent rows plus the highest
 * tallies, the budget contract, GQA scoring as the expanded MHA cache averaged, exact decode over what is kept, and
 * bad configurations and observations refused.
 */
class H2oTest {
    private static final H2o H2O = new H2o(H2o.Config.defaults());

    @Test
    void tallyCountsEveryQueryOnce() {
        AccumulatedTesting.tallyCountsEveryQueryOnce(H2O);
    }

    /**
     * Per KV head, key A (position 10) is what half of the prompt's queries look for, key B (position 100, a decode
     * token) what every decode query after it looks for, and key C (position 11) points away from every query.
     * With 16 rows per head (8 recent, 8 heavy) and compression every 4 steps, A is kept at prefill and B after it
     * leaves the recent window — its tally comes only from the decode kernel — and C is dropped at prefill,
     * although early rows are the ones plain accumulation favours.
     */
    @Test
    void plantedHeavyKeysSurviveAndAnUnattendedKeyIsDropped() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int prompt = 96, tokens = 128, hkv = 2, hq = 4, d = 32;
        Tensor[] qkv = planted(rng, tokens, hkv, hq, d);
        KvCache cache = cache(1, hkv, d);
        KvSession session = run(cache, H2O, Budget.tokens(16), qkv[0].slice(1, 0, prompt), qkv[1].slice(1, 0, prompt),
                qkv[2].slice(1, 0, prompt), prompt, 4, 8);
        String tag = " (seed " + seed + ", base " + Fresh.base() + ")";
        for (int h = 0; h < hkv; h++) {
            int[] positions = cache.positions(0, h);
            assertTrue(Arrays.binarySearch(positions, 10) >= 0, "prefill keeps key A, head " + h + ": "
                    + Arrays.toString(positions) + tag);
            assertTrue(Arrays.binarySearch(positions, 11) < 0, "prefill drops key C, head " + h + ": "
                    + Arrays.toString(positions) + tag);
        }
        Tensor out = Tensor.zeros(1, 1, hq, d);
        for (int t = prompt; t < tokens; t++) {
            session.step(qkv[0].slice(1, t, t + 1), qkv[1].slice(1, t, t + 1), qkv[2].slice(1, t, t + 1), out);
        }
        for (int h = 0; h < hkv; h++) {
            int[] positions = cache.positions(0, h);
            assertEquals(16, positions.length);
            assertTrue(Arrays.binarySearch(positions, 10) >= 0 && Arrays.binarySearch(positions, 100) >= 0,
                    "decode keeps keys A and B, head " + h + ": " + Arrays.toString(positions) + tag);
            assertTrue(Arrays.binarySearch(positions, 11) < 0, "key C stays dropped" + tag);
        }
    }

    /** q, k, v ({@code [1, tokens, H, d]}) with keys A (10), B (100) and C (11) planted per KV head as above. */
    private static Tensor[] planted(Random rng, int tokens, int hkv, int hq, int d) {
        int group = hq / hkv;
        Tensor q = random(rng, 1, tokens, hq, d), k = random(rng, 1, tokens, hkv, d);
        Tensor v = random(rng, 1, tokens, hkv, d);
        double root = Math.sqrt(d);
        for (int kvh = 0; kvh < hkv; kvh++) {
            double[][] basis = orthonormal(rng, 3, d); // a, b: what the planted queries seek; w: every query's bias
            double[] a = basis[0], b = basis[1], w = basis[2];
            for (int c = 0; c < d; c++) {
                k.set((float) (2 * root * a[c]), 0, 10, kvh, c);
                k.set((float) (2 * root * b[c]), 0, 100, kvh, c);
                k.set((float) (-2 * root * w[c]), 0, 11, kvh, c);
            }
            for (int t = 0; t < tokens; t++) {
                for (int g = 0; g < group; g++) {
                    int h = kvh * group + g;
                    for (int c = 0; c < d; c++) {
                        double x = 0.5 * q.get(0, t, h, c) + 2 * w[c];
                        if (t > 10 && t < 96 && t % 2 == 0) {
                            x += 8 * a[c];
                        }
                        if (t > 100) {
                            x += 8 * b[c];
                        }
                        q.set((float) x, 0, t, h, c);
                    }
                }
            }
        }
        return new Tensor[] {q, k, v};
    }

    private static double[][] orthonormal(Random rng, int count, int d) {
        double[][] basis = new double[count][d];
        for (int i = 0; i < count; i++) {
            for (int c = 0; c < d; c++) {
                basis[i][c] = rng.nextGaussian();
            }
            for (int j = 0; j < i; j++) {
                double dot = 0;
                for (int c = 0; c < d; c++) {
                    dot += basis[i][c] * basis[j][c];
                }
                for (int c = 0; c < d; c++) {
                    basis[i][c] -= dot * basis[j][c];
                }
            }
            double norm = 0;
            for (int c = 0; c < d; c++) {
                norm += basis[i][c] * basis[i][c];
            }
            for (int c = 0; c < d; c++) {
                basis[i][c] /= Math.sqrt(norm);
            }
        }
        return basis;
    }

    /**
     * The selection, exactly: tallies taken after a prefill that keeps everything, then a compression to B rows keeps
     * the sinks, the last ⌊f·B + ½⌋ rows and the highest tallies among the rest — for recent fractions 0, 0.3, 0.5
     * and 1, with and without sinks, budgets odd and even.
     */
    @Test
    void keepsSinksRecentRowsAndTheHighestTallies() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int n = 70, hkv = 3, hq = 6, d = 16;
        for (double fraction : new double[] {0, 0.3, 0.5, 1}) {
            for (int sinks : new int[] {0, 4}) {
                for (int budget : new int[] {9, 20}) {
                    H2o policy = new H2o(new H2o.Config(fraction, sinks));
                    Tensor q = random(rng, 1, n, hq, d), k = random(rng, 1, n, hkv, d), v = random(rng, 1, n, hkv, d);
                    KvCache cache = cache(1, hkv, d);
                    KvSession session = run(cache, policy, Budget.tokens(n), q, k, v, n, 0, 4);
                    int index = tallyIndex(cache, 1);
                    int[][] expected = new int[hkv][];
                    for (int h = 0; h < hkv; h++) {
                        float[] tally = cache.tally(0, h, index);
                        double[] scores = new double[n];
                        for (int r = 0; r < n; r++) {
                            scores[r] = tally[r];
                        }
                        expected[h] = expectedRows(scores, cache.positions(0, h), budget,
                                policy.recentRows(budget), sinks);
                    }
                    policy.compress(cache, 0, Budget.tokens(budget), session.observation(0));
                    for (int h = 0; h < hkv; h++) {
                        assertArrayEquals(expected[h], cache.positions(0, h), "recentFraction " + fraction
                                + ", sinks " + sinks + ", budget " + budget + ", head " + h + " (seed " + seed
                                + ", base " + Fresh.base() + ")");
                    }
                }
            }
        }
        assertEquals(5, H2O.recentRows(9), "an odd budget gives the recent side the extra row");
        assertEquals(3, new H2o(new H2o.Config(0.3, 0)).recentRows(9));
    }

    @Test
    void budgetContract() {
        AccumulatedTesting.budgetContract(H2O);
    }

    @Test
    void budgetAtLeastTheLengthChangesNothing() {
        AccumulatedTesting.budgetAtLeastLengthChangesNothing(H2O);
    }

    @Test
    void gqaScoringIsTheExpandedMhaCacheAveraged() {
        AccumulatedTesting.gqaScoringIsExpandedMhaAveraged(H2O);
    }

    @Test
    void decodeOverTheCompressedCacheIsExact() {
        AccumulatedTesting.decodeOverTheCompressedCacheIsExact(H2O);
    }

    @Test
    void badConfigsAndObservationsAreRefused() {
        for (double bad : new double[] {-0.1, 1.5, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new H2o.Config(bad, 0));
            assertTrue(e.getMessage().contains("recentFraction = " + bad) && e.getMessage().contains("0 to 1"),
                    e.getMessage());
        }
        IllegalArgumentException sinks = assertThrows(IllegalArgumentException.class, () -> new H2o.Config(0.5, -1));
        assertTrue(sinks.getMessage().contains("sinks = -1"), sinks.getMessage());
        assertThrows(IllegalArgumentException.class, () -> H2O.keepSinks(-2));
        assertThrows(IllegalArgumentException.class, () -> H2o.DESCRIPTOR.create(StreamingLlm.Config.defaults()));
        AccumulatedTesting.badObservationsAreRefused(H2O);
    }

    @Test
    void isRegisteredWithItsDefaults() {
        List<String> ids = KvPolicies.all().stream().map(KvPolicyDescriptor::id).toList();
        assertTrue(ids.indexOf("h2o") > ids.indexOf("streaming"), ids.toString());
        KvPolicy created = KvPolicies.create("h2o");
        assertTrue(created instanceof H2o h && h.config().equals(new H2o.Config(0.5, 0)), created.toString());
        assertArrayEquals(new double[] {1.0}, created.tallyDecays());
        assertEquals(new H2o.Config(0.25, 0), KvPolicies.h2o(0.25).config());
        assertEquals(3, H2O.keepSinks(3).sinks());
        assertEquals(0.5, H2O.keepSinks(3).recentFraction());
        KvSession session = new KvSession(cache(1, 1, 4), H2O, Budget.tokens(4), 2, 0, 1, ENGINE);
        assertArrayEquals(new double[] {1.0}, session.cache().trackedDecays(), "the session starts the tally");
    }
}
