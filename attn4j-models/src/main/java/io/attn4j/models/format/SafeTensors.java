package io.attn4j.models.format;

import io.attn4j.tensor.Tensor;
import io.attn4j.util.Json;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A safetensors file, memory-mapped: the reader of Hugging Face weights and the format attn4j writes its own
 * caches in (converted models, captured Q/K/V).
 *
 * <p>The format: an unsigned 64-bit little-endian header length {@code N}; {@code N} bytes of UTF-8 JSON mapping
 * each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}}, plus an optional
 * {@code "__metadata__"} object of strings; then the data section, to which the offsets are relative.
 *
 * <p>Reading. The file is mapped ({@link FileChannel#map} into a shared {@link Arena}), so files over 2 GB work.
 * F32 tensors are {@link Tensor} views of the mapping, no copy, valid until {@link #close()}; F16 and BF16 are
 * converted to new float32 heap tensors when asked for; the other dtypes are listed and their bytes are available
 * through {@link #rawData(String)}. Everything in the header is checked when the file is opened, and a violation
 * throws {@link ModelFormatException} naming the file, the tensor, the value and what is allowed: the header
 * length against the file size (and {@value #MAX_HEADER_BYTES} bytes, the reference implementation's limit), UTF-8
 * and JSON syntax, known dtypes, dims in {@code [0, 2^31)} whose product does not overflow,
 * {@code begin <= end <= } the data section's size, and {@code end − begin = product(shape) × dtype size}. Tensors
 * may overlap, leave gaps or come out of order, as long as each lies inside the data section. A scalar (shape
 * {@code []}) reads as a tensor of shape {@code [1]}, since {@link Tensor} has at least one axis.
 *
 * <p>Writing ({@link #write}) produces F32 tensors in the order of the map, the header padded with spaces to a
 * multiple of 8 bytes so every tensor starts 8-byte aligned, and replaces the target atomically.
 */
public final class SafeTensors implements AutoCloseable {
    /** Headers longer than this are refused (the limit of the reference implementation). */
    public static final long MAX_HEADER_BYTES = 100_000_000;
    private static final String METADATA = "__metadata__";
    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;
    /** The largest integer a JSON number (a double) holds exactly. */
    private static final double MAX_EXACT = 9007199254740992.0;
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The element types of safetensors, with their size in bytes. */
    public enum Dtype {
        F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U64(8), U32(4), U16(2), U8(1), BOOL(1),
        F8_E4M3(1), F8_E5M2(1);

        private final int byteSize;

        Dtype(int byteSize) {
            this.byteSize = byteSize;
        }

        /** Bytes per element. */
        public int byteSize() {
            return byteSize;
        }
    }

    /**
     * One tensor of the header.
     *
     * @param name  its name
     * @param dtype its element type
     * @param shape its shape (empty for a scalar); the accessor returns a copy
     * @param begin the offset of its first byte in the data section
     * @param end   the offset just past its last byte in the data section
     */
    public record TensorInfo(String name, Dtype dtype, int[] shape, long begin, long end) {
        public TensorInfo {
            shape = shape.clone();
        }

        @Override
        public int[] shape() {
            return shape.clone();
        }

        /** The number of elements (1 for a scalar). */
        public long elementCount() {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            return n;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                    && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
        }

        @Override
        public String toString() {
            return "TensorInfo[" + name + ", " + dtype + ", " + Arrays.toString(shape) + ", [" + begin + ", " + end + ")]";
        }
    }

    private final String source;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, String> metadata;
    private final Map<String, TensorInfo> tensors;

    private SafeTensors(String source, Arena arena, MemorySegment data, Map<String, String> metadata,
                        Map<String, TensorInfo> tensors) {
        this.source = source;
        this.arena = arena;
        this.data = data;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableMap(tensors);
    }

    /**
     * Maps and reads the header of the file at {@code path}.
     *
     * @throws ModelFormatException if the file is not a valid safetensors file
     * @throws IOException          if the file cannot be read
     */
    public static SafeTensors open(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mapped = MappedFiles.readOnly(path, arena);
            return read(mapped, String.valueOf(path.getFileName()), arena);
        } catch (Throwable t) {
            arena.close();
            throw t;
        }
    }

    /**
     * Reads a safetensors file already in memory; its tensors are views of {@code file}, valid while it is.
     *
     * @param source the name used in error messages
     */
    public static SafeTensors read(MemorySegment file, String source) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(source, "source");
        return read(file, source, null);
    }

    private static SafeTensors read(MemorySegment file, String source, Arena arena) {
        long size = file.byteSize();
        if (size < 8) {
            throw new ModelFormatException(source + ": " + size + " bytes is shorter than the 8-byte header length");
        }
        long headerLength = file.get(LONG_LE, 0);
        if (headerLength < 0 || headerLength > size - 8) {
            throw new ModelFormatException(source + ": header length " + Long.toUnsignedString(headerLength)
                    + " exceeds the " + (size - 8) + " bytes that follow it");
        }
        if (headerLength > MAX_HEADER_BYTES) {
            throw new ModelFormatException(source + ": header length " + headerLength + " exceeds the limit of "
                    + MAX_HEADER_BYTES + " bytes");
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(file.asSlice(8, headerLength).asByteBuffer())
                    .toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(source + ": the " + headerLength + "-byte header is not valid UTF-8");
        }
        Object json;
        try {
            json = Json.parse(text);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": the header is not valid JSON: " + e.getMessage(), e);
        }
        if (!(json instanceof Map<?, ?> header)) {
            throw new ModelFormatException(source + ": the header is a JSON " + kind(json) + "; it must be an object");
        }
        MemorySegment dataSection = file.asSlice(8 + headerLength);
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : header.entrySet()) {
            String name = (String) e.getKey();
            if (name.equals(METADATA)) {
                readMetadata(e.getValue(), metadata, source);
            } else {
                tensors.put(name, readEntry(name, e.getValue(), dataSection.byteSize(), source));
            }
        }
        return new SafeTensors(source, arena, dataSection, metadata, tensors);
    }

    private static void readMetadata(Object value, Map<String, String> into, String source) {
        if (!(value instanceof Map<?, ?> map)) {
            throw new ModelFormatException(source + ": __metadata__ is a JSON " + kind(value)
                    + "; it must be an object of strings");
        }
        for (Map.Entry<?, ?> m : map.entrySet()) {
            if (!(m.getValue() instanceof String s)) {
                throw new ModelFormatException(source + ": __metadata__ entry '" + m.getKey() + "' is a JSON "
                        + kind(m.getValue()) + "; metadata values must be strings");
            }
            into.put((String) m.getKey(), s);
        }
    }

    private static TensorInfo readEntry(String name, Object value, long dataSize, String source) {
        String what = source + ": tensor '" + name + "'";
        if (!(value instanceof Map<?, ?> entry)) {
            throw new ModelFormatException(what + " is a JSON " + kind(value)
                    + "; it must be an object with dtype, shape and data_offsets");
        }
        if (!(entry.get("dtype") instanceof String dtypeName)) {
            throw new ModelFormatException(what + ": dtype is " + describe(entry.get("dtype"))
                    + "; it must be a string, one of " + Arrays.toString(Dtype.values()));
        }
        Dtype dtype;
        try {
            dtype = Dtype.valueOf(dtypeName);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(what + ": dtype '" + dtypeName + "' is not one of "
                    + Arrays.toString(Dtype.values()));
        }
        if (!(entry.get("shape") instanceof List<?> shapeList)) {
            throw new ModelFormatException(what + ": shape is " + describe(entry.get("shape"))
                    + "; it must be an array of sizes");
        }
        int[] shape = new int[shapeList.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = (int) integer(shapeList.get(i), Integer.MAX_VALUE, what + ": shape[" + i + "]");
            try {
                count = Math.multiplyExact(count, shape[i]);
            } catch (ArithmeticException ex) {
                throw new ModelFormatException(what + ": shape " + shapeList + " has more than 2^63 elements");
            }
        }
        if (!(entry.get("data_offsets") instanceof List<?> offsets) || offsets.size() != 2) {
            throw new ModelFormatException(what + ": data_offsets is " + describe(entry.get("data_offsets"))
                    + "; it must be an array [begin, end]");
        }
        long begin = integer(offsets.get(0), Long.MAX_VALUE, what + ": data_offsets[0]");
        long end = integer(offsets.get(1), Long.MAX_VALUE, what + ": data_offsets[1]");
        if (begin > end || end > dataSize) {
            throw new ModelFormatException(what + ": data_offsets [" + begin + ", " + end
                    + "] must satisfy begin <= end <= " + dataSize + ", the size of the data section");
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(count, dtype.byteSize());
        } catch (ArithmeticException ex) {
            throw new ModelFormatException(what + ": shape " + Arrays.toString(shape) + " of " + dtype
                    + " has more than 2^63 bytes");
        }
        if (end - begin != bytes) {
            throw new ModelFormatException(what + ": shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                    + bytes + " bytes but data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /** A JSON number that is an integer in {@code [0, max]} (and exact: at most 2^53). */
    private static long integer(Object value, long max, String what) {
        if (!(value instanceof Number n)) {
            throw new ModelFormatException(what + " is " + describe(value) + "; it must be an integer");
        }
        double d = n.doubleValue();
        if (d != Math.rint(d) || d < 0 || d > Math.min(max, MAX_EXACT)) {
            throw new ModelFormatException(what + " is " + d + "; it must be an integer in [0, "
                    + (long) Math.min(max, MAX_EXACT) + "]");
        }
        return (long) d;
    }

    private static String kind(Object json) {
        if (json == null) {
            return "null";
        }
        return json instanceof Map ? "object" : json instanceof List ? "array" : json instanceof String ? "string"
                : json instanceof Number ? "number" : json instanceof Boolean ? "boolean" : json.getClass().getName();
    }

    private static String describe(Object json) {
        return json == null ? "missing or null" : "a JSON " + kind(json);
    }

    /** The {@code __metadata__} strings (empty when the file has none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every tensor of the header by name, in header order. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** The header entry of tensor {@code name}. */
    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new IllegalArgumentException(source + " has no tensor named '" + name + "' (it has "
                    + tensors.size() + ")");
        }
        return info;
    }

    /** The bytes of tensor {@code name} in the data section, any dtype (a view of the file, no copy). */
    public MemorySegment rawData(String name) {
        TensorInfo info = info(name);
        return data.asSlice(info.begin(), info.end() - info.begin());
    }

    /**
     * Tensor {@code name} as float32: a view of the file for F32, a new heap tensor converted from F16 or BF16.
     *
     * @throws IllegalArgumentException for an unknown name, another dtype, or a conversion that would exceed a
     *                                  Java array
     */
    public Tensor tensor(String name) {
        TensorInfo info = info(name);
        int[] shape = info.shape.length == 0 ? new int[] {1} : info.shape;
        MemorySegment bytes = rawData(name);
        switch (info.dtype()) {
            case F32 -> {
                return Tensor.wrap(bytes, shape);
            }
            case F16, BF16 -> {
                long n = info.elementCount();
                if (n > MAX_ARRAY) {
                    throw new IllegalArgumentException(source + ": tensor '" + name + "' has " + n
                            + " elements; a converted heap tensor holds at most " + MAX_ARRAY);
                }
                float[] values = new float[(int) n];
                boolean half = info.dtype() == Dtype.F16;
                for (int i = 0; i < values.length; i++) {
                    short bits = bytes.getAtIndex(SHORT_LE, i);
                    values[i] = half ? Float.float16ToFloat(bits) : Float.intBitsToFloat((bits & 0xFFFF) << 16);
                }
                return Tensor.of(values, shape);
            }
            default -> throw new IllegalArgumentException(source + ": tensor '" + name + "' has dtype "
                    + info.dtype() + "; tensor() reads F32, F16 and BF16 (rawData() gives the bytes of any dtype)");
        }
    }

    /** Unmaps the file; views of it must not be read afterwards. Does nothing for {@link #read(MemorySegment, String)}. */
    @Override
    public void close() {
        if (arena != null && arena.scope().isAlive()) {
            arena.close();
        }
    }

    // ---------------------------------------------------------------- writing

    /** Tensors are converted to little-endian bytes this many floats at a time. */
    private static final int CHUNK = 1 << 16;

    /**
     * Writes {@code tensors} (any layout or view; written row-major) as F32 to {@code path}, with
     * {@code metadata} as {@code __metadata__} (omitted when empty). The file is written to a temporary file in
     * the same directory and moved over {@code path}, so readers never see a partial file.
     *
     * @throws IllegalArgumentException for a null or reserved ({@code __metadata__}) name, or a null value
     */
    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(tensors, "tensors");
        Objects.requireNonNull(metadata, "metadata");
        Map<String, Object> header = Json.object();
        if (!metadata.isEmpty()) {
            Map<String, Object> meta = Json.object();
            metadata.forEach((k, v) -> {
                if (k == null || v == null) {
                    throw new IllegalArgumentException("metadata has a null key or value (" + k + " = " + v + ")");
                }
                meta.put(k, v);
            });
            header.put(METADATA, meta);
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            Tensor t = e.getValue();
            if (name == null || name.equals(METADATA)) {
                throw new IllegalArgumentException("tensor name " + (name == null ? "null" : "'" + METADATA + "'")
                        + " is not allowed");
            }
            if (t == null) {
                throw new IllegalArgumentException("tensor '" + name + "' is null");
            }
            long bytes = t.elementCount() * Float.BYTES;
            Map<String, Object> entry = Json.object();
            entry.put("dtype", "F32");
            entry.put("shape", Arrays.stream(t.shape()).boxed().toList());
            entry.put("data_offsets", List.of(offset, offset + bytes));
            header.put(name, entry);
            offset += bytes;
        }
        byte[] json = Json.write(header).strip().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 8 + 7) / 8 * 8 - 8; // so the data section starts 8-byte aligned
        if (padded > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("the header of " + tensors.size() + " tensors takes " + padded
                    + " bytes, over the limit of " + MAX_HEADER_BYTES + " that readers accept");
        }
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        AtomicFiles.write(path, channel -> {
            AtomicFiles.writeFully(channel, head);
            ByteBuffer buffer = ByteBuffer.allocate(CHUNK * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            for (Tensor t : tensors.values()) {
                writeElements(channel, t, buffer);
            }
        });
    }

    /** Writes the elements of {@code t} in row-major order as little-endian float32. */
    private static void writeElements(FileChannel channel, Tensor t, ByteBuffer buffer) throws IOException {
        if (t.elementCount() == 0) {
            return;
        }
        if (!t.isHeap() && t.isContiguous() && t.segment().byteSize() == t.elementCount() * Float.BYTES) {
            AtomicFiles.writeFully(channel, t.segment()); // the tensor is its whole segment: copy the bytes
            return;
        }
        if (t.rank() > 1 && !(t.isHeap() && t.isContiguous())) {
            for (int i = 0; i < t.size(0); i++) {
                writeElements(channel, t.select(0, i), buffer);
            }
            return;
        }
        long n = t.elementCount();
        for (long from = 0; from < n; from += CHUNK) {
            int length = (int) Math.min(CHUNK, n - from);
            float[] values;
            int start;
            if (t.isHeap() && t.isContiguous()) {
                values = t.array();
                start = Math.toIntExact(t.arrayOffset() + from);
            } else {
                values = t.slice(0, (int) from, (int) from + length).copy().array();
                start = 0;
            }
            buffer.clear();
            buffer.asFloatBuffer().put(values, start, length);
            buffer.limit(length * Float.BYTES);
            AtomicFiles.writeFully(channel, buffer);
        }
    }
}
