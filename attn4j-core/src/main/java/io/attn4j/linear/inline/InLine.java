package io.attn4j.linear.inline;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.Masks;
import io.attn4j.attention.MaskMod;
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
import io.attn4j.tensor.Layout;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Objects;

/**
 * InLine attention: injective linear attention plus a local softmax window (Han, Wang, Xia, Zhang, Song, Wu, Huang:
 * "Bridging the Divide: Reconsidering Softmax and Linear Attention", NeurIPS 2024).
 *
 * <p><b>Algorithm.</b> Linear attention normalises by division, {@code w_ij = φ(q_i)·φ(k_j) / Σ_j' φ(q_i)·φ(k_j')},
 * which maps {@code q} and {@code αq} (α > 0, φ positively homogeneous) to the same weights: it is not injective.
 * InLine normalises by subtraction instead,
 * <pre>
 *   w_ij = s·φ(q_i)·φ(k_j) − (1/N) Σ_j' s·φ(q_i)·φ(k_j') + 1/N        (every row sums to 1, no division)
 *   lin_i = Σ_j w_ij v_j = s·φ(q_i)ᵀ S − (s·φ(q_i)·z) v̄ + v̄,   S = Σ_j φ(k_j) v_jᵀ, z = Σ_j φ(k_j), v̄ = Σ_j v_j / N
 * </pre>
 * over the {@code N} keys the query sees (all of them noncausal, the prefix up to its position causal), and adds the
 * paper's second ingredient, local modelling: {@code o_i = lin_i + λ · local_i}, with {@code local_i} exact softmax
 * attention ({@code softmax(s·q_i·k_j)}) over a window of keys around the query.
 *
 * <p><b>Choices.</b>
 * <ul>
 *   <li>φ: the identity by default, or {@link FeatureMap#RELU}. The identity keeps the map from a query to its
 *       weights injective on all of R^D (relu sends every query with the same positive part to the same weights,
 *       though it still tells {@code q} from {@code 2q}), and it keeps outputs small: with relu every
 *       {@code φ(q)·φ(k)} is positive, so {@code s·φ(q)·z} grows like N and the subtraction cancels large terms
 *       (float32 outputs of a 512-token prefix then differ by ~5e-5 between chunkings; with the identity by ~1e-6).
 *       The call's scale {@code s} (default {@code 1/√D}) multiplies the similarity: the weights are not scale invariant
 *       (that is the point), so {@code s} acts as a temperature; pass {@code scale(1)} for the paper's raw form.</li>
 *   <li>Local modelling: the paper's residual is a depthwise 3×3 convolution over the 2-D token grid of an image
 *       (trained weights). For 1-D sequences it is replaced here by a parameter-free exact local softmax window of
 *       {@code window} keys (default 16; 0 disables it): causal, the last {@code window} keys up to and including
 *       the query's position; noncausal, the keys within distance {@code window − 1} on both sides. Queries sit at
 *       bottom-right positions ({@code j + Lk − Lq}). It is added with weight {@code localWeight} (λ, default 1),
 *       so a row's total weight is {@code 1 + λ}. A query whose window holds no key adds 0.</li>
 *   <li>State passing: the linear part carries {@code S}, {@code z}, {@code Σv} and {@code N}; the window carries
 *       the last {@code window} keys and values of the sequence, so a continued call's window reaches back into the
 *       previous call exactly as if the two were one (noncausal calls see the carried keys as earlier tokens).</li>
 *   <li>{@code N = 0} (a causal query before every key with a zero state) reads {@code v̄ = 0}; GQA shares one state
 *       per KV head.</li>
 * </ul>
 *
 * <p><b>Forms.</b> Reference: the definitions in float64, token by token, window from the keys. Recurrent: the same
 * on the float32 state. Chunked: two {@link GatedLinearRecurrence} passes (no decay, no normaliser) — one with
 * values {@code [v | 1]} that gives {@code s·φ(q)ᵀS} and {@code s·φ(q)·z}, one with unit features that gives
 * {@code Σv} and {@code N} — and the window through {@link FlashAttention#run} on the carried keys followed by the
 * call's keys, per KV head, with a sliding-window {@link BlockMask} (inside packed documents when there are
 * several sequences).
 *
 * <p><b>State</b> per (sequence, KV head): {@code S'} ({@code D × (Dv + 1)}, row-major by key feature: {@code S}
 * with {@code z} as its last column), {@code [Σv | N]} ({@code Dv + 1}), then when {@code window > 0}: the number
 * of carried keys {@code c} (rounded and clamped to {@code [0, window]} when read), {@code window} keys
 * ({@code window × D}) and {@code window} values ({@code window × Dv}); the {@code c} carried entries sit in the last
 * slots, oldest first, and empty slots are 0.
 *
 * <p><b>Guarantees.</b> Outputs are prefix invariant and a stateless decode against a key cache equals prefill
 * ({@link Guarantee#PREFIX_INVARIANT}). The weights are not normalised by division, so outputs grow like √N
 * (|o| ≈ 20 at N = 512 on unit Gaussian inputs) and float32 sums chunked differently differ by ~3e-5 absolute; the
 * conformance suite's tolerances scale with the output's magnitude for that reason.
 *
 * <p><b>Complexity.</b> Time O(n·D·Dv + n·window·(D + Dv)) per head; state O(D·Dv + window·(D + Dv)) per KV head.
 */
