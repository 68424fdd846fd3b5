package io.attn4j.linear.flow;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.Work;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.Weights;
import io.attn4j.linear.Features;
import io.attn4j.linear.Form;
import io.attn4j.linear.FormConfig;
import io.attn4j.linear.GatedLinearRecurrence;
import io.attn4j.linear.LinearState;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.linear.Segments;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Layout;

import java.util.EnumSet;
import java.util.Objects;

/**
 * Flow-Attention: linear attention whose competition and allocation come from flow conservation (Wu, Wu, Xu, Wang,
 * Long: "Flowformer: Linearizing Transformers with Conservation Flows", ICML 2022).
 *
 * <p><b>Algorithm (noncausal).</b> With φ = sigmoid (element-wise, so every flow is positive), {@code n} keys and
 * {@code m} queries:
 * <pre>
 *   I_i = φ(q_i)·Σ_j φ(k_j)                      incoming flow of sink (query) i
 *   O_j = φ(k_j)·Σ_i φ(q_i)                      outgoing flow of source (key) j
 *   Î_i = φ(q_i)·Σ_j φ(k_j) / O_j                conserved incoming flow (every source sends out 1)
 *   Ô_j = φ(k_j)·Σ_i φ(q_i) / I_i                conserved outgoing flow (every sink receives 1)
 *   V̂_j = n · softmax_j(Ô) · v_j                 competition among sources
 *   o_i = sigmoid(Î_i) · φ(q_i)ᵀ Σ_j φ(k_j) V̂_jᵀ / I_i    allocation
 * </pre>
 * so {@code Σ_i Î_i = n} and {@code Σ_j Ô_j = m}. Written with counts it reads {@code Î_i = φ(q_i)·A / m} with
 * {@code A = Σ_j φ(k_j)·m/O_j}, {@code Ô_j = φ(k_j)·B / n} with {@code B = Σ_i φ(q_i)·n/I_i}: the form the causal
 * version extends.
 *
 * <p><b>Algorithm (causal).</b> The paper's causal Flowformer (and its code) replaces every sum by a prefix sum and
 * every total flow by the prefix mean times the prefix length. Query i sits at key position {@code p_i}
 * (bottom-right, {@code i + Lk − Lq}); {@code nk(t)} counts the keys at positions {@code ≤ t}, {@code nq(t)} the
 * queries at positions {@code ≤ t} (both plus the counts carried in the state):
 * <pre>
 *   I_i = φ(q_i)·Σ_{j ≤ p_i} φ(k_j)                         O_j = φ(k_j)·Σ_{p_i ≤ j} φ(q_i)
 *   Î_i = φ(q_i)·Σ_{j ≤ p_i} φ(k_j)·nq(j)/O_j  /  nq(p_i)     Ô_j = φ(k_j)·Σ_{p_i ≤ j} φ(q_i)·nk(p_i)/I_i  /  nk(j)
 *   c_j = nk(j) · exp(Ô_j) / Σ_{j' ≤ j} exp(Ô_j')            (competition, normalised at the key's own position)
 *   o_i = sigmoid(Î_i) · φ(q_i)ᵀ Σ_{j ≤ p_i} φ(k_j) (c_j v_j)ᵀ / I_i
 * </pre>
 * Everything a row reads lies at positions up to its own, so outputs are prefix invariant; at the last position of
 * a self-attention call the prefix means equal the noncausal totals' means. The key-side flows depend on the past
 * <em>queries</em>, so a continuation needs the state: a stateless decode call against a key cache (fewer queries
 * than keys) treats the cached keys as tokens without queries and does not equal prefill — which is why the
 * descriptor does not declare {@link Guarantee#PREFIX_INVARIANT} (the conformance suite ties it to stateless
 * decode); prefix invariance and state passing are tested by the member's own tests.
 *
 * <p><b>Choices.</b> φ = sigmoid as in the paper; the call's scale is not used (the flows are scale-free ratios).
 * The authors' code adds ε = 1e-6 to φ and to the sums, clamps Ô to [−1, 1] "for stability" and (noncausal)
 * multiplies Î by {@code m/n} before the sigmoid; here none of these: a ratio with a zero denominator (a query that
 * sees no key, or a key that no query has reached yet, with a zero state) is 0, and the competition's denominator
 * is kept as a running maximum {@code μ} and sum {@code σ = Σ exp(Ô_j − μ)}, so no exponential overflows. Noncausal
 * calls continue from a state as if its carried sums were earlier keys and queries. GQA: all key-side quantities
 * depend on the query head, so the state holds one block per query head (inside its KV head's block).
 *
 * <p><b>Forms.</b> Reference: the recurrence token by token in float64. Recurrent: the same with every carried value
 * stored in float32 after each token (the state a decoder keeps). Chunked: five {@link GatedLinearRecurrence}
 * passes with no decay — {@code I} (values 1), {@code O} (queries and keys swapped: keys read the queries' sums),
 * the conserved sums for {@code Î} and {@code Ô} (keys or queries weighted by the ratios above), and the output
 * numerator with values {@code c_j v_j} — plus the competition's running (μ, σ) scan per (sequence, head).
 *
 * <p><b>State</b> per (sequence, KV head): one block per query head of the group, each
 * {@code [Σφ(k) (F) | Σφ(q) (F) | A (F) | B (F) | S (F × Dv, row-major) | μ | σ | nk | nq]} with F = D,
 * {@code A = Σ φ(k_j)·nq(j)/O_j}, {@code B = Σ φ(q_i)·nk(p_i)/I_i}, {@code S = Σ φ(k_j)(c_j v_j)ᵀ}.
 *
 * <p><b>Complexity.</b> Time O(n·D·Dv) per head (the chunked form does five passes, four of them with one value
 * column); state O(D·Dv) per query head.
 */
