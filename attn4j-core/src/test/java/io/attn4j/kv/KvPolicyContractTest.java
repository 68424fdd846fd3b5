package io.attn4j.kv;

import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static io.attn4j.testing.Numerics.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every KV policy of the catalog promises, checked on each of {@link KvPolicies#all()} at its defaults (razor
 * and duo calibrated on a structured input), the way the conformance suite checks mechanisms: a budget at least the
 * cache length changes nothing; compression honours the budget (total rows over heads, one merged row per head
 * allowed; retrieval heads of razor and duo whole); sequences of different lengths compressed
 * in one batch keep what they keep alone; paged and contiguous storage and 1 or 3 threads keep the same rows; and
 * decode after compression and decode steps is exact attention over what is kept.
 */
class KvPolicyContractTest {
    /** Policies that keep every row by design (their Javadoc says so); the budget bounds the others. */
    private static final Set<String> KEEP_ALL = Set.of("full", "quantized", "recycled");
    /** Policies whose retrieval heads keep everything (each paper's point); their other heads honour the budget. */
    private static final Set<String> WHOLE_HEADS = Set.of("razor", "duo");
    private static final int HQ = 4, HKV = 2, D = 32;

    static List<String> policies() {
        return KvPolicies.all().stream().map(KvPolicyDescriptor::id).toList();
    }

    /** The policy at its defaults; razor and duo calibrated on a structured input of their own. */
    private static KvPolicy create(String id) {
        return KvPolicies.create(id, input(Fresh.seed(), 512), engine(2));
    }

    private static Engine engine(int threads) {
        return Engine.defaults().withThreads(threads);
    }

    private static KvCache cache(KvPolicy policy, int sequences, boolean paged) {
        KvCache.Builder b = KvCache.builder(sequences, HKV, D)
                .format(policy.format() == null ? KvFormat.float32() : policy.format());
        return (paged ? b.paged(64) : b).build();
    }

    private static AttentionInputs input(long seed, int n) {
        return StandardInputs.structured(seed, InputShape.self(1, n, HQ, HKV, D));
    }

    /** Prefills {@code in} into sequence {@code seq} of a session and returns the session. */
    private static KvSession prefilled(KvPolicy policy, KvCache cache, Budget budget, int seq, AttentionInputs in,
                                       int compressEvery, Engine engine) {
        KvSession session = new KvSession(cache, policy, budget, HQ, compressEvery, 32, engine);
        session.prefill(seq, in.q().select(0, 0), in.k().select(0, 0), in.v().select(0, 0));
        return session;
    }

    private static int[][] positions(KvCache cache, int seq) {
        int[][] p = new int[cache.kvHeads()][];
        for (int h = 0; h < cache.kvHeads(); h++) {
            p[h] = cache.positions(seq, h);
        }
        return p;
    }

    @ParameterizedTest
    @MethodSource("policies")
    void aBudgetOfTheWholeCacheChangesNothing(String id) {
        KvPolicy policy = create(id);
        long seed = Fresh.seed();
        AttentionInputs in = input(seed, 300);
        KvCache cache = cache(policy, 1, true);
        prefilled(policy, cache, Budget.tokens(300), 0, in, 0, engine(2));
        for (int h = 0; h < HKV; h++) {
            int[] all = new int[300];
            Arrays.setAll(all, i -> i);
            assertArrayEquals(all, cache.positions(0, h), id + " head " + h + " (seed " + seed + ")");
        }
        KvCache again = cache(policy, 1, true);
        prefilled(policy, again, Budget.ratio(1), 0, in, 0, engine(2));
        assertArrayEquals(positions(cache, 0), positions(again, 0), id + ": ratio 1 = a budget of every token");
    }

    @ParameterizedTest
    @MethodSource("policies")
    void compressionHonoursTheBudget(String id) {
        KvPolicy policy = create(id);
        long seed = Fresh.seed();
        for (Budget budget : List.of(Budget.tokens(100), Budget.ratio(0.125))) {
            AttentionInputs in = input(seed, 1200);
            KvCache cache = cache(policy, 1, true);
            prefilled(policy, cache, budget, 0, in, 0, engine(2));
            int total = 0, rows = budget.rows(1200);
            for (int h = 0; h < HKV; h++) {
                total += cache.length(0, h);
                int[] p = cache.positions(0, h);
                for (int i = 1; i < p.length; i++) {
                    assertTrue(p[i] >= p[i - 1], id + ": positions stay in order");
                }
            }
            if (KEEP_ALL.contains(id)) {
                assertEquals(HKV * 1200, total, id + " keeps everything");
            } else if (WHOLE_HEADS.contains(id)) {
                for (int h = 0; h < HKV; h++) {
                    int held = cache.length(0, h);
                    assertTrue(held == 1200 || held <= rows + 1, id + " head " + h + " holds " + held + " rows; "
                            + "allowed: all 1200 (a retrieval head) or the budget " + rows + " + 1 merged (seed "
                            + seed + ")");
                }
            } else {
                assertTrue(total <= HKV * (rows + 1), id + " with budget " + budget + ": " + total + " rows over "
                        + HKV + " heads; allowed " + HKV + " × (" + rows + " + 1 merged) (seed " + seed + ")");
                assertTrue(cache.memory().allocatedRows() <= HKV * (rows + 1 + 64L),
                        id + ": memory freed, " + cache.memory().allocatedRows() + " rows allocated");
            }
        }
    }

