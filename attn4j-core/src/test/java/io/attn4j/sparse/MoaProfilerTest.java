package io.attn4j.sparse;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MoA's profiler: budget, determinism, what it measures, and that it gives spread-out heads wider spans. */
class MoaProfilerTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(3);

    private static final List<Moa.Span> GRID = List.of(new Moa.Span(4, 0), new Moa.Span(8, 0), new Moa.Span(16, 0),
            new Moa.Span(32, 0), new Moa.Span(64, 0), new Moa.Span(128, 0), new Moa.Span(256, 0),
            new Moa.Span(0, 0.25), new Moa.Span(0, 0.5), new Moa.Span(8, 0.125));

    /**
     * Synthetic layer inputs [1, n, 2, d]: head 0 is local (sharp positional codes: a query matches its own key
     * and hardly any other), head 1 is global (small random logits: nearly uniform attention).
     */
    private static AttentionInputs localAndGlobal(long seed, int n) {
        int d = 32, heads = 2;
        SplittableRandom random = new SplittableRandom(seed);
        Tensor q = Tensor.zeros(1, n, heads, d), k = Tensor.zeros(1, n, heads, d), v = Tensor.zeros(1, n, heads, d);
        double[] omegas = new double[d / 2];
        for (int m = 0; m < omegas.length; m++) {
            omegas[m] = 0.3 + 2.7 * random.nextDouble(); // incommensurate, so no distance aliases back to 0
        }
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < d; c += 2) {
                // head 0: cos/sin codes; q·k = a² Σ_m cos(ω_m (i − j)), sharply peaked at i = j
                double omega = omegas[c / 2];
                float a = 3f;
                q.set(a * (float) Math.cos(omega * i), 0, i, 0, c);
                q.set(a * (float) Math.sin(omega * i), 0, i, 0, c + 1);
                k.set(a * (float) Math.cos(omega * i), 0, i, 0, c);
                k.set(a * (float) Math.sin(omega * i), 0, i, 0, c + 1);
            }
            for (int c = 0; c < d; c++) {
                q.set(0.2f * (float) random.nextGaussian(), 0, i, 1, c);
                k.set(0.2f * (float) random.nextGaussian(), 0, i, 1, c);
                v.set((float) random.nextGaussian(), 0, i, 0, c);
                v.set((float) random.nextGaussian(), 0, i, 1, c);
            }
        }
        return new AttentionInputs("local+global", seed, InputShape.self(1, n, heads, heads, d), q, k, v, List.of());
    }

    @Test
    void givesTheGlobalHeadTheWiderSpan() {
        int n = 256;
        for (boolean causal : new boolean[] {true, false}) {
            MoaProfiler profiler = new MoaProfiler(new MoaProfiler.Config(GRID, 0.3, 0, causal, 64, List.of()), ENGINE);
            MoaProfiler.Profile profile = profiler.profile(List.of(localAndGlobal(Fresh.seed(), n)));
            Moa.Config layer = profile.configs().get(0);
            int local = layer.span(0).window(n), global = layer.span(1).window(n);
            // the grid's windows double, so "much wider" is at least two steps: 4×. The local head's choice between
            // 8 and 16 depends on the drawn frequencies (a seed gave 16 against the global head's 64, exactly 4×)
            assertTrue(global >= 4 * local, (causal ? "causal" : "noncausal") + ": local head got " + layer.span(0)
                    + ", global head " + layer.span(1) + " (seed base " + Fresh.base() + ")");
            assertTrue(profile.recall()[0][0] > 0.95, "the local head keeps its mass with a narrow span");
            assertTrue(profile.achievedDensity() <= 0.3 + 1e-12);
            // a uniform span at the same budget keeps less
            double uniformBest = 0;
            for (int c = 0; c < GRID.size(); c++) {
                if (profile.candidateDensity()[c] <= 0.3) {
                    uniformBest = Math.max(uniformBest, (profile.candidateRecall()[0][0][c]
                            + profile.candidateRecall()[0][1][c]) / 2);
                }
            }
            assertTrue(profile.meanRecall() > uniformBest + 0.05, "per-head spans " + profile.meanRecall()
                    + " vs the best uniform span " + uniformBest);
        }
    }

    private static List<AttentionInputs> layers(int count, int n, int heads) {
        List<AttentionInputs> layers = new ArrayList<>();
        for (int l = 0; l < count; l++) {
            // layers differ in how local they are
            StandardInputs.Structure structure = new StandardInputs.Structure(4, 0.1 + 0.05 * l, 0.3 + 0.1 * l,
                    8 << l, 2, 0.5);
            layers.add(StandardInputs.structured(Fresh.seed(), InputShape.self(1, n, heads, heads / 2, 32), structure));
        }
        return layers;
    }

    @Test
    void meetsTheBudgetAndIsDeterministic() {
        List<AttentionInputs> layers = layers(3, 200, 4);
        for (double budget : new double[] {0.3, 0.45, 0.7}) {
            MoaProfiler.Config config = new MoaProfiler.Config(MoaProfiler.Config.defaultGrid(), budget, 4, true, 48,
                    List.of());
            MoaProfiler.Profile a = new MoaProfiler(config, ENGINE).profile(layers);
            MoaProfiler.Profile b = new MoaProfiler(config, Engine.defaults().withThreads(1)).profile(layers);
            assertTrue(a.achievedDensity() <= budget + 1e-12, "density " + a.achievedDensity() + " > " + budget);
            assertTrue(a.achievedDensity() >= budget - 0.05 || a.meanRecall() > 0.999,
                    "the budget is used: " + a.achievedDensity() + " of " + budget);
            assertEquals(a.configs(), b.configs(), "same spans on 3 threads and 1");
            for (int l = 0; l < 3; l++) {
                assertArrayEquals(a.recall()[l], b.recall()[l]);
                assertEquals(4, a.configs().get(l).spans().size());
            }
            double mean = 0;
            for (double[] layer : a.density()) {
                for (double x : layer) {
                    mean += x / 12;
                }
            }
            assertEquals(a.achievedDensity(), mean, 1e-12);
        }
        // more budget, more recall
        MoaProfiler.Profile tight = new MoaProfiler(MoaProfiler.Config.of(0.3, true), ENGINE).profile(layers);
        MoaProfiler.Profile loose = new MoaProfiler(MoaProfiler.Config.of(0.6, true), ENGINE).profile(layers);
        assertTrue(loose.meanRecall() > tight.meanRecall());
    }

    /** The profiler's density and recall of a span are those of the Moa mechanism's actual kept keys. */
    @Test
    void measuresWhatTheMechanismKeeps() {
        int n = 150;
        List<AttentionInputs> layers = layers(1, n, 2);
        AttentionInputs in = layers.get(0);
        for (boolean causal : new boolean[] {true, false}) {
            AttentionSpec spec = causal ? AttentionSpec.causal() : AttentionSpec.noncausal();
            MoaProfiler.Config config = new MoaProfiler.Config(GRID, 0.3, 3, causal, n, List.of());
            MoaProfiler.Profile profile = new MoaProfiler(config, ENGINE).profile(layers);
            for (int c = 0; c < GRID.size(); c++) {
                Moa moa = new Moa(Moa.Config.perHead(List.of(GRID.get(c)), 3), ENGINE);
                KeptKeys kept = moa.keptKeys(in.q(), in.k(), in.v(), spec);
                double density = 0;
                for (int i = 0; i < n; i++) {
                    int count = 0;
                    for (int j = 0; j < n; j++) {
                        count += kept.kept(0, 0, i, j) ? 1 : 0;
                    }
                    density += (double) count / (causal ? i + 1 : n) / n;
                }
                assertEquals(density, profile.candidateDensity()[c], 1e-12, "density of " + GRID.get(c));
                for (int h = 0; h < 2; h++) {
                    assertEquals(MoaTest.recall(in, spec, kept, n, h), profile.candidateRecall()[0][h][c], 1e-9,
                            "recall of " + GRID.get(c) + ", head " + h);
                }
            }
        }
    }

    @Test
    void elasticSpansNeedSeveralLengths() {
        // at one length, α = 64 and β = 0.25 are the same window for n = 256; profiling at 128 and 256 tells them
        // apart, and the global head, whose need grows with n, prefers the elastic one
        List<Moa.Span> grid = List.of(new Moa.Span(64, 0), new Moa.Span(0, 0.25), new Moa.Span(8, 0));
        AttentionInputs in = localAndGlobal(Fresh.seed(), 256);
        MoaProfiler.Config oneLength = new MoaProfiler.Config(grid, 0.5, 0, true, 64, List.of());
        MoaProfiler.Profile single = new MoaProfiler(oneLength, ENGINE).profile(List.of(in));
        assertEquals(single.candidateRecall()[0][1][0], single.candidateRecall()[0][1][1], 1e-12);
        assertEquals(new Moa.Span(64, 0), single.configs().get(0).span(1), "ties go to the earlier candidate");
        MoaProfiler.Profile both = new MoaProfiler(oneLength.withLengths(128, 256), ENGINE).profile(List.of(in));
        assertTrue(both.candidateDensity()[1] < both.candidateDensity()[0], "β = 0.25 is narrower at 128 tokens");
    }

    @Test
    void refusesWhatItCannotProfile() {
        List<AttentionInputs> layers = layers(1, 64, 2);
        IllegalArgumentException tight = assertThrows(IllegalArgumentException.class, () -> new MoaProfiler(
                new MoaProfiler.Config(List.of(new Moa.Span(32, 0)), 0.1, 4, true, 16, List.of()), ENGINE)
                .profile(layers));
        assertTrue(tight.getMessage().contains("allowed"), tight.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new MoaProfiler(MoaProfiler.Config.of(0.2, true)
                .withLengths(65), ENGINE).profile(layers));
        AttentionInputs cross = StandardInputs.random(1, InputShape.cross(1, 10, 20, 2, 2, 16));
        assertThrows(IllegalArgumentException.class, () -> new MoaProfiler(MoaProfiler.Config.of(0.2, true), ENGINE)
                .profile(List.of(cross)));
        for (Runnable invalid : List.<Runnable>of(
                () -> MoaProfiler.Config.of(0, true), () -> MoaProfiler.Config.of(1.5, true),
                () -> new MoaProfiler.Config(List.of(), 0.2, 4, true, 16, List.of()),
                () -> new MoaProfiler.Config(GRID, 0.2, -1, true, 16, List.of()),
                () -> new MoaProfiler.Config(GRID, 0.2, 4, true, 0, List.of()),
                () -> MoaProfiler.Config.of(0.2, true).withLengths(0))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, invalid::run);
            assertTrue(e.getMessage().contains("allowed"), e.getMessage());
        }
    }
}
