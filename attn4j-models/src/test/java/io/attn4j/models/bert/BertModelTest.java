package io.attn4j.models.bert;

import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import io.attn4j.testing.SimdPaths;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The runtime against a float64 BERT written out here from the paper's equations, on a small random model: every
 * layer's hidden states, the pooled embeddings, packing, per-head plans, and the checks on weights and inputs.
 */
class BertModelTest {
    private static final BertConfig CONFIG = new BertConfig(50, 64, 4, 2, 96, 1e-12f, 40, 2, Pooling.MEAN, true);

    private static Map<String, Tensor> randomWeights(BertConfig c, SplittableRandom r) {
        Map<String, Tensor> w = new LinkedHashMap<>();
        int h = c.hidden(), i = c.intermediate();
        w.put("bert.embeddings.word_embeddings.weight", gaussian(r, 0.5, c.vocabSize(), h));
        w.put("bert.embeddings.position_embeddings.weight", gaussian(r, 0.5, c.maxPositions(), h));
        w.put("bert.embeddings.token_type_embeddings.weight", gaussian(r, 0.5, c.typeVocabSize(), h));
        w.put("bert.embeddings.LayerNorm.weight", gaussian(r, 0.1, 1.0, h));
        w.put("bert.embeddings.LayerNorm.bias", gaussian(r, 0.1, h));
        for (int l = 0; l < c.layers(); l++) {
            String p = "bert.encoder.layer." + l + ".";
            double s = 1 / Math.sqrt(h);
            for (String m : new String[] {"attention.self.query", "attention.self.key", "attention.self.value",
                    "attention.output.dense"}) {
                w.put(p + m + ".weight", gaussian(r, s, h, h));
                w.put(p + m + ".bias", gaussian(r, 0.1, h));
            }
            w.put(p + "attention.output.LayerNorm.weight", gaussian(r, 0.1, 1.0, h));
            w.put(p + "attention.output.LayerNorm.bias", gaussian(r, 0.1, h));
            w.put(p + "intermediate.dense.weight", gaussian(r, s, i, h));
            w.put(p + "intermediate.dense.bias", gaussian(r, 0.1, i));
            w.put(p + "output.dense.weight", gaussian(r, 1 / Math.sqrt(i), h, i));
            w.put(p + "output.dense.bias", gaussian(r, 0.1, h));
            w.put(p + "output.LayerNorm.weight", gaussian(r, 0.1, 1.0, h));
            w.put(p + "output.LayerNorm.bias", gaussian(r, 0.1, h));
        }
        w.put("bert.pooler.dense.weight", gaussian(r, 0.1, h, h)); // ignored by name
        return w;
    }

    private static Tensor gaussian(SplittableRandom r, double scale, int... shape) {
        return gaussian(r, scale, 0.0, shape);
    }

