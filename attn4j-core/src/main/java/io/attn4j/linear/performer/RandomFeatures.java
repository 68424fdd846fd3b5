package io.attn4j.linear.performer;

import java.util.SplittableRandom;

/**
 * One draw of FAVOR+'s positive random features: {@code m} projection rows {@code ω_i ∈ R^D} and the maps
 * <pre>
 *   φ(x)_i = exp(ω_iᵀx' − |x'|²/2) / √m,   x' = x · √scale
 * </pre>
 * for which {@code E[φ(q)·φ(k)] = exp(scale · q·k)} when every {@code ω_i} is marginally N(0, I_D) (Lemma 1 of
 * the Performer paper).
 *
 * <p><b>Draw.</b> Orthogonal (the default): rows come in blocks of D; each block is a D × D matrix of i.i.d.
 * N(0, 1) entries made orthonormal by modified Gram–Schmidt (in float64) over its rows, every row then rescaled to
 * the norm of an independent N(0, I_D) vector (chi-distributed with D degrees of freedom), so each row is
 * marginally N(0, I_D) and the rows of a block are exactly orthogonal. The last block keeps only the rows it needs
 * when m is not a multiple of D. Otherwise (not orthogonal) the rows are i.i.d. N(0, I_D). The draw is a pure
 * function of (m, D, seed, orthogonal) through {@link SplittableRandom}.
 *
 * <p><b>The key bound.</b> {@code ωᵀk' − |k'|²/2 = |ω|²/2 − |k' − ω|²/2 ≤ |ω|²/2}, so whatever the key, key feature
 * i is at most {@code exp(|ω_i|²/2) / √m} — a bound fixed by the draw, not the data. Keys get no data-dependent
 * stabiliser (it would differ between a prefix and the whole and break state passing). The mechanism stores
 * {@code e^KEY_OFFSET · √m · φ(k')} ({@link #key}: a constant factor, which cancels in the normalised attention;
 * the offset of {@value #KEY_OFFSET} keeps one token's contribution far above the rounding of a state of order 1
 * passed in from outside). When the draw's {@code max |ω_i|²/2 + KEY_OFFSET} is at most {@value #KEY_EXPONENT_LIMIT}
 * (at D = 64 most draws of 256 rows), the bound alone keeps every stored key feature below
 * {@code e^60 ≈ 1.1e26}, leaving float32 (max ≈ 3.4e38 ≈ e^88.7) a factor of about 3e12 for the sums over tokens of
 * {@code φ(k)} and {@code φ(k) v} — a million tokens with |v| up to 1e6 — and φ is exactly the formula for every
 * key. Larger head dims have larger {@code |ω|} ({@code |ω|²} is chi-square with D degrees of freedom: over 20
 * draws of 256 rows the largest {@code |ω|²/2} measured 45 to 60 at D = 64, 83 to 95 at D = 128, 155 to 172 at
 * D = 256); there the stored exponent is clamped at {@value #KEY_EXPONENT_LIMIT}, a per-feature rule that needs no
 * other token. The clamp binds only when {@code ω_iᵀk' − |k'|²/2 > 54}, which needs
 * {@code |ω_i|·|k'| > 54 + |k'|²/2}: a key nearly parallel to a random row {@code ω_i}. A key in a random direction
 * has {@code ω_iᵀk' ~ N(0, |k'|²)}, whose largest value over m rows, less {@code |k'|²/2}, stays below about 6 at
 * any norm (about 10 even at m = 65536). So every configuration stays finite and none is refused (the shared
 * conformance suite runs head dims up to 256); what the clamp gives up is exactness for adversarially aligned keys,
 * where the estimate's variance is useless anyway. At the other end a key with {@code |k'|²/2} beyond about
 * 93 + {@code max_i ω_iᵀk'} underflows to zero features and drops out of the estimate.
 */
public final class RandomFeatures {
    /** The largest key exponent: stored key features ({@code e^KEY_OFFSET · √m · φ}) stay below {@code e^60}. */
    public static final double KEY_EXPONENT_LIMIT = 60;
    /** The constant added to every stored key exponent (it cancels; see {@link #key}). */
    public static final double KEY_OFFSET = 6;

    private final int features;
    private final int dim;
    private final long seed;
    private final boolean orthogonal;
    /** {@code ω}: row i at {@code [i·D, (i+1)·D)}. */
    private final float[] omega;
    private final double maxHalfNormSquared;

