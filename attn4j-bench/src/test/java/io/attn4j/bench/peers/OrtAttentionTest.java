package io.attn4j.bench.peers;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.bench.peers.OrtAttention.Masking;
import io.attn4j.bench.peers.OrtAttention.Operator;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.models.format.OnnxAttribute;
import io.attn4j.models.format.OnnxDataType;
import io.attn4j.models.format.OnnxModel;
import io.attn4j.models.format.OnnxNode;
import io.attn4j.models.format.OnnxValueInfo;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Numerics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ONNX Runtime's attention operators against attn4j's float64 reference, and the graph they run read back with
 * attn4j's own ONNX reader.
 */
class OrtAttentionTest {
    /**
     * The largest relative L2 error, ‖ORT − reference‖ / ‖reference‖, allowed against the float64 reference.
     * Measured on this machine (AVX2) over every case below: 1.3e-7 to 6.3e-7, the largest at 200 keys with scale
     * 0.3. The error is float32 rounding of the logits carried through the softmax, so it grows with the logits'
     * spread (scale · √D) and a little with the number of keys; MultiHeadAttention and Attention agree to the
     * third digit. 2e-6 is 3x the worst measured, room for MLAS's other SIMD widths and summation orders, and still
     * far below what a real mistake gives: in the reference itself at 128 × 200, H = 12, a causal mask one key off
     * moves the output by 9e-2, a scale 0.1% off by 1.2e-3.
     */
    private static final double MAX_RELATIVE_L2 = 2e-6;

    private static final ReferenceAttention REFERENCE = new ReferenceAttention(Engine.defaults());

    /** batch, queries, keys, heads, headDim. */
    static Stream<Arguments> shapes() {
        return Stream.of(
                Arguments.of(1, 37, 37, 1, 32),   // odd self-attention, one head
                Arguments.of(2, 61, 61, 12, 64),  // odd, twelve heads, batch 2
                Arguments.of(1, 17, 45, 12, 32),  // fewer queries than keys (chunked prefill)
                Arguments.of(2, 1, 33, 1, 64),    // one query (decode)
                Arguments.of(1, 45, 17, 1, 64),   // more queries than keys
                Arguments.of(1, 128, 200, 12, 64));
    }

    @ParameterizedTest(name = "B={0} Lq={1} Lk={2} H={3} D={4}")
    @MethodSource("shapes")
    void bothOperatorsMatchTheReferenceCausalOrNotWithAnyScale(int b, int lq, int lk, int h, int d) {
        AttentionInputs in = StandardInputs.random(lq * 31L + lk, InputShape.cross(b, lq, lk, h, h, d));
        for (boolean causal : new boolean[] {false, true}) {
            for (float scale : new float[] {Float.NaN, 0.3f}) {
                AttentionSpec spec = causal ? AttentionSpec.causal() : AttentionSpec.noncausal();
                if (!Float.isNaN(scale)) {
                    spec = spec.scale(scale);
                }
                Tensor expected = REFERENCE.forward(in.q(), in.k(), in.v(), spec).output();
                List<Operator> operators = new ArrayList<>(List.of(Operator.ATTENTION));
                if (!(causal && lq > lk)) {
                    operators.add(Operator.MULTI_HEAD_ATTENTION);
                }
                for (Operator operator : operators) {
                    try (OrtAttention ort = new OrtAttention(operator, b, lq, lk, h, d, causal, scale, 2)) {
                        Tensor actual = ort.forward(in.q(), in.k(), in.v());
                        String what = ort + ", masking " + ort.masking();
                        Numerics.assertFinite(actual, what);
                        double error = Numerics.relativeError(actual, expected);
                        System.out.printf("relative L2 %.3e  %s%n", error, what);
                        assertTrue(error < MAX_RELATIVE_L2, what + ": relative L2 error " + error);
                    }
                }
            }
        }
    }

    @Test
    void theDefaultIsMultiHeadAttentionUnlessSomeQueriesSeeNoKey() {
        try (OrtAttention noncausal = new OrtAttention(1, 8, 8, 2, 16, false, Float.NaN, 1);
             OrtAttention decode = new OrtAttention(1, 1, 8, 2, 16, true, Float.NaN, 1);
             OrtAttention square = new OrtAttention(1, 8, 8, 2, 16, true, Float.NaN, 1);
             OrtAttention chunk = new OrtAttention(1, 3, 8, 2, 16, true, Float.NaN, 1);
             OrtAttention moreQueries = new OrtAttention(1, 8, 3, 2, 16, true, Float.NaN, 1)) {
            assertEquals(Operator.MULTI_HEAD_ATTENTION, noncausal.operator());
            assertEquals(Masking.NONE, noncausal.masking());
            assertEquals(Operator.MULTI_HEAD_ATTENTION, decode.operator());
            assertEquals(Masking.NONE, decode.masking());
            assertEquals(Operator.MULTI_HEAD_ATTENTION, square.operator());
            assertEquals(Masking.OPERATOR_FLAG, square.masking());
            assertEquals(Operator.MULTI_HEAD_ATTENTION, chunk.operator());
            assertEquals(Masking.ADDITIVE_MASK, chunk.masking());
            assertEquals(Operator.ATTENTION, moreQueries.operator());
            assertEquals(Masking.ADDITIVE_MASK, moreQueries.masking());
            assertEquals((float) (1 / Math.sqrt(16)), noncausal.scale());
        }
    }

