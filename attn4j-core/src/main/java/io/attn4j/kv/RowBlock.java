package io.attn4j.kv;

import io.attn4j.simd.VectorOps;
import io.attn4j.simd.VectorOpsProvider;

import java.util.Arrays;

/**
 * A fixed number of rows of {@code dim} elements in one {@link KvFormat}: the unit a {@link KvCache} allocates
 * (a whole stream when contiguous, one page when paged). float32 rows are kept as floats the kernels read in place;
 * quantised rows as codes plus a {@code (lo, step)} pair per group, dequantised tile by tile into the reader's
 * scratch.
 */
final class RowBlock {
    private static final VectorOps SCALAR = VectorOpsProvider.scalar();
    private final KvFormat format;
    private final int dim, capacity, groups, codeBytes;
    private final float[] floats;  // float32: capacity·dim
    private final byte[] codes;    // quantised: capacity·codeBytes
    private final float[] scales;  // quantised: capacity·groups·2, (lo, step) per group

    RowBlock(KvFormat format, int dim, int capacity) {
        this.format = format;
        this.dim = dim;
        this.capacity = capacity;
        this.groups = format.groups(dim);
        this.codeBytes = format.codeBytes(dim);
        if (format.quantized()) {
            floats = null;
            codes = new byte[Math.multiplyExact(capacity, codeBytes)];
            scales = new float[Math.multiplyExact(capacity, 2 * groups)];
        } else {
            floats = new float[Math.multiplyExact(capacity, dim)];
            codes = null;
            scales = null;
        }
    }

    int capacity() {
        return capacity;
    }

    /** Bytes held: codes (or floats) and scales of every row of the capacity. */
    long bytes() {
        return (long) capacity * format.bytesPerRow(dim);
    }

    /**
     * Stores {@code src[offset .. offset + dim)} as row {@code row}, quantising when the format says so. int8 codes
     * are stored signed ({@code c − 128}) with the group's scale pair {@code (lo + 128·step, step)}, so a row
     * dequantises as {@code bias + step · code} with the SIMD byte conversion; int4 codes pack element {@code i} of a
     * group with element {@code i + ⌈m/2⌉} in one byte (low and high nibble), so both halves of a group dequantise
     * without interleaving lanes ({@link VectorOps#dequantizeNibbles}).
     */
    void write(int row, float[] src, int offset) {
        if (floats != null) {
            System.arraycopy(src, offset, floats, row * dim, dim);
            return;
        }
        int maxCode = format.precision().maxCode(), group = format.groupSize();
        boolean int8 = format.precision() == KvFormat.Precision.INT8;
        for (int gi = 0; gi < groups; gi++) {
            int from = gi * group, to = Math.min(dim, from + group), m = to - from, half = (m + 1) / 2;
            float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
            for (int c = from; c < to; c++) {
                float x = src[offset + c];
                lo = Math.min(lo, x);
                hi = Math.max(hi, x);
            }
            float step = (hi - lo) / maxCode;
            float inverse = step == 0 ? 0 : 1f / step;
            scales[(row * groups + gi) * 2] = int8 ? lo + 128 * step : lo;
            scales[(row * groups + gi) * 2 + 1] = step;
            int base = row * codeBytes + (int8 ? from : from / 2);
            if (!int8) {
                java.util.Arrays.fill(codes, base, base + half, (byte) 0);
            }
            for (int c = from; c < to; c++) {
                int code = Math.max(0, Math.min(maxCode, Math.round((src[offset + c] - lo) * inverse)));
                if (int8) {
                    codes[base + c - from] = (byte) (code - 128);
                } else {
                    int e = c - from, at = base + (e < half ? e : e - half);
                    codes[at] = (byte) (e < half ? (codes[at] & 0xF0) | code : (codes[at] & 0x0F) | (code << 4));
                }
            }
        }
    }

    /** Row {@code row} as floats into {@code dst[offset ..]} (dequantised). */
    void read(int row, float[] dst, int offset) {
        if (floats != null) {
            System.arraycopy(floats, row * dim, dst, offset, dim);
        } else {
            dequantize(row, 1, dst, offset, SCALAR);
        }
    }

    /**
     * The array that holds rows {@code [row, row + n)} as floats, {@code dim} apart from {@link #offset}: the block's
     * own floats (float32), or {@code scratch} after dequantising into it (at least {@code n·dim} floats).
     */
    float[] rows(int row, int n, float[] scratch, VectorOps ops) {
        if (floats != null) {
            return floats;
        }
        dequantize(row, n, scratch, 0, ops);
        return scratch;
    }

    /** Where row {@code row} starts in the array {@link #rows} returned. */
    int offset(int row) {
        return floats != null ? row * dim : 0;
    }

    private void dequantize(int row, int n, float[] dst, int offset, VectorOps ops) {
        int group = format.groupSize();
        boolean int8 = format.precision() == KvFormat.Precision.INT8;
        for (int r = 0; r < n; r++) {
            int codeRow = (row + r) * codeBytes, scaleRow = (row + r) * groups * 2, out = offset + r * dim;
            for (int gi = 0; gi < groups; gi++) {
                float bias = scales[scaleRow + 2 * gi], step = scales[scaleRow + 2 * gi + 1];
                int from = gi * group, m = Math.min(dim, from + group) - from;
                if (int8) {
                    ops.dequantizeBytes(codes, codeRow + from, bias, step, dst, out + from, m);
                } else {
                    ops.dequantizeNibbles(codes, codeRow + from / 2, bias, step, dst, out + from, m);
                }
            }
        }
    }

    /** Copies row {@code from} of this block to row {@code to} of {@code target} (same format and dim), as stored. */
    void copyRow(int from, RowBlock target, int to) {
        if (floats != null) {
            System.arraycopy(floats, from * dim, target.floats, to * dim, dim);
        } else {
            System.arraycopy(codes, from * codeBytes, target.codes, to * codeBytes, codeBytes);
            System.arraycopy(scales, from * groups * 2, target.scales, to * groups * 2, groups * 2);
        }
    }

    /** Copies rows {@code [from, from + n)} to {@code target} from row {@code to}, as stored. */
    void copyRows(int from, RowBlock target, int to, int n) {
        if (floats != null) {
            System.arraycopy(floats, from * dim, target.floats, to * dim, n * dim);
        } else {
            System.arraycopy(codes, from * codeBytes, target.codes, to * codeBytes, n * codeBytes);
            System.arraycopy(scales, from * groups * 2, target.scales, to * groups * 2, n * groups * 2);
        }
    }

    /** Fills rows {@code [from, capacity)} with NaN (float32) so a read past the length shows in tests. */
    void poison(int from) {
        if (floats != null) {
            Arrays.fill(floats, from * dim, floats.length, Float.NaN);
        }
    }
}