    private RandomFeatures(int features, int dim, long seed, boolean orthogonal, float[] omega) {
        this.features = features;
        this.dim = dim;
        this.seed = seed;
        this.orthogonal = orthogonal;
        this.omega = omega;
        double max = 0;
        for (int i = 0; i < features; i++) {
            double norm = 0;
            for (int j = 0; j < dim; j++) {
                norm += (double) omega[i * dim + j] * omega[i * dim + j];
            }
            max = Math.max(max, norm / 2);
        }
        this.maxHalfNormSquared = max;
    }

    /**
     * Draws {@code features} rows of dimension {@code dim} from {@code seed}.
     *
     * @throws IllegalArgumentException for {@code features < 1} or {@code dim < 1}
     */
    public static RandomFeatures draw(int features, int dim, long seed, boolean orthogonal) {
        if (features < 1 || dim < 1) {
            throw new IllegalArgumentException("features = " + features + ", dim = " + dim + "; allowed: both >= 1");
        }
        SplittableRandom random = new SplittableRandom(seed);
        float[] omega = new float[features * dim];
        if (!orthogonal) {
            for (int i = 0; i < omega.length; i++) {
                omega[i] = (float) random.nextGaussian();
            }
            return new RandomFeatures(features, dim, seed, false, omega);
        }
        double[] block = new double[dim * dim];
        for (int first = 0; first < features; first += dim) {
            for (int i = 0; i < block.length; i++) {
                block[i] = random.nextGaussian();
            }
            orthonormaliseRows(block, dim);
            int rows = Math.min(dim, features - first);
            for (int r = 0; r < rows; r++) {
                // the norm of a fresh N(0, I_D) vector: chi-distributed, so the row is marginally N(0, I_D)
                double norm = 0;
                for (int j = 0; j < dim; j++) {
                    double g = random.nextGaussian();
                    norm += g * g;
                }
                norm = Math.sqrt(norm);
                for (int j = 0; j < dim; j++) {
                    omega[(first + r) * dim + j] = (float) (block[r * dim + j] * norm);
                }
            }
        }
        return new RandomFeatures(features, dim, seed, true, omega);
    }

    /** Modified Gram–Schmidt over the rows of a {@code d × d} matrix (full rank with probability 1). */
    private static void orthonormaliseRows(double[] a, int d) {
        for (int r = 0; r < d; r++) {
            for (int p = 0; p < r; p++) {
                double dot = 0;
                for (int j = 0; j < d; j++) {
                    dot += a[r * d + j] * a[p * d + j];
                }
                for (int j = 0; j < d; j++) {
                    a[r * d + j] -= dot * a[p * d + j];
                }
            }
            double norm = 0;
            for (int j = 0; j < d; j++) {
                norm += a[r * d + j] * a[r * d + j];
            }
            double inv = 1 / Math.sqrt(norm);
            for (int j = 0; j < d; j++) {
                a[r * d + j] *= inv;
            }
        }
    }

    /** m. */
    public int features() {
        return features;
    }

    /** D. */
    public int dim() {
        return dim;
    }

    public long seed() {
        return seed;
    }

    public boolean orthogonal() {
        return orthogonal;
    }

    /** A copy of {@code ω}, row i at {@code [i·D, (i+1)·D)}. */
    public float[] omega() {
        return omega.clone();
    }

    /** {@code max_i |ω_i|²/2}: {@code e} to it bounds every key feature times √m. */
    public double maxHalfNormSquared() {
        return maxHalfNormSquared;
    }

    /** Whether a key exponent can reach the clamp: {@code max_i |ω_i|²/2 + KEY_OFFSET > KEY_EXPONENT_LIMIT}. */
    public boolean keysMayClamp() {
        return maxHalfNormSquared + KEY_OFFSET > KEY_EXPONENT_LIMIT;
    }

    private volatile io.attn4j.linalg.PackedMatrix packed;

