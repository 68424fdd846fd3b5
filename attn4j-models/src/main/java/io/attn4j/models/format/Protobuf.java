package io.attn4j.models.format;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.function.IntConsumer;
import java.util.function.LongConsumer;

/**
 * A reader of the protobuf wire format (the encoding of ONNX files) over a {@link MemorySegment}, without
 * protobuf-java and without a schema: the caller walks the fields of one message and says how to read each.
 *
 * <pre>{@code
 * Protobuf model = Protobuf.of(segment, "model.onnx", "ModelProto");
 * while (model.next()) {
 *     switch (model.field()) {
 *         case 2 -> producer = model.string();
 *         case 7 -> readGraph(model.message("graph"));
 *         default -> { }                      // next() skips a value that was not read, groups included
 *     }
 * }
 * }</pre>
 *
 * <p>Choices:
 * <ul>
 *   <li><b>Offsets are {@code long}</b>, so a file over 2 GB reads like any other. Length-delimited values are
 *       returned as slices of the segment ({@link #bytes()}, {@link #message(String)}): nothing is copied.</li>
 *   <li><b>Everything is bounds-checked</b> against the end of the enclosing message, not only the file: a
 *       truncated or corrupt input throws {@link ModelFormatException} naming the source, the message path
 *       ({@code ModelProto.graph.initializer[3]}), the field and the offset. Nothing is allocated from a declared
 *       length before that length is known to fit the bytes that remain, and every step consumes at least one
 *       byte, so no input makes the reader loop forever.</li>
 *   <li><b>Unknown fields are skipped</b> whatever their wire type, including (deprecated) groups, nested up to
 *       {@value #MAX_GROUP_DEPTH} deep; a varint longer than 10 bytes, a field number 0, wire types 6 and 7 and an
 *       unmatched end-group are errors.</li>
 *   <li><b>Repeated scalars</b> are read in both encodings, one value per field or packed into one
 *       length-delimited field ({@link #forEachVarint}, {@link #forEachFixed32}, {@link #forEachFixed64}): proto2
 *       files such as ONNX's may use either, and a reader must accept both.</li>
 *   <li>Strings must be valid UTF-8.</li>
 * </ul>
 *
 * <p>A reader is a cursor: not thread-safe, cheap to create.
 */
public final class Protobuf {
    /** Wire type of {@code int32}, {@code int64}, {@code uint64}, {@code bool} and enum fields. */
    public static final int VARINT = 0;
    /** Wire type of {@code fixed64}, {@code sfixed64} and {@code double} fields. */
    public static final int I64 = 1;
    /** Wire type of strings, bytes, messages and packed repeated scalars. */
    public static final int LEN = 2;
    /** Wire type of a (deprecated) group's start marker. */
    public static final int SGROUP = 3;
    /** Wire type of a (deprecated) group's end marker. */
    public static final int EGROUP = 4;
    /** Wire type of {@code fixed32}, {@code sfixed32} and {@code float} fields. */
    public static final int I32 = 5;

    /** The largest field number protobuf allows (2^29 − 1). */
    public static final int MAX_FIELD_NUMBER = (1 << 29) - 1;
    /** Groups nested deeper than this are refused rather than risking the stack. */
    public static final int MAX_GROUP_DEPTH = 100;

    private static final ValueLayout.OfInt INT_LE =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment data;
    private final String source;
    private final String path;
    private final long end;
    private long position;
    private int field;
    private int wireType;
    private long fieldOffset;
    /** The current field's value has not been read yet: {@link #next()} skips it. */
    private boolean pending;

    private Protobuf(MemorySegment data, String source, String path, long start, long end) {
        this.data = data;
        this.source = source;
        this.path = path;
        this.position = start;
        this.end = end;
        this.fieldOffset = start;
    }

    /**
     * A reader of the message that fills all of {@code data}.
     *
     * @param source      the file (or other origin) named in error messages
     * @param messageName the message type named in error messages, e.g. {@code ModelProto}
     */
    public static Protobuf of(MemorySegment data, String source, String messageName) {
        Objects.requireNonNull(data, "data");
        return new Protobuf(data, Objects.requireNonNull(source, "source"),
                Objects.requireNonNull(messageName, "messageName"), 0, data.byteSize());
    }