public final class InLine extends RecurrentMechanism {

    /** φ. */
    public enum FeatureMap {
        /** {@code max(x, 0)}. */
        RELU,
        /** {@code x}. */
        IDENTITY
    }

    /**
     * @param featureMap  φ
     * @param window      keys of the local softmax window; 0 disables it
     * @param localWeight λ, the weight of the local window's output
     * @param form        the form {@code forward} uses
     */
    public record Config(FeatureMap featureMap, int window, float localWeight, Form form) implements MechanismConfig {
        public Config {
            Objects.requireNonNull(featureMap, "featureMap");
            Objects.requireNonNull(form, "form");
            if (window < 0 || window > 4096) {
                throw new IllegalArgumentException("window = " + window + "; allowed: 0 (off) to 4096 keys");
            }
            if (!Float.isFinite(localWeight)) {
                throw new IllegalArgumentException("localWeight = " + localWeight + "; allowed: finite");
            }
        }

        /** identity, a window of 16 keys with weight 1, chunked. */
        public static Config defaults() {
            return new Config(FeatureMap.IDENTITY, 16, 1f, Form.chunked());
        }

        public Config withForm(Form newForm) {
            return new Config(featureMap, window, localWeight, newForm);
        }

        public Config withWindow(int newWindow) {
            return new Config(featureMap, newWindow, localWeight, form);
        }