    @ParameterizedTest
    @MethodSource("policies")
    void batchesPagesAndThreadsKeepTheSameRows(String id) {
        KvPolicy policy = create(id);
        long seed = Fresh.seed();
        AttentionInputs a = input(seed, 900), b = input(seed + 1, 500);
        Budget budget = Budget.tokens(120);
        KvCache batch = cache(policy, 2, true);
        KvSession session = new KvSession(batch, policy, budget, HQ, 0, 32, engine(3));
        session.prefill(0, a.q().select(0, 0), a.k().select(0, 0), a.v().select(0, 0));
        session.prefill(1, b.q().select(0, 0), b.k().select(0, 0), b.v().select(0, 0));
        KvCache aloneA = cache(policy, 1, false), aloneB = cache(policy, 1, true);
        prefilled(policy, aloneA, budget, 0, a, 0, engine(1));
        prefilled(policy, aloneB, budget, 0, b, 0, engine(1));
        for (int h = 0; h < HKV; h++) {
            assertArrayEquals(aloneA.positions(0, h), batch.positions(0, h),
                    id + ": sequence 0 in a batch (paged, 3 threads) vs alone (contiguous, 1 thread), head " + h
                            + " (seed " + seed + ")");
            assertArrayEquals(aloneB.positions(0, h), batch.positions(1, h),
                    id + ": sequence 1 in a batch vs alone, head " + h + " (seed " + seed + ")");
        }
    }

    @ParameterizedTest
    @MethodSource("policies")
    void decodeAfterCompressionIsExactOverWhatIsKept(String id) {
        KvPolicy policy = create(id);
        long seed = Fresh.seed();
        int n = 700, steps = 9;
        AttentionInputs in = input(seed, n);
        KvCache cache = cache(policy, 1, true);
        Engine engine = engine(2);
        KvSession session = new KvSession(cache, policy, Budget.tokens(96), HQ, 4, 32, engine);
        int prompt = n - steps;
        session.prefill(0, in.q().select(0, 0).slice(0, 0, prompt), in.k().select(0, 0).slice(0, 0, prompt),
                in.v().select(0, 0).slice(0, 0, prompt));
        for (int t = prompt; t < n; t++) {
            Tensor q = in.q().slice(1, t, t + 1), out = Tensor.zeros(1, 1, HQ, D);
            session.step(q, in.k().slice(1, t, t + 1), in.v().slice(1, t, t + 1), out);
            // steps that compress (every 4th) change the cache after attending: the oracle checks the others;
            // recycled attends to a view between its full steps (its own test checks those)
            if (!id.equals("recycled") && session.steps() % 4 != 0) {
                assertClose(id + " step " + (t - prompt) + " (seed " + seed + ")", out,
                        KvTesting.expected(cache, q, (float) (1 / Math.sqrt(D)), null), 2e-5);
            }
        }
    }

    @Test
    void observedAttentionAveragesTheGroupInsteadOfExpanding() {
        Random rng = new Random(Fresh.seed());
        int n = 200, group = HQ / HKV;
        Tensor k = KvTesting.random(rng, n, HKV, D), v = KvTesting.random(rng, n, HKV, D);
        Tensor q = KvTesting.random(rng, 40, HQ, D);
        KvCache gqa = KvCache.builder(1, HKV, D).build();
        gqa.append(0, k, v);
        // the MHA cache: every query head gets its own copy of its KV head
        Tensor kx = Tensor.zeros(n, HQ, D), vx = Tensor.zeros(n, HQ, D);
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < HQ; h++) {
                for (int c = 0; c < D; c++) {
                    kx.set(k.get(t, h / group, c), t, h, c);
                    vx.set(v.get(t, h / group, c), t, h, c);
                }
            }
        }
        Observation obs = new Observation(q, n - 40, 0.2f, engine(3));
        for (int kvh = 0; kvh < HKV; kvh++) {
            float[] grouped = ObservedAttention.of(gqa, 0, kvh, obs);
            float[] mean = new float[n];
            for (int g = 0; g < group; g++) {
                int h = kvh * group + g;
                // one query head alone against its copy: an observation holding only that head
                Tensor single = Tensor.zeros(40, 1, D);
                for (int i = 0; i < 40; i++) {
                    for (int c = 0; c < D; c++) {
                        single.set(q.get(i, h, c), i, 0, c);
                    }
                }
                KvCache one = KvCache.builder(1, 1, D).build();
                one.append(0, kx.slice(1, h, h + 1), vx.slice(1, h, h + 1));
                float[] own = ObservedAttention.of(one, 0, 0, new Observation(single, n - 40, 0.2f, engine(1)));
                for (int j = 0; j < n; j++) {
                    mean[j] += own[j] / group;
                }
            }
            for (int j = 0; j < n; j++) {
                assertEquals(mean[j], grouped[j], 1e-5 * Math.max(1, Math.abs(mean[j])), "KV head " + kvh + " row "
                        + j);
            }
        }
    }
}
