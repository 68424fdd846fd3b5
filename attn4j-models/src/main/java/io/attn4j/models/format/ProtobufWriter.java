package io.attn4j.models.format;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The few protobuf encodings {@link OnnxModel#withExtraOutputs} needs to write small messages: keys, varints and
 * length-delimited fields, into a growing byte array. Not a general encoder (no fixed-width, no packed fields).
 */
final class ProtobufWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** Writes a field key. */
    ProtobufWriter key(int field, int wireType) {
        return varint(((long) field << 3) | wireType);
    }

    /** Writes an unsigned varint. */
    ProtobufWriter varint(long value) {
        while ((value & ~0x7FL) != 0) {
            out.write((int) ((value & 0x7F) | 0x80));
            value >>>= 7;
        }
        out.write((int) value);
        return this;
    }

    /** Writes a varint field. */
    ProtobufWriter varintField(int field, long value) {
        return key(field, Protobuf.VARINT).varint(value);
    }

    /** Writes a length-delimited field holding {@code bytes}. */
    ProtobufWriter bytesField(int field, byte[] bytes) {
        key(field, Protobuf.LEN).varint(bytes.length);
        out.writeBytes(bytes);
        return this;
    }

    /** Writes a UTF-8 string field. */
    ProtobufWriter stringField(int field, String value) {
        return bytesField(field, value.getBytes(StandardCharsets.UTF_8));
    }

    /** Writes an embedded message field. */
    ProtobufWriter messageField(int field, ProtobufWriter message) {
        return bytesField(field, message.toByteArray());
    }

    byte[] toByteArray() {
        return out.toByteArray();
    }

    /** The encoding of {@code value} as a varint. */
    static byte[] varintBytes(long value) {
        return new ProtobufWriter().varint(value).toByteArray();
    }
}
