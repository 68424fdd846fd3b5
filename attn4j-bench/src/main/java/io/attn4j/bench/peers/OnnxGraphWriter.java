package io.attn4j.bench.peers;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes the bytes of a small ONNX model ({@code ModelProto}) by hand, in the protobuf wire format: one graph of
 * float32 inputs and outputs with fixed shapes, and nodes with integer and float attributes. Enough to hand ONNX
 * Runtime a one-operator graph (see {@link OrtAttention}); no initializers, no other element types, no subgraphs.
 *
 * <pre>{@code
 * byte[] model = new OnnxGraphWriter("attention", 10)
 *         .opset("", 21).opset("com.microsoft", 1)
 *         .input("query", 1, 128, 512)
 *         .output("output", 1, 128, 512)
 *         .node("mha", "MultiHeadAttention", "com.microsoft", List.of("query", "key", "value"), List.of("output"),
 *               Map.of("num_heads", 8L))
 *         .toByteArray();
 * }</pre>
 *
 * <p>Field numbers are those of onnx.proto: {@code ModelProto} ir_version 1, producer_name 2, graph 7, opset_import
 * 8; {@code OperatorSetIdProto} domain 1, version 2; {@code GraphProto} node 1, name 2, input 11, output 12;
 * {@code NodeProto} input 1, output 2, name 3, op_type 4, attribute 5, domain 7; {@code AttributeProto} name 1, f 2,
 * i 3, type 20; {@code ValueInfoProto} name 1, type 2; {@code TypeProto} tensor_type 1; {@code TypeProto.Tensor}
 * elem_type 1, shape 2; {@code TensorShapeProto} dim 1; {@code Dimension} dim_value 1.
 *
 * <p>Names are checked only for being non-null; an empty input name is how ONNX leaves out an optional input
 * before a later one. Not thread-safe.
 */
public final class OnnxGraphWriter {
    /** {@code TensorProto.DataType.FLOAT}. */
    static final int FLOAT32 = 1;
    /** {@code AttributeProto.AttributeType.FLOAT}. */
    static final int ATTRIBUTE_FLOAT = 1;
    /** {@code AttributeProto.AttributeType.INT}. */
    static final int ATTRIBUTE_INT = 2;

    private static final int VARINT = 0, I32 = 5, LEN = 2;

    private final String graphName;
    private final long irVersion;
    private final Map<String, Long> opsets = new LinkedHashMap<>();
    private final List<byte[]> inputs = new ArrayList<>();
    private final List<byte[]> outputs = new ArrayList<>();
    private final List<byte[]> nodes = new ArrayList<>();

    /**
     * @param graphName the graph's name
     * @param irVersion the model's IR version (10 for ONNX 1.16, opsets up to 21; 11 for ONNX 1.18, opset 23)
     */
    public OnnxGraphWriter(String graphName, long irVersion) {
        this.graphName = Objects.requireNonNull(graphName, "graphName");
        if (irVersion < 1) {
            throw new IllegalArgumentException("irVersion = " + irVersion + "; allowed: >= 1");
        }
        this.irVersion = irVersion;
    }

    /** Imports operator set {@code version} of {@code domain} ({@code ""} is the default ONNX domain). */
    public OnnxGraphWriter opset(String domain, long version) {
        Objects.requireNonNull(domain, "domain");
        if (version < 1) {
            throw new IllegalArgumentException("opset version " + version + " of domain '" + domain + "'; allowed: >= 1");
        }
        if (opsets.putIfAbsent(domain, version) != null) {
            throw new IllegalArgumentException("domain '" + domain + "' is imported twice");
        }
        return this;
    }

    /** Declares a float32 graph input of the given fixed shape. */
    public OnnxGraphWriter input(String name, long... shape) {
        inputs.add(valueInfo(name, shape));
        return this;
    }

    /** Declares a float32 graph output of the given fixed shape. */
    public OnnxGraphWriter output(String name, long... shape) {
        outputs.add(valueInfo(name, shape));
        return this;
    }

