package io.attn4j.kv;

import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;

import java.util.Arrays;
import java.util.Random;

import static io.attn4j.kv.KvTesting.expected;
import static io.attn4j.kv.KvTesting.random;
import static io.attn4j.testing.Numerics.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The checks {@link H2oTest} and {@link A2sfTest} share (both policies are {@link AccumulatedAttention}): a float64
 * oracle of the accumulated tally, a session runner, and the contract checks run for each policy.
 */
final class AccumulatedTesting {
    static final Engine ENGINE = Engine.defaults().withThreads(3);
    /**
     * Tallies against the float64 oracle, relative to {@code 1 + |tally|}: float32 softmax weights summed in float32
     * over at most 52 queries per row; measured at most 2.4e-7 over these tests.
     */
    static final double TALLY_TOLERANCE = 2e-6;

    private AccumulatedTesting() {
    }

    /** A cache of {@code sequences} sequences of {@code kvHeads} heads of dimension {@code d}, float32, contiguous. */
    static KvCache cache(int sequences, int kvHeads, int d) {
        return KvCache.builder(sequences, kvHeads, d).build();
    }

    /**
     * Runs a session over {@code q [S, T, Hq, D]}, {@code k}, {@code v [S, T, Hkv, D]}: prefill of the first
     * {@code prompt} tokens of every sequence, then one decode step per remaining token.
     */
    static KvSession run(KvCache cache, KvPolicy policy, Budget budget, Tensor q, Tensor k, Tensor v, int prompt,
                         int compressEvery, int window) {
        int sequences = q.size(0), tokens = q.size(1), hq = q.size(2);
        KvSession session = new KvSession(cache, policy, budget, hq, compressEvery, window, ENGINE);
        for (int b = 0; b < sequences; b++) {
            session.prefill(b, q.select(0, b).slice(0, 0, prompt), k.select(0, b).slice(0, 0, prompt),
                    v.select(0, b).slice(0, 0, prompt));
        }
        Tensor out = Tensor.zeros(sequences, 1, hq, v.size(3));
        for (int t = prompt; t < tokens; t++) {
            session.step(q.slice(1, t, t + 1), k.slice(1, t, t + 1), v.slice(1, t, t + 1), out);
        }
        return session;
    }

    /**
     * The float64 tally of KV head {@code kvh} over an uncompressed sequence ({@code q [T, Hq, D]},
     * {@code k [T, Hkv, D]}) after queries {@code 0 .. queries-1}: {@code Σ_i alpha^(queries−1−i) · (1/G) Σ_g
     * softmax_j(scale · q_i · k_j)} over {@code j <= i}.
     */
    static double[] oracleTally(Tensor q, Tensor k, int kvh, double alpha, int queries) {
        int tokens = k.size(0), hq = q.size(1), d = q.size(2), group = hq / k.size(1);
        double scale = 1 / Math.sqrt(d);
        double[] tally = new double[tokens];
        for (int i = 0; i < queries; i++) {
            double weight = Math.pow(alpha, queries - 1 - i);
            for (int g = 0; g < group; g++) {
                int h = kvh * group + g;
                double[] logits = new double[i + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) q.get(i, h, c) * k.get(j, kvh, c);
                    }
                    logits[j] = scale * dot;
                    max = Math.max(max, logits[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) {
                    logits[j] = Math.exp(logits[j] - max);
                    sum += logits[j];
                }
                for (int j = 0; j <= i; j++) {
                    tally[j] += weight * logits[j] / sum / group;
                }
            }
        }
        return tally;
    }

    static int tallyIndex(KvCache cache, double decay) {
        double[] decays = cache.trackedDecays();
        for (int i = 0; i < decays.length; i++) {
            if (decays[i] == decay) {
                return i;
            }
        }
        throw new AssertionError("decay " + decay + " is not tracked; tracked: " + Arrays.toString(decays));
    }

    static void assertTally(String what, float[] tally, double[] oracle) {
        assertEquals(oracle.length, tally.length, what + ": rows");
        for (int j = 0; j < oracle.length; j++) {
            if (Math.abs(tally[j] - oracle[j]) > TALLY_TOLERANCE * (1 + Math.abs(oracle[j]))) {
                fail(what + ": row " + j + " tally " + tally[j] + ", float64 " + oracle[j] + " (seed base "
                        + Fresh.base() + ")");
            }
        }
    }

