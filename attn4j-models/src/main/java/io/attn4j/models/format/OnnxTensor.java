package io.attn4j.models.format;

import io.attn4j.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * One ONNX tensor (a {@code TensorProto}): a graph initializer, or the value of a {@code Constant} node or a
 * tensor attribute. Its name, element type and dims are read when the model is opened; its values are decoded
 * only when asked for.
 *
 * <p>Where the values live, and what reading them costs:
 * <ul>
 *   <li>{@code raw_data} or external data (little-endian bytes): FLOAT is returned by {@link #toFloat()} as a
 *       view of the mapped file, no copy ({@link Tensor} reads unaligned floats, so the alignment of the data in
 *       the file does not matter). FLOAT16, BFLOAT16 and DOUBLE are converted into a new float32 heap tensor.</li>
 *   <li>the typed fields ({@code float_data}, {@code int32_data}, {@code int64_data}, {@code double_data},
 *       {@code uint64_data}, each packed or not): decoded into a new array on each call.</li>
 * </ul>
 * Integer tensors (shape constants, token type ids) are read with {@link #asLongs()}. The element count of the
 * data was checked against the dims when the model was opened, so a tensor that opened is readable.
 *
 * <p>A view returned by {@link #toFloat()} and {@link #rawData()} is valid until the {@link OnnxModel} that owns
 * it is closed (reading it afterwards throws {@link IllegalStateException}). This is a class rather than a record
 * because where the values live is an implementation detail that should not be part of its equality or API.
 */
public final class OnnxTensor {
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble DOUBLE_LE =
            ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** The largest Java array. */
    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private final String name;
    private final OnnxDataType dataType;
    private final int dataTypeCode;
    private final long[] dims;
    private final long elementCount;
    private final MemorySegment raw;
    private final boolean external;
    /** The TensorProto message, read again for typed values. */
    private final MemorySegment file;
    private final String source;
    private final String path;
    private final long messageStart;
    private final long messageEnd;

    OnnxTensor(String name, OnnxDataType dataType, int dataTypeCode, long[] dims, long elementCount,
               MemorySegment raw, boolean external, Protobuf message, MemorySegment file, long messageStart) {
        this.name = name;
        this.dataType = dataType;
        this.dataTypeCode = dataTypeCode;
        this.dims = dims;
        this.elementCount = elementCount;
        this.raw = raw;
        this.external = external;
        this.file = file;
        this.source = message.source();
        this.path = message.path();
        this.messageStart = messageStart;
        this.messageEnd = message.end();
    }

    /** The tensor's name (empty for an unnamed tensor attribute). */
    public String name() {
        return name;
    }

    /** The element type; {@link OnnxDataType#UNKNOWN} for a code this reader does not know. */
    public OnnxDataType dataType() {
        return dataType;
    }

    /** The {@code TensorProto.DataType} code as stored in the file. */
    public int dataTypeCode() {
        return dataTypeCode;
    }

    /** The dims (empty for a scalar). */
    public long[] dims() {
        return dims.clone();
    }

    /** The number of elements: the product of the dims (1 for a scalar). */
    public long elementCount() {
        return elementCount;
    }

    /** True when the values are in a file beside the model ({@code data_location = EXTERNAL}). */
    public boolean isExternal() {
        return external;
    }

    /**
     * The little-endian bytes of the values when they are in {@code raw_data} or external data (a view of the
     * mapped file), or {@code null} when they are in a typed field or the type is not supported.
     */
    public MemorySegment rawData() {
        return raw;
    }

    /**
     * The values as a float32 tensor with this tensor's dims (a scalar becomes shape {@code [1]}, since
     * {@link Tensor} has at least one axis). FLOAT in raw or external data is a view of the mapped file; every
     * other case is a new heap tensor.
     *
     * @throws IllegalArgumentException if the type is not FLOAT, FLOAT16, BFLOAT16 or DOUBLE, a dim exceeds
     *                                  {@code Integer.MAX_VALUE}, or a heap copy would exceed a Java array
     */
    public Tensor toFloat() {
        requireFloat("toFloat()");
        int[] shape = tensorShape();
        if (dataType == OnnxDataType.FLOAT && raw != null) {
            return Tensor.wrap(raw, shape);
        }
        return Tensor.of(toFloatArray(), shape);
    }

    /** The values as a new {@code float[]} in row-major order; same types as {@link #toFloat()}. */
    public float[] toFloatArray() {
        requireFloat("toFloatArray()");
        int n = heapLength();
        float[] out = new float[n];
        if (raw != null) {
            switch (dataType) {
                case FLOAT -> MemorySegment.copy(raw, FLOAT_LE, 0, out, 0, n);
                case FLOAT16 -> {
                    for (int i = 0; i < n; i++) {
                        out[i] = Float.float16ToFloat(raw.getAtIndex(SHORT_LE, i));
                    }
                }
                case BFLOAT16 -> {
                    for (int i = 0; i < n; i++) {
                        out[i] = bfloat16ToFloat(raw.getAtIndex(SHORT_LE, i));
                    }
                }
                case DOUBLE -> {
                    for (int i = 0; i < n; i++) {
                        out[i] = (float) raw.getAtIndex(DOUBLE_LE, i);
                    }
                }
                default -> throw new AssertionError(dataType);
            }
            return out;
        }
        // The model's reader counted exactly elementCount values in the typed field, so `at` stays below n.
        int[] at = {0};
        Protobuf message = Protobuf.of(file, source, path, messageStart, messageEnd);
        while (message.next()) {
            if (message.field() != dataType.typedField()) {
                continue;
            }
            switch (dataType) {
                case FLOAT -> message.forEachFixed32(bits -> out[at[0]++] = Float.intBitsToFloat(bits));
                case FLOAT16 -> message.forEachVarint(v -> out[at[0]++] = Float.float16ToFloat((short) v));
                case BFLOAT16 -> message.forEachVarint(v -> out[at[0]++] = bfloat16ToFloat((short) v));
                case DOUBLE -> message.forEachFixed64(bits -> out[at[0]++] = (float) Double.longBitsToDouble(bits));
                default -> throw new AssertionError(dataType);
            }
        }
        return out;
    }

    /**
     * The values of an integer or BOOL tensor as {@code long}s in row-major order (UINT64 values above
     * {@code Long.MAX_VALUE} come back as their two's-complement bits; BOOL as 0 or 1).
     *
     * @throws IllegalArgumentException if the type is not an integer type or BOOL
     */
    public long[] asLongs() {
        if (!dataType.isInteger()) {
            throw new IllegalArgumentException(describe() + " has data type " + typeName()
                    + "; asLongs() reads INT8, UINT8, INT16, UINT16, INT32, UINT32, INT64, UINT64 and BOOL"
                    + (dataType.isFloat() ? " (use toFloat())" : ""));
        }
        int n = heapLength();
        long[] out = new long[n];
        if (raw != null) {
            for (int i = 0; i < n; i++) {
                out[i] = switch (dataType) {
                    case UINT8 -> raw.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
                    case INT8 -> raw.get(ValueLayout.JAVA_BYTE, i);
                    case BOOL -> raw.get(ValueLayout.JAVA_BYTE, i) != 0 ? 1 : 0;
                    case UINT16 -> raw.getAtIndex(SHORT_LE, i) & 0xFFFF;
                    case INT16 -> raw.getAtIndex(SHORT_LE, i);
                    case INT32 -> raw.getAtIndex(INT_LE, i);
                    case UINT32 -> raw.getAtIndex(INT_LE, i) & 0xFFFF_FFFFL;
                    case INT64, UINT64 -> raw.getAtIndex(LONG_LE, i);
                    default -> throw new AssertionError(dataType);
                };
            }
            return out;
        }
        int[] at = {0};
        Protobuf message = Protobuf.of(file, source, path, messageStart, messageEnd);
        while (message.next()) {
            if (message.field() == dataType.typedField()) {
                message.forEachVarint(v -> out[at[0]++] = narrow(v));
            }
        }
        return out;
    }

    /** A typed-field value (an int32 for the small types, a uint64 for UINT32) cut to this tensor's type. */
    private long narrow(long v) {
        return switch (dataType) {
            case UINT8 -> v & 0xFF;
            case INT8 -> (byte) v;
            case BOOL -> v != 0 ? 1 : 0;
            case UINT16 -> v & 0xFFFF;
            case INT16 -> (short) v;
            case INT32 -> (int) v;
            case UINT32 -> v & 0xFFFF_FFFFL;
            default -> v;
        };
    }

    private static float bfloat16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    private void requireFloat(String method) {
        if (!dataType.isFloat()) {
            throw new IllegalArgumentException(describe() + " has data type " + typeName() + "; " + method
                    + " reads FLOAT, FLOAT16, BFLOAT16 and DOUBLE" + (dataType.isInteger() ? " (use asLongs())" : ""));
        }
    }

    private int heapLength() {
        if (elementCount > MAX_ARRAY) {
            throw new IllegalArgumentException(describe() + " has " + elementCount
                    + " elements; a heap copy holds at most " + MAX_ARRAY);
        }
        return (int) elementCount;
    }

    /** The dims as a {@link Tensor} shape: {@code [1]} for a scalar. */
    private int[] tensorShape() {
        if (dims.length == 0) {
            return new int[] {1};
        }
        int[] shape = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(describe() + " has dims " + Arrays.toString(dims)
                        + "; a Tensor axis holds at most " + Integer.MAX_VALUE + " elements");
            }
            shape[i] = (int) dims[i];
        }
        return shape;
    }

    private String typeName() {
        return dataType == OnnxDataType.UNKNOWN ? "code " + dataTypeCode : dataType.name();
    }

    private String describe() {
        return source + ": tensor '" + name + "' (" + path + ")";
    }

    @Override
    public String toString() {
        return "OnnxTensor[" + name + ", " + typeName() + ", dims " + Arrays.toString(dims)
                + (external ? ", external" : "") + "]";
    }
}