    /**
     * A reader of the message in {@code [start, end)} of {@code data}; error offsets stay those of {@code data}.
     * Used to read a message again later (a tensor's typed values on request).
     */
    static Protobuf of(MemorySegment data, String source, String path, long start, long end) {
        if (start < 0 || start > end || end > data.byteSize()) {
            throw new IllegalArgumentException("message range [" + start + ", " + end + ") is outside the "
                    + data.byteSize() + " bytes of " + source);
        }
        return new Protobuf(data, source, path, start, end);
    }

    /** The offset of the next unread byte. */
    long position() {
        return position;
    }

    /** The offset just past this message. */
    long end() {
        return end;
    }

    /** The source named in error messages. */
    public String source() {
        return source;
    }

    /** The path of this message from the root, e.g. {@code ModelProto.graph.node[4]}. */
    public String path() {
        return path;
    }

    /**
     * Moves to the next field, skipping the value of the current one if it was not read.
     *
     * @return false at the end of the message
     */
    public boolean next() {
        if (pending) {
            skip();
        }
        if (position >= end) {
            return false;
        }
        fieldOffset = position;
        long key = readKey();
        int type = (int) (key & 7);
        int number = (int) (key >>> 3);
        if (type == EGROUP) {
            throw error(fieldOffset, "end-group marker of field " + number + " without a matching start-group");
        }
        field = number;
        wireType = type;
        pending = true;
        return true;
    }

    /** The number of the current field. */
    public int field() {
        return field;
    }

    /** The wire type of the current field ({@link #VARINT}, {@link #I64}, {@link #LEN}, {@link #SGROUP}, {@link #I32}). */
    public int wireType() {
        return wireType;
    }

    /** The offset of the current field's key in the segment. */
    public long fieldOffset() {
        return fieldOffset;
    }

    /** The value of the current field as an unsigned 64-bit varint ({@code int64}, {@code uint64}, enums). */
    public long varint() {
        expect(VARINT, "a varint");
        return readVarint("value of field " + field);
    }

    /** The value of the current {@code int32} or enum field (protobuf sign-extends negative ones to 64 bits). */
    public int int32() {
        return (int) varint();
    }

    /** The value of the current {@code bool} field. */
    public boolean bool() {
        return varint() != 0;
    }

    /** The value of the current 32-bit field ({@code fixed32}, {@code sfixed32}). */
    public int fixed32() {
        expect(I32, "32-bit");
        return readFixed32();
    }

    /** The value of the current {@code float} field. */
    public float float32() {
        return Float.intBitsToFloat(fixed32());
    }

    /** The value of the current 64-bit field ({@code fixed64}, {@code sfixed64}). */
    public long fixed64() {
        expect(I64, "64-bit");
        return readFixed64();
    }

    /** The value of the current {@code double} field. */
    public double float64() {
        return Double.longBitsToDouble(fixed64());
    }

    /** The value of the current length-delimited field, as a slice of the segment (no copy). */
    public MemorySegment bytes() {
        expect(LEN, "length-delimited");
        long length = readLength();
        MemorySegment slice = data.asSlice(position, length);
        position += length;
        return slice;
    }