    @Test
    void runAgainOnNewInputsRewritesTheOutput() {
        InputShape shape = InputShape.self(1, 24, 4, 4, 32);
        try (OrtAttention ort = new OrtAttention(1, 24, 24, 4, 32, false, Float.NaN, 2)) {
            for (long seed = 1; seed <= 3; seed++) {
                AttentionInputs in = StandardInputs.random(seed, shape);
                Tensor expected = REFERENCE.forward(in.q(), in.k(), in.v(), AttentionSpec.noncausal()).output();
                ort.prepare(in.q(), in.k(), in.v());
                ort.run();
                ort.run(); // the timed loop's pattern: the inputs stay, the output is rewritten
                assertTrue(Numerics.relativeError(ort.output(), expected) < MAX_RELATIVE_L2, "seed " + seed);
            }
        }
    }

    @Test
    void theMultiHeadAttentionGraphReadsBackWithTheRepositorysOnnxReader() {
        try (OrtAttention ort = new OrtAttention(Operator.MULTI_HEAD_ATTENTION, 2, 5, 7, 3, 8, true, 0.25f, 1);
             Arena arena = Arena.ofConfined()) {
            byte[] bytes = ort.model();
            MemorySegment segment = arena.allocate(bytes.length);
            segment.copyFrom(MemorySegment.ofArray(bytes));
            try (OnnxModel model = OnnxModel.read(segment, null, "mha.onnx")) {
                assertEquals(10, model.irVersion());
                assertEquals(Map.of("", 21L, "com.microsoft", 1L), model.opsetImports());
                assertEquals(List.of(
                        new OnnxValueInfo("query", OnnxDataType.FLOAT, List.of("2", "5", "24")),
                        new OnnxValueInfo("key", OnnxDataType.FLOAT, List.of("2", "7", "24")),
                        new OnnxValueInfo("value", OnnxDataType.FLOAT, List.of("2", "7", "24")),
                        new OnnxValueInfo("mask", OnnxDataType.FLOAT, List.of("1", "1", "5", "7"))), model.inputs());
                assertEquals(List.of(new OnnxValueInfo("output", OnnxDataType.FLOAT, List.of("2", "5", "24"))),
                        model.outputs());
                assertEquals(1, model.nodes().size());
                OnnxNode node = model.nodes().getFirst();
                assertEquals("MultiHeadAttention", node.opType());
                assertEquals("com.microsoft", node.domain());
                assertEquals(List.of("query", "key", "value", "", "", "mask"), node.inputs());
                assertEquals(List.of("output"), node.outputs());
                assertEquals(List.of("num_heads", "scale"), List.copyOf(node.attributes().keySet()));
                assertEquals(3L, node.attribute("num_heads").orElseThrow().longValue());
                assertEquals(0.25f, node.attribute("scale").orElseThrow().floatValue());
                assertTrue(model.initializers().isEmpty());
            }
        }
    }

    @Test
    void theAttentionGraphReadsBackWithTheRepositorysOnnxReader() {
        try (OrtAttention ort = new OrtAttention(Operator.ATTENTION, 1, 6, 6, 2, 4, true, Float.NaN, 1);
             OnnxModel model = OnnxModel.read(MemorySegment.ofArray(ort.model()), null, "attention.onnx")) {
            assertEquals(11, model.irVersion());
            assertEquals(Map.of("", 23L), model.opsetImports());
            OnnxNode node = model.nodes().getFirst();
            assertEquals("Attention", node.opType());
            assertEquals("", node.domain());
            assertEquals(List.of("query", "key", "value"), node.inputs());
            assertEquals(2L, node.attribute("q_num_heads").orElseThrow().longValue());
            assertEquals(2L, node.attribute("kv_num_heads").orElseThrow().longValue());
            assertEquals(0.5f, node.attribute("scale").orElseThrow().floatValue());
            assertEquals(1L, node.attribute("is_causal").orElseThrow().longValue());
            assertEquals(OnnxAttribute.Type.INT, node.attribute("is_causal").orElseThrow().type());
        }
    }