        public Config withFeatureMap(FeatureMap newMap) {
            return new Config(newMap, window, localWeight, form);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("inline", Family.LINEAR,
            "InLine: injective linear attention (subtractive normalisation) with a local softmax window",
            "Han, Wang, Xia, Zhang, Song, Wu, Huang: \"Bridging the Divide: Reconsidering Softmax and Linear "
                    + "Attention\", NeurIPS 2024 (arXiv:2412.06590)",
            EnumSet.allOf(Pattern.class), Weights.TRAINED, false, false, false, "O(n d dv + n w (d + dv))",
            "O(d dv + w (d + dv)) per KV head", Config.class, Config.defaults(),
            (config, engine) -> new InLine((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT, Guarantee.PACKED_DOCUMENTS));

    private final Config config;

    public InLine(Config config, Engine engine) {
        super(engine);
        this.config = Objects.requireNonNull(config, "config");
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

    /** Floats of state per (sequence, KV head): S', [Σv | N], and when windowed c and the carried keys and values. */
    public static int stateSize(int d, int dv, int window) {
        return d * (dv + 1) + dv + 1 + (window > 0 ? 1 + window * (d + dv) : 0);
    }

    @Override
    public int stateSize(AttentionProblem p) {
        return stateSize(p.headDim(), p.valueDim(), config.window());
    }

    /** The state layout of one call. */
    private record Layout1(int d, int dv, int w) {
        int sums() {
            return d * (dv + 1);
        }

        int count() {
            return sums() + dv;
        }

        int carried() {
            return sums() + dv + 1;
        }

        int ringKeys() {
            return carried() + 1;
        }

        int ringValues() {
            return ringKeys() + w * d;
        }

        int size() {
            return stateSize(d, dv, w);
        }
    }

    private static int carriedCount(float[] state, int base, Layout1 l) {
        if (l.w() == 0) {
            return 0;
        }
        return (int) Math.max(0, Math.min(l.w(), Math.rint(state[base + l.carried()])));
    }

    /**
     * Two passes of the {@link GatedLinearRecurrence#flops recurrence} (F = D with values {@code [v | 1]}, and
     * F = 1 for {@code Σv} and N) and the exact window, {@code 2·(D + Dv)} per query and window key.
     */
    @Override
    public Work work(Work.Shape s, boolean causal, Form form) {
        int w = Math.min(causal ? config.window() : 2 * config.window() - 1, s.keyLength());
        double window = config.window() == 0 ? 0
                : 2.0 * (s.headDim() + s.valueDim()) * s.batch() * s.heads() * s.queryLength() * w;
        return Work.formula(window + GatedLinearRecurrence.flops(s, s.headDim(), s.valueDim() + 1, false, causal, form)
                        + GatedLinearRecurrence.flops(s, 1, s.valueDim() + 1, false, causal, form), operandBytes(s),
                "recurrences with F = D = " + s.headDim() + " and F = 1, exact window of " + Math.max(0, w)
                        + " keys, " + form);
    }

    @Override
    protected void compute(Call call, Form form) {
        switch (form.kind()) {
            case REFERENCE -> sequential(call, true);
            case RECURRENT -> sequential(call, false);
            case CHUNKED -> chunked(call, form);
        }
    }

    // ------------------------------------------------------------------------------------------ features

    private float feature(float x) {
        return config.featureMap() == FeatureMap.RELU ? Math.max(0f, x) : x;
    }

    // ------------------------------------------------------------------------------------------ reference, recurrent

    /**
     * Reference (float64 sums) and recurrent (float32 state, SIMD rows) forms: one task per (sequence, KV head),
     * token by token.
     */
    private void sequential(Call call, boolean reference) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int kvHeads = p.kvHeads();
        engine.parallelFor(sg.sequences() * kvHeads, task -> sequentialTask(call, task / kvHeads, task % kvHeads,
                reference));
    }

    private void sequentialTask(Call call, int seq, int g, boolean reference) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int d = p.headDim(), dv = p.valueDim();
        Layout1 l = new Layout1(d, dv, config.window());
        float[] init = call.initial().data();
        int base0 = call.initial().offset(seq, g);
        // sums: S' (d × (dv + 1)) then Σv and N, in float64 (reference) or float32 (recurrent)
        int sumsSize = l.sums() + dv + 1;
        double[] sd = reference ? new double[sumsSize] : null;
        float[] sf = reference ? null : new float[sumsSize];
        for (int x = 0; x < sumsSize; x++) {
            if (reference) {
                sd[x] = init[base0 + x];
            } else {
                sf[x] = init[base0 + x];
            }
        }
        int carried = carriedCount(init, base0, l);
        int lq = sg.queryLength(seq), lk = sg.keyLength(seq);
        float[] phiK = new float[d];
        int j = 0;
        if (sg.causal()) {
            for (; j < lq && sg.positionOf(seq, j) < 0; j++) {
                emit(call, seq, g, j, sd, sf, carried, l);
            }
        }
        float[] kd = p.k().data(), vd = p.v().data();
        for (int t = 0; t < lk; t++) {
            int kr = p.k().at(sg.batchOf(seq), sg.keyFrom(seq) + t, g);
            int vr = p.v().at(sg.batchOf(seq), sg.keyFrom(seq) + t, g);
            for (int i = 0; i < d; i++) {
                phiK[i] = feature(kd[kr + i]);
            }
            // S' += φ(k) [v | 1]ᵀ;  [Σv | N] += [v | 1]
            if (reference) {
                for (int i = 0; i < d; i++) {
                    int row = i * (dv + 1);
                    for (int c = 0; c < dv; c++) {
                        sd[row + c] += (double) phiK[i] * vd[vr + c];
                    }
                    sd[row + dv] += phiK[i];
                }
                for (int c = 0; c < dv; c++) {
                    sd[l.sums() + c] += vd[vr + c];
                }
                sd[l.count()] += 1;
            } else {
                for (int i = 0; i < d; i++) {
                    int row = i * (dv + 1);
                    engine.ops().axpy(phiK[i], vd, vr, sf, row, dv);
                    sf[row + dv] += phiK[i];
                }
                engine.ops().axpy(1f, vd, vr, sf, l.sums(), dv);
                sf[l.count()] += 1f;
            }
            if (sg.causal()) {
                for (; j < lq && sg.positionOf(seq, j) == t; j++) {
                    emit(call, seq, g, j, sd, sf, carried, l);
                }
            }
        }
        for (; j < lq; j++) {
            emit(call, seq, g, j, sd, sf, carried, l);
        }
        float[] state = call.state().data();
        int out = call.state().offset(seq, g);
        for (int x = 0; x < sumsSize; x++) {
            state[out + x] = reference ? (float) sd[x] : sf[x];
        }
        writeRing(call, seq, g, carried, l);
    }

    /** Output row j of every query head of group g: the linear part from the sums, plus λ times the window. */
    private void emit(Call call, int seq, int g, int j, double[] sd, float[] sf, int carried, Layout1 l) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int d = l.d(), dv = l.dv();
        float s = p.scale();
        float[] qd = p.q().data(), out = p.out().data();
        double[] acc = new double[dv + 1];
        for (int h = g * p.group(); h < (g + 1) * p.group(); h++) {
            int qr = p.q().at(sg.batchOf(seq), sg.queryFrom(seq) + j, h);
            int or = p.out().at(sg.batchOf(seq), sg.queryFrom(seq) + j, h);
            if (sd != null) {
                // float64: acc = s φ(q)ᵀ S'  = [s φ(q)ᵀ S | s φ(q)·z]
                Arrays.fill(acc, 0);
                for (int i = 0; i < d; i++) {
                    double qi = (double) s * feature(qd[qr + i]);
                    for (int c = 0; c <= dv; c++) {
                        acc[c] += qi * sd[i * (dv + 1) + c];
                    }
                }
                double n = sd[l.count()];
                double[] res = new double[dv];
                for (int c = 0; c < dv; c++) {
                    double mean = n == 0 ? 0 : sd[l.sums() + c] / n;
                    res[c] = acc[c] - acc[dv] * mean + mean;
                }
                if (l.w() > 0 && config.localWeight() != 0f) {
                    localWindow(call, seq, g, h, j, carried, l, res, null, 0);
                }
                for (int c = 0; c < dv; c++) {
                    out[or + c] = (float) res[c];
                }
            } else {
                Arrays.fill(out, or, or + dv, 0f);
                float qz = 0f;
                for (int i = 0; i < d; i++) {
                    float qi = s * feature(qd[qr + i]);
                    engine.ops().axpy(qi, sf, i * (dv + 1), out, or, dv);
                    qz += qi * sf[i * (dv + 1) + dv];
                }
                float n = sf[l.count()];
                float inv = n == 0f ? 0f : 1f / n;
                // out += (1 − s φ(q)·z) v̄
                engine.ops().axpy((1f - qz) * inv, sf, l.sums(), out, or, dv);
                if (l.w() > 0 && config.localWeight() != 0f) {
                    localWindow(call, seq, g, h, j, carried, l, null, out, or);
                }
            }
        }
    }

