package io.attn4j.linear;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.Work;
import io.attn4j.runtime.Engine;
import io.attn4j.runtime.Scratch;
import io.attn4j.simd.VectorOps;

import java.util.Arrays;

/**
 * The recurrence most of the linear family reduces to once its feature maps are applied: a matrix state per
 * (sequence, KV head), decayed and written token by token, read by the queries.
 * <pre>
 *   S_t = diag(a_t) · S_{t−1} + k̃_t v_tᵀ          S ∈ R^{F×Dv}, a_t ∈ (0, 1]^F
 *   z_t = a_t ⊙ z_{t−1} + k̃_t                     (only when normalising)
 *   o   = (s·q̃)ᵀ S_t  [ / ((s·q̃)ᵀ z_t + ε) ]     for the query placed at key position t
 * </pre>
 * {@link Decay} says what {@code a_t} is: 1 ({@code linear}, {@code performer}), a constant per head
 * ({@code lightning} with TransNormer/RetNet decay), or a gate per token given in log space, one per head
 * (Mamba-2-style scalar) or one per feature ({@code gla}). Noncausal calls read the state after the last key;
 * they take no decay.
 *
 * <p><b>Reference</b>: the recurrence above in float64. <b>Recurrent</b>: the same on a float32 state, one token
 * at a time. <b>Chunked</b> (Lightning Attention-2, GLA's chunkwise form): for a chunk of C tokens starting from
 * state S,
 * <pre>
 *   P_t = Π_{u ≤ t in chunk} a_u,  Q̂ = Q ⊙ P,  O = Q̂ S + mask(A) V,  A_ts = Σ_i q̂_ti k_si / P_si  (s ≤ t)
 *   S ← diag(P_end) S + (K ⊙ P_end / P)ᵀ V
 * </pre>
 * three products per chunk ({@link VectorOps#scoresRows}, {@link VectorOps#accumulateRows}). Decays are running
 * products, never exponentials of cumulative sums, so every factor that multiplies a state is at most 1. The
 * factored intra-chunk score {@code q̂·(k / P_s)} divides by {@code P_s}; it is used only while the chunk's total
 * decay stays above {@value #FACTOR_FLOOR} (per feature), and otherwise each row's factors
 * {@code Π_{s<u≤t} a_u} are built as running products from the diagonal back — O(C²·F) multiplications instead of
 * a product, but no overflow for any gate. Scalar decays always take that path (it costs C² multiplications).
 *
 * <p>Sequence parallelism (LASP-2): when sequences × KV heads are fewer than {@value #PARALLEL_TASKS}, each
 * sequence is cut into parts of whole chunks; every part's state contribution and total decay are computed in
 * parallel from zero, combined in order ({@code S_{p+1} = D_p ⊙ S_p + ΔS_p}), and the parts then run in parallel
 * from their starting states. The cut depends only on the shape, so results do not depend on the thread count.
 *
 * <p>Every form reads each initial value before writing its place, so the initial and final states may be one
 * object ({@link RecurrentMechanism#step} continues a state in place).
 *
 * <p>Complexity per (sequence, head): reference and recurrent O(n·F·Dv) time; chunked O(n·(C·F + C·Dv + F·Dv))
 * time with at most twice the state work when parts run; memory O(F·Dv) per state plus O(C·(C + F + Dv)) scratch
 * per thread.
 */
public final class GatedLinearRecurrence {
    /** Sequences × heads below which a sequence is split into parts that run in parallel. */
    static final int PARALLEL_TASKS = 16;
    /** The smallest chunk decay (per feature) for which the factored intra-chunk score is used. */
    static final float FACTOR_FLOOR = 1e-9f;

    private GatedLinearRecurrence() {
    }

    /** What multiplies the state before each token's write. */
    public sealed interface Decay {
        /** Feature width of one token's decay: 0 (none), 1 (scalar) or F. */
        int width(int features);
    }

    /** No decay: {@code a_t = 1}. */
    public record None() implements Decay {
        @Override
        public int width(int features) {
            return 0;
        }
    }

    /** A constant decay per KV head: {@code a_t = exp(logDecay[h])}, {@code logDecay[h] <= 0}. */
    public record Constant(float[] logDecay) implements Decay {
        @Override
        public int width(int features) {
            return 1;
        }
    }

