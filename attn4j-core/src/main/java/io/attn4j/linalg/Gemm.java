package io.attn4j.linalg;

import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;

/**
 * Dense projections {@code c = a · Wᵀ + bias} for a batch of rows (the linear layers of a transformer).
 *
 * <p>Rows are split into blocks of {@value #ROW_BLOCK}, one task each, on all threads; a task multiplies its rows by
 * every panel of the {@link PackedMatrix} with {@link VectorOps#gemmPanel} — six rows of {@code a} broadcast one
 * element at a time against four vectors of a panel row, 24 accumulators, the bias added as they are stored. A
 * task's rows ({@code 60 · inputs} floats) stay in L2 while the panels stream past. Every element is one FMA chain
 * in input order plus the bias, so results are bit-identical for any thread count and any batching of rows.
 *
 * <p>Time O(rows · inputs · outputs); no allocation.
 */
public final class Gemm {
    /** Rows per task: a multiple of the micro-kernel's six rows. */
    public static final int ROW_BLOCK = 60;

    private Gemm() {
    }

    /**
     * {@code c[cOffset + r·cStride + o] = Σ_t a[aOffset + r·aStride + t] · W[o][t] + bias[o]} for {@code r < rows},
     * {@code o < w.outputs()}; {@code bias} may be {@code null}. {@code c} must not overlap {@code a}.
     */
    public static void multiply(Engine engine, float[] a, int aOffset, int aStride, int rows, PackedMatrix w,
                                float[] bias, float[] c, int cOffset, int cStride) {
        int inputs = w.inputs(), outputs = w.outputs(), panels = w.panels();
        if (aStride < inputs || cStride < outputs) {
            throw new IllegalArgumentException("row strides (a " + aStride + ", c " + cStride + ") must hold the "
                    + inputs + " inputs and " + outputs + " outputs");
        }
        if (bias != null && bias.length < outputs) {
            throw new IllegalArgumentException("bias has " + bias.length + " values for " + outputs + " outputs");
        }
        VectorOps ops = engine.ops();
        float[] packed = w.data();
        int blocks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        engine.parallelFor(blocks, block -> {
            int r0 = block * ROW_BLOCK, n = Math.min(ROW_BLOCK, rows - r0);
            for (int p = 0; p < panels; p++) {
                int width = Math.min(PackedMatrix.PANEL, outputs - p * PackedMatrix.PANEL);
                ops.gemmPanel(a, aOffset + r0 * aStride, aStride, n, inputs, packed, p * inputs * PackedMatrix.PANEL,
                        width, bias, p * PackedMatrix.PANEL, c, cOffset + r0 * cStride + p * PackedMatrix.PANEL,
                        cStride);
            }
        });
    }
}