    /**
     * The selection rule, written out independently: forced sinks (positions {@code < sinks}, at most B), the last
     * {@code min(recent, B − sinks kept)} rows, then the highest {@code scores} (ties: later rows), ascending.
     */
    static int[] expectedRows(double[] scores, int[] positions, int budget, int recent, int sinks) {
        int n = scores.length;
        if (n <= budget) {
            return java.util.stream.IntStream.range(0, n).toArray();
        }
        boolean[] kept = new boolean[n];
        int left = budget;
        for (int r = 0; r < n && left > 0 && positions[r] < sinks; r++) {
            kept[r] = true;
            left--;
        }
        for (int r = n - 1, take = Math.min(recent, left); take > 0; r--, take--) {
            kept[r] = true;
            left--;
        }
        while (left-- > 0) {
            int best = -1;
            for (int r = 0; r < n; r++) {
                if (!kept[r] && (best < 0 || scores[r] >= scores[best])) {
                    best = r;
                }
            }
            kept[best] = true;
        }
        return java.util.stream.IntStream.range(0, n).filter(r -> kept[r]).toArray();
    }

    /**
     * The sum accounting through a session: the tally after prefill is the prompt's float64 tally; after decode
     * steps (compressing every step, a window of 8 queries that at first still holds prompt queries, no eviction)
     * it is the tally of all queries, weighted alike whether the prompt or the kernel counted them; compressing
     * every step and only at prefill give bit-identical tallies, as do two more compressions by hand; and a prompt
     * fed in two prefill chunks counts each chunk once.
     */
    static void tallyCountsEveryQueryOnce(AccumulatedAttention policy) {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int prompt = 40, tokens = 52, hkv = 2, hq = 4, d = 16;
        double alpha = policy.decay();
        Tensor q = random(rng, 1, tokens, hq, d), k = random(rng, 1, tokens, hkv, d);
        Tensor v = random(rng, 1, tokens, hkv, d);
        Tensor q0 = q.select(0, 0), k0 = k.select(0, 0);
        Budget all = Budget.tokens(1000);
        String tag = policy.id() + " (seed " + seed + ", base " + Fresh.base() + ")";

        KvSession prefillOnly = run(cache(1, hkv, d), policy, all, q.slice(1, 0, prompt), k.slice(1, 0, prompt),
                v.slice(1, 0, prompt), prompt, 1, 8);
        KvCache prefilled = prefillOnly.cache();
        int index = tallyIndex(prefilled, alpha);
        for (int h = 0; h < hkv; h++) {
            assertTally(tag + " head " + h + " after prefill", prefilled.tally(0, h, index),
                    Arrays.copyOf(oracleTally(q0, k0, h, alpha, prompt), prompt));
        }

        KvSession every = run(cache(1, hkv, d), policy, all, q, k, v, prompt, 1, 8);
        KvSession never = run(cache(1, hkv, d), policy, all, q, k, v, prompt, 0, 8);
        for (int h = 0; h < hkv; h++) {
            float[] tally = every.cache().tally(0, h, tallyIndex(every.cache(), alpha));
            assertTally(tag + " head " + h + " after " + (tokens - prompt) + " decode steps", tally,
                    oracleTally(q0, k0, h, alpha, tokens));
            assertArrayEquals(never.cache().tally(0, h, tallyIndex(never.cache(), alpha)), tally,
                    tag + ": compressing every step counts nothing the kernel counted");
        }
        KvCache c = every.cache();
        index = tallyIndex(c, alpha);
        float[][] before = {c.tally(0, 0, index), c.tally(0, 1, index)};
        policy.compress(c, 0, all, every.observation(0));
        policy.compress(c, 0, all, new Observation(q0, 0, (float) (1 / Math.sqrt(d)), ENGINE));
        for (int h = 0; h < hkv; h++) {
            assertArrayEquals(before[h], c.tally(0, h, index), tag + ": compressing again adds nothing");
        }

        KvCache chunked = cache(1, hkv, d);
        KvSession session = new KvSession(chunked, policy, all, hq, 0, 8, ENGINE);
        session.prefill(0, q0.slice(0, 0, 25), k0.slice(0, 0, 25), v.select(0, 0).slice(0, 0, 25));
        session.prefill(0, q0.slice(0, 25, prompt), k0.slice(0, 25, prompt), v.select(0, 0).slice(0, 25, prompt));
        index = tallyIndex(chunked, alpha);
        for (int h = 0; h < hkv; h++) {
            assertTally(tag + " head " + h + " after two prefill chunks", chunked.tally(0, h, index),
                    Arrays.copyOf(oracleTally(q0, k0, h, alpha, prompt), prompt));
        }
    }