    /**
     * Data-dependent gates in log space: {@code log a_t} of KV head h at key row t of batch b is
     * {@code logGates.data()[logGates.at(b, t, h) + i]}, for {@code i < F} when {@code perFeature}, else {@code i = 0}.
     * Every value must be finite and {@code <= 0}.
     */
    public record Gates(HeadView logGates, boolean perFeature) implements Decay {
        @Override
        public int width(int features) {
            return perFeature ? features : 1;
        }
    }

    /**
     * The recurrence's operands, already through their feature maps.
     *
     * @param q          q̃: {@code [B, Lq, Hq, F]}
     * @param k          k̃: {@code [B, Lk, Hkv, F]}
     * @param v          v: {@code [B, Lk, Hkv, Dv]}
     * @param features   F
     * @param queryScale s, multiplied into every query feature
     * @param decay      the decay
     * @param normalise  whether outputs are divided by {@code s·q̃ · z + ε}
     * @param epsilon    ε
     * @param perQueryHead one state per query head instead of per KV head: for decays that differ between the
     *                   query heads of a GQA group (RetNet's multi-scale schedule); {@link Constant} is then
     *                   indexed by query head
     */
    public record Operands(HeadView q, HeadView k, HeadView v, int features, float queryScale, Decay decay,
                           boolean normalise, float epsilon, boolean perQueryHead) {
        /** One state per KV head. */
        public Operands(HeadView q, HeadView k, HeadView v, int features, float queryScale, Decay decay,
                        boolean normalise, float epsilon) {
            this(q, k, v, features, queryScale, decay, normalise, epsilon, false);
        }

        /** State heads of a call: KV heads, or query heads when {@link #perQueryHead}. */
        public int stateHeads(AttentionProblem p) {
            return perQueryHead ? p.heads() : p.kvHeads();
        }

        /** The KV head that state head g reads keys and values from. */
        int kvOf(AttentionProblem p, int g) {
            return perQueryHead ? g / p.group() : g;
        }

        /** The first query head reading state head g. */
        int firstQuery(AttentionProblem p, int g) {
            return perQueryHead ? g : g * p.group();
        }

        /** Query heads reading one state head. */
        int queriesPerState(AttentionProblem p) {
            return perQueryHead ? 1 : p.group();
        }
    }

    /**
     * FLOPs of one pass of the recurrence over a call of shape {@code s} (a fused multiply-add counts two; decays
     * and other element-wise work are not counted): every state head writes its {@code Lk} keys, {@code 2·F·Dv'}
     * each, and each of its queries reads it, {@code 2·F·Dv'} each, with {@code Dv' = valueColumns} ({@code Dv},
     * plus one for the normaliser's {@code z}); the chunked causal form adds its chunks' own products, half a
     * {@code C × C} block of scores and of weighted values per query on average: {@code (C + 1)·(F + Dv')}.
     *
     * @param features     F
     * @param valueColumns Dv'
     * @param perQueryHead one state per query head (else per KV head)
     */
    public static double flops(Work.Shape s, int features, int valueColumns,
                               boolean perQueryHead, boolean causal, Form form) {
        double stateHeads = (double) s.batch() * (perQueryHead ? s.heads() : s.kvHeads());
        double keys = stateHeads * s.keyLength(), queries = (double) s.batch() * s.heads() * s.queryLength();
        double flops = 2.0 * features * valueColumns * (keys + queries);
        if (causal && form.kind() == Form.Kind.CHUNKED) {
            flops += queries * (Math.min(form.chunk(), s.keyLength()) + 1) * (features + valueColumns);
        }
        return flops;
    }

    /** Floats of state per (sequence, KV head): S, then z when normalising. */
    public static int stateSize(int features, int valueDim, boolean normalise) {
        return features * valueDim + (normalise ? features : 0);
    }

    /** Runs the call in {@code form}, writing the output rows and the final state. */
    public static void run(Engine engine, RecurrentMechanism.Call call, Operands o, Form form) {
        if (!call.segments().causal() && !(o.decay() instanceof None)) {
            throw new IllegalStateException("noncausal calls take no decay"); // mechanisms declare causal patterns
        }
        switch (form.kind()) {
            case REFERENCE -> reference(engine, call, o);
            case RECURRENT -> recurrent(engine, call, o);
            case CHUNKED -> chunked(engine, call, o, form.chunk());
        }
    }

    // ------------------------------------------------------------------------------------------ shared pieces

