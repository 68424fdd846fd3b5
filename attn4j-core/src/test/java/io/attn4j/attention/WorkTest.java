package io.attn4j.attention;

import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The counting rules of {@link Work}: mask areas, the keys read, kept pairs, exhaustive and sampled. */
class WorkTest {
    private static final Work.Shape SQUARE = new Work.Shape(2, 100, 100, 4, 2, 32, 16);

    @Test
    void exactAttentionCountsTheMasksAreaAndTheKeysAnyQuerySees() {
        Work full = Work.dense(SQUARE, AttentionSpec.noncausal());
        double perPair = 2.0 * (32 + 16);
        assertEquals(perPair * 100 * 100 * 2 * 4, full.flops());
        // Q and O once (2·100·4 rows of 32 + 16), K and V of all 100 keys once per KV head (2·2 of them)
        assertEquals(4.0 * (2 * 100 * 4 * 48 + 2 * 2 * 100 * 48), full.bytes());
        assertEquals(0, full.selectionFlops());

        Work causal = Work.dense(SQUARE, AttentionSpec.causal());
        assertEquals(perPair * (100 * 101 / 2) * 2 * 4, causal.flops());
        assertEquals(full.bytes(), causal.bytes(), "the last query sees every key");

        // decode against a window: one query sees 10 keys, so only they are read
        Work.Shape decode = new Work.Shape(1, 1, 600, 8, 2, 64, 64);
        Work window = Work.dense(decode, AttentionSpec.causal().mask(Masks.slidingWindow(10)));
        assertEquals(2.0 * 128 * 10 * 8, window.flops());
        assertEquals(4.0 * (8 * 128 + 2 * 10 * 128), window.bytes());
    }

    @Test
    void aMaskThatDependsOnTheHeadIsCountedPerHead() {
        // head h sees keys below 10·(h + 1): areas 10, 20, 30, 40 per query; KV head g is read as far as its
        // group's widest head, keys [0, 20) and [0, 40)
        MaskMod perHead = (b, h, q, k) -> k < 10 * (h + 1);
        Work w = Work.dense(SQUARE, AttentionSpec.noncausal().mask(perHead));
        assertEquals(2.0 * 48 * 100 * (10 + 20 + 30 + 40) * 2, w.flops());
        assertEquals(4.0 * (2 * 100 * 4 * 48 + 2 * (20 + 40) * 48), w.bytes());
    }

    @Test
    void anIntervalMaskWithGapsBetweenRowsReadsOnlyTheirUnion() {
        IntervalMask everyOtherBlock = new IntervalMask() {
            @Override
            public int keyFrom(int batch, int head, int query) {
                return (query / 10) * 20; // rows of block i see keys [20i, 20i + 10): gaps of 10 keys between
            }

            @Override
            public int keyTo(int batch, int head, int query) {
                return (query / 10) * 20 + 10;
            }

            @Override
            public boolean dependsOnBatchOrHead() {
                return false;
            }
        };
        Work.Shape s = new Work.Shape(1, 50, 100, 1, 1, 8, 8);
        Work w = Work.dense(s, AttentionSpec.noncausal().mask(everyOtherBlock));
        assertEquals(2.0 * 16 * 50 * 10, w.flops());
        assertEquals(4.0 * (50 * 16 + 50 * 16), w.bytes(), "5 blocks of 10 keys, not the span of 90");
    }

    @Test
    void keptPairsAreCountedExactlyAndByStrataWhenThereAreTooManyToTest() {
        Work.Shape s = new Work.Shape(1, 1000, 1000, 2, 1, 16, 16);
        Work.Kept causalHalf = (b, h, q, k) -> k <= q && (h == 0 || k % 2 == 0);
        Work exact = Work.ofKept(s, causalHalf);
        long pairs = 0;
        for (int q = 0; q < 1000; q++) {
            pairs += (q + 1) + (q / 2 + 1);
        }
        assertEquals(2.0 * 32 * pairs, exact.flops());
        assertEquals("kept pairs", exact.rule());
        // with a budget of 64 rows per head the count is scaled from evenly spaced rows
        Work sampled = Work.ofKept(s, causalHalf, 64L * 2 * 1000);
        assertEquals(exact.flops(), sampled.flops(), 0.01 * exact.flops(), "stratified rows of a linear row count");
        assertTrue(sampled.rule().contains("64 evenly spaced query rows"), sampled.rule());
        assertTrue(sampled.bytes() <= exact.bytes(), "the sampled rows' keys are a lower bound of the keys read");
    }

    @Test
    void negativeOrNonFiniteFiguresAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Work(-1, 0, 0, "x"));
        assertThrows(IllegalArgumentException.class, () -> new Work(Double.NaN, 0, 0, "x"));
        assertThrows(IllegalArgumentException.class, () -> new Work(1, 0, Double.POSITIVE_INFINITY, "x"));
    }

    @Test
    void shapesAreReadInTheSpecsLayout() {
        Tensor q = Tensor.zeros(2, 4, 7, 32), k = Tensor.zeros(2, 2, 9, 32), v = Tensor.zeros(2, 2, 9, 16);
        Work.Shape s = Work.Shape.of(q, k, v, AttentionSpec.noncausal().layout(io.attn4j.tensor.Layout.BHSD));
        assertEquals(new Work.Shape(2, 7, 9, 4, 2, 32, 16), s);
    }
}
