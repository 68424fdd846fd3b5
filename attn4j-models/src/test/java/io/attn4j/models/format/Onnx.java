package io.attn4j.models.format;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Builders of small ONNX messages for tests, by {@code onnx.proto} field number: {@code ModelProto} (1 ir_version,
 * 2 producer_name, 7 graph, 8 opset_import), {@code GraphProto} (1 node, 2 name, 5 initializer, 11 input,
 * 12 output), {@code NodeProto} (1 input, 2 output, 3 name, 4 op_type, 5 attribute), {@code AttributeProto}
 * (1 name, 2 f, 3 i, 4 s, 5 t, 7 floats, 8 ints, 20 type), {@code TensorProto} (1 dims, 2 data_type, 4 float_data,
 * 5 int32_data, 7 int64_data, 8 name, 9 raw_data, 10 double_data, 11 uint64_data, 13 external_data,
 * 14 data_location), {@code ValueInfoProto} (1 name, 2 type).
 */
final class Onnx {
    static final int FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, BOOL = 9, FLOAT16 = 10, DOUBLE = 11,
            UINT32 = 12, UINT64 = 13, BFLOAT16 = 16, COMPLEX64 = 14;

    private Onnx() {
    }

    /** A TensorProto header: name, type, dims (unpacked, as exporters write them); add the data to it. */
    static Proto tensor(String name, int type, long... dims) {
        Proto t = new Proto();
        for (long d : dims) {
            t.varint(1, d);
        }
        return t.varint(2, type).string(8, name);
    }

    static Proto floatTensor(String name, float[] values, long... dims) {
        return tensor(name, FLOAT, dims).bytes(9, floatBytes(values));
    }

    static byte[] floatBytes(float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }

    static byte[] longBytes(long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return b.array();
    }

    static Proto node(String opType, String name, String[] inputs, String[] outputs, Proto... attributes) {
        Proto n = new Proto();
        for (String i : inputs) {
            n.string(1, i);
        }
        for (String o : outputs) {
            n.string(2, o);
        }
        n.string(3, name).string(4, opType);
        for (Proto a : attributes) {
            n.message(5, a);
        }
        return n;
    }

    static Proto floatAttribute(String name, float value) {
        return new Proto().string(1, name).float32(2, value).varint(20, 1);
    }

    static Proto intAttribute(String name, long value) {
        return new Proto().string(1, name).varint(3, value).varint(20, 2);
    }

    static Proto tensorAttribute(String name, Proto tensor) {
        return new Proto().string(1, name).message(5, tensor).varint(20, 4);
    }

    static Proto valueInfo(String name, int elemType, Object... dims) {
        Proto shape = new Proto();
        for (Object d : dims) {
            shape.message(1, d instanceof String s ? new Proto().string(2, s) : new Proto().varint(1, ((Number) d).longValue()));
        }
        Proto tensorType = new Proto().varint(1, elemType).message(2, shape);
        return new Proto().string(1, name).message(2, new Proto().message(1, tensorType));
    }

    static byte[] model(Proto graph) {
        return new Proto().varint(1, 8).string(2, "attn4j-test").string(3, "1")
                .message(8, new Proto().string(1, "").varint(2, 17))
                .message(7, graph).toByteArray();
    }
}