    /** The decay of token {@code t} (document-relative) of sequence {@code seq}, KV head {@code g}, feature i. */
    private static double logDecay(Operands o, RecurrentMechanism.Call call, int seq, int g, int t, int i) {
        Segments sg = call.segments();
        return switch (o.decay()) {
            case None n -> 0;
            case Constant c -> c.logDecay()[g];
            case Gates gates -> gates.logGates().data()[gates.logGates().at(sg.batchOf(seq), sg.keyFrom(seq) + t,
                    o.kvOf(call.problem(), g)) + (gates.perFeature() ? i : 0)];
        };
    }

    /** log a of tokens {@code [a, a + n)} into {@code out[t·w + i]} (w = the decay's width, 1 at least). */
    private static void logDecays(Operands o, RecurrentMechanism.Call call, int seq, int g, int a, int n,
                                  float[] out) {
        Segments sg = call.segments();
        switch (o.decay()) {
            case None none -> Arrays.fill(out, 0, n, 0f);
            case Constant c -> Arrays.fill(out, 0, n, c.logDecay()[g]);
            case Gates gates -> {
                HeadView view = gates.logGates();
                int w = gates.perFeature() ? o.features() : 1;
                int row = view.at(sg.batchOf(seq), sg.keyFrom(seq) + a, o.kvOf(call.problem(), g));
                for (int t = 0; t < n; t++) {
                    System.arraycopy(view.data(), row + t * view.strideSeq(), out, t * w, w);
                }
            }
        }
    }

    private static int outAt(AttentionProblem p, Segments sg, int seq, int j, int h) {
        return p.out().at(sg.batchOf(seq), sg.queryFrom(seq) + j, h);
    }

    private static int queryAt(Operands o, Segments sg, int seq, int j, int h) {
        return o.q().at(sg.batchOf(seq), sg.queryFrom(seq) + j, h);
    }

    private static int keyAt(HeadView view, Segments sg, int seq, int t, int g) {
        return view.at(sg.batchOf(seq), sg.keyFrom(seq) + t, g);
    }

    // ------------------------------------------------------------------------------------------ reference

