package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.UnsupportedInputException;
import io.attn4j.attention.exact.NaiveAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static io.attn4j.testing.Numerics.assertExact;
import static io.attn4j.testing.Numerics.relativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the Routing Transformer's Javadoc promises beyond the shared contracts. */
class RoutingTest {

    private static Engine engine() {
        return Engine.defaults().withThreads(3);
    }

    private static Routing routing(Routing.Config config) {
        return new Routing(config, engine());
    }

    /**
     * Q and K rows {@code alpha·μ_z + N(0, 1)} around {@code clusters} random unit directions, the cluster z of each
     * position drawn at random ({@code skew} of them forced into cluster 0): attention concentrates on the keys of
     * the query's cluster, wherever they are, which no window can find.
     */
    static AttentionInputs planted(long seed, int length, int heads, int kvHeads, int d, int clusters, double alpha,
                                   double skew) {
        SplittableRandom random = new SplittableRandom(seed);
        float[][] centre = new float[clusters][d];
        for (float[] mu : centre) {
            double norm = 0;
            for (int t = 0; t < d; t++) {
                mu[t] = (float) random.nextGaussian();
                norm += mu[t] * mu[t];
            }
            for (int t = 0; t < d; t++) {
                mu[t] /= (float) Math.sqrt(norm);
            }
        }
        Tensor q = Tensor.zeros(1, length, heads, d), k = Tensor.zeros(1, length, kvHeads, d);
        Tensor v = Tensor.zeros(1, length, kvHeads, d);
        for (int i = 0; i < length; i++) {
            int z = random.nextDouble() < skew ? 0 : random.nextInt(clusters);
            for (int t = 0; t < d; t++) {
                for (int h = 0; h < heads; h++) {
                    q.set((float) (alpha * centre[z][t] + random.nextGaussian()), 0, i, h, t);
                }
                for (int h = 0; h < kvHeads; h++) {
                    k.set((float) (alpha * centre[z][t] + random.nextGaussian()), 0, i, h, t);
                    v.set((float) random.nextGaussian(), 0, i, h, t);
                }
            }
        }
        return new AttentionInputs("planted", seed, InputShape.self(1, length, heads, kvHeads, d), q, k, v, List.of());
    }

    @Test
    void clustersAreBalancedEvenWhenKMeansIsNot() {
        // 70 % of the tokens in one planted cluster; 1000 keys and 600 queries in 8 clusters of 125 keys
        long seed = Fresh.seed();
        AttentionInputs self = planted(seed, 1000, 2, 1, 32, 8, 6, 0.7);
        AttentionInputs cross = new AttentionInputs("planted", seed, InputShape.cross(1, 600, 1000, 2, 1, 32),
                self.q().slice(1, 0, 600).copy(), self.k(), self.v(), List.of());
        for (AttentionInputs in : List.of(self, cross)) {
            int lq = in.q().size(1), lk = in.k().size(1), c = 8;
            KeptKeys kept = routing(Routing.Config.of(125, 0)).keptKeys(in.q(), in.k(), in.v(),
                    AttentionSpec.noncausal());
            for (int h = 0; h < 2; h++) {
                int[] keptBy = new int[lk];
                for (int i = 0; i < lq; i++) {
                    int keys = 0;
                    for (int j = 0; j < lk; j++) {
                        if (kept.kept(0, h, i, j)) {
                            keys++;
                            keptBy[j]++;
                        }
                    }
                    assertTrue(keys == lk / c || keys == (lk + c - 1) / c, "query " + i + " sees " + keys + " keys");
                }
                for (int j = 0; j < lk; j++) {
                    assertTrue(keptBy[j] == lq / c || keptBy[j] == (lq + c - 1) / c,
                            "key " + j + " is seen by " + keptBy[j] + " queries (seed " + seed + ")");
                }
            }
        }
    }

