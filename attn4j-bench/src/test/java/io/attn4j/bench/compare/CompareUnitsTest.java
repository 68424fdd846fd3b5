package io.attn4j.bench.compare;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pieces of compare's arithmetic, on inputs whose answers are known. */
class CompareUnitsTest {

    @Test
    void efficiencyLengthFindsWhereTwoQuadraticsCross() {
        int[] n = {1024, 2048, 8192, 16384};
        double[] flash = new double[n.length], cheaper = new double[n.length], dearer = new double[n.length];
        for (int i = 0; i < n.length; i++) {
            double x = n[i] / 1024.0;
            flash[i] = x * x;
            cheaper[i] = 0.25 * x * x + 3 * x; // equal to flash at x = 4, i.e. 4096 tokens, cheaper above
            dearer[i] = 2 * x * x + 1;
        }
        EfficiencyLength e = EfficiencyLength.of(n, flash, cheaper, "time");
        assertEquals(4096, e.length(), 1e-6);
        assertTrue(e.cheaperAbove());
        assertEquals("time: faster than flash above 4.0K tokens, slower below", e.verdict());
        EfficiencyLength never = EfficiencyLength.of(n, flash, dearer, "time");
        assertNull(never.length());
        assertFalse(never.cheaperAbove());
        assertEquals("time: slower than flash everywhere from 128 to 128.0K tokens", never.verdict());
        assertThrows(IllegalArgumentException.class, () -> EfficiencyLength.of(new int[] {1, 2}, new double[2],
                new double[2], "time"));
    }

    @Test
    void aFailingPeerIsReportedWithItsErrorAndTheSweepGoesOn() {
        CompareConfig c = CompareConfig.defaults(true, java.nio.file.Path.of("unused"))
                .withMechanisms(List.of("flash")).withLengths(new int[] {64, 128, 256}).withShape(1, 16)
                .withDecodeShape(1, 1, 16).withThreads(1)
                .withTiming(1, new io.attn4j.bench.KernelBench.Protocol(0, 1, 0, 1, 0, 1));
        KernelPeer broken = new KernelPeer() {
            public String name() {
                return "broken";
            }

            public String unavailableReason() {
                return null;
            }

            public boolean supports(io.attn4j.attention.Pattern pattern) {
                return pattern == io.attn4j.attention.Pattern.NS;
            }

            public Call open(io.attn4j.inputs.AttentionInputs in, boolean causal, float scale, int threads) {
                throw new IllegalStateException("boom");
            }
        };
        var peak = new io.attn4j.bench.MachinePeak(1, 100, 100, 10, 10, "test", "test");
        List<KernelSweep.Point> points = new KernelSweep(c, peak, List.of(broken)).run(what -> { });
        assertEquals(15 + 3, points.size(), "flash on 5 patterns and the peer on NS, 3 lengths each");
        assertTrue(points.stream().filter(p -> p.mechanism().equals("flash")).allMatch(p -> p.status().equals("ok")));
        List<KernelSweep.Point> peer = points.stream().filter(p -> p.mechanism().equals("broken")).toList();
        assertEquals(List.of("failed", "skipped", "skipped"), peer.stream().map(KernelSweep.Point::status).toList());
        assertEquals("IllegalStateException: boom", peer.getFirst().reason());
        assertEquals("an earlier length failed", peer.get(1).reason());
    }

    @Test
    void quadraticFitRecoversItsCoefficients() {
        int[] n = {512, 1024, 3072, 4096, 9000};
        double[] y = new double[n.length];
        for (int i = 0; i < n.length; i++) {
            double x = n[i] / 1024.0;
            y[i] = 3 * x * x - 2 * x + 0.5;
        }
        assertArrayEquals(new double[] {3, -2, 0.5}, EfficiencyLength.fit(n, y), 1e-9);
    }

    @Test
    void neighboursKnnAndOverlapOnPointsWhoseAnswersAreKnown() {
        // two tight clusters on the circle: a (0°, 10°, 20°) and b (90°, 100°, 110°), plus an a-labelled outlier at 96°
        double[] degrees = {0, 10, 20, 90, 100, 110, 96};
        String[] genres = {"a", "a", "a", "b", "b", "b", "a"};
        float[][] v = new float[degrees.length][];
        for (int i = 0; i < v.length; i++) {
            double r = Math.toRadians(degrees[i]);
            v[i] = new float[] {(float) Math.cos(r), (float) Math.sin(r)};
        }
        int[][] top = ModelLevel.neighbours(v, 3);
        assertArrayEquals(new int[] {1, 2, 3}, top[0]);
        assertArrayEquals(new int[] {4, 3, 5}, top[6]);
        // k = 3: texts 0-2 and 3-5 are voted right by their cluster; the outlier (a, among b's) is voted b
        assertEquals(6.0 / 7, ModelLevel.knnAccuracy(top, genres, 3), 1e-12);
        assertEquals(1.0, ModelLevel.overlap(top, top, 3), 1e-12);
        int[][] shifted = ModelLevel.neighbours(v, 3);
        shifted[0] = new int[] {1, 2, 6};
        assertEquals(1 - 1.0 / 3 / 7, ModelLevel.overlap(shifted, top, 3), 1e-12);
    }

    @Test
    void textsAreSpreadOverTheGenresInTurn() {
        var docs = List.of(new io.attn4j.models.corpus.Text("a1", "a", "one two three."),
                new io.attn4j.models.corpus.Text("a2", "a", "four five six."),
                new io.attn4j.models.corpus.Text("a3", "a", "seven eight."),
                new io.attn4j.models.corpus.Text("b1", "b", "nine ten."));
        var picked = ModelLevel.texts(new io.attn4j.models.corpus.Corpus("toy", docs), 3);
        assertEquals(List.of("a", "b", "a"), picked.stream().map(io.attn4j.models.corpus.Text::genre).toList());
        assertEquals(4, ModelLevel.texts(new io.attn4j.models.corpus.Corpus("toy", docs), 10).size());
    }

    @Test
    void svgEscapesTextAndDrawsEveryFiniteSeries() {
        String svg = Svg.lineChart("c", "a <b> & \"c\"", "x", "y", List.of(new Svg.Series("s<1>", "#000",
                new double[] {1, 2, 4}, new double[] {1, Double.NaN, 3})), Double::toString, Double::toString);
        assertTrue(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;"), svg);
        assertEquals(2, svg.split("<circle", -1).length - 1, "the NaN point is a gap, not a mark");
        assertTrue(Svg.lineChart("e", "t", "x", "y", List.of(), Double::toString, Double::toString)
                .contains("no measurements"));
    }
}