    /**
     * The budget contract through sessions: after every compression each head holds exactly
     * {@code min(rows before, budget.rows(tokensSeen))} rows (two sequences of different prompt lengths, GQA,
     * token and ratio budgets, float32 contiguous and int8 paged, sinks and both extreme recent fractions), and
     * the forced rows are there: the last {@code recentRows(B)} rows and the sinks.
     */
    static void budgetContract(AccumulatedAttention policy) {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int hkv = 3, hq = 6, d = 16, tokens = 90, every = 5;
        for (Budget budget : new Budget[] {Budget.tokens(7), Budget.tokens(30), Budget.ratio(0.25)}) {
            for (AccumulatedAttention p : new AccumulatedAttention[] {policy, policy.keepSinks(3)}) {
                for (KvCache cache : new KvCache[] {cache(2, hkv, d),
                        KvCache.builder(2, hkv, d).format(KvFormat.int8(8)).paged(16).build()}) {
                    String tag = p.id() + " sinks " + p.sinks() + " budget " + budget + " " + cache.format() + " "
                            + cache.storage() + " (seed " + seed + ", base " + Fresh.base() + ")";
                    Tensor q = random(rng, 2, tokens, hq, d), k = random(rng, 2, tokens, hkv, d);
                    Tensor v = random(rng, 2, tokens, hkv, d);
                    KvSession session = new KvSession(cache, p, budget, hq, every, 4, ENGINE);
                    int[] prompts = {50, 23};
                    int[][] rows = new int[2][hkv];
                    for (int b = 0; b < 2; b++) {
                        session.prefill(b, q.select(0, b).slice(0, 0, prompts[b]),
                                k.select(0, b).slice(0, 0, prompts[b]), v.select(0, b).slice(0, 0, prompts[b]));
                        checkHeads(tag + " prefill of sequence " + b, p, cache, b, budget, prompts[b], rows[b]);
                    }
                    Tensor out = Tensor.zeros(2, 1, hq, d);
                    for (int t = 0; t < tokens - 50; t++) {
                        session.step(q.slice(1, 50 + t, 51 + t), k.slice(1, 50 + t, 51 + t),
                                v.slice(1, 50 + t, 51 + t), out);
                        for (int b = 0; b < 2; b++) {
                            for (int h = 0; h < hkv; h++) {
                                rows[b][h]++;
                            }
                            if ((t + 1) % every == 0) {
                                checkHeads(tag + " step " + (t + 1) + " sequence " + b, p, cache, b, budget,
                                        -1, rows[b]);
                            } else {
                                for (int h = 0; h < hkv; h++) {
                                    assertEquals(rows[b][h], cache.length(b, h), tag + ": no compression between");
                                }
                            }
                        }
                    }
                }
            }
        }
        for (double fraction : new double[] {0, 1}) {
            AccumulatedAttention p = withRecent(policy, fraction);
            Tensor q = random(rng, 1, 60, hq, d), k = random(rng, 1, 60, hkv, d), v = random(rng, 1, 60, hkv, d);
            KvCache cache = cache(1, hkv, d);
            run(cache, p, Budget.tokens(10), q, k, v, 40, 4, 4);
            for (int h = 0; h < hkv; h++) {
                assertEquals(10, cache.length(0, h), p.id() + " recentFraction " + fraction);
                if (fraction == 1) {
                    assertArrayEquals(java.util.stream.IntStream.range(50, 60).toArray(), cache.positions(0, h),
                            p.id() + " recentFraction 1 is a recent window (seed " + seed + ")");
                }
            }
        }
    }

    static AccumulatedAttention withRecent(AccumulatedAttention p, double fraction) {
        return p instanceof A2sf a ? new A2sf(new A2sf.Config(a.decay(), fraction, a.sinks()))
                : new H2o(new H2o.Config(fraction, p.sinks()));
    }

