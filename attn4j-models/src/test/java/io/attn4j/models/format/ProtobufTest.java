package io.attn4j.models.format;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProtobufTest {

    private static Protobuf reader(byte[] bytes) {
        return Protobuf.of(MemorySegment.ofArray(bytes), "test.pb", "Msg");
    }

    @Test
    void readsEveryWireType() {
        byte[] bytes = new Proto().varint(1, 150).varint(2, -1L).fixed32(3, 0xCAFEBABE).float64(4, Math.PI)
                .string(5, "héllo").message(6, new Proto().varint(1, 7)).float32(7, 1.5f).toByteArray();
        Protobuf r = reader(bytes);
        assertTrue(r.next());
        assertEquals(1, r.field());
        assertEquals(150, r.varint());
        assertTrue(r.next());
        assertEquals(-1L, r.varint());
        assertTrue(r.next());
        assertEquals(0xCAFEBABE, r.fixed32());
        assertTrue(r.next());
        assertEquals(Math.PI, r.float64());
        assertTrue(r.next());
        assertEquals("héllo", r.string());
        assertTrue(r.next());
        Protobuf inner = r.message("inner");
        assertTrue(inner.next());
        assertEquals(7, inner.varint());
        assertFalse(inner.next());
        assertEquals("Msg.inner", inner.path());
        assertTrue(r.next());
        assertEquals(1.5f, r.float32());
        assertFalse(r.next());
    }

    @Test
    void varintsUseAllTenBytes() {
        for (long v : new long[] {0, 1, 127, 128, 300, Integer.MAX_VALUE, 1L << 35, Long.MAX_VALUE, Long.MIN_VALUE, -2}) {
            Protobuf r = reader(new Proto().varint(1, v).toByteArray());
            assertTrue(r.next());
            assertEquals(v, r.varint(), "value " + v);
        }
        assertEquals(-5, readInt32(new Proto().varint(1, -5).toByteArray()));
    }

    private static int readInt32(byte[] bytes) {
        Protobuf r = reader(bytes);
        r.next();
        return r.int32();
    }

    @Test
    void skipsUnreadFieldsAndNestedGroups() {
        byte[] bytes = new Proto().varint(9, 1).key(10, 3).varint(1, 5).key(11, 3).fixed64(2, 3).key(11, 4)
                .string(3, "x").key(10, 4).fixed32(12, 4).varint(2, 42).toByteArray();
        Protobuf r = reader(bytes);
        List<Integer> fields = new ArrayList<>();
        long value = -1;
        while (r.next()) {
            fields.add(r.field());
            if (r.field() == 2) {
                value = r.varint();
            }
        }
        assertEquals(List.of(9, 10, 12, 2), fields);
        assertEquals(42, value);
    }

    @Test
    void repeatedScalarsPackedOrNot() {
        byte[] bytes = new Proto().packedVarints(1, 1, 300, -1).varint(1, 4).packedFloats(2, 1f, 2f).float32(2, 3f)
                .packedDoubles(3, 0.5).float64(3, 0.25).toByteArray();
        List<Long> varints = new ArrayList<>();
        List<Float> floats = new ArrayList<>();
        List<Double> doubles = new ArrayList<>();
        long[] counts = new long[4];
        Protobuf r = reader(bytes);
        while (r.next()) {
            switch (r.field()) {
                case 1 -> r.forEachVarint(varints::add);
                case 2 -> r.forEachFixed32(bits -> floats.add(Float.intBitsToFloat(bits)));
                case 3 -> r.forEachFixed64(bits -> doubles.add(Double.longBitsToDouble(bits)));
                default -> { }
            }
        }
        r = reader(bytes);
        while (r.next()) {
            counts[r.field()] += r.repeatedCount(r.field() == 1 ? Protobuf.VARINT : r.field() == 2 ? Protobuf.I32 : Protobuf.I64);
        }
        assertEquals(List.of(1L, 300L, -1L, 4L), varints);
        assertEquals(List.of(1f, 2f, 3f), floats);
        assertEquals(List.of(0.5, 0.25), doubles);
        assertEquals(4, counts[1]);
        assertEquals(3, counts[2]);
        assertEquals(2, counts[3]);
    }

    @Test
    void corruptInputsNameTheFieldAndOffset() {
        // a length past the end of the message
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> read(new Proto().varint(1, 1).key(2, 2).raw(Proto.varintBytes(1000)).raw(new byte[3]).toByteArray()));
        assertTrue(e.getMessage().contains("test.pb: Msg: field 2 declares a length of 1000 bytes but 3 remain"), e.getMessage());
        assertTrue(e.getMessage().contains("offset 2"), e.getMessage());
        // a length that is negative as a signed 64-bit number
        e = assertThrows(ModelFormatException.class,
                () -> read(new Proto().key(2, 2).raw(Proto.varintBytes(-1)).toByteArray()));
        assertTrue(e.getMessage().contains("18446744073709551615"), e.getMessage());
        // varint runs past the end, or is too long
        assertMessage(new byte[] {8, (byte) 0x80}, "varint runs past the end");
        byte[] eleven = new byte[12];
        eleven[0] = 8;
        java.util.Arrays.fill(eleven, 1, 12, (byte) 0x80);
        assertMessage(eleven, "longer than 10 bytes");
        // field number 0, wire types 6 and 7, a stray end-group, an unclosed group, a mismatched end-group
        assertMessage(new byte[] {0x02, 0}, "field number 0");
        assertMessage(new byte[] {0x0E}, "wire type 6");
        assertMessage(new byte[] {0x0F}, "wire type 7");
        assertMessage(new Proto().key(3, 4).toByteArray(), "without a matching start-group");
        assertMessage(new Proto().key(3, 3).varint(1, 1).toByteArray(), "no end-group marker");
        assertMessage(new Proto().key(3, 3).key(4, 4).toByteArray(), "closes group 3");
        // truncated fixed-width values
        assertMessage(new byte[] {0x0D, 1, 2}, "needs 4 bytes but 2 remain");
        assertMessage(new byte[] {0x09, 1}, "needs 8 bytes but 1 remain");
        // groups nested past the limit
        Proto deep = new Proto();
        for (int i = 0; i < Protobuf.MAX_GROUP_DEPTH + 2; i++) {
            deep.key(1, 3);
        }
        assertMessage(deep.toByteArray(), "groups nested deeper than");
    }

    @Test
    void wrongWireTypeAndInvalidUtf8AreReported() {
        Protobuf r = reader(new Proto().varint(1, 5).toByteArray());
        r.next();
        ModelFormatException e = assertThrows(ModelFormatException.class, r::string);
        assertTrue(e.getMessage().contains("wire type 0 (varint) but is read as length-delimited"), e.getMessage());
        Protobuf bad = reader(new Proto().bytes(1, new byte[] {(byte) 0xC3, 0x28}).toByteArray());
        bad.next();
        e = assertThrows(ModelFormatException.class, bad::string);
        assertTrue(e.getMessage().contains("not valid UTF-8"), e.getMessage());
    }

    @Test
    void packedRunsAreValidated() {
        Protobuf r = reader(new Proto().bytes(1, new byte[] {1, 2, 3}).toByteArray());
        r.next();
        assertThrows(ModelFormatException.class, () -> r.repeatedCount(Protobuf.I32));
        Protobuf v = reader(new Proto().bytes(1, new byte[] {1, (byte) 0x80}).toByteArray());
        v.next();
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> v.repeatedCount(Protobuf.VARINT));
        assertTrue(e.getMessage().contains("ends inside a varint"), e.getMessage());
        Protobuf w = reader(new Proto().bytes(1, new byte[] {1, (byte) 0x80}).toByteArray());
        w.next();
        assertThrows(ModelFormatException.class, () -> w.forEachVarint(x -> { }));
        Protobuf f = reader(new Proto().fixed64(1, 1).toByteArray());
        f.next();
        e = assertThrows(ModelFormatException.class, () -> f.forEachFixed32(x -> { }));
        assertTrue(e.getMessage().contains("a repeated 5 (32-bit) field is encoded as"), e.getMessage());
    }

    private static void read(byte[] bytes) {
        Protobuf r = reader(bytes);
        while (r.next()) {
            r.skip();
        }
    }

    private static void assertMessage(byte[] bytes, String expected) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> read(bytes));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().startsWith("test.pb: Msg: "), e.getMessage());
    }
}