    /**
     * Adds λ · softmax(s q·k) V over the window of query j (head h) into {@code res} (float64) or {@code out[or]}:
     * keys of the concatenation [carried keys; call keys], the query at concatenated position
     * {@code carried + j + Lk − Lq}.
     */
    private void localWindow(Call call, int seq, int g, int h, int j, int carried, Layout1 l, double[] res,
                             float[] out, int or) {
        boolean reference = res != null;
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int d = l.d(), dv = l.dv(), w = l.w();
        int total = carried + sg.keyLength(seq);
        int pos = carried + j + sg.keyLength(seq) - sg.queryLength(seq);
        int from = Math.max(0, pos - w + 1), to = Math.min(total - 1, sg.causal() ? pos : pos + w - 1);
        if (from > to) {
            return;
        }
        float[] init = call.initial().data();
        int base0 = call.initial().offset(seq, g);
        float[] qd = p.q().data();
        int qr = p.q().at(sg.batchOf(seq), sg.queryFrom(seq) + j, h);
        double[] score = new double[to - from + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int u = from; u <= to; u++) {
            float[] src = u < carried ? init : p.k().data();
            int kr = u < carried ? base0 + l.ringKeys() + (w - carried + u) * d
                    : p.k().at(sg.batchOf(seq), sg.keyFrom(seq) + u - carried, g);
            double dot = 0;
            if (reference) {
                for (int i = 0; i < d; i++) {
                    dot += (double) qd[qr + i] * src[kr + i];
                }
            } else {
                dot = engine.ops().dot(qd, qr, src, kr, d);
            }
            score[u - from] = dot * p.scale();
            max = Math.max(max, score[u - from]);
        }
        double sum = 0;
        for (int u = from; u <= to; u++) {
            score[u - from] = Math.exp(score[u - from] - max);
            sum += score[u - from];
        }
        double lambda = config.localWeight();
        for (int u = from; u <= to; u++) {
            float[] src = u < carried ? init : p.v().data();
            int vr = u < carried ? base0 + l.ringValues() + (w - carried + u) * dv
                    : p.v().at(sg.batchOf(seq), sg.keyFrom(seq) + u - carried, g);
            double weight = lambda * score[u - from] / sum;
            if (reference) {
                for (int c = 0; c < dv; c++) {
                    res[c] += weight * src[vr + c];
                }
            } else {
                engine.ops().axpy((float) weight, src, vr, out, or, dv);
            }
        }
    }

