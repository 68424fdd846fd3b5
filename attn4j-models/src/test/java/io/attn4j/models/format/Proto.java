package io.attn4j.models.format;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A tiny protobuf encoder for tests, written independently of the reader under test: fields of every wire type,
 * packed runs, and raw bytes for deliberately broken encodings.
 */
final class Proto {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    static byte[] varintBytes(long value) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        while ((value & ~0x7FL) != 0) {
            b.write((int) ((value & 0x7F) | 0x80));
            value >>>= 7;
        }
        b.write((int) value);
        return b.toByteArray();
    }

    Proto key(int field, int wireType) {
        out.writeBytes(varintBytes(((long) field << 3) | wireType));
        return this;
    }

    Proto raw(byte... bytes) {
        out.writeBytes(bytes);
        return this;
    }

    Proto varint(int field, long value) {
        key(field, 0);
        out.writeBytes(varintBytes(value));
        return this;
    }

    Proto fixed32(int field, int value) {
        key(field, 5);
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(value).array());
        return this;
    }

    Proto float32(int field, float value) {
        return fixed32(field, Float.floatToRawIntBits(value));
    }

    Proto fixed64(int field, long value) {
        key(field, 1);
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array());
        return this;
    }

    Proto float64(int field, double value) {
        return fixed64(field, Double.doubleToRawLongBits(value));
    }

    Proto bytes(int field, byte[] value) {
        key(field, 2);
        out.writeBytes(varintBytes(value.length));
        out.writeBytes(value);
        return this;
    }

    Proto string(int field, String value) {
        return bytes(field, value.getBytes(StandardCharsets.UTF_8));
    }

    Proto message(int field, Proto message) {
        return bytes(field, message.toByteArray());
    }

    Proto packedVarints(int field, long... values) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (long v : values) {
            b.writeBytes(varintBytes(v));
        }
        return bytes(field, b.toByteArray());
    }

    Proto packedFloats(int field, float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return bytes(field, b.array());
    }

    Proto packedDoubles(int field, double... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : values) {
            b.putDouble(v);
        }
        return bytes(field, b.array());
    }

    byte[] toByteArray() {
        return out.toByteArray();
    }
}
