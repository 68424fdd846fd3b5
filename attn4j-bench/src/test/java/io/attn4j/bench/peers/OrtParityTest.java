package io.attn4j.bench.peers;

import io.attn4j.bench.ModelBench;
import io.attn4j.models.Encoder;
import io.attn4j.models.bert.BertModel;
import io.attn4j.models.corpus.Corpora;
import io.attn4j.models.corpus.Text;
import io.attn4j.models.format.OnnxModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parity of attn4j's all-MiniLM-L6-v2 with ONNX Runtime running the same ONNX file (the native peer, test and
 * benchmark scope only): the embeddings of 1,000 Brown passages, and the hidden states after the embeddings and
 * after every layer on a few texts, read from ORT through graph outputs added to a copy of the model.
 */
class OrtParityTest {
    /** The cosine every embedding must reach against ORT's with exact attention (the bar). */
    private static final double MIN_COSINE = 0.99999;
    /**
     * The largest difference allowed in any hidden state. States reach magnitudes of about 10 after the layer norms,
     * so 5e-5 is about 40 float32 ulps there: room for sums over 384–1536 terms taken in another order than ORT's
     * MLAS (on AVX2 or AVX-512 alike), and far below what a wrong operation gives (≥ 1e-2). Measured on this
     * machine: at most 7.6e-6, after layer 4.
     */
    private static final double MAX_HIDDEN_DIFFERENCE = 5e-5;

    @TempDir
    static Path dir;
    private static Encoder minilm;
    private static OrtEncoder ort;

    @BeforeAll
    static void load() throws IOException {
        minilm = Encoder.load("minilm");
        ort = new OrtEncoder(minilm.source().onnx(), 2);
    }

    @AfterAll
    static void close() {
        if (ort != null) {
            ort.close();
        }
    }

    @Test
    void aThousandBrownPassagesEmbedAsOnnxRuntimeEmbedsThem() throws IOException {
        List<Text> passages = Corpora.resolve("brown").passages().texts();
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            texts.add(passages.get((int) ((long) i * passages.size() / 1000)).text()); // every genre
        }
        int[][] ids = minilm.tokenize(texts);
        float[][] ours = minilm.embedIds(ids, done -> { });
        String output = ort.outputNames().get(0);
        double min = 1, sum = 0;
        int worst = -1;
        for (int from = 0; from < ids.length; from += 32) {
            int[][] batch = Arrays.copyOfRange(ids, from, Math.min(ids.length, from + 32));
            float[][] rows = ort.run(batch, List.of(output)).get(output);
            for (int b = 0; b < batch.length; b++) {
                float[] theirs = minilm.pooling().apply(rows[b], new int[] {0, batch[b].length}, 384, true)[0];
                double cosine = ModelBench.cosine(ours[from + b], theirs);
                sum += cosine;
                if (cosine < min) {
                    min = cosine;
                    worst = from + b;
                }
            }
        }
        System.out.printf("ORT parity: 1000 Brown passages, 1 - cosine: max %.2e (passage %d), mean %.2e%n", 1 - min,
                worst, 1 - sum / 1000);
        assertTrue(min >= MIN_COSINE, "passage " + worst + " has cosine " + min + " with ORT's embedding");
    }

    @Test
    void everyLayerHoldsTheHiddenStatesOnnxRuntimeComputes() throws IOException {
        List<String> names = new ArrayList<>(List.of("/embeddings/LayerNorm/Add_1_output_0"));
        for (int l = 0; l < 5; l++) {
            names.add("/encoder/layer." + l + "/output/LayerNorm/Add_1_output_0");
        }
        Path withLayers = dir.resolve("minilm-layers.onnx");
        OnnxModel.withExtraOutputs(minilm.source().onnx(), withLayers, names);
        names.add("output_0"); // the last layer's states are the model's output
        List<String> texts = List.of("The Fulton County Grand Jury said Friday an investigation took place.",
                "Attention is the heart and the bottleneck of every transformer.", "x",
                "A longer text, with punctuation; numbers like 3.14159 and 2026; and words that split into pieces.");
        int[][] ids = minilm.tokenize(texts);
        Map<String, float[][]> theirs;
        try (OrtEncoder layers = new OrtEncoder(withLayers, 2)) {
            theirs = layers.run(ids, names);
        }
        float[][] ours = new float[names.size()][];
        int[][] offsets = new int[1][];
        minilm.model().forward(ids, null, new BertModel.Observer() {
            @Override
            public void hidden(int layer, float[] states, int[] o) {
                ours[layer + 1] = states.clone();
                offsets[0] = o;
            }
        });
        for (int layer = 0; layer < names.size(); layer++) {
            double max = 0;
            for (int b = 0; b < ids.length; b++) {
                float[] t = theirs.get(names.get(layer))[b];
                assertEquals(ids[b].length * 384, t.length);
                for (int i = 0; i < t.length; i++) {
                    max = Math.max(max, Math.abs(t[i] - ours[layer][offsets[0][b] * 384 + i]));
                }
            }
            System.out.printf("ORT parity: hidden states %s, max |difference| %.3g%n",
                    layer == 0 ? "after the embeddings" : "after layer " + (layer - 1), max);
            assertTrue(max <= MAX_HIDDEN_DIFFERENCE, "layer " + (layer - 1) + ": max difference " + max);
        }
    }

}
