package io.attn4j.models.format;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.attn4j.tensor.Tensor;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Fuzzes {@link SafeTensors}: every byte string must read, or be refused with a {@link ModelFormatException}
 * naming the file. Seeds are files written by {@link SafeTensors#write} and hand-made headers with F16, BF16, I64
 * and scalar tensors. Fuzzed by the {@code fuzz-safetensors} surefire execution; the default run replays the seeds.
 */
class SafeTensorsFuzzTest {
    static final String SOURCE = "fuzz.safetensors";

    static Stream<byte[]> seeds() throws IOException {
        Path dir = Files.createTempDirectory("attn4j-safetensors-seeds");
        try {
            Path file = dir.resolve("seed.safetensors");
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            tensors.put("w", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
            tensors.put("b", Tensor.of(new float[] {-1}, 1));
            SafeTensors.write(file, tensors, Map.of("format", "pt"));
            byte[] written = Files.readAllBytes(file);
            ByteBuffer data = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putShort((short) 0x3C00)
                    .putShort((short) 0x3F80).putLong(42);
            byte[] mixed = SafeTensorsTest.file("{\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},"
                    + "\"b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[2,4]},"
                    + "\"i\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[4,12]}}", data.array());
            return Stream.of(written, mixed, SafeTensorsTest.file("{}", new byte[0]), new byte[8]);
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }

    @MethodSource("seeds")
    @DictionaryEntries({"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"F16\"",
            "\"BF16\"", "\"I64\"", "\"BOOL\"", "9223372036854775807", "2147483647", "-1", "1e308"})
    @FuzzTest(maxDuration = "25s")
    void readAnyFile(byte[] input) {
        try {
            SafeTensors st = SafeTensors.read(MemorySegment.ofArray(input), SOURCE);
            for (SafeTensors.TensorInfo info : st.tensors().values()) {
                if (st.rawData(info.name()).byteSize() != info.end() - info.begin()) {
                    throw new AssertionError("rawData of " + info + " has the wrong size");
                }
                switch (info.dtype()) {
                    case F32, F16, BF16 -> st.tensor(info.name()).firstNonFinite();
                    default -> {
                        try {
                            st.tensor(info.name());
                            throw new AssertionError("tensor() read dtype " + info.dtype());
                        } catch (IllegalArgumentException expected) {
                            FuzzChecks.assertClear(expected, SOURCE);
                        }
                    }
                }
            }
        } catch (IllegalArgumentException e) {
            FuzzChecks.assertClear(e, SOURCE);
        }
    }
}
