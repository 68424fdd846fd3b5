package io.attn4j.attention;

import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Attention of a set of queries over one part of the keys: the normalised output and the log-sum-exp of the
 * logits. Two states over disjoint key sets merge exactly into the state over their union, which is how split-KV
 * decode, ring attention and cascades combine partial results:
 * <pre>
 *   lse = log(e^lse_a + e^lse_b)
 *   o   = e^(lse_a − lse) · o_a + e^(lse_b − lse) · o_b
 * </pre>
 * A query that saw no key in a part has {@code lse = −∞} and output 0, the identity of the merge.
 *
 * @param output {@code [batch, Lq, heads, Dv]} in {@code layout}
 * @param lse    {@code [batch, heads, Lq]}
 * @param layout the layout of {@code output}
 */
public record PartialState(Tensor output, Tensor lse, Layout layout) {

    public PartialState {
        Objects.requireNonNull(output, "output");
        Objects.requireNonNull(lse, "lse");
        Objects.requireNonNull(layout, "layout");
        if (output.rank() != 4 || lse.rank() != 3) {
            throw new IllegalArgumentException("a partial state needs a rank-4 output and a rank-3 lse; got "
                    + output + " and " + lse);
        }
        int batch = output.size(layout.batchAxis()), queries = output.size(layout.seqAxis());
        int heads = output.size(layout.headAxis());
        if (lse.size(0) != batch || lse.size(1) != heads || lse.size(2) != queries) {
            throw new IllegalArgumentException("lse " + Arrays.toString(lse.shape()) + " does not match output "
                    + Arrays.toString(output.shape()) + " in " + layout + "; expected [" + batch + ", " + heads + ", "
                    + queries + "]");
        }
    }

    /** The exact merge of two states over disjoint key sets (same queries, same shapes). */
    public static PartialState merge(PartialState a, PartialState b) {
        return merge(List.of(a, b));
    }

    /** The exact merge of states over disjoint key sets, left to right. */
    public static PartialState merge(List<PartialState> states) {
        if (states.isEmpty()) {
            throw new IllegalArgumentException("states is empty; merge needs at least one");
        }
        PartialState first = states.get(0);
        Layout layout = first.layout;
        int[] shape = first.output.shape();
        for (PartialState s : states) {
            if (!Arrays.equals(s.output.shape(), shape) || s.layout != layout) {
                throw new IllegalArgumentException("cannot merge states of shapes " + Arrays.toString(shape) + " ("
                        + layout + ") and " + Arrays.toString(s.output.shape()) + " (" + s.layout + ")");
            }
        }
        int batch = shape[layout.batchAxis()], queries = shape[layout.seqAxis()];
        int heads = shape[layout.headAxis()], dimV = shape[layout.dimAxis()];
        Tensor out = Tensor.zeros(shape);
        Tensor lse = Tensor.zeros(batch, heads, queries);
        float[] acc = new float[dimV];
        float[] row = new float[dimV];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < queries; i++) {
                    float accLse = Float.NEGATIVE_INFINITY;
                    Arrays.fill(acc, 0f);
                    for (PartialState s : states) {
                        for (int c = 0; c < dimV; c++) {
                            row[c] = s.output.get(index(layout, b, i, h, c));
                        }
                        accLse = mergeRow(acc, 0, accLse, row, 0, s.lse.get(b, h, i), acc, 0, dimV);
                    }
                    for (int c = 0; c < dimV; c++) {
                        out.set(acc[c], index(layout, b, i, h, c));
                    }
                    lse.set(accLse, b, h, i);
                }
            }
        }
        return new PartialState(out, lse, layout);
    }

    private static int[] index(Layout layout, int b, int s, int h, int d) {
        int[] idx = new int[4];
        idx[layout.batchAxis()] = b;
        idx[layout.seqAxis()] = s;
        idx[layout.headAxis()] = h;
        idx[layout.dimAxis()] = d;
        return idx;
    }

    /**
     * Merges one query's row: {@code out = w_a·a + w_b·b} with the weights of the class comment, returning the
     * merged log-sum-exp. {@code out} may be {@code a} or {@code b}.
     */
    public static float mergeRow(float[] a, int aOffset, float lseA, float[] b, int bOffset, float lseB,
                                 float[] out, int outOffset, int dimV) {
        float max = Math.max(lseA, lseB);
        if (max == Float.NEGATIVE_INFINITY) {
            Arrays.fill(out, outOffset, outOffset + dimV, 0f);
            return Float.NEGATIVE_INFINITY;
        }
        double wa = Math.exp(lseA - max), wb = Math.exp(lseB - max);
        double total = wa + wb;
        float fa = (float) (wa / total), fb = (float) (wb / total);
        for (int c = 0; c < dimV; c++) {
            out[outOffset + c] = fa * a[aOffset + c] + fb * b[bOffset + c];
        }
        return (float) (max + Math.log(total));
    }

    /**
     * Finishes online-softmax accumulators into partial states: for row {@code r < rows} with running maximum
     * {@code max[r]}, sum {@code sum[r]} and unnormalised output {@code acc[r·dimV ..]}, writes the output
     * {@code acc / sum} to {@code out[outOffset + r·dimV ..]} and {@code max + log(sum)} to {@code lse[lseOffset + r]};
     * a row that saw no key (sum 0) gets output 0 and {@code lse = −∞}, the identity of the merge (a NaN sum from
     * unchecked NaN input propagates).
     */
    public static void finish(float[] acc, float[] max, float[] sum, int rows, int dimV, float[] out, int outOffset,
                              float[] lse, int lseOffset) {
        for (int r = 0; r < rows; r++) {
            int at = outOffset + r * dimV;
            if (sum[r] != 0) {
                float inverse = 1f / sum[r];
                for (int c = 0; c < dimV; c++) {
                    out[at + c] = acc[r * dimV + c] * inverse;
                }
                lse[lseOffset + r] = max[r] + (float) Math.log(sum[r]);
            } else {
                Arrays.fill(out, at, at + dimV, 0f);
                lse[lseOffset + r] = Float.NEGATIVE_INFINITY;
            }
        }
    }
}
