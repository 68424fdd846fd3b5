package io.attn4j.attention;

import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;

/**
 * One attention call, validated and resolved: sizes, the bound mask and score mod, the pattern, and array views of
 * the operands. Kernels receive this, never raw tensors; {@link #of} is where every input is checked, before
 * anything is written.
 *
 * @param batch       B
 * @param queryLength Lq
 * @param keyLength   Lk
 * @param heads       Hq, query heads
 * @param kvHeads     Hkv, key/value heads; {@code heads % kvHeads == 0}, query head h reads KV head
 *                    {@code h / (heads / kvHeads)}
 * @param headDim     D of queries and keys
 * @param valueDim    Dv of values and the output
 * @param scale       the logit scale
 * @param mask        the effective mask bound to the lengths, or {@code null} (every key visible)
 * @param scoreMod    the score mod bound to the shape, or {@code null}
 * @param pattern     the call's {@link Pattern}
 * @param returnLse   whether the log-sum-exp is wanted
 * @param columnMass  whether the column-mass observer is wanted
 * @param entropy     whether the entropy observer is wanted
 * @param topK        k of the top-k observer, 0 for none
 * @param q           view of Q
 * @param k           view of K
 * @param v           view of V
 * @param out         view of the output
 * @param output      the output tensor
 * @param layout      the operands' layout
 */
