package io.attn4j.kv;

import io.attn4j.runtime.Engine;
import io.attn4j.sparse.Moa;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import static io.attn4j.kv.KvTesting.expected;
import static io.attn4j.kv.KvTesting.random;
import static io.attn4j.testing.Numerics.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * MoA at decode: the default (uniform span) keeps exactly what StreamingLLM keeps; per-query-head spans give each KV
 * head the largest window of its group, shared in proportion within kvHeads × budget; unfitted spans keep sinks plus
 * {@code α + ⌊β·n⌋} recent tokens at every step; a budget at or above the length changes nothing; decode over what
 * is kept is exact; bad configurations are refused.
 */
class MoaKvTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(2);
    private static final String SEED = " (seed base " + Fresh.base() + ")";

    private static KvCache filled(Random rng, int n, int hkv, int d) {
        KvCache cache = KvCache.builder(1, hkv, d).build();
        cache.append(0, random(rng, n, hkv, d), random(rng, n, hkv, d));
        return cache;
    }

    @Test
    void theDefaultIsStreamingLlmAtAnyBudget() {
        Random rng = new Random(Fresh.seed());
        int n = 300, hkv = 3, d = 8;
        for (Budget budget : new Budget[] {Budget.tokens(3), Budget.tokens(10), Budget.tokens(64), Budget.ratio(0.2)}) {
            KvCache a = filled(rng, n, hkv, d), b = KvCache.builder(1, hkv, d).build();
            for (int h = 0; h < hkv; h++) {
                assertEquals(0, b.length(0, h));
            }
            b.append(0, Tensor.zeros(n, hkv, d), Tensor.zeros(n, hkv, d));
            KvPolicies.create("moa-kv").compress(a, 0, budget, Observation.none(a, 6, ENGINE));
            KvPolicies.streaming(4).compress(b, 0, budget, Observation.none(b, 6, ENGINE));
            for (int h = 0; h < hkv; h++) {
                assertArrayEquals(b.positions(0, h), a.positions(0, h), budget + " head " + h + SEED);
            }
        }
    }

    /** Per query head spans: KV head windows are the group maxima, shared in proportion, sinks and recent rows. */
    @Test
    void perHeadSpansShareTheTotalInProportionToTheGroupMaximum() {
        Random rng = new Random(Fresh.seed());
        int n = 400, hkv = 3, hq = 6, d = 8;
        List<Moa.Span> spans = List.of(new Moa.Span(16, 0), new Moa.Span(64, 0), new Moa.Span(0, 0.5),
                new Moa.Span(8, 0), new Moa.Span(32, 0), new Moa.Span(32, 0));
        MoaKv policy = KvPolicies.moaKv(Moa.Config.perHead(spans, 4));
        int[] windows = policy.windows(hkv, Observation.none(filled(rng, 1, hkv, d), hq, ENGINE), n);
        assertArrayEquals(new int[] {64, 200, 32}, windows, "group maxima");
        for (int b : new int[] {20, 60, 100}) {
            KvCache cache = filled(rng, n, hkv, d);
            policy.compress(cache, 0, Budget.tokens(b), Observation.none(cache, hq, ENGINE));
            int total = 0;
            for (int h = 0; h < hkv; h++) {
                int len = cache.length(0, h);
                total += len;
                double share = (hkv * b - 12) * windows[h] / 296.0;
                assertTrue(Math.abs(len - 4 - share) < 1, "budget " + b + " head " + h + ": " + len + " rows for a "
                        + "share of " + share + SEED);
                int[] expected = IntStream.concat(IntStream.range(0, 4), IntStream.range(n - (len - 4), n)).toArray();
                assertArrayEquals(expected, cache.positions(0, h), "sinks then the most recent rows" + SEED);
            }
            assertEquals(hkv * b, total, "budget " + b + ": the total is used, no more" + SEED);
        }
    }

    /** Unfitted: sinks + w(n) at every step of a growing sequence, never missing a token the window needs. */
    @Test
    void unfittedSpansKeepSinksPlusTheElasticWindowAtEveryStep() {
        Random rng = new Random(Fresh.seed());
        int hkv = 2, d = 8;
        Moa.Span wide = new Moa.Span(5, 0.5), narrow = new Moa.Span(12, 0);
        MoaKv policy = new MoaKv(MoaKv.Config.of(Moa.Config.perHead(List.of(narrow, wide), 2)).unfitted());
        KvCache cache = KvCache.builder(1, hkv, d).paged(16).build();
        for (int step = 1; step <= 150; step++) {
            cache.append(0, random(rng, 1, hkv, d), random(rng, 1, hkv, d));
            policy.compress(cache, 0, Budget.tokens(1), Observation.none(cache, hkv, ENGINE));
            int n = cache.tokensSeen(0);
            for (int h = 0; h < hkv; h++) {
                int w = (h == 0 ? narrow : wide).window(n);
                int[] expected = IntStream.range(0, n).filter(p -> p < 2 || p >= n - w).toArray();
                assertArrayEquals(expected, cache.positions(0, h), "n = " + n + " head " + h + SEED);
            }
        }
    }

    @Test
    void aBudgetAtOrAboveTheLengthChangesNothingAndDecodeIsExact() {
        Random rng = new Random(Fresh.seed());
        int n = 200, hkv = 2, hq = 4, d = 16;
        MoaKv policy = KvPolicies.moaKv(Moa.Config.perHead(new int[] {8, 100, 30, 0}, new double[] {0, 0, 0.1, 0.3},
                4));
        for (Budget budget : new Budget[] {Budget.tokens(n), Budget.ratio(1), Budget.tokens(3 * n)}) {
            KvCache cache = filled(rng, n, hkv, d);
            long version = cache.version();
            policy.compress(cache, 0, budget, Observation.none(cache, hq, ENGINE));
            assertEquals(version, cache.version(), budget + ": nothing changed" + SEED);
        }
        for (KvFormat format : new KvFormat[] {KvFormat.float32(), KvFormat.int4(8)}) {
            KvCache cache = KvCache.builder(1, hkv, d).format(format).paged(32).build();
            cache.append(0, random(rng, n, hkv, d), random(rng, n, hkv, d));
            policy.compress(cache, 0, Budget.tokens(40), Observation.none(cache, hq, ENGINE));
            assertTrue(cache.length(0, 0) != cache.length(0, 1), "heads keep different lengths" + SEED);
            Tensor q = random(rng, 1, 1, hq, d), out = Tensor.zeros(1, 1, hq, d);
            new KvDecode(ENGINE).plan(cache, hq, 1).run(q, out);
            assertClose(format + ": decode vs float64 over the kept rows" + SEED, out,
                    expected(cache, q, (float) (1 / Math.sqrt(d)), null), 2e-5);
        }
    }

    @Test
    void badConfigurationsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new MoaKv.Config(List.of(), 4, true));
        assertThrows(IllegalArgumentException.class, () -> new MoaKv.Config(List.of(new Moa.Span(4, 0)), -1, true));
        assertThrows(IllegalArgumentException.class, () -> new Moa.Span(-1, 0));
        assertThrows(IllegalArgumentException.class, () -> new Moa.Span(4, 1.5));
        KvCache cache = KvCache.builder(1, 2, 8).build();
        cache.append(0, Tensor.zeros(50, 2, 8), Tensor.zeros(50, 2, 8));
        long version = cache.version();
        MoaKv fourHeads = new MoaKv(new MoaKv.Config(List.of(new Moa.Span(4, 0), new Moa.Span(8, 0),
                new Moa.Span(4, 0), new Moa.Span(2, 0)), 4, true));
        IllegalArgumentException heads = assertThrows(IllegalArgumentException.class,
                () -> fourHeads.compress(cache, 0, Budget.tokens(8), Observation.none(cache, 6, ENGINE)));
        assertTrue(heads.getMessage().contains("4 query heads") && heads.getMessage().contains("6"),
                heads.getMessage());
        MoaKv threeHeads = new MoaKv(new MoaKv.Config(List.of(new Moa.Span(4, 0), new Moa.Span(8, 0),
                new Moa.Span(4, 0)), 4, true));
        assertThrows(IllegalArgumentException.class,
                () -> threeHeads.compress(cache, 0, Budget.tokens(8), Observation.none(cache, 3, ENGINE)));
        assertEquals(version, cache.version(), "nothing written");
        assertInstanceOf(MoaKv.class, KvPolicies.create("moa-kv"));
    }
}
