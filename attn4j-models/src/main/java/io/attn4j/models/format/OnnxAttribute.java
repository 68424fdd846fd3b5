package io.attn4j.models.format;

import java.util.List;

/**
 * An attribute of an ONNX node ({@code AttributeProto}), e.g. {@code epsilon} of {@code LayerNormalization} or
 * {@code value} of {@code Constant}.
 *
 * <p>The value's Java type follows {@link #type()}: {@code Float} (FLOAT), {@code Long} (INT), {@code String}
 * (STRING), {@link OnnxTensor} (TENSOR), {@code float[]} (FLOATS), {@code long[]} (INTS), {@code List<String>}
 * (STRINGS), {@code List<OnnxTensor>} (TENSORS). Subgraphs, sparse tensors and type protos are not read: their
 * value is {@code null}. Files that omit {@code type} (written before it existed) get the type of the value field
 * that is present. The typed accessors throw {@link IllegalStateException} naming the attribute when the type
 * differs.
 *
 * @param name  the attribute's name
 * @param type  the attribute's type
 * @param value the value, as above
 */
public record OnnxAttribute(String name, Type type, Object value) {

    /** {@code AttributeProto.AttributeType}. */
    public enum Type {
        UNDEFINED(0), FLOAT(1), INT(2), STRING(3), TENSOR(4), GRAPH(5), FLOATS(6), INTS(7), STRINGS(8),
        TENSORS(9), GRAPHS(10), SPARSE_TENSOR(11), SPARSE_TENSORS(12), TYPE_PROTO(13), TYPE_PROTOS(14);

        private final int code;

        Type(int code) {
            this.code = code;
        }

        /** The type with this code, or {@link #UNDEFINED} for a code this reader does not know. */
        public static Type ofCode(long code) {
            for (Type t : values()) {
                if (t.code == code) {
                    return t;
                }
            }
            return UNDEFINED;
        }

        /** The {@code AttributeType} code. */
        public int code() {
            return code;
        }
    }

    /** The value of a FLOAT attribute. */
    public float floatValue() {
        return (Float) require(Type.FLOAT);
    }

    /** The value of an INT attribute. */
    public long longValue() {
        return (Long) require(Type.INT);
    }

    /** The value of a STRING attribute. */
    public String stringValue() {
        return (String) require(Type.STRING);
    }

    /** The value of a TENSOR attribute. */
    public OnnxTensor tensorValue() {
        return (OnnxTensor) require(Type.TENSOR);
    }

    /** The values of a FLOATS attribute (a copy). */
    public float[] floats() {
        return ((float[]) require(Type.FLOATS)).clone();
    }

    /** The values of an INTS attribute (a copy). */
    public long[] longs() {
        return ((long[]) require(Type.INTS)).clone();
    }

    /** The values of a STRINGS attribute. */
    @SuppressWarnings("unchecked")
    public List<String> strings() {
        return (List<String>) require(Type.STRINGS);
    }

    /** The values of a TENSORS attribute. */
    @SuppressWarnings("unchecked")
    public List<OnnxTensor> tensors() {
        return (List<OnnxTensor>) require(Type.TENSORS);
    }

    private Object require(Type wanted) {
        if (type != wanted) {
            throw new IllegalStateException("attribute '" + name + "' is of type " + type + ", not " + wanted);
        }
        return value;
    }
}
