package io.attn4j.simd;

/**
 * The hot loops of attn4j's kernels, behind one interface so that a scalar reference and a SIMD implementation can
 * be swapped and checked against each other (the split of Lucene's {@code VectorUtilSupport}).
 *
 * <p>{@link ScalarVectorOps} is always present and is the reference; {@code PanamaVectorOps} implements the same
 * contracts with the incubating Vector API and is chosen by {@link VectorOpsProvider}. Every method works on
 * {@code float[]} with explicit offsets and strides; none allocates. Results of the two implementations differ
 * only by float rounding (summation order, fused multiply-add, the SIMD exponential's last-bit error).
 *
 * <p>Two tile layouts appear below. <em>Transposed</em> tiles hold scores with one row per key and one column per
 * query, {@code s[sOffset + key * sStride + query]}, so that the softmax statistics of each query (a column) are
 * computed lane-parallel; <em>row</em> tiles hold one row per query, {@code s[sOffset + query * sStride + key]}.
 */
public interface VectorOps {

    /** A short name for logs and benchmark output: {@code "scalar"} or {@code "panama-512"}. */
    String name();

    /** Floats per SIMD register (1 for the scalar implementation). */
    int lanes();

    // ---------------------------------------------------------------- level 1

    /** {@code Σ_i a[aOffset+i] · b[bOffset+i]} for {@code i < n}. */
    float dot(float[] a, int aOffset, float[] b, int bOffset, int n);

    /** {@code y[yOffset+i] += alpha · x[xOffset+i]} for {@code i < n}. */
    void axpy(float alpha, float[] x, int xOffset, float[] y, int yOffset, int n);

    /** {@code x[offset+i] *= alpha} for {@code i < n}. */
    void scale(float[] x, int offset, int n, float alpha);

    /** {@code max_i x[offset+i]}, or negative infinity when {@code n == 0}. */
    float max(float[] x, int offset, int n);

    /**
     * {@code x[offset+i] = exp(x[offset+i] − shift)} for {@code i < n}, returning the sum of the new values. A
     * {@code shift} of negative infinity means every element is masked: all become 0 and 0 is returned.
     */
    float expShiftSum(float[] x, int offset, int n, float shift);

    /** {@code Σ_i exp(x[offset+i] − shift[shiftOffset+i])} for {@code i < n}; the inputs are not changed. */
    float expShiftedSum(float[] x, int offset, int n, float[] shift, int shiftOffset);

    /** {@code x[offset+i] = cap · tanh(x[offset+i] / cap)}: logit soft-capping. */
    void softcap(float[] x, int offset, int n, float cap);

    /** {@code x[offset+i] −= slope · |start + i|}: a linear distance penalty (ALiBi) along a run of positions. */
    void subtractDistance(float[] x, int offset, int n, int start, float slope);

    /**
     * Layer normalisation of one row: {@code out[i] = (x[i] − mean) / sqrt(var + eps) · gamma[i] + beta[i]} for
     * {@code i < n}, with the mean and the (biased) variance of {@code x[offset, offset + n)}. {@code out} may be
     * {@code x} itself.
     */
    void layerNorm(float[] x, int offset, int n, float[] gamma, float[] beta, float eps, float[] out, int outOffset);

    /** {@code x = x · Φ(x) = x/2 · (1 + erf(x/√2))}: the exact (erf) GELU of BERT, in place. */
    void gelu(float[] x, int offset, int n);

    /**
     * One token of a linear recurrence on a state of {@code rows × cols} ({@code s[sOffset + i·cols + c]}), the
     * state read and written once: for every row i, {@code s_i = a_i · s_i + k[kOffset+i] · v[vOffset..+cols)} with
     * {@code a_i = decay[decayOffset+i]} (or 1 when {@code decay} is null), then, when {@code q} is not null,
     * {@code o[oOffset+c] += q[qOffset+i] · s_i[c]}. {@code o} is accumulated, not cleared.
     */
    void stateStep(float[] s, int sOffset, int rows, int cols, float[] decay, int decayOffset, float[] k, int kOffset,
                   float[] v, int vOffset, float[] q, int qOffset, float[] o, int oOffset);

