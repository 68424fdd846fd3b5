package io.attn4j.attention;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each mask against its definition in index terms, for equal and unequal lengths. */
class MasksTest {

    /** Definition of each mask as a plain predicate over (query position p, key k). */
    private interface Definition {
        boolean visible(int p, int k);
    }

    private static void assertMatches(MaskMod mask, Definition definition, int lq, int lk) {
        MaskMod bound = mask.bind(lq, lk);
        int offset = lk - lq;
        for (int q = 0; q < lq; q++) {
            for (int k = 0; k < lk; k++) {
                boolean expected = definition.visible(q + offset, k);
                assertEquals(expected, bound.test(0, 0, q, k), mask + " at q=" + q + " k=" + k + " (Lq=" + lq
                        + ", Lk=" + lk + ")");
                if (bound instanceof IntervalMask interval) {
                    boolean inInterval = k >= interval.keyFrom(0, 0, q) && k < interval.keyTo(0, 0, q);
                    assertEquals(expected, inInterval, mask + " interval at q=" + q + " k=" + k);
                }
            }
        }
    }

    @Test
    void positionMasksFollowTheirDefinitions() {
        for (int[] lengths : List.of(new int[] {9, 9}, new int[] {4, 11}, new int[] {11, 4}, new int[] {1, 20})) {
            int lq = lengths[0], lk = lengths[1];
            assertMatches(Masks.all(), (p, k) -> true, lq, lk);
            assertMatches(Masks.causal(), (p, k) -> k <= p, lq, lk);
            assertMatches(Masks.slidingWindow(3), (p, k) -> Math.abs(p - k) < 3, lq, lk);
            assertMatches(Masks.slidingWindow(2, 1), (p, k) -> k >= p - 2 && k <= p + 1, lq, lk);
            assertMatches(Masks.prefixLm(4), (p, k) -> k < 4 || k <= p, lq, lk);
            assertMatches(Masks.blockCausal(3), (p, k) -> k < (Math.floorDiv(p, 3) + 1) * 3, lq, lk);
            assertMatches(Masks.dilated(3, 2), (p, k) -> Math.floorMod(p - k, 2) == 0 && Math.abs(p - k) < 6, lq, lk);
            assertMatches(Masks.causal().and(Masks.slidingWindow(4)), (p, k) -> k <= p && p - k < 4, lq, lk);
            assertMatches(Masks.causal().or(Masks.prefixLm(2)), (p, k) -> k <= p || k < 2, lq, lk);
            assertMatches(Masks.causal().and(Masks.dilated(2, 3)),
                    (p, k) -> k <= p && Math.floorMod(p - k, 3) == 0 && Math.abs(p - k) < 6, lq, lk);
        }
    }

    @Test
    void intervalMasksStayIntervalsUnderAnd() {
        assertInstanceOf(IntervalMask.class, Masks.causal().and(Masks.slidingWindow(5)));
        assertInstanceOf(IntervalMask.class, Masks.documents(new int[] {0, 3, 7}).and(Masks.causal()));
        assertFalse(Masks.causal().and(Masks.dilated(2, 2)) instanceof IntervalMask);
        assertFalse(Masks.causal().or(Masks.prefixLm(2)) instanceof IntervalMask);
        assertFalse(Masks.causal().dependsOnBatchOrHead());
        assertTrue(Masks.causal().and((b, h, q, k) -> h == 0).dependsOnBatchOrHead());
    }

    @Test
    void documentsSeeOnlyThemselves() {
        int[] offsets = {0, 3, 3, 8, 10}; // an empty document in the middle, two rows of padding after
        MaskMod docs = Masks.documents(offsets).bind(12, 12);
        for (int q = 0; q < 12; q++) {
            for (int k = 0; k < 12; k++) {
                int dq = doc(offsets, q), dk = doc(offsets, k);
                assertEquals(dq >= 0 && dq == dk, docs.test(0, 0, q, k), "q=" + q + " k=" + k);
            }
        }
    }

    private static int doc(int[] offsets, int i) {
        for (int d = 0; d + 1 < offsets.length; d++) {
            if (i >= offsets[d] && i < offsets[d + 1]) {
                return d;
            }
        }
        return -1;
    }

    @Test
    void documentsAlignTheirInnerMaskPerDocument() {
        // query documents of 1 and 2 tokens after key documents of 4 and 3: decode-like, bottom-right per document
        int[] q = {0, 1, 3}, k = {0, 4, 7};
        MaskMod mask = Masks.documents(q, k, Masks.causal()).bind(3, 7);
        // doc 0: one query at local position 3 of its 4 keys sees keys 0..3
        for (int key = 0; key < 7; key++) {
            assertEquals(key < 4, mask.test(0, 0, 0, key), "doc 0 key " + key);
        }
        // doc 1: 2 queries over keys 4..6: local query 0 sits at local position 1, query 1 at 2
        assertTrue(mask.test(0, 0, 1, 4) && mask.test(0, 0, 1, 5) && !mask.test(0, 0, 1, 6));
        assertTrue(mask.test(0, 0, 2, 6) && !mask.test(0, 0, 2, 3));
        MaskMod generic = Masks.documents(q, k, Masks.dilated(2, 2)).bind(3, 7);
        assertTrue(generic.test(0, 0, 2, 6) && generic.test(0, 0, 2, 4) && !generic.test(0, 0, 2, 5));
    }

    @Test
    void areaCountsVisiblePairs() {
        assertEquals(10L * 11 / 2, Masks.area(Masks.causal(), 10, 10));
        assertEquals(100L, Masks.area(null, 10, 10));
        // bottom-right causal with Lq < Lk: query i sees Lk - Lq + i + 1 keys
        assertEquals(5 + 6 + 7, Masks.area(Masks.causal(), 3, 7));
        long window = Masks.area(Masks.causal().and(Masks.slidingWindow(4)), 10, 10);
        assertEquals(1 + 2 + 3 + 4 * 7, window);
        assertEquals(Masks.area(Masks.dilated(2, 2), 6, 6), brute(Masks.dilated(2, 2), 6, 6));
    }

    private static long brute(MaskMod mask, int lq, int lk) {
        MaskMod bound = mask.bind(lq, lk);
        long n = 0;
        for (int q = 0; q < lq; q++) {
            for (int k = 0; k < lk; k++) {
                n += bound.test(0, 0, q, k) ? 1 : 0;
            }
        }
        return n;
    }

    @Test
    void invalidMasksAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Masks.slidingWindow(0));
        assertThrows(IllegalArgumentException.class, () -> Masks.prefixLm(-1));
        assertThrows(IllegalArgumentException.class, () -> Masks.blockCausal(0));
        assertThrows(IllegalArgumentException.class, () -> Masks.dilated(1, 0));
        var e = assertThrows(IllegalArgumentException.class, () -> Masks.documents(new int[] {1, 4}));
        assertTrue(e.getMessage().contains("starting at 0"));
        e = assertThrows(IllegalArgumentException.class, () -> Masks.documents(new int[] {0, 4, 2}));
        assertTrue(e.getMessage().contains("decreases"));
        assertThrows(IllegalArgumentException.class, () -> Masks.documents(new int[] {0, 2}, new int[] {0, 1, 2}, null));
    }
}
