package io.attn4j.linear.aaren;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.tensor.Tensor;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.Work;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.Weights;
import io.attn4j.linear.Form;
import io.attn4j.linear.FormConfig;
import io.attn4j.linear.LinearState;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.linear.Segments;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Objects;

/**
 * Aaren: softmax attention of one query over every prefix of a sequence, computed as a many-to-many RNN by a
 * parallel prefix scan (Feng, Tung, Ahmed, Bengio, Hajimirsadeghi, "Attention as an RNN", arXiv:2405.13956, 2024).
 *
 * <p><b>Algorithm.</b> For the query {@code q₀} and keys {@code k_1 … k_n}, output {@code t} is exact attention of
 * {@code q₀} over the prefix: {@code o_t = Σ_{s≤t} e^{x_s} v_s / Σ_{s≤t} e^{x_s}} with {@code x_s = scale · q₀·k_s}.
 * The prefix is the running triple {@code (m, u, w)} = (max score, {@code Σ e^{x_s − m}},
 * {@code Σ e^{x_s − m} v_s}), and triples combine associatively:
 * <pre>
 *   (m, u, w) ⊕ (m', u', w') = (M, u·e^{m−M} + u'·e^{m'−M}, w·e^{m−M} + w'·e^{m'−M}),   M = max(m, m')
 * </pre>
 * so every {@code o_t = w_t / u_t} comes out of one prefix scan. <b>Reference</b>: the online softmax token by token
 * in float64. <b>Recurrent</b>: the same on float32 triples (the RNN cell, one token per step). <b>Chunked</b>: a
 * two-level scan — scores of each chunk of {@link Form#chunk()} keys by SIMD ({@link VectorOps#scoresRows}), every
 * chunk's local inclusive scan in parallel (rows written unnormalised into the output), the chunk totals scanned
 * in order per (sequence, head) into chunk prefixes, then every row fixed up in parallel as
 * {@code prefix ⊕ local}. The chunk split depends on the shape alone, so results are bit-identical for any thread
 * count.
 *
 * <p><b>The query (a choice).</b> In the paper the query is a learned token; in this attention API it is the
 * <em>first query row</em> of every head of every sequence (with packed documents: the first query row of each
 * document); the other query rows are not read. Every output row {@code j} is attention of that query over the
 * keys at positions {@code ≤ positionOf(j)} (bottom-right aligned, {@link Segments#positionOf}), so a call equals
 * causal {@code ReferenceAttention} run with every query row replaced by the first. The computation is exact
 * attention, so the mechanism takes no trained weights ({@link Weights#FREE}); it is declared approximate only
 * because it is not attention of each row's own query. Causal only: CS, CC and decode (a noncausal decode call
 * gives every row the attention over all keys). A query placed before the first key reads the initial state alone
 * (0 when the state is empty).
 *
 * <p><b>State.</b> The state depends on the query, so it is kept per <em>query</em> head: the block of
 * (sequence, KV head) holds {@code group} entries, one per query head {@code g·group + r}, each of
 * {@code 2 + Dv + D} floats: {@code [tokens, ℓ, o (Dv), q₀ (D)]} — keys summarised so far (0 means empty), the
 * log-sum-exp {@code ℓ = m + log u} of their scores, the attention output {@code o = w / u}, and the raw query.
 * That is the triple normalised to {@code u = 1} ({@code (m, u, w) = (ℓ, 1, o)}): every finite entry is a valid
 * state, so a state can never hold a negative or zero normaliser. When an entry is non-empty (tokens ≠ 0), the
 * call continues with the stored query and reads none of its query rows (a continued call's first row is a new
 * token, not the query); when it is empty, the first query row becomes the query and is stored. Each call applies
 * its own scale to the query. The token count is a float: exact to 2^24 keys, only its being non-zero matters.
 * A call with no keys and an empty state leaves the state empty.
 *
 * <p><b>Not promised: {@link Guarantee#PREFIX_INVARIANT} in the catalog.</b> Row i of a causal call does equal row
 * i of the call on tokens [0, i] (tested in this member's own tests), but the conformance suite reads that promise
 * as "a stateless decode call on the token at position t equals prefill row t", which cannot hold here: a decode
 * call's only query row is its query. Decoding continues through {@link #run} with the state instead.
 *
 * <p><b>Complexity.</b> Time O(n·(D + Dv)) per query head in every form; the chunked form adds one
 * O(Dv) combine per chunk and per row. State O(D + Dv) per query head — constant in n; scratch O(C) per task plus
 * O(n/C · Dv) chunk totals per head.
 */
