package io.attn4j.tensor;

/**
 * How the four axes of an attention operand are ordered.
 *
 * <p>Attention operands are rank-4 tensors over (batch, sequence, head, head dimension). The head dimension is
 * always the last axis and must be contiguous (stride 1); the other three may have any strides, so a
 * {@link Tensor#permute permuted} view of either layout works without a copy.
 *
 * <ul>
 *   <li>{@link #BSHD} — {@code [batch, seq, heads, dim]}: what a model's {@code [batch, seq, hidden]} activations
 *       become when the hidden axis is split into heads (FlashAttention's and fla's layout). The default.
 *   <li>{@link #BHSD} — {@code [batch, heads, seq, dim]}: PyTorch SDPA's and FlexAttention's layout.
 * </ul>
 */
public enum Layout {
    BSHD(0, 1, 2, 3),
    BHSD(0, 2, 1, 3);

    private final int batchAxis;
    private final int seqAxis;
    private final int headAxis;
    private final int dimAxis;

    Layout(int batchAxis, int seqAxis, int headAxis, int dimAxis) {
        this.batchAxis = batchAxis;
        this.seqAxis = seqAxis;
        this.headAxis = headAxis;
        this.dimAxis = dimAxis;
    }

    public int batchAxis() {
        return batchAxis;
    }

    public int seqAxis() {
        return seqAxis;
    }

    public int headAxis() {
        return headAxis;
    }

    public int dimAxis() {
        return dimAxis;
    }

    /** The shape, in this layout, of an operand with the given logical sizes. */
    public int[] shape(int batch, int seq, int heads, int dim) {
        int[] shape = new int[4];
        shape[batchAxis] = batch;
        shape[seqAxis] = seq;
        shape[headAxis] = heads;
        shape[dimAxis] = dim;
        return shape;
    }

    /** A new zero-filled heap tensor in this layout. */
    public Tensor zeros(int batch, int seq, int heads, int dim) {
        return Tensor.zeros(shape(batch, seq, heads, dim));
    }
}