    @Test
    void clusteringIsDeterministicForASeedAndDiffersForAnother() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 700, 2, 1, 32));
        AttentionProblem p = AttentionProblem.of(in.q(), in.k(), in.v(), AttentionSpec.noncausal(), null);
        Routing.Config config = Routing.Config.of(100, 0);
        Routing.Clusters first = routing(config).cluster(p);
        Routing.Clusters again = new Routing(config, Engine.defaults().withThreads(1)).cluster(p);
        Routing.Clusters other = routing(config.withSeed(config.seed() + 1)).cluster(p);
        assertEquals(7, first.count());
        assertArrayEquals(first.queryOrder(), again.queryOrder());
        assertArrayEquals(first.keyOrder(), again.keyOrder());
        assertFalse(Arrays.equals(first.queryOrder(), other.queryOrder()), "another seed, another clustering");
        // each head's order is a permutation whose chunks are sorted by position
        for (int h = 0; h < 2; h++) {
            int[] order = Arrays.copyOfRange(first.queryOrder(), h * 700, (h + 1) * 700);
            for (int chunk = 0; chunk < 7; chunk++) {
                for (int s = Routing.chunkStart(chunk, 700, 7) + 1; s < Routing.chunkStart(chunk + 1, 700, 7); s++) {
                    assertTrue(order[s - 1] < order[s], "chunk " + chunk + " sorted by position");
                    assertEquals(chunk, Routing.chunkOf(s, 700, 7));
                }
            }
            Arrays.sort(order);
            for (int s = 0; s < 700; s++) {
                assertEquals(s, order[s]);
            }
        }
    }

    @Test
    void oneClusterWithoutWindowIsFlash() {
        for (int n : new int[] {1, 64, 257}) {
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(2, n, 4, 2, 48));
            for (AttentionSpec spec : List.of(AttentionSpec.noncausal(), AttentionSpec.causal(),
                    AttentionSpec.causal().layout(Layout.BHSD))) {
                Tensor q = in.q(), k = in.k(), v = in.v();
                if (spec.layout() == Layout.BHSD) {
                    q = q.permute(0, 2, 1, 3).copy();
                    k = k.permute(0, 2, 1, 3).copy();
                    v = v.permute(0, 2, 1, 3).copy();
                }
                Tensor ours = routing(Routing.Config.of(n, 0)).forward(q, k, v, spec).output();
                assertExact("one cluster n=" + n + " " + spec, ours,
                        new NaiveAttention(engine()).forward(q, k, v, spec).output(),
                        new ReferenceAttention(engine()).forward(q, k, v, spec).output());
            }
        }
    }

    @Test
    void causalQueriesSeeThemselvesAndNeverTheFuture() {
        int n = 300;
        AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, n, 2, 2, 32));
        for (int window : new int[] {1, 16}) {
            KeptKeys kept = routing(Routing.Config.of(37, window)).keptKeys(in.q(), in.k(), in.v(),
                    AttentionSpec.causal());
            for (int h = 0; h < 2; h++) {
                for (int i = 0; i < n; i++) {
                    assertTrue(kept.kept(0, h, i, i), "query " + i + " sees itself");
                    for (int j = Math.max(0, i - window + 1); j <= i; j++) {
                        assertTrue(kept.kept(0, h, i, j), "query " + i + " sees its window");
                    }
                    for (int j = i + 1; j < n; j++) {
                        assertFalse(kept.kept(0, h, i, j), "query " + i + " sees the future key " + j);
                    }
                }
            }
        }
    }

    @Test
    void findsPlantedClustersThatNoWindowFinds() {
        // 8 clusters scattered over 2048 positions, clusters of 256 keys, no window: routing alone
        int n = 2048;
        AttentionInputs in = planted(Fresh.seed(), n, 1, 1, 64, 8, 8, 0);
        for (AttentionSpec spec : List.of(AttentionSpec.noncausal(), AttentionSpec.causal())) {
            Routing r = routing(Routing.Config.of(n / 8, 0));
            SlidingWindow window = new SlidingWindow(SlidingWindow.Config.of(spec.isCausal() ? n / 8 : n / 16),
                    engine());
            double recall = SampledRecall.recall(in, r.keptKeys(in.q(), in.k(), in.v(), spec), spec.isCausal(), 7, 0);
            double windowRecall = SampledRecall.recall(in, window.keptKeys(in.q(), in.k(), in.v(), spec), spec.isCausal(),
                    7, 0);
            Tensor reference = new ReferenceAttention(engine()).forward(in.q(), in.k(), in.v(), spec).output();
            double error = relativeError(r.forward(in.q(), in.k(), in.v(), spec).output(), reference);
            // measured over 20 seeds: recall 0.93-0.98, error 0.22-0.51 (NS), 0.18-0.45 (CS); a window of as many
            // keys: recall 0.12 (NS), 0.40 (CS)
            String what = spec + " (seed base " + Fresh.base() + ")";
            assertTrue(recall > 0.85, what + ": recall " + recall);
            assertTrue(error < 0.65, what + ": relative error " + error);
            assertTrue(recall > windowRecall + 0.4, what + ": recall " + recall + " vs the window's " + windowRecall);
        }
    }

    @Test
    void fidelityOnStructuredInputsAtTheDefaults() {
        // 2048 tokens: 4 clusters of 512 keys and a 256-key window
        int n = 2048;
        AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, n, 2, 1, 64));
        Routing r = routing(Routing.Config.defaults());
        SlidingWindow window = new SlidingWindow(SlidingWindow.Config.of(256), engine());
        // measured over 8 seeds: NS error 0.61-0.64, recall 0.79-0.80; CS error 0.66-0.69, recall 0.74-0.75; the
        // 256-key window alone: NS 0.77-0.81 / 0.68-0.70, CS 0.83-0.86 / 0.61-0.63
        double[][] bounds = {{0.70, 0.76}, {0.74, 0.71}};
        List<AttentionSpec> specs = List.of(AttentionSpec.noncausal(), AttentionSpec.causal());
        for (int s = 0; s < 2; s++) {
            AttentionSpec spec = specs.get(s);
            Tensor reference = new ReferenceAttention(engine()).forward(in.q(), in.k(), in.v(), spec).output();
            double error = relativeError(r.forward(in.q(), in.k(), in.v(), spec).output(), reference);
            double recall = SampledRecall.recall(in, r.keptKeys(in.q(), in.k(), in.v(), spec), spec.isCausal(), 7, 8);
            double windowError = relativeError(window.forward(in.q(), in.k(), in.v(), spec).output(), reference);
            double windowRecall = SampledRecall.recall(in, window.keptKeys(in.q(), in.k(), in.v(), spec), spec.isCausal(),
                    7, 8);
            String what = spec + " (seed base " + Fresh.base() + ")";
            assertTrue(error < bounds[s][0], what + ": relative error " + error);
            assertTrue(recall > bounds[s][1], what + ": recall " + recall);
            assertTrue(recall > windowRecall + 0.06, what + ": recall " + recall + " vs the window's " + windowRecall);
            assertTrue(error < windowError - 0.08, what + ": error " + error + " vs the window's " + windowError);
        }
    }

    @Test
    void refusesDecodeMasksAndScoreModsClearly() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.cross(1, 4, 100, 2, 1, 16));
        Routing r = routing(Routing.Config.defaults());
        UnsupportedInputException e = assertThrows(UnsupportedInputException.class,
                () -> r.forward(in.q(), in.k(), in.v(), AttentionSpec.causal()));
        assertTrue(e.getMessage().contains("decode") && e.getMessage().contains("NS,CS,NC,CC"), e.getMessage());
        AttentionInputs self = StandardInputs.random(Fresh.seed(), InputShape.self(1, 50, 2, 1, 16));
        assertThrows(UnsupportedInputException.class, () -> r.forward(self.q(), self.k(), self.v(),
                AttentionSpec.causal().mask((b, h, q, k) -> k != 3)));
        assertThrows(UnsupportedInputException.class, () -> r.forward(self.q(), self.k(), self.v(),
                AttentionSpec.causal().scoreMod((s, b, h, q, k) -> s * 2)));
        assertThrows(UnsupportedInputException.class, () -> r.forward(self.q(), self.k(), self.v(),
                AttentionSpec.causal().returnLse()));
    }
}