public final class Aaren extends RecurrentMechanism {


    public static final Mechanism DESCRIPTOR = new Mechanism("aaren", Family.LINEAR,
            "Aaren: exact softmax attention of one query over every prefix, as an RNN by a parallel prefix scan",
            "Feng, Tung, Ahmed, Bengio, Hajimirsadeghi: \"Attention as an RNN\", 2024 (arXiv:2405.13956)",
            EnumSet.of(Pattern.CS, Pattern.CC, Pattern.DECODE), Weights.FREE, false, false, false, "O(n (d + dv))",
            "O(d + dv) per query head", FormConfig.class, FormConfig.defaults(),
            (config, engine) -> new Aaren((FormConfig) config, engine), EnumSet.of(Guarantee.PACKED_DOCUMENTS));

    /** Offsets inside one query head's state entry. */
    private static final int TOKENS = 0, LOG_SUM_EXP = 1, OUTPUT = 2;

    private final FormConfig config;

    public Aaren(FormConfig config, Engine engine) {
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

    /** q with every row of each sequence (batch row or packed document) replaced by its first row. */
    @Override
    public Tensor referenceQueries(Tensor q, AttentionSpec spec) {
        io.attn4j.tensor.Layout layout = spec.layout();
        int seqAxis = layout.seqAxis();
        io.attn4j.attention.Masks.Packing packing = io.attn4j.attention.Masks.packing(spec.mask());
        int[] offsets = packing != null ? packing.queryOffsets() : new int[] {0, q.size(seqAxis)};
        Tensor out = q.copy();
        for (int d = 0; d + 1 < offsets.length; d++) {
            for (int t = offsets[d]; t < offsets[d + 1]; t++) {
                out.slice(seqAxis, t, t + 1).copyFrom(q.slice(seqAxis, offsets[d], offsets[d] + 1));
            }
        }
        return out;
    }

    @Override
    public Form form() {
        return config.form();
    }

    /** Floats of one query head's entry: tokens, ℓ, o (Dv), q₀ (D). */
    public static int entrySize(int headDim, int valueDim) {
        return 2 + valueDim + headDim;
    }

    @Override
    public int stateSize(AttentionProblem p) {
        return p.group() * entrySize(p.headDim(), p.valueDim());
    }

    /**
     * Per query head, the score and the weighted value of every key, {@code 2·(D + Dv)}, and the chunked form's
     * fix-up of every output row with its chunk prefix, {@code 2·Dv}; the scan's exponentials are element-wise.
     */
    @Override
    public Work work(Work.Shape s, boolean causal, Form form) {
        double heads = (double) s.batch() * s.heads();
        double flops = heads * (2.0 * (s.headDim() + s.valueDim()) * s.keyLength()
                + (form.kind() == Form.Kind.CHUNKED ? 2.0 * s.valueDim() * s.queryLength() : 0));
        return Work.formula(flops, operandBytes(s), "2·(D + Dv) per key and query head, " + form);
    }

    @Override
    protected void compute(Call call, Form form) {
        switch (form.kind()) {
            case REFERENCE -> reference(call);
            case RECURRENT -> recurrent(call);
            case CHUNKED -> chunked(call, form.chunk());
        }
    }

    // ------------------------------------------------------------------------------------------ shared pieces

    /** Where query head h's entry of sequence seq starts in a state. */
    private static int entryAt(LinearState state, AttentionProblem p, int seq, int h) {
        return state.offset(seq, h / p.group()) + (h % p.group()) * entrySize(p.headDim(), p.valueDim());
    }

    /**
     * The query of (seq, h) scaled by the call's scale, or null when there is none (empty state, no query rows).
     * Also copies the raw query into the final state's entry.
     */
    private static float[] query(Call call, int seq, int h) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int d = p.headDim(), dv = p.valueDim();
        float[] init = call.initial().data(), fin = call.state().data();
        int in = entryAt(call.initial(), p, seq, h), out = entryAt(call.state(), p, seq, h);
        float[] source;
        int from;
        if (init[in + TOKENS] != 0f) {
            source = init;
            from = in + OUTPUT + dv;
        } else if (sg.queryLength(seq) > 0) {
            source = p.q().data();
            from = p.q().at(sg.batchOf(seq), sg.queryFrom(seq), h);
        } else {
            return null;
        }
        System.arraycopy(source, from, fin, out + OUTPUT + dv, d);
        float[] q = new float[d];
        for (int i = 0; i < d; i++) {
            q[i] = p.scale() * source[from + i];
        }
        return q;
    }

