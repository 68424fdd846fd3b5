package io.attn4j.attention;

import io.attn4j.simd.VectorOps;
import io.attn4j.testing.Fresh;
import io.attn4j.testing.SimdPaths;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ScoreModsTest {

    @Test
    void alibiSlopesFollowThePaper() {
        float[] eight = ScoreMods.alibiSlopes(8);
        for (int h = 0; h < 8; h++) {
            assertEquals(Math.pow(2, -(h + 1)), eight[h], 1e-7);
        }
        // 6 heads: the 4-head slopes, then the 1st and 3rd of the 8-head slopes' odd positions
        float[] six = ScoreMods.alibiSlopes(6);
        assertArrayEquals(new float[] {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f}, six, 1e-7f);
        assertThrows(IllegalArgumentException.class, () -> ScoreMods.alibiSlopes(0));
    }

    /** Tile application (both layouts, both SIMD paths) equals element-wise apply and float64 applyExact. */
    @Test
    void tilesMatchElementwiseApplication() {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        List<ScoreMod> mods = List.of(ScoreMods.alibi(4).bind(1, 4, 30, 50), ScoreMods.softcap(3f),
                ScoreMods.temperature(0.7f), ScoreMods.softcap(5f).andThen(ScoreMods.alibi(4)).bind(1, 4, 30, 50),
                (s, b, h, q, k) -> s * (1 + h) + q - k);
        int queries = 19, keys = 37, q0 = 5, k0 = 11, head = 3;
        for (VectorOps ops : SimdPaths.all()) {
            for (ScoreMod mod : mods) {
                float[] base = new float[queries * keys];
                for (int i = 0; i < base.length; i++) {
                    base[i] = (float) (r.nextGaussian() * 10);
                }
                float[] rows = base.clone(), cols = new float[base.length];
                for (int i = 0; i < queries; i++) {
                    for (int j = 0; j < keys; j++) {
                        cols[j * queries + i] = base[i * keys + j];
                    }
                }
                mod.applyTile(rows, 0, keys, 1, 0, head, q0, queries, k0, keys, ops);
                mod.applyTile(cols, 0, 1, queries, 0, head, q0, queries, k0, keys, ops);
                for (int i = 0; i < queries; i++) {
                    for (int j = 0; j < keys; j++) {
                        float x = base[i * keys + j];
                        double exact = mod.applyExact(x, 0, head, q0 + i, k0 + j);
                        float scalar = mod.apply(x, 0, head, q0 + i, k0 + j);
                        double tolerance = 1e-5 * (1 + Math.abs(exact));
                        assertEquals(exact, scalar, tolerance, mod + " apply");
                        assertEquals(exact, rows[i * keys + j], tolerance, mod + " row tile on " + ops.name());
                        assertEquals(exact, cols[j * queries + i], tolerance, mod + " column tile on " + ops.name());
                    }
                }
            }
        }
    }

    @Test
    void alibiIsAlignedBottomRight() {
        ScoreMod bound = ScoreMods.alibi(new float[] {0.5f}).bind(1, 1, 2, 10);
        // query 1 of 2 sits at position 9: no penalty on key 9, 0.5 per position before it
        assertEquals(0f, bound.apply(0f, 0, 0, 1, 9));
        assertEquals(-2f, bound.apply(0f, 0, 0, 1, 5));
        assertEquals(-0.5f, bound.apply(0f, 0, 0, 0, 9));
    }

    @Test
    void invalidParametersAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> ScoreMods.softcap(0f));
        assertThrows(IllegalArgumentException.class, () -> ScoreMods.softcap(Float.POSITIVE_INFINITY));
        assertThrows(IllegalArgumentException.class, () -> ScoreMods.temperature(-1f));
        assertThrows(IllegalArgumentException.class, () -> ScoreMods.alibi(new float[] {Float.NaN}));
        var e = assertThrows(IllegalArgumentException.class, () -> ScoreMods.alibi(4).bind(1, 8, 10, 10));
        assertTrue(e.getMessage().contains("4 slopes"));
    }
}
