package io.attn4j.kv;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.ScoreMod;
import io.attn4j.attention.ScoreMods;
import io.attn4j.attention.exact.ReferenceAttention;
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
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cache and decode over it: decode equals the reference on the appended tensors, paged equals contiguous,
 * quantised rows stay within the documented error, compaction keeps rows and positions, memory is accounted and
 * freed, sequences of different lengths in one batch equal one by one, and bad input is refused.
 */
class KvCacheTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(3);

    private static KvCache.Builder builder(int sequences, int kvHeads, int d) {
        return KvCache.builder(sequences, kvHeads, d);
    }

    @Test
    void decodeOverAnUncompressedCacheIsTheReference() {
        Random rng = new Random(Fresh.seed());
        int s = 2, n = 700, hkv = 2, hq = 6, d = 24, dv = 20;
        Tensor k = random(rng, s, n, hkv, d), v = random(rng, s, n, hkv, dv), q = random(rng, s, 1, hq, d);
        for (KvCache.Builder b : new KvCache.Builder[] {builder(s, hkv, d).valueDim(dv),
                builder(s, hkv, d).valueDim(dv).paged(64), builder(s, hkv, d).valueDim(dv).paged(1)}) {
            KvCache cache = b.build();
            cache.append(k.slice(1, 0, 400), v.slice(1, 0, 400));
            cache.append(k.slice(1, 400, n), v.slice(1, 400, n));
            Tensor out = Tensor.zeros(s, 1, hq, dv);
            new KvDecode(ENGINE).plan(cache, hq, 1).run(q, out);
            Tensor reference = new ReferenceAttention(ENGINE).forward(q, k, v, AttentionSpec.causal()).output();
            assertClose(cache.storage() + " decode vs reference", out, reference, 2e-5);
        }
    }

    @Test
    void pagedEqualsContiguousBitForBitAfterCompression() {
        Random rng = new Random(Fresh.seed());
        int n = 1000, hkv = 2, hq = 4, d = 16;
        Tensor k = random(rng, 1, n, hkv, d), v = random(rng, 1, n, hkv, d), q = random(rng, 1, 3, hq, d);
        Tensor[] outs = new Tensor[3];
        KvCache[] caches = {builder(1, hkv, d).build(), builder(1, hkv, d).paged(100).build(),
                builder(1, hkv, d).paged(7).build()};
        for (int i = 0; i < caches.length; i++) {
            KvCache cache = caches[i];
            cache.append(0, k, v);
            cache.keep(0, 0, everyThird(n));
            cache.keepAndMerge(0, 1, new int[] {0, 1, 2, 3, 500, 998, 999});
            outs[i] = Tensor.zeros(1, 3, hq, d);
            // one tile per page for the contiguous reference too: tile 7 keys
            new KvDecode(new io.attn4j.attention.exact.LeanDecode.Config(1, 7, 1 << 20), ENGINE.withThreads(1))
                    .plan(cache, hq, 3).run(q, outs[i]);
        }
        assertClose("paged(100) vs contiguous", outs[1], outs[0], 1e-6);
        assertBitIdentical("paged(7) vs contiguous with 7-key tiles", outs[2], outs[0]);
        for (KvCache cache : caches) {
            assertArrayEquals(caches[0].positions(0, 0), cache.positions(0, 0));
            assertArrayEquals(caches[0].positions(0, 1), cache.positions(0, 1));
        }
    }

    private static int[] everyThird(int n) {
        return java.util.stream.IntStream.range(0, n).filter(i -> i % 3 == 0).toArray();
    }

    @Test
    void decodeOverACompressedCacheIsExactAttentionOverWhatIsKept() {
        Random rng = new Random(Fresh.seed());
        int n = 600, hkv = 3, hq = 6, d = 32;
        for (KvFormat format : new KvFormat[] {KvFormat.float32(), KvFormat.int8(16), KvFormat.int4(8)}) {
            KvCache cache = builder(2, hkv, d).format(format).paged(50).build();
            cache.append(0, random(rng, n, hkv, d), random(rng, n, hkv, d));
            cache.append(1, random(rng, 37, hkv, d), random(rng, 37, hkv, d)); // a shorter sequence
            cache.keep(0, 0, everyThird(n));
            cache.keepAndMerge(0, 2, new int[] {0, 1, 2, 3, 590, 599});
            cache.keep(1, 1, new int[] {5});
            Tensor q = random(rng, 2, 2, hq, d);
            Tensor out = Tensor.zeros(2, 2, hq, d);
            new KvDecode(ENGINE).plan(cache, hq, 2).run(q, out);
            assertClose(format + ": decode vs float64 over the kept rows", out,
                    expected(cache, q, (float) (1 / Math.sqrt(d)), null), 2e-5);
        }
    }

    /**
     * Positions survive compression: ALiBi over a compressed cache sees each kept row at its original distance
     * (the oracle reads the positions the cache reports, and those are the positions appended).
     */
    @Test
    void positionsSurviveCompression() {
        Random rng = new Random(Fresh.seed());
        int n = 300, hkv = 2, hq = 4, d = 16;
        Tensor k = random(rng, n, hkv, d), v = random(rng, n, hkv, d);
        KvCache cache = builder(1, hkv, d).build();
        cache.append(0, k, v);
        int[] kept = {0, 1, 2, 3, 150, 151, 290, 299};
        cache.keep(0, 0, kept);
        assertArrayEquals(kept, cache.positions(0, 0), "positions after keep are the appended ones");
        ScoreMod alibi = ScoreMods.alibi(hq);
        Tensor q = random(rng, 1, 1, hq, d), out = Tensor.zeros(1, 1, hq, d);
        new KvDecode(ENGINE).plan(cache, hq, 1).run(q, out,
                KvDecode.Options.defaults().withScoreMod(alibi));
        // the reference: ReferenceAttention over the kept rows of head 0 as a full tensor, with ALiBi by position
        Tensor kk = Tensor.zeros(1, n, 1, d), vv = Tensor.zeros(1, n, 1, d);
        for (int p = 0; p < n; p++) {
            for (int c = 0; c < d; c++) {
                kk.set(k.get(p, 0, c), 0, p, 0, c);
                vv.set(v.get(p, 0, c), 0, p, 0, c);
            }
        }
        int[] keptPositions = kept;
        AttentionSpec spec = AttentionSpec.causal().scoreMod(ScoreMods.alibi(new float[] {
                        ScoreMods.alibiSlopes(hq)[0], ScoreMods.alibiSlopes(hq)[1]}))
                .mask((b, h, qi, ki) -> Arrays.binarySearch(keptPositions, ki) >= 0);
        Tensor reference = new ReferenceAttention(ENGINE).forward(q.slice(2, 0, 2), kk, vv, spec).output();
        assertClose("ALiBi over kept rows at their positions", out.slice(2, 0, 2), reference, 2e-5);
    }

    @Test
    void quantisedRowsStayWithinTheDocumentedBound() {
        Random rng = new Random(Fresh.seed());
        int n = 64, d = 40;
        Tensor k = random(rng, n, 1, d);
        k.array()[5] = 30f; // an outlier widens its group's range only
        for (KvFormat format : new KvFormat[] {KvFormat.int8(8), KvFormat.int4(8), KvFormat.int8(64)}) {
            KvCache cache = builder(1, 1, d).format(format).build();
            cache.append(0, k, k);
            float[] row = new float[d];
            for (int t = 0; t < n; t++) {
                cache.key(0, 0, t, row, 0);
                for (int g = 0; g < d; g += format.groupSize()) {
                    float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
                    for (int c = g; c < Math.min(d, g + format.groupSize()); c++) {
                        lo = Math.min(lo, k.get(t, 0, c));
                        hi = Math.max(hi, k.get(t, 0, c));
                    }
                    double bound = format.maxError(hi - lo) + 1e-6 * Math.max(Math.abs(lo), Math.abs(hi));
                    for (int c = g; c < Math.min(d, g + format.groupSize()); c++) {
                        double error = Math.abs(row[c] - k.get(t, 0, c));
                        assertTrue(error <= bound, format + " token " + t + " element " + c + ": error " + error
                                + " > bound " + bound);
                    }
                }
            }
        }
    }

    @Test
    void batchesOfDifferentLengthsEqualOneByOne() {
        Random rng = new Random(Fresh.seed());
        int hkv = 2, hq = 4, d = 16;
        int[] lengths = {1, 513, 77, 2000};
        KvCache batch = builder(lengths.length, hkv, d).paged(128).build();
        Tensor q = random(rng, lengths.length, 1, hq, d), out = Tensor.zeros(lengths.length, 1, hq, d);
        Tensor[] ks = new Tensor[lengths.length], vs = new Tensor[lengths.length];
        for (int b = 0; b < lengths.length; b++) {
            ks[b] = random(rng, lengths[b], hkv, d);
            vs[b] = random(rng, lengths[b], hkv, d);
            batch.append(b, ks[b], vs[b]);
        }
        batch.keep(3, 1, new int[] {0, 1999});
        new KvDecode(ENGINE).plan(batch, hq, 1).run(q, out);
        for (int b = 0; b < lengths.length; b++) {
            KvCache single = builder(1, hkv, d).paged(128).build();
            single.append(0, ks[b], vs[b]);
            if (b == 3) {
                single.keep(0, 1, new int[] {0, 1999});
            }
            Tensor one = Tensor.zeros(1, 1, hq, d);
            new KvDecode(ENGINE).plan(single, hq, 1).run(q.slice(0, b, b + 1), one);
            assertClose("sequence " + b + " in the batch vs alone", out.slice(0, b, b + 1), one, 1e-6);
        }
    }

    @Test
    void memoryIsAccountedAndFreed() {
        Random rng = new Random(Fresh.seed());
        int n = 4096, hkv = 4, d = 64;
        Tensor k = random(rng, n, hkv, d), v = random(rng, n, hkv, d);
        for (KvFormat format : new KvFormat[] {KvFormat.float32(), KvFormat.int8(64), KvFormat.int4(64)}) {
            for (boolean paged : new boolean[] {false, true}) {
                KvCache.Builder b = builder(1, hkv, d).format(format);
                KvCache cache = (paged ? b.paged(256) : b).build();
                cache.append(0, k, v);
                long perRow = cache.bytesPerRow();
                assertEquals((long) n * hkv * perRow, cache.memory().keyValueBytes() + cache.memory().scaleBytes(),
                        format + " paged=" + paged + ": K/V bytes of " + n + " rows");
                int[] keep = java.util.stream.IntStream.range(0, 512).map(i -> i * 8).toArray();
                for (int h = 0; h < hkv; h++) {
                    cache.keep(0, h, keep);
                }
                KvCache.Memory m = cache.memory();
                assertEquals(512L * hkv * perRow, m.keyValueBytes() + m.scaleBytes(),
                        format + " paged=" + paged + ": bytes after keeping 512 rows per head");
                assertTrue(m.metadataBytes() <= 0.05 * (m.keyValueBytes() + m.scaleBytes()) || format.quantized(),
                        "float32 metadata " + m.metadataBytes() + " within 5 %");
            }
        }
        KvCache f32 = builder(1, 1, 128).build(), i8 = builder(1, 1, 128).format(KvFormat.int8(64)).build(),
                i4 = builder(1, 1, 128).format(KvFormat.int4(64)).build();
        assertTrue(i8.bytesPerRow() <= f32.bytesPerRow() / 2.0, "int8 at most half of float32");
        assertTrue(i4.bytesPerRow() <= f32.bytesPerRow() / 4.0, "int4 at most a quarter of float32");
    }

    @Test
    void truncateRollsBackDrafts() {
        Random rng = new Random(Fresh.seed());
        int hkv = 2, d = 8;
        KvCache cache = builder(1, hkv, d).build();
        Tensor k = random(rng, 50, hkv, d), v = random(rng, 50, hkv, d);
        cache.append(0, k, v);
        cache.keep(0, 0, new int[] {0, 10, 20, 45, 49});
        cache.truncate(0, 46);
        assertEquals(46, cache.tokensSeen(0));
        assertArrayEquals(new int[] {0, 10, 20, 45}, cache.positions(0, 0));
        assertEquals(46, cache.length(0, 1));
        cache.append(0, k.slice(0, 0, 2), v.slice(0, 0, 2));
        assertEquals(47, cache.position(0, 0, 5));
    }

    @Test
    void badInputIsRefusedAndNothingIsWritten() {
        KvCache cache = builder(2, 2, 4).build();
        Tensor k = Tensor.zeros(3, 2, 4), v = Tensor.zeros(3, 2, 4);
        v.set(Float.NaN, 2, 1, 3);
        IllegalArgumentException nan = assertThrows(IllegalArgumentException.class, () -> cache.append(0, k, v));
        assertTrue(nan.getMessage().contains("NaN") && nan.getMessage().contains("token 2"), nan.getMessage());
        assertEquals(0, cache.tokensSeen(0));
        assertEquals(0, cache.length(0, 1));
        assertThrows(IllegalArgumentException.class, () -> cache.append(0, Tensor.zeros(3, 3, 4), v));
        assertThrows(IllegalArgumentException.class, () -> cache.append(2, k, k));
        cache.append(0, k, k);
        IllegalArgumentException rows = assertThrows(IllegalArgumentException.class,
                () -> cache.keep(0, 0, new int[] {2, 1}));
        assertTrue(rows.getMessage().contains("ascending"), rows.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cache.keep(0, 0, new int[] {3}));
        assertThrows(IllegalArgumentException.class, () -> cache.truncate(0, 4));
        assertThrows(IllegalArgumentException.class, () -> KvCache.builder(1, 0, 4));
        assertThrows(IllegalArgumentException.class, () -> KvFormat.parse("int3"));
        assertThrows(IllegalArgumentException.class, () -> KvFormat.int8(3));
        for (String bad : new String[] {"0", "-5", "1.5", "0%", "abc", "", "2/0"}) {
            assertThrows(IllegalArgumentException.class, () -> Budget.parse(bad), bad);
        }
        assertEquals(Budget.tokens(2048), Budget.parse("2048"));
        assertEquals(Budget.ratio(0.125), Budget.parse("1/8"));
        assertEquals(Budget.ratio(0.125), Budget.parse("12.5%"));
        // a plan refuses a cache that changed under it
        KvCache other = builder(1, 1, 4).build();
        other.append(0, Tensor.zeros(1, 1, 4), Tensor.zeros(1, 1, 4));
        KvDecode.Plan stale = new KvDecode(ENGINE).plan(other, 1, 1);
        other.append(0, Tensor.zeros(1, 1, 4), Tensor.zeros(1, 1, 4));
        assertThrows(IllegalStateException.class, () -> stale.run(Tensor.zeros(1, 1, 1, 4), Tensor.zeros(1, 1, 1, 4)));
        assertThrows(IllegalArgumentException.class, () -> new KvDecode(ENGINE).plan(cache, 3, 1));
    }
}
