package io.attn4j.models.capture;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.models.Encoder;
import io.attn4j.models.bert.BertConfig;
import io.attn4j.models.bert.BertModel;
import io.attn4j.models.corpus.Corpora;
import io.attn4j.models.corpus.Corpus;
import io.attn4j.models.corpus.Text;
import io.attn4j.models.format.OnnxEncoderGraph;
import io.attn4j.models.format.OnnxModel;
import io.attn4j.models.format.OnnxTensor;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Capturing all-MiniLM-L6-v2 (the real model, from the local Maven repository) over short texts, reading the
 * capture back, and what the reader refuses. The malformed-capture cases live in {@link MalformedCaptureTest}.
 */
class CaptureTest {
    /** Tokens per text in these tests: short, so a capture takes a fraction of a second. */
    static final int TOKENS = 48;

    static final List<Text> TEXTS = List.of(
            new Text("long", "a", "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent"
                    + " primary election produced no evidence that any irregularities took place. The jury further"
                    + " said in term-end presentments that the City Executive Committee, which had over-all charge of"
                    + " the election, deserves the praise and thanks of the City of Atlanta for the manner in which"
                    + " the election was conducted."),
            new Text("short", "b", "Attention is the heart of the transformer."),
            new Text("middle", "b", "It was faced immediately with a showdown on the schools, an issue which was met"
                    + " squarely in conjunction with the governor."));

    @TempDir
    static Path dir;
    static Encoder minilm;
    static Path capture;

    @BeforeAll
    static void captureOnce() throws IOException {
        minilm = Encoder.load("minilm").withMaxTokens(TOKENS);
        capture = dir.resolve("capture");
        List<Integer> progress = new ArrayList<>();
        CaptureIndex index = Capture.write(minilm, TEXTS, "test texts", capture, false, progress::add);
        assertEquals(List.of(1, 2, 3), progress);
        assertEquals(index, CaptureIndex.read(capture));
    }

    /** Q, K and V of every layer as the model's observer sees them, copied: [layer][q|k|v] of [T, heads, headDim]. */
    static Tensor[][] observe(Encoder encoder, String text) {
        BertConfig c = encoder.model().config();
        Tensor[][] seen = new Tensor[c.layers()][];
        int[] ids = encoder.tokenize(List.of(text))[0];
        encoder.model().forward(new int[][] {ids}, null, new BertModel.Observer() {
            @Override
            public void attentionInputs(int layer, Tensor q, Tensor k, Tensor v, int[] offsets) {
                seen[layer] = new Tensor[] {q.select(0, 0).copy(), k.select(0, 0).copy(), v.select(0, 0).copy()};
            }
        });
        return seen;
    }

    @Test
    void theIndexDescribesTheModelAndTheTexts() {
        try (CapturedInputs c = open()) {
            CaptureIndex index = c.index();
            assertEquals("minilm", index.model());
            assertEquals("model.onnx", index.modelFile());
            assertTrue(index.modelSha1().matches("[0-9a-f]{40}"), index.modelSha1());
            assertEquals("flash", index.attention());
            assertEquals("test texts", index.corpus());
            assertEquals(TOKENS, index.maxTokens());
            assertEquals(6, index.layers());
            assertEquals(12, index.heads());
            assertEquals(32, index.headDim());
            assertEquals(1 / Math.sqrt(32), index.scale(), 0);
            List<Integer> tokens = index.texts().stream().map(CaptureIndex.Entry::tokens).toList();
            for (int t = 0; t < TEXTS.size(); t++) {
                CaptureIndex.Entry e = index.texts().get(t);
                assertEquals(TEXTS.get(t).id(), e.id());
                assertEquals(TEXTS.get(t).genre(), e.genre());
                assertEquals(TEXTS.get(t).text(), e.text());
                assertEquals(minilm.tokenize(List.of(e.text()))[0].length, e.tokens());
                assertTrue(Files.isRegularFile(capture.resolve(e.file())));
            }
            assertEquals(TOKENS, tokens.get(0), "the long text is truncated to the limit");
            assertTrue(tokens.get(1) < tokens.get(2) && tokens.get(2) < TOKENS, tokens.toString());
            assertEquals(TOKENS, index.longestText());
        }
    }

