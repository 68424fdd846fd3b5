package io.attn4j.simd;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link VectorOps} on the incubating Vector API, at the platform's preferred width (512 bits with AVX-512).
 *
 * <p>The only class of attn4j-core that imports {@code jdk.incubator.vector}; {@link VectorOpsProvider} loads it
 * reflectively, so the rest of the library links without the module. Tile kernels are register-blocked the way a
 * GEMM micro-kernel is: {@link #scoresTransposed} keeps a 4-key × 4-vector block of scores in 16 registers and
 * streams the transposed queries, broadcasting one key element at a time; {@link #accumulateTransposed} keeps a
 * 4-query × 4-vector block of the output and streams value rows.
 *
 * <p><b>How this code stays compiled.</b> The Vector API is fast only where C2 turns every call into an
 * instruction; a vector that reaches a call C2 did not inline is boxed — a heap object per vector per call, and a
 * kernel that runs ten times slower while allocating hundreds of megabytes. C2 has an inlining budget per compiled
 * method. Past it, the API's own methods (force-inlined) are still inlined late, but a method of ours is refused.
 * Hence three rules, each learnt from a profile:
 * <ol>
 *   <li>no method of this class passes a vector or a mask to another: kernels take arrays and indices, build their
 *       masks themselves, and the exponential is written out where it is used (five times) rather than called;</li>
 *   <li>loops run full vectors without masks and finish with a scalar (or one masked) tail: masked accesses near
 *       the end of an array take a slow path that is not intrinsified;</li>
 *   <li>hot helper calls between our methods pass arrays, so a call that ends up not inlined costs a call, never a
 *       box.</li>
 * </ol>
 *
 * <p><b>The exponential.</b> Computed here rather than with {@code VectorOperators.EXP} (or {@code TANH}), so its
 * cost and accuracy are the same on every platform and its result is the same bit for bit whether the JIT has
 * compiled the method yet or not (the JDK's operators call a vector math library once compiled and {@code Math.exp}
 * before, which differ in the last bit: a model's output then depended on warm-up): {@code y = x − shift <= 0} is clamped at −88, split as {@code y = n·ln 2 + f} with
 * {@code |f| <= ln2/2} (Cody–Waite, ln 2 in two parts), {@code e^f = 1 + f + f²·P(f)} with the Cephes minimax
 * polynomial (relative error about 1e-7), and {@code 2^n} assembled in the exponent bits after rounding with the
 * 1.5·2^23 trick. Inputs below −88 give exactly 0, so masked scores (−∞) vanish; results that would be subnormal
 * are flushed to 0.
 */
final class PanamaVectorOps implements VectorOps {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final int L = F.length();
    /** Bytes in lanes as many as F's: the codes one float vector dequantises. */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * L));

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5 · 2^23: adding it rounds a float of magnitude below 2^22 to the nearest integer. */
    private static final float ROUND_MAGIC = 12582912f;
    private static final int ROUND_MAGIC_BITS = Float.floatToRawIntBits(ROUND_MAGIC);
    /** Cephes expf: e^f = 1 + f + f²·(((((P5·f + P4)·f + P3)·f + P2)·f + P1)·f + P0). */
    private static final float P5 = 1.9875691500E-4f, P4 = 1.3981999507E-3f, P3 = 8.3334519073E-3f,
            P2 = 4.1665795894E-2f, P1 = 1.6666665459E-1f, P0 = 5.0000001201E-1f;
    private static final float[] IOTA = new float[L];
    /**
     * Shuffles i → i xor h, the steps of the fixed summation tree of {@link #sum}; null where h >= L. Separate
     * constants, not an array: C2 intrinsifies a rearrange only by a shuffle it sees as a constant, and otherwise
     * boxes the vectors.
     */
    private static final VectorShuffle<Float> FOLD32 = fold(32), FOLD16 = fold(16), FOLD8 = fold(8), FOLD4 = fold(4),
            FOLD2 = fold(2), FOLD1 = fold(1), XOR_HALF = fold(L / 2), XOR_QUARTER = fold(L / 4);
    /** Lanes whose index has bit L/2 (L/4) set: the transposing steps of {@code dots4x4}. */
    private static final VectorMask<Float> BIT_HALF = bit(L / 2), BIT_QUARTER = bit(L / 4);

    static {
        for (int i = 0; i < L; i++) {
            IOTA[i] = i;
        }
    }

    PanamaVectorOps() {
        if (L < 4 || L > 64) {
            throw new UnsupportedOperationException("preferred float vector has " + L + " lanes; need 4 to 64");
        }
    }

    @Override
    public String name() {
        return "panama-" + F.vectorBitSize();
    }

    @Override
    public int lanes() {
        return L;
    }

    /**
     * The sum of a vector's lanes by a fixed tree (lane i plus lane i + L/2, then i + L/4, …). Not
     * {@code reduceLanes(ADD)}, whose order is unspecified and in practice differs between compiled and interpreted
     * code: the same input then gave results that differ in the last bit depending on JIT warm-up, and a text's
     * embedding depended on what ran before it.
     */
    private static float sum(FloatVector v) {
        if (L > 32) {
            v = v.add(v.rearrange(FOLD32));
        }
        if (L > 16) {
            v = v.add(v.rearrange(FOLD16));
        }
        if (L > 8) {
            v = v.add(v.rearrange(FOLD8));
        }
        if (L > 4) {
            v = v.add(v.rearrange(FOLD4));
        }
        v = v.add(v.rearrange(FOLD2));
        return v.add(v.rearrange(FOLD1)).lane(0);
    }

    private static VectorMask<Float> bit(int b) {
        boolean[] set = new boolean[L];
        for (int i = 0; i < L; i++) {
            set[i] = (i & b) != 0;
        }
        return VectorMask.fromArray(F, set, 0);
    }

    private static VectorShuffle<Float> fold(int h) {
        return h < L ? VectorShuffle.fromOp(F, i -> i ^ h) : null;
    }

    // ---------------------------------------------------------------- level 1

    @Override
    public float dot(float[] a, int aOffset, float[] b, int bOffset, int n) {
        int i = 0;
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        FloatVector acc2 = FloatVector.zero(F), acc3 = FloatVector.zero(F);
        // four independent accumulators hide the FMA latency
        for (; i + 4 * L <= n; i += 4 * L) {
            acc0 = FloatVector.fromArray(F, a, aOffset + i).fma(FloatVector.fromArray(F, b, bOffset + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOffset + i + L).fma(FloatVector.fromArray(F, b, bOffset + i + L), acc1);
            acc2 = FloatVector.fromArray(F, a, aOffset + i + 2 * L)
                    .fma(FloatVector.fromArray(F, b, bOffset + i + 2 * L), acc2);
            acc3 = FloatVector.fromArray(F, a, aOffset + i + 3 * L)
                    .fma(FloatVector.fromArray(F, b, bOffset + i + 3 * L), acc3);
        }
        for (; i + L <= n; i += L) {
            acc0 = FloatVector.fromArray(F, a, aOffset + i).fma(FloatVector.fromArray(F, b, bOffset + i), acc0);
        }
        float sum = sum(acc0.add(acc1).add(acc2.add(acc3)));
        for (; i < n; i++) {
            sum += a[aOffset + i] * b[bOffset + i];
        }
        return sum;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOffset, float[] y, int yOffset, int n) {
        FloatVector a = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, xOffset + i).fma(a, FloatVector.fromArray(F, y, yOffset + i))
                    .intoArray(y, yOffset + i);
        }
        for (; i < n; i++) {
            y[yOffset + i] += alpha * x[xOffset + i];
        }
    }

    @Override
    public void scale(float[] x, int offset, int n, float alpha) {
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, offset + i).mul(alpha).intoArray(x, offset + i);
        }
        for (; i < n; i++) {
            x[offset + i] *= alpha;
        }
    }

    @Override
    public float max(float[] x, int offset, int n) {
        FloatVector acc0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY), acc1 = acc0;
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            acc0 = acc0.max(FloatVector.fromArray(F, x, offset + i));
            acc1 = acc1.max(FloatVector.fromArray(F, x, offset + i + L));
        }
        for (; i + L <= n; i += L) {
            acc0 = acc0.max(FloatVector.fromArray(F, x, offset + i));
        }
        float m = acc0.max(acc1).reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
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
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n; i += L) {
// e^y, y = x − shift <= 0, written out (see the class comment): clamp, y = n·ln2 + f, Cephes
// polynomial for e^f, 2^n in the exponent bits
FloatVector y = FloatVector.fromArray(F, x, offset + i).sub(shift);
y = y.blend(-88f, y.lt(-88f));
FloatVector t = y.fma(LOG2E, ROUND_MAGIC);
FloatVector rounded = t.sub(ROUND_MAGIC);
FloatVector f = rounded.fma(FloatVector.broadcast(F, -LN2_HI), y);
f = rounded.fma(FloatVector.broadcast(F, -LN2_LO), f);
FloatVector poly = f.fma(P5, P4);
poly = poly.fma(f, FloatVector.broadcast(F, P3));
poly = poly.fma(f, FloatVector.broadcast(F, P2));
poly = poly.fma(f, FloatVector.broadcast(F, P1));
poly = poly.fma(f, FloatVector.broadcast(F, P0));
FloatVector twoToN = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS).add(127)
        .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