    private static void reference(Engine engine, RecurrentMechanism.Call call, Operands o) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int kvHeads = o.stateHeads(p);
        engine.parallelFor(sg.sequences() * kvHeads, task -> referenceTask(call, o, task / kvHeads, task % kvHeads));
    }

    private static void referenceTask(RecurrentMechanism.Call call, Operands o, int seq, int g) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int f = o.features(), dv = p.valueDim();
        double[] s = new double[f * dv];
        double[] z = new double[f];
        float[] init = call.initial().data();
        int base = call.initial().offset(seq, g);
        for (int x = 0; x < f * dv; x++) {
            s[x] = init[base + x];
        }
        if (o.normalise()) {
            for (int i = 0; i < f; i++) {
                z[i] = init[base + f * dv + i];
            }
        }
        int lq = sg.queryLength(seq), lk = sg.keyLength(seq);
        float[] kd = o.k().data(), vd = o.v().data();
        int j = 0;
        if (sg.causal()) {
            for (; j < lq && sg.positionOf(seq, j) < 0; j++) {
                referenceEmit(call, o, seq, g, j, s, z);
            }
        }
        for (int t = 0; t < lk; t++) {
            int kr = keyAt(o.k(), sg, seq, t, o.kvOf(p, g)), vr = keyAt(o.v(), sg, seq, t, o.kvOf(p, g));
            for (int i = 0; i < f; i++) {
                double a = Math.exp(logDecay(o, call, seq, g, t, i)), ki = kd[kr + i];
                for (int c = 0; c < dv; c++) {
                    s[i * dv + c] = a * s[i * dv + c] + ki * vd[vr + c];
                }
                z[i] = a * z[i] + ki;
            }
            if (sg.causal()) {
                for (; j < lq && sg.positionOf(seq, j) == t; j++) {
                    referenceEmit(call, o, seq, g, j, s, z);
                }
            }
        }
        for (; j < lq; j++) {
            referenceEmit(call, o, seq, g, j, s, z);
        }
        float[] state = call.state().data();
        int out = call.state().offset(seq, g);
        for (int x = 0; x < f * dv; x++) {
            state[out + x] = (float) s[x];
        }
        if (o.normalise()) {
            for (int i = 0; i < f; i++) {
                state[out + f * dv + i] = (float) z[i];
            }
        }
    }

    private static void referenceEmit(RecurrentMechanism.Call call, Operands o, int seq, int g, int j, double[] s,
                                      double[] z) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int f = o.features(), dv = p.valueDim();
        float[] qd = o.q().data(), out = p.out().data();
        double[] num = new double[dv];
        for (int h = o.firstQuery(p, g); h < o.firstQuery(p, g) + o.queriesPerState(p); h++) {
            Arrays.fill(num, 0);
            double den = 0;
            int qr = queryAt(o, sg, seq, j, h);
            for (int i = 0; i < f; i++) {
                double qi = (double) o.queryScale() * qd[qr + i];
                for (int c = 0; c < dv; c++) {
                    num[c] += qi * s[i * dv + c];
                }
                den += qi * z[i];
            }
            int or = outAt(p, sg, seq, j, h);
            for (int c = 0; c < dv; c++) {
                out[or + c] = (float) (o.normalise() ? num[c] / (den + o.epsilon()) : num[c]);
            }
        }
    }

    // ------------------------------------------------------------------------------------------ recurrent

    private static void recurrent(Engine engine, RecurrentMechanism.Call call, Operands o) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int kvHeads = o.stateHeads(p);
        engine.parallelFor(sg.sequences() * kvHeads, task -> {
            int seq = task / kvHeads, g = task % kvHeads;
            float[] state = call.state().data();
            int base = call.state().offset(seq, g);
            if (call.initial() != call.state()) {
                System.arraycopy(call.initial().data(), call.initial().offset(seq, g), state, base,
                        call.state().size());
            }
            int lq = sg.queryLength(seq), lk = sg.keyLength(seq);
            int j = 0;
            if (sg.causal()) {
                for (; j < lq && sg.positionOf(seq, j) < 0; j++) {
                    emitRow(engine.ops(), call, o, seq, g, j, state, base);
                }
            }
            for (int t = 0; t < lk; t++) {
                // causal queries sit one per key position: the one at t reads the state just written
                boolean emit = sg.causal() && j < lq && sg.positionOf(seq, j) == t;
                boolean fused = emit && o.queriesPerState(p) == 1;
                step(engine.ops(), call, o, seq, g, t, state, base, fused ? j : -1);
                if (emit) {
                    for (; j < lq && sg.positionOf(seq, j) == t; j++) {
                        if (!fused) {
                            emitRow(engine.ops(), call, o, seq, g, j, state, base);
                        }
                    }
                }
            }
            for (; j < lq; j++) {
                emitRow(engine.ops(), call, o, seq, g, j, state, base);
            }
        });
    }

    /**
     * One token's write into the float32 state at {@code state[base]}, the state read and written once
     * ({@link VectorOps#stateStep}); with {@code fusedQuery >= 0}, the output row of that query (the only one reading
     * this state) is computed in the same pass.
     */
    private static void step(VectorOps ops, RecurrentMechanism.Call call, Operands o, int seq, int g, int t,
                             float[] state, int base, int fusedQuery) {
        Segments sg = call.segments();
        AttentionProblem p = call.problem();
        Scratch scratch = Scratch.get();
        int f = o.features(), dv = p.valueDim(), width = o.decay().width(f);
        float[] kd = o.k().data(), vd = o.v().data();
        int kr = keyAt(o.k(), sg, seq, t, o.kvOf(p, g)), vr = keyAt(o.v(), sg, seq, t, o.kvOf(p, g));
        float[] decay = null;
        if (width > 0) {
            decay = scratch.floats(S_DECAY, f);
            logDecays(o, call, seq, g, t, 1, decay);
            if (width == 1) {
                java.util.Arrays.fill(decay, 1, f, decay[0]);
            }
            ops.expShiftSum(decay, 0, f, 0f);
        }
        float[] q = null, out = p.out().data();
        int or = 0;
        if (fusedQuery >= 0) {
            q = scratch.floats(S_Q, f);
            int qr = queryAt(o, sg, seq, fusedQuery, o.firstQuery(p, g));
            for (int i = 0; i < f; i++) {
                q[i] = o.queryScale() * o.q().data()[qr + i];
            }
            or = outAt(p, sg, seq, fusedQuery, o.firstQuery(p, g));
            Arrays.fill(out, or, or + dv, 0f);
        }
        ops.stateStep(state, base, f, dv, decay, 0, kd, kr, vd, vr, q, 0, out, or);
        if (o.normalise()) {
            int z = base + f * dv;
            float den = 0f;
            for (int i = 0; i < f; i++) {
                state[z + i] = (decay == null ? 1f : decay[i]) * state[z + i] + kd[kr + i];
                if (q != null) {
                    den += q[i] * state[z + i];
                }
            }
            if (q != null) {
                ops.scale(out, or, dv, 1f / (den + o.epsilon()));
            }
        }
    }

    /** Output row j of every query head of group g from the float32 state at {@code state[base]}. */
    private static void emitRow(VectorOps ops, RecurrentMechanism.Call call, Operands o, int seq, int g, int j,
                                float[] state, int base) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int f = o.features(), dv = p.valueDim();
        float[] qd = o.q().data(), out = p.out().data();
        for (int h = o.firstQuery(p, g); h < o.firstQuery(p, g) + o.queriesPerState(p); h++) {
            int qr = queryAt(o, sg, seq, j, h), or = outAt(p, sg, seq, j, h);
            Arrays.fill(out, or, or + dv, 0f);
            float den = 0f;
            for (int i = 0; i < f; i++) {
                float qi = o.queryScale() * qd[qr + i];
                ops.axpy(qi, state, base + i * dv, out, or, dv);
                if (o.normalise()) {
                    den += qi * state[base + f * dv + i];
                }
            }
            if (o.normalise()) {
                ops.scale(out, or, dv, 1f / (den + o.epsilon()));
            }
        }
    }

    // ------------------------------------------------------------------------------------------ chunked

    private static final int S_Q = 0, S_K = 1, S_KT = 2, S_A = 3, S_O = 4, S_DECAY = 5, S_PREFIX = 6, S_DEN = 7,
            S_RUN = 8;

    private static void chunked(Engine engine, RecurrentMechanism.Call call, Operands o, int chunk) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int kvHeads = o.stateHeads(p), pairs = sg.sequences() * kvHeads, size = call.state().size();
        if (!sg.causal()) {
            noncausal(engine, call, o, chunk);
            return;
        }
        // parts per (sequence, head): only the shape decides, so any thread count gives the same bits
        int maxChunks = 0;
        for (int seq = 0; seq < sg.sequences(); seq++) {
            maxChunks = Math.max(maxChunks, (sg.keyLength(seq) + chunk - 1) / chunk);
        }
        int parts = Math.max(1, Math.min((maxChunks + 3) / 4, (PARALLEL_TASKS + pairs - 1) / pairs));
        if (parts == 1) {
            engine.parallelFor(pairs, task -> {
                int seq = task / kvHeads, g = task % kvHeads;
                float[] state = call.state().data();
                int base = call.state().offset(seq, g);
                System.arraycopy(call.initial().data(), call.initial().offset(seq, g), state, base, size);
                runChunks(engine.ops(), call, o, seq, g, 0, sg.keyLength(seq), chunk, state, base, true, null, 0);
            });
            return;
        }
        int f = o.features(), width = o.decay().width(f);
        float[] local = new float[pairs * parts * size];
        float[] decays = new float[pairs * parts * Math.max(1, width)];
        // 1. each part's contribution from a zero state, and its total decay
        engine.parallelFor(pairs * parts, task -> {
            int pair = task / parts, part = task % parts, seq = pair / kvHeads, g = pair % kvHeads;
            int[] range = partRange(sg.keyLength(seq), chunk, parts, part);
            if (part == parts - 1 || range[0] >= range[1]) {
                return; // the last part's contribution is never combined; empty parts contribute nothing
            }
            Arrays.fill(local, task * size, (task + 1) * size, 0f);
            runChunks(engine.ops(), call, o, seq, g, range[0], range[1], chunk, local, task * size, false,
                    decays, task * Math.max(1, width));
        });
        // 2. combine in order: start_{p+1} = D_p ⊙ start_p + ΔS_p (starts overwrite the contributions in place)
        float[] starts = new float[pairs * parts * size];
        engine.parallelFor(pairs, pair -> {
            int seq = pair / kvHeads, g = pair % kvHeads, dv = p.valueDim();
            System.arraycopy(call.initial().data(), call.initial().offset(seq, g), starts, pair * parts * size, size);
            for (int part = 0; part + 1 < parts; part++) {
                int from = (pair * parts + part) * size, to = from + size;
                int[] range = partRange(sg.keyLength(seq), chunk, parts, part);
                System.arraycopy(starts, from, starts, to, size);
                if (range[0] >= range[1]) {
                    continue;
                }
                int d0 = (pair * parts + part) * Math.max(1, width);
                for (int i = 0; i < f; i++) {
                    float a = width == 0 ? 1f : decays[d0 + (width == 1 ? 0 : i)];
                    for (int c = 0; c < dv; c++) {
                        starts[to + i * dv + c] = a * starts[to + i * dv + c] + local[from + i * dv + c];
                    }
                    if (o.normalise()) {
                        starts[to + f * dv + i] = a * starts[to + f * dv + i] + local[from + f * dv + i];
                    }
                }
            }
        });
        // 3. every part from its start, writing its outputs; the last part leaves the final state
        engine.parallelFor(pairs * parts, task -> {
            int pair = task / parts, part = task % parts, seq = pair / kvHeads, g = pair % kvHeads;
            int[] range = partRange(sg.keyLength(seq), chunk, parts, part);
            float[] state = starts;
            int base = task * size;
            if (part == parts - 1) {
                state = call.state().data();
                base = call.state().offset(seq, g);
                System.arraycopy(starts, task * size, state, base, size);
            }
            if (part == 0 || range[0] < range[1]) {
                runChunks(engine.ops(), call, o, seq, g, range[0], range[1], chunk, state, base, true, null, 0);
            }
        });
    }

    /** Key range {@code [from, to)} of a part: whole chunks, split as evenly as possible. */
    private static int[] partRange(int length, int chunk, int parts, int part) {
        int chunks = (length + chunk - 1) / chunk;
        int per = (chunks + parts - 1) / parts;
        int from = Math.min(length, part * per * chunk), to = Math.min(length, (part + 1) * per * chunk);
        return new int[] {from, to};
    }

    /**
     * Runs keys {@code [from, to)} of a sequence chunk by chunk on the state at {@code state[base]}. With
     * {@code emit}, writes the outputs of the queries placed in the range (and, from position 0, those placed before
     * the first key); without, accumulates the range's total decay into {@code total[totalAt]} (width 1 or F).
     */
    private static void runChunks(VectorOps ops, RecurrentMechanism.Call call, Operands o, int seq, int g, int from,
                                  int to, int chunk, float[] state, int base, boolean emit, float[] total,
                                  int totalAt) {
        Segments sg = call.segments();
        int f = o.features(), width = o.decay().width(f);
        if (total != null) {
            Arrays.fill(total, totalAt, totalAt + Math.max(1, width), 1f);
        }
        if (emit && from == 0) {
            for (int j = 0; j < sg.queryLength(seq) && sg.positionOf(seq, j) < 0; j++) {
                emitRow(ops, call, o, seq, g, j, state, base);
            }
        }
        for (int a = from; a < to; a += chunk) {
            chunkStep(ops, call, o, seq, g, a, Math.min(to, a + chunk), state, base, emit, total, totalAt);
        }
    }

    /** One chunk {@code [a, b)}: outputs of its queries from the state before it, then the state after it. */
    private static void chunkStep(VectorOps ops, RecurrentMechanism.Call call, Operands o, int seq, int g, int a,
                                  int b, float[] state, int base, boolean emit, float[] total, int totalAt) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        Scratch scratch = Scratch.get();
        int n = b - a, f = o.features(), dv = p.valueDim(), width = o.decay().width(f), w = Math.max(1, width);
        HeadView kv = o.k(), vv = o.v();
        int kRow0 = keyAt(kv, sg, seq, a, o.kvOf(p, g)), vRow0 = keyAt(vv, sg, seq, a, o.kvOf(p, g));
        int kStride = kv.strideSeq(), vStride = vv.strideSeq();

        // decays a_t and prefix products P_t = Π_{a ≤ u ≤ t} a_u (per feature or shared)
        float[] decay = null, prefix = null;
        boolean factored = true;
        if (width > 0) {
            decay = scratch.floats(S_DECAY, n * w);
            prefix = scratch.floats(S_PREFIX, n * w);
            logDecays(o, call, seq, g, a, n, decay);
            ops.expShiftSum(decay, 0, n * w, 0f); // a = e^{log a}, log a <= 0
            System.arraycopy(decay, 0, prefix, 0, w);
            for (int t = 1; t < n; t++) {
                for (int i = 0; i < w; i++) {
                    prefix[t * w + i] = prefix[(t - 1) * w + i] * decay[t * w + i];
                }
            }
            for (int i = 0; i < w; i++) {
                factored &= prefix[(n - 1) * w + i] >= FACTOR_FLOOR;
            }
            factored &= width > 1; // shared decays always use running products: C² multiplications
        }

        if (emit) {
            int off = sg.keyLength(seq) - sg.queryLength(seq);
            int j0 = Math.max(0, a - off), j1 = Math.min(sg.queryLength(seq), b - off);
            if (j0 < j1) {
                float[] kHat = null;
                if (width > 1 && factored) {
                    // k̂_s = k_s / P_s: every factor below 1/FACTOR_FLOOR
                    kHat = scratch.floats(S_K, n * f);
                    for (int t = 0; t < n; t++) {
                        for (int i = 0; i < f; i++) {
                            kHat[t * f + i] = kv.data()[kRow0 + t * kStride + i] / prefix[t * w + i];
                        }
                    }
                }
                for (int h = o.firstQuery(p, g); h < o.firstQuery(p, g) + o.queriesPerState(p); h++) {
                    emitChunk(ops, call, o, seq, g, h, a, n, j0, j1, off, state, base, decay, prefix, kHat, factored);
                }
            }
        }

        // state: S ← diag(P_end) S + (K ⊙ R)ᵀ V with suffix products R_s = Π_{s < u < b} a_u = P_end / P_s
        float[] suffix = null;
        if (width > 0) {
            suffix = scratch.floats(S_RUN, n * w);
            Arrays.fill(suffix, (n - 1) * w, n * w, 1f);
            for (int t = n - 2; t >= 0; t--) {
                for (int x = 0; x < w; x++) {
                    suffix[t * w + x] = suffix[(t + 1) * w + x] * decay[(t + 1) * w + x];
                }
            }
        }
        float[] kt = scratch.floats(S_KT, f * n);
        for (int t = 0; t < n; t++) {
            int kr = kRow0 + t * kStride;
            for (int i = 0; i < f; i++) {
                float r = width == 0 ? 1f : suffix[t * w + (width == 1 ? 0 : i)];
                kt[i * n + t] = kv.data()[kr + i] * r;
            }
        }
        if (width > 0) {
            for (int i = 0; i < f; i++) {
                float end = prefix[(n - 1) * w + (width == 1 ? 0 : i)];
                if (end != 1f) {
                    ops.scale(state, base + i * dv, dv, end);
                    if (o.normalise()) {
                        state[base + f * dv + i] *= end;
                    }
                }
            }
            if (total != null) {
                for (int i = 0; i < w; i++) {
                    total[totalAt + i] *= prefix[(n - 1) * w + i];
                }
            }
        }
        ops.accumulateRows(kt, 0, n, f, n, vv.data(), vRow0, vStride, dv, state, base, dv);
        if (o.normalise()) {
            for (int i = 0; i < f; i++) {
                float sum = 0f;
                for (int t = 0; t < n; t++) {
                    sum += kt[i * n + t];
                }
                state[base + f * dv + i] += sum;
            }
        }
    }

    /** The outputs of query head h's rows {@code [j0, j1)}, placed in chunk {@code [a, a + n)}. */
    private static void emitChunk(VectorOps ops, RecurrentMechanism.Call call, Operands o, int seq, int g, int h,
                                  int a, int n, int j0, int j1, int off, float[] state, int base, float[] decay,
                                  float[] prefix, float[] kHat, boolean factored) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        Scratch scratch = Scratch.get();
        int rows = j1 - j0, f = o.features(), dv = p.valueDim(), width = o.decay().width(f), w = Math.max(1, width);
        HeadView qv = o.q(), kv = o.k(), vv = o.v();
        int kRow0 = keyAt(kv, sg, seq, a, o.kvOf(p, g)), vRow0 = keyAt(vv, sg, seq, a, o.kvOf(p, g));

        // Q rows, scaled (and for per-feature decays, multiplied by P_t when factored)
        float[] q = scratch.floats(S_Q, rows * f);
        for (int r = 0; r < rows; r++) {
            int qr = queryAt(o, sg, seq, j0 + r, h), t = j0 + r + off - a;
            for (int i = 0; i < f; i++) {
                float x = o.queryScale() * qv.data()[qr + i];
                q[r * f + i] = width > 1 && factored ? x * prefix[t * w + i] : x;
            }
        }
        // intra-chunk scores A[r][s] for s ≤ t_r, 0 above the diagonal
        float[] score = scratch.floats(S_A, rows * n);
        if (width > 1 && !factored) {
            directScores(q, rows, f, kv.data(), kRow0, kv.strideSeq(), n, decay, w, j0 + off - a, score);
        } else {
            float[] keys = width > 1 ? kHat : kv.data();
            int k0 = width > 1 ? 0 : kRow0, ks = width > 1 ? f : kv.strideSeq();
            ops.scoresRows(q, 0, f, rows, keys, k0, ks, n, f, score, 0, n);
            for (int r = 0; r < rows; r++) {
                int t = j0 + r + off - a;
                Arrays.fill(score, r * n + t + 1, r * n + n, 0f);
                if (width == 1) {
                    // scalar decays: A_ts · Π_{s<u≤t} a_u, built back from the diagonal
                    float factor = 1f;
                    for (int s = t; s >= 0; s--) {
                        score[r * n + s] *= factor;
                        factor *= decay[s];
                    }
                }
            }
        }
        // inter-chunk: rows read the state through q ⊙ P_t
        if (width == 1) {
            for (int r = 0; r < rows; r++) {
                ops.scale(q, r * f, f, prefix[j0 + r + off - a]);
            }
        } else if (width > 1 && !factored) {
            for (int r = 0; r < rows; r++) {
                int t = j0 + r + off - a;
                for (int i = 0; i < f; i++) {
                    q[r * f + i] *= prefix[t * w + i];
                }
            }
        }
        float[] acc = scratch.floats(S_O, rows * dv);
        Arrays.fill(acc, 0, rows * dv, 0f);
        ops.accumulateRows(q, 0, f, rows, f, state, base, dv, dv, acc, 0, dv);
        ops.accumulateRows(score, 0, n, rows, n, vv.data(), vRow0, vv.strideSeq(), dv, acc, 0, dv);
        float[] out = p.out().data();
        for (int r = 0; r < rows; r++) {
            int or = outAt(p, sg, seq, j0 + r, h);
            float scaleOut = 1f;
            if (o.normalise()) {
                float den = ops.dot(q, r * f, state, base + f * dv, f);
                for (int s = 0; s < n; s++) {
                    den += score[r * n + s];
                }
                scaleOut = 1f / (den + o.epsilon());
            }
            for (int c = 0; c < dv; c++) {
                out[or + c] = acc[r * dv + c] * scaleOut;
            }
        }
    }

    /**
     * Intra-chunk scores under strong per-feature decay: {@code A_ts = Σ_i q_ti k_si Π_{s<u≤t} a_ui}, the
     * products built from the diagonal back so that nothing is ever divided.
     */
    private static void directScores(float[] q, int rows, int f, float[] k, int k0, int kStride, int n,
                                     float[] decay, int w, int firstT, float[] score) {
        float[] factor = new float[f];
        for (int r = 0; r < rows; r++) {
            int t = firstT + r;
            Arrays.fill(score, r * n, r * n + n, 0f);
            Arrays.fill(factor, 1f);
            for (int s = t; s >= 0; s--) {
                float sum = 0f;
                int kr = k0 + s * kStride;
                for (int i = 0; i < f; i++) {
                    sum += q[r * f + i] * k[kr + i] * factor[i];
                    factor[i] *= decay[s * w + i];
                }
                score[r * n + s] = sum;
            }
        }
    }

    // ------------------------------------------------------------------------------------------ noncausal

    /** Noncausal: S = S₀ + K̃ᵀV over all keys in chunks, then every query reads it. */
    private static void noncausal(Engine engine, RecurrentMechanism.Call call, Operands o, int chunk) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int kvHeads = o.stateHeads(p), size = call.state().size();
        engine.parallelFor(sg.sequences() * kvHeads, task -> {
            int seq = task / kvHeads, g = task % kvHeads;
            float[] state = call.state().data();
            int base = call.state().offset(seq, g);
            System.arraycopy(call.initial().data(), call.initial().offset(seq, g), state, base, size);
            for (int a = 0; a < sg.keyLength(seq); a += chunk) {
                chunkStep(engine.ops(), call, o, seq, g, a, Math.min(sg.keyLength(seq), a + chunk), state, base,
                        false, null, 0);
            }
            for (int j = 0; j < sg.queryLength(seq); j++) {
                emitRow(engine.ops(), call, o, seq, g, j, state, base);
            }
        });
    }
}
