package io.attn4j.kv;

import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.Needle;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static io.attn4j.kv.KvTesting.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Head scores: the calibration score is the attention mass outside sinks + recent window (checked against a direct
 * float64 computation, window edges included), GQA scores equal the expanded MHA scores averaged per group, a planted
 * retrieval head ranks above local heads and is the one razor and duo protect, selection by fraction and threshold
 * is global over layers with ties to the earlier head, files round-trip, and bad input is refused.
 */
class HeadScoresTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(3);

    private static String seeds() {
        return " (seed base " + Fresh.base() + ")";
    }

    @Test
    void scoreIsTheMassOutsideSinksAndTheRecentWindow() {
        Random rng = new Random(Fresh.seed());
        int lk = 12, d = 4, sinks = 2, recent = 3;
        for (int lq : new int[] {12, 4}) { // self, and queries at the end of a longer context
            Tensor q = random(rng, 1, lq, 2, d), k = random(rng, 1, lk, 1, d);
            int[] rows = lq == 12 ? new int[] {0, 4, 5, 11} : new int[] {0, 3};
            HeadScores s = HeadScores.calibrate(q, k, new int[][] {rows}, new HeadScores.Calibration(sinks, recent,
                    1, 0.7f), ENGINE);
            double want = 0;
            for (int i : rows) {
                int p = i + lk - lq;
                for (int h = 0; h < 2; h++) {
                    double[] w = new double[p + 1];
                    double sum = 0;
                    for (int j = 0; j <= p; j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) q.get(0, i, h, c) * k.get(0, j, 0, c);
                        }
                        w[j] = Math.exp(0.7f * dot);
                        sum += w[j];
                    }
                    for (int j = 0; j <= p; j++) {
                        boolean kept = j == 0 || j == 1 || j == p || j == p - 1 || j == p - 2;
                        want += kept ? 0 : w[j] / sum / (rows.length * 2);
                    }
                }
            }
            assertEquals(want, s.score(0, 0), 1e-12, "Lq " + lq + seeds());
            assertEquals(1, s.layers());
            assertEquals(1, s.kvHeads(0));
        }
    }

    @Test
    void gqaScoresEqualTheExpandedMhaScoresAveragedPerGroup() {
        Random rng = new Random(Fresh.seed());
        int b = 2, n = 150, hq = 6, hkv = 2, d = 16, group = hq / hkv;
        Tensor q = random(rng, b, n, hq, d), k = random(rng, b, n, hkv, d);
        Tensor expanded = Tensor.zeros(b, n, hq, d);
        for (int s = 0; s < b; s++) {
            for (int t = 0; t < n; t++) {
                for (int h = 0; h < hq; h++) {
                    for (int c = 0; c < d; c++) {
                        expanded.set(k.get(s, t, h / group, c), s, t, h, c);
                    }
                }
            }
        }
        HeadScores.Calibration cal = new HeadScores.Calibration(3, 20, 40, Float.NaN);
        HeadScores gqa = HeadScores.calibrate(q, k, null, cal, ENGINE), mha = HeadScores.calibrate(q, expanded,
                null, cal, ENGINE.withThreads(1));
        for (int h = 0; h < hkv; h++) {
            double mean = 0;
            for (int g = 0; g < group; g++) {
                mean += mha.score(0, h * group + g) / group;
            }
            assertEquals(mean, gqa.score(0, h), 1e-12, "KV head " + h + seeds());
            assertTrue(gqa.score(0, h) > 0, "random attention puts mass outside a 23-row window" + seeds());
        }
    }

    /** Structured inputs whose KV head 2 alone has far needles; the other heads are sinks + locality only. */
    private static AttentionInputs planted(long seed, InputShape shape, int plantedHead) {
        AttentionInputs needles = StandardInputs.structured(seed, shape);
        AttentionInputs local = StandardInputs.structured(seed + 1, shape,
                new StandardInputs.Structure(4, 0.3, 0.6, 64, 0, 0.9));
        int group = shape.heads() / shape.kvHeads();
        Tensor q = local.q().copy(), k = local.k().copy(), v = local.v().copy();
        for (int t = 0; t < shape.keyLength(); t++) {
            for (int c = 0; c < shape.headDim(); c++) {
                k.set(needles.k().get(0, t, plantedHead, c), 0, t, plantedHead, c);
                v.set(needles.v().get(0, t, plantedHead, c), 0, t, plantedHead, c);
                for (int g = 0; g < group; g++) {
                    int h = plantedHead * group + g;
                    q.set(needles.q().get(0, t, h, c), 0, t, h, c);
                }
            }
        }
        List<Needle> planted = needles.needles().stream().filter(n -> n.kvHead() == plantedHead).toList();
        assertTrue(planted.size() >= 4, "the structured input plants needles: " + planted.size());
        return new AttentionInputs("planted", seed, shape, q, k, v, planted);
    }

    @Test
    void aPlantedRetrievalHeadRanksAboveLocalHeadsAndIsProtected() {
        long seed = Fresh.seed();
        InputShape shape = InputShape.self(1, 1024, 8, 4, 32);
        AttentionInputs inputs = planted(seed, shape, 2);
        HeadScores scores = HeadScores.calibrate(inputs, HeadScores.Calibration.defaults(), ENGINE);
        String what = scores + " seed " + seed + seeds();
        for (int h = 0; h < 4; h++) {
            if (h != 2) {
                assertTrue(scores.score(0, 2) > 0.8 && scores.score(0, h) < 0.05, what);
            }
        }
        assertArrayEquals(new boolean[] {false, false, true, false}, scores.retrievalHeads(0.25)[0], what);
        assertArrayEquals(new boolean[] {false, false, true, false}, KvPolicies.razor(scores, 0).retrievalHeads(),
                "razor protects ⌈0.15 · 4⌉ = 1 head: the planted one; " + what);
        assertTrue(KvPolicies.duo(scores, 0).isRetrieval(2), what);
        // a streaming window that reaches back to every needle sees no mass outside it
        HeadScores wide = HeadScores.calibrate(inputs, HeadScores.Calibration.window(4, 1024), ENGINE);
        assertEquals(0, wide.score(0, 2), 0, what);
    }

    @Test
    void selectionIsGlobalOverLayersWithTiesToTheEarlierHead() {
        HeadScores s = HeadScores.of(new double[] {0.3, 0.3, 0.1}, new double[] {0.3, 0.9});
        assertEquals(5, s.total());
        assertFlags(new boolean[][] {{true, false, false}, {false, true}}, s.retrievalHeads(0.4));
        assertFlags(new boolean[][] {{false, false, false}, {false, true}}, s.retrievalHeads(0.01));
        assertFlags(new boolean[][] {{false, false, false}, {false, false}}, s.retrievalHeads(0));
        assertFlags(new boolean[][] {{true, true, true}, {true, true}}, s.retrievalHeads(1));
        assertFlags(new boolean[][] {{true, true, false}, {true, true}}, s.retrievalHeadsAtLeast(0.3));
        assertFlags(new boolean[][] {{false, false, false}, {false, false}}, s.retrievalHeadsAtLeast(1));
        for (double bad : new double[] {-0.1, 1.1, Double.NaN}) {
            assertThrows(IllegalArgumentException.class, () -> s.retrievalHeads(bad));
        }
        assertThrows(IllegalArgumentException.class, () -> s.retrievalHeadsAtLeast(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> s.score(2, 0));
        assertThrows(IllegalArgumentException.class, () -> s.score(1, 2));
    }

    private static void assertFlags(boolean[][] want, boolean[][] got) {
        assertEquals(want.length, got.length);
        for (int l = 0; l < want.length; l++) {
            assertArrayEquals(want[l], got[l], "layer " + l);
        }
    }

    @Test
    void filesRoundTripAndBadTextIsRefused(@TempDir Path dir) throws IOException {
        HeadScores s = HeadScores.of(new double[] {0.125, 1e-17, 0.9999999999999999}, new double[] {1, 0});
        Path file = dir.resolve("full_attention_heads.tsv");
        s.write(file);
        assertEquals(s, HeadScores.read(file));
        assertEquals(HeadScores.stack(HeadScores.of(new double[] {0.125, 1e-17, 0.9999999999999999}),
                HeadScores.of(new double[] {1, 0})), s);
        HeadScores parsed = HeadScores.parse("# DuoAttention gates\n1.000000000000000000e+00\t0.0\n\n 0.5, 0.25 ,1\n");
        assertEquals(HeadScores.of(new double[] {1, 0}, new double[] {0.5, 0.25, 1}), parsed);
        IllegalArgumentException word = assertThrows(IllegalArgumentException.class,
                () -> HeadScores.parse("0.1 0.2\n0.3 abc\n"));
        assertTrue(word.getMessage().contains("line 2") && word.getMessage().contains("abc"), word.getMessage());
        assertThrows(IllegalArgumentException.class, () -> HeadScores.parse("0.1 NaN"));
        assertThrows(IllegalArgumentException.class, () -> HeadScores.parse("# nothing\n\n"));
        assertThrows(IllegalArgumentException.class, () -> HeadScores.of());
        assertThrows(IllegalArgumentException.class, () -> HeadScores.of(new double[0]));
        assertThrows(IllegalArgumentException.class, () -> HeadScores.of(new double[] {Double.POSITIVE_INFINITY}));
        double[] source = {0.5};
        HeadScores copied = HeadScores.of(source);
        source[0] = 7;
        assertEquals(0.5, copied.score(0, 0), "scores are copied");
    }

    @Test
    void badCalibrationInputIsRefused() {
        Random rng = new Random(Fresh.seed());
        Tensor q = random(rng, 1, 10, 4, 8), k = random(rng, 1, 10, 2, 8);
        HeadScores.Calibration cal = HeadScores.Calibration.defaults();
        assertThrows(IllegalArgumentException.class, () -> HeadScores.calibrate(q.select(0, 0), k, null, cal, ENGINE));
        assertThrows(IllegalArgumentException.class,
                () -> HeadScores.calibrate(random(rng, 1, 10, 3, 8), k, null, cal, ENGINE));
        assertThrows(IllegalArgumentException.class,
                () -> HeadScores.calibrate(random(rng, 1, 11, 4, 8), k, null, cal, ENGINE));
        assertThrows(IllegalArgumentException.class,
                () -> HeadScores.calibrate(q, random(rng, 1, 10, 2, 6), null, cal, ENGINE));
        IllegalArgumentException row = assertThrows(IllegalArgumentException.class,
                () -> HeadScores.calibrate(q, k, new int[][] {{3, 10}}, cal, ENGINE));
        assertTrue(row.getMessage().contains("row 10"), row.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> HeadScores.calibrate(q, k, new int[][] {{3}, {4}}, cal, ENGINE));
        assertThrows(IllegalArgumentException.class, () -> new HeadScores.Calibration(-1, 64, 64, Float.NaN));
        assertThrows(IllegalArgumentException.class, () -> new HeadScores.Calibration(4, 0, 64, Float.NaN));
        assertThrows(IllegalArgumentException.class, () -> new HeadScores.Calibration(4, 64, 0, Float.NaN));
        assertThrows(IllegalArgumentException.class, () -> new HeadScores.Calibration(4, 64, 64, -1f));
        assertThrows(IllegalArgumentException.class,
                () -> new HeadScores.Calibration(4, 64, 64, Float.POSITIVE_INFINITY));
    }
}