    /**
     * {@code x = scale · log σ(x) = scale · (min(x, 0) − log(1 + e^{−|x|}))}, in place: gates in log space (GLA),
     * finite for every finite x and never above 0 for {@code scale >= 0}.
     */
    void logSigmoid(float[] x, int offset, int n, float scale);

    // ---------------------------------------------------------------- packed GEMM

    /** Columns of one panel of a packed weight matrix (see {@link #gemmPanel}). */
    int GEMM_PANEL = 64;

    /**
     * One panel of a packed matrix product with bias:
     * {@code c[cOffset + r·cStride + i] = bias[biasOffset + i] + Σ_t a[aOffset + r·aStride + t] · panel[panelOffset + t·GEMM_PANEL + i]}
     * for {@code r < rows, i < width, t < inputs} ({@code width <= GEMM_PANEL}; a null {@code bias} adds zeros). The panel holds {@code inputs} rows of {@link #GEMM_PANEL} floats; columns past {@code width} are read
     * (they must exist, zeros in a padded panel) but never stored.
     *
     * <p>Each element is a chain of fused multiply-adds in {@code t} order starting from 0, then one addition of the
     * bias: its bits depend on its own row and column only, never on {@code rows} or on the other rows computed
     * with it, so a text's projections are the same however texts are batched.
     */
    void gemmPanel(float[] a, int aOffset, int aStride, int rows, int inputs, float[] panel, int panelOffset,
                   int width, float[] bias, int biasOffset, float[] c, int cOffset, int cStride);

    // ---------------------------------------------------------------- transposed tiles (key rows, query columns)

    /**
     * Scores of {@code keys} keys against {@code queries} queries:
     * {@code s[sOffset + j·sStride + i] = Σ_t k[kOffset + j·kStride + t] · qT[qTOffset + t·qTStride + i]}
     * for {@code j < keys, i < queries, t < dim}. The queries arrive transposed ({@code qT[t][i]}), the keys as
     * rows, so no transpose of K is ever made.
     */
    void scoresTransposed(float[] qT, int qTOffset, int qTStride, int queries,
                          float[] k, int kOffset, int kStride, int keys, int dim,
                          float[] s, int sOffset, int sStride);

    /**
     * {@code o[oOffset + i·oStride + c] += Σ_j pT[pOffset + j·pStride + i] · v[vOffset + j·vStride + c]} for
     * {@code i < queries, c < dimV, j < keys}: the probability-weighted value sum of a transposed tile.
     */
    void accumulateTransposed(float[] pT, int pOffset, int pStride, int queries, int keys,
                              float[] v, int vOffset, int vStride, int dimV,
                              float[] o, int oOffset, int oStride);

    /**
     * One online-softmax step over a transposed score tile (FlashAttention-2's inner update), for the queries
     * {@code i < cols} (per-query arrays are indexed from 0, tile element (key j, query i) is
     * {@code s[sOffset + j·sStride + i]}):
     * <ol>
     *   <li>when {@code from} is not null, {@code s[j][i] = −∞} unless {@code from[i] <= firstKey + j < to[i]};</li>
     *   <li>{@code m = max(max[i], max_j s[j][i])}, {@code alpha[i] = e^(max[i] − m)} (1 when they are equal, which
     *       covers a query that has seen only −∞);</li>
     *   <li>{@code s[j][i] = e^(s[j][i] − m)} (0 when {@code m = −∞});</li>
     *   <li>{@code sum[i] = alpha[i]·sum[i] + Σ_j s[j][i]}; when {@code scoreSum} is not null, also
     *       {@code scoreSum[i] = alpha[i]·scoreSum[i] + Σ_j p_ji·score_ji} over the finite scores;</li>
     *   <li>output row {@code i}, {@code o[i·oStride + c]} for {@code c < dimV}, is multiplied by {@code alpha[i]};</li>
     *   <li>{@code max[i] = m}.</li>
     * </ol>
     * One call per tile keeps the SIMD code of the whole step in one method that the JIT compiles on its own.
     */
    void onlineSoftmaxTransposed(float[] s, int sOffset, int sStride, int rows, int cols, int firstKey,
                                 int[] from, int[] to, float[] max, float[] sum, float[] scoreSum, float[] alpha,
                                 float[] o, int oStride, int dimV);

