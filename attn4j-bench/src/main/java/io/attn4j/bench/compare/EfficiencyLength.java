package io.attn4j.bench.compare;

import java.util.Locale;

/**
 * CAB's efficiency length: the sequence length where a mechanism's cost curve crosses {@code flash}'s. Each curve is
 * fitted with a quadratic {@code c(n) = a·n² + b·n + c} by least squares over the measured lengths (in units of 1K
 * tokens, for conditioning); the crossing is the root of their difference, searched from an eighth of the shortest
 * measured length to eight times the longest. Outside that range the verdict says which is cheaper everywhere.
 *
 * @param length  the crossing in tokens, or {@code null} when there is none in the range
 * @param cheaperAbove whether the mechanism is the cheaper one above the crossing (or everywhere, without one)
 * @param verdict a sentence for the report
 */
public record EfficiencyLength(Double length, boolean cheaperAbove, String verdict) {

    /** At least this many lengths are needed to fit a quadratic. */
    public static final int MIN_POINTS = 3;

    /**
     * @param lengths     measured lengths (the same for both curves)
     * @param flash       flash's cost at each length
     * @param other       the mechanism's cost at each length
     * @param what        "time" or "memory", for the verdict
     */
    public static EfficiencyLength of(int[] lengths, double[] flash, double[] other, String what) {
        if (lengths.length < MIN_POINTS || flash.length != lengths.length || other.length != lengths.length) {
            throw new IllegalArgumentException(what + ": need " + MIN_POINTS + " or more lengths with both costs; got "
                    + lengths.length);
        }
        double[] f = fit(lengths, flash), o = fit(lengths, other);
        double a = o[0] - f[0], b = o[1] - f[1], c = o[2] - f[2];
        double lo = lengths[0] / 8.0 / 1024, hi = lengths[lengths.length - 1] * 8.0 / 1024;
        Double root = null;
        // the smallest root of a·x² + b·x + c in [lo, hi] (x in K tokens), where the sign changes
        double prev = lo, prevValue = a * lo * lo + b * lo + c;
        int steps = 4096;
        for (int i = 1; i <= steps && root == null; i++) {
            double x = lo * Math.pow(hi / lo, (double) i / steps), value = a * x * x + b * x + c;
            if (Math.signum(value) != Math.signum(prevValue) && prevValue != 0) {
                double l = prev, h = x;
                for (int k = 0; k < 60; k++) {
                    double m = (l + h) / 2, vm = a * m * m + b * m + c;
                    if (Math.signum(vm) == Math.signum(prevValue)) {
                        l = m;
                    } else {
                        h = m;
                    }
                }
                root = (l + h) / 2 * 1024;
            }
            prev = x;
            prevValue = value;
        }
        double atHi = a * hi * hi + b * hi + c;
        boolean cheaperAbove = atHi < 0;
        String cheaper = what.equals("time") ? "faster" : "less", dearer = what.equals("time") ? "slower" : "more";
        String verdict = root != null
                ? String.format(Locale.ROOT, "%s: %s than flash above %s tokens, %s below", what,
                cheaperAbove ? cheaper : dearer, tokens(root), cheaperAbove ? dearer : cheaper)
                : String.format(Locale.ROOT, "%s: %s than flash everywhere from %s to %s tokens", what,
                cheaperAbove ? cheaper : dearer, tokens(lo * 1024), tokens(hi * 1024));
        return new EfficiencyLength(root, cheaperAbove, verdict);
    }

    /** Least-squares {@code a, b, c} of {@code y ≈ a·x² + b·x + c} with {@code x} in K tokens. */
    static double[] fit(int[] lengths, double[] y) {
        double[][] m = new double[3][4];
        for (int i = 0; i < lengths.length; i++) {
            double x = lengths[i] / 1024.0;
            double[] row = {x * x, x, 1};
            for (int r = 0; r < 3; r++) {
                for (int c = 0; c < 3; c++) {
                    m[r][c] += row[r] * row[c];
                }
                m[r][3] += row[r] * y[i];
            }
        }
        // Gaussian elimination with partial pivoting on the 3×3 normal equations
        for (int col = 0; col < 3; col++) {
            int pivot = col;
            for (int r = col + 1; r < 3; r++) {
                if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) {
                    pivot = r;
                }
            }
            double[] t = m[col];
            m[col] = m[pivot];
            m[pivot] = t;
            if (m[col][col] == 0) {
                throw new IllegalArgumentException("cannot fit a quadratic to " + lengths.length + " lengths");
            }
            for (int r = 0; r < 3; r++) {
                if (r != col) {
                    double factor = m[r][col] / m[col][col];
                    for (int c = col; c < 4; c++) {
                        m[r][c] -= factor * m[col][c];
                    }
                }
            }
        }
        return new double[] {m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]};
    }

    private static String tokens(double n) {
        return n >= 1024 ? String.format(Locale.ROOT, "%.1fK", n / 1024) : String.format(Locale.ROOT, "%.0f", n);
    }
}