public record AttentionProblem(int batch, int queryLength, int keyLength, int heads, int kvHeads, int headDim,
                               int valueDim, float scale, MaskMod mask, ScoreMod scoreMod, Pattern pattern,
                               boolean returnLse, boolean columnMass, boolean entropy, int topK,
                               HeadView q, HeadView k, HeadView v, HeadView out, Tensor output, Layout layout) {

    /** Query heads per KV head. */
    public int group() {
        return heads / kvHeads;
    }

    /** Whether any observer was requested. */
    public boolean observes() {
        return columnMass || entropy || topK > 0;
    }

    /**
     * A rank-4 operand as a {@code float[]} with the strides of its batch, sequence and head axes; the head
     * dimension is contiguous. Row (b, s, h) starts at {@link #at}.
     */
    public record HeadView(float[] data, int base, int strideBatch, int strideSeq, int strideHead) {
        public int at(int b, int s, int h) {
            return base + b * strideBatch + s * strideSeq + h * strideHead;
        }
    }

    /**
     * Validates a call and resolves it. {@code out} may be {@code null} (a zeroed output is allocated) or a heap
     * tensor of shape {@code [B, Lq, Hq, Dv]} in the spec's layout that does not overlap Q, K or V.
     *
     * @throws IllegalArgumentException naming the argument, its value and what is allowed
     */
    public static AttentionProblem of(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        if (spec == null) {
            throw new IllegalArgumentException("spec is null; use AttentionSpec.causal() or AttentionSpec.noncausal()");
        }
        Layout layout = spec.layout();
        checkOperand("q", q, layout);
        checkOperand("k", k, layout);
        checkOperand("v", v, layout);
        int batch = q.size(layout.batchAxis());
        int lq = q.size(layout.seqAxis()), heads = q.size(layout.headAxis()), d = q.size(layout.dimAxis());
        int lk = k.size(layout.seqAxis()), kvHeads = k.size(layout.headAxis());
        int dv = v.size(layout.dimAxis());
        requireEqual("k batch", k.size(layout.batchAxis()), "q batch", batch);
        requireEqual("v batch", v.size(layout.batchAxis()), "q batch", batch);
        requireEqual("k head dim", k.size(layout.dimAxis()), "q head dim", d);
        requireEqual("v length", v.size(layout.seqAxis()), "k length", lk);
        requireEqual("v heads", v.size(layout.headAxis()), "k heads", kvHeads);
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("q has " + heads + " heads and k/v have " + kvHeads
                    + "; allowed: query heads a multiple of KV heads (GQA groups)");
        }
        float scale = spec.scaleFor(d);
        MaskMod mask = spec.boundMask(lq, lk);
        ScoreMod scoreMod = spec.scoreMod() == null ? null : spec.scoreMod().bind(batch, heads, lq, lk);
        if (spec.isCheckFinite()) {
            checkFinite("q", q, layout);
            checkFinite("k", k, layout);
            checkFinite("v", v, layout);
        }
        int[] outShape = layout.shape(batch, lq, heads, dv);
        if (out == null) {
            out = Tensor.zeros(outShape);
        } else {
            if (!Arrays.equals(out.shape(), outShape)) {
                throw new IllegalArgumentException("out has shape " + Arrays.toString(out.shape()) + "; allowed: "
                        + Arrays.toString(outShape) + " ([batch, Lq, heads, Dv] in " + layout + ")");
            }
            if (!out.isHeap() || out.stride(layout.dimAxis()) != 1) {
                throw new IllegalArgumentException("out must be a heap tensor with a contiguous last axis; got " + out);
            }
            checkNoOverlap(out, q, "q");
            checkNoOverlap(out, k, "k");
            checkNoOverlap(out, v, "v");
        }
        Observer.TopK top = spec.observer(Observer.TopK.class);
        return new AttentionProblem(batch, lq, lk, heads, kvHeads, d, dv, scale, mask, scoreMod,
                Pattern.of(lq, lk, spec.isCausal()), spec.isReturnLse(),
                spec.observer(Observer.ColumnMass.class) != null, spec.observer(Observer.Entropy.class) != null,
                top == null ? 0 : top.k(),
                view(q, layout), view(k, layout), view(v, layout), view(out, layout), out, layout);
    }

    /** The result of this call with the given extras (each may be {@code null}). */
    public AttentionResult result(Tensor lse, Tensor mass, Tensor entropyTensor, TopKeys top) {
        return new AttentionResult(output, layout, lse, mass, entropyTensor, top);
    }

    private static void checkOperand(String name, Tensor t, Layout layout) {
        if (t == null) {
            throw new IllegalArgumentException(name + " is null");
        }
        if (t.rank() != 4) {
            throw new IllegalArgumentException(name + " has shape " + Arrays.toString(t.shape())
                    + "; allowed: rank 4 ([batch, seq, heads, dim] in " + layout + ")");
        }
        for (int axis = 0; axis < 4; axis++) {
            if (t.size(axis) < 1) {
                throw new IllegalArgumentException(name + " has shape " + Arrays.toString(t.shape())
                        + "; allowed: every size >= 1 (empty batches, sequences, heads or dims are not attention)");
            }
        }
        if (!t.isHeap()) {
            throw new IllegalArgumentException(name + " is backed by a MemorySegment; attention reads heap tensors "
                    + "(call toHeap())");
        }
        if (t.stride(layout.dimAxis()) != 1) {
            throw new IllegalArgumentException(name + " has stride " + t.stride(layout.dimAxis())
                    + " on its head dimension; allowed: 1 (contiguous rows; copy() makes one)");
        }
    }

    private static void requireEqual(String name, int value, String otherName, int other) {
        if (value != other) {
            throw new IllegalArgumentException(name + " = " + value + " but " + otherName + " = " + other
                    + "; they must be equal");
        }
    }

    private static void checkFinite(String name, Tensor t, Layout layout) {
        int[] at = t.firstNonFinite();
        if (at != null) {
            throw new IllegalArgumentException(name + " holds " + t.get(at) + " at [batch=" + at[layout.batchAxis()]
                    + ", seq=" + at[layout.seqAxis()] + ", head=" + at[layout.headAxis()] + ", dim="
                    + at[layout.dimAxis()] + "]; allowed: finite values (AttentionSpec.checkFinite(false) skips this "
                    + "check for inputs known to be finite)");
        }
    }

    private static void checkNoOverlap(Tensor out, Tensor in, String name) {
        if (out.array() != in.array()) {
            return;
        }
        long[] a = span(out), b = span(in);
        if (a[0] <= b[1] && b[0] <= a[1]) {
            throw new IllegalArgumentException("out overlaps " + name + " in the same array; allowed: separate storage");
        }
    }

    /** The first and last array index a heap tensor touches. */
    private static long[] span(Tensor t) {
        long lo = t.arrayOffset(), hi = t.arrayOffset();
        for (int axis = 0; axis < t.rank(); axis++) {
            long extent = (long) (t.size(axis) - 1) * t.stride(axis);
            if (extent < 0) {
                lo += extent;
            } else {
                hi += extent;
            }
        }
        return new long[] {lo, hi};
    }

    private static HeadView view(Tensor t, Layout layout) {
        return new HeadView(t.array(), t.arrayOffset(), (int) t.stride(layout.batchAxis()),
                (int) t.stride(layout.seqAxis()), (int) t.stride(layout.headAxis()));
    }
}
