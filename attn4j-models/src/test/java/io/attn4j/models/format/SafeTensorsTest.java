package io.attn4j.models.format;

import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafeTensorsTest {
    @TempDir
    Path dir;

    /** A safetensors file from a header text and a data section, as a writer other than ours would make it. */
    static byte[] file(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length).put(h).put(data).array();
    }

    static Tensor random(Random random, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] a = t.array();
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) random.nextGaussian();
        }
        return t;
    }

    @Test
    void writeThenReadGivesTheSameTensors() throws IOException {
        Random random = new Random(7);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("encoder.layer.0.attention.self.query.weight", random(random, 12, 8));
        tensors.put("bias", random(random, 5));
        tensors.put("qkv", random(random, 2, 3, 4));
        tensors.put("empty", Tensor.zeros(0, 3));
        tensors.put("transposed view", random(random, 3, 5).permute(1, 0));
        tensors.put("slice of a row", random(random, 4, 6).select(0, 2).slice(0, 1, 4));
        tensors.put("ünïcode name", random(random, 1));
        Map<String, String> metadata = Map.of("format", "pt", "source", "attn4j test");
        Path file = dir.resolve("cache/model.safetensors");
        SafeTensors.write(file, tensors, metadata);
        try (SafeTensors st = SafeTensors.open(file)) {
            assertEquals(metadata, st.metadata());
            assertEquals(List.copyOf(tensors.keySet()), List.copyOf(st.tensors().keySet()));
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                Tensor back = st.tensor(e.getKey());
                assertFalse(back.isHeap(), "F32 tensors are views of the file");
                assertArrayEquals(e.getValue().shape(), back.shape(), e.getKey());
                assertArrayEquals(e.getValue().toArray(), back.toArray(), e.getKey());
                assertEquals(SafeTensors.Dtype.F32, st.info(e.getKey()).dtype());
            }
        }
        byte[] bytes = Files.readAllBytes(file);
        long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + headerLength) % 8, "the data section starts 8-byte aligned");
    }

    @Test
    void segmentBackedTensorsAndOverwritingAreAtomic() throws IOException {
        Path file = dir.resolve("x.safetensors");
        Files.writeString(file, "old content");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(24);
            for (int i = 0; i < 6; i++) {
                seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, i * 1.5f);
            }
            SafeTensors.write(file, Map.of("w", Tensor.wrap(seg, 2, 3), "w view", Tensor.wrap(seg, 2, 3).slice(1, 1, 3)),
                    Map.of());
        }
        try (SafeTensors st = SafeTensors.open(file)) {
            assertArrayEquals(new float[] {0, 1.5f, 3, 4.5f, 6, 7.5f}, st.tensor("w").toArray());
            assertArrayEquals(new float[] {1.5f, 3, 6, 7.5f}, st.tensor("w view").toArray());
            assertTrue(st.metadata().isEmpty());
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no temporary file is left behind");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SafeTensors.write(file, Map.of("__metadata__", Tensor.zeros(1)), Map.of()));
        assertTrue(e.getMessage().contains("__metadata__"), e.getMessage());
    }

    @Test
    void halfPrecisionIsConvertedAndOtherDtypesAreListed() throws IOException {
        ByteBuffer data = ByteBuffer.allocate(4 + 4 + 16 + 4).order(ByteOrder.LITTLE_ENDIAN);
        data.putShort(Float.floatToFloat16(0.5f)).putShort(Float.floatToFloat16(-65504f));
        data.putShort((short) (Float.floatToIntBits(3f) >>> 16)).putShort((short) (Float.floatToIntBits(-1e30f) >>> 16));
        data.putLong(7).putLong(-1);
        data.putFloat(2.5f);
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[4,8]},"
                + "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[8,24]},"
                + "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]},"
                + "\"overlap\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[24,28]},"
                + "\"first bytes again\":{\"dtype\":\"U8\",\"shape\":[2,2],\"data_offsets\":[0,4]}}   ";
        try (SafeTensors st = read(file(header, data.array()))) {
            assertArrayEquals(new float[] {0.5f, -65504f}, st.tensor("h").toArray());
            assertTrue(st.tensor("h").isHeap());
            assertArrayEquals(new float[] {3f, Float.intBitsToFloat(Float.floatToIntBits(-1e30f) & 0xFFFF0000)},
                    st.tensor("b").toArray());
            assertArrayEquals(new int[] {1, 2}, st.tensor("b").shape());
            assertArrayEquals(new int[] {1}, st.tensor("scalar").shape());
            assertEquals(2.5f, st.tensor("overlap").get(0));
            assertEquals(SafeTensors.Dtype.I64, st.info("ids").dtype());
            assertEquals(7L, st.rawData("ids").get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> st.tensor("ids"));
            assertTrue(e.getMessage().contains("dtype I64; tensor() reads F32, F16 and BF16"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> st.tensor("absent"));
            assertTrue(e.getMessage().contains("no tensor named 'absent'"), e.getMessage());
        }
    }

    private static SafeTensors read(byte[] bytes) {
        return SafeTensors.read(MemorySegment.ofArray(bytes), "t.safetensors");
    }

    private static void assertRefused(byte[] bytes, String expected) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> read(bytes));
        assertTrue(e.getMessage().startsWith("t.safetensors: "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    private static void assertRefusedEntry(String entry, int dataBytes, String expected) {
        assertRefused(file("{\"t\":" + entry + "}", new byte[dataBytes]), expected);
    }

    @Test
    void invalidHeadersAreRefusedClearly() {
        assertRefused(new byte[5], "shorter than the 8-byte header length");
        assertRefused(ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(9).array(),
                "header length 9 exceeds the 8 bytes that follow it");
        assertRefused(ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1).array(),
                "header length 18446744073709551615 exceeds");
        byte[] invalidUtf8 = file("{\"a\":1}", new byte[0]);
        invalidUtf8[10] = (byte) 0xFF;
        assertRefused(invalidUtf8, "is not valid UTF-8");
        assertRefused(file("{\"a\":", new byte[0]), "not valid JSON");
        assertRefused(file("[1,2]", new byte[0]), "the header is a JSON array; it must be an object");
        assertRefused(file("{\"__metadata__\":{\"n\":1}}", new byte[0]), "metadata values must be strings");
        assertRefused(file("{\"__metadata__\":[]}", new byte[0]), "__metadata__ is a JSON array");
        assertRefusedEntry("3", 0, "tensor 't' is a JSON number");
        assertRefusedEntry("{\"shape\":[1],\"data_offsets\":[0,4]}", 4, "dtype is missing or null");
        assertRefusedEntry("{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "dtype 'F31' is not one of");
        assertRefusedEntry("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}", 4, "shape is missing or null");
        assertRefusedEntry("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}", 4, "shape[0] is -1.0");
        assertRefusedEntry("{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}", 4, "shape[0] is 1.5");
        assertRefusedEntry("{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}", 4, "shape[0] is a JSON string");
        assertRefusedEntry("{\"dtype\":\"F32\",\"shape\":[3000000000],\"data_offsets\":[0,4]}", 4, "in [0, 2147483647]");
        assertRefusedEntry("{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}", 4,
                "more than 2^63 elements");
        assertRefusedEntry("{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2],\"data_offsets\":[0,4]}", 4,
                "more than 2^63 bytes");
        assertRefusedEntry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}", 4, "must be an array [begin, end]");
        assertRefusedEntry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}", 4, "begin <= end <= 4");
        assertRefusedEntry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}", 4, "begin <= end <= 4");
        assertRefusedEntry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e300]}", 4, "data_offsets[1] is 1.0E300");
        assertRefusedEntry("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}", 8, "needs 8 bytes but data_offsets [0, 4] hold 4");
    }

    @Test
    void headersOverTheLimitAreRefusedBeforeReading() throws IOException {
        Path file = dir.resolve("huge.safetensors");
        try (var channel = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, SafeTensors.MAX_HEADER_BYTES + 1));
            channel.write(ByteBuffer.allocate(1), SafeTensors.MAX_HEADER_BYTES + 8); // sparse
        }
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafeTensors.open(file).close());
        assertTrue(e.getMessage().contains("exceeds the limit of 100000000 bytes"), e.getMessage());
    }

    /** Every prefix of a valid file either reads or fails with a clear message. */
    @Test
    void everyTruncationIsReadOrRefused() throws IOException {
        Path file = dir.resolve("full.safetensors");
        SafeTensors.write(file, Map.of("a", random(new Random(1), 3), "b", random(new Random(2), 2, 2)), Map.of("k", "v"));
        byte[] full = Files.readAllBytes(file);
        for (int length = 0; length < full.length; length++) {
            try (SafeTensors st = read(Arrays.copyOf(full, length))) {
                st.tensors().keySet().forEach(name -> st.tensor(name).toArray());
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage().startsWith("t.safetensors: "), e.getMessage());
            }
        }
    }
}