    private static boolean empty(Call call, int seq, int h) {
        return call.initial().data()[entryAt(call.initial(), call.problem(), seq, h) + TOKENS] == 0f;
    }

    private static int outAt(AttentionProblem p, Segments sg, int seq, int j, int h) {
        return p.out().at(sg.batchOf(seq), sg.queryFrom(seq) + j, h);
    }

    private static int keyAt(HeadView view, Segments sg, int seq, int t, int g) {
        return view.at(sg.batchOf(seq), sg.keyFrom(seq) + t, g);
    }

    /** Writes tokens, ℓ = m + log u and o = w / u into the final state's entry (u = 0: the entry stays empty). */
    private static void writeState(Call call, int seq, int h, double m, double u, double[] w, float[] wf) {
        AttentionProblem p = call.problem();
        int dv = p.valueDim();
        float[] fin = call.state().data();
        int out = entryAt(call.state(), p, seq, h);
        if (!(u > 0)) {
            Arrays.fill(fin, out, out + entrySize(p.headDim(), dv), 0f);
            return;
        }
        float tokensIn = call.initial().data()[entryAt(call.initial(), p, seq, h) + TOKENS];
        fin[out + TOKENS] = (float) ((double) tokensIn + call.segments().keyLength(seq));
        fin[out + LOG_SUM_EXP] = (float) (m + Math.log(u));
        for (int c = 0; c < dv; c++) {
            fin[out + OUTPUT + c] = (float) ((w != null ? w[c] : wf[c]) / u);
        }
    }

    // ------------------------------------------------------------------------------------------ reference