FloatVector p = poly.mul(f.mul(f)).add(f).add(1f).mul(twoToN);
            p.intoArray(x, offset + i);
            acc = acc.add(p);
        }
        float sum = sum(acc);
        for (; i < n; i++) {
            float p = (float) Math.exp(x[offset + i] - shift);
            x[offset + i] = p;
            sum += p;
        }
        return sum;
    }

    @Override
    public float expShiftedSum(float[] x, int offset, int n, float[] shift, int shiftOffset) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n; i += L) {
// e^y, y = x − shift <= 0, written out (see the class comment): clamp, y = n·ln2 + f, Cephes
// polynomial for e^f, 2^n in the exponent bits
FloatVector y = FloatVector.fromArray(F, x, offset + i).sub(FloatVector.fromArray(F, shift, shiftOffset + i));
y = y.blend(-88f, y.lt(-88f));
FloatVector t = y.fma(LOG2E, ROUND_MAGIC);
FloatVector rounded = t.sub(ROUND_MAGIC);
FloatVector f = rounded.fma(FloatVector.broadcast(F, -LN2_HI), y);
f = rounded.fma(FloatVector.broadcast(F, -LN2_LO), f);
FloatVector poly = f.fma(P5, P4);
poly = poly.fma(f, FloatVector.broadcast(F, P3));
poly = poly.fma(f, FloatVector.broadcast(F, P2));
poly = poly.fma(f, FloatVector.broadcast(F, P1));
poly = poly.fma(f, FloatVector.broadcast(F, P0));
FloatVector twoToN = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS).add(127)
        .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