    /** After a compression: lengths, and the forced rows present. {@code rows} holds the lengths before. */
    private static void checkHeads(String tag, AccumulatedAttention p, KvCache cache, int seq, Budget budget,
                                   int prompt, int[] rows) {
        int b = budget.rows(cache.tokensSeen(seq)), seen = cache.tokensSeen(seq);
        for (int h = 0; h < cache.kvHeads(); h++) {
            int before = prompt >= 0 ? prompt : rows[h];
            int n = cache.length(seq, h);
            assertEquals(Math.min(before, b), n, tag + " head " + h + ": rows");
            int[] positions = cache.positions(seq, h);
            if (before > b) {
                int sinks = Math.min(p.sinks(), b);
                for (int s = 0; s < sinks; s++) {
                    assertEquals(s, positions[s], tag + " head " + h + ": sink " + s + " kept");
                }
                int recent = Math.min(p.recentRows(b), b - sinks);
                for (int r = 0; r < recent; r++) {
                    assertEquals(seen - 1 - r, positions[n - 1 - r], tag + " head " + h + ": recent row kept");
                }
            }
            rows[h] = n;
        }
    }

    /** A budget at least the cache's length changes nothing: rows, positions, keys and values all stay. */
    static void budgetAtLeastLengthChangesNothing(AccumulatedAttention policy) {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int hkv = 2, hq = 4, d = 8, prompt = 30, tokens = 45;
        Tensor q = random(rng, 1, tokens, hq, d), k = random(rng, 1, tokens, hkv, d);
        Tensor v = random(rng, 1, tokens, hkv, d);
        for (Budget budget : new Budget[] {Budget.tokens(tokens), Budget.ratio(1.0)}) {
            KvCache cache = cache(1, hkv, d);
            run(cache, policy, budget, q, k, v, prompt, 3, 4);
            float[] key = new float[d], value = new float[d];
            for (int h = 0; h < hkv; h++) {
                assertArrayEquals(java.util.stream.IntStream.range(0, tokens).toArray(), cache.positions(0, h),
                        policy.id() + " budget " + budget + " (seed " + seed + ")");
                for (int r = 0; r < tokens; r++) {
                    cache.key(0, h, r, key, 0);
                    cache.value(0, h, r, value, 0);
                    for (int c = 0; c < d; c++) {
                        assertEquals(k.get(0, r, h, c), key[c], "key (seed " + seed + ")");
                        assertEquals(v.get(0, r, h, c), value[c], "value (seed " + seed + ")");
                    }
                }
            }
        }
    }

