package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.tensor.Tensor;

/**
 * Attention problems over rows gathered out of a call's operands, for mechanisms that reorder or select tokens
 * before running {@code flash} (neighbourhood attention's tiles, S2-Attention's shards). Gathered operands are
 * contiguous per head ({@code [batch, heads, length, dim]}), so the kernel reads key and value rows in place.
 */
final class Gathered {
    private Gathered() {
    }

    /** A view of {@code data} as {@code [batch, heads, length, dim]}, contiguous. */
    static HeadView headMajor(float[] data, int heads, int length, int dim) {
        return new HeadView(data, 0, heads * length * dim, dim, length * dim);
    }

    /** Allocates {@code [batch, heads, length, dim]} floats, checking the size fits an array. */
    static float[] headMajorArray(int batch, int heads, int length, int dim) {
        long size = (long) batch * heads * length * dim;
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a gathered operand of " + batch + " x " + heads + " x " + length
                    + " x " + dim + " floats; allowed: at most 2^31 - 9 elements");
        }
        return new float[(int) size];
    }

    /**
     * The problem of {@code p}'s queries (or gathered ones) against gathered keys and values: same batch, query
     * heads, dims and scale, no mask or score mod (the block mask decides visibility), and the log-sum-exp if
     * {@code returnLse}. {@code output} is the tensor behind {@code out}.
     */
    static AttentionProblem problem(AttentionProblem p, int queryLength, int keyLength, int kvHeads, HeadView q,
                                    HeadView k, HeadView v, HeadView out, Tensor output, boolean returnLse) {
        return new AttentionProblem(p.batch(), queryLength, keyLength, p.heads(), kvHeads, p.headDim(), p.valueDim(),
                p.scale(), null, null, p.pattern(), returnLse, false, false, 0, q, k, v, out, output, p.layout());
    }

    /** Copies {@code width} floats of row {@code (b, s, h)} of {@code from} to {@code to} at {@code at}. */
    static void copyRow(HeadView from, int b, int s, int h, float[] to, int at, int width) {
        System.arraycopy(from.data(), from.at(b, s, h), to, at, width);
    }
}
