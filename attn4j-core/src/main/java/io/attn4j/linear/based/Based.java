package io.attn4j.linear.based;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.Work;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.linear.Features;
import io.attn4j.linear.Form;
import io.attn4j.linear.GatedLinearRecurrence;
import io.attn4j.linear.LinearState;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.linear.Segments;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;

import java.util.EnumSet;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * BASED: linear attention with a second-order Taylor feature map for the far past plus exact softmax attention over
 * a short sliding window (Arora, Eyuboglu, Zhang, Timalsina, Alberti, Zinsley, Zou, Rudra, Ré: "Simple linear
 * attention language models balance the recall-throughput tradeoff", ICML 2024).
 *
 * <p><b>Algorithm.</b> The Taylor map approximates {@code exp(s·q·k)} (s: the call's scale):
 * <pre>
 *   q̃ = Wᵀq, k̃ = Wᵀk  (W: D × F)          φ(x) = [1, √s·x̃, s·(x̃ ⊗ x̃)/√2]
 *   φ(q)·φ(k) = 1 + s·q̃·k̃ + (s·q̃·k̃)²/2 > 0
 * </pre>
 * For the query at key position t, the keys in the window {@code (t − w, t]} get the exact weights
 * {@code exp(s·q·k)} on the original (unprojected) q and k; the older keys {@code ≤ t − w} get the Taylor weights.
 * Both share one normaliser (attn4j's choice of how the paper's two layers combine into one operator, so that the
 * operator approximates full softmax attention):
 * <pre>
 *   o = (num_T + e^lse · o_W) / (den_T + e^lse)      num_T = Σ_{s ≤ t−w} φ(q)·φ(k_s) v_s,  den_T = Σ φ(q)·φ(k_s)
 * </pre>
 * where {@code (o_W, lse)} is the window's softmax output and log-sum-exp. It is evaluated scaled by
 * {@code e^(−max(lse, log |den_T|))}, so neither part overflows. The Taylor sums run through
 * {@link GatedLinearRecurrence} (no decay, no normalisation) on the keys lagged by w positions, with a ones column
 * appended to the values so that one state matrix carries both {@code num_T} and {@code den_T}. The window runs
 * through {@link FlashAttention#run} with a sliding-window {@link IntervalMask} and its log-sum-exp in the chunked
 * form, and directly (float64 in the reference, float32 in the recurrent step) in the other forms.
 *
 * <p><b>Choices.</b>
 * <ul>
 *   <li>Projection D → F: one matrix W shared by q and k and by every head (so GQA equals repeated KV heads), either
 *       given ({@link Config#projection}, {@code D × F} row-major) or drawn from the config's seed with entries
 *       {@code N(0, 1/F)} so that {@code q̃·k̃} is an unbiased estimate of {@code q·k} (a Johnson–Lindenstrauss
 *       projection standing in for the paper's trained one). {@code features = 0} means the identity: F = D.</li>
 *   <li>The second-order block keeps the symmetric upper triangle: {@code F(F+1)/2} features, {@code s·x̃_i²/√2} on
 *       the diagonal and {@code s·x̃_i·x̃_j} off it, so the feature dimension is {@code 1 + F + F(F+1)/2} (153 for
 *       F = 16) instead of {@code 1 + F + F²}; the kernel value is the same.</li>
 *   <li>The scale s is the call's, the same as the window's (the paper's 1/√F is the call's scale when F = D).</li>
 *   <li>A query that sees no key at all (placed before the first key, zero state) outputs 0.</li>
 *   <li>Causal only (CS, CC, decode): the paper's model is causal, and a noncausal window has no meaning for
 *       Lq ≠ Lk.</li>
 *   <li>Query j of a sequence sits at key position {@code j + Lk − Lq} (bottom-right, as in {@link Segments}); the
 *       keys of the window cache sit at positions {@code −c … −1}.</li>
 * </ul>
 *
 * <p><b>State</b> per (sequence, KV head), {@code Φ = 1 + F + F(F+1)/2}: the Taylor matrix {@code [S | z]}
 * ({@code Φ} rows of {@code Dv + 1}, row-major: S's row then z's entry) over the keys older than the window; then
 * the window cache, {@code w} key slots ({@code D} each) and {@code w} value slots ({@code Dv} each), of which the
 * last c hold the last c keys in order; then c itself (one float, read as {@code clamp(rint(c), 0, w)}). Slots not
 * in use are written as zeros. Continuing from a state equals the whole run.
 *
 * <p><b>Complexity</b> per (sequence, head): time O(n·(Φ·Dv + w·(D + Dv))) in every form (the chunked form adds
 * O(n·C·(Φ + Dv)) for the chunks' products); state {@code Φ·(Dv + 1) + w·(D + Dv) + 1} floats — constant in n.
 * The chunked form holds the mapped features, O(n·Φ) per head, for the call.
 */
public final class Based extends RecurrentMechanism {

    /**
     * @param features   F, the projected dimension ({@code 1..64}), or 0 for the identity (F = D)
     * @param window     w, keys per query weighted exactly ({@code 0..4096}; 0 disables the window)
     * @param projection W, {@code D × F} row-major, shared by q, k and every head; {@code null}: drawn from
     *                   {@code seed}
     * @param seed       the seed of the drawn projection
     * @param form       the form {@code forward} uses
     */
    public record Config(int features, int window, float[] projection, long seed, Form form)
            implements MechanismConfig {
        public Config {
            Objects.requireNonNull(form, "form");
            if (features < 0 || features > 64) {
                throw new IllegalArgumentException("features = " + features + "; allowed: 1 to 64, or 0 for the "
                        + "identity (F = D)");
            }
            if (window < 0 || window > 4096) {
                throw new IllegalArgumentException("window = " + window + "; allowed: 0 (none) to 4096");
            }
            if (projection != null) {
                if (features == 0 || projection.length % features != 0) {
                    throw new IllegalArgumentException("projection of " + projection.length + " floats with features = "
                            + features + "; allowed: D × F floats (row-major) with F >= 1");
                }
                for (float x : projection) {
                    if (!Float.isFinite(x)) {
                        throw new IllegalArgumentException("projection holds " + x + "; allowed: finite values");
                    }
                }
            }
        }

        /** F = 16 (the paper's feature dimension), w = 64 (the paper's window), a drawn projection, chunked. */
        public static Config defaults() {
            return new Config(16, 64, null, 0x5EEDBA5EDL, Form.chunked());
        }

        /** The identity projection (F = D): the exact second-order Taylor kernel of exp(s·q·k). */
        public static Config identity(int window) {
            return new Config(0, window, null, 0, Form.chunked());
        }

        /** An explicit projection W ({@code D × F}, row-major). */
        public static Config ofProjection(float[] projection, int features, int window) {
            return new Config(features, window, projection.clone(), 0, Form.chunked());
        }

        public Config withForm(Form newForm) {
            return new Config(features, window, projection, seed, newForm);
        }

        public Config withWindow(int newWindow) {
            return new Config(features, newWindow, projection, seed, form);
        }

        @Override
        public String toString() {
            return "Config[features=" + features + ", window=" + window + ", projection="
                    + (projection == null ? "seed " + seed : projection.length + " floats") + ", form=" + form + "]";
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("based", Family.LINEAR,
            "BASED (Taylor-2 linear attention + exact sliding window)",
            "Arora, Eyuboglu, Zhang, Timalsina, Alberti, Zinsley, Zou, Rudra, Ré: \"Simple linear attention language "
                    + "models balance the recall-throughput tradeoff\", ICML 2024 (arXiv:2402.18668)",
            EnumSet.of(Pattern.CS, Pattern.CC, Pattern.DECODE), Weights.TRAINED, false, false, false,
            "O(n (F^2 dv + w d))", "O(F^2 dv + w d) per KV head", Config.class, Config.defaults(),
            (config, engine) -> new Based((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT, Guarantee.PACKED_DOCUMENTS));

    private static final double INV_SQRT2 = 1 / Math.sqrt(2);

    private final Config config;

    public Based(Config config, Engine engine) {
        super(engine);
        this.config = Objects.requireNonNull(config, "config");
    }

    public Based(Config config) {
        this(config, Engine.defaults());
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    public Config config() {
        return config;
    }

    @Override
    public Form form() {
        return config.form();
    }

    /** F for head dimension d. */
    public int projected(int d) {
        return config.features() == 0 ? d : config.features();
    }

    /** Φ = 1 + F + F(F+1)/2, the Taylor feature dimension for head dimension d. */
    public int taylorFeatures(int d) {
        int f = projected(d);
        return 1 + f + f * (f + 1) / 2;
    }

    /** Floats of the Taylor matrix [S | z] per (sequence, KV head). */
    public int taylorSize(AttentionProblem p) {
        return taylorFeatures(p.headDim()) * (p.valueDim() + 1);
    }

    @Override
    public int stateSize(AttentionProblem p) {
        return taylorSize(p) + config.window() * (p.headDim() + p.valueDim()) + 1;
    }

    @Override
    protected void check(AttentionProblem p, Segments segments) {
        float[] w = config.projection();
        if (w != null && w.length != p.headDim() * config.features()) {
            throw new IllegalArgumentException("projection has " + w.length + " floats; this call needs D × F = "
                    + p.headDim() + " × " + config.features() + " = " + p.headDim() * config.features());
        }
        long mapped = (long) p.batch() * Math.max(p.queryLength() * p.heads(), p.keyLength() * p.kvHeads())
                * taylorFeatures(p.headDim());
        if (mapped > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("Taylor features of " + mapped + " floats for this call; at most "
                    + (Integer.MAX_VALUE - 8) + " fit in one array (lower features or split the call)");
        }
    }

    /** W (D × F, row-major) for head dimension d, or {@code null} for the identity. */
    float[] projection(int d) {
        if (config.features() == 0) {
            return null;
        }
        if (config.projection() != null) {
            return config.projection();
        }
        int f = config.features();
        SplittableRandom random = new SplittableRandom(config.seed() * 0x9E3779B97F4A7C15L + d);
        float[] w = new float[d * f];
        double sd = 1 / Math.sqrt(f);
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (sd * gaussian(random));
        }
        return w;
    }

    private static double gaussian(SplittableRandom random) {
        double u = random.nextDouble(), v = random.nextDouble();
        return Math.sqrt(-2 * Math.log1p(-u)) * Math.cos(2 * Math.PI * v);
    }

    /** φ(x) of one row into {@code out[outOffset, outOffset + Φ)}, in float64, rounded once. */
    static void taylor(float[] in, int inOffset, int d, float[] w, int f, double scale, double[] tmp, float[] out,
                       int outOffset) {
        for (int j = 0; j < f; j++) {
            double x = 0;
            if (w == null) {
                x = in[inOffset + j];
            } else {
                for (int i = 0; i < d; i++) {
                    x += (double) in[inOffset + i] * w[i * f + j];
                }
            }
            tmp[j] = x;
        }
        double root = Math.sqrt(scale);
        out[outOffset] = 1f;
        for (int j = 0; j < f; j++) {
            out[outOffset + 1 + j] = (float) (root * tmp[j]);
        }
        int at = outOffset + 1 + f;
        for (int i = 0; i < f; i++) {
            out[at++] = (float) (scale * INV_SQRT2 * tmp[i] * tmp[i]);
            for (int j = i + 1; j < f; j++) {
                out[at++] = (float) (scale * tmp[i] * tmp[j]);
            }
        }
    }

    /** The window cache's fill count c stored in a state block. */
    private static int count(float[] data, int at, int window) {
        return (int) Math.max(0, Math.min(window, Math.rint(data[at])));
    }

    // ------------------------------------------------------------------------------------------ compute

    /**
     * The projection to F features ({@code 2·D·F} per query and key row), one pass of the
     * {@link GatedLinearRecurrence#flops recurrence} on the Taylor features ({@code Φ = 1 + F + F(F+1)/2}, values
     * with a ones column), and the exact window, {@code 2·(D + Dv)} per query and window key.
     */
    @Override
    public Work work(Work.Shape s, boolean causal, Form form) {
        int f = projected(s.headDim()), phi = taylorFeatures(s.headDim()), w = Math.min(config.window(), s.keyLength());
        double rows = (double) s.batch() * (s.queryLength() * s.heads() + s.keyLength() * s.kvHeads());
        double projection = f == s.headDim() && config.projection() == null ? 0 : 2.0 * s.headDim() * f * rows;
        double window = 2.0 * (s.headDim() + s.valueDim()) * s.batch() * s.heads() * s.queryLength() * w;
        return Work.formula(projection + window + GatedLinearRecurrence.flops(s, phi, s.valueDim() + 1, false,
                causal, form), operandBytes(s), "Taylor recurrence with Φ = " + phi + ", exact window of " + w
                + " keys" + (projection > 0 ? ", projection 2·D·F per row" : "") + ", " + form);
    }

    @Override
    protected void compute(Call call, Form form) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int batch = p.batch(), lq = p.queryLength(), lk = p.keyLength(), hq = p.heads(), hkv = p.kvHeads();
        int d = p.headDim(), dv = p.valueDim(), w = config.window(), f = projected(d), phi = taylorFeatures(d);
        int taylorSize = taylorSize(p), sequences = sg.sequences(), documents = sg.documents();
        float[] proj = projection(d);
        double scale = p.scale();
        float[] init = call.initial().data();
        int countAt = stateSize(p) - 1;
        int[] counts = new int[sequences * hkv];
        for (int seq = 0; seq < sequences; seq++) {
            for (int g = 0; g < hkv; g++) {
                counts[seq * hkv + g] = count(init, call.initial().offset(seq, g) + countAt, w);
            }
        }

        // 1. Taylor operands: φ(q); the lagged stream T[u] = slot u of [cache slots (w), keys], values [v, 1]
        HeadView qPhi = Features.map(engine, p.q(), batch, lq, hq, phi,
                (in, inOffset, out, outOffset, head) -> taylor(in, inOffset, d, proj, f, scale, new double[f], out,
                        outOffset));
        float[] kPhi = new float[batch * lk * hkv * phi];
        float[] vOne = new float[batch * lk * hkv * (dv + 1)];
        int[] keyDoc = documentIndex(sg.keyOffsets(), lk);
        int rowsPerTask = 256, rows = batch * lk;
        engine.parallelFor((rows + rowsPerTask - 1) / rowsPerTask, task -> {
            double[] tmp = new double[f];
            for (int r = task * rowsPerTask; r < Math.min(rows, (task + 1) * rowsPerTask); r++) {
                int b = r / lk, t = r % lk, doc = keyDoc[t], seq = b * documents + doc;
                int u = t - sg.keyOffsets()[doc];
                for (int g = 0; g < hkv; g++) {
                    int kOut = (r * hkv + g) * phi, vOut = (r * hkv + g) * (dv + 1);
                    if (u >= w) {
                        taylor(p.k().data(), p.k().at(b, t - w, g), d, proj, f, scale, tmp, kPhi, kOut);
                        System.arraycopy(p.v().data(), p.v().at(b, t - w, g), vOne, vOut, dv);
                        vOne[vOut + dv] = 1f;
                    } else if (u >= w - counts[seq * hkv + g]) {
                        int block = call.initial().offset(seq, g);
                        taylor(init, block + taylorSize + u * d, d, proj, f, scale, tmp, kPhi, kOut);
                        System.arraycopy(init, block + taylorSize + w * d + u * dv, vOne, vOut, dv);
                        vOne[vOut + dv] = 1f;
                    } // else: an empty slot, zero features
                }
            }
        });

        // 2. Taylor sums num_T, den_T through the shared recurrence: output [num | den], state [S | z]
        float[] numDen = new float[batch * lq * hq * (dv + 1)];
        AttentionProblem taylorProblem = new AttentionProblem(batch, lq, lk, hq, hkv, phi, dv + 1, 1f, null, null,
                p.pattern(), false, false, false, 0, qPhi, Features.contiguous(kPhi, lk, hkv, phi),
                Features.contiguous(vOne, lk, hkv, dv + 1), Features.contiguous(numDen, lq, hq, dv + 1),
                Tensor.of(numDen, batch, lq, hq, dv + 1), Layout.BSHD);
        LinearState taylorInitial = LinearState.zeros(sequences, hkv, taylorSize);
        for (int seq = 0; seq < sequences; seq++) {
            for (int g = 0; g < hkv; g++) {
                System.arraycopy(init, call.initial().offset(seq, g), taylorInitial.data(),
                        taylorInitial.offset(seq, g), taylorSize);
            }
        }
        LinearState taylorState = LinearState.zeros(sequences, hkv, taylorSize);
        GatedLinearRecurrence.run(engine, new Call(taylorProblem, sg, taylorInitial, taylorState),
                new GatedLinearRecurrence.Operands(qPhi, Features.contiguous(kPhi, lk, hkv, phi),
                        Features.contiguous(vOne, lk, hkv, dv + 1), phi, 1f, new GatedLinearRecurrence.None(), false,
                        0f), form);

        // 3. the window: softmax output o_W and log-sum-exp per query row (b, i, h)
        double[] windowOut = new double[batch * lq * hq * dv];
        double[] lse = new double[batch * lq * hq];
        java.util.Arrays.fill(lse, Double.NEGATIVE_INFINITY);
        if (w > 0) {
            if (form.kind() == Form.Kind.CHUNKED) {
                flashWindow(call, counts, windowOut, lse);
            } else {
                directWindow(call, counts, form.kind() == Form.Kind.REFERENCE, windowOut, lse);
            }
        }

        // 4. one shared normaliser: o = (num_T + e^lse o_W) / (den_T + e^lse), scaled by e^(−max(lse, log|den_T|))
        float[] out = p.out().data();
        engine.parallelFor((batch * lq + rowsPerTask - 1) / rowsPerTask, task -> {
            for (int r = task * rowsPerTask; r < Math.min(batch * lq, (task + 1) * rowsPerTask); r++) {
                int b = r / lq, i = r % lq;
                for (int h = 0; h < hq; h++) {
                    int row = r * hq + h, nd = row * (dv + 1), or = p.out().at(b, i, h);
                    combine(numDen, nd, dv, lse[row], windowOut, row * dv, out, or);
                }
            }
        });

        // 5. the final state: Taylor matrix, then the last w slots of [cache slots, keys], then the count
        float[] state = call.state().data();
        for (int seq = 0; seq < sequences; seq++) {
            int b = sg.batchOf(seq), from = sg.keyFrom(seq), n = sg.keyLength(seq);
            for (int g = 0; g < hkv; g++) {
                int block = call.state().offset(seq, g), old = call.initial().offset(seq, g);
                int c = counts[seq * hkv + g], fill = Math.min(w, c + n);
                System.arraycopy(taylorState.data(), taylorState.offset(seq, g), state, block, taylorSize);
                for (int y = w - fill; y < w; y++) {
                    int x = n + y; // slot of [cache slots, keys]
                    int keyTo = block + taylorSize + y * d, valueTo = block + taylorSize + w * d + y * dv;
                    if (x < w) {
                        System.arraycopy(init, old + taylorSize + x * d, state, keyTo, d);
                        System.arraycopy(init, old + taylorSize + w * d + x * dv, state, valueTo, dv);
                    } else {
                        System.arraycopy(p.k().data(), p.k().at(b, from + x - w, g), state, keyTo, d);
                        System.arraycopy(p.v().data(), p.v().at(b, from + x - w, g), state, valueTo, dv);
                    }
                }
                state[block + countAt] = fill;
            }
        }
    }

    /** The document of every row {@code [0, length)} under {@code offsets}. */
    private static int[] documentIndex(int[] offsets, int length) {
        int[] doc = new int[length];
        for (int dIdx = 0; dIdx + 1 < offsets.length; dIdx++) {
            java.util.Arrays.fill(doc, offsets[dIdx], offsets[dIdx + 1], dIdx);
        }
        return doc;
    }

    /** One output row from {@code [num_T | den_T]}, the window's {@code o_W} and its log-sum-exp. */
    private static void combine(float[] numDen, int nd, int dv, double lse, double[] windowOut, int wo, float[] out,
                                int or) {
        double den = numDen[nd + dv];
        double m = Math.max(lse, den != 0 ? Math.log(Math.abs(den)) : Double.NEGATIVE_INFINITY);
        if (m == Double.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(out, or, or + dv, 0f); // no key at all
            return;
        }
        double taylorWeight = den != 0 ? Math.exp(-m) : 0, windowWeight = Math.exp(lse - m);
        double denominator = den * taylorWeight + windowWeight;
        if (denominator == 0) {
            java.util.Arrays.fill(out, or, or + dv, 0f);
            return;
        }
        double inverse = 1 / denominator;
        for (int c = 0; c < dv; c++) {
            out[or + c] = (float) ((numDen[nd + c] * taylorWeight + windowWeight * windowOut[wo + c]) * inverse);
        }
    }

    /**
     * The window of query j of sequence seq, KV head g, as slots of {@code [cache slots (w), keys]}:
     * {@code [max(pos + 1, w − c), w + pos]} with pos the query's key position.
     */
    private static int windowFrom(int pos, int w, int c) {
        return Math.max(pos + 1, w - c);
    }

    /** The window of every query by FlashAttention over K and V with the cache slots placed before each document. */
    private void flashWindow(Call call, int[] counts, double[] windowOut, double[] lse) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int batch = p.batch(), lq = p.queryLength(), lk = p.keyLength(), hq = p.heads(), hkv = p.kvHeads();
        int d = p.headDim(), dv = p.valueDim(), w = config.window(), documents = sg.documents(), group = p.group();
        int taylorSize = taylorSize(p), extended = lk + documents * w;
        float[] init = call.initial().data();
        float[] k = new float[batch * extended * hkv * d], v = new float[batch * extended * hkv * dv];
        engine.parallelFor(batch * documents, seq -> {
            int b = sg.batchOf(seq), doc = sg.documentOf(seq), base = sg.keyFrom(seq) + doc * w;
            for (int g = 0; g < hkv; g++) {
                int block = call.initial().offset(seq, g), c = counts[seq * hkv + g];
                for (int x = w - c; x < w; x++) {
                    int row = (b * extended + base + x) * hkv + g;
                    System.arraycopy(init, block + taylorSize + x * d, k, row * d, d);
                    System.arraycopy(init, block + taylorSize + w * d + x * dv, v, row * dv, dv);
                }
                for (int t = 0; t < sg.keyLength(seq); t++) {
                    int row = (b * extended + base + w + t) * hkv + g;
                    System.arraycopy(p.k().data(), p.k().at(b, sg.keyFrom(seq) + t, g), k, row * d, d);
                    System.arraycopy(p.v().data(), p.v().at(b, sg.keyFrom(seq) + t, g), v, row * dv, dv);
                }
            }
        });
        int[] queryDoc = documentIndex(sg.queryOffsets(), lq);
        IntervalMask mask = new IntervalMask() {
            @Override
            public int keyFrom(int b, int h, int i) {
                int doc = queryDoc[i], seq = b * documents + doc, pos = position(sg, seq, i);
                return sg.keyFrom(seq) + doc * w + windowFrom(pos, w, counts[seq * hkv + h / group]);
            }

            @Override
            public int keyTo(int b, int h, int i) {
                int doc = queryDoc[i], seq = b * documents + doc, pos = position(sg, seq, i);
                return sg.keyFrom(seq) + doc * w + w + pos + 1;
            }
        };
        FlashAttention flash = new FlashAttention(engine);
        BlockMask blocks = BlockMask.of(mask, batch, hq, lq, extended, flash.config().blockQ(),
                flash.config().blockK());
        Tensor out = Tensor.zeros(batch, lq, hq, dv);
        AttentionProblem window = new AttentionProblem(batch, lq, extended, hq, hkv, d, dv, p.scale(), mask, null,
                p.pattern(), true, false, false, 0, p.q(), Features.contiguous(k, extended, hkv, d),
                Features.contiguous(v, extended, hkv, dv), Features.contiguous(out.array(), lq, hq, dv), out,
                Layout.BSHD);
        AttentionResult result = flash.run(window, blocks);
        float[] o = out.array(), l = result.lse().array(); // lse: [B, Hq, Lq]
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < lq; i++) {
                for (int h = 0; h < hq; h++) {
                    int row = (b * lq + i) * hq + h;
                    lse[row] = l[(b * hq + h) * lq + i];
                    for (int c = 0; c < dv; c++) {
                        windowOut[row * dv + c] = o[row * dv + c];
                    }
                }
            }
        }
    }

    /** Key position (inside its document) of query row i (absolute) of sequence seq. */
    private static int position(Segments sg, int seq, int i) {
        return sg.positionOf(seq, i - sg.queryFrom(seq));
    }

    /** The window of every query computed directly: float64 ({@code precise}) or float32 with the SIMD ops. */
    private void directWindow(Call call, int[] counts, boolean precise, double[] windowOut, double[] lse) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int hq = p.heads(), hkv = p.kvHeads(), lq = p.queryLength(), d = p.headDim(), dv = p.valueDim();
        int w = config.window(), group = p.group(), taylorSize = taylorSize(p);
        float[] init = call.initial().data();
        float scale = p.scale();
        engine.parallelFor(sg.sequences() * hq, task -> {
            int seq = task / hq, h = task % hq, g = h / group, b = sg.batchOf(seq);
            int block = call.initial().offset(seq, g), c = counts[seq * hkv + g];
            VectorOps ops = engine.ops();
            double[] scores = new double[w];
            float[] acc = new float[dv];
            double[] accD = new double[dv];
            for (int j = 0; j < sg.queryLength(seq); j++) {
                int i = sg.queryFrom(seq) + j, pos = sg.positionOf(seq, j);
                int from = windowFrom(pos, w, c), to = w + pos; // inclusive slots
                if (from > to) {
                    continue;
                }
                int row = (b * lq + i) * hq + h, qAt = p.q().at(b, i, h);
                float[] qd = p.q().data();
                double max = Double.NEGATIVE_INFINITY;
                for (int x = from; x <= to; x++) {
                    float[] kd = x < w ? init : p.k().data();
                    int kAt = x < w ? block + taylorSize + x * d : p.k().at(b, sg.keyFrom(seq) + x - w, g);
                    double score;
                    if (precise) {
                        score = 0;
                        for (int e = 0; e < d; e++) {
                            score += (double) qd[qAt + e] * kd[kAt + e];
                        }
                        score *= scale;
                    } else {
                        score = scale * ops.dot(qd, qAt, kd, kAt, d);
                    }
                    scores[x - from] = score;
                    max = Math.max(max, score);
                }
                double sum = 0;
                java.util.Arrays.fill(accD, 0);
                java.util.Arrays.fill(acc, 0f);
                for (int x = from; x <= to; x++) {
                    float[] vd = x < w ? init : p.v().data();
                    int vAt = x < w ? block + taylorSize + w * d + x * dv : p.v().at(b, sg.keyFrom(seq) + x - w, g);
                    if (precise) {
                        double e = Math.exp(scores[x - from] - max);
                        sum += e;
                        for (int col = 0; col < dv; col++) {
                            accD[col] += e * vd[vAt + col];
                        }
                    } else {
                        float e = (float) Math.exp((float) (scores[x - from] - max));
                        sum += e;
                        ops.axpy(e, vd, vAt, acc, 0, dv);
                    }
                }
                lse[row] = max + Math.log(sum);
                for (int col = 0; col < dv; col++) {
                    windowOut[row * dv + col] = (precise ? accD[col] : acc[col]) / sum;
                }
            }
        });
    }
}