    /** The value of the current length-delimited field as UTF-8 text. */
    public String string() {
        long at = fieldOffset;
        MemorySegment bytes = bytes();
        if (bytes.byteSize() > Integer.MAX_VALUE - 8) {
            throw error(at, "field " + field + " is a string of " + bytes.byteSize()
                    + " bytes; strings are read up to " + (Integer.MAX_VALUE - 8) + " bytes");
        }
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(bytes.asByteBuffer())
                    .toString();
        } catch (CharacterCodingException e) {
            throw error(at, "field " + field + " is not valid UTF-8 text");
        }
    }

    /**
     * A reader of the embedded message in the current length-delimited field.
     *
     * @param name the field's name, appended to the path in error messages ({@code "initializer[3]"})
     */
    public Protobuf message(String name) {
        expect(LEN, "an embedded message");
        long length = readLength();
        Protobuf nested = new Protobuf(data, source, path + "." + name, position, position + length);
        position += length;
        return nested;
    }

    /** Skips the value of the current field (a group up to its matching end marker). */
    public void skip() {
        if (!pending) {
            throw new IllegalStateException("no field to skip: call next() first");
        }
        pending = false;
        skipValue(field, wireType, 0, fieldOffset);
    }

    /**
     * The number of elements in the current field of a repeated scalar whose elements have wire type
     * {@code elementType} ({@link #VARINT}, {@link #I32} or {@link #I64}): 1 in the unpacked encoding, the
     * packed count in a length-delimited field. Consumes the value; a packed varint run is validated.
     */
    public long repeatedCount(int elementType) {
        if (wireType == elementType) {
            skip();
            return 1;
        }
        long at = fieldOffset;
        MemorySegment packed = packed(elementType);
        return switch (elementType) {
            case I32 -> multipleOf(packed, 4, at) / 4;
            case I64 -> multipleOf(packed, 8, at) / 8;
            default -> {
                long count = 0;
                long run = 0;
                for (long i = 0; i < packed.byteSize(); i++) {
                    byte b = packed.get(ValueLayout.JAVA_BYTE, i);
                    if (++run > 10) {
                        throw error(at, "packed field " + field + " holds a varint longer than 10 bytes");
                    }
                    if (b >= 0) {
                        count++;
                        run = 0;
                    }
                }
                if (run != 0) {
                    throw error(at, "packed field " + field + " ends inside a varint");
                }
                yield count;
            }
        };
    }

    /** Passes each varint of the current field of a repeated varint scalar, packed or not, to {@code action}. */
    public void forEachVarint(LongConsumer action) {
        if (wireType == VARINT) {
            action.accept(varint());
            return;
        }
        long length = packedLength(VARINT);
        Protobuf run = new Protobuf(data, source, path, position, position + length);
        position += length;
        while (run.position < run.end) {
            action.accept(run.readVarint("packed field " + field));
        }
    }

    /** Passes each value of the current field of a repeated 32-bit scalar, packed or not, to {@code action}. */
    public void forEachFixed32(IntConsumer action) {
        if (wireType == I32) {
            action.accept(fixed32());
            return;
        }
        long at = fieldOffset;
        MemorySegment packed = packed(I32);
        long n = multipleOf(packed, 4, at) / 4;
        for (long i = 0; i < n; i++) {
            action.accept(packed.get(INT_LE, i * 4));
        }
    }

    /** Passes each value of the current field of a repeated 64-bit scalar, packed or not, to {@code action}. */
    public void forEachFixed64(LongConsumer action) {
        if (wireType == I64) {
            action.accept(fixed64());
            return;
        }
        long at = fieldOffset;
        MemorySegment packed = packed(I64);
        long n = multipleOf(packed, 8, at) / 8;
        for (long i = 0; i < n; i++) {
            action.accept(packed.get(LONG_LE, i * 8));
        }
    }

    /**
     * An error about the current field: the source, the message path, the field number, {@code what}, and the
     * offset of the field's key.
     */
    public ModelFormatException error(String what) {
        return error(fieldOffset, "field " + field + ": " + what);
    }

    private ModelFormatException error(long offset, String what) {
        return new ModelFormatException(source + ": " + path + ": " + what + " (at byte offset " + offset + ")");
    }

    private MemorySegment packed(int elementType) {
        long length = packedLength(elementType);
        MemorySegment slice = data.asSlice(position, length);
        position += length;
        return slice;
    }

    /** Checks that the current field is a packed run and reads its length; the run starts at {@code position}. */
    private long packedLength(int elementType) {
        if (wireType != LEN) {
            throw error(fieldOffset, "field " + field + " has wire type " + wireName(wireType) + "; a repeated "
                    + wireName(elementType) + " field is encoded as " + wireName(elementType)
                    + " or packed (length-delimited)");
        }
        expect(LEN, "packed");
        return readLength();
    }

    private long multipleOf(MemorySegment packed, int size, long at) {
        if (packed.byteSize() % size != 0) {
            throw error(at, "packed field " + field + " has " + packed.byteSize()
                    + " bytes, not a multiple of the element size " + size);
        }
        return packed.byteSize();
    }

    private void expect(int type, String what) {
        if (!pending) {
            throw new IllegalStateException("the value of field " + field + " was already read: call next() first");
        }
        if (wireType != type) {
            throw error(fieldOffset, "field " + field + " has wire type " + wireName(wireType) + " but is read as "
                    + what + " (wire type " + wireName(type) + ")");
        }
        pending = false;
    }

    private static String wireName(int type) {
        return switch (type) {
            case VARINT -> "0 (varint)";
            case I64 -> "1 (64-bit)";
            case LEN -> "2 (length-delimited)";
            case SGROUP -> "3 (start group)";
            case EGROUP -> "4 (end group)";
            case I32 -> "5 (32-bit)";
            default -> String.valueOf(type);
        };
    }

    /** Reads a field key and checks its field number and wire type. */
    private long readKey() {
        long at = position;
        long key = readVarint("field key");
        long number = key >>> 3;
        int type = (int) (key & 7);
        if (number == 0 || number > MAX_FIELD_NUMBER) {
            throw error(at, "field number " + Long.toUnsignedString(number) + " is outside 1.." + MAX_FIELD_NUMBER);
        }
        if (type > I32) {
            throw error(at, "field " + number + " has wire type " + type
                    + "; wire types are 0 (varint), 1 (64-bit), 2 (length-delimited), 3 and 4 (group), 5 (32-bit)");
        }
        return key;
    }

    private long readVarint(String what) {
        long at = position;
        long result = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (position >= end) {
                throw error(at, what + ": varint runs past the end of " + path);
            }
            byte b = data.get(ValueLayout.JAVA_BYTE, position++);
            result |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return result;
            }
        }
        throw error(at, what + ": varint longer than 10 bytes");
    }

    /** Reads a length prefix and checks that many bytes remain in this message. */
    private long readLength() {
        long at = fieldOffset;
        long length = readVarint("length of field " + field);
        long remaining = end - position;
        if (length < 0 || length > remaining) {
            throw error(at, "field " + field + " declares a length of " + Long.toUnsignedString(length)
                    + " bytes but " + remaining + " remain in " + path);
        }
        return length;
    }

    private int readFixed32() {
        advance(4, "32-bit value of field " + field);
        return data.get(INT_LE, position - 4);
    }

    private long readFixed64() {
        advance(8, "64-bit value of field " + field);
        return data.get(LONG_LE, position - 8);
    }

    private void advance(long n, String what) {
        if (n > end - position) {
            throw error(fieldOffset, what + " needs " + n + " bytes but " + (end - position) + " remain in " + path);
        }
        position += n;
    }

    private void skipValue(int number, int type, int depth, long keyOffset) {
        switch (type) {
            case VARINT -> readVarint("value of field " + number);
            case I64 -> advance(8, "64-bit value of field " + number);
            case I32 -> advance(4, "32-bit value of field " + number);
            case LEN -> {
                long length = readLength(); // not "position += readLength()": that adds to the position before the prefix
                position += length;
            }
            case SGROUP -> skipGroup(number, depth + 1, keyOffset);
            default -> throw new AssertionError("wire type " + type + " passed readKey");
        }
    }

    private void skipGroup(int number, int depth, long start) {
        if (depth > MAX_GROUP_DEPTH) {
            throw error(start, "groups nested deeper than " + MAX_GROUP_DEPTH);
        }
        while (true) {
            if (position >= end) {
                throw error(start, "group " + number + " has no end-group marker before the end of " + path);
            }
            long at = position;
            long key = readKey();
            int type = (int) (key & 7);
            int inner = (int) (key >>> 3);
            if (type == EGROUP) {
                if (inner != number) {
                    throw error(at, "end-group marker of field " + inner + " closes group " + number);
                }
                return;
            }
            skipValue(inner, type, depth, at);
        }
    }
}