    /** The final state's window: the last {@code w} entries of [carried; call keys], right-aligned. */
    private void writeRing(Call call, int seq, int g, int carried, Layout1 l) {
        int w = l.w();
        if (w == 0) {
            return;
        }
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int d = l.d(), dv = l.dv(), lk = sg.keyLength(seq);
        float[] init = call.initial().data(), state = call.state().data();
        int base0 = call.initial().offset(seq, g), base = call.state().offset(seq, g);
        int total = carried + lk, kept = Math.min(w, total);
        Arrays.fill(state, base + l.carried(), base + l.size(), 0f);
        state[base + l.carried()] = kept;
        for (int r = 0; r < kept; r++) {
            int u = total - kept + r, slot = w - kept + r;
            if (u < carried) {
                System.arraycopy(init, base0 + l.ringKeys() + (w - carried + u) * d, state,
                        base + l.ringKeys() + slot * d, d);
                System.arraycopy(init, base0 + l.ringValues() + (w - carried + u) * dv, state,
                        base + l.ringValues() + slot * dv, dv);
            } else {
                int t = sg.keyFrom(seq) + u - carried, b = sg.batchOf(seq);
                System.arraycopy(p.k().data(), p.k().at(b, t, g), state, base + l.ringKeys() + slot * d, d);
                System.arraycopy(p.v().data(), p.v().at(b, t, g), state, base + l.ringValues() + slot * dv, dv);
            }
        }
    }

    // ------------------------------------------------------------------------------------------ chunked

