package io.attn4j.models.format;

import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static io.attn4j.models.format.Onnx.BFLOAT16;
import static io.attn4j.models.format.Onnx.BOOL;
import static io.attn4j.models.format.Onnx.COMPLEX64;
import static io.attn4j.models.format.Onnx.DOUBLE;
import static io.attn4j.models.format.Onnx.FLOAT;
import static io.attn4j.models.format.Onnx.FLOAT16;
import static io.attn4j.models.format.Onnx.INT32;
import static io.attn4j.models.format.Onnx.INT64;
import static io.attn4j.models.format.Onnx.INT8;
import static io.attn4j.models.format.Onnx.UINT32;
import static io.attn4j.models.format.Onnx.UINT64;
import static io.attn4j.models.format.Onnx.UINT8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OnnxModelTest {
    @TempDir
    Path dir;

    private OnnxModel open(byte[] model) throws IOException {
        Path file = dir.resolve("model.onnx");
        Files.write(file, model);
        return OnnxModel.open(file);
    }

    private OnnxModel openGraph(Proto graph) throws IOException {
        return open(Onnx.model(graph));
    }

    @Test
    void rawFloatInitializersAreViewsOfTheFileAlignedOrNot() throws IOException {
        float[] w = {1f, -2f, 3.5f, 1e-7f, Float.MAX_VALUE, -0f};
        Proto graph = new Proto().string(2, "g");
        for (int i = 0; i < 4; i++) { // names of 1..4 characters shift the raw data across every alignment
            graph.message(5, Onnx.floatTensor("w".repeat(i + 1), w, 2, 3));
        }
        try (OnnxModel model = openGraph(graph)) {
            assertEquals(4, model.initializers().size());
            boolean unaligned = false;
            for (OnnxTensor t : model.initializers().values()) {
                Tensor x = t.toFloat();
                assertFalse(x.isHeap(), "raw float32 must not be copied");
                assertArrayEquals(new int[] {2, 3}, x.shape());
                assertArrayEquals(w, x.toArray());
                assertArrayEquals(w, t.toFloatArray());
                unaligned |= t.rawData().address() % 4 != 0;
            }
            assertTrue(unaligned, "one of the tensors should start at an unaligned address");
            assertEquals("g", model.graphName());
            assertEquals("attn4j-test 1", model.producer());
            assertEquals(8, model.irVersion());
            assertEquals(17L, model.opsetImports().get(""));
        }
    }

    @Test
    void typedFieldsPackedAndUnpacked() throws IOException {
        Proto floats = Onnx.tensor("f", FLOAT, 5).packedFloats(4, 1f, 2f).float32(4, 3f).packedFloats(4, 4f, 5f);
        Proto doubles = Onnx.tensor("d", DOUBLE, 3).float64(10, 0.5).packedDoubles(10, 1.25, -2);
        Proto halfs = Onnx.tensor("h", FLOAT16, 3).packedVarints(5, Float.floatToFloat16(1.5f) & 0xFFFF)
                .varint(5, Float.floatToFloat16(-2f) & 0xFFFF).varint(5, Float.floatToFloat16(65504f) & 0xFFFF);
        Proto bhalfs = Onnx.tensor("b", BFLOAT16, 2).packedVarints(5, Float.floatToIntBits(1.5f) >>> 16,
                Float.floatToIntBits(-3f) >>> 16);
        Proto int64 = Onnx.tensor("i64", INT64, 4).packedVarints(7, 0, -1, 12).varint(7, Long.MIN_VALUE);
        Proto int32 = Onnx.tensor("i32", INT32, 2).varint(5, -7).packedVarints(5, Integer.MAX_VALUE);
        Proto int8 = Onnx.tensor("i8", INT8, 2).packedVarints(5, -128, 127);
        Proto uint8 = Onnx.tensor("u8", UINT8, 2).packedVarints(5, 0, 255);
        Proto bool = Onnx.tensor("bool", BOOL, 3).packedVarints(5, 1, 0, 1);
        Proto uint32 = Onnx.tensor("u32", UINT32, 1).varint(11, 0xFFFF_FFFFL);
        Proto uint64 = Onnx.tensor("u64", UINT64, 2).packedVarints(11, -1, 5);
        Proto scalar = Onnx.tensor("s", FLOAT).float32(4, 1e-12f);
        Proto empty = Onnx.tensor("e", FLOAT, 0, 4);
        Proto graph = new Proto();
        for (Proto t : List.of(floats, doubles, halfs, bhalfs, int64, int32, int8, uint8, bool, uint32, uint64, scalar, empty)) {
            graph.message(5, t);
        }
        try (OnnxModel model = openGraph(graph)) {
            assertArrayEquals(new float[] {1, 2, 3, 4, 5}, model.initializer("f").toFloat().toArray());
            assertTrue(model.initializer("f").toFloat().isHeap());
            assertNull(model.initializer("f").rawData());
            assertArrayEquals(new float[] {0.5f, 1.25f, -2f}, model.initializer("d").toFloatArray());
            assertArrayEquals(new float[] {1.5f, -2f, 65504f}, model.initializer("h").toFloatArray());
            assertArrayEquals(new float[] {1.5f, -3f}, model.initializer("b").toFloatArray());
            assertArrayEquals(new long[] {0, -1, 12, Long.MIN_VALUE}, model.initializer("i64").asLongs());
            assertArrayEquals(new long[] {-7, Integer.MAX_VALUE}, model.initializer("i32").asLongs());
            assertArrayEquals(new long[] {-128, 127}, model.initializer("i8").asLongs());
            assertArrayEquals(new long[] {0, 255}, model.initializer("u8").asLongs());
            assertArrayEquals(new long[] {1, 0, 1}, model.initializer("bool").asLongs());
            assertArrayEquals(new long[] {0xFFFF_FFFFL}, model.initializer("u32").asLongs());
            assertArrayEquals(new long[] {-1, 5}, model.initializer("u64").asLongs());
            OnnxTensor s = model.initializer("s");
            assertEquals(0, s.dims().length);
            assertEquals(1, s.elementCount());
            assertArrayEquals(new int[] {1}, s.toFloat().shape());
            assertEquals(1e-12f, s.toFloatArray()[0]);
            assertEquals(0, model.initializer("e").toFloat().elementCount());
        }
    }

    @Test
    void rawDataOfEveryReadableType() throws IOException {
        ByteBuffer half = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
                .putShort(Float.floatToFloat16(0.25f)).putShort(Float.floatToFloat16(-1f));
        ByteBuffer bf = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
                .putShort((short) (Float.floatToIntBits(2f) >>> 16)).putShort((short) (Float.floatToIntBits(-0.5f) >>> 16));
        ByteBuffer dbl = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putDouble(1e-3).putDouble(-7);
        ByteBuffer i32 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(-3).putInt(40000);
        Proto graph = new Proto()
                .message(5, Onnx.tensor("h", FLOAT16, 2).bytes(9, half.array()))
                .message(5, Onnx.tensor("b", BFLOAT16, 2).bytes(9, bf.array()))
                .message(5, Onnx.tensor("d", DOUBLE, 2).bytes(9, dbl.array()))
                .message(5, Onnx.tensor("i64", INT64, 1, 2).bytes(9, Onnx.longBytes(0, 12)))
                .message(5, Onnx.tensor("i32", INT32, 2).bytes(9, i32.array()))
                .message(5, Onnx.tensor("u8", UINT8, 2).bytes(9, new byte[] {(byte) 200, 1}))
                .message(5, Onnx.tensor("i8", INT8, 2).bytes(9, new byte[] {(byte) 200, 1}))
                .message(5, Onnx.tensor("bool", BOOL, 2).bytes(9, new byte[] {2, 0}));
        try (OnnxModel model = openGraph(graph)) {
            assertArrayEquals(new float[] {0.25f, -1f}, model.initializer("h").toFloatArray());
            assertArrayEquals(new float[] {2f, -0.5f}, model.initializer("b").toFloat().toArray());
            assertArrayEquals(new float[] {1e-3f, -7f}, model.initializer("d").toFloatArray());
            assertArrayEquals(new long[] {0, 12}, model.initializer("i64").asLongs());
            assertArrayEquals(new long[] {-3, 40000}, model.initializer("i32").asLongs());
            assertArrayEquals(new long[] {200, 1}, model.initializer("u8").asLongs());
            assertArrayEquals(new long[] {-56, 1}, model.initializer("i8").asLongs());
            assertArrayEquals(new long[] {1, 0}, model.initializer("bool").asLongs());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.initializer("i64").toFloat());
            assertTrue(e.getMessage().contains("tensor 'i64'") && e.getMessage().contains("use asLongs()"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> model.initializer("h").asLongs());
            assertTrue(e.getMessage().contains("use toFloat()"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> model.initializer("nope"));
            assertTrue(e.getMessage().contains("no initializer named 'nope'"), e.getMessage());
        }
    }

    @Test
    void unsupportedTypesAreListedButNotDecoded() throws IOException {
        Proto graph = new Proto().message(5, Onnx.tensor("c", COMPLEX64, 2).packedFloats(4, 1, 2, 3, 4))
                .message(5, Onnx.tensor("future", 99, 3).bytes(9, new byte[3]));
        try (OnnxModel model = openGraph(graph)) {
            assertEquals(OnnxDataType.COMPLEX64, model.initializer("c").dataType());
            assertEquals(OnnxDataType.UNKNOWN, model.initializer("future").dataType());
            assertEquals(99, model.initializer("future").dataTypeCode());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.initializer("future").toFloat());
            assertTrue(e.getMessage().contains("code 99"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> model.initializer("c").asLongs());
        }
    }

    @Test
    void externalDataRelativeToTheModel() throws IOException {
        float[] a = {1, 2, 3, 4};
        float[] b = {-1, 0.5f};
        byte[] weights = new byte[7 + 16 + 8];
        System.arraycopy(Onnx.floatBytes(a), 0, weights, 7, 16);
        System.arraycopy(Onnx.floatBytes(b), 0, weights, 23, 8);
        Files.createDirectories(dir.resolve("data"));
        Files.write(dir.resolve("data/weights.bin"), weights);
        Proto graph = new Proto()
                .message(5, external(Onnx.tensor("a", FLOAT, 2, 2), "data/weights.bin", "7", "16"))
                .message(5, external(Onnx.tensor("b", FLOAT, 2), "data/weights.bin", "23", null));
        try (OnnxModel model = openGraph(graph)) {
            OnnxTensor ta = model.initializer("a");
            assertTrue(ta.isExternal());
            assertFalse(ta.toFloat().isHeap());
            assertArrayEquals(a, ta.toFloat().toArray());
            assertArrayEquals(b, model.initializer("b").toFloatArray());
        }
        assertExternalError("../weights.bin", "0", null, "must be a relative path inside the model's directory");
        assertExternalError("data/../../x", "0", null, "without '..'");
        assertExternalError(dir.resolve("data/weights.bin").toString(), "0", null, "must be a relative path");
        assertExternalError("missing.bin", "0", null, "cannot read external data file 'missing.bin'");
        assertExternalError("data/weights.bin", "20", null, "is outside 'data/weights.bin' of 31 bytes");
        assertExternalError("data/weights.bin", "-4", null, "offset '-4' is not a non-negative decimal integer");
        assertExternalError("data/weights.bin", "0", "12", "needs 16 bytes but its external_data length is 12");
        assertExternalError("data/weights.bin", "x", null, "offset 'x'");
    }

    private static Proto external(Proto tensor, String location, String offset, String length) {
        tensor.message(13, new Proto().string(1, "location").string(2, location));
        tensor.message(13, new Proto().string(1, "offset").string(2, offset));
        if (length != null) {
            tensor.message(13, new Proto().string(1, "length").string(2, length));
        }
        return tensor.varint(14, 1);
    }

    private void assertExternalError(String location, String offset, String length, String expected) throws IOException {
        Proto graph = new Proto().message(5, external(Onnx.tensor("a", FLOAT, 4), location, offset, length));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> openGraph(graph).close());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().contains("tensor 'a'"), e.getMessage());
    }

    @Test
    void nodesAttributesInputsAndOutputs() throws IOException {
        Proto ints = new Proto().string(1, "perm").varint(8, 0).varint(8, 2).packedVarints(8, 1, 3).varint(20, 7);
        Proto floats = new Proto().string(1, "scales").packedFloats(7, 0.5f, 2f).varint(20, 6);
        Proto strings = new Proto().string(1, "names").string(9, "a").string(9, "b").varint(20, 8);
        Proto str = new Proto().string(1, "mode").string(4, "constant").varint(20, 3);
        Proto untyped = new Proto().string(1, "axis").varint(3, -1); // no type field: inferred from i
        Proto graphAttr = new Proto().string(1, "body").message(6, new Proto().string(2, "sub")).varint(20, 5);
        Proto unknownGroup = new Proto().key(900, 3).varint(1, 1).key(900, 4); // skipped wherever it appears
        Proto constant = Onnx.node("Constant", "c0", new String[0], new String[] {"shape"},
                Onnx.tensorAttribute("value", Onnx.tensor("", INT64, 4).bytes(9, Onnx.longBytes(0, 0, 12, 32))));
        Proto ln = Onnx.node("LayerNormalization", "ln", new String[] {"x", "g", ""}, new String[] {"y"},
                Onnx.floatAttribute("epsilon", 1e-12f), Onnx.intAttribute("axis", -1));
        Proto transpose = Onnx.node("Transpose", "t", new String[] {"y"}, new String[] {"z"}, ints, floats,
                strings, str, untyped, graphAttr);
        transpose.raw(unknownGroup.toByteArray()).string(7, "com.example");
        Proto graph = new Proto().message(1, constant).message(1, ln).message(1, transpose)
                .message(11, Onnx.valueInfo("x", FLOAT, "batch", 384))
                .message(11, new Proto().string(1, "untyped"))
                .message(12, Onnx.valueInfo("z", FLOAT, "batch", 7))
                .raw(unknownGroup.toByteArray());
        try (OnnxModel model = openGraph(graph)) {
            List<OnnxNode> nodes = model.nodes();
            assertEquals(3, nodes.size());
            assertArrayEquals(new long[] {0, 0, 12, 32}, nodes.get(0).attribute("value").orElseThrow().tensorValue().asLongs());
            OnnxNode n = nodes.get(1);
            assertEquals("LayerNormalization", n.opType());
            assertEquals(List.of("x", "g", ""), n.inputs());
            assertEquals(1e-12f, n.attribute("epsilon").orElseThrow().floatValue());
            assertEquals(-1, n.attribute("axis").orElseThrow().longValue());
            OnnxNode t = nodes.get(2);
            assertEquals("com.example", t.domain());
            assertArrayEquals(new long[] {0, 2, 1, 3}, t.attribute("perm").orElseThrow().longs());
            assertArrayEquals(new float[] {0.5f, 2f}, t.attribute("scales").orElseThrow().floats());
            assertEquals(List.of("a", "b"), t.attribute("names").orElseThrow().strings());
            assertEquals("constant", t.attribute("mode").orElseThrow().stringValue());
            assertEquals(OnnxAttribute.Type.INT, t.attribute("axis").orElseThrow().type());
            assertEquals(OnnxAttribute.Type.GRAPH, t.attribute("body").orElseThrow().type());
            assertNull(t.attribute("body").orElseThrow().value());
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> t.attribute("mode").orElseThrow().longValue());
            assertTrue(e.getMessage().contains("'mode' is of type STRING, not INT"), e.getMessage());
            assertEquals(new OnnxValueInfo("x", OnnxDataType.FLOAT, List.of("batch", "384")), model.inputs().get(0));
            assertEquals(new OnnxValueInfo("untyped", OnnxDataType.UNDEFINED, List.of()), model.inputs().get(1));
            assertEquals(List.of("z"), model.outputs().stream().map(OnnxValueInfo::name).toList());
        }
    }

    @Test
    void inconsistentTensorsAreRefused() throws IOException {
        assertTensorError(Onnx.tensor("a", FLOAT, 2, 3).bytes(9, new byte[20]), "needs 24 bytes of raw_data but has 20");
        assertTensorError(Onnx.tensor("a", FLOAT, 3).packedFloats(4, 1, 2), "needs 3 values but field 4 has 2");
        assertTensorError(Onnx.tensor("a", FLOAT, 2).packedVarints(7, 1, 2), "ONNX stores FLOAT in field 4 or raw_data");
        assertTensorError(Onnx.tensor("a", FLOAT, 1).float32(4, 1).bytes(9, new byte[4]), "as well as raw_data");
        assertTensorError(Onnx.tensor("a", FLOAT, -2), "dims must be >= 0");
        assertTensorError(Onnx.tensor("a", FLOAT, 1L << 40, 1L << 40), "overflows a 64-bit count");
        assertTensorError(Onnx.tensor("a", INT64, 1L << 61).bytes(9, new byte[8]), "overflows a 64-bit count");
        assertTensorError(Onnx.tensor("a", FLOAT, 1).varint(14, 1), "no 'location'");
        assertTensorError(Onnx.tensor("a", FLOAT, 1).bytes(9, new byte[4]).varint(14, 1), "both raw_data (at byte offset");
        assertTensorError(Onnx.tensor("a", FLOAT, 1L << 40).bytes(9, new byte[4]), "needs 4398046511104");
        // a dim past 2^31 is listed but cannot become a Tensor
        try (OnnxModel model = openGraph(new Proto().message(5, Onnx.tensor("big", FLOAT, 1L << 31, 0)))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.initializer("big").toFloat());
            assertTrue(e.getMessage().contains("a Tensor axis holds at most"), e.getMessage());
        }
        Proto dup = new Proto().message(5, Onnx.floatTensor("w", new float[1], 1)).message(5, Onnx.floatTensor("w", new float[1], 1));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> openGraph(dup).close());
        assertTrue(e.getMessage().contains("a second initializer named 'w'"), e.getMessage());
    }

    private void assertTensorError(Proto tensor, String expected) throws IOException {
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> openGraph(new Proto().message(5, tensor)).close());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().startsWith("model.onnx: ModelProto.graph.initializer[0]"), e.getMessage());
    }

    @Test
    void notAModel() throws IOException {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> open(new byte[0]).close());
        assertTrue(e.getMessage().contains("has no graph"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> open("{\"json\": true}".getBytes()).close());
        assertTrue(e.getMessage().startsWith("model.onnx: ModelProto: "), e.getMessage());
        byte[] twoGraphs = new Proto().message(7, new Proto()).message(7, new Proto()).toByteArray();
        e = assertThrows(ModelFormatException.class, () -> open(twoGraphs).close());
        assertTrue(e.getMessage().contains("a second graph"), e.getMessage());
    }

    /** Every prefix of a valid model either reads (it may end on a field boundary) or fails with a clear message. */
    @Test
    void everyTruncationIsReadOrRefused() throws IOException {
        byte[] full = Onnx.model(sampleGraph());
        for (int length = 0; length < full.length; length++) {
            byte[] prefix = Arrays.copyOf(full, length);
            try (OnnxModel model = OnnxModel.read(java.lang.foreign.MemorySegment.ofArray(prefix), dir, "cut.onnx")) {
                model.initializers().values().forEach(t -> t.toFloat().toArray());
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage().startsWith("cut.onnx: "), e.getMessage());
            }
        }
    }

    static Proto sampleGraph() {
        return new Proto().string(2, "sample")
                .message(1, Onnx.node("MatMul", "/encoder/layer.0/attention/self/query/MatMul",
                        new String[] {"x", "w"}, new String[] {"q"}))
                .message(1, Onnx.node("LayerNormalization", "ln", new String[] {"q", "g"}, new String[] {"y"},
                        Onnx.floatAttribute("epsilon", 1e-12f)))
                .message(5, Onnx.floatTensor("w", new float[] {1, 2, 3, 4}, 2, 2))
                .message(5, Onnx.tensor("g", FLOAT, 2).packedFloats(4, 1, 1))
                .message(11, Onnx.valueInfo("x", FLOAT, "batch", 2))
                .message(12, Onnx.valueInfo("y", FLOAT, "batch", 2));
    }

    @Test
    void withExtraOutputsDeclaresOutputsAndKeepsEverythingElse() throws IOException {
        Path in = dir.resolve("in.onnx");
        Path out = dir.resolve("out/extra.onnx");
        Files.write(in, Onnx.model(sampleGraph()));
        OnnxModel.withExtraOutputs(in, out, List.of("q", "w"));
        try (OnnxModel before = OnnxModel.open(in); OnnxModel after = OnnxModel.open(out)) {
            assertEquals(List.of("y", "q", "w"), after.outputs().stream().map(OnnxValueInfo::name).toList());
            assertEquals(OnnxDataType.FLOAT, after.outputs().get(1).elementType());
            assertEquals(before.nodes(), after.nodes());
            assertEquals(before.inputs(), after.inputs());
            assertEquals(before.producer(), after.producer());
            assertEquals(before.opsetImports(), after.opsetImports());
            assertArrayEquals(before.initializer("w").toFloat().toArray(), after.initializer("w").toFloat().toArray());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OnnxModel.withExtraOutputs(in, out, List.of("nowhere")));
        assertTrue(e.getMessage().contains("'nowhere' is not produced by any node"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OnnxModel.withExtraOutputs(in, out, List.of("y")));
        assertTrue(e.getMessage().contains("already an output"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OnnxModel.withExtraOutputs(in, out, List.of("q", "q")));
        assertTrue(e.getMessage().contains("twice"), e.getMessage());
        try (var files = Files.list(out.getParent())) {
            assertEquals(List.of(out), files.toList(), "no temporary file is left behind");
        }
    }

    @Test
    void encoderGraphFactsFromSmallGraphs() throws IOException {
        Proto graph = sampleGraph()
                .message(1, Onnx.node("Constant", "c", new String[0], new String[] {"heads"},
                        Onnx.tensorAttribute("value", Onnx.tensor("", INT64, 1).bytes(9, Onnx.longBytes(4)))))
                .message(1, Onnx.node("Constant", "c2", new String[0], new String[] {"size"},
                        Onnx.tensorAttribute("value", Onnx.tensor("", INT64, 1).bytes(9, Onnx.longBytes(8)))))
                .message(1, Onnx.node("Concat", "cat", new String[] {"b", "l", "heads", "size"}, new String[] {"shape"},
                        Onnx.intAttribute("axis", 0)))
                .message(1, Onnx.node("Reshape", "r", new String[] {"q", "shape"}, new String[] {"qh"}))
                .message(1, Onnx.node("Gemm", "/pooler/dense/Gemm", new String[] {"qh", "w"}, new String[] {"p"},
                        Onnx.intAttribute("transB", 1)));
        try (OnnxModel model = openGraph(graph)) {
            OnnxEncoderGraph facts = OnnxEncoderGraph.infer(model);
            assertEquals(4, facts.numHeads());
            assertEquals(8, facts.headSize());
            assertEquals(1e-12f, (float) facts.layerNormEps());
            assertEquals(new OnnxEncoderGraph.LinearWeight("w", true),
                    facts.linearWeights().get("encoder.layer.0.attention.self.query"));
            assertEquals(new OnnxEncoderGraph.LinearWeight("w", false), facts.linearWeights().get("pooler.dense"));
        }
        try (OnnxModel model = openGraph(sampleGraph())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OnnxEncoderGraph.infer(model));
            assertTrue(e.getMessage().contains("head count"), e.getMessage());
        }
    }
}
