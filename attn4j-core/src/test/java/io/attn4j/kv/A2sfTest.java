package io.attn4j.kv;

import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static io.attn4j.kv.AccumulatedTesting.cache;
import static io.attn4j.kv.AccumulatedTesting.run;
import static io.attn4j.kv.AccumulatedTesting.tallyIndex;
import static io.attn4j.kv.KvTesting.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A2SF: the forgetting factor weights prompt and decode queries alike and counts each once, α = 1 selects exactly
 * what H2O selects, a key attended lately beats one attended more but long ago (where H2O keeps the old one), the
 * budget contract, GQA scoring as the expanded MHA cache averaged, exact decode over what is kept, and bad
 * configurations and observations refused.
 */
class A2sfTest {
    private static final A2sf A2SF = new A2sf(A2sf.Config.defaults());

    @Test
    void tallyCountsEveryQueryOnceWithItsForgettingWeight() {
        AccumulatedTesting.tallyCountsEveryQueryOnce(A2SF);
        AccumulatedTesting.tallyCountsEveryQueryOnce(new A2sf(new A2sf.Config(0.6, 0.5, 2)));
    }

    /** With α = 1 the same session keeps the same rows with the same tallies as H2O, at every head. */
    @Test
    void alphaOneSelectsWhatH2oSelects() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int hkv = 2, hq = 6, d = 16, prompt = 60, tokens = 100;
        Tensor q = random(rng, 2, tokens, hq, d), k = random(rng, 2, tokens, hkv, d);
        Tensor v = random(rng, 2, tokens, hkv, d);
        for (Budget budget : new Budget[] {Budget.tokens(17), Budget.ratio(0.2)}) {
            KvCache a = cache(2, hkv, d), h = cache(2, hkv, d);
            run(a, new A2sf(new A2sf.Config(1, 0.5, 1)), budget, q, k, v, prompt, 3, 5);
            run(h, new H2o(new H2o.Config(0.5, 1)), budget, q, k, v, prompt, 3, 5);
            for (int b = 0; b < 2; b++) {
                for (int kvh = 0; kvh < hkv; kvh++) {
                    String tag = "budget " + budget + ", sequence " + b + ", head " + kvh + " (seed " + seed
                            + ", base " + Fresh.base() + ")";
                    assertTrue(a.length(b, kvh) < tokens, tag + ": compressed");
                    assertArrayEquals(h.positions(b, kvh), a.positions(b, kvh), tag);
                    assertArrayEquals(h.tally(b, kvh, tallyIndex(h, 1)), a.tally(b, kvh, tallyIndex(a, 1)), tag);
                }
            }
        }
    }

    /**
     * Per KV head, key E (position 2) is what queries 3..80 look for, key L (position 88) what queries 90..127 look
     * for (the last 32 are decode steps). With one recent row and one heavy slot, H2O keeps E (about 78 queries'
     * attention against 38) and A2SF (α = 0.9) keeps L (E's weight has faded to about 0.9^47 · 10).
     */
    @Test
    void forgettingKeepsTheLatelyAttendedKeyWhereH2oKeepsTheOldOne() {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int prompt = 96, tokens = 128, hkv = 2, hq = 4, d = 32, group = hq / hkv;
        Tensor q = random(rng, 1, tokens, hq, d), k = random(rng, 1, tokens, hkv, d);
        Tensor v = random(rng, 1, tokens, hkv, d);
        double root = Math.sqrt(d);
        for (int kvh = 0; kvh < hkv; kvh++) {
            double[] e = unit(rng, d), l = unit(rng, d);
            for (int c = 0; c < d; c++) {
                k.set((float) (2 * root * e[c]), 0, 2, kvh, c);
                k.set((float) (2 * root * l[c]), 0, 88, kvh, c);
            }
            for (int t = 0; t < tokens; t++) {
                double[] target = t >= 3 && t <= 80 ? e : t >= 90 ? l : null;
                for (int g = 0; g < group && target != null; g++) {
                    for (int c = 0; c < d; c++) {
                        q.set((float) (0.5 * q.get(0, t, kvh * group + g, c) + 8 * target[c]), 0, t,
                                kvh * group + g, c);
                    }
                }
            }
        }
        KvCache h2o = cache(1, hkv, d), a2sf = cache(1, hkv, d);
        run(h2o, new H2o(H2o.Config.defaults()), Budget.tokens(2), q, k, v, prompt, 4, 4);
        run(a2sf, A2SF, Budget.tokens(2), q, k, v, prompt, 4, 4);
        for (int kvh = 0; kvh < hkv; kvh++) {
            String tag = "head " + kvh + " (seed " + seed + ", base " + Fresh.base() + ")";
            assertArrayEquals(new int[] {2, 127}, h2o.positions(0, kvh), "H2O, " + tag);
            assertArrayEquals(new int[] {88, 127}, a2sf.positions(0, kvh), "A2SF, " + tag);
        }
    }

    private static double[] unit(Random rng, int d) {
        double[] x = new double[d];
        double norm = 0;
        for (int c = 0; c < d; c++) {
            x[c] = rng.nextGaussian();
            norm += x[c] * x[c];
        }
        for (int c = 0; c < d; c++) {
            x[c] /= Math.sqrt(norm);
        }
        return x;
    }

    @Test
    void budgetContract() {
        AccumulatedTesting.budgetContract(A2SF);
    }

    @Test
    void budgetAtLeastTheLengthChangesNothing() {
        AccumulatedTesting.budgetAtLeastLengthChangesNothing(A2SF);
    }

    @Test
    void gqaScoringIsTheExpandedMhaCacheAveraged() {
        AccumulatedTesting.gqaScoringIsExpandedMhaAveraged(A2SF);
    }

    @Test
    void decodeOverTheCompressedCacheIsExact() {
        AccumulatedTesting.decodeOverTheCompressedCacheIsExact(A2SF);
    }

    @Test
    void badConfigsAndObservationsAreRefused() {
        for (double bad : new double[] {0, -0.5, 1.01, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new A2sf.Config(bad, 0.5, 0));
            assertTrue(e.getMessage().contains("forgettingFactor = " + bad) && e.getMessage().contains("(0, 1]"),
                    e.getMessage());
        }
        IllegalArgumentException fraction = assertThrows(IllegalArgumentException.class,
                () -> new A2sf.Config(0.9, 2, 0));
        assertTrue(fraction.getMessage().contains("recentFraction = 2.0"), fraction.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new A2sf.Config(0.9, 0.5, -3));
        AccumulatedTesting.badObservationsAreRefused(A2SF);
    }

    @Test
    void isRegisteredWithItsDefaults() {
        List<String> ids = KvPolicies.all().stream().map(KvPolicyDescriptor::id).toList();
        assertEquals(ids.indexOf("h2o") + 1, ids.indexOf("a2sf"), "catalog order: h2o, then a2sf " + ids);
        KvPolicy created = KvPolicies.create("a2sf");
        assertTrue(created instanceof A2sf a && a.config().equals(new A2sf.Config(0.9, 0.5, 0)), created.toString());
        assertArrayEquals(new double[] {0.9}, created.tallyDecays());
        assertEquals(new A2sf.Config(0.7, 0.25, 0), KvPolicies.a2sf(0.7, 0.25).config());
        assertEquals(0.9, A2SF.keepSinks(2).decay());
    }
}
