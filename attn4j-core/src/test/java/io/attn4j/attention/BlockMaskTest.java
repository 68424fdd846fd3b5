package io.attn4j.attention;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tile classification against a brute-force scan of every element of every tile. */
class BlockMaskTest {

    @Test
    void tilesAreClassifiedExactly() {
        int[] offsets = {0, 5, 70, 71, 130};
        List<MaskMod> masks = List.of(Masks.causal(), Masks.slidingWindow(20), Masks.causal().and(Masks.slidingWindow(33)),
                Masks.prefixLm(50), Masks.blockCausal(24), Masks.dilated(4, 7), Masks.documents(offsets),
                Masks.documents(offsets).and(Masks.causal()), Masks.causal().or(Masks.prefixLm(10)),
                (b, h, q, k) -> (q ^ k) % 11 != 0);
        for (MaskMod mask : masks) {
            for (int[] dims : List.of(new int[] {130, 130, 16, 16}, new int[] {130, 130, 32, 8}, new int[] {7, 130, 4, 32},
                    new int[] {130, 50, 64, 64}, new int[] {1, 1, 16, 16})) {
                int lq = dims[0], lk = dims[1], bq = dims[2], bk = dims[3];
                if (mask.toString().contains("documents") && (lq < 130 || lk < 130)) {
                    continue; // the documents cover 130 rows
                }
                BlockMask blocks = BlockMask.of(mask, 1, 1, lq, lk, bq, bk);
                MaskMod bound = mask.bind(lq, lk);
                for (int qb = 0; qb < blocks.queryBlocks(); qb++) {
                    int row = blocks.row(0, 0, qb);
                    for (int kb = 0; kb < blocks.keyBlocks(); kb++) {
                        boolean seen = false, hidden = false;
                        for (int q = qb * bq; q < Math.min(lq, (qb + 1) * bq); q++) {
                            for (int k = kb * bk; k < Math.min(lk, (kb + 1) * bk); k++) {
                                if (bound.test(0, 0, q, k)) {
                                    seen = true;
                                } else {
                                    hidden = true;
                                }
                            }
                        }
                        int expected = !seen ? 0 : hidden ? 1 : 2;
                        int actual = blocks.tileKind(row, kb);
                        String where = mask + " " + java.util.Arrays.toString(dims) + " tile (" + qb + ", " + kb + ")";
                        if (expected == 0 || expected == 2) {
                            assertEquals(expected, actual, where);
                        } else {
                            assertEquals(1, actual, where + " has hidden and visible elements");
                        }
                    }
                }
            }
        }
    }

    @Test
    void runsAreCompact() {
        BlockMask causal = BlockMask.of(Masks.causal(), 65536, 65536, 64);
        assertTrue(causal.isShared());
        for (int qb = 0; qb < causal.queryBlocks(); qb += 97) {
            int row = causal.row(0, 0, qb);
            assertTrue(causal.runsEnd(row) - causal.runsStart(row) <= 2, "a causal row is at most two runs");
            assertEquals(qb + 1, causal.tiles(row));
        }
        assertEquals(0.5, causal.density(), 0.001);
    }

    @Test
    void headDependentMasksGetOneRowPerHead() {
        MaskMod perHead = (b, h, q, k) -> k <= q + h;
        BlockMask blocks = BlockMask.of(perHead, 2, 3, 40, 40, 8, 8);
        assertTrue(!blocks.isShared());
        assertEquals(2, blocks.tileKind(blocks.row(1, 2, 1), 0)); // keys 0..7 <= q + 2 for q >= 8
        assertEquals(1, blocks.tileKind(blocks.row(1, 2, 0), 0)); // q = 0 does not see key 3
        assertEquals(1, blocks.tileKind(blocks.row(0, 0, 1), 1)); // head 0: diagonal tile
        blocks.checkFits(2, 3, 40, 40);
        var e = assertThrows(IllegalArgumentException.class, () -> blocks.checkFits(1, 3, 40, 40));
        assertTrue(e.getMessage().contains("batch"));
        e = assertThrows(IllegalArgumentException.class, () -> blocks.checkFits(2, 3, 41, 40));
        assertTrue(e.getMessage().contains("Lq"));
    }

    @Test
    void builderMergesRunsAndRejectsDisorder() {
        BlockMask.Builder builder = BlockMask.builder(1, 1, 64, 64, 16, 16, null);
        builder.startRow(0, 0, 0).add(0, 1, true).add(1, 2, true).add(3, 4, false);
        builder.startRow(0, 0, 2).add(2, 3, true);
        BlockMask blocks = builder.build();
        assertEquals(2, blocks.runsEnd(0) - blocks.runsStart(0));
        assertEquals(0, blocks.tiles(1));
        assertEquals(1, blocks.tiles(2));
        assertEquals(0, blocks.tiles(3));
        BlockMask.Builder bad = BlockMask.builder(1, 1, 64, 64, 16, 16, null).startRow(0, 0, 0).add(2, 3, true);
        assertThrows(IllegalArgumentException.class, () -> bad.add(1, 2, true));
        assertThrows(IllegalArgumentException.class, () -> bad.add(3, 9, true));
        assertThrows(IllegalStateException.class, () -> bad.startRow(0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> BlockMask.of(null, 0, 10, 16));
    }

    @Test
    void theUnionOfTwoBlockMasksClassifiesLikeTheirOr() {
        for (int n : new int[] {1, 50, 333}) {
            for (int[] blocks : new int[][] {{16, 16}, {64, 32}, {7, 5}}) {
                MaskMod window = Masks.causal().and(Masks.slidingWindow(20)).bind(n, n);
                MaskMod sinks = Masks.causal().and(Masks.sinks(9)).bind(n, n);
                BlockMask a = BlockMask.of(window, 1, 1, n, n, blocks[0], blocks[1]);
                BlockMask b = BlockMask.of(sinks, 1, 1, n, n, blocks[0], blocks[1]);
                MaskMod or = window.or(sinks);
                BlockMask union = a.or(b, or);
                BlockMask classified = BlockMask.of((bb, h, q, k) -> or.test(bb, h, q, k), 1, 1, n, n, blocks[0],
                        blocks[1]);
                for (int qb = 0; qb < union.queryBlocks(); qb++) {
                    for (int kb = 0; kb < union.keyBlocks(); kb++) {
                        int kind = union.tileKind(union.row(0, 0, qb), kb);
                        int expected = classified.tileKind(classified.row(0, 0, qb), kb);
                        // a tile full in neither part but covered by their union is kept as partial: still exact
                        assertTrue(kind == expected || (kind == 1 && expected == 2),
                                "n=" + n + " tile (" + qb + ", " + kb + "): " + kind + " vs " + expected);
                    }
                }
            }
        }
        BlockMask a = BlockMask.full(10, 10, 4, 4);
        assertThrows(IllegalArgumentException.class, () -> a.or(BlockMask.full(10, 12, 4, 4), null));
        assertThrows(IllegalArgumentException.class, () -> a.or(BlockMask.of(Masks.causal(), 10, 10, 4), null));
    }
}