    @Test
    void theReaderGivesBackBitForBitWhatTheModelSaw() {
        try (CapturedInputs c = open()) {
            for (int t = 0; t < TEXTS.size(); t++) {
                Tensor[][] seen = observe(minilm, TEXTS.get(t).text());
                for (int l = 0; l < 6; l++) {
                    CapturedInputs.Layer layer = c.layer(t, l);
                    Tensor[] read = {layer.q(), layer.k(), layer.v()};
                    for (int x = 0; x < 3; x++) {
                        assertArrayEquals(seen[l][x].shape(), read[x].shape());
                        assertArrayEquals(seen[l][x].toArray(), read[x].toArray(), "text " + t + " layer " + l + " "
                                + "qkv".charAt(x));
                    }
                }
            }
            assertThrows(IllegalArgumentException.class, () -> c.layer(3, 0));
            assertThrows(IllegalArgumentException.class, () -> c.layer(0, 6));
        }
    }

    @Test
    void batchElementBIsLayerBModLOfTextBOverL() {
        try (CapturedInputs c = open()) {
            int n = c.index().texts().get(1).tokens(); // the shortest text: every text takes part
            AttentionInputs in = c.inputs(n, 20);
            assertEquals("captured", in.kind());
            assertArrayEquals(new int[] {20, n, 12, 32}, in.q().shape());
            for (int b = 0; b < 20; b++) {
                int text = b / 6 % 3, layer = b % 6;
                CapturedInputs.Layer l = c.layer(text, layer);
                assertArrayEquals(l.q().slice(0, 0, n).toArray(), in.q().select(0, b).toArray(), "b = " + b);
                assertArrayEquals(l.k().slice(0, 0, n).toArray(), in.k().select(0, b).toArray(), "b = " + b);
                assertArrayEquals(l.v().slice(0, 0, n).toArray(), in.v().select(0, b).toArray(), "b = " + b);
            }
            // only texts with at least Lk tokens take part; queries are the last Lq of the Lk tokens
            int shortest = c.index().texts().get(1).tokens();
            InputShape decode = InputShape.cross(8, 1, shortest + 1, 12, 12, 32);
            AttentionInputs d = c.inputs(decode);
            for (int b = 0; b < 8; b++) {
                int text = new int[] {0, 2}[b / 6 % 2], layer = b % 6;
                CapturedInputs.Layer l = c.layer(text, layer);
                assertArrayEquals(l.q().slice(0, shortest, shortest + 1).toArray(), d.q().select(0, b).toArray());
                assertArrayEquals(l.k().slice(0, 0, shortest + 1).toArray(), d.k().select(0, b).toArray());
            }
        }
    }

    @Test
    void shapesTheCaptureCannotProvideAreRefusedClearly() {
        try (CapturedInputs c = open()) {
            IllegalArgumentException heads = assertThrows(IllegalArgumentException.class,
                    () -> c.inputs(InputShape.self(1, 16, 8, 8, 64)));
            assertTrue(heads.getMessage().contains("has 12 heads of 32"), heads.getMessage());
            IllegalArgumentException gqa = assertThrows(IllegalArgumentException.class,
                    () -> c.inputs(InputShape.self(1, 16, 12, 4, 32)));
            assertTrue(gqa.getMessage().contains("4 KV heads"), gqa.getMessage());
            IllegalArgumentException longer = assertThrows(IllegalArgumentException.class, () -> c.inputs(TOKENS + 1, 1));
            assertTrue(longer.getMessage().contains("exceeds the longest captured text (" + TOKENS + " tokens)"),
                    longer.getMessage());
            IllegalArgumentException cross = assertThrows(IllegalArgumentException.class,
                    () -> c.inputs(InputShape.cross(1, 20, 10, 12, 12, 32)));
            assertTrue(cross.getMessage().contains("cannot exceed key length 10"), cross.getMessage());
        }
    }

