package io.attn4j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;

/**
 * A float32 tensor: a shape and strides over a {@code float[]} or a {@link MemorySegment}.
 *
 * <p>Views ({@link #permute}, {@link #slice}, {@link #select}, {@link #reshape} of contiguous data) share storage
 * with the tensor they come from; nothing is copied unless a method says so ({@link #copy}, {@link #toHeap}).
 * Element {@code [i0, i1, ...]} lives at storage index {@code offset + Σ i_a · stride_a}.
 *
 * <p>Segment-backed tensors hold little-endian float32 (the layout of safetensors and ONNX raw data) and may be
 * larger than 2 GB. Attention kernels read heap tensors; {@link #toHeap()} copies a segment-backed one.
 *
 * <p>A tensor is not synchronised: concurrent writes to overlapping elements are the caller's to order.
 */
public final class Tensor {
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    private final float[] array;
    private final MemorySegment segment;
    private final long offset;
    private final int[] shape;
    private final long[] strides;

    private Tensor(float[] array, MemorySegment segment, long offset, int[] shape, long[] strides) {
        this.array = array;
        this.segment = segment;
        this.offset = offset;
        this.shape = shape;
        this.strides = strides;
    }

    /** A new zero-filled heap tensor with the given shape (row-major). */
    public static Tensor zeros(int... shape) {
        long n = checkShape(shape);
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has " + n
                    + " elements; heap tensors hold at most " + (Integer.MAX_VALUE - 8));
        }
        return new Tensor(new float[(int) n], null, 0, shape.clone(), rowMajorStrides(shape));
    }

    /** Wraps {@code data} (no copy) as a row-major tensor of the given shape. */
    public static Tensor of(float[] data, int... shape) {
        Objects.requireNonNull(data, "data");
        long n = checkShape(shape);
        if (n != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n
                    + " elements but data has " + data.length);
        }
        return new Tensor(data, null, 0, shape.clone(), rowMajorStrides(shape));
    }

    /** Wraps a segment of little-endian float32 values (no copy) as a row-major tensor of the given shape. */
    public static Tensor wrap(MemorySegment segment, int... shape) {
        Objects.requireNonNull(segment, "segment");
        long n = checkShape(shape);
        if (n * Float.BYTES != segment.byteSize()) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n * Float.BYTES
                    + " bytes but the segment has " + segment.byteSize());
        }
        return new Tensor(null, segment, 0, shape.clone(), rowMajorStrides(shape));
    }

    private static long checkShape(int[] shape) {
        Objects.requireNonNull(shape, "shape");
        if (shape.length == 0) {
            throw new IllegalArgumentException("shape must have at least one axis");
        }
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has a negative size at axis "
                        + i + "; sizes must be >= 0");
            }
            n = Math.multiplyExact(n, shape[i]);
        }
        return n;
    }

    private static long[] rowMajorStrides(int[] shape) {
        long[] strides = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = s;
            s *= shape[i];
        }
        return strides;
    }

    public int rank() {
        return shape.length;
    }

    /** The size of axis {@code axis}. */
    public int size(int axis) {
        return shape[axis];
    }

    public int[] shape() {
        return shape.clone();
    }

    /** The stride of axis {@code axis}, in elements. */
    public long stride(int axis) {
        return strides[axis];
    }

    public long elementCount() {
        long n = 1;
        for (int s : shape) {
            n *= s;
        }
        return n;
    }

    /** True when the storage is a {@code float[]} (see {@link #array()}). */
    public boolean isHeap() {
        return array != null;
    }

    /** The backing array of a heap tensor; element {@code [0, ..., 0]} is at {@link #arrayOffset()}. */
    public float[] array() {
        if (array == null) {
            throw new IllegalStateException("this tensor is backed by a MemorySegment, not an array; use toHeap()");
        }
        return array;
    }

    /** The index of element {@code [0, ..., 0]} in {@link #array()}. */
    public int arrayOffset() {
        array();
        return (int) offset;
    }

    /** The backing segment, or {@code null} for a heap tensor. */
    public MemorySegment segment() {
        return segment;
    }

    /** True when the elements are laid out row-major without gaps. */
    public boolean isContiguous() {
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && strides[i] != s) {
                return false;
            }
            s *= shape[i];
        }
        return true;
    }

    private long index(int[] idx) {
        if (idx.length != shape.length) {
            throw new IllegalArgumentException("index " + Arrays.toString(idx) + " has " + idx.length
                    + " axes; this tensor has " + shape.length);
        }
        long at = offset;
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] < 0 || idx[i] >= shape[i]) {
                throw new IndexOutOfBoundsException("index " + Arrays.toString(idx) + " is outside shape "
                        + Arrays.toString(shape) + " at axis " + i);
            }
            at += idx[i] * strides[i];
        }
        return at;
    }

    public float get(int... idx) {
        long at = index(idx);
        return array != null ? array[(int) at] : segment.getAtIndex(FLOAT_LE, at);
    }

    public void set(float value, int... idx) {
        long at = index(idx);
        if (array != null) {
            array[(int) at] = value;
        } else {
            segment.setAtIndex(FLOAT_LE, at, value);
        }
    }

    /** A view with the axes reordered: axis {@code i} of the result is axis {@code axes[i]} of this tensor. */
    public Tensor permute(int... axes) {
        if (axes.length != shape.length) {
            throw new IllegalArgumentException("permute needs " + shape.length + " axes, got " + Arrays.toString(axes));
        }
        boolean[] seen = new boolean[shape.length];
        int[] newShape = new int[shape.length];
        long[] newStrides = new long[shape.length];
        for (int i = 0; i < axes.length; i++) {
            int a = axes[i];
            if (a < 0 || a >= shape.length || seen[a]) {
                throw new IllegalArgumentException("permute axes " + Arrays.toString(axes)
                        + " must be a permutation of 0.." + (shape.length - 1));
            }
            seen[a] = true;
            newShape[i] = shape[a];
            newStrides[i] = strides[a];
        }
        return new Tensor(array, segment, offset, newShape, newStrides);
    }

    /** A view of indices {@code [from, to)} along {@code axis}. */
    public Tensor slice(int axis, int from, int to) {
        checkAxis(axis);
        if (from < 0 || to > shape[axis] || from > to) {
            throw new IllegalArgumentException("slice [" + from + ", " + to + ") is outside axis " + axis + " of size "
                    + shape[axis]);
        }
        int[] newShape = shape.clone();
        newShape[axis] = to - from;
        return new Tensor(array, segment, offset + from * strides[axis], newShape, strides.clone());
    }

    /** A view with {@code axis} fixed at {@code index} and removed. */
    public Tensor select(int axis, int index) {
        checkAxis(axis);
        if (shape.length == 1) {
            throw new IllegalArgumentException("select would leave a tensor with no axes");
        }
        if (index < 0 || index >= shape[axis]) {
            throw new IndexOutOfBoundsException("index " + index + " is outside axis " + axis + " of size " + shape[axis]);
        }
        int[] newShape = new int[shape.length - 1];
        long[] newStrides = new long[shape.length - 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            if (i != axis) {
                newShape[j] = shape[i];
                newStrides[j++] = strides[i];
            }
        }
        return new Tensor(array, segment, offset + index * strides[axis], newShape, newStrides);
    }

    /** A row-major view with a new shape of the same element count; the tensor must be contiguous. */
    public Tensor reshape(int... newShape) {
        long n = checkShape(newShape);
        if (n != elementCount()) {
            throw new IllegalArgumentException("cannot reshape " + Arrays.toString(shape) + " (" + elementCount()
                    + " elements) to " + Arrays.toString(newShape) + " (" + n + " elements)");
        }
        if (!isContiguous()) {
            throw new IllegalArgumentException("reshape needs a contiguous tensor; this view of shape "
                    + Arrays.toString(shape) + " has strides " + Arrays.toString(strides) + " (use copy())");
        }
        return new Tensor(array, segment, offset, newShape.clone(), rowMajorStrides(newShape));
    }

    private void checkAxis(int axis) {
        if (axis < 0 || axis >= shape.length) {
            throw new IllegalArgumentException("axis " + axis + " is outside 0.." + (shape.length - 1));
        }
    }

    /** A contiguous heap copy. */
    public Tensor copy() {
        Tensor out = zeros(shape);
        out.copyFrom(this);
        return out;
    }

    /** This tensor if it is on the heap, else a contiguous heap copy. */
    public Tensor toHeap() {
        return isHeap() ? this : copy();
    }

    /** Copies every element of {@code src} (same shape) into this tensor. */
    public void copyFrom(Tensor src) {
        if (!Arrays.equals(shape, src.shape)) {
            throw new IllegalArgumentException("cannot copy a tensor of shape " + Arrays.toString(src.shape)
                    + " into one of shape " + Arrays.toString(shape));
        }
        if (elementCount() == 0) {
            return;
        }
        int[] idx = new int[shape.length];
        int last = shape.length - 1;
        while (true) {
            long s = src.offset, d = offset;
            for (int i = 0; i < last; i++) {
                s += idx[i] * src.strides[i];
                d += idx[i] * strides[i];
            }
            for (int j = 0; j < shape[last]; j++) {
                float value = src.array != null ? src.array[(int) (s + j * src.strides[last])]
                        : src.segment.getAtIndex(FLOAT_LE, s + j * src.strides[last]);
                if (array != null) {
                    array[(int) (d + j * strides[last])] = value;
                } else {
                    segment.setAtIndex(FLOAT_LE, d + j * strides[last], value);
                }
            }
            int axis = last - 1;
            while (axis >= 0 && ++idx[axis] == shape[axis]) {
                idx[axis--] = 0;
            }
            if (axis < 0) {
                return;
            }
        }
    }

    /** Sets every element to {@code value}. */
    public void fill(float value) {
        if (array != null && isContiguous()) {
            Arrays.fill(array, (int) offset, (int) (offset + elementCount()), value);
            return;
        }
        forEachIndex(idx -> set(value, idx));
    }

    /** The index of the first NaN or infinite element in row-major order, or {@code null} when all are finite. */
    public int[] firstNonFinite() {
        if (elementCount() == 0) {
            return null;
        }
        int[] idx = new int[shape.length];
        int last = shape.length - 1;
        long step = strides[last];
        while (true) {
            long base = offset;
            for (int i = 0; i < last; i++) {
                base += idx[i] * strides[i];
            }
            for (int j = 0; j < shape[last]; j++) {
                long at = base + j * step;
                float value = array != null ? array[(int) at] : segment.getAtIndex(FLOAT_LE, at);
                if (!Float.isFinite(value)) {
                    idx[last] = j;
                    return idx;
                }
            }
            int axis = last - 1;
            while (axis >= 0 && ++idx[axis] == shape[axis]) {
                idx[axis--] = 0;
            }
            if (axis < 0) {
                return null;
            }
        }
    }

    /** The elements in row-major order, as a new array. */
    public float[] toArray() {
        long n = elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("tensor of " + n + " elements does not fit a float[]");
        }
        return copy().array;
    }

    private void forEachIndex(java.util.function.Consumer<int[]> action) {
        if (elementCount() == 0) {
            return;
        }
        int[] idx = new int[shape.length];
        while (true) {
            action.accept(idx);
            int axis = shape.length - 1;
            while (axis >= 0 && ++idx[axis] == shape[axis]) {
                idx[axis--] = 0;
            }
            if (axis < 0) {
                return;
            }
        }
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + (array != null ? " (heap)" : " (segment)");
    }
}