    private void chunked(Call call, Form form) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int b = p.batch(), lq = p.queryLength(), lk = p.keyLength(), hq = p.heads(), hk = p.kvHeads();
        int d = p.headDim(), dv = p.valueDim(), seqs = sg.sequences();
        Layout1 l = new Layout1(d, dv, config.window());
        // operands: φ(q), φ(k), [v | 1], and unit features for the Σv / N pass
        HeadView q = p.q(), k = p.k();
        if (config.featureMap() == FeatureMap.RELU) {
            Features.RowMap relu = (in, inOffset, out, outOffset, head) -> {
                for (int i = 0; i < d; i++) {
                    out[outOffset + i] = Math.max(0f, in[inOffset + i]);
                }
            };
            q = Features.map(engine, p.q(), b, lq, hq, d, relu);
            k = Features.map(engine, p.k(), b, lk, hk, d, relu);
        }
        HeadView v1 = Features.map(engine, p.v(), b, lk, hk, dv + 1, (in, inOffset, out, outOffset, head) -> {
            System.arraycopy(in, inOffset, out, outOffset, dv);
            out[outOffset + dv] = 1f;
        });
        float[] onesQ = new float[b * lq * hq], onesK = new float[b * lk * hk];
        Arrays.fill(onesQ, 1f);
        Arrays.fill(onesK, 1f);

        // pass 1: [s φ(q)ᵀS | s φ(q)·z] from S' ;  pass 2: [Σv | N]
        float[] a = new float[b * lq * hq * (dv + 1)], m = new float[b * lq * hq * (dv + 1)];
        LinearState init1 = LinearState.zeros(seqs, hk, d * (dv + 1)), init2 = LinearState.zeros(seqs, hk, dv + 1);
        for (int x = 0; x < seqs * hk; x++) {
            int from = call.initial().offset(x / hk, x % hk);
            System.arraycopy(call.initial().data(), from, init1.data(), x * d * (dv + 1), d * (dv + 1));
            System.arraycopy(call.initial().data(), from + l.sums(), init2.data(), x * (dv + 1), dv + 1);
        }
        LinearState fin1 = pass(call, q, k, v1, d, p.scale(), Features.contiguous(a, lq, hq, dv + 1), init1, form);
        LinearState fin2 = pass(call, Features.contiguous(onesQ, lq, hq, 1), Features.contiguous(onesK, lk, hk, 1), v1,
                1, 1f, Features.contiguous(m, lq, hq, dv + 1), init2, form);
        for (int x = 0; x < seqs * hk; x++) {
            int to = call.state().offset(x / hk, x % hk);
            System.arraycopy(fin1.data(), x * d * (dv + 1), call.state().data(), to, d * (dv + 1));
            System.arraycopy(fin2.data(), x * (dv + 1), call.state().data(), to + l.sums(), dv + 1);
        }
        // lin = A[:dv] − A[dv] · v̄ + v̄ with v̄ = Σv / N, row by row
        float[] out = p.out().data();
        int rows = b * lq;
        engine.parallelFor((rows + 255) / 256, task -> {
            for (int r = task * 256; r < Math.min(rows, task * 256 + 256); r++) {
                for (int h = 0; h < hq; h++) {
                    int at = (r * hq + h) * (dv + 1), or = p.out().at(r / lq, r % lq, h);
                    float n = m[at + dv], inv = n == 0f ? 0f : 1f / n, coef = (1f - a[at + dv]) * inv;
                    for (int c = 0; c < dv; c++) {
                        out[or + c] = a[at + c] + coef * m[at + c];
                    }
                }
            }
        });
        if (l.w() > 0) {
            if (config.localWeight() != 0f) {
                flashWindow(call, l);
            }
            engine.parallelFor(seqs * hk, x -> writeRing(call, x / hk, x % hk,
                    carriedCount(call.initial().data(), call.initial().offset(x / hk, x % hk), l), l));
        }
    }

