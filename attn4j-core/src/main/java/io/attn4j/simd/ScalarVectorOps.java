package io.attn4j.simd;

/**
 * The reference implementation of {@link VectorOps}: plain loops in the order the contracts are written, always
 * available, and what {@code -Dattn4j.simd=scalar} selects. Exponentials use {@link Math#exp}.
 */
public final class ScalarVectorOps implements VectorOps {

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public int lanes() {
        return 1;
    }

    @Override
    public float dot(float[] a, int aOffset, float[] b, int bOffset, int n) {
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            sum += a[aOffset + i] * b[bOffset + i];
        }
        return sum;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOffset, float[] y, int yOffset, int n) {
        for (int i = 0; i < n; i++) {
            y[yOffset + i] += alpha * x[xOffset + i];
        }
    }

    @Override
    public void scale(float[] x, int offset, int n, float alpha) {
        for (int i = 0; i < n; i++) {
            x[offset + i] *= alpha;
        }
    }

    @Override
    public float max(float[] x, int offset, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            m = Math.max(m, x[offset + i]);
        }
        return m;
    }

    @Override
    public float expShiftSum(float[] x, int offset, int n, float shift) {
        if (shift == Float.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(x, offset, offset + n, 0f);
            return 0f;
        }
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            float p = (float) Math.exp(x[offset + i] - shift);
            x[offset + i] = p;
            sum += p;
        }
        return sum;
    }

    @Override
    public float expShiftedSum(float[] x, int offset, int n, float[] shift, int shiftOffset) {
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            sum += (float) Math.exp(x[offset + i] - shift[shiftOffset + i]);
        }
        return sum;
    }

    @Override
    public void softcap(float[] x, int offset, int n, float cap) {
        for (int i = 0; i < n; i++) {
            x[offset + i] = cap * (float) Math.tanh(x[offset + i] / cap);
        }
    }

    @Override
    public void subtractDistance(float[] x, int offset, int n, int start, float slope) {
        for (int i = 0; i < n; i++) {
            x[offset + i] -= slope * Math.abs(start + i);
        }
    }

    @Override
    public void layerNorm(float[] x, int offset, int n, float[] gamma, float[] beta, float eps, float[] out,
                          int outOffset) {
        float mean = 0f;
        for (int i = 0; i < n; i++) {
            mean += x[offset + i];
        }
        mean /= n;
        float variance = 0f;
        for (int i = 0; i < n; i++) {
            float centred = x[offset + i] - mean;
            variance += centred * centred;
        }
        float inverse = (float) (1 / Math.sqrt(variance / n + eps));
        for (int i = 0; i < n; i++) {
            out[outOffset + i] = (x[offset + i] - mean) * inverse * gamma[i] + beta[i];
        }
    }

    @Override
    public void stateStep(float[] s, int sOffset, int rows, int cols, float[] decay, int decayOffset, float[] k,
                          int kOffset, float[] v, int vOffset, float[] q, int qOffset, float[] o, int oOffset) {
        for (int i = 0; i < rows; i++) {
            float a = decay == null ? 1f : decay[decayOffset + i], ki = k[kOffset + i];
            int row = sOffset + i * cols;
            for (int c = 0; c < cols; c++) {
                s[row + c] = a * s[row + c] + ki * v[vOffset + c];
            }
            if (q != null) {
                float qi = q[qOffset + i];
                for (int c = 0; c < cols; c++) {
                    o[oOffset + c] += qi * s[row + c];
                }
            }
        }
    }

    @Override
    public void logSigmoid(float[] x, int offset, int n, float scale) {
        for (int i = offset; i < offset + n; i++) {
            float v = x[i];
            x[i] = scale * (float) (Math.min(v, 0f) - Math.log1p(Math.exp(-Math.abs(v))));
        }
    }

    @Override
    public void gelu(float[] x, int offset, int n) {
        for (int i = 0; i < n; i++) {
            float v = x[offset + i];
            x[offset + i] = 0.5f * v * (1f + erf(v * 0.70710678f));
        }
    }

    /**
     * erf(x) by Abramowitz and Stegun 7.1.26 ({@code |error| <= 1.5e-7}), evaluated in double: the reference the
     * SIMD version follows, at the precision float32 can hold.
     */
    static float erf(float x) {
        double ax = Math.abs(x);
        double t = 1 / (1 + 0.3275911 * ax);
        double poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
        double y = 1 - poly * Math.exp(-ax * ax);
        return (float) (x < 0 ? -y : y);
    }

    @Override
    public void gemmPanel(float[] a, int aOffset, int aStride, int rows, int inputs, float[] panel, int panelOffset,
                          int width, float[] bias, int biasOffset, float[] c, int cOffset, int cStride) {
        for (int r = 0; r < rows; r++) {
            int aRow = aOffset + r * aStride, cRow = cOffset + r * cStride;
            for (int i = 0; i < width; i++) {
                float sum = 0f;
                for (int t = 0; t < inputs; t++) {
                    sum = Math.fma(a[aRow + t], panel[panelOffset + t * GEMM_PANEL + i], sum);
                }
                c[cRow + i] = sum + (bias == null ? 0f : bias[biasOffset + i]);
            }
        }
    }

    @Override
    public void scoresTransposed(float[] qT, int qTOffset, int qTStride, int queries,
                                 float[] k, int kOffset, int kStride, int keys, int dim,
                                 float[] s, int sOffset, int sStride) {
        for (int j = 0; j < keys; j++) {
            int kRow = kOffset + j * kStride;
            int sRow = sOffset + j * sStride;
            for (int i = 0; i < queries; i++) {
                float sum = 0f;
                for (int t = 0; t < dim; t++) {
                    sum += k[kRow + t] * qT[qTOffset + t * qTStride + i];
                }
                s[sRow + i] = sum;
            }
        }
    }

    @Override
    public void accumulateTransposed(float[] pT, int pOffset, int pStride, int queries, int keys,
                                     float[] v, int vOffset, int vStride, int dimV,
                                     float[] o, int oOffset, int oStride) {
        for (int i = 0; i < queries; i++) {
            int oRow = oOffset + i * oStride;
            for (int j = 0; j < keys; j++) {
                float p = pT[pOffset + j * pStride + i];
                int vRow = vOffset + j * vStride;
                for (int c = 0; c < dimV; c++) {
                    o[oRow + c] += p * v[vRow + c];
                }
            }
        }
    }

    @Override
    public void onlineSoftmaxTransposed(float[] s, int sOffset, int sStride, int rows, int cols, int firstKey,
                                        int[] from, int[] to, float[] max, float[] sum, float[] scoreSum,
                                        float[] alpha, float[] o, int oStride, int dimV) {
        if (from != null) {
            maskOutsideIntervals(s, sOffset, sStride, rows, cols, firstKey, from, to, 0);
        }
        for (int i = 0; i < cols; i++) {
            float m = max[i];
            for (int j = 0; j < rows; j++) {
                m = Math.max(m, s[sOffset + j * sStride + i]);
            }
            float a = m == max[i] ? 1f : (float) Math.exp(max[i] - m);
            float rowSum = 0f, rowScoreSum = 0f;
            for (int j = 0; j < rows; j++) {
                int at = sOffset + j * sStride + i;
                float score = s[at];
                float p = m == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(score - m);
                s[at] = p;
                rowSum += p;
                if (p != 0f) {
                    rowScoreSum += p * score;
                }
            }
            sum[i] = a * sum[i] + rowSum;
            if (scoreSum != null) {
                scoreSum[i] = a * scoreSum[i] + rowScoreSum;
            }
            alpha[i] = a;
            max[i] = m;
            if (a != 1f) {
                scale(o, i * oStride, dimV, a);
            }
        }
    }

    @Override
    public void maskOutsideIntervals(float[] s, int sOffset, int sStride, int rows, int cols, int firstKey,
                                     int[] from, int[] to, int boundsOffset) {
        maskColumns(s, sOffset, sStride, rows, 0, cols, firstKey, from, to, boundsOffset);
    }

    /** {@link #maskOutsideIntervals} for columns {@code [fromColumn, toColumn)}: also the SIMD version's tail. */
    static void maskColumns(float[] s, int sOffset, int sStride, int rows, int fromColumn, int toColumn, int firstKey,
                            int[] from, int[] to, int boundsOffset) {
        for (int j = 0; j < rows; j++) {
            int key = firstKey + j;
            int row = sOffset + j * sStride;
            for (int i = fromColumn; i < toColumn; i++) {
                if (key < from[boundsOffset + i] || key >= to[boundsOffset + i]) {
                    s[row + i] = Float.NEGATIVE_INFINITY;
                }
            }
        }
    }

    @Override
    public void transposeScaled(float[] src, int srcOffset, int srcStride, int rows, int cols,
                                float[] dst, int dstOffset, int dstStride, float scale) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                dst[dstOffset + c * dstStride + r] = scale * src[srcOffset + r * srcStride + c];
            }
        }
    }

    @Override
    public void scoresRows(float[] q, int qOffset, int qStride, int queries,
                           float[] k, int kOffset, int kStride, int keys, int dim,
                           float[] s, int sOffset, int sStride) {
        for (int r = 0; r < queries; r++) {
            for (int j = 0; j < keys; j++) {
                s[sOffset + r * sStride + j] = dot(q, qOffset + r * qStride, k, kOffset + j * kStride, dim);
            }
        }
    }

    @Override
    public void accumulateRows(float[] p, int pOffset, int pStride, int queries, int keys,
                               float[] v, int vOffset, int vStride, int dimV,
                               float[] o, int oOffset, int oStride) {
        for (int r = 0; r < queries; r++) {
            for (int j = 0; j < keys; j++) {
                axpy(p[pOffset + r * pStride + j], v, vOffset + j * vStride, o, oOffset + r * oStride, dimV);
            }
        }
    }
}