    private static Tensor gaussian(SplittableRandom r, double scale, double mean, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] a = t.array();
        for (int j = 0; j < a.length; j++) {
            a[j] = (float) (mean + scale * r.nextGaussian());
        }
        return t;
    }

    // ------------------------------------------------------------------------------------------ float64 reference

    private static double[][] linear(double[][] x, Tensor w, Tensor b) {
        int out = w.size(0), in = w.size(1);
        double[][] y = new double[x.length][out];
        for (int t = 0; t < x.length; t++) {
            for (int o = 0; o < out; o++) {
                double s = b.get(o);
                for (int j = 0; j < in; j++) {
                    s += x[t][j] * w.get(o, j);
                }
                y[t][o] = s;
            }
        }
        return y;
    }

    private static double[][] layerNorm(double[][] x, Tensor gamma, Tensor beta, double eps) {
        double[][] y = new double[x.length][];
        for (int t = 0; t < x.length; t++) {
            double mean = 0, var = 0;
            for (double v : x[t]) {
                mean += v;
            }
            mean /= x[t].length;
            for (double v : x[t]) {
                var += (v - mean) * (v - mean);
            }
            var /= x[t].length;
            y[t] = new double[x[t].length];
            for (int j = 0; j < x[t].length; j++) {
                y[t][j] = (x[t][j] - mean) / Math.sqrt(var + eps) * gamma.get(j) + beta.get(j);
            }
        }
        return y;
    }

    /** Hidden states after every layer of one text, in float64. */
    private static double[][][] reference(Map<String, Tensor> w, BertConfig c, int[] ids, int[] types) {
        int n = ids.length, h = c.hidden(), heads = c.heads(), d = c.headDim();
        double[][] x = new double[n][h];
        for (int t = 0; t < n; t++) {
            for (int j = 0; j < h; j++) {
                x[t][j] = w.get("bert.embeddings.word_embeddings.weight").get(ids[t], j)
                        + w.get("bert.embeddings.position_embeddings.weight").get(t, j)
                        + w.get("bert.embeddings.token_type_embeddings.weight").get(types[t], j);
            }
        }
        x = layerNorm(x, w.get("bert.embeddings.LayerNorm.weight"), w.get("bert.embeddings.LayerNorm.bias"),
                c.layerNormEps());
        double[][][] states = new double[c.layers()][][];
        for (int l = 0; l < c.layers(); l++) {
            String p = "bert.encoder.layer." + l + ".";
            double[][] q = linear(x, w.get(p + "attention.self.query.weight"), w.get(p + "attention.self.query.bias"));
            double[][] k = linear(x, w.get(p + "attention.self.key.weight"), w.get(p + "attention.self.key.bias"));
            double[][] v = linear(x, w.get(p + "attention.self.value.weight"), w.get(p + "attention.self.value.bias"));
            double[][] ctx = new double[n][h];
            for (int hd = 0; hd < heads; hd++) {
                for (int i = 0; i < n; i++) {
                    double[] s = new double[n];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < n; j++) {
                        for (int e = 0; e < d; e++) {
                            s[j] += q[i][hd * d + e] * k[j][hd * d + e];
                        }
                        s[j] /= Math.sqrt(d);
                        max = Math.max(max, s[j]);
                    }
                    for (int j = 0; j < n; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int j = 0; j < n; j++) {
                        for (int e = 0; e < d; e++) {
                            ctx[i][hd * d + e] += s[j] / sum * v[j][hd * d + e];
                        }
                    }
                }
            }
            double[][] a = linear(ctx, w.get(p + "attention.output.dense.weight"), w.get(p + "attention.output.dense.bias"));
            for (int t = 0; t < n; t++) {
                for (int j = 0; j < h; j++) {
                    a[t][j] += x[t][j];
                }
            }
            x = layerNorm(a, w.get(p + "attention.output.LayerNorm.weight"), w.get(p + "attention.output.LayerNorm.bias"),
                    c.layerNormEps());
            double[][] mid = linear(x, w.get(p + "intermediate.dense.weight"), w.get(p + "intermediate.dense.bias"));
            for (double[] row : mid) {
                for (int j = 0; j < row.length; j++) {
                    row[j] = 0.5 * row[j] * (1 + erf(row[j] / Math.sqrt(2)));
                }
            }
            double[][] f = linear(mid, w.get(p + "output.dense.weight"), w.get(p + "output.dense.bias"));
            for (int t = 0; t < n; t++) {
                for (int j = 0; j < h; j++) {
                    f[t][j] += x[t][j];
                }
            }
            x = layerNorm(f, w.get(p + "output.LayerNorm.weight"), w.get(p + "output.LayerNorm.bias"), c.layerNormEps());
            states[l] = x;
        }
        return states;
    }

    private static double erf(double x) {
        double ax = Math.abs(x), term = ax, sum = ax;
        if (ax > 5) {
            return Math.signum(x);
        }
        for (int k = 1; k < 300; k++) {
            term *= -ax * ax / k;
            sum += term / (2 * k + 1);
        }
        return Math.signum(x) * 2 / Math.sqrt(Math.PI) * sum;
    }

    // ------------------------------------------------------------------------------------------ tests

    @Test
    void everyLayerMatchesTheFloat64ReferenceOnBothSimdPaths() {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        Map<String, Tensor> w = randomWeights(CONFIG, r);
        int[][] ids = {ids(r, 5), ids(r, 17), ids(r, 1), ids(r, 40)};
        int[][] types = new int[ids.length][];
        for (int b = 0; b < ids.length; b++) {
            types[b] = new int[ids[b].length];
            for (int t = 0; t < types[b].length; t++) {
                types[b][t] = r.nextInt(2);
            }
        }
        for (VectorOps ops : SimdPaths.all()) {
            BertModel model = new BertModel(CONFIG, BertWeights.fromHuggingFace(w, CONFIG), AttentionPlan.uniform("flash"),
                    Engine.of(ops, 3));
            float[][][] layers = new float[CONFIG.layers()][][];
            int[][] offsets = new int[1][];
            BertModel.Hidden out = model.forward(ids, types, new BertModel.Observer() {
                @Override
                public void hidden(int layer, float[] states, int[] o) {
                    if (layer >= 0) {
                        layers[layer] = new float[][] {states.clone()};
                        offsets[0] = o;
                    }
                }
            });
            for (int b = 0; b < ids.length; b++) {
                double[][][] ref = reference(w, CONFIG, ids[b], types[b]);
                for (int l = 0; l < CONFIG.layers(); l++) {
                    double max = 0;
                    for (int t = 0; t < ids[b].length; t++) {
                        for (int j = 0; j < CONFIG.hidden(); j++) {
                            max = Math.max(max, Math.abs(ref[l][t][j]
                                    - layers[l][0][(offsets[0][b] + t) * CONFIG.hidden() + j]));
                        }
                    }
                    assertTrue(max < 2e-4, ops.name() + " text " + b + " layer " + l + " differs by " + max);
                }
                // pooled, normalised embedding
                float[] e = model.pool(out)[b];
                double[] mean = new double[CONFIG.hidden()];
                double norm = 0, dot = 0, eNorm = 0;
                for (double[] row : ref[CONFIG.layers() - 1]) {
                    for (int j = 0; j < row.length; j++) {
                        mean[j] += row[j] / ids[b].length;
                    }
                }
                for (int j = 0; j < mean.length; j++) {
                    norm += mean[j] * mean[j];
                    dot += mean[j] * e[j];
                    eNorm += (double) e[j] * e[j];
                }
                assertEquals(1.0, eNorm, 1e-5, "normalised");
                assertTrue(dot / Math.sqrt(norm) > 0.999999, "cosine with the reference: " + dot / Math.sqrt(norm));
            }
        }
    }

    private static int[] ids(SplittableRandom r, int n) {
        int[] ids = new int[n];
        for (int t = 0; t < n; t++) {
            ids[t] = r.nextInt(CONFIG.vocabSize());
        }
        return ids;
    }

    @Test
    void aBatchEqualsItsTextsOneByOneAndPlansMixMechanismsPerHead() {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        BertWeights weights = BertWeights.fromHuggingFace(randomWeights(CONFIG, r), CONFIG);
        BertModel model = new BertModel(CONFIG, weights, AttentionPlan.uniform("flash"), Engine.defaults());
        int[][] ids = {ids(r, 9), ids(r, 33), ids(r, 2)};
        float[][] batch = model.embed(ids, null);
        for (int b = 0; b < ids.length; b++) {
            float[] alone = model.embed(new int[][] {ids[b]}, null)[0];
            for (int j = 0; j < alone.length; j++) {
                assertEquals(alone[j], batch[b][j], 2e-6, "text " + b);
            }
        }
        BertModel mixed = model.withAttention(AttentionPlan.parse("flash,0/0-1:reference,1/3:naive"));
        float[][] m = mixed.embed(ids, null);
        for (int b = 0; b < ids.length; b++) {
            for (int j = 0; j < m[b].length; j++) {
                assertEquals(batch[b][j], m[b][j], 2e-6, "exact mechanisms agree per head");
            }
        }
    }

    @Test
    void plansAreParsedAndCheckedAgainstTheModel() {
        var e = assertThrows(IllegalArgumentException.class, () -> AttentionPlan.parse("lean"));
        assertTrue(e.getMessage().contains("noncausal self-attention"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AttentionPlan.parse("0-x:flash"));
        assertThrows(IllegalArgumentException.class, () -> AttentionPlan.parse("3-1:flash"));
        assertThrows(IllegalArgumentException.class, () -> AttentionPlan.parse("nope"));
        e = assertThrows(IllegalArgumentException.class,
                () -> AttentionPlan.parse("0-7:naive").resolve(CONFIG.layers(), CONFIG.heads(), Engine.defaults()));
        assertTrue(e.getMessage().contains("layers 0-1"), e.getMessage());
        var groups = AttentionPlan.parse("*/1-2:naive").resolve(2, 4, Engine.defaults()).get(1);
        assertEquals(3, groups.size());
        assertEquals(1, groups.get(1).from());
        assertEquals(3, groups.get(1).to());
    }

    @Test
    void weightsAndInputsAreChecked() {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        Map<String, Tensor> w = randomWeights(CONFIG, r);
        Map<String, Tensor> missing = new LinkedHashMap<>(w);
        missing.remove("bert.encoder.layer.1.output.dense.bias");
        var e = assertThrows(IllegalArgumentException.class, () -> BertWeights.fromHuggingFace(missing, CONFIG));
        assertTrue(e.getMessage().contains("encoder.layer.1.output.dense.bias"), e.getMessage());
        Map<String, Tensor> wrong = new LinkedHashMap<>(w);
        wrong.put("bert.encoder.layer.0.intermediate.dense.weight", Tensor.zeros(95, 64));
        e = assertThrows(IllegalArgumentException.class, () -> BertWeights.fromHuggingFace(wrong, CONFIG));
        assertTrue(e.getMessage().contains("[95, 64]") && e.getMessage().contains("[96, 64]"), e.getMessage());
        Map<String, Tensor> extra = new LinkedHashMap<>(w);
        extra.put("bert.encoder.layer.2.output.dense.bias", Tensor.zeros(64));
        e = assertThrows(IllegalArgumentException.class, () -> BertWeights.fromHuggingFace(extra, CONFIG));
        assertTrue(e.getMessage().contains("encoder.layer.2.output.dense.bias"), e.getMessage());
        Map<String, Tensor> nan = new LinkedHashMap<>(w);
        Tensor bad = w.get("bert.embeddings.LayerNorm.bias").copy();
        bad.set(Float.NaN, 3);
        nan.put("bert.embeddings.LayerNorm.bias", bad);
        assertThrows(IllegalArgumentException.class, () -> BertWeights.fromHuggingFace(nan, CONFIG));

        BertModel model = new BertModel(CONFIG, BertWeights.fromHuggingFace(w, CONFIG), AttentionPlan.uniform("flash"),
                Engine.defaults());
        assertThrows(IllegalArgumentException.class, () -> model.embed(new int[][] {{1, 50}}, null));
        assertThrows(IllegalArgumentException.class, () -> model.embed(new int[][] {new int[41]}, null));
        assertThrows(IllegalArgumentException.class, () -> model.embed(new int[][] {{}}, null));
        assertThrows(IllegalArgumentException.class, () -> model.embed(new int[][] {{1, 2}}, new int[][] {{0, 2}}));
        assertThrows(IllegalArgumentException.class,
                () -> new BertConfig(50, 64, 5, 2, 96, 1e-12f, 40, 2, Pooling.MEAN, true));
    }
}