    /**
     * The same step over row tiles (one row per query, {@code s[sOffset + r·sStride + j]}), for queries
     * {@code r < rows} whose per-query state is at index {@code state + r} of {@code max}, {@code sum}, {@code from},
     * {@code to} and whose output row is {@code o[(state + r)·oStride + c]}: mask to {@code [from, to)} when
     * {@code from} is not null, update the maximum, exponentiate, add to the sum, rescale the output row. Composed of
     * the level-1 operations, so both implementations share it.
     */
    default void onlineSoftmaxRows(float[] s, int sOffset, int sStride, int rows, int keys, int firstKey, int[] from,
                                   int[] to, int state, float[] max, float[] sum, float[] o, int oStride, int dimV) {
        for (int r = 0; r < rows; r++) {
            int row = sOffset + r * sStride, st = state + r;
            if (from != null) {
                int lo = Math.min(keys, Math.max(0, from[st] - firstKey));
                int hi = Math.max(lo, Math.min(keys, to[st] - firstKey));
                java.util.Arrays.fill(s, row, row + lo, Float.NEGATIVE_INFINITY);
                java.util.Arrays.fill(s, row + hi, row + keys, Float.NEGATIVE_INFINITY);
            }
            float mOld = max[st], m = Math.max(mOld, max(s, row, keys));
            float a = m == mOld ? 1f : (float) Math.exp(mOld - m);
            sum[st] = a * sum[st] + expShiftSum(s, row, keys, m);
            max[st] = m;
            if (a != 1f) {
                scale(o, st * oStride, dimV, a);
            }
        }
    }

    /**
     * Masks a transposed tile to per-query key intervals: {@code s[j][i] = −∞} unless
     * {@code from[boundsOffset+i] <= firstKey + j < to[boundsOffset+i]}.
     */
    void maskOutsideIntervals(float[] s, int sOffset, int sStride, int rows, int cols, int firstKey,
                              int[] from, int[] to, int boundsOffset);

    /** {@code dst[dstOffset + c·dstStride + r] = scale · src[srcOffset + r·srcStride + c]}. */
    void transposeScaled(float[] src, int srcOffset, int srcStride, int rows, int cols,
                         float[] dst, int dstOffset, int dstStride, float scale);

    // ---------------------------------------------------------------- row tiles (query rows, key columns)

    /**
     * {@code s[sOffset + r·sStride + j] = Σ_t q[qOffset + r·qStride + t] · k[kOffset + j·kStride + t]} for
     * {@code r < queries, j < keys, t < dim}: a few queries against many keys (decode).
     */
    void scoresRows(float[] q, int qOffset, int qStride, int queries,
                    float[] k, int kOffset, int kStride, int keys, int dim,
                    float[] s, int sOffset, int sStride);

    /**
     * {@code o[oOffset + r·oStride + c] += Σ_j p[pOffset + r·pStride + j] · v[vOffset + j·vStride + c]} for
     * {@code r < queries, c < dimV, j < keys}.
     */
    void accumulateRows(float[] p, int pOffset, int pStride, int queries, int keys,
                        float[] v, int vOffset, int vStride, int dimV,
                        float[] o, int oOffset, int oStride);

    // ---------------------------------------------------------------- quantised rows

    /**
     * {@code dst[dstOffset + i] = bias + scale · codes[codeOffset + i]} for {@code i < n}, the codes read as signed
     * bytes: int8 KV rows.
     */
    default void dequantizeBytes(byte[] codes, int codeOffset, float bias, float scale, float[] dst, int dstOffset,
                                 int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOffset + i] = bias + scale * codes[codeOffset + i];
        }
    }

    /**
     * int4 KV rows: {@code n} elements packed in {@code ⌈n/2⌉} bytes, byte {@code i} holding element {@code i} in
     * its low nibble and element {@code i + ⌈n/2⌉} (when there is one) in its high nibble, both unsigned;
     * {@code dst[dstOffset + e] = bias + scale · nibble(e)}.
     */
    default void dequantizeNibbles(byte[] codes, int codeOffset, float bias, float scale, float[] dst, int dstOffset,
                                   int n) {
        int half = (n + 1) / 2;
        for (int i = 0; i < half; i++) {
            int b = codes[codeOffset + i];
            dst[dstOffset + i] = bias + scale * (b & 0x0F);
            if (i + half < n) {
                dst[dstOffset + i + half] = bias + scale * ((b >> 4) & 0x0F);
            }
        }
    }
}