    /** One {@link GatedLinearRecurrence} pass (no decay, no normaliser) on contiguous operands. */
    private LinearState pass(Call call, HeadView q, HeadView k, HeadView v, int features, float scale, HeadView out,
                             LinearState initial, Form form) {
        AttentionProblem p = call.problem();
        int dv = v.strideHead();
        AttentionProblem sub = new AttentionProblem(p.batch(), p.queryLength(), p.keyLength(), p.heads(), p.kvHeads(),
                features, dv, 1f, null, null, p.pattern(), false, false, false, 0, q, k, v, out, null, Layout.BSHD);
        LinearState state = LinearState.zeros(initial.sequences(), initial.heads(), initial.size());
        GatedLinearRecurrence.run(engine, new Call(sub, call.segments(), initial, state),
                new GatedLinearRecurrence.Operands(q, k, v, features, scale, new GatedLinearRecurrence.None(), false,
                        0f), form);
        return state;
    }

    /**
     * λ · local softmax window through {@link FlashAttention#run}, one call per (sequence, KV head): the carried keys
     * then the call's keys, the group's query heads, the window as the block mask. Per sequence (rather than packed)
     * so that a document's tiles, and so its bits, do not depend on what it is packed with.
     */
    private void flashWindow(Call call, Layout1 l) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int d = l.d(), dv = l.dv(), w = l.w(), group = p.group();
        MaskMod inner = sg.causal() ? Masks.slidingWindow(w - 1, 0) : Masks.slidingWindow(w);
        FlashAttention flash = new FlashAttention(engine);
        float lambda = config.localWeight();
        float[] out = p.out().data();
        for (int seq = 0; seq < sg.sequences(); seq++) {
            int lq = sg.queryLength(seq), lk = sg.keyLength(seq), b = sg.batchOf(seq);
            if (lq == 0) {
                continue;
            }
            // the queries of the sequence, [1, lq, H, D]
            float[] qs = new float[lq * p.heads() * d];
            for (int j = 0; j < lq; j++) {
                for (int h = 0; h < p.heads(); h++) {
                    System.arraycopy(p.q().data(), p.q().at(b, sg.queryFrom(seq) + j, h), qs, (j * p.heads() + h) * d,
                            d);
                }
            }
            for (int g = 0; g < p.kvHeads(); g++) {
                float[] init = call.initial().data();
                int base0 = call.initial().offset(seq, g);
                int carried = carriedCount(init, base0, l), total = carried + lk;
                float[] ks = new float[total * d], vs = new float[total * dv];
                for (int u = 0; u < carried; u++) {
                    System.arraycopy(init, base0 + l.ringKeys() + (w - carried + u) * d, ks, u * d, d);
                    System.arraycopy(init, base0 + l.ringValues() + (w - carried + u) * dv, vs, u * dv, dv);
                }
                for (int t = 0; t < lk; t++) {
                    System.arraycopy(p.k().data(), p.k().at(b, sg.keyFrom(seq) + t, g), ks, (carried + t) * d, d);
                    System.arraycopy(p.v().data(), p.v().at(b, sg.keyFrom(seq) + t, g), vs, (carried + t) * dv, dv);
                }
                float[] local = new float[lq * group * dv];
                HeadView qv = new HeadView(qs, g * group * d, lq * p.heads() * d, p.heads() * d, d);
                AttentionProblem sub = new AttentionProblem(1, lq, total, group, 1, d, dv, p.scale(), inner, null,
                        Pattern.of(lq, total, sg.causal()), false, false, false, 0, qv,
                        Features.contiguous(ks, total, 1, d), Features.contiguous(vs, total, 1, dv),
                        Features.contiguous(local, lq, group, dv), null, Layout.BSHD);
                flash.run(sub, BlockMask.of(inner, 1, group, lq, total, 64, 64));
                for (int j = 0; j < lq; j++) {
                    for (int r = 0; r < group; r++) {
                        int or = p.out().at(b, sg.queryFrom(seq) + j, g * group + r);
                        engine.ops().axpy(lambda, local, (j * group + r) * dv, out, or, dv);
                    }
                }
            }
        }
    }
}
