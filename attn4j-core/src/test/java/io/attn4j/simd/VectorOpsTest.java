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

        float[] max = new float[queries];
        Arrays.fill(max, -1e30f);
        max[0] = 1e30f;
        ops.columnMax(s, 1, sStride, keys, queries, max, 0);
        for (int i = 1; i < queries; i++) {
            float expected = -1e30f;
            for (int j = 0; j < keys; j++) {
                expected = Math.max(expected, s[1 + j * sStride + i]);
            }
            assertEquals(expected, max[i], "columnMax");
        }
        assertEquals(1e30f, max[0], "columnMax keeps a larger running max");

        // exponentiate against the column max; one column fully masked (shift −∞)
        float[] tile = s.clone();
        float[] shift = max.clone();
        shift[0] = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < keys; j++) {
            tile[1 + j * sStride] = Float.NEGATIVE_INFINITY;
        }
        float[] sum = new float[queries], scoreSum = new float[queries];
        ops.expColumns(tile, 1, sStride, keys, queries, shift, 0, sum, 0, scoreSum);
        for (int i = 0; i < queries; i++) {
            double expectedSum = 0, expectedScoreSum = 0;
            for (int j = 0; j < keys; j++) {
                double score = i == 0 ? Double.NEGATIVE_INFINITY : s[1 + j * sStride + i];
                double p = i == 0 ? 0 : Math.exp((float) score - shift[i]); // float subtraction, as the contract
                near(p, tile[1 + j * sStride + i], 2e-7 * p + 1e-37, "expColumns");
                expectedSum += p;
                expectedScoreSum += p == 0 ? 0 : p * score;
            }
            near(expectedSum, sum[i], 1e-6 * (1 + expectedSum), "expColumns sum");
            near(expectedScoreSum, scoreSum[i], 1e-5 * (1 + Math.abs(expectedScoreSum) + expectedSum * 10),
                    "expColumns score sum");
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

        float[] o = gaussian(r, rows * cols), o0 = o.clone(), factor = gaussian(r, rows);
        factor[0] = 1f;
        ops.scaleRows(o, 0, cols, rows, cols, factor, 0);
        for (int j = 0; j < rows; j++) {
            for (int i = 0; i < cols; i++) {
                near((double) o0[j * cols + i] * factor[j], o[j * cols + i], 1e-6 * Math.abs(o0[j * cols + i] * factor[j]),
                        "scaleRows");
            }
        }

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
}
