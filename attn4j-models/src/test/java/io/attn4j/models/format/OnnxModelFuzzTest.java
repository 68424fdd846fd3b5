package io.attn4j.models.format;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.attn4j.tensor.Tensor;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static io.attn4j.models.format.Onnx.BFLOAT16;
import static io.attn4j.models.format.Onnx.DOUBLE;
import static io.attn4j.models.format.Onnx.FLOAT;
import static io.attn4j.models.format.Onnx.FLOAT16;
import static io.attn4j.models.format.Onnx.INT32;
import static io.attn4j.models.format.Onnx.INT64;
import static io.attn4j.models.format.Onnx.UINT64;

/**
 * Fuzzes {@link OnnxModel} (and so {@link Protobuf}): every byte string must read, or be refused with a
 * {@link ModelFormatException} naming the file. Seeds are small valid models built here: raw and typed tensors of
 * every readable type, external data, nodes with every attribute kind, and an encoder-like graph for
 * {@link OnnxEncoderGraph}. Fuzzed by the {@code fuzz-onnx} surefire execution (JAZZER_FUZZ=1); the default test
 * run replays the seeds.
 */
class OnnxModelFuzzTest {
    static final String SOURCE = "fuzz.onnx";
    /** The directory external data is resolved in; it holds {@code weights.bin} (64 bytes). */
    static final Path DIRECTORY = externalDataDirectory();

    private static Path externalDataDirectory() {
        try {
            Path dir = Files.createTempDirectory("attn4j-onnx-fuzz");
            Path weights = dir.resolve("weights.bin");
            Files.write(weights, Onnx.floatBytes(new float[16]));
            weights.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Stream<byte[]> seeds() {
        Proto typed = new Proto()
                .message(5, Onnx.tensor("f", FLOAT, 3).packedFloats(4, 1, 2).float32(4, 3))
                .message(5, Onnx.tensor("d", DOUBLE, 2).packedDoubles(10, 1, 2))
                .message(5, Onnx.tensor("h", FLOAT16, 2).packedVarints(5, 0x3C00, 0xC000))
                .message(5, Onnx.tensor("b", BFLOAT16, 1).varint(5, 0x3F80))
                .message(5, Onnx.tensor("i", INT64, 2).packedVarints(7, -1, 7))
                .message(5, Onnx.tensor("i32", INT32, 1).varint(5, 5))
                .message(5, Onnx.tensor("u", UINT64, 1).varint(11, 9))
                .message(5, Onnx.tensor("raw16", FLOAT16, 2).bytes(9, new byte[4]))
                .message(5, Onnx.tensor("scalar", FLOAT).float32(4, 1e-12f));
        Proto external = new Proto().message(5, Onnx.tensor("e", FLOAT, 2, 2)
                .message(13, new Proto().string(1, "location").string(2, "weights.bin"))
                .message(13, new Proto().string(1, "offset").string(2, "16"))
                .message(13, new Proto().string(1, "length").string(2, "16")).varint(14, 1));
        Proto attributes = new Proto().message(1, Onnx.node("Op", "n", new String[] {"a", ""}, new String[] {"b"},
                Onnx.floatAttribute("f", 0.5f), Onnx.intAttribute("i", -3),
                new Proto().string(1, "ints").packedVarints(8, 1, 2).varint(8, 3).varint(20, 7),
                new Proto().string(1, "floats").float32(7, 1).packedFloats(7, 2, 3).varint(20, 6),
                new Proto().string(1, "s").string(4, "text").varint(20, 3),
                new Proto().string(1, "ss").string(9, "x").varint(20, 8),
                new Proto().string(1, "g").message(6, new Proto().string(2, "sub")).varint(20, 5),
                new Proto().string(1, "ts").message(10, Onnx.floatTensor("", new float[] {1}, 1)).varint(20, 9),
                Onnx.tensorAttribute("t", Onnx.tensor("", INT64, 2).bytes(9, Onnx.longBytes(3, 4)))));
        Proto encoder = OnnxModelTest.sampleGraph()
                .message(1, Onnx.node("Constant", "c", new String[0], new String[] {"heads"},
                        Onnx.tensorAttribute("value", Onnx.tensor("", INT64, 1).bytes(9, Onnx.longBytes(2)))))
                .message(1, Onnx.node("Concat", "cat", new String[] {"b", "l", "heads", "heads"}, new String[] {"shape"}))
                .message(1, Onnx.node("Reshape", "r", new String[] {"q", "shape"}, new String[] {"qh"}))
                .message(1, Onnx.node("ReduceMean", "m", new String[] {"qh"}, new String[] {"var"}))
                .message(1, Onnx.node("Constant", "e", new String[0], new String[] {"eps"},
                        Onnx.tensorAttribute("value", Onnx.tensor("", FLOAT).float32(4, 1e-5f))))
                .message(1, Onnx.node("Add", "a", new String[] {"var", "eps"}, new String[] {"ve"}))
                .message(1, Onnx.node("Sqrt", "s", new String[] {"ve"}, new String[] {"sd"}));
        return Stream.of(Onnx.model(typed), Onnx.model(external), Onnx.model(attributes), Onnx.model(encoder),
                Onnx.model(new Proto().key(3, 3).varint(1, 1).key(3, 4)), new byte[0]);
    }

    @MethodSource("seeds")
    @FuzzTest(maxDuration = "25s")
    void readAnyModel(byte[] input) {
        try (OnnxModel model = OnnxModel.read(MemorySegment.ofArray(input), DIRECTORY, SOURCE)) {
            for (OnnxTensor t : model.initializers().values()) {
                readValues(t);
            }
            for (OnnxNode node : model.nodes()) {
                for (OnnxAttribute a : node.attributes().values()) {
                    if (a.value() instanceof OnnxTensor t) {
                        readValues(t);
                    } else if (a.value() instanceof java.util.List<?> list) {
                        list.stream().filter(OnnxTensor.class::isInstance).forEach(t -> readValues((OnnxTensor) t));
                    }
                }
            }
            try {
                OnnxEncoderGraph.infer(model);
            } catch (IllegalArgumentException e) {
                if (!e.getMessage().startsWith("cannot find")) {
                    throw new AssertionError("unexpected refusal from OnnxEncoderGraph", e);
                }
            }
        } catch (IllegalArgumentException e) {
            FuzzChecks.assertClear(e, SOURCE);
        }
    }

    /** Reads every value of a tensor the way a runtime would; refusals must name the file. */
    private static void readValues(OnnxTensor t) {
        try {
            if (t.dataType().isFloat()) {
                Tensor x = t.toFloat();
                x.firstNonFinite();
            } else if (t.dataType().isInteger()) {
                t.asLongs();
            } else {
                t.toFloat();
                throw new AssertionError("toFloat() read a tensor of type " + t.dataType());
            }
        } catch (IllegalArgumentException e) {
            FuzzChecks.assertClear(e, SOURCE);
        }
    }
}
