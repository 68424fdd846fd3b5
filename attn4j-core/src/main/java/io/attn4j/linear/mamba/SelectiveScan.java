package io.attn4j.linear.mamba;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.linear.Form;
import io.attn4j.linear.RecurrentMechanism.Call;
import io.attn4j.linear.Segments;
import io.attn4j.runtime.Engine;
import io.attn4j.runtime.Scratch;
import io.attn4j.simd.VectorOps;

/**
 * Mamba's selective scan in its three forms, for a validated call whose queries are C ({@code [B, Lq, Hq, N]}), keys
 * B ({@code [B, Lk, Hkv, N]}) and values x ({@code [B, Lk, Hkv, Dv]}):
 * <pre>
 *   h_t[c, n] = exp(Δ_t[c]·A[c, n]) · h_{t−1}[c, n] + Δ_t[c] · B_t[n] · x_t[c]
 *   y_t[c]    = Σ_n C_t[n] · h_t[c, n] + D[c] · x_t[c]
 * </pre>
 * The state of (sequence, KV head) is {@code h}, {@code Dv × N} row-major by channel: {@code h[c·N + n]}.
 *
 * <p><b>Reference</b>: the recurrence in float64. <b>Recurrent</b>: the same on the float32 state; per token the
 * {@code Dv·N} exponents go through one {@link VectorOps#expShiftSum} (the SIMD exponential), the update is a plain
 * loop over n, and every output channel is a {@link VectorOps#dot} over n. <b>Chunked</b>: the scan is linear in h,
 * so a sequence is cut into parts of whole chunks that run in parallel:
 * <ol>
 *   <li>every part from a zero state (the first from the initial state): its outputs, its end state, and its total
 *       decay {@code exp(A[c, n] · Γ[c])} with {@code Γ[c] = Σ_t Δ_t[c]} a running sum of non-negative numbers;</li>
 *   <li>the part end states combined in order: {@code start_{p+1} = exp(A·Γ_p) ⊙ start_p + end_p};</li>
 *   <li>each later part's outputs corrected by {@code Σ_n C_t[n] · exp(A[c, n]·Γ_t[c]) · start[c, n]}, with
 *       {@code Γ_t} the running sum to t. Once {@code max_n A[c, n] · Γ_t[c] < −87} for a channel the start state's
 *       contribution there is below {@code e^−87 ≈ 1.6e−38} of it and the correction of that channel stops; once
 *       every channel stopped, the part needs no more correction.</li>
 * </ol>
 * Within a chunk the per-element decay {@code exp(Δ_t[c]·A[c, n])} has no matrix form (the intra-chunk kernel
 * {@code Σ_n C_t[n] B_s[n] exp(A[c, n](Γ_t[c] − Γ_s[c]))} depends on the channel, costing C times the scan), so
 * the chunk sets the granularity of the cut and tokens inside a part run as in the recurrent form — the
 * parallel scan of the paper's hardware-aware algorithm, in parts. Every exponent is {@code A·Δ <= 0} or
 * {@code A·Γ <= 0}: nothing overflows.
 *
 * <p>Parts per sequence: {@code min(⌈8 / (sequences·Hkv)⌉, max(1, ⌊longest / 256⌋))}, from the shape alone, so any
 * thread count gives the same bits.
 */
final class SelectiveScan {
    /** Sequences × heads below which a sequence is cut into parts. */
    static final int PARALLEL_TASKS = 8;
    /** Shortest part worth its correction pass, in tokens. */
    static final int MIN_PART = 256;
    /** Exponent below which a start state's contribution is dropped from the correction. */
    static final float NEGLIGIBLE = -87f;

    private static final int S_EXP = 0, S_GAMMA = 1, S_ACTIVE = 2;

    private SelectiveScan() {
    }

    /**
     * The scan's inputs besides the call's C, B and x.
     *
     * @param delta Δ: {@code [B, Lk, Hkv, Dv]}, finite and {@code >= 0}
     * @param a     A per KV head: {@code a[(g·Dv + c)·N + n]}, finite and {@code <= 0}
     * @param skip  D per KV head: {@code skip[g·Dv + c]}
     */
    record Operands(HeadView delta, float[] a, float[] skip) {
    }

    static void run(Engine engine, Call call, Operands o, Form form) {
        switch (form.kind()) {
            case REFERENCE -> reference(engine, call, o);
            case RECURRENT -> recurrent(engine, call, o);
            case CHUNKED -> chunked(engine, call, o, form.chunk());
        }
    }

    private static int outAt(AttentionProblem p, Segments sg, int seq, int j, int h) {
        return p.out().at(sg.batchOf(seq), sg.queryFrom(seq) + j, h);
    }