    private void reference(Call call) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int heads = p.heads();
        engine.parallelFor(sg.sequences() * heads, task -> referenceTask(call, task / heads, task % heads));
    }

    private static void referenceTask(Call call, int seq, int h) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int d = p.headDim(), dv = p.valueDim(), g = h / p.group();
        float[] q = query(call, seq, h);
        double m = Double.NEGATIVE_INFINITY, u = 0;
        double[] w = new double[dv];
        if (!empty(call, seq, h)) {
            int in = entryAt(call.initial(), p, seq, h);
            m = call.initial().data()[in + LOG_SUM_EXP];
            u = 1;
            for (int c = 0; c < dv; c++) {
                w[c] = call.initial().data()[in + OUTPUT + c];
            }
        }
        int lq = sg.queryLength(seq), lk = sg.keyLength(seq);
        int j = 0;
        if (sg.causal()) {
            for (; j < lq && sg.positionOf(seq, j) < 0; j++) {
                referenceEmit(call, seq, j, h, u, w);
            }
        }
        float[] kd = p.k().data(), vd = p.v().data();
        for (int t = 0; q != null && t < lk; t++) {
            int kr = keyAt(p.k(), sg, seq, t, g), vr = keyAt(p.v(), sg, seq, t, g);
            double x = 0;
            for (int i = 0; i < d; i++) {
                x += (double) q[i] * kd[kr + i];
            }
            double mNew = Math.max(m, x), old = Math.exp(m - mNew), now = Math.exp(x - mNew);
            u = u * old + now;
            for (int c = 0; c < dv; c++) {
                w[c] = w[c] * old + now * vd[vr + c];
            }
            m = mNew;
            if (sg.causal()) {
                for (; j < lq && sg.positionOf(seq, j) == t; j++) {
                    referenceEmit(call, seq, j, h, u, w);
                }
            }
        }
        for (; j < lq; j++) {
            referenceEmit(call, seq, j, h, u, w);
        }
        writeState(call, seq, h, m, u, w, null);
    }

    private static void referenceEmit(Call call, int seq, int j, int h, double u, double[] w) {
        AttentionProblem p = call.problem();
        float[] out = p.out().data();
        int or = outAt(p, call.segments(), seq, j, h);
        for (int c = 0; c < w.length; c++) {
            out[or + c] = u > 0 ? (float) (w[c] / u) : 0f;
        }
    }

    // ------------------------------------------------------------------------------------------ recurrent

    private void recurrent(Call call) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int heads = p.heads();
        VectorOps ops = engine.ops();
        engine.parallelFor(sg.sequences() * heads, task -> {
            int seq = task / heads, h = task % heads, g = h / p.group();
            int d = p.headDim(), dv = p.valueDim();
            float[] q = query(call, seq, h);
            float[] m = {Float.NEGATIVE_INFINITY}, u = {0f};
            float[] w = new float[dv];
            if (!empty(call, seq, h)) {
                int in = entryAt(call.initial(), p, seq, h);
                m[0] = call.initial().data()[in + LOG_SUM_EXP];
                u[0] = 1f;
                System.arraycopy(call.initial().data(), in + OUTPUT, w, 0, dv);
            }
            int lq = sg.queryLength(seq), lk = sg.keyLength(seq);
            int j = 0;
            if (sg.causal()) {
                for (; j < lq && sg.positionOf(seq, j) < 0; j++) {
                    emit(ops, call, seq, j, h, u[0], w);
                }
            }
            for (int t = 0; q != null && t < lk; t++) {
                float x = ops.dot(q, 0, p.k().data(), keyAt(p.k(), sg, seq, t, g), d);
                step(ops, x, p.v().data(), keyAt(p.v(), sg, seq, t, g), m, u, w, dv);
                if (sg.causal()) {
                    for (; j < lq && sg.positionOf(seq, j) == t; j++) {
                        emit(ops, call, seq, j, h, u[0], w);
                    }
                }
            }
            for (; j < lq; j++) {
                emit(ops, call, seq, j, h, u[0], w);
            }
            writeState(call, seq, h, m[0], u[0], null, w);
        });
    }

    /** One token of the RNN cell on a float32 triple: (m, u, w) ⊕ (x, 1, v). */
    private static void step(VectorOps ops, float x, float[] vd, int vr, float[] m, float[] u, float[] w, int dv) {
        if (x > m[0]) {
            float old = (float) Math.exp(m[0] - x);
            u[0] = u[0] * old + 1f;
            ops.scale(w, 0, dv, old);
            ops.axpy(1f, vd, vr, w, 0, dv);
            m[0] = x;
        } else {
            float now = (float) Math.exp(x - m[0]);
            u[0] += now;
            ops.axpy(now, vd, vr, w, 0, dv);
        }
    }

    private static void emit(VectorOps ops, Call call, int seq, int j, int h, float u, float[] w) {
        AttentionProblem p = call.problem();
        float[] out = p.out().data();
        int or = outAt(p, call.segments(), seq, j, h);
        System.arraycopy(w, 0, out, or, w.length);
        ops.scale(out, or, w.length, u > 0 ? 1f / u : 0f);
    }

    // ------------------------------------------------------------------------------------------ chunked

    private void chunked(Call call, int chunk) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        VectorOps ops = engine.ops();
        int heads = p.heads(), pairs = sg.sequences() * heads, dv = p.valueDim(), d = p.headDim();
        int maxChunks = 0;
        for (int seq = 0; seq < sg.sequences(); seq++) {
            maxChunks = Math.max(maxChunks, (sg.keyLength(seq) + chunk - 1) / chunk);
        }
        int chunks = Math.max(1, maxChunks);
        int triple = 2 + dv; // (m, u, w)
        float[][] queries = new float[pairs][];
        engine.parallelFor(pairs, pair -> queries[pair] = query(call, pair / heads, pair % heads));
        // per output row: the local (m, u) of the chunk scan that wrote its unnormalised w into the output
        float[] rowM = new float[p.batch() * p.queryLength() * heads];
        float[] rowU = new float[rowM.length];
        // per (pair, chunk): the chunk's total triple, then (in phase 2) the prefix before it
        float[] totals = new float[pairs * chunks * triple];

        // 1. every chunk's scores and local inclusive scan, in parallel
        engine.parallelFor(pairs * chunks, task -> {
            int pair = task / chunks, c = task % chunks, seq = pair / heads, h = pair % heads, g = h / p.group();
            int a = c * chunk, b = Math.min(sg.keyLength(seq), a + chunk), n = b - a;
            float[] q = queries[pair];
            if (n <= 0 || q == null) {
                return;
            }
            float[] scores = new float[n];
            ops.scoresRows(q, 0, d, 1, p.k().data(), keyAt(p.k(), sg, seq, a, g), p.k().strideSeq(), n, d,
                    scores, 0, n);
            float[] m = {Float.NEGATIVE_INFINITY}, u = {0f};
            float[] w = new float[dv];
            int off = sg.keyLength(seq) - sg.queryLength(seq);
            float[] out = p.out().data();
            for (int t = 0; t < n; t++) {
                step(ops, scores[t], p.v().data(), keyAt(p.v(), sg, seq, a + t, g), m, u, w, dv);
                int j = a + t - off;
                if (sg.causal() && j >= 0 && j < sg.queryLength(seq)) {
                    System.arraycopy(w, 0, out, outAt(p, sg, seq, j, h), dv);
                    int row = rowIndex(p, sg, seq, j, h);
                    rowM[row] = m[0];
                    rowU[row] = u[0];
                }
            }
            int at = task * triple;
            totals[at] = m[0];
            totals[at + 1] = u[0];
            System.arraycopy(w, 0, totals, at + 2, dv);
        });

        // 2. per (sequence, head): chunk prefixes in order, from the initial state; the final state
        engine.parallelFor(pairs, pair -> {
            int seq = pair / heads, h = pair % heads;
            float[] m = {Float.NEGATIVE_INFINITY}, u = {0f};
            float[] w = new float[dv];
            if (!empty(call, seq, h)) {
                int in = entryAt(call.initial(), p, seq, h);
                m[0] = call.initial().data()[in + LOG_SUM_EXP];
                u[0] = 1f;
                System.arraycopy(call.initial().data(), in + OUTPUT, w, 0, dv);
            }
            int lq = sg.queryLength(seq), lk = sg.keyLength(seq);
            if (sg.causal()) {
                for (int j = 0; j < lq && sg.positionOf(seq, j) < 0; j++) {
                    emit(ops, call, seq, j, h, u[0], w);
                }
            }
            float[] chunkTotal = new float[triple];
            int used = queries[pair] == null ? 0 : (lk + chunk - 1) / chunk;
            for (int c = 0; c < used; c++) {
                int at = (pair * chunks + c) * triple;
                System.arraycopy(totals, at, chunkTotal, 0, triple);
                totals[at] = m[0];
                totals[at + 1] = u[0];
                System.arraycopy(w, 0, totals, at + 2, dv);
                combine(ops, m, u, w, chunkTotal[0], chunkTotal[1], chunkTotal, 2, dv);
            }
            if (!sg.causal()) {
                for (int j = 0; j < lq; j++) {
                    emit(ops, call, seq, j, h, u[0], w);
                }
            }
            writeState(call, seq, h, m[0], u[0], null, w);
        });

        // 3. every row placed in a chunk: prefix ⊕ local, normalised
        if (!sg.causal()) {
            return;
        }
        engine.parallelFor(pairs * chunks, task -> {
            int pair = task / chunks, c = task % chunks, seq = pair / heads, h = pair % heads;
            int off = sg.keyLength(seq) - sg.queryLength(seq);
            int a = c * chunk, b = Math.min(sg.keyLength(seq), a + chunk);
            if (queries[pair] == null || a >= b) {
                return;
            }
            int at = task * triple;
            float pm = totals[at], pu = totals[at + 1];
            float[] out = p.out().data();
            for (int j = Math.max(0, a - off); j < Math.min(sg.queryLength(seq), b - off); j++) {
                int row = rowIndex(p, sg, seq, j, h), or = outAt(p, sg, seq, j, h);
                float lm = rowM[row], lu = rowU[row];
                float top = Math.max(pm, lm);
                float prefixWeight = pu == 0f ? 0f : (float) Math.exp(pm - top);
                float localWeight = (float) Math.exp(lm - top);
                float inv = 1f / (pu * prefixWeight + lu * localWeight);
                ops.scale(out, or, dv, localWeight * inv);
                if (prefixWeight != 0f) {
                    ops.axpy(prefixWeight * inv, totals, at + 2, out, or, dv);
                }
            }
        });
    }

    /** (m, u, w) ← (m, u, w) ⊕ (m2, u2, w2 at {@code w2[w2At]}). */
    private static void combine(VectorOps ops, float[] m, float[] u, float[] w, float m2, float u2, float[] w2,
                                int w2At, int dv) {
        if (u2 == 0f) {
            return;
        }
        if (u[0] == 0f) {
            m[0] = m2;
            u[0] = u2;
            System.arraycopy(w2, w2At, w, 0, dv);
            return;
        }
        float top = Math.max(m[0], m2);
        float mine = (float) Math.exp(m[0] - top), theirs = (float) Math.exp(m2 - top);
        u[0] = u[0] * mine + u2 * theirs;
        ops.scale(w, 0, dv, mine);
        ops.axpy(theirs, w2, w2At, w, 0, dv);
        m[0] = top;
    }

    private static int rowIndex(AttentionProblem p, Segments sg, int seq, int j, int h) {
        return (sg.batchOf(seq) * p.queryLength() + sg.queryFrom(seq) + j) * p.heads() + h;
    }
}