public final class FlowAttention extends RecurrentMechanism {


    public static final Mechanism DESCRIPTOR = new Mechanism("flow", Family.LINEAR,
            "Flowformer: flow-conserving linear attention (sigmoid features, competition and allocation)",
            "Wu, Wu, Xu, Wang, Long: \"Flowformer: Linearizing Transformers with Conservation Flows\", ICML 2022 "
                    + "(arXiv:2202.06258)",
            EnumSet.allOf(Pattern.class), Weights.TRAINED, false, false, false, "O(n d dv)", "O(d dv) per query head",
            FormConfig.class, FormConfig.defaults(), (config, engine) -> new FlowAttention((FormConfig) config, engine),
            EnumSet.of(Guarantee.PACKED_DOCUMENTS));

    private final FormConfig config;

    public FlowAttention(FormConfig config, Engine engine) {
        super(engine);
        this.config = Objects.requireNonNull(config, "config");
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    public FormConfig config() {
        return config;
    }

    @Override
    public Form form() {
        return config.form();
    }

    /** Floats of one query head's block. */
    public static int blockSize(int d, int dv) {
        return 4 * d + d * dv + 4;
    }

    @Override
    public int stateSize(AttentionProblem p) {
        return p.group() * blockSize(p.headDim(), p.valueDim());
    }

    /** Offsets inside a block. */
    private record Block(int f, int dv) {
        int zk() {
            return 0;
        }

        int zq() {
            return f;
        }

        int a() {
            return 2 * f;
        }

        int b() {
            return 3 * f;
        }

        int s() {
            return 4 * f;
        }

        int mu() {
            return 4 * f + f * dv;
        }

        int sigma() {
            return mu() + 1;
        }

        int nk() {
            return mu() + 2;
        }

        int nq() {
            return mu() + 3;
        }

        int size() {
            return mu() + 4;
        }
    }

    static float sigmoid(float x) {
        return (float) (1 / (1 + Math.exp(-x)));
    }

    static double ratio(double a, double b) {
        return b == 0 ? 0 : a / b;
    }

    /**
     * Five passes of the {@link GatedLinearRecurrence#flops recurrence} with {@code F = D} and one state per query
     * head: the output's, with Dv value columns, and four with one (the flows' sums); the competition's scan is
     * element-wise.
     */
    @Override
    public Work work(Work.Shape s, boolean causal, Form form) {
        return Work.formula(GatedLinearRecurrence.flops(s, s.headDim(), s.valueDim(), true, causal, form)
                        + 4 * GatedLinearRecurrence.flops(s, s.headDim(), 1, true, causal, form), operandBytes(s),
                "five recurrences with F = D = " + s.headDim() + " (one with Dv columns, four with one), " + form);
    }

    @Override
    protected void compute(Call call, Form form) {
        switch (form.kind()) {
            case REFERENCE -> sequential(call, false);
            case RECURRENT -> sequential(call, true);
            case CHUNKED -> chunked(call, form);
        }
    }

    // ------------------------------------------------------------------------------------------ reference, recurrent

    private void sequential(Call call, boolean float32) {
        AttentionProblem p = call.problem();
        int heads = p.heads();
        engine.parallelFor(call.segments().sequences() * heads, task -> new Sequential(call, task / heads,
                task % heads, float32).run());
    }

    /** One (sequence, query head) token by token; with {@code float32} every carried value is rounded to float. */
    private static final class Sequential {
        final AttentionProblem p;
        final Segments sg;
        final Call call;
        final int seq, h, g, f, dv;
        final boolean float32;
        final Block bl;
        final double[] zk, zq, a, b, s;
        double mu, sigma, nk, nq;
        final double[] fq, fk;

        Sequential(Call call, int seq, int h, boolean float32) {
            this.call = call;
            this.p = call.problem();
            this.sg = call.segments();
            this.seq = seq;
            this.h = h;
            this.g = h / p.group();
            this.f = p.headDim();
            this.dv = p.valueDim();
            this.float32 = float32;
            this.bl = new Block(f, dv);
            float[] init = call.initial().data();
            int base = blockAt(call.initial(), seq, h, p);
            zk = load(init, base + bl.zk(), f);
            zq = load(init, base + bl.zq(), f);
            a = load(init, base + bl.a(), f);
            b = load(init, base + bl.b(), f);
            s = load(init, base + bl.s(), f * dv);
            mu = init[base + bl.mu()];
            sigma = init[base + bl.sigma()];
            nk = init[base + bl.nk()];
            nq = init[base + bl.nq()];
            fq = new double[f];
            fk = new double[f];
        }

        static double[] load(float[] src, int from, int n) {
            double[] x = new double[n];
            for (int i = 0; i < n; i++) {
                x[i] = src[from + i];
            }
            return x;
        }

        double st(double x) {
            return float32 ? (float) x : x;
        }

        void loadQuery(int j) {
            float[] qd = p.q().data();
            int qr = p.q().at(sg.batchOf(seq), sg.queryFrom(seq) + j, h);
            for (int i = 0; i < f; i++) {
                fq[i] = sigmoid(qd[qr + i]);
            }
        }

        void loadKey(int t) {
            float[] kd = p.k().data();
            int kr = p.k().at(sg.batchOf(seq), sg.keyFrom(seq) + t, g);
            for (int i = 0; i < f; i++) {
                fk[i] = sigmoid(kd[kr + i]);
            }
        }

        static double dot(double[] x, double[] y) {
            double sum = 0;
            for (int i = 0; i < x.length; i++) {
                sum += x[i] * y[i];
            }
            return sum;
        }

        void addScaled(double[] acc, double[] x, double w) {
            for (int i = 0; i < acc.length; i++) {
                acc[i] = st(acc[i] + x[i] * w);
            }
        }

        /** The key at t arrives: its O and A term (nq counts the queries up to t), then its competition and write. */
        void keyFlows(int t) {
            double o = dot(fk, zq);
            addScaled(a, fk, ratio(nq, o));
        }

        void queryFlows(double incoming) {
            addScaled(b, fq, ratio(nk, incoming));
        }

        /** Competition (running μ, σ) and the write S += φ(k) (c v)ᵀ of key t with conserved outgoing flow ô. */
        void compete(int t, double outgoing, double keys) {
            double m = Math.max(mu, outgoing);
            sigma = st(sigma * Math.exp(mu - m) + Math.exp(outgoing - m));
            mu = st(m);
            write(t, ratio(Math.exp(outgoing - mu), sigma) * keys);
        }

        void write(int t, double c) {
            float[] vd = p.v().data();
            int vr = p.v().at(sg.batchOf(seq), sg.keyFrom(seq) + t, g);
            for (int i = 0; i < f; i++) {
                double w = fk[i] * c;
                for (int x = 0; x < dv; x++) {
                    s[i * dv + x] = st(s[i * dv + x] + w * vd[vr + x]);
                }
            }
        }

        /** The output of query j (features in fq) with incoming flow I and the query count at its position. */
        void emit(int j, double incoming, double queries) {
            double allocation = 1 / (1 + Math.exp(-ratio(dot(fq, a), queries)));
            float[] out = p.out().data();
            int or = p.out().at(sg.batchOf(seq), sg.queryFrom(seq) + j, h);
            for (int x = 0; x < dv; x++) {
                double num = 0;
                for (int i = 0; i < f; i++) {
                    num += fq[i] * s[i * dv + x];
                }
                out[or + x] = (float) (allocation * ratio(num, incoming));
            }
        }

        void run() {
            int lq = sg.queryLength(seq), lk = sg.keyLength(seq);
            if (sg.causal()) {
                int j = 0;
                for (; j < lq && sg.positionOf(seq, j) < 0; j++) {
                    loadQuery(j);
                    addScaled(zq, fq, 1);
                    nq = st(nq + 1);
                    double incoming = dot(fq, zk);
                    queryFlows(incoming);
                    emit(j, incoming, nq);
                }
                for (int t = 0; t < lk; t++) {
                    loadKey(t);
                    addScaled(zk, fk, 1);
                    nk = st(nk + 1);
                    boolean query = j < lq && sg.positionOf(seq, j) == t;
                    if (query) {
                        loadQuery(j);
                        addScaled(zq, fq, 1);
                        nq = st(nq + 1);
                    }
                    keyFlows(t);
                    double incoming = 0;
                    if (query) {
                        incoming = dot(fq, zk);
                        queryFlows(incoming);
                    }
                    compete(t, ratio(dot(fk, b), nk), nk);
                    if (query) {
                        emit(j, incoming, nq);
                        j++;
                    }
                }
            } else {
                for (int t = 0; t < lk; t++) {
                    loadKey(t);
                    addScaled(zk, fk, 1);
                }
                for (int j = 0; j < lq; j++) {
                    loadQuery(j);
                    addScaled(zq, fq, 1);
                }
                nk = st(nk + lk);
                nq = st(nq + lq);
                for (int t = 0; t < lk; t++) {
                    loadKey(t);
                    keyFlows(t);
                }
                for (int j = 0; j < lq; j++) {
                    loadQuery(j);
                    queryFlows(dot(fq, zk));
                }
                double[] outgoing = new double[lk];
                for (int t = 0; t < lk; t++) {
                    loadKey(t);
                    outgoing[t] = ratio(dot(fk, b), nk);
                    double m = Math.max(mu, outgoing[t]);
                    sigma = st(sigma * Math.exp(mu - m) + Math.exp(outgoing[t] - m));
                    mu = st(m);
                }
                for (int t = 0; t < lk; t++) {
                    loadKey(t);
                    write(t, ratio(Math.exp(outgoing[t] - mu), sigma) * nk);
                }
                for (int j = 0; j < lq; j++) {
                    loadQuery(j);
                    emit(j, dot(fq, zk), nq);
                }
            }
            float[] state = call.state().data();
            int base = blockAt(call.state(), seq, h, p);
            store(state, base + bl.zk(), zk);
            store(state, base + bl.zq(), zq);
            store(state, base + bl.a(), a);
            store(state, base + bl.b(), b);
            store(state, base + bl.s(), s);
            state[base + bl.mu()] = (float) mu;
            state[base + bl.sigma()] = (float) sigma;
            state[base + bl.nk()] = (float) nk;
            state[base + bl.nq()] = (float) nq;
        }

        static void store(float[] dst, int from, double[] x) {
            for (int i = 0; i < x.length; i++) {
                dst[from + i] = (float) x[i];
            }
        }
    }

    /** Where query head h's block of sequence seq starts. */
    static int blockAt(LinearState state, int seq, int h, AttentionProblem p) {
        return state.offset(seq, h / p.group()) + (h % p.group()) * blockSize(p.headDim(), p.valueDim());
    }

    // ------------------------------------------------------------------------------------------ chunked

    private void chunked(Call call, Form form) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int batch = p.batch(), lq = p.queryLength(), lk = p.keyLength(), hq = p.heads(), group = p.group();
        int f = p.headDim(), dv = p.valueDim(), seqs = sg.sequences();
        Block bl = new Block(f, dv);
        Segments swapped = new Segments(batch, sg.keyOffsets(), sg.queryOffsets(), sg.causal());
        // φ(q) [B, Lq, Hq, F]; φ(k) repeated per query head [B, Lk, Hq, F]; ones
        HeadView fq = Features.map(engine, p.q(), batch, lq, hq, f, (in, inOffset, out, outOffset, head) -> {
            for (int i = 0; i < f; i++) {
                out[outOffset + i] = sigmoid(in[inOffset + i]);
            }
        });
        float[] fkData = new float[batch * lk * hq * f];
        parallelRows(batch * lk, r -> {
            for (int h = 0; h < hq; h++) {
                int kr = p.k().at(r / lk, r % lk, h / group), at = (r * hq + h) * f;
                for (int i = 0; i < f; i++) {
                    fkData[at + i] = sigmoid(p.k().data()[kr + i]);
                }
            }
        });
        HeadView fk = Features.contiguous(fkData, lk, hq, f);
        HeadView onesQ = ones(batch * lq * hq, lq, hq), onesK = ones(batch * lk * hq, lk, hq);

        // passes A and B: I_i = φ(q_i)·Σφ(k), O_j = φ(k_j)·Σφ(q)
        float[] incoming = new float[batch * lq * hq], outgoing = new float[batch * lk * hq];
        LinearState zk = pass(call, sg, fq, fk, onesK, f, 1, incoming, lq, lk, bl.zk(), form);
        LinearState zq = pass(call, swapped, fk, fq, onesQ, f, 1, outgoing, lk, lq, bl.zq(), form);
        // ratios: keys weighted by nq(j)/O_j, queries by nk(p_i)/I_i
        float[] kw = new float[batch * lk * hq * f], qw = new float[batch * lq * hq * f];
        engine.parallelFor(seqs * hq, task -> {
            int seq = task / hq, h = task % hq, b = sg.batchOf(seq);
            int base = blockAt(call.initial(), seq, h, p);
            float nq0 = call.initial().data()[base + bl.nq()], nk0 = call.initial().data()[base + bl.nk()];
            for (int t = 0; t < sg.keyLength(seq); t++) {
                int r = (b * lk + sg.keyFrom(seq) + t) * hq + h;
                float w = (float) ratio(nq0 + queriesUpTo(sg, seq, t), outgoing[r]);
                for (int i = 0; i < f; i++) {
                    kw[r * f + i] = fkData[r * f + i] * w;
                }
            }
            for (int j = 0; j < sg.queryLength(seq); j++) {
                int r = (b * lq + sg.queryFrom(seq) + j) * hq + h;
                float w = (float) ratio(nk0 + keysUpTo(sg, seq, j), incoming[r]);
                for (int i = 0; i < f; i++) {
                    qw[r * f + i] = fq.data()[r * f + i] * w;
                }
            }
        });
        // passes C and D: the conserved sums A (read by queries) and B (read by keys)
        float[] aq = new float[batch * lq * hq], bk = new float[batch * lk * hq];
        LinearState a = pass(call, sg, fq, Features.contiguous(kw, lk, hq, f), onesK, f, 1, aq, lq, lk, bl.a(), form);
        LinearState bs = pass(call, swapped, fk, Features.contiguous(qw, lq, hq, f), onesQ, f, 1, bk, lk, lq, bl.b(),
                form);
        // competition: Ô_j = B_j / nk(j), c_j = nk(j) exp(Ô_j − μ_j) / σ_j; values c_j v_j [B, Lk, Hq, Dv]
        float[] cv = new float[batch * lk * hq * dv];
        float[] finalMu = new float[seqs * hq], finalSigma = new float[seqs * hq];
        engine.parallelFor(seqs * hq, task -> {
            int seq = task / hq, h = task % hq, b = sg.batchOf(seq), n = sg.keyLength(seq);
            int base = blockAt(call.initial(), seq, h, p);
            float[] init = call.initial().data();
            float nk0 = init[base + bl.nk()];
            float mu = init[base + bl.mu()], sigma = init[base + bl.sigma()];
            float[] hat = new float[n];
            for (int t = 0; t < n; t++) {
                int r = (b * lk + sg.keyFrom(seq) + t) * hq + h;
                hat[t] = (float) ratio(bk[r], nk0 + (sg.causal() ? t + 1 : n));
            }
            if (!sg.causal()) {
                for (int t = 0; t < n; t++) {
                    float m = Math.max(mu, hat[t]);
                    sigma = (float) (sigma * Math.exp(mu - m) + Math.exp(hat[t] - m));
                    mu = m;
                }
            }
            for (int t = 0; t < n; t++) {
                if (sg.causal()) {
                    float m = Math.max(mu, hat[t]);
                    sigma = (float) (sigma * Math.exp(mu - m) + Math.exp(hat[t] - m));
                    mu = m;
                }
                float c = (float) (ratio(Math.exp(hat[t] - mu), sigma) * (nk0 + (sg.causal() ? t + 1 : n)));
                int r = (b * lk + sg.keyFrom(seq) + t) * hq + h;
                int vr = p.v().at(b, sg.keyFrom(seq) + t, h / group);
                for (int x = 0; x < dv; x++) {
                    cv[r * dv + x] = c * p.v().data()[vr + x];
                }
            }
            finalMu[task] = mu;
            finalSigma[task] = sigma;
        });
        // pass E: the numerator φ(q_i)ᵀ Σ φ(k_j)(c_j v_j)ᵀ
        float[] num = new float[batch * lq * hq * dv];
        LinearState s = pass(call, sg, fq, fk, Features.contiguous(cv, lk, hq, dv), f, dv, num, lq, lk, bl.s(), form);
        // o_i = sigmoid(A_i / nq) · num_i / I_i
        float[] out = p.out().data();
        engine.parallelFor(seqs * hq, task -> {
            int seq = task / hq, h = task % hq, b = sg.batchOf(seq);
            int base = blockAt(call.initial(), seq, h, p);
            float nq0 = call.initial().data()[base + bl.nq()];
            for (int j = 0; j < sg.queryLength(seq); j++) {
                int r = (b * lq + sg.queryFrom(seq) + j) * hq + h;
                float queries = nq0 + (sg.causal() ? j + 1 : sg.queryLength(seq));
                float allocation = sigmoid((float) ratio(aq[r], queries));
                float scale = (float) (allocation * ratio(1, incoming[r]));
                int or = p.out().at(b, sg.queryFrom(seq) + j, h);
                for (int x = 0; x < dv; x++) {
                    out[or + x] = num[r * dv + x] * scale;
                }
            }
        });
        // the final state
        engine.parallelFor(seqs * hq, task -> {
            int seq = task / hq, h = task % hq;
            float[] init = call.initial().data(), state = call.state().data();
            int from = blockAt(call.initial(), seq, h, p), to = blockAt(call.state(), seq, h, p);
            System.arraycopy(zk.data(), task * f, state, to + bl.zk(), f);
            System.arraycopy(zq.data(), task * f, state, to + bl.zq(), f);
            System.arraycopy(a.data(), task * f, state, to + bl.a(), f);
            System.arraycopy(bs.data(), task * f, state, to + bl.b(), f);
            System.arraycopy(s.data(), task * f * dv, state, to + bl.s(), f * dv);
            state[to + bl.mu()] = finalMu[task];
            state[to + bl.sigma()] = finalSigma[task];
            state[to + bl.nk()] = init[from + bl.nk()] + sg.keyLength(seq);
            state[to + bl.nq()] = init[from + bl.nq()] + sg.queryLength(seq);
        });
    }