    /**
     * The captured Q, K, V are the model's attention inputs with the model's conventions (Q unscaled, scale
     * 1/√32, head h in columns [32h, 32h + 32)): exact attention over them, followed by the rest of the layer computed
     * here in float64 from the model's ONNX weights, gives the hidden states the model itself produces. With another
     * scale the same computation misses by far.
     */
    @Test
    void attentionOverACapturedLayerReproducesTheModel() throws IOException {
        Map<String, float[]> w = weights(minilm);
        BertConfig c = minilm.model().config();
        int[] ids = minilm.tokenize(List.of(TEXTS.get(0).text()))[0];
        Map<Integer, float[]> hidden = new HashMap<>();
        minilm.model().forward(new int[][] {ids}, null, new BertModel.Observer() {
            @Override
            public void hidden(int layer, float[] states, int[] offsets) {
                hidden.put(layer, states.clone());
            }
        });
        try (CapturedInputs capt = open()) {
            for (int l : new int[] {0, 3, 5}) {
                CapturedInputs.Layer layer = capt.layer(0, l);
                int n = layer.q().size(0);
                Tensor ctx = attention(layer, capt.index().scale());
                double error = relativeError(restOfLayer(w, c, l, hidden.get(l - 1), ctx.toArray(), n), hidden.get(l));
                assertTrue(error < 1e-5, "layer " + l + ": " + error);
                double wrongScale = relativeError(restOfLayer(w, c, l, hidden.get(l - 1),
                        attention(layer, 1.0).toArray(), n), hidden.get(l));
                assertTrue(wrongScale > 1e-2, "layer " + l + " with scale 1: " + wrongScale);
            }
        }
    }

    /** Exact attention (float64 reference) over one captured layer: [1, T, heads, headDim]. */
    private static Tensor attention(CapturedInputs.Layer layer, double scale) {
        int n = layer.q().size(0), heads = layer.q().size(1), d = layer.q().size(2);
        Tensor q = layer.q().toHeap().reshape(1, n, heads, d), k = layer.k().toHeap().reshape(1, n, heads, d);
        Tensor v = layer.v().toHeap().reshape(1, n, heads, d);
        Tensor out = Tensor.zeros(1, n, heads, d);
        new ReferenceAttention(Engine.defaults()).forward(q, k, v, AttentionSpec.noncausal().scale((float) scale), out);
        return out;
    }

    /** The model's weights by their Hugging Face names, linear weights as [out, in], read from its ONNX file. */
    private static Map<String, float[]> weights(Encoder encoder) throws IOException {
        Map<String, float[]> w = new HashMap<>();
        try (OnnxModel onnx = OnnxModel.open(encoder.source().onnx())) {
            OnnxEncoderGraph graph = OnnxEncoderGraph.infer(onnx);
            Map<String, String> linear = new HashMap<>();
            graph.linearWeights().forEach((module, lw) -> linear.put(lw.initializer(), module));
            for (OnnxTensor t : onnx.initializers().values()) {
                if (!t.dataType().isFloat()) {
                    continue;
                }
                String module = linear.get(t.name());
                if (module == null) {
                    w.put(t.name(), t.toFloat().toArray());
                } else {
                    Tensor x = t.toFloat();
                    w.put(module + ".weight", (graph.linearWeights().get(module).inputMajor() ? x.permute(1, 0) : x)
                            .toArray());
                }
            }
        }
        return w;
    }

    /**
     * x' = LN(x + ctx·W_oᵀ + b_o); out = LN(x' + GELU(x'·W_1ᵀ + b_1)·W_2ᵀ + b_2), in float64: BERT's post-LN layer
     * after attention.
     */
    private static double[] restOfLayer(Map<String, float[]> w, BertConfig c, int l, float[] x, float[] ctx, int n) {
        String p = "encoder.layer." + l + ".";
        int h = c.hidden(), inter = c.intermediate();
        double[] a = linear(toDouble(ctx), n, h, w.get(p + "attention.output.dense.weight"),
                w.get(p + "attention.output.dense.bias"), h);
        for (int j = 0; j < a.length; j++) {
            a[j] += x[j];
        }
        double[] x1 = layerNorm(a, n, h, w.get(p + "attention.output.LayerNorm.weight"),
                w.get(p + "attention.output.LayerNorm.bias"), c.layerNormEps());
        double[] mid = linear(x1, n, h, w.get(p + "intermediate.dense.weight"), w.get(p + "intermediate.dense.bias"),
                inter);
        for (int j = 0; j < mid.length; j++) {
            mid[j] = 0.5 * mid[j] * (1 + erf(mid[j] / Math.sqrt(2)));
        }
        double[] f = linear(mid, n, inter, w.get(p + "output.dense.weight"), w.get(p + "output.dense.bias"), h);
        for (int j = 0; j < f.length; j++) {
            f[j] += x1[j];
        }
        return layerNorm(f, n, h, w.get(p + "output.LayerNorm.weight"), w.get(p + "output.LayerNorm.bias"),
                c.layerNormEps());
    }