    @Test
    void theWriterEncodesLargeAndNegativeValuesAndRefusesWhatItCannotWrite() {
        Map<String, Number> attributes = new LinkedHashMap<>();
        attributes.put("big", 1L << 40);
        attributes.put("negative", -3);
        attributes.put("half", 0.5);
        byte[] bytes = new OnnxGraphWriter("g", 10).opset("", 21)
                .input("x", 300, 1L << 33, 0).output("y", 1)
                .node("n", "Identity", "", List.of("x"), List.of("y"), attributes)
                .toByteArray();
        try (OnnxModel model = OnnxModel.read(MemorySegment.ofArray(bytes), null, "g.onnx")) {
            assertEquals("g", model.graphName());
            assertEquals(List.of("300", String.valueOf(1L << 33), "0"), model.inputs().getFirst().shape());
            OnnxNode node = model.nodes().getFirst();
            assertEquals("n", node.name());
            assertEquals(1L << 40, node.attribute("big").orElseThrow().longValue());
            assertEquals(-3L, node.attribute("negative").orElseThrow().longValue());
            assertEquals(0.5f, node.attribute("half").orElseThrow().floatValue());
        }
        OnnxGraphWriter writer = new OnnxGraphWriter("g", 10).opset("", 21);
        assertThrows(IllegalArgumentException.class, () -> writer.input("x", 2, -1));
        assertThrows(IllegalArgumentException.class, () -> writer.opset("", 22));
        assertThrows(IllegalArgumentException.class, () -> writer.node("n", "Op", "", List.of(), List.of(),
                Map.of("bad", (short) 1)));
        assertThrows(IllegalArgumentException.class, () -> new OnnxGraphWriter("g", 0));
    }

    @Test
    void inputsOfTheWrongShapeOrStorageAreRefusedByName() {
        try (OrtAttention ort = new OrtAttention(1, 4, 6, 2, 8, false, Float.NaN, 1)) {
            Tensor q = Tensor.zeros(1, 4, 2, 8), kv = Tensor.zeros(1, 6, 2, 8);
            IllegalArgumentException wrongShape = assertThrows(IllegalArgumentException.class,
                    () -> ort.forward(q, Tensor.zeros(1, 5, 2, 8), kv));
            assertEquals("k has shape [1, 5, 2, 8]; expected a contiguous heap tensor of shape [1, 6, 2, 8] "
                    + "[B, L, H, D] (BSHD)", wrongShape.getMessage());
            IllegalArgumentException transposed = assertThrows(IllegalArgumentException.class,
                    () -> ort.forward(Tensor.zeros(1, 2, 4, 8).permute(0, 2, 1, 3), kv, kv));
            assertEquals("q has shape [1, 4, 2, 8], not contiguous; expected a contiguous heap tensor of shape "
                    + "[1, 4, 2, 8] [B, L, H, D] (BSHD)", transposed.getMessage());
            try (Arena arena = Arena.ofConfined()) {
                Tensor offHeap = Tensor.wrap(arena.allocate(6 * 2 * 8 * Float.BYTES), 1, 6, 2, 8);
                IllegalArgumentException segment = assertThrows(IllegalArgumentException.class,
                        () -> ort.forward(q, kv, offHeap));
                assertTrue(segment.getMessage().startsWith("v has shape [1, 6, 2, 8], in a MemorySegment;"),
                        segment.getMessage());
            }
            assertThrows(IllegalArgumentException.class, () -> ort.forward(q, null, kv));
        }
    }

    @Test
    void callsOutOfOrderAndImpossibleConfigurationsAreRefused() {
        try (OrtAttention ort = new OrtAttention(1, 4, 4, 1, 8, false, Float.NaN, 1)) {
            assertThrows(IllegalStateException.class, ort::run);
            assertThrows(IllegalStateException.class, ort::output);
        }
        IllegalArgumentException noKey = assertThrows(IllegalArgumentException.class,
                () -> new OrtAttention(Operator.MULTI_HEAD_ATTENTION, 1, 5, 3, 1, 8, true, Float.NaN, 1));
        assertTrue(noKey.getMessage().contains("use Operator.ATTENTION"), noKey.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new OrtAttention(1, 4, 4, 1, 8, false, 0f, 1));
        assertThrows(IllegalArgumentException.class,
                () -> new OrtAttention(1, 4, 4, 1, 8, false, Float.POSITIVE_INFINITY, 1));
        assertThrows(IllegalArgumentException.class, () -> new OrtAttention(1, 4, 4, 1, 8, false, Float.NaN, 0));
        assertThrows(IllegalArgumentException.class, () -> new OrtAttention(1, 0, 4, 1, 8, false, Float.NaN, 1));
        assertThrows(IllegalArgumentException.class,
                () -> new OrtAttention(1, 1 << 20, 1 << 20, 32, 128, false, Float.NaN, 1));
    }
}