    /**
     * {@link #query} or {@link #key} for {@code count} contiguous rows of D floats at once: the projections as one
     * packed GEMM ({@link io.attn4j.linalg.Gemm}, float32, all cores), then each row's exponentials vectorised,
     * shifted by the row's largest exponent and scaled back (keys) so that no exponential overflows. Values equal the
     * per-row maps up to float32 rounding of the projections.
     */
    void mapRows(io.attn4j.runtime.Engine engine, float[] rows, int count, double inputScale, boolean query,
                 float[] out) {
        io.attn4j.linalg.PackedMatrix w = packed;
        if (w == null) {
            w = io.attn4j.linalg.PackedMatrix.ofOutputsByInputs(io.attn4j.tensor.Tensor.of(omega, features, dim));
            packed = w;
        }
        io.attn4j.linalg.Gemm.multiply(engine, rows, 0, dim, count, w, null, out, 0, features);
        io.attn4j.simd.VectorOps ops = engine.ops();
        float s = (float) inputScale;
        int tasks = (count + 255) / 256;
        engine.parallelFor(tasks, task -> {
            for (int r = task * 256; r < Math.min(count, (task + 1) * 256); r++) {
                int o = r * features;
                ops.scale(out, o, features, s);
                if (query) {
                    ops.expShiftSum(out, o, features, ops.max(out, o, features));
                    continue;
                }
                float half = 0.5f * s * s * ops.dot(rows, r * dim, rows, r * dim, dim);
                float shift = (float) KEY_OFFSET - half;
                for (int i = o; i < o + features; i++) {
                    out[i] = (float) Math.min(out[i] + shift, KEY_EXPONENT_LIMIT);
                }
                float max = ops.max(out, o, features);
                ops.expShiftSum(out, o, features, max);
                ops.scale(out, o, features, (float) Math.exp(max));
            }
        });
    }

    /** {@code ω_iᵀx'} for every i, {@code x' = x · inputScale}, into {@code out[0, m)}; returns {@code |x'|²/2}. */
    private double projections(float[] x, int offset, double inputScale, double[] out) {
        double half = 0;
        for (int j = 0; j < dim; j++) {
            double xj = x[offset + j] * inputScale;
            half += xj * xj;
        }
        for (int i = 0; i < features; i++) {
            double dot = 0;
            int row = i * dim;
            for (int j = 0; j < dim; j++) {
                dot += omega[row + j] * (double) x[offset + j];
            }
            out[i] = dot * inputScale;
        }
        return half / 2;
    }

    /**
     * The unstabilised map {@code φ(x)_i = exp(ω_iᵀx' − |x'|²/2) / √m} with {@code x' = x · inputScale}, in
     * float64 (tests and diagnostics; may overflow for large inputs).
     */
    public double[] map(float[] x, int offset, double inputScale) {
        double[] out = new double[features];
        double half = projections(x, offset, inputScale, out);
        double norm = 1 / Math.sqrt(features);
        for (int i = 0; i < features; i++) {
            out[i] = Math.exp(out[i] - half) * norm;
        }
        return out;
    }

    /** {@code φ(q')·φ(k')} with {@code x' = x · √scale}: the unbiased estimate of {@code exp(scale · q·k)}. */
    public double kernel(float[] q, int qOffset, float[] k, int kOffset, double scale) {
        double s = Math.sqrt(scale);
        double[] a = map(q, qOffset, s), b = map(k, kOffset, s);
        double sum = 0;
        for (int i = 0; i < features; i++) {
            sum += a[i] * b[i];
        }
        return sum;
    }

    /**
     * The query map as the mechanism computes it: {@code exp(ω_iᵀq' − max_j ω_jᵀq')}, that is {@code φ(q')} times
     * {@code √m · e^{|q'|²/2 − max_j ω_jᵀq'}}. The row's largest exponent is subtracted (the {@code |q'|²/2} term
     * goes with it): one positive factor per row, which cancels in the normalised attention; every value is in
     * (0, 1].
     *
     * @param scratch at least m doubles
     */
    void query(float[] x, int offset, double inputScale, float[] out, int outOffset, double[] scratch) {
        projections(x, offset, inputScale, scratch);
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < features; i++) {
            max = Math.max(max, scratch[i]);
        }
        for (int i = 0; i < features; i++) {
            out[outOffset + i] = (float) Math.exp(scratch[i] - max);
        }
    }

    /**
     * The key map as the mechanism computes it: {@code exp(min(ω_iᵀk' − |k'|²/2 + KEY_OFFSET, 60))}, that is
     * {@code e^KEY_OFFSET · √m · φ(k')} (a constant factor, which cancels in the normalised attention); the clamp
     * can bind only when {@link #keysMayClamp()} (see the class comment).
     *
     * @param scratch at least m doubles
     */
    void key(float[] x, int offset, double inputScale, float[] out, int outOffset, double[] scratch) {
        double half = projections(x, offset, inputScale, scratch);
        for (int i = 0; i < features; i++) {
            out[outOffset + i] = (float) Math.exp(Math.min(scratch[i] - half + KEY_OFFSET, KEY_EXPONENT_LIMIT));
        }
    }
}
