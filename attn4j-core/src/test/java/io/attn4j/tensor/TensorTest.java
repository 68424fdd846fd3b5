package io.attn4j.tensor;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TensorTest {

    private static Tensor iota(int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] a = t.array();
        for (int i = 0; i < a.length; i++) {
            a[i] = i;
        }
        return t;
    }

    @Test
    void viewsShareStorageAndIndexCorrectly() {
        Tensor t = iota(2, 3, 4);
        assertEquals(1 * 12 + 2 * 4 + 3, t.get(1, 2, 3));
        Tensor p = t.permute(2, 0, 1);
        assertArrayEquals(new int[] {4, 2, 3}, p.shape());
        assertEquals(t.get(1, 2, 3), p.get(3, 1, 2));
        assertFalse(p.isContiguous());
        Tensor s = t.slice(1, 1, 3);
        assertEquals(t.get(0, 1, 0), s.get(0, 0, 0));
        s.set(-1f, 1, 1, 2);
        assertEquals(-1f, t.get(1, 2, 2), "slices share storage");
        Tensor sel = t.select(0, 1);
        assertEquals(t.get(1, 0, 1), sel.get(0, 1));
        Tensor r = t.reshape(6, 4);
        assertEquals(t.get(1, 1, 1), r.get(4, 1));
        Tensor c = p.copy();
        assertTrue(c.isContiguous());
        assertEquals(p.get(3, 1, 2), c.get(3, 1, 2));
    }

    @Test
    void badShapesAndIndicesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(2, -1));
        assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[5], 2, 3));
        Tensor t = iota(2, 3);
        assertThrows(IndexOutOfBoundsException.class, () -> t.get(2, 0));
        assertThrows(IllegalArgumentException.class, () -> t.get(0));
        assertThrows(IllegalArgumentException.class, () -> t.permute(0, 0));
        assertThrows(IllegalArgumentException.class, () -> t.slice(1, 2, 4));
        assertThrows(IllegalArgumentException.class, () -> t.permute(1, 0).reshape(6));
        assertThrows(IllegalArgumentException.class, () -> t.reshape(4, 2));
    }

    @Test
    void segmentTensorsReadLittleEndianFloats() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(6 * Float.BYTES);
            for (int i = 0; i < 6; i++) {
                seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, i * 1.5f);
            }
            Tensor t = Tensor.wrap(seg, 2, 3);
            assertFalse(t.isHeap());
            assertEquals(7.5f, t.get(1, 2));
            Tensor h = t.permute(1, 0).toHeap();
            assertTrue(h.isHeap());
            assertEquals(4.5f, h.get(0, 1));
            assertThrows(IllegalStateException.class, t::array);
            assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(seg, 4, 2));
        }
    }

    @Test
    void firstNonFiniteFindsTheFirstBadElement() {
        Tensor t = iota(3, 4);
        assertNull(t.firstNonFinite());
        t.set(Float.POSITIVE_INFINITY, 2, 1);
        t.set(Float.NaN, 1, 3);
        assertArrayEquals(new int[] {1, 3}, t.firstNonFinite());
        assertArrayEquals(new int[] {1, 2}, t.permute(1, 0).firstNonFinite(), "row-major order of the view");
    }

    @Test
    void layoutsNameTheirAxes() {
        assertArrayEquals(new int[] {2, 5, 3, 8}, Layout.BSHD.shape(2, 5, 3, 8));
        assertArrayEquals(new int[] {2, 3, 5, 8}, Layout.BHSD.shape(2, 5, 3, 8));
        assertEquals(2, Layout.BHSD.seqAxis());
    }
}