    /**
     * GQA scoring is the expanded MHA cache's scoring averaged per group: the same session over a GQA cache (2 KV
     * heads, 6 query heads) and over an MHA cache whose 6 heads repeat each KV head's rows; the GQA tally equals the
     * mean of its group's MHA tallies, and compressing the GQA cache keeps exactly the rows the averaged MHA
     * tallies select.
     */
    static void gqaScoringIsExpandedMhaAveraged(AccumulatedAttention policy) {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int hkv = 2, hq = 6, group = 3, d = 16, prompt = 30, tokens = 42, budget = 13;
        Tensor q = random(rng, 1, tokens, hq, d), k = random(rng, 1, tokens, hkv, d);
        Tensor v = random(rng, 1, tokens, hkv, d);
        Tensor ke = Tensor.zeros(1, tokens, hq, d), ve = Tensor.zeros(1, tokens, hq, d);
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < hq; h++) {
                for (int c = 0; c < d; c++) {
                    ke.set(k.get(0, t, h / group, c), 0, t, h, c);
                    ve.set(v.get(0, t, h / group, c), 0, t, h, c);
                }
            }
        }
        Budget all = Budget.tokens(1000);
        KvSession gqa = run(cache(1, hkv, d), policy, all, q, k, v, prompt, 4, 6);
        KvSession mha = run(cache(1, hq, d), policy, all, q, ke, ve, prompt, 4, 6);
        int gi = tallyIndex(gqa.cache(), policy.decay()), mi = tallyIndex(mha.cache(), policy.decay());
        String tag = policy.id() + " (seed " + seed + ", base " + Fresh.base() + ")";
        int recent = policy.recentRows(budget), heavy = budget - recent, older = tokens - recent;
        int[][] expected = new int[hkv][];
        boolean[] clear = new boolean[hkv];
        for (int kvh = 0; kvh < hkv; kvh++) {
            double[] averaged = new double[tokens];
            for (int g = 0; g < group; g++) {
                float[] t = mha.cache().tally(0, kvh * group + g, mi);
                for (int j = 0; j < tokens; j++) {
                    averaged[j] += t[j] / (double) group;
                }
            }
            assertTally(tag + " GQA head " + kvh + " vs averaged MHA", gqa.cache().tally(0, kvh, gi), averaged);
            expected[kvh] = expectedRows(averaged, gqa.cache().positions(0, kvh), budget, recent, policy.sinks());
            // a near-tie at the selection's boundary may order differently in float32: then only the tallies count
            double[] sorted = Arrays.copyOf(averaged, older);
            Arrays.sort(sorted);
            clear[kvh] = sorted[older - heavy] - sorted[older - heavy - 1]
                    > 2 * TALLY_TOLERANCE * (1 + sorted[older - heavy]);
        }
        policy.compress(gqa.cache(), 0, Budget.tokens(budget), gqa.observation(0));
        int compared = 0;
        for (int kvh = 0; kvh < hkv; kvh++) {
            assertEquals(budget, gqa.cache().length(0, kvh), tag);
            if (clear[kvh]) {
                assertArrayEquals(expected[kvh], gqa.cache().positions(0, kvh),
                        tag + " head " + kvh + ": kept rows are the averaged MHA selection");
                compared++;
            }
        }
        assertTrue(compared > 0, tag + ": every head had a near-tie at the boundary");
    }

    /** Decode over the compressed cache is exact attention over the kept rows (float64 oracle). */
    static void decodeOverTheCompressedCacheIsExact(AccumulatedAttention policy) {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int hkv = 2, hq = 4, d = 32, prompt = 80, steps = 11;
        for (KvCache cache : new KvCache[] {cache(2, hkv, d),
                KvCache.builder(2, hkv, d).format(KvFormat.int8(16)).paged(32).build()}) {
            Tensor q = random(rng, 2, prompt + steps, hq, d), k = random(rng, 2, prompt + steps, hkv, d);
            Tensor v = random(rng, 2, prompt + steps, hkv, d);
            KvSession session = run(cache, policy, Budget.tokens(24), q.slice(1, 0, prompt + steps - 1),
                    k.slice(1, 0, prompt + steps - 1), v.slice(1, 0, prompt + steps - 1), prompt, 5, 8);
            assertEquals(10, session.steps());
            assertTrue(cache.length(0, 0) < prompt, "compressed");
            Tensor last = q.slice(1, prompt + steps - 1, prompt + steps), out = Tensor.zeros(2, 1, hq, d);
            session.step(last, k.slice(1, prompt + steps - 1, prompt + steps),
                    v.slice(1, prompt + steps - 1, prompt + steps), out); // step 11: no compression after it
            assertClose(policy.id() + " " + cache.format() + ": decode vs float64 over the kept rows (seed " + seed
                    + ")", out, expected(cache, last, (float) (1 / Math.sqrt(d)), null), 2e-5);
        }
    }

    /** Bad observations are refused naming what is wrong, before anything is written. */
    static void badObservationsAreRefused(AccumulatedAttention policy) {
        long seed = Fresh.seed();
        Random rng = new Random(seed);
        int hkv = 2, hq = 4, d = 8;
        KvCache cache = cache(1, hkv, d);
        cache.append(0, random(rng, 20, hkv, d), random(rng, 20, hkv, d));
        Tensor q = random(rng, 20, hq, d);
        q.set(Float.NaN, 13, 2, 5);
        float scale = (float) (1 / Math.sqrt(d));
        IllegalArgumentException nan = assertThrows(IllegalArgumentException.class,
                () -> policy.compress(cache, 0, Budget.tokens(5), new Observation(q, 0, scale, ENGINE)));
        assertTrue(nan.getMessage().contains(policy.id()) && nan.getMessage().contains("query 13"),
                nan.getMessage());
        IllegalArgumentException late = assertThrows(IllegalArgumentException.class, () -> policy.compress(cache, 0,
                Budget.tokens(5), new Observation(random(rng, 3, hq, d), 19, scale, ENGINE)));
        assertTrue(late.getMessage().contains("19 to 21") && late.getMessage().contains("20 tokens"),
                late.getMessage());
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> policy.compress(cache, 0,
                Budget.tokens(5), new Observation(random(rng, 3, hq, d + 1), 0, scale, ENGINE)));
        assertTrue(shape.getMessage().contains(policy.id()), shape.getMessage());
        assertEquals(0, cache.trackedDecays().length, "nothing tracked after refusals");
        for (int h = 0; h < hkv; h++) {
            assertEquals(20, cache.length(0, h), "nothing dropped after refusals");
        }
        // without queries the policy still compresses (by tally: all zero here, so ties go to later rows)
        policy.compress(cache, 0, Budget.tokens(5), Observation.none(cache, hq, ENGINE));
        assertFalse(cache.length(0, 0) > 5);
    }
}
