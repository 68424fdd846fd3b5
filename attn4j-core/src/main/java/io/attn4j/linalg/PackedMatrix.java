package io.attn4j.linalg;

import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Tensor;

import java.util.List;

/**
 * A weight matrix packed once, at load, for {@link Gemm}: {@code y = x · Wᵀ}, W with {@code outputs} rows of
 * {@code inputs} columns (the layout of a PyTorch {@code Linear}). The outputs are cut into panels of
 * {@link #PANEL} columns, each stored as {@code [inputs][PANEL]} floats, so the GEMM micro-kernel reads four
 * contiguous vectors of one panel row per input and broadcasts one element of x ({@link VectorOps#gemmPanel}). A last panel narrower than {@link #PANEL} is
 * padded with zeros that are never stored.
 *
 * <p>Several matrices with the same input size can be stacked into one (Q, K and V projections become one GEMM
 * with three times the outputs).
 */
public final class PackedMatrix {
    /** Outputs per panel: four 16-lane vectors ({@link VectorOps#GEMM_PANEL}). */
    public static final int PANEL = VectorOps.GEMM_PANEL;

    private final float[] data;
    private final int outputs;
    private final int inputs;

    private PackedMatrix(float[] data, int outputs, int inputs) {
        this.data = data;
        this.outputs = outputs;
        this.inputs = inputs;
    }

    /** Packs W given as {@code [outputs, inputs]} (PyTorch {@code Linear.weight}, Hugging Face checkpoints). */
    public static PackedMatrix ofOutputsByInputs(Tensor w) {
        return stack(List.of(w), false);
    }

    /** Packs W given transposed, as {@code [inputs, outputs]} (the right operand of an ONNX {@code MatMul}). */
    public static PackedMatrix ofInputsByOutputs(Tensor w) {
        return stack(List.of(w), true);
    }

    /**
     * Stacks matrices along their outputs (all with the same inputs) and packs them: the result computes their
     * outputs side by side. {@code inputsByOutputs} says whether each block is {@code [inputs, outputs]} (true) or
     * {@code [outputs, inputs]} (false).
     */
    public static PackedMatrix stack(List<Tensor> blocks, boolean inputsByOutputs) {
        if (blocks.isEmpty()) {
            throw new IllegalArgumentException("no matrices to pack");
        }
        int inputs = -1, outputs = 0;
        for (Tensor b : blocks) {
            if (b.rank() != 2) {
                throw new IllegalArgumentException("a weight matrix must have rank 2; got " + b);
            }
            int in = inputsByOutputs ? b.size(0) : b.size(1);
            if (inputs >= 0 && in != inputs) {
                throw new IllegalArgumentException("stacked matrices must share their input size: " + inputs + " vs "
                        + in + " (" + b + ")");
            }
            inputs = in;
            outputs += inputsByOutputs ? b.size(1) : b.size(0);
        }
        if (inputs < 1 || outputs < 1) {
            throw new IllegalArgumentException("weight matrix with " + outputs + " outputs and " + inputs + " inputs");
        }
        int panels = (outputs + PANEL - 1) / PANEL;
        long size = (long) panels * inputs * PANEL;
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a packed matrix of " + outputs + " x " + inputs + " is too large");
        }
        float[] data = new float[(int) size];
        int first = 0; // first output of the current block
        for (Tensor b : blocks) {
            int blockOutputs = inputsByOutputs ? b.size(1) : b.size(0);
            for (int o = 0; o < blockOutputs; o++) {
                int out = first + o;
                int base = (out / PANEL) * inputs * PANEL + out % PANEL; // element (input t) at base + t·PANEL
                for (int t = 0; t < inputs; t++) {
                    data[base + t * PANEL] = inputsByOutputs ? b.get(t, o) : b.get(o, t);
                }
            }
            first += blockOutputs;
        }
        return new PackedMatrix(data, outputs, inputs);
    }

    public int outputs() {
        return outputs;
    }

    public int inputs() {
        return inputs;
    }

    public int panels() {
        return (outputs + PANEL - 1) / PANEL;
    }

    /** The packed floats: panel p, input t, output-in-panel i at {@code (p·inputs + t)·PANEL + i}. */
    float[] data() {
        return data;
    }

    /** Bytes held. */
    public long bytes() {
        return 4L * data.length;
    }
}