    /**
     * Adds a node.
     *
     * @param attributes by name, in the order written: an {@link Integer} or {@link Long} value is an INT attribute,
     *                   a {@link Float} or {@link Double} (narrowed to float) a FLOAT one
     */
    public OnnxGraphWriter node(String name, String opType, String domain, List<String> nodeInputs,
                                List<String> nodeOutputs, Map<String, ? extends Number> attributes) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(opType, "opType");
        Objects.requireNonNull(domain, "domain");
        Objects.requireNonNull(attributes, "attributes");
        Message node = new Message();
        for (String in : nodeInputs) {
            node.string(1, Objects.requireNonNull(in, "a node input name"));
        }
        for (String out : nodeOutputs) {
            node.string(2, Objects.requireNonNull(out, "a node output name"));
        }
        node.string(3, name).string(4, opType);
        attributes.forEach((attribute, value) -> node.message(5, attribute(attribute, value)));
        node.string(7, domain);
        nodes.add(node.bytes());
        return this;
    }

    /** The encoded {@code ModelProto}. */
    public byte[] toByteArray() {
        Message graph = new Message();
        nodes.forEach(n -> graph.bytes(1, n));
        graph.string(2, graphName);
        inputs.forEach(i -> graph.bytes(11, i));
        outputs.forEach(o -> graph.bytes(12, o));
        Message model = new Message().varint(1, irVersion).string(2, "attn4j-bench").message(7, graph);
        opsets.forEach((domain, version) -> model.message(8, new Message().string(1, domain).varint(2, version)));
        return model.bytes();
    }

    private static Message attribute(String name, Number value) {
        Objects.requireNonNull(name, "attribute name");
        Message attribute = new Message().string(1, name);
        switch (value) {
            case Integer i -> attribute.varint(3, i).varint(20, ATTRIBUTE_INT);
            case Long l -> attribute.varint(3, l).varint(20, ATTRIBUTE_INT);
            case Float f -> attribute.float32(2, f).varint(20, ATTRIBUTE_FLOAT);
            case Double d -> attribute.float32(2, d.floatValue()).varint(20, ATTRIBUTE_FLOAT);
            case null -> throw new IllegalArgumentException("attribute " + name + " has no value");
            default -> throw new IllegalArgumentException("attribute " + name + " = " + value + " is a "
                    + value.getClass().getSimpleName() + "; allowed: Integer or Long (INT), Float or Double (FLOAT)");
        }
        return attribute;
    }

    private static byte[] valueInfo(String name, long[] shape) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(shape, "shape");
        Message dims = new Message();
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("value " + name + " has shape " + Arrays.toString(shape)
                        + "; sizes must be >= 0");
            }
            dims.message(1, new Message().varint(1, d));
        }
        Message tensor = new Message().varint(1, FLOAT32).message(2, dims);
        return new Message().string(1, name).message(2, new Message().message(1, tensor)).bytes();
    }

    /** One message being written: fields appended in order. */
    private static final class Message {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        private void key(int field, int wireType) {
            raw(((long) field << 3) | wireType);
        }

        /** An unsigned varint: 7 bits a byte, low bits first, the high bit set on every byte but the last. */
        private void raw(long value) {
            while ((value & ~0x7FL) != 0) {
                out.write((int) (value & 0x7F) | 0x80);
                value >>>= 7;
            }
            out.write((int) value);
        }

        /** A varint field; a negative value takes ten bytes, as protobuf encodes a negative int64. */
        Message varint(int field, long value) {
            key(field, VARINT);
            raw(value);
            return this;
        }

        /** A float field: four little-endian bytes. */
        Message float32(int field, float value) {
            key(field, I32);
            int bits = Float.floatToRawIntBits(value);
            for (int shift = 0; shift < 32; shift += 8) {
                out.write(bits >>> shift & 0xFF);
            }
            return this;
        }

        /** A length-delimited field. */
        Message bytes(int field, byte[] value) {
            key(field, LEN);
            raw(value.length);
            out.writeBytes(value);
            return this;
        }

        Message string(int field, String value) {
            return bytes(field, value.getBytes(StandardCharsets.UTF_8));
        }

        Message message(int field, Message value) {
            return bytes(field, value.bytes());
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }
}
