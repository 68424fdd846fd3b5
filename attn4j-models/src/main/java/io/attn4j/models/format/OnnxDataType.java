package io.attn4j.models.format;

/**
 * The element types of ONNX tensors ({@code TensorProto.DataType} in {@code onnx.proto}), with what a reader needs
 * to know of each: its size in {@code raw_data} and the typed field that holds it otherwise.
 *
 * <p>{@link OnnxTensor} reads the types whose {@link #supported()} is true: the float types as float32 and the
 * integer types as {@code long}s. The others (strings, complex numbers, 8-, 4- and 2-bit floats and integers, and
 * codes this version does not know, {@link #UNKNOWN}) are listed with their name and dims but their data is not
 * decoded.
 */
public enum OnnxDataType {
    UNDEFINED(0, 0, 0),
    FLOAT(1, 4, OnnxDataType.FLOAT_DATA),
    UINT8(2, 1, OnnxDataType.INT32_DATA),
    INT8(3, 1, OnnxDataType.INT32_DATA),
    UINT16(4, 2, OnnxDataType.INT32_DATA),
    INT16(5, 2, OnnxDataType.INT32_DATA),
    INT32(6, 4, OnnxDataType.INT32_DATA),
    INT64(7, 8, OnnxDataType.INT64_DATA),
    STRING(8, 0, 0),
    BOOL(9, 1, OnnxDataType.INT32_DATA),
    FLOAT16(10, 2, OnnxDataType.INT32_DATA),
    DOUBLE(11, 8, OnnxDataType.DOUBLE_DATA),
    UINT32(12, 4, OnnxDataType.UINT64_DATA),
    UINT64(13, 8, OnnxDataType.UINT64_DATA),
    COMPLEX64(14, 0, 0),
    COMPLEX128(15, 0, 0),
    BFLOAT16(16, 2, OnnxDataType.INT32_DATA),
    FLOAT8E4M3FN(17, 0, 0),
    FLOAT8E4M3FNUZ(18, 0, 0),
    FLOAT8E5M2(19, 0, 0),
    FLOAT8E5M2FNUZ(20, 0, 0),
    UINT4(21, 0, 0),
    INT4(22, 0, 0),
    FLOAT4E2M1(23, 0, 0),
    /** A code this reader does not know (a newer ONNX version); see {@link OnnxTensor#dataTypeCode()}. */
    UNKNOWN(-1, 0, 0);

    /** {@code TensorProto} field numbers of the typed data fields. */
    static final int FLOAT_DATA = 4;
    static final int INT32_DATA = 5;
    static final int INT64_DATA = 7;
    static final int DOUBLE_DATA = 10;
    static final int UINT64_DATA = 11;

    private final int code;
    private final int byteSize;
    private final int typedField;

    OnnxDataType(int code, int byteSize, int typedField) {
        this.code = code;
        this.byteSize = byteSize;
        this.typedField = typedField;
    }

    /** The type with this {@code TensorProto.DataType} code, or {@link #UNKNOWN}. */
    public static OnnxDataType ofCode(long code) {
        for (OnnxDataType t : values()) {
            if (t.code == code && t != UNKNOWN) {
                return t;
            }
        }
        return UNKNOWN;
    }

    /** The {@code TensorProto.DataType} code ({@code -1} for {@link #UNKNOWN}). */
    public int code() {
        return code;
    }

    /** Bytes per element in {@code raw_data} and external data; 0 for types that are not {@link #supported()}. */
    public int byteSize() {
        return byteSize;
    }

    /** True when {@link OnnxTensor} decodes this type's data. */
    public boolean supported() {
        return byteSize > 0;
    }

    /** True for the types {@link OnnxTensor#toFloat()} reads: FLOAT, FLOAT16, BFLOAT16 and DOUBLE. */
    public boolean isFloat() {
        return this == FLOAT || this == FLOAT16 || this == BFLOAT16 || this == DOUBLE;
    }

    /** True for the types {@link OnnxTensor#asLongs()} reads: the integer types and BOOL. */
    public boolean isInteger() {
        return supported() && !isFloat();
    }

    /** The {@code TensorProto} field that holds this type's values when there is no {@code raw_data}. */
    int typedField() {
        return typedField;
    }
}