    private static double[] toDouble(float[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i];
        }
        return y;
    }

    /** y[t] = x[t]·Wᵀ + b, W [out, in] row-major. */
    private static double[] linear(double[] x, int rows, int in, float[] weight, float[] bias, int out) {
        assertEquals((long) in * out, weight.length);
        double[] y = new double[rows * out];
        for (int t = 0; t < rows; t++) {
            for (int o = 0; o < out; o++) {
                double s = bias[o];
                for (int j = 0; j < in; j++) {
                    s += x[t * in + j] * weight[o * in + j];
                }
                y[t * out + o] = s;
            }
        }
        return y;
    }

    private static double[] layerNorm(double[] x, int rows, int width, float[] gamma, float[] beta, double eps) {
        double[] y = new double[x.length];
        for (int t = 0; t < rows; t++) {
            double mean = 0, var = 0;
            for (int j = 0; j < width; j++) {
                mean += x[t * width + j];
            }
            mean /= width;
            for (int j = 0; j < width; j++) {
                var += (x[t * width + j] - mean) * (x[t * width + j] - mean);
            }
            var /= width;
            for (int j = 0; j < width; j++) {
                y[t * width + j] = (x[t * width + j] - mean) / Math.sqrt(var + eps) * gamma[j] + beta[j];
            }
        }
        return y;
    }

    /** erf: its Maclaurin series below 3, else 1 − erfc from erfc's continued fraction (evaluated backwards). */
    private static double erf(double x) {
        double ax = Math.abs(x);
        if (ax < 3) {
            double term = ax, sum = ax; // Σ (−1)^k x^(2k+1) / (k! (2k + 1))
            for (int k = 1; k < 100; k++) {
                term *= -ax * ax / k;
                sum += term / (2 * k + 1);
            }
            return Math.signum(x) * 2 / Math.sqrt(Math.PI) * sum;
        }
        double f = ax; // erfc(x) = e^(−x²)/√π / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
        for (int k = 60; k >= 1; k--) {
            f = ax + k / 2.0 / f;
        }
        return Math.signum(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f);
    }

    private static double relativeError(double[] computed, float[] expected) {
        assertEquals(expected.length, computed.length);
        double num = 0, den = 0;
        for (int i = 0; i < computed.length; i++) {
            num += (computed[i] - expected[i]) * (computed[i] - expected[i]);
            den += (double) expected[i] * expected[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void textsAreSpreadOverGenresAndFillTheLimit() {
        List<Text> docs = new ArrayList<>();
        String longText = String.join(" ", java.util.Collections.nCopies(40, "Words of a long document."));
        for (int i = 0; i < 5; i++) {
            docs.add(new Text("a" + i, "a", "Document a" + i + ". " + longText));
        }
        docs.add(new Text("b0", "b", "A short one."));
        docs.add(new Text("b1", "b", "Document b1. " + longText));
        docs.add(new Text("c0", "c", "Document c0. " + longText));
        List<Text> chosen = Capture.selectTexts(new Corpus("test", docs), minilm, 5);
        // round robin over genres a, b, c: a gets 2 (documents 0 and ⌊5/2⌋ = 2), b 2, c 1; in corpus order
        assertEquals(List.of("a0", "a2", "b0", "b1", "c0"), chosen.stream().map(Text::id).toList());
        for (Text t : chosen) {
            Text doc = docs.stream().filter(d -> d.id().equals(t.id())).findFirst().orElseThrow();
            assertTrue(doc.text().startsWith(t.text()), t.id());
            int tokens = minilm.tokenizer().encode(t.text(), 512).length();
            if (t.id().equals("b0")) {
                assertEquals(doc.text(), t.text(), "a short document is taken whole");
                continue;
            }
            // the shortest whole-word start that fills the limit: one word less does not
            assertTrue(tokens >= TOKENS, t.id() + ": " + tokens);
            String shorter = t.text().substring(0, t.text().lastIndexOf(' '));
            assertTrue(minilm.tokenizer().encode(shorter, 512).length() < TOKENS, t.id());
        }
        assertThrows(IllegalArgumentException.class, () -> Capture.selectTexts(new Corpus("test", docs), minilm, 9));
        assertThrows(IllegalArgumentException.class, () -> Capture.selectTexts(new Corpus("test", docs), minilm, 0));
    }

    @Test
    void theDefaultSelectionOfBrownCoversEveryGenreWithFullTexts() throws IOException {
        Encoder full = minilm.withMaxTokens(Capture.DEFAULT_TOKENS);
        List<Text> chosen = Capture.selectTexts(Corpora.resolve("brown"), full, Capture.DEFAULT_TEXTS);
        assertEquals(16, chosen.size());
        assertEquals(15, chosen.stream().map(Text::genre).distinct().count());
        assertEquals("ca01", chosen.get(0).id());
        for (Text t : chosen) {
            assertEquals(512, full.tokenize(List.of(t.text()))[0].length, t.id());
        }
    }

    @Test
    void anOutputThatIsNotEmptyIsReplacedOnlyWhenItIsACaptureAndAskedTo() throws IOException {
        List<Text> one = List.of(TEXTS.get(1));
        Path out = dir.resolve("replace");
        Files.createDirectories(out);
        Capture.write(minilm, one, out, d -> { }); // an empty directory is fine
        IllegalArgumentException exists = assertThrows(IllegalArgumentException.class,
                () -> Capture.write(minilm, one, out, d -> { }));
        assertTrue(exists.getMessage().contains("exists and is not empty"), exists.getMessage());
        Capture.write(minilm, TEXTS, out, true, d -> { });
        assertEquals(3, CaptureIndex.read(out).texts().size());

        Path other = dir.resolve("not-a-capture");
        Files.createDirectories(other);
        Files.writeString(other.resolve("notes.txt"), "mine");
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> Capture.write(minilm, one, other, true, d -> { }));
        assertTrue(refused.getMessage().contains("is not a capture"), refused.getMessage());
        assertEquals("mine", Files.readString(other.resolve("notes.txt")));
        Path file = dir.resolve("a-file");
        Files.writeString(file, "x");
        assertThrows(IllegalArgumentException.class, () -> Capture.write(minilm, one, file, true, d -> { }));
        assertThrows(IllegalArgumentException.class, () -> Capture.write(minilm, List.of(), dir.resolve("none"),
                d -> { }));
        assertThrows(IllegalArgumentException.class, () -> Capture.write(minilm, List.of(TEXTS.get(0), TEXTS.get(0)),
                dir.resolve("twice"), d -> { }));
        assertNoTemporaryLeft();
    }

    @Test
    void aFailedCaptureLeavesNothingBehind() {
        Path out = dir.resolve("failed");
        RuntimeException boom = assertThrows(RuntimeException.class, () -> Capture.write(minilm, TEXTS, out, done -> {
            if (done == 2) {
                throw new IllegalStateException("interrupted after 2 texts");
            }
        }));
        assertEquals("interrupted after 2 texts", boom.getMessage());
        assertFalse(Files.exists(out));
        assertNoTemporaryLeft();
    }

    private static void assertNoTemporaryLeft() {
        try (Stream<Path> all = Files.list(dir)) {
            List<String> hidden = all.map(p -> p.getFileName().toString()).filter(s -> s.startsWith(".")).toList();
            assertEquals(List.of(), hidden);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static CapturedInputs open() {
        try {
            return CapturedInputs.open(capture);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
