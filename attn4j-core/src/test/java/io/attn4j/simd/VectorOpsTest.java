package io.attn4j.simd;

import io.attn4j.testing.Fresh;
import io.attn4j.testing.SimdPaths;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every {@link VectorOps} method of both implementations against a float64 oracle written here, over sizes that hit
 * every tail (Lucene's odd sizes), at offsets and strides that are not multiples of the vector length. Tolerances
 * scale with the number of terms summed.
 */
class VectorOpsTest {
    private static final int[] SIZES = {1, 3, 4, 6, 13, 16, 17, 31, 63, 64, 65, 100, 127, 128, 129, 257, 1000};

    static Stream<Arguments> cases() {
        return SimdPaths.all().stream().flatMap(ops -> Arrays.stream(SIZES).mapToObj(n -> Arguments.of(ops, n)));
    }

    private static float[] gaussian(SplittableRandom r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    private static void near(double expected, double actual, double tolerance, String what) {
        assertTrue(Math.abs(expected - actual) <= tolerance, () -> what + ": expected " + expected + " got " + actual
                + " (tolerance " + tolerance + ", seed base " + Fresh.base() + ")");
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void levelOne(VectorOps ops, int n) {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        float[] a = gaussian(r, n + 5), b = gaussian(r, n + 7);
        double dot = 0;
        for (int i = 0; i < n; i++) {
            dot += (double) a[i + 5] * b[i + 7];
        }
        near(dot, ops.dot(a, 5, b, 7, n), 1e-5 * Math.sqrt(n) * 4, "dot");

        float[] y = gaussian(r, n + 2), y0 = y.clone();
        ops.axpy(0.75f, a, 3, y, 2, n);
        for (int i = 0; i < n + 2; i++) {
            double expected = i < 2 ? y0[i] : y0[i] + 0.75 * a[i - 2 + 3];
            near(expected, y[i], 1e-6 * (1 + Math.abs(expected)), "axpy[" + i + "]");
        }

        float[] x = gaussian(r, n + 1), x0 = x.clone();
        ops.scale(x, 1, n, -1.5f);
        assertEquals(x0[0], x[0], "scale must not touch elements before the offset");
        for (int i = 1; i <= n; i++) {
            near(-1.5 * x0[i], x[i], 1e-6 * Math.abs(x0[i]) + 1e-7, "scale");
        }

        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, a[i + 2]);
        }
        assertEquals(max, ops.max(a, 2, n), "max");
        assertEquals(Float.NEGATIVE_INFINITY, ops.max(a, 0, 0), "max of nothing");
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void exponentials(VectorOps ops, int n) {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        float[] x = gaussian(r, n);
        for (int i = 0; i < n; i++) {
            x[i] *= 20; // logits spanning e^-60 .. e^60
        }
        if (n > 1) {
            x[r.nextInt(n)] = Float.NEGATIVE_INFINITY; // a masked logit
        }
        float shift = ops.max(x, 0, n);
        float[] p = x.clone();
        float sum = ops.expShiftSum(p, 0, n, shift);
        double expectedSum = 0;
        for (int i = 0; i < n; i++) {
            double e = Math.exp(x[i] - shift); // the contract subtracts in float
            expectedSum += e;
            near(e, p[i], 2e-7 * e + 1e-37, "exp[" + i + "] of " + x[i]);
        }
        near(expectedSum, sum, 1e-6 * expectedSum * Math.sqrt(n), "expShiftSum");

        float[] masked = x.clone();
        assertEquals(0f, ops.expShiftSum(masked, 0, n, Float.NEGATIVE_INFINITY), "all masked");
        for (float v : Arrays.copyOf(masked, n)) {
            assertEquals(0f, v, "all masked rows become 0");
        }

        float[] shifts = new float[n];
        for (int i = 0; i < n; i++) {
            shifts[i] = Math.max(x[i], 0) + (float) r.nextDouble();
        }
        double expected = 0;
        for (int i = 0; i < n; i++) {
            expected += Math.exp(x[i] - shifts[i]);
        }
        near(expected, ops.expShiftedSum(x, 0, n, shifts, 0), 1e-6 * expected * Math.sqrt(n) + 1e-30, "expShiftedSum");
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void scoreTransforms(VectorOps ops, int n) {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        float[] x = gaussian(r, n), y = x.clone();
        for (int i = 0; i < n; i++) {
            y[i] *= 40;
        }
        float[] capped = y.clone();
        ops.softcap(capped, 0, n, 30f);
        for (int i = 0; i < n; i++) {
            near(30 * Math.tanh(y[i] / 30.0), capped[i], 2e-6 * 30, "softcap");
        }
        float[] biased = x.clone();
        ops.subtractDistance(biased, 0, n, -n / 2, 0.25f);
        for (int i = 0; i < n; i++) {
            near(x[i] - 0.25 * Math.abs(-n / 2 + i), biased[i], 1e-5 * (1 + Math.abs(biased[i])), "subtractDistance");
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void layerNormAndGelu(VectorOps ops, int n) {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        float[] x = gaussian(r, n + 2), gamma = gaussian(r, n), beta = gaussian(r, n);
        for (int i = 0; i < x.length; i++) {
            x[i] = 3 + 2 * x[i]; // a mean far from zero tests the two-pass variance
        }
        float[] out = new float[n + 1];
        ops.layerNorm(x, 2, n, gamma, beta, 1e-12f, out, 1);
        double mean = 0, variance = 0;
        for (int i = 0; i < n; i++) {
            mean += x[2 + i];
        }
        mean /= n;
        for (int i = 0; i < n; i++) {
            variance += (x[2 + i] - mean) * (x[2 + i] - mean);
        }
        variance /= n;
        for (int i = 0; i < n; i++) {
            double expected = (x[2 + i] - mean) / Math.sqrt(variance + 1e-12) * gamma[i] + beta[i];
            near(expected, out[1 + i], 2e-5 * (1 + Math.abs(expected)) + (n == 1 ? Math.abs(beta[0]) + 1 : 0),
                    "layerNorm");
        }
        float[] g = gaussian(r, n);
        for (int i = 0; i < n; i++) {
            g[i] *= 4;
        }
        float[] g0 = g.clone();
        ops.gelu(g, 0, n);
        for (int i = 0; i < n; i++) {
            double v = g0[i];
            double expected = 0.5 * v * (1 + erf(v / Math.sqrt(2)));
            near(expected, g[i], 3e-7 * (1 + Math.abs(v)), "gelu(" + v + ")");
        }
    }

    /** erf in double by its Taylor series (|x| < 3) or the continued fraction of erfc: an independent reference. */
    private static double erf(double x) {
        double ax = Math.abs(x);
        double result;
        if (ax < 3) {
            double term = ax, sum = ax;
            for (int k = 1; k < 200; k++) {
                term *= -ax * ax / k;
                sum += term / (2 * k + 1);
            }
            result = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            double f = 0; // erfc(x) = e^{-x²}/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
            for (int k = 60; k >= 1; k--) {
                f = (k / 2.0) / (ax + f);
            }
            result = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
        }
        return x < 0 ? -result : result;
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void transposedTiles(VectorOps ops, int n) {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        int queries = Math.min(n, 97), keys = 1 + n % 37, dim = 1 + n % 70;
        int qStride = queries + 3, kStride = dim + 5, sStride = queries + 1;
        float[] qT = gaussian(r, dim * qStride + 2), k = gaussian(r, keys * kStride + 4);
        float[] s = new float[keys * sStride + 1];
        ops.scoresTransposed(qT, 2, qStride, queries, k, 4, kStride, keys, dim, s, 1, sStride);
        for (int j = 0; j < keys; j++) {
            for (int i = 0; i < queries; i++) {
                double expected = 0;
                for (int t = 0; t < dim; t++) {
                    expected += (double) k[4 + j * kStride + t] * qT[2 + t * qStride + i];
                }
                near(expected, s[1 + j * sStride + i], 1e-5 * Math.sqrt(dim) * 2, "scoresTransposed");
            }
        }

        int dimV = 1 + n % 83, vStride = dimV + 2, oStride = dimV + 1;
        float[] v = gaussian(r, keys * vStride), o = gaussian(r, queries * oStride + 3), o0 = o.clone();
        ops.accumulateTransposed(s, 1, sStride, queries, keys, v, 0, vStride, dimV, o, 3, oStride);
        for (int i = 0; i < queries; i++) {
            for (int c = 0; c < dimV; c++) {
                double expected = o0[3 + i * oStride + c];
                double scale = Math.abs(expected);
                for (int j = 0; j < keys; j++) {
                    double term = (double) s[1 + j * sStride + i] * v[j * vStride + c];
                    expected += term;
                    scale += Math.abs(term);
                }
                near(expected, o[3 + i * oStride + c], 2e-6 * scale + 1e-6, "accumulateTransposed");
            }
        }

        // one online-softmax step on the tile: running maxima, sums and output rows from an earlier step
        float[] tile = s.clone();
        for (int j = 0; j < keys; j++) {
            tile[1 + j * sStride] = Float.NEGATIVE_INFINITY; // query 0 sees nothing in this tile
        }
        float[] max = new float[queries], sum = new float[queries], scoreSum = new float[queries];
        float[] alpha = new float[queries];
        for (int i = 0; i < queries; i++) {
            max[i] = i % 3 == 0 ? Float.NEGATIVE_INFINITY : (float) r.nextGaussian() * 3;
            sum[i] = max[i] == Float.NEGATIVE_INFINITY ? 0f : 1 + (float) r.nextDouble();
            scoreSum[i] = (float) r.nextGaussian();
        }
        float[] max0 = max.clone(), sum0 = sum.clone(), scoreSum0 = scoreSum.clone();
        float[] out = gaussian(r, queries * dimV), out0 = out.clone();
        ops.onlineSoftmaxTransposed(tile, 1, sStride, keys, queries, 0, null, null, max, sum, scoreSum, alpha,
                out, dimV, dimV);
        for (int i = 0; i < queries; i++) {
            double m = max0[i];
            for (int j = 0; j < keys; j++) {
                m = Math.max(m, i == 0 ? Double.NEGATIVE_INFINITY : s[1 + j * sStride + i]);
            }
            assertEquals((float) m, max[i], "new maximum of query " + i);
            double a = m == max0[i] ? 1 : Math.exp(max0[i] - (float) m); // float subtraction, as the contract
            near(a, alpha[i], 1e-6 * a + 1e-37, "alpha");
            double total = a * sum0[i], scoreTotal = a * scoreSum0[i];
            for (int j = 0; j < keys; j++) {
                double score = i == 0 ? Double.NEGATIVE_INFINITY : s[1 + j * sStride + i];
                double p = m == Double.NEGATIVE_INFINITY ? 0 : Math.exp((float) score - (float) m);
                near(p, tile[1 + j * sStride + i], 2e-7 * p + 1e-37, "probability");
                total += p;
                scoreTotal += p == 0 ? 0 : p * score;
            }
            near(total, sum[i], 1e-6 * (1 + total), "sum");
            near(scoreTotal, scoreSum[i], 1e-5 * (1 + Math.abs(scoreTotal) + total * 10), "score sum");
            for (int c = 0; c < dimV; c++) {
                near(a * out0[i * dimV + c], out[i * dimV + c], 1e-6 * Math.abs(out0[i * dimV + c]) + 1e-30,
                        "rescaled output");
            }
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void onlineSoftmaxWithIntervalsMatchesMaskingThenSoftmax(VectorOps ops, int n) {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        int rows = 1 + n % 23, cols = n;
        float[] s = gaussian(r, rows * cols);
        int[] from = new int[cols], to = new int[cols];
        for (int i = 0; i < cols; i++) {
            from[i] = 50 + r.nextInt(rows + 2) - 1;
            to[i] = from[i] + r.nextInt(rows + 1);
        }
        float[] masked = s.clone();
        ops.maskOutsideIntervals(masked, 0, cols, rows, cols, 50, from, to, 0);
        float[] a = masked.clone(), b = s.clone();
        float[][] state = new float[6][cols];
        java.util.Arrays.fill(state[0], Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(state[3], Float.NEGATIVE_INFINITY);
        ops.onlineSoftmaxTransposed(a, 0, cols, rows, cols, 50, null, null, state[0], state[1], null, state[2],
                new float[cols], 1, 1);
        ops.onlineSoftmaxTransposed(b, 0, cols, rows, cols, 50, from, to, state[3], state[4], null, state[5],
                new float[cols], 1, 1);
        assertTrue(java.util.Arrays.equals(a, b), "fused masking equals masking first");
        assertTrue(java.util.Arrays.equals(state[1], state[4]), "sums agree");

        // the row form on the same data, query by query
        float[] rowsLayout = new float[cols * rows];
        for (int j = 0; j < rows; j++) {
            for (int i = 0; i < cols; i++) {
                rowsLayout[i * rows + j] = s[j * cols + i];
            }
        }
        float[] max = new float[cols + 2], sum = new float[cols + 2];
        int[] rowFrom = new int[cols + 2], rowTo = new int[cols + 2];
        java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
        System.arraycopy(from, 0, rowFrom, 2, cols);
        System.arraycopy(to, 0, rowTo, 2, cols);
        ops.onlineSoftmaxRows(rowsLayout, 0, rows, cols, rows, 50, rowFrom, rowTo, 2, max, sum, new float[cols + 2],
                1, 1);
        for (int i = 0; i < cols; i++) {
            near(state[4][i], sum[i + 2], 1e-6 * (1 + state[4][i]), "row form sum of query " + i);
            for (int j = 0; j < rows; j++) {
                near(b[j * cols + i], rowsLayout[i * rows + j], 1e-6 * b[j * cols + i] + 1e-37, "row form p");
            }
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void maskingScalingTransposing(VectorOps ops, int n) {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        int rows = 1 + n % 19, cols = n;
        float[] s = gaussian(r, rows * cols), s0 = s.clone();
        int[] from = new int[cols], to = new int[cols];
        for (int i = 0; i < cols; i++) {
            from[i] = 100 + r.nextInt(rows + 2) - 1;
            to[i] = from[i] + r.nextInt(rows + 1);
        }
        ops.maskOutsideIntervals(s, 0, cols, rows, cols, 100, from, to, 0);
        for (int j = 0; j < rows; j++) {
            for (int i = 0; i < cols; i++) {
                int key = 100 + j;
                float expected = key >= from[i] && key < to[i] ? s0[j * cols + i] : Float.NEGATIVE_INFINITY;
                assertEquals(expected, s[j * cols + i], "maskOutsideIntervals");
            }
        }

        float[] o0 = gaussian(r, rows * cols);
        float[] t = new float[cols * (rows + 2)];
        ops.transposeScaled(o0, 0, cols, rows, cols, t, 1, rows + 2, 0.5f);
        for (int j = 0; j < rows; j++) {
            for (int i = 0; i < cols; i++) {
                assertEquals(0.5f * o0[j * cols + i], t[1 + i * (rows + 2) + j], "transposeScaled");
            }
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void rowTiles(VectorOps ops, int n) {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        int queries = 1 + n % 11, keys = n, dim = 1 + (n * 7) % 130;
        int qStride = dim + 1, kStride = dim + 3, sStride = keys + 2;
        float[] q = gaussian(r, queries * qStride), k = gaussian(r, keys * kStride);
        float[] s = new float[queries * sStride];
        ops.scoresRows(q, 0, qStride, queries, k, 0, kStride, keys, dim, s, 0, sStride);
        for (int x = 0; x < queries; x++) {
            for (int j = 0; j < keys; j++) {
                double expected = 0;
                for (int t = 0; t < dim; t++) {
                    expected += (double) q[x * qStride + t] * k[j * kStride + t];
                }
                near(expected, s[x * sStride + j], 1e-5 * Math.sqrt(dim) * 2, "scoresRows");
            }
        }
        int dimV = 1 + (n * 3) % 140, vStride = dimV + 4, oStride = dimV;
        float[] v = gaussian(r, keys * vStride), o = gaussian(r, queries * oStride), o0 = o.clone();
        ops.accumulateRows(s, 0, sStride, queries, keys, v, 0, vStride, dimV, o, 0, oStride);
        for (int x = 0; x < queries; x++) {
            for (int c = 0; c < dimV; c++) {
                double expected = o0[x * oStride + c], scale = Math.abs(expected);
                for (int j = 0; j < keys; j++) {
                    double term = (double) s[x * sStride + j] * v[j * vStride + c];
                    expected += term;
                    scale += Math.abs(term);
                }
                near(expected, o[x * oStride + c], 2e-6 * scale + 1e-6, "accumulateRows");
            }
        }
    }

    /** int8 and int4 rows dequantise to {@code bias + scale · code}, every element, at unaligned offsets. */
    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void dequantisation(VectorOps ops, int n) {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        byte[] codes = new byte[n + 3];
        r.nextBytes(codes);
        float bias = (float) r.nextGaussian(), scale = (float) Math.abs(r.nextGaussian()) + 0.01f;
        float[] dst = new float[n + 5];
        Arrays.fill(dst, Float.NaN);
        ops.dequantizeBytes(codes, 3, bias, scale, dst, 5, n);
        for (int i = 0; i < n; i++) {
            double expected = bias + (double) scale * codes[3 + i];
            near(expected, dst[5 + i], 1e-6 * (1 + Math.abs(expected)), "int8[" + i + "]");
        }
        for (int i = 0; i < 5; i++) {
            assertTrue(Float.isNaN(dst[i]), "int8 wrote before its offset");
        }
        Arrays.fill(dst, Float.NaN);
        int half = (n + 1) / 2;
        ops.dequantizeNibbles(codes, 3, bias, scale, dst, 5, n);
        for (int e = 0; e < n; e++) {
            int b = codes[3 + (e < half ? e : e - half)];
            int code = e < half ? b & 0x0F : (b >> 4) & 0x0F;
            double expected = bias + (double) scale * code;
            near(expected, dst[5 + e], 1e-6 * (1 + Math.abs(expected)), "int4[" + e + "] of " + n);
        }
        assertTrue(Float.isNaN(dst[4]), "int4 wrote before its offset");
    }

    /** {@code scale · log σ(x)} against float64, through both saturated tails and around 0. */
    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void logSigmoid(VectorOps ops, int n) {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        float[] x = new float[n + 2];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() * (i % 3 == 0 ? 40 : 3));
        }
        float[] y = x.clone();
        ops.logSigmoid(y, 2, n, 0.75f);
        for (int i = 0; i < n; i++) {
            double v = x[2 + i];
            double expected = 0.75 * (Math.min(v, 0) - Math.log1p(Math.exp(-Math.abs(v))));
            near(expected, y[2 + i], 3e-7 * (1 + Math.abs(expected)), "logSigmoid(" + v + ")");
        }
        assertEquals(x[0], y[0]);
        assertEquals(x[1], y[1]);
    }
}
