package io.attn4j.testing;

import io.attn4j.tensor.Tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Error measures and the assertions the conformance suite makes with them. */
public final class Numerics {
    private Numerics() {
    }

    /** max |a − b| over all elements (same shape); infinite if either holds a NaN where the other does not. */
    public static double maxAbsDiff(Tensor a, Tensor b) {
        assertArrayEquals(a.shape(), b.shape(), "shapes differ");
        float[] x = a.toArray(), y = b.toArray();
        double max = 0;
        for (int i = 0; i < x.length; i++) {
            if (Float.isNaN(x[i]) != Float.isNaN(y[i])) {
                return Double.POSITIVE_INFINITY;
            }
            if (!Float.isNaN(x[i])) {
                max = Math.max(max, Math.abs((double) x[i] - y[i]));
            }
        }
        return max;
    }

    /** ‖a − b‖ / ‖b‖. */
    public static double relativeError(Tensor a, Tensor b) {
        float[] x = a.toArray(), y = b.toArray();
        double num = 0, den = 0;
        for (int i = 0; i < x.length; i++) {
            num += ((double) x[i] - y[i]) * ((double) x[i] - y[i]);
            den += (double) y[i] * y[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-300));
    }

    /** Fails if any element is NaN or infinite. */
    public static void assertFinite(Tensor t, String what) {
        int[] at = t.firstNonFinite();
        if (at != null) {
            fail(what + " holds " + t.get(at) + " at " + java.util.Arrays.toString(at) + " (seed base " + Fresh.base() + ")");
        }
    }

    /**
     * FlashAttention's rule for exact kernels: {@code max|ours − ref| <= 2 · max|naive − ref| + 1e-6}, where naive
     * is the float32 two-pass kernel on the same inputs and ref the float64 reference.
     */
    public static void assertExact(String what, Tensor ours, Tensor naive, Tensor reference) {
        assertFinite(ours, what);
        double ourError = maxAbsDiff(ours, reference);
        double naiveError = maxAbsDiff(naive, reference);
        assertTrue(ourError <= 2 * naiveError + 1e-6, () -> what + ": error " + ourError + " exceeds 2 × naive's "
                + naiveError + " + 1e-6 (seed base " + Fresh.base() + ")");
    }

    /** max |a − b| <= tolerance. */
    public static void assertClose(String what, Tensor a, Tensor b, double tolerance) {
        double diff = maxAbsDiff(a, b);
        assertTrue(diff <= tolerance, () -> what + ": max difference " + diff + " > " + tolerance + " (seed base "
                + Fresh.base() + ")");
    }

    /** Bit-identical contents. */
    public static void assertBitIdentical(String what, Tensor a, Tensor b) {
        float[] x = a.toArray(), y = b.toArray();
        assertEquals(x.length, y.length, what);
        for (int i = 0; i < x.length; i++) {
            if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i])) {
                fail(what + ": element " + i + " differs: " + x[i] + " vs " + y[i]);
            }
        }
    }
}