FloatVector p = poly.mul(f.mul(f)).add(f).add(1f).mul(twoToN);
            acc = acc.add(p);
        }
        float sum = sum(acc);
        for (; i < n; i++) {
            sum += (float) Math.exp(x[offset + i] - shift[shiftOffset + i]);
        }
        return sum;
    }

    @Override
    public void softcap(float[] x, int offset, int n, float cap) {
        float inverse = 1f / cap;
        int i = 0;
        for (; i + L <= n; i += L) {
            // tanh|u| = (1 − e)/(1 + e) with e = e^(−2|u|) written out (see the class comment; the JDK's TANH
            // operator rounds differently compiled and interpreted); below |u| = 1/16, where 1 − e cancels, the
            // series u − u³/3 + 2u⁵/15 (error below u⁷/6 < 1e-9 relative)
            FloatVector u = FloatVector.fromArray(F, x, offset + i).mul(inverse);
            FloatVector a = u.abs();
            FloatVector y = a.mul(-2f);
            y = y.blend(-88f, y.lt(-88f));
            FloatVector t = y.fma(LOG2E, ROUND_MAGIC);
            FloatVector rounded = t.sub(ROUND_MAGIC);
            FloatVector f = rounded.fma(FloatVector.broadcast(F, -LN2_HI), y);
            f = rounded.fma(FloatVector.broadcast(F, -LN2_LO), f);
            FloatVector e = f.fma(P5, P4);
            e = e.fma(f, FloatVector.broadcast(F, P3));
            e = e.fma(f, FloatVector.broadcast(F, P2));
            e = e.fma(f, FloatVector.broadcast(F, P1));
            e = e.fma(f, FloatVector.broadcast(F, P0));
            FloatVector twoToN = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS).add(127)
                    .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            e = e.mul(f.mul(f)).add(f).add(1f).mul(twoToN);
            FloatVector large = FloatVector.broadcast(F, 1f).sub(e).div(e.add(1f));
            FloatVector a2 = a.mul(a);
            FloatVector small = a2.fma(2f / 15f, -1f / 3f).mul(a2).fma(a, a);
            FloatVector tanh = large.blend(small, a.lt(0.0625f));
            tanh.blend(tanh.neg(), u.lt(0f)).mul(cap).intoArray(x, offset + i);
        }
        for (; i < n; i++) {
            x[offset + i] = cap * (float) Math.tanh(x[offset + i] * inverse);
        }
    }

    @Override
    public void subtractDistance(float[] x, int offset, int n, int start, float slope) {
        FloatVector iota = FloatVector.fromArray(F, IOTA, 0);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector distance = iota.add((float) (start + i)).abs();
            FloatVector.fromArray(F, x, offset + i).sub(distance.mul(slope)).intoArray(x, offset + i);
        }
        for (; i < n; i++) {
            x[offset + i] -= slope * Math.abs(start + i);
        }
    }

    @Override
    public void layerNorm(float[] x, int offset, int n, float[] gamma, float[] beta, float eps, float[] out,
                          int outOffset) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n; i += L) {
            acc = acc.add(FloatVector.fromArray(F, x, offset + i));
        }
        float mean = sum(acc);
        for (; i < n; i++) {
            mean += x[offset + i];
        }
        mean /= n;
        // two passes (mean, then squared deviations) rather than E[x²] − E[x]², which cancels badly
        FloatVector squares = FloatVector.zero(F);
        i = 0;
        for (; i + L <= n; i += L) {
            FloatVector centred = FloatVector.fromArray(F, x, offset + i).sub(mean);
            squares = centred.fma(centred, squares);
        }
        float variance = sum(squares);
        for (; i < n; i++) {
            float centred = x[offset + i] - mean;
            variance += centred * centred;
        }
        float inverse = (float) (1 / Math.sqrt(variance / n + eps));
        i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, offset + i).sub(mean).mul(inverse)
                    .fma(FloatVector.fromArray(F, gamma, i), FloatVector.fromArray(F, beta, i))
                    .intoArray(out, outOffset + i);
        }
        for (; i < n; i++) {
            out[outOffset + i] = (x[offset + i] - mean) * inverse * gamma[i] + beta[i];
        }
    }

    @Override
    public void stateStep(float[] s, int sOffset, int rows, int cols, float[] decay, int decayOffset, float[] k,
                          int kOffset, float[] v, int vOffset, float[] q, int qOffset, float[] o, int oOffset) {
        for (int i = 0; i < rows; i++) {
            float a = decay == null ? 1f : decay[decayOffset + i], ki = k[kOffset + i];
            float qi = q == null ? 0f : q[qOffset + i];
            int row = sOffset + i * cols;
            int c = 0;
            for (; c + L <= cols; c += L) {
                FloatVector vv = FloatVector.fromArray(F, v, vOffset + c);
                FloatVector sv = FloatVector.fromArray(F, s, row + c).mul(a).add(vv.mul(ki));
                sv.intoArray(s, row + c);
                if (q != null) {
                    sv.fma(FloatVector.broadcast(F, qi), FloatVector.fromArray(F, o, oOffset + c)).intoArray(o, oOffset + c);
                }
            }
            for (; c < cols; c++) {
                float x = a * s[row + c] + ki * v[vOffset + c];
                s[row + c] = x;
                if (q != null) {
                    o[oOffset + c] += qi * x;
                }
            }
        }
    }

    @Override
    public void logSigmoid(float[] x, int offset, int n, float scale) {
        int i = 0;
        for (; i + L <= n; i += L) {
            // log σ(v) = min(v, 0) − log(1 + e^{−|v|}); both functions written out (see the class comment: the
            // JDK's EXP and LOG1P operators round differently compiled and interpreted, so GLA's gates — and the
            // bits of a chunked run — depended on warm-up)
            FloatVector v = FloatVector.fromArray(F, x, offset + i);
            FloatVector y = v.abs().neg();
            y = y.blend(-88f, y.lt(-88f));
            FloatVector t = y.fma(LOG2E, ROUND_MAGIC);
            FloatVector rounded = t.sub(ROUND_MAGIC);
            FloatVector f = rounded.fma(FloatVector.broadcast(F, -LN2_HI), y);
            f = rounded.fma(FloatVector.broadcast(F, -LN2_LO), f);
            FloatVector poly = f.fma(P5, P4);
            poly = poly.fma(f, FloatVector.broadcast(F, P3));
            poly = poly.fma(f, FloatVector.broadcast(F, P2));
            poly = poly.fma(f, FloatVector.broadcast(F, P1));
            poly = poly.fma(f, FloatVector.broadcast(F, P0));
            FloatVector twoToN = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS).add(127)
                    .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            FloatVector u = poly.mul(f.mul(f)).add(f).add(1f).mul(twoToN); // e^{−|v|} in (0, 1]
            // log(1 + u) = 2·atanh(s), s = u / (2 + u) in [0, 1/3]: 2s·(1 + s²/3 + s⁴/5 + … + s¹²/13), the
            // series' remainder below 5e-8 of the result
            FloatVector s = u.div(u.add(2f)), s2 = s.mul(s);
            FloatVector series = s2.fma(1f / 13, 1f / 11);
            series = series.fma(s2, FloatVector.broadcast(F, 1f / 9));
            series = series.fma(s2, FloatVector.broadcast(F, 1f / 7));
            series = series.fma(s2, FloatVector.broadcast(F, 1f / 5));
            series = series.fma(s2, FloatVector.broadcast(F, 1f / 3));
            series = series.fma(s2, FloatVector.broadcast(F, 1f));
            FloatVector soft = s.mul(series).mul(2f);
            v.min(0f).sub(soft).mul(scale).intoArray(x, offset + i);
        }
        for (; i < n; i++) {
            float v = x[offset + i];
            x[offset + i] = scale * (float) (Math.min(v, 0f) - Math.log1p(Math.exp(-Math.abs(v))));
        }
    }

    @Override
    public void gelu(float[] x, int offset, int n) {
        int i = 0;
        for (; i + L <= n; i += L) {
            // erf by Abramowitz and Stegun 7.1.26, as ScalarVectorOps.erf; e^(−z²) written out (see the class
            // comment; the JDK's EXP operator rounds differently compiled and interpreted)
            FloatVector v = FloatVector.fromArray(F, x, offset + i);
            FloatVector z = v.mul(0.70710678f).abs();
            FloatVector t = FloatVector.broadcast(F, 1f).div(z.fma(0.3275911f, 1f));
            FloatVector poly = t.fma(1.061405429f, -1.453152027f);
            poly = poly.fma(t, FloatVector.broadcast(F, 1.421413741f));
            poly = poly.fma(t, FloatVector.broadcast(F, -0.284496736f));
            poly = poly.fma(t, FloatVector.broadcast(F, 0.254829592f)).mul(t);
            FloatVector y = z.mul(z).neg();
            y = y.blend(-88f, y.lt(-88f));
            FloatVector t2 = y.fma(LOG2E, ROUND_MAGIC);
            FloatVector rounded = t2.sub(ROUND_MAGIC);
            FloatVector f = rounded.fma(FloatVector.broadcast(F, -LN2_HI), y);
            f = rounded.fma(FloatVector.broadcast(F, -LN2_LO), f);
            FloatVector e = f.fma(P5, P4);
            e = e.fma(f, FloatVector.broadcast(F, P3));
            e = e.fma(f, FloatVector.broadcast(F, P2));
            e = e.fma(f, FloatVector.broadcast(F, P1));
            e = e.fma(f, FloatVector.broadcast(F, P0));
            FloatVector twoToN = t2.reinterpretAsInts().sub(ROUND_MAGIC_BITS).add(127)
                    .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            e = e.mul(f.mul(f)).add(f).add(1f).mul(twoToN);
            FloatVector erfAbs = poly.mul(e).neg().add(1f);
            FloatVector erf = erfAbs.blend(erfAbs.neg(), v.lt(0f));
            v.mul(0.5f).mul(erf.add(1f)).intoArray(x, offset + i);
        }
        for (; i < n; i++) {
            float v = x[offset + i];
            x[offset + i] = 0.5f * v * (1f + ScalarVectorOps.erf(v * 0.70710678f));
        }
    }

    // ---------------------------------------------------------------- packed GEMM

    /** Rows of the GEMM micro-tile: 6 rows × 4 vectors = 24 accumulators, plus 4 panel vectors and a broadcast. */
    private static final int GEMM_ROWS = 6;
    /** The bias of a GEMM without one: zeros, so both cases take the same path. */
    private static final float[] NO_BIAS = new float[GEMM_PANEL];

    /**
     * Register-blocked: 6 rows of {@code a} against 4 vectors of panel columns ({@code gemm6x4}: per input, 4 panel
     * loads, 6 broadcasts, 24 FMAs; 29 of the 32 vector registers), remaining rows one at a time ({@code gemm1x4}).
     * Every element is the same FMA chain whichever kernel computes it, so its bits do not depend on the rows
     * around it. Panel columns that 4 vectors do not cover (a partial last panel, or vectors wider than 16
     * lanes) are computed by the same chain in scalar code.
     */
    @Override
    public void gemmPanel(float[] a, int aOffset, int aStride, int rows, int inputs, float[] panel, int panelOffset,
                          int width, float[] bias, int biasOffset, float[] c, int cOffset, int cStride) {
        float[] b = bias == null ? NO_BIAS : bias;
        int bOffset = bias == null ? 0 : biasOffset;
        int i = 0;
        for (; i + 4 * L <= width; i += 4 * L) {
            int r = 0;
            for (; r + GEMM_ROWS <= rows; r += GEMM_ROWS) {
                gemm6x4(a, aOffset + r * aStride, aStride, inputs, panel, panelOffset + i, b, bOffset + i, c,
                        cOffset + r * cStride + i, cStride);
            }
            for (; r < rows; r++) {
                gemm1x4(a, aOffset + r * aStride, inputs, panel, panelOffset + i, b, bOffset + i, c,
                        cOffset + r * cStride + i);
            }
        }
        for (; i < width; i++) {
            for (int r = 0; r < rows; r++) {
                int aRow = aOffset + r * aStride;
                float sum = 0f;
                for (int t = 0; t < inputs; t++) {
                    sum = Math.fma(a[aRow + t], panel[panelOffset + t * GEMM_PANEL + i], sum);
                }
                c[cOffset + r * cStride + i] = sum + b[bOffset + i];
            }
        }
    }

    private static void gemm6x4(float[] a, int a0, int aStride, int inputs, float[] panel, int p0, float[] bias,
                                int biasAt, float[] c, int out, int cStride) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F), c02 = FloatVector.zero(F), c03 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F), c12 = FloatVector.zero(F), c13 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F), c22 = FloatVector.zero(F), c23 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F), c32 = FloatVector.zero(F), c33 = FloatVector.zero(F);
        FloatVector c40 = FloatVector.zero(F), c41 = FloatVector.zero(F), c42 = FloatVector.zero(F), c43 = FloatVector.zero(F);
        FloatVector c50 = FloatVector.zero(F), c51 = FloatVector.zero(F), c52 = FloatVector.zero(F), c53 = FloatVector.zero(F);
        int a1 = a0 + aStride, a2 = a1 + aStride, a3 = a2 + aStride, a4 = a3 + aStride, a5 = a4 + aStride;
        for (int t = 0; t < inputs; t++) {
            int p = p0 + t * GEMM_PANEL;
            FloatVector w0 = FloatVector.fromArray(F, panel, p);
            FloatVector w1 = FloatVector.fromArray(F, panel, p + L);
            FloatVector w2 = FloatVector.fromArray(F, panel, p + 2 * L);
            FloatVector w3 = FloatVector.fromArray(F, panel, p + 3 * L);
            FloatVector x = FloatVector.broadcast(F, a[a0 + t]);
            c00 = w0.fma(x, c00);
            c01 = w1.fma(x, c01);
            c02 = w2.fma(x, c02);
            c03 = w3.fma(x, c03);
            x = FloatVector.broadcast(F, a[a1 + t]);
            c10 = w0.fma(x, c10);
            c11 = w1.fma(x, c11);
            c12 = w2.fma(x, c12);
            c13 = w3.fma(x, c13);
            x = FloatVector.broadcast(F, a[a2 + t]);
            c20 = w0.fma(x, c20);
            c21 = w1.fma(x, c21);
            c22 = w2.fma(x, c22);
            c23 = w3.fma(x, c23);
            x = FloatVector.broadcast(F, a[a3 + t]);
            c30 = w0.fma(x, c30);
            c31 = w1.fma(x, c31);
            c32 = w2.fma(x, c32);
            c33 = w3.fma(x, c33);
            x = FloatVector.broadcast(F, a[a4 + t]);
            c40 = w0.fma(x, c40);
            c41 = w1.fma(x, c41);
            c42 = w2.fma(x, c42);
            c43 = w3.fma(x, c43);
            x = FloatVector.broadcast(F, a[a5 + t]);
            c50 = w0.fma(x, c50);
            c51 = w1.fma(x, c51);
            c52 = w2.fma(x, c52);
            c53 = w3.fma(x, c53);
        }
        FloatVector y0 = FloatVector.fromArray(F, bias, biasAt), y1 = FloatVector.fromArray(F, bias, biasAt + L);
        FloatVector y2 = FloatVector.fromArray(F, bias, biasAt + 2 * L), y3 = FloatVector.fromArray(F, bias, biasAt + 3 * L);
        int o0 = out;
        c00.add(y0).intoArray(c, o0);
        c01.add(y1).intoArray(c, o0 + L);
        c02.add(y2).intoArray(c, o0 + 2 * L);
        c03.add(y3).intoArray(c, o0 + 3 * L);
        int o1 = out + cStride;
        c10.add(y0).intoArray(c, o1);
        c11.add(y1).intoArray(c, o1 + L);
        c12.add(y2).intoArray(c, o1 + 2 * L);
        c13.add(y3).intoArray(c, o1 + 3 * L);
        int o2 = out + 2 * cStride;
        c20.add(y0).intoArray(c, o2);
        c21.add(y1).intoArray(c, o2 + L);
        c22.add(y2).intoArray(c, o2 + 2 * L);
        c23.add(y3).intoArray(c, o2 + 3 * L);
        int o3 = out + 3 * cStride;
        c30.add(y0).intoArray(c, o3);
        c31.add(y1).intoArray(c, o3 + L);
        c32.add(y2).intoArray(c, o3 + 2 * L);
        c33.add(y3).intoArray(c, o3 + 3 * L);
        int o4 = out + 4 * cStride;
        c40.add(y0).intoArray(c, o4);
        c41.add(y1).intoArray(c, o4 + L);
        c42.add(y2).intoArray(c, o4 + 2 * L);
        c43.add(y3).intoArray(c, o4 + 3 * L);
        int o5 = out + 5 * cStride;
        c50.add(y0).intoArray(c, o5);
        c51.add(y1).intoArray(c, o5 + L);
        c52.add(y2).intoArray(c, o5 + 2 * L);
        c53.add(y3).intoArray(c, o5 + 3 * L);
    }

    private static void gemm1x4(float[] a, int a0, int inputs, float[] panel, int p0, float[] bias, int biasAt,
                                float[] c, int out) {
        FloatVector s0 = FloatVector.zero(F), s1 = FloatVector.zero(F), s2 = FloatVector.zero(F), s3 = FloatVector.zero(F);
        for (int t = 0; t < inputs; t++) {
            int p = p0 + t * GEMM_PANEL;
            FloatVector x = FloatVector.broadcast(F, a[a0 + t]);
            s0 = FloatVector.fromArray(F, panel, p).fma(x, s0);
            s1 = FloatVector.fromArray(F, panel, p + L).fma(x, s1);
            s2 = FloatVector.fromArray(F, panel, p + 2 * L).fma(x, s2);
            s3 = FloatVector.fromArray(F, panel, p + 3 * L).fma(x, s3);
        }
        s0.add(FloatVector.fromArray(F, bias, biasAt)).intoArray(c, out);
        s1.add(FloatVector.fromArray(F, bias, biasAt + L)).intoArray(c, out + L);
        s2.add(FloatVector.fromArray(F, bias, biasAt + 2 * L)).intoArray(c, out + 2 * L);
        s3.add(FloatVector.fromArray(F, bias, biasAt + 3 * L)).intoArray(c, out + 3 * L);
    }

    // ---------------------------------------------------------------- transposed tiles

    /**
     * Head dimensions are summed in chunks of this many terms, each chunk in fresh registers that are then added to
     * the running sums. The rounding error of one long FMA chain grows with its length; the reference's other
     * float32 kernel ({@code naive}) sums 16 lanes and reduces them pairwise, and with one chain per score this
     * kernel was measured up to 2.4× less accurate than it on peaked inputs (temperature 0.3, D = 32). Chunks of
     * 16 bring that to 1.8× for about 2 % of the QKᵀ time. The running sums live outside the inner loop, so they
     * cost registers only between chunks.
     */
    private static final int DIM_CHUNK = 16;

    @Override
    public void scoresTransposed(float[] qT, int qTOffset, int qTStride, int queries,
                                 float[] k, int kOffset, int kStride, int keys, int dim,
                                 float[] s, int sOffset, int sStride) {
        int i = 0;
        for (; i + 4 * L <= queries; i += 4 * L) {
            int j = 0;
            for (; j + 4 <= keys; j += 4) {
                qk4x4(qT, qTOffset + i, qTStride, k, kOffset + j * kStride, kStride, dim, s, sOffset + j * sStride + i,
                        sStride);
            }
            for (; j < keys; j++) {
                qk1x4(qT, qTOffset + i, qTStride, k, kOffset + j * kStride, dim, s, sOffset + j * sStride + i);
            }
        }
        for (; i < queries; i += L) {
            int j = 0;
            for (; j + 4 <= keys; j += 4) {
                qk4x1(qT, qTOffset + i, qTStride, k, kOffset + j * kStride, kStride, dim, s, sOffset + j * sStride + i,
                        sStride, i, queries);
            }
            for (; j < keys; j++) {
                qk1x1(qT, qTOffset + i, qTStride, k, kOffset + j * kStride, dim, s, sOffset + j * sStride + i, i,
                        queries);
            }
        }
    }

    /** 4 keys × 4 query vectors: 16 accumulators, one broadcast key element and four query loads per step. */
    private static void qk4x4(float[] qT, int q, int qStride, float[] k, int k0, int kStride, int dim,
                              float[] s, int out, int sStride) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F), c02 = FloatVector.zero(F), c03 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F), c12 = FloatVector.zero(F), c13 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F), c22 = FloatVector.zero(F), c23 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F), c32 = FloatVector.zero(F), c33 = FloatVector.zero(F);
        int k1 = k0 + kStride, k2 = k1 + kStride, k3 = k2 + kStride;
        for (int t0 = 0; t0 < dim; t0 += DIM_CHUNK) {
            int t1 = Math.min(dim, t0 + DIM_CHUNK);
            FloatVector d00 = FloatVector.zero(F), d01 = FloatVector.zero(F), d02 = FloatVector.zero(F), d03 = FloatVector.zero(F);
            FloatVector d10 = FloatVector.zero(F), d11 = FloatVector.zero(F), d12 = FloatVector.zero(F), d13 = FloatVector.zero(F);
            FloatVector d20 = FloatVector.zero(F), d21 = FloatVector.zero(F), d22 = FloatVector.zero(F), d23 = FloatVector.zero(F);
            FloatVector d30 = FloatVector.zero(F), d31 = FloatVector.zero(F), d32 = FloatVector.zero(F), d33 = FloatVector.zero(F);
            for (int t = t0; t < t1; t++) {
                int row = q + t * qStride;
                FloatVector a0 = FloatVector.fromArray(F, qT, row);
                FloatVector a1 = FloatVector.fromArray(F, qT, row + L);
                FloatVector a2 = FloatVector.fromArray(F, qT, row + 2 * L);
                FloatVector a3 = FloatVector.fromArray(F, qT, row + 3 * L);
                FloatVector b = FloatVector.broadcast(F, k[k0 + t]);
                d00 = a0.fma(b, d00);
                d01 = a1.fma(b, d01);
                d02 = a2.fma(b, d02);
                d03 = a3.fma(b, d03);
                b = FloatVector.broadcast(F, k[k1 + t]);
                d10 = a0.fma(b, d10);
                d11 = a1.fma(b, d11);
                d12 = a2.fma(b, d12);
                d13 = a3.fma(b, d13);
                b = FloatVector.broadcast(F, k[k2 + t]);
                d20 = a0.fma(b, d20);
                d21 = a1.fma(b, d21);
                d22 = a2.fma(b, d22);
                d23 = a3.fma(b, d23);
                b = FloatVector.broadcast(F, k[k3 + t]);
                d30 = a0.fma(b, d30);
                d31 = a1.fma(b, d31);
                d32 = a2.fma(b, d32);
                d33 = a3.fma(b, d33);
            }
            c00 = c00.add(d00);
            c01 = c01.add(d01);
            c02 = c02.add(d02);
            c03 = c03.add(d03);
            c10 = c10.add(d10);
            c11 = c11.add(d11);
            c12 = c12.add(d12);
            c13 = c13.add(d13);
            c20 = c20.add(d20);
            c21 = c21.add(d21);
            c22 = c22.add(d22);
            c23 = c23.add(d23);
            c30 = c30.add(d30);
            c31 = c31.add(d31);
            c32 = c32.add(d32);
            c33 = c33.add(d33);
        }
        c00.intoArray(s, out);
        c01.intoArray(s, out + L);
        c02.intoArray(s, out + 2 * L);
        c03.intoArray(s, out + 3 * L);
        out += sStride;
        c10.intoArray(s, out);
        c11.intoArray(s, out + L);
        c12.intoArray(s, out + 2 * L);
        c13.intoArray(s, out + 3 * L);
        out += sStride;
        c20.intoArray(s, out);
        c21.intoArray(s, out + L);
        c22.intoArray(s, out + 2 * L);
        c23.intoArray(s, out + 3 * L);
        out += sStride;
        c30.intoArray(s, out);
        c31.intoArray(s, out + L);
        c32.intoArray(s, out + 2 * L);
        c33.intoArray(s, out + 3 * L);
    }


    private static void qk1x4(float[] qT, int q, int qStride, float[] k, int k0, int dim, float[] s, int out) {
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), c2 = FloatVector.zero(F), c3 = FloatVector.zero(F);
        for (int t0 = 0; t0 < dim; t0 += DIM_CHUNK) {
            int t1 = Math.min(dim, t0 + DIM_CHUNK);
            FloatVector d0 = FloatVector.zero(F), d1 = FloatVector.zero(F), d2 = FloatVector.zero(F), d3 = FloatVector.zero(F);
            for (int t = t0; t < t1; t++) {
                int row = q + t * qStride;
                FloatVector b = FloatVector.broadcast(F, k[k0 + t]);
                d0 = FloatVector.fromArray(F, qT, row).fma(b, d0);
                d1 = FloatVector.fromArray(F, qT, row + L).fma(b, d1);
                d2 = FloatVector.fromArray(F, qT, row + 2 * L).fma(b, d2);
                d3 = FloatVector.fromArray(F, qT, row + 3 * L).fma(b, d3);
            }
            c0 = c0.add(d0);
            c1 = c1.add(d1);
            c2 = c2.add(d2);
            c3 = c3.add(d3);
        }
        c0.intoArray(s, out);
        c1.intoArray(s, out + L);
        c2.intoArray(s, out + 2 * L);
        c3.intoArray(s, out + 3 * L);
    }


    /**
     * 4 keys × one masked query vector. Masks are built here from (lane, limit), never passed in: a mask argument of a
     * call that C2 does not inline is boxed.
     */
    private static void qk4x1(float[] qT, int q, int qStride, float[] k, int k0, int kStride, int dim,
                              float[] s, int out, int sStride, int lane, int limit) {
        VectorMask<Float> m = F.indexInRange(lane, limit);
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), c2 = FloatVector.zero(F), c3 = FloatVector.zero(F);
        int k1 = k0 + kStride, k2 = k1 + kStride, k3 = k2 + kStride;
        for (int t0 = 0; t0 < dim; t0 += DIM_CHUNK) {
            int t1 = Math.min(dim, t0 + DIM_CHUNK);
            FloatVector d0 = FloatVector.zero(F), d1 = FloatVector.zero(F), d2 = FloatVector.zero(F), d3 = FloatVector.zero(F);
            for (int t = t0; t < t1; t++) {
                FloatVector a = FloatVector.fromArray(F, qT, q + t * qStride, m);
                d0 = a.fma(FloatVector.broadcast(F, k[k0 + t]), d0);
                d1 = a.fma(FloatVector.broadcast(F, k[k1 + t]), d1);
                d2 = a.fma(FloatVector.broadcast(F, k[k2 + t]), d2);
                d3 = a.fma(FloatVector.broadcast(F, k[k3 + t]), d3);
            }
            c0 = c0.add(d0);
            c1 = c1.add(d1);
            c2 = c2.add(d2);
            c3 = c3.add(d3);
        }
        c0.intoArray(s, out, m);
        c1.intoArray(s, out + sStride, m);
        c2.intoArray(s, out + 2 * sStride, m);
        c3.intoArray(s, out + 3 * sStride, m);
    }


    private static void qk1x1(float[] qT, int q, int qStride, float[] k, int k0, int dim,
                              float[] s, int out, int lane, int limit) {
        VectorMask<Float> m = F.indexInRange(lane, limit);
        FloatVector c = FloatVector.zero(F);
        for (int t0 = 0; t0 < dim; t0 += DIM_CHUNK) {
            int t1 = Math.min(dim, t0 + DIM_CHUNK);
            FloatVector d = FloatVector.zero(F);
            for (int t = t0; t < t1; t++) {
                d = FloatVector.fromArray(F, qT, q + t * qStride, m).fma(FloatVector.broadcast(F, k[k0 + t]), d);
            }
            c = c.add(d);
        }
        c.intoArray(s, out, m);
    }


    @Override
    public void accumulateTransposed(float[] pT, int pOffset, int pStride, int queries, int keys,
                                     float[] v, int vOffset, int vStride, int dimV,
                                     float[] o, int oOffset, int oStride) {
        accumulate(pT, pOffset, 1, pStride, queries, keys, v, vOffset, vStride, dimV, o, oOffset, oStride);
    }

    @Override
    public void accumulateRows(float[] p, int pOffset, int pStride, int queries, int keys,
                               float[] v, int vOffset, int vStride, int dimV,
                               float[] o, int oOffset, int oStride) {
        accumulate(p, pOffset, pStride, 1, queries, keys, v, vOffset, vStride, dimV, o, oOffset, oStride);
    }

    /**
     * {@code o[i][c] += Σ_j P(i, j) · v[j][c]} with P(i, j) at {@code p[pOffset + i·queryStride + j·keyStride]}: the
     * transposed tiles of flash ({@code queryStride = 1}) and the row tiles of decode ({@code keyStride = 1}) share
     * the kernels. 4 queries × 4 value vectors of 16 accumulators where they fit, then 8 queries × 2 value vectors
     * (16 accumulators again: D = 32), then 1-query and masked-column tails.
     */
    private static void accumulate(float[] p, int pOffset, int queryStride, int keyStride, int queries, int keys,
                                   float[] v, int vOffset, int vStride, int dimV, float[] o, int oOffset, int oStride) {
        int c = 0;
        for (; c + 4 * L <= dimV; c += 4 * L) {
            int i = 0;
            for (; i + 4 <= queries; i += 4) {
                pv4x4(p, pOffset + i * queryStride, queryStride, keyStride, keys, v, vOffset + c, vStride,
                        o, oOffset + i * oStride + c, oStride);
            }
            for (; i < queries; i++) {
                pv1x4(p, pOffset + i * queryStride, keyStride, keys, v, vOffset + c, vStride, o, oOffset + i * oStride + c);
            }
        }
        for (; c + 2 * L <= dimV; c += 2 * L) { // D = 32 (MiniLM, BERT-small heads), or the rest of 96, 160, ...
            int i = 0;
            for (; i + 8 <= queries; i += 8) {
                pv8x2(p, pOffset + i * queryStride, queryStride, keyStride, keys, v, vOffset + c, vStride,
                        o, oOffset + i * oStride + c, oStride);
            }
            for (; i < queries; i++) {
                pv1x1(p, pOffset + i * queryStride, keyStride, keys, v, vOffset + c, vStride, o, oOffset + i * oStride + c,
                        c, dimV);
                pv1x1(p, pOffset + i * queryStride, keyStride, keys, v, vOffset + c + L, vStride,
                        o, oOffset + i * oStride + c + L, c + L, dimV);
            }
        }
        for (; c < dimV; c += L) {
            int i = 0;
            for (; i + 4 <= queries; i += 4) {
                pv4x1(p, pOffset + i * queryStride, queryStride, keyStride, keys, v, vOffset + c, vStride,
                        o, oOffset + i * oStride + c, oStride, c, dimV);
            }
            for (; i < queries; i++) {
                pv1x1(p, pOffset + i * queryStride, keyStride, keys, v, vOffset + c, vStride, o, oOffset + i * oStride + c,
                        c, dimV);
            }
        }
    }

    /** 4 queries × 4 value vectors: 16 output accumulators; per key four value loads and four broadcasts. */
    private static void pv4x4(float[] p, int p0, int queryStride, int keyStride, int keys, float[] v, int v0,
                              int vStride, float[] o, int out, int oStride) {
        int p1 = p0 + queryStride, p2 = p1 + queryStride, p3 = p2 + queryStride;
        int o1 = out + oStride, o2 = o1 + oStride, o3 = o2 + oStride;
        FloatVector c00 = FloatVector.fromArray(F, o, out), c01 = FloatVector.fromArray(F, o, out + L);
        FloatVector c02 = FloatVector.fromArray(F, o, out + 2 * L), c03 = FloatVector.fromArray(F, o, out + 3 * L);
        FloatVector c10 = FloatVector.fromArray(F, o, o1), c11 = FloatVector.fromArray(F, o, o1 + L);
        FloatVector c12 = FloatVector.fromArray(F, o, o1 + 2 * L), c13 = FloatVector.fromArray(F, o, o1 + 3 * L);
        FloatVector c20 = FloatVector.fromArray(F, o, o2), c21 = FloatVector.fromArray(F, o, o2 + L);
        FloatVector c22 = FloatVector.fromArray(F, o, o2 + 2 * L), c23 = FloatVector.fromArray(F, o, o2 + 3 * L);
        FloatVector c30 = FloatVector.fromArray(F, o, o3), c31 = FloatVector.fromArray(F, o, o3 + L);
        FloatVector c32 = FloatVector.fromArray(F, o, o3 + 2 * L), c33 = FloatVector.fromArray(F, o, o3 + 3 * L);
        for (int j = 0; j < keys; j++) {
            int vRow = v0 + j * vStride, pj = j * keyStride;
            FloatVector a0 = FloatVector.fromArray(F, v, vRow);
            FloatVector a1 = FloatVector.fromArray(F, v, vRow + L);
            FloatVector a2 = FloatVector.fromArray(F, v, vRow + 2 * L);
            FloatVector a3 = FloatVector.fromArray(F, v, vRow + 3 * L);
            FloatVector b = FloatVector.broadcast(F, p[p0 + pj]);
            c00 = a0.fma(b, c00);
            c01 = a1.fma(b, c01);
            c02 = a2.fma(b, c02);
            c03 = a3.fma(b, c03);
            b = FloatVector.broadcast(F, p[p1 + pj]);
            c10 = a0.fma(b, c10);
            c11 = a1.fma(b, c11);
            c12 = a2.fma(b, c12);
            c13 = a3.fma(b, c13);
            b = FloatVector.broadcast(F, p[p2 + pj]);
            c20 = a0.fma(b, c20);
            c21 = a1.fma(b, c21);
            c22 = a2.fma(b, c22);
            c23 = a3.fma(b, c23);
            b = FloatVector.broadcast(F, p[p3 + pj]);
            c30 = a0.fma(b, c30);
            c31 = a1.fma(b, c31);
            c32 = a2.fma(b, c32);
            c33 = a3.fma(b, c33);
        }
        c00.intoArray(o, out);
        c01.intoArray(o, out + L);
        c02.intoArray(o, out + 2 * L);
        c03.intoArray(o, out + 3 * L);
        c10.intoArray(o, o1);
        c11.intoArray(o, o1 + L);
        c12.intoArray(o, o1 + 2 * L);
        c13.intoArray(o, o1 + 3 * L);
        c20.intoArray(o, o2);
        c21.intoArray(o, o2 + L);
        c22.intoArray(o, o2 + 2 * L);
        c23.intoArray(o, o2 + 3 * L);
        c30.intoArray(o, o3);
        c31.intoArray(o, o3 + L);
        c32.intoArray(o, o3 + 2 * L);
        c33.intoArray(o, o3 + 3 * L);
    }

    /** 8 queries × 2 value vectors: 16 accumulators; per key two value loads and eight broadcasts. */
    private static void pv8x2(float[] p, int p0, int queryStride, int keyStride, int keys, float[] v, int v0,
                              int vStride, float[] o, int out, int oStride) {
        int q1 = p0 + queryStride, q2 = q1 + queryStride, q3 = q2 + queryStride, q4 = q3 + queryStride;
        int q5 = q4 + queryStride, q6 = q5 + queryStride, q7 = q6 + queryStride;
        int o1 = out + oStride, o2 = o1 + oStride, o3 = o2 + oStride, o4 = o3 + oStride, o5 = o4 + oStride;
        int o6 = o5 + oStride, o7 = o6 + oStride;
        FloatVector c00 = FloatVector.fromArray(F, o, out), c01 = FloatVector.fromArray(F, o, out + L);
        FloatVector c10 = FloatVector.fromArray(F, o, o1), c11 = FloatVector.fromArray(F, o, o1 + L);
        FloatVector c20 = FloatVector.fromArray(F, o, o2), c21 = FloatVector.fromArray(F, o, o2 + L);
        FloatVector c30 = FloatVector.fromArray(F, o, o3), c31 = FloatVector.fromArray(F, o, o3 + L);
        FloatVector c40 = FloatVector.fromArray(F, o, o4), c41 = FloatVector.fromArray(F, o, o4 + L);
        FloatVector c50 = FloatVector.fromArray(F, o, o5), c51 = FloatVector.fromArray(F, o, o5 + L);
        FloatVector c60 = FloatVector.fromArray(F, o, o6), c61 = FloatVector.fromArray(F, o, o6 + L);
        FloatVector c70 = FloatVector.fromArray(F, o, o7), c71 = FloatVector.fromArray(F, o, o7 + L);
        for (int j = 0; j < keys; j++) {
            int vRow = v0 + j * vStride, pj = j * keyStride;
            FloatVector a0 = FloatVector.fromArray(F, v, vRow);
            FloatVector a1 = FloatVector.fromArray(F, v, vRow + L);
            FloatVector b = FloatVector.broadcast(F, p[p0 + pj]);
            c00 = a0.fma(b, c00);
            c01 = a1.fma(b, c01);
            b = FloatVector.broadcast(F, p[q1 + pj]);
            c10 = a0.fma(b, c10);
            c11 = a1.fma(b, c11);
            b = FloatVector.broadcast(F, p[q2 + pj]);
            c20 = a0.fma(b, c20);
            c21 = a1.fma(b, c21);
            b = FloatVector.broadcast(F, p[q3 + pj]);
            c30 = a0.fma(b, c30);
            c31 = a1.fma(b, c31);
            b = FloatVector.broadcast(F, p[q4 + pj]);
            c40 = a0.fma(b, c40);
            c41 = a1.fma(b, c41);
            b = FloatVector.broadcast(F, p[q5 + pj]);
            c50 = a0.fma(b, c50);
            c51 = a1.fma(b, c51);
            b = FloatVector.broadcast(F, p[q6 + pj]);
            c60 = a0.fma(b, c60);
            c61 = a1.fma(b, c61);
            b = FloatVector.broadcast(F, p[q7 + pj]);
            c70 = a0.fma(b, c70);
            c71 = a1.fma(b, c71);
        }
        c00.intoArray(o, out);
        c01.intoArray(o, out + L);
        c10.intoArray(o, o1);
        c11.intoArray(o, o1 + L);
        c20.intoArray(o, o2);
        c21.intoArray(o, o2 + L);
        c30.intoArray(o, o3);
        c31.intoArray(o, o3 + L);
        c40.intoArray(o, o4);
        c41.intoArray(o, o4 + L);
        c50.intoArray(o, o5);
        c51.intoArray(o, o5 + L);
        c60.intoArray(o, o6);
        c61.intoArray(o, o6 + L);
        c70.intoArray(o, o7);
        c71.intoArray(o, o7 + L);
    }

    private static void pv1x4(float[] p, int p0, int keyStride, int keys, float[] v, int v0, int vStride,
                              float[] o, int out) {
        FloatVector c0 = FloatVector.fromArray(F, o, out), c1 = FloatVector.fromArray(F, o, out + L);
        FloatVector c2 = FloatVector.fromArray(F, o, out + 2 * L), c3 = FloatVector.fromArray(F, o, out + 3 * L);
        for (int j = 0; j < keys; j++) {
            int vRow = v0 + j * vStride;
            FloatVector b = FloatVector.broadcast(F, p[p0 + j * keyStride]);
            c0 = FloatVector.fromArray(F, v, vRow).fma(b, c0);
            c1 = FloatVector.fromArray(F, v, vRow + L).fma(b, c1);
            c2 = FloatVector.fromArray(F, v, vRow + 2 * L).fma(b, c2);
            c3 = FloatVector.fromArray(F, v, vRow + 3 * L).fma(b, c3);
        }
        c0.intoArray(o, out);
        c1.intoArray(o, out + L);
        c2.intoArray(o, out + 2 * L);
        c3.intoArray(o, out + 3 * L);
    }

    /** 4 queries × one masked value vector at column {@code lane}; the mask is built here, never passed in. */
    private static void pv4x1(float[] p, int p0, int queryStride, int keyStride, int keys, float[] v, int v0,
                              int vStride, float[] o, int out, int oStride, int lane, int limit) {
        VectorMask<Float> m = F.indexInRange(lane, limit);
        int p1 = p0 + queryStride, p2 = p1 + queryStride, p3 = p2 + queryStride;
        int o1 = out + oStride, o2 = o1 + oStride, o3 = o2 + oStride;
        FloatVector c0 = FloatVector.fromArray(F, o, out, m), c1 = FloatVector.fromArray(F, o, o1, m);
        FloatVector c2 = FloatVector.fromArray(F, o, o2, m), c3 = FloatVector.fromArray(F, o, o3, m);
        for (int j = 0; j < keys; j++) {
            FloatVector a = FloatVector.fromArray(F, v, v0 + j * vStride, m);
            int pj = j * keyStride;
            c0 = a.fma(FloatVector.broadcast(F, p[p0 + pj]), c0);
            c1 = a.fma(FloatVector.broadcast(F, p[p1 + pj]), c1);
            c2 = a.fma(FloatVector.broadcast(F, p[p2 + pj]), c2);
            c3 = a.fma(FloatVector.broadcast(F, p[p3 + pj]), c3);
        }
        c0.intoArray(o, out, m);
        c1.intoArray(o, o1, m);
        c2.intoArray(o, o2, m);
        c3.intoArray(o, o3, m);
    }

    private static void pv1x1(float[] p, int p0, int keyStride, int keys, float[] v, int v0, int vStride,
                              float[] o, int out, int lane, int limit) {
        VectorMask<Float> m = F.indexInRange(lane, limit);
        FloatVector c = FloatVector.fromArray(F, o, out, m);
        for (int j = 0; j < keys; j++) {
            c = FloatVector.fromArray(F, v, v0 + j * vStride, m).fma(FloatVector.broadcast(F, p[p0 + j * keyStride]), c);
        }
        c.intoArray(o, out, m);
    }

    @Override
    public void onlineSoftmaxTransposed(float[] s, int sOffset, int sStride, int rows, int cols, int firstKey,
                                        int[] from, int[] to, float[] max, float[] sum, float[] scoreSum,
                                        float[] alpha, float[] o, int oStride, int dimV) {
        if (from != null) {
            maskOutsideIntervals(s, sOffset, sStride, rows, cols, firstKey, from, to, 0);
        }
        System.arraycopy(max, 0, alpha, 0, cols); // alpha holds the old maxima until they are turned into factors
        columnMax(s, sOffset, sStride, rows, cols, max);
        for (int i = 0; i < cols; i++) {
            // e^(m_old − m_new), exactly 1 when the maximum did not move (which covers −∞ = −∞)
            alpha[i] = alpha[i] == max[i] ? 1f : (float) Math.exp(alpha[i] - max[i]);
        }
        expColumns(s, sOffset, sStride, rows, cols, max, sum, scoreSum, alpha);
        for (int i = 0; i < cols; i++) {
            if (alpha[i] != 1f) {
                scale(o, i * oStride, dimV, alpha[i]);
            }
        }
    }

    /** {@code max[i] = max(max[i], max_j s[j][i])}. */
    private static void columnMax(float[] s, int sOffset, int sStride, int rows, int cols, float[] max) {
        int i = 0;
        // four column vectors at a time: four independent max chains instead of one latency-bound chain
        for (; i + 4 * L <= cols; i += 4 * L) {
            FloatVector a0 = FloatVector.fromArray(F, max, i), a1 = FloatVector.fromArray(F, max, i + L);
            FloatVector a2 = FloatVector.fromArray(F, max, i + 2 * L), a3 = FloatVector.fromArray(F, max, i + 3 * L);
            for (int j = 0; j < rows; j++) {
                int row = sOffset + j * sStride + i;
                a0 = a0.max(FloatVector.fromArray(F, s, row));
                a1 = a1.max(FloatVector.fromArray(F, s, row + L));
                a2 = a2.max(FloatVector.fromArray(F, s, row + 2 * L));
                a3 = a3.max(FloatVector.fromArray(F, s, row + 3 * L));
            }
            a0.intoArray(max, i);
            a1.intoArray(max, i + L);
            a2.intoArray(max, i + 2 * L);
            a3.intoArray(max, i + 3 * L);
        }
        for (; i + L <= cols; i += L) {
            FloatVector a = FloatVector.fromArray(F, max, i);
            for (int j = 0; j < rows; j++) {
                a = a.max(FloatVector.fromArray(F, s, sOffset + j * sStride + i));
            }
            a.intoArray(max, i);
        }
        for (; i < cols; i++) {
            float m = max[i];
            for (int j = 0; j < rows; j++) {
                m = Math.max(m, s[sOffset + j * sStride + i]);
            }
            max[i] = m;
        }
    }

    /**
     * {@code s[j][i] = e^(s[j][i] − max[i])} (0 where max is −∞), {@code sum[i] = alpha[i]·sum[i] + Σ_j}, and the
     * score-weighted sum for the entropy observer.
     */
    private static void expColumns(float[] s, int sOffset, int sStride, int rows, int cols, float[] max, float[] sum,
                                   float[] scoreSum, float[] alpha) {
        int i = 0;
        for (; i + L <= cols; i += L) {
            FloatVector shift = FloatVector.fromArray(F, max, i);
            // a column whose max is −∞ holds only −∞; shifting it by 0 makes every exp exactly 0
            shift = shift.blend(0f, shift.eq(Float.NEGATIVE_INFINITY));
            FloatVector acc = FloatVector.zero(F), accScore = FloatVector.zero(F);
            for (int j = 0; j < rows; j++) {
                int at = sOffset + j * sStride + i;
                FloatVector x = FloatVector.fromArray(F, s, at);
                // e^y, y = x − shift <= 0, written out (see the class comment): clamp, y = n·ln2 + f, Cephes
                // polynomial for e^f, 2^n in the exponent bits
                FloatVector y = x.sub(shift);
                y = y.blend(-88f, y.lt(-88f));
                FloatVector t = y.fma(LOG2E, ROUND_MAGIC);
                FloatVector rounded = t.sub(ROUND_MAGIC);
                FloatVector f = rounded.fma(FloatVector.broadcast(F, -LN2_HI), y);
                f = rounded.fma(FloatVector.broadcast(F, -LN2_LO), f);
                FloatVector poly = f.fma(P5, P4);
                poly = poly.fma(f, FloatVector.broadcast(F, P3));
                poly = poly.fma(f, FloatVector.broadcast(F, P2));
                poly = poly.fma(f, FloatVector.broadcast(F, P1));
                poly = poly.fma(f, FloatVector.broadcast(F, P0));
                FloatVector twoToN = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS).add(127)
                        .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
                FloatVector p = poly.mul(f.mul(f)).add(f).add(1f).mul(twoToN);
                p.intoArray(s, at);
                acc = acc.add(p);
                if (scoreSum != null) {
                    accScore = p.fma(x.max(-Float.MAX_VALUE), accScore); // −∞ scores have p = 0
                }
            }
            FloatVector a = FloatVector.fromArray(F, alpha, i);
            FloatVector.fromArray(F, sum, i).fma(a, acc).intoArray(sum, i);
            if (scoreSum != null) {
                FloatVector.fromArray(F, scoreSum, i).fma(a, accScore).intoArray(scoreSum, i);
            }
        }
        for (; i < cols; i++) {
            float m = max[i], total = 0f, scoreTotal = 0f;
            for (int j = 0; j < rows; j++) {
                int at = sOffset + j * sStride + i;
                float score = s[at];
                float p = m == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(score - m);
                s[at] = p;
                total += p;
                if (p != 0f) {
                    scoreTotal += p * score;
                }
            }
            sum[i] = alpha[i] * sum[i] + total;
            if (scoreSum != null) {
                scoreSum[i] = alpha[i] * scoreSum[i] + scoreTotal;
            }
        }
    }

    @Override
    public void maskOutsideIntervals(float[] s, int sOffset, int sStride, int rows, int cols, int firstKey,
                                     int[] from, int[] to, int boundsOffset) {
        int i = 0;
        for (; i + L <= cols; i += L) {
            IntVector lo = IntVector.fromArray(I, from, boundsOffset + i);
            IntVector hi = IntVector.fromArray(I, to, boundsOffset + i);
            for (int j = 0; j < rows; j++) {
                int key = firstKey + j;
                VectorMask<Float> outside = lo.compare(VectorOperators.GT, key)
                        .or(hi.compare(VectorOperators.LE, key)).cast(F);
                int at = sOffset + j * sStride + i;
                FloatVector.fromArray(F, s, at).blend(Float.NEGATIVE_INFINITY, outside).intoArray(s, at);
            }
        }
        // the last, partial vector: scalar
        ScalarVectorOps.maskColumns(s, sOffset, sStride, rows, i, cols, firstKey, from, to, boundsOffset);
    }

    @Override
    public void transposeScaled(float[] src, int srcOffset, int srcStride, int rows, int cols,
                                float[] dst, int dstOffset, int dstStride, float scale) {
        // A gather-free transpose: rows of the source are read contiguously, columns of the destination written
        // with a stride. Used once per query block (rows × cols ≪ the block's work), so scalar is enough.
        for (int r = 0; r < rows; r++) {
            int srcRow = srcOffset + r * srcStride;
            for (int c = 0; c < cols; c++) {
                dst[dstOffset + c * dstStride + r] = scale * src[srcRow + c];
            }
        }
    }

    // ---------------------------------------------------------------- row tiles

    @Override
    public void scoresRows(float[] q, int qOffset, int qStride, int queries,
                           float[] k, int kOffset, int kStride, int keys, int dim,
                           float[] s, int sOffset, int sStride) {
        int r = 0;
        for (; r + 4 <= queries; r += 4) {
            int q0 = qOffset + r * qStride;
            int out = sOffset + r * sStride;
            int j = 0;
            for (; j + 4 <= keys; j += 4) {
                dots4x4(q, q0, qStride, k, kOffset + j * kStride, kStride, dim, s, out + j, sStride);
            }
            for (; j < keys; j++) {
                int kRow = kOffset + j * kStride;
                for (int x = 0; x < 4; x++) {
                    s[out + x * sStride + j] = dot(q, q0 + x * qStride, k, kRow, dim);
                }
            }
        }
        for (; r < queries; r++) {
            int q0 = qOffset + r * qStride;
            int out = sOffset + r * sStride;
            for (int j = 0; j < keys; j++) {
                s[out + j] = dot(q, q0, k, kOffset + j * kStride, dim);
            }
        }
    }

    /**
     * Four queries against four keys: 16 accumulators, each query and key chunk loaded once per step, then the
     * horizontal sums — the price of keeping keys as rows, paid once per D elements. The sums go four at a time,
     * by a fixed tree: two "transposing" steps (each lane keeps one vector's pairwise sum, chosen by a bit of its
     * index) fold a query's four accumulators into one vector, then the remaining steps of {@link #sum}; lane 0
     * ends with key 0's sum, lane L/2 key 1's, L/4 key 2's, 3L/4 key 3's. A third of the shuffles of sixteen
     * separate sums, and the same bits compiled or interpreted.
     */
    private static void dots4x4(float[] q, int q0, int qStride, float[] k, int k0, int kStride, int dim,
                                float[] s, int out, int sStride) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F), c02 = FloatVector.zero(F), c03 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F), c12 = FloatVector.zero(F), c13 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F), c22 = FloatVector.zero(F), c23 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F), c32 = FloatVector.zero(F), c33 = FloatVector.zero(F);
        int q1 = q0 + qStride, q2 = q1 + qStride, q3 = q2 + qStride;
        int k1 = k0 + kStride, k2 = k1 + kStride, k3 = k2 + kStride;
        int t = 0;
        for (; t + L <= dim; t += L) {
            FloatVector x0 = FloatVector.fromArray(F, k, k0 + t);
            FloatVector x1 = FloatVector.fromArray(F, k, k1 + t);
            FloatVector x2 = FloatVector.fromArray(F, k, k2 + t);
            FloatVector x3 = FloatVector.fromArray(F, k, k3 + t);
            FloatVector u = FloatVector.fromArray(F, q, q0 + t);
            c00 = u.fma(x0, c00);
            c01 = u.fma(x1, c01);
            c02 = u.fma(x2, c02);
            c03 = u.fma(x3, c03);
            u = FloatVector.fromArray(F, q, q1 + t);
            c10 = u.fma(x0, c10);
            c11 = u.fma(x1, c11);
            c12 = u.fma(x2, c12);
            c13 = u.fma(x3, c13);
            u = FloatVector.fromArray(F, q, q2 + t);
            c20 = u.fma(x0, c20);
            c21 = u.fma(x1, c21);
            c22 = u.fma(x2, c22);
            c23 = u.fma(x3, c23);
            u = FloatVector.fromArray(F, q, q3 + t);
            c30 = u.fma(x0, c30);
            c31 = u.fma(x1, c31);
            c32 = u.fma(x2, c32);
            c33 = u.fma(x3, c33);
        }
        int o1 = out + sStride, o2 = o1 + sStride, o3 = o2 + sStride;
        // the horizontal sums four at a time, written out: as a helper method C2 refused to inline it here (node
        // budget) and boxed the sixteen vectors
        FloatVector ab0 = c00.blend(c01, BIT_HALF).add(c01.blend(c00, BIT_HALF).rearrange(XOR_HALF));
        FloatVector cd0 = c02.blend(c03, BIT_HALF).add(c03.blend(c02, BIT_HALF).rearrange(XOR_HALF));
        FloatVector r0 = ab0.blend(cd0, BIT_QUARTER).add(cd0.blend(ab0, BIT_QUARTER).rearrange(XOR_QUARTER));
        FloatVector ab1 = c10.blend(c11, BIT_HALF).add(c11.blend(c10, BIT_HALF).rearrange(XOR_HALF));
        FloatVector cd1 = c12.blend(c13, BIT_HALF).add(c13.blend(c12, BIT_HALF).rearrange(XOR_HALF));
        FloatVector r1 = ab1.blend(cd1, BIT_QUARTER).add(cd1.blend(ab1, BIT_QUARTER).rearrange(XOR_QUARTER));
        FloatVector ab2 = c20.blend(c21, BIT_HALF).add(c21.blend(c20, BIT_HALF).rearrange(XOR_HALF));
        FloatVector cd2 = c22.blend(c23, BIT_HALF).add(c23.blend(c22, BIT_HALF).rearrange(XOR_HALF));
        FloatVector r2 = ab2.blend(cd2, BIT_QUARTER).add(cd2.blend(ab2, BIT_QUARTER).rearrange(XOR_QUARTER));
        FloatVector ab3 = c30.blend(c31, BIT_HALF).add(c31.blend(c30, BIT_HALF).rearrange(XOR_HALF));
        FloatVector cd3 = c32.blend(c33, BIT_HALF).add(c33.blend(c32, BIT_HALF).rearrange(XOR_HALF));
        FloatVector r3 = ab3.blend(cd3, BIT_QUARTER).add(cd3.blend(ab3, BIT_QUARTER).rearrange(XOR_QUARTER));
        if (L > 32) {
            r0 = r0.add(r0.rearrange(FOLD8));
            r1 = r1.add(r1.rearrange(FOLD8));
            r2 = r2.add(r2.rearrange(FOLD8));
            r3 = r3.add(r3.rearrange(FOLD8));
        }
        if (L > 16) {
            r0 = r0.add(r0.rearrange(FOLD4));
            r1 = r1.add(r1.rearrange(FOLD4));
            r2 = r2.add(r2.rearrange(FOLD4));
            r3 = r3.add(r3.rearrange(FOLD4));
        }
        if (L > 8) {
            r0 = r0.add(r0.rearrange(FOLD2));
            r1 = r1.add(r1.rearrange(FOLD2));
            r2 = r2.add(r2.rearrange(FOLD2));
            r3 = r3.add(r3.rearrange(FOLD2));
        }
        if (L > 4) {
            r0 = r0.add(r0.rearrange(FOLD1));
            r1 = r1.add(r1.rearrange(FOLD1));
            r2 = r2.add(r2.rearrange(FOLD1));
            r3 = r3.add(r3.rearrange(FOLD1));
        }
        s[out] = r0.lane(0);
        s[out + 1] = r0.lane(L / 2);
        s[out + 2] = r0.lane(L / 4);
        s[out + 3] = r0.lane(3 * L / 4);
        s[o1] = r1.lane(0);
        s[o1 + 1] = r1.lane(L / 2);
        s[o1 + 2] = r1.lane(L / 4);
        s[o1 + 3] = r1.lane(3 * L / 4);
        s[o2] = r2.lane(0);
        s[o2 + 1] = r2.lane(L / 2);
        s[o2 + 2] = r2.lane(L / 4);
        s[o2 + 3] = r2.lane(3 * L / 4);
        s[o3] = r3.lane(0);
        s[o3 + 1] = r3.lane(L / 2);
        s[o3 + 2] = r3.lane(L / 4);
        s[o3 + 3] = r3.lane(3 * L / 4);
        for (; t < dim; t++) { // the last, partial vector: scalar
            for (int x = 0; x < 4; x++) {
                float qx = q[q0 + x * qStride + t];
                int row = out + x * sStride;
                s[row] += qx * k[k0 + t];
                s[row + 1] += qx * k[k1 + t];
                s[row + 2] += qx * k[k2 + t];
                s[row + 3] += qx * k[k3 + t];
            }
        }
    }

    @Override
    public void dequantizeBytes(byte[] codes, int codeOffset, float bias, float scale, float[] dst, int dstOffset,
                                int n) {
        FloatVector b = FloatVector.broadcast(F, bias), a = FloatVector.broadcast(F, scale);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector c = (FloatVector) ByteVector.fromArray(B, codes, codeOffset + i)
                    .convertShape(VectorOperators.B2F, F, 0);
            c.fma(a, b).intoArray(dst, dstOffset + i);
        }
        for (; i < n; i++) {
            dst[dstOffset + i] = bias + scale * codes[codeOffset + i];
        }
    }

    @Override
    public void dequantizeNibbles(byte[] codes, int codeOffset, float bias, float scale, float[] dst, int dstOffset,
                                  int n) {
        int half = (n + 1) / 2, whole = n / 2; // bytes whose both nibbles are elements
        FloatVector b = FloatVector.broadcast(F, bias), a = FloatVector.broadcast(F, scale);
        int i = 0;
        for (; i + L <= whole; i += L) {
            ByteVector packed = ByteVector.fromArray(B, codes, codeOffset + i);
            FloatVector low = (FloatVector) packed.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0);
            FloatVector high = (FloatVector) packed.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F)
                    .convertShape(VectorOperators.B2F, F, 0);
            low.fma(a, b).intoArray(dst, dstOffset + i);
            high.fma(a, b).intoArray(dst, dstOffset + i + half);
        }
        for (; i < half; i++) {
            int v = codes[codeOffset + i];
            dst[dstOffset + i] = bias + scale * (v & 0x0F);
            if (i + half < n) {
                dst[dstOffset + i + half] = bias + scale * ((v >> 4) & 0x0F);
            }
        }
    }
}