    /** Queries at positions ≤ key t of a sequence (all of them noncausal). */
    private static int queriesUpTo(Segments sg, int seq, int t) {
        if (!sg.causal()) {
            return sg.queryLength(seq);
        }
        return Math.max(0, Math.min(sg.queryLength(seq), t + sg.queryLength(seq) - sg.keyLength(seq) + 1));
    }

    /** Keys at positions ≤ that of query j (all of them noncausal). */
    private static int keysUpTo(Segments sg, int seq, int j) {
        if (!sg.causal()) {
            return sg.keyLength(seq);
        }
        return Math.max(0, Math.min(sg.keyLength(seq), sg.positionOf(seq, j) + 1));
    }

    private void parallelRows(int rows, java.util.function.IntConsumer row) {
        engine.parallelFor((rows + 255) / 256, task -> {
            for (int r = task * 256; r < Math.min(rows, task * 256 + 256); r++) {
                row.accept(r);
            }
        });
    }

    private static HeadView ones(int n, int length, int heads) {
        float[] data = new float[n];
        java.util.Arrays.fill(data, 1f);
        return Features.contiguous(data, length, heads, 1);
    }

    /**
     * One {@link GatedLinearRecurrence} pass over per-query-head operands ({@code kvHeads = Hq}), its state the
     * {@code [offset, offset + F·dv)} part of every query head's block; writes {@code out} ({@code [B, Lr, Hq, dv]})
     * and returns the final state ({@code [sequences, Hq, F·dv]}).
     */
    private LinearState pass(Call call, Segments segments, HeadView readers, HeadView writers, HeadView values,
                             int f, int dv, float[] out, int readLength, int writeLength, int offset, Form form) {
        AttentionProblem p = call.problem();
        int hq = p.heads(), seqs = segments.sequences(), size = f * dv;
        LinearState initial = LinearState.zeros(seqs, hq, size);
        for (int seq = 0; seq < seqs; seq++) {
            for (int h = 0; h < hq; h++) {
                System.arraycopy(call.initial().data(), blockAt(call.initial(), seq, h, p) + offset, initial.data(),
                        initial.offset(seq, h), size);
            }
        }
        AttentionProblem sub = new AttentionProblem(p.batch(), readLength, writeLength, hq, hq, f, dv, 1f, null, null,
                Pattern.of(readLength, writeLength, segments.causal()), false, false, false, 0, readers, writers,
                values, Features.contiguous(out, readLength, hq, dv), null, Layout.BSHD);
        LinearState state = LinearState.zeros(seqs, hq, size);
        GatedLinearRecurrence.run(engine, new Call(sub, segments, initial, state),
                new GatedLinearRecurrence.Operands(readers, writers, values, f, 1f, new GatedLinearRecurrence.None(),
                        false, 0f), form);
        return state;
    }
}