    private static int queryAt(AttentionProblem p, Segments sg, int seq, int j, int h) {
        return p.q().at(sg.batchOf(seq), sg.queryFrom(seq) + j, h);
    }

    private static int keyAt(HeadView view, Segments sg, int seq, int t, int g) {
        return view.at(sg.batchOf(seq), sg.keyFrom(seq) + t, g);
    }

    // ------------------------------------------------------------------------------------------ reference

    private static void reference(Engine engine, Call call, Operands o) {
        int kvHeads = call.problem().kvHeads();
        engine.parallelFor(call.segments().sequences() * kvHeads,
                task -> referenceTask(call, o, task / kvHeads, task % kvHeads));
    }

    private static void referenceTask(Call call, Operands o, int seq, int g) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int n = p.headDim(), dv = p.valueDim();
        double[] h = new double[dv * n];
        float[] init = call.initial().data();
        int base = call.initial().offset(seq, g);
        for (int i = 0; i < dv * n; i++) {
            h[i] = init[base + i];
        }
        int lq = sg.queryLength(seq), lk = sg.keyLength(seq);
        float[] bd = p.k().data(), xd = p.v().data(), dd = o.delta().data();
        int j = 0;
        for (; j < lq && sg.positionOf(seq, j) < 0; j++) {
            referenceEmit(call, o, seq, g, j, -1, h);
        }
        for (int t = 0; t < lk; t++) {
            int br = keyAt(p.k(), sg, seq, t, g), xr = keyAt(p.v(), sg, seq, t, g), dr = keyAt(o.delta(), sg, seq, t, g);
            for (int c = 0; c < dv; c++) {
                double delta = dd[dr + c], u = delta * xd[xr + c];
                int ar = (g * dv + c) * n;
                for (int i = 0; i < n; i++) {
                    h[c * n + i] = Math.exp(delta * o.a()[ar + i]) * h[c * n + i] + u * bd[br + i];
                }
            }
            for (; j < lq && sg.positionOf(seq, j) == t; j++) {
                referenceEmit(call, o, seq, g, j, t, h);
            }
        }
        float[] state = call.state().data();
        int out = call.state().offset(seq, g);
        for (int i = 0; i < dv * n; i++) {
            state[out + i] = (float) h[i];
        }
    }

    /** Query row j of every query head of group g, placed at key position t (−1: before the first key). */
    private static void referenceEmit(Call call, Operands o, int seq, int g, int j, int t, double[] h) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int n = p.headDim(), dv = p.valueDim();
        float[] cd = p.q().data(), xd = p.v().data(), out = p.out().data();
        int xr = t < 0 ? -1 : keyAt(p.v(), sg, seq, t, g);
        for (int hq = g * p.group(); hq < (g + 1) * p.group(); hq++) {
            int cr = queryAt(p, sg, seq, j, hq), or = outAt(p, sg, seq, j, hq);
            for (int c = 0; c < dv; c++) {
                double y = t < 0 ? 0 : (double) o.skip()[g * dv + c] * xd[xr + c];
                for (int i = 0; i < n; i++) {
                    y += (double) cd[cr + i] * h[c * n + i];
                }
                out[or + c] = (float) y;
            }
        }
    }

    // ------------------------------------------------------------------------------------------ recurrent

    private static void recurrent(Engine engine, Call call, Operands o) {
        Segments sg = call.segments();
        int kvHeads = call.problem().kvHeads();
        engine.parallelFor(sg.sequences() * kvHeads, task -> {
            int seq = task / kvHeads, g = task % kvHeads;
            float[] state = call.state().data();
            int base = call.state().offset(seq, g);
            System.arraycopy(call.initial().data(), call.initial().offset(seq, g), state, base, call.state().size());
            scanRange(engine.ops(), call, o, seq, g, 0, sg.keyLength(seq), true, state, base, null, 0);
        });
    }

    /**
     * Keys {@code [from, to)} of a sequence token by token on the float32 state at {@code state[base]}, writing the
     * outputs of the queries placed there (for the {@code first} range, also those placed before the first key); with
     * {@code gamma}, also adds {@code Σ_t Δ_t[c]} over the range to {@code gamma[gammaAt + c]}.
     */
    private static void scanRange(VectorOps ops, Call call, Operands o, int seq, int g, int from, int to,
                                  boolean first, float[] state, int base, double[] gamma, int gammaAt) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int n = p.headDim(), dv = p.valueDim(), lq = sg.queryLength(seq), off = sg.keyLength(seq) - lq;
        float[] bd = p.k().data(), xd = p.v().data(), dd = o.delta().data(), a = o.a();
        float[] decay = Scratch.get().floats(S_EXP, dv * n);
        int a0 = g * dv * n;
        if (first) {
            for (int j = 0; j < lq && j + off < 0; j++) {
                emit(ops, call, o, seq, g, j, -1, state, base);
            }
        }
        for (int t = from; t < to; t++) {
            int br = keyAt(p.k(), sg, seq, t, g), xr = keyAt(p.v(), sg, seq, t, g), dr = keyAt(o.delta(), sg, seq, t, g);
            // decay[c, n] = exp(Δ_t[c] · A[c, n]), every exponent <= 0
            for (int c = 0; c < dv; c++) {
                float delta = dd[dr + c];
                for (int i = 0; i < n; i++) {
                    decay[c * n + i] = delta * a[a0 + c * n + i];
                }
            }
            ops.expShiftSum(decay, 0, dv * n, 0f);
            for (int c = 0; c < dv; c++) {
                float u = dd[dr + c] * xd[xr + c];
                int row = base + c * n;
                for (int i = 0; i < n; i++) {
                    state[row + i] = decay[c * n + i] * state[row + i] + u * bd[br + i];
                }
            }
            if (gamma != null) {
                for (int c = 0; c < dv; c++) {
                    gamma[gammaAt + c] += dd[dr + c];
                }
            }
            int j = t - off;
            if (j >= 0 && j < lq) {
                emit(ops, call, o, seq, g, j, t, state, base);
            }
        }
    }

    /** Query row j of every query head of group g from the float32 state, placed at key t (−1: before key 0). */
    private static void emit(VectorOps ops, Call call, Operands o, int seq, int g, int j, int t, float[] state,
                             int base) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int n = p.headDim(), dv = p.valueDim();
        float[] cd = p.q().data(), xd = p.v().data(), out = p.out().data(), skip = o.skip();
        int xr = t < 0 ? -1 : keyAt(p.v(), sg, seq, t, g);
        for (int hq = g * p.group(); hq < (g + 1) * p.group(); hq++) {
            int cr = queryAt(p, sg, seq, j, hq), or = outAt(p, sg, seq, j, hq);
            for (int c = 0; c < dv; c++) {
                float y = ops.dot(cd, cr, state, base + c * n, n);
                out[or + c] = t < 0 ? y : y + skip[g * dv + c] * xd[xr + c];
            }
        }
    }

    // ------------------------------------------------------------------------------------------ chunked

    /** The number of parts each sequence of this call is cut into: from the shape alone. */
    static int parts(Segments sg, int kvHeads) {
        int pairs = sg.sequences() * kvHeads, longest = 0;
        for (int seq = 0; seq < sg.sequences(); seq++) {
            longest = Math.max(longest, sg.keyLength(seq));
        }
        return Math.max(1, Math.min((PARALLEL_TASKS + pairs - 1) / pairs, longest / MIN_PART));
    }

    /** Key range {@code [from, to)} of a part: whole chunks, split as evenly as possible. */
    private static int[] partRange(int length, int chunk, int parts, int part) {
        int chunks = (length + chunk - 1) / chunk;
        int per = (chunks + parts - 1) / parts;
        int from = Math.min(length, part * per * chunk), to = Math.min(length, (part + 1) * per * chunk);
        return new int[] {from, to};
    }

    private static void chunked(Engine engine, Call call, Operands o, int chunk) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int kvHeads = p.kvHeads(), pairs = sg.sequences() * kvHeads, size = call.state().size();
        int parts = parts(sg, kvHeads);
        if (parts == 1) {
            recurrent(engine, call, o);
            return;
        }
        int n = p.headDim(), dv = p.valueDim();
        // ends[pair, part]: the part's end state from its own start (the first part's: from the initial state)
        float[] ends = new float[pairs * parts * size];
        double[] gammas = new double[pairs * parts * dv];
        // 1. every part in parallel: the first from the initial state, the others from zero
        engine.parallelFor(pairs * parts, task -> {
            int pair = task / parts, part = task % parts, seq = pair / kvHeads, g = pair % kvHeads;
            int[] range = partRange(sg.keyLength(seq), chunk, parts, part);
            if (part == 0) {
                System.arraycopy(call.initial().data(), call.initial().offset(seq, g), ends, task * size, size);
            }
            scanRange(engine.ops(), call, o, seq, g, range[0], range[1], part == 0, ends, task * size, gammas,
                    task * dv);
        });
        // 2. in order per (sequence, head): start_{p+1} = exp(A·Γ_p) ⊙ start_p + end_p, kept in place of end_p
        engine.parallelFor(pairs, pair -> {
            int g = pair % kvHeads;
            float[] decay = Scratch.get().floats(S_EXP, dv * n);
            for (int part = 1; part < parts; part++) {
                int prev = (pair * parts + part - 1) * size, cur = (pair * parts + part) * size;
                int gp = (pair * parts + part) * dv;
                fillDecay(o.a(), g, dv, n, gammas, gp, decay);
                for (int x = 0; x < size; x++) {
                    ends[cur + x] = decay[x] * ends[prev + x] + ends[cur + x];
                }
            }
            int seq = pair / kvHeads;
            System.arraycopy(ends, (pair * parts + parts - 1) * size, call.state().data(),
                    call.state().offset(seq, g), size);
        });
        // 3. every later part's outputs corrected by what its start state contributes
        engine.parallelFor(pairs * (parts - 1), task -> {
            int pair = task / (parts - 1), part = task % (parts - 1) + 1, seq = pair / kvHeads, g = pair % kvHeads;
            int[] range = partRange(sg.keyLength(seq), chunk, parts, part);
            correct(engine.ops(), call, o, seq, g, range[0], range[1], ends, (pair * parts + part - 1) * size);
        });
    }

    /** decay[c·N + n] = exp(A[c, n] · Γ[c]) for KV head g. */
    private static void fillDecay(float[] a, int g, int dv, int n, double[] gammas, int gammaAt, float[] decay) {
        for (int c = 0; c < dv; c++) {
            float gamma = (float) gammas[gammaAt + c];
            int ar = (g * dv + c) * n;
            for (int i = 0; i < n; i++) {
                decay[c * n + i] = a[ar + i] * gamma;
            }
        }
        for (int x = 0; x < dv * n; x++) {
            decay[x] = (float) Math.exp(decay[x]);
        }
    }

    /**
     * Adds {@code Σ_n C_t[n] · exp(A[c, n] · Γ_t[c]) · start[c, n]} to the outputs of the queries placed in keys
     * {@code [from, to)}, {@code Γ_t[c] = Σ_{from ≤ u ≤ t} Δ_u[c]}, stopping channels whose contribution has
     * decayed below {@code e^}{@value #NEGLIGIBLE}.
     */
    private static void correct(VectorOps ops, Call call, Operands o, int seq, int g, int from, int to,
                                float[] start, int startAt) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        Scratch scratch = Scratch.get();
        int n = p.headDim(), dv = p.valueDim(), lq = sg.queryLength(seq), off = sg.keyLength(seq) - lq;
        float[] dd = o.delta().data(), a = o.a(), cd = p.q().data(), out = p.out().data();
        float[] weighted = scratch.floats(S_EXP, dv * n);
        float[] gamma = scratch.floats(S_GAMMA, dv);
        int[] active = scratch.ints(S_ACTIVE, dv);
        double[] sum = new double[dv];
        float[] closest = new float[dv]; // max_n A[c, n], the slowest decay of channel c
        int count = dv;
        for (int c = 0; c < dv; c++) {
            active[c] = c;
            float m = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                m = Math.max(m, a[(g * dv + c) * n + i]);
            }
            closest[c] = m;
        }
        for (int t = from; t < to && count > 0; t++) {
            int dr = keyAt(o.delta(), sg, seq, t, g);
            int kept = 0;
            for (int k = 0; k < count; k++) {
                int c = active[k];
                sum[c] += dd[dr + c];
                gamma[c] = (float) sum[c];
                if (closest[c] * gamma[c] >= NEGLIGIBLE) {
                    active[kept++] = c;
                }
            }
            count = kept;
            int j = t - off;
            if (j < 0 || j >= lq || count == 0) {
                continue;
            }
            // weighted[k, n] = exp(A[c, n] · Γ_t[c]) · start[c, n] for the active channels c = active[k]
            for (int k = 0; k < count; k++) {
                int c = active[k], ar = (g * dv + c) * n;
                for (int i = 0; i < n; i++) {
                    weighted[k * n + i] = a[ar + i] * gamma[c];
                }
            }
            ops.expShiftSum(weighted, 0, count * n, 0f);
            for (int k = 0; k < count; k++) {
                int row = startAt + active[k] * n;
                for (int i = 0; i < n; i++) {
                    weighted[k * n + i] *= start[row + i];
                }
            }
            for (int hq = g * p.group(); hq < (g + 1) * p.group(); hq++) {
                int cr = queryAt(p, sg, seq, j, hq), or = outAt(p, sg, seq, j, hq);
                for (int k = 0; k < count; k++) {
                    out[or + active[k]] += ops.dot(cd, cr, weighted, k * n, n);
                }
            }
        }
    }
}
