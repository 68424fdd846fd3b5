package io.attn4j.attention.exact;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.ScoreMod;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.runtime.Engine;
import io.attn4j.runtime.Scratch;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;
import java.util.EnumSet;

/**
 * The JVM status quo, and the in-process baseline every speed-up is quoted against: two-pass float32 attention with
 * a full score row per query, as Jlama's {@code CausalSelfAttention} and llama3.java's {@code forward} compute it.
 *
 * <p>For each query: {@code s_j = scale · dot(q, k_j)} with a SIMD dot product for every visible key (the visible
 * range of an interval mask bounds the loop, as a causal loop bound does in those engines), score mod and mask,
 * {@code max}, {@code exp(s − max)} and its sum, then {@code o = Σ_j p_j v_j} as a weighted sum of value rows. Work is split
 * over (batch, head, block of queries) on all threads. It is a fair baseline, not a straw man: same SIMD layer,
 * same threads, no tiling — so its memory traffic is one pass over K and V per query.
 *
 * <p>Time O(B·Hq·Lq·Lk·(D + Dv)); memory O(Lk) per thread (the score row). Returns the log-sum-exp; computes no
 * observers.
 */
public final class NaiveAttention implements AttentionMechanism {
    public static final Mechanism DESCRIPTOR = new Mechanism("naive", Family.EXACT, "naive two-pass attention (Jlama, "
            + "llama3.java)", "the in-process JVM baseline: a full score row per query, softmax, weighted value sum",
            EnumSet.allOf(Pattern.class), Weights.FREE, true, true, false, "O(n^2 d)", "O(n) per thread (score row)",
            MechanismConfig.class, MechanismConfig.NONE, (config, engine) -> new NaiveAttention(engine));

    private static final int ROWS_PER_TASK = 32;
    private static final int SLOT_SCORES = 0, SLOT_QUERY = 1, SLOT_MAX = 2, SLOT_SUM = 3;

    private final Engine engine;

    public NaiveAttention(Engine engine) {
        this.engine = engine;
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        DESCRIPTOR.checkSupports(spec);
        AttentionProblem p = AttentionProblem.of(q, k, v, spec, out);
        int lq = p.queryLength(), heads = p.heads();
        Tensor lse = p.returnLse() ? Tensor.zeros(p.batch(), heads, lq) : null;
        int chunks = (lq + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        engine.parallelFor(p.batch() * heads * chunks, task -> {
            int chunk = task % chunks, bh = task / chunks;
            int b = bh / heads, h = bh % heads;
            int end = Math.min(lq, (chunk + 1) * ROWS_PER_TASK);
            for (int i = chunk * ROWS_PER_TASK; i < end; i++) {
                float rowLse = row(p, b, h, i);
                if (lse != null) {
                    lse.array()[(b * heads + h) * lq + i] = rowLse;
                }
            }
        });
        return p.result(lse, null, null, null);
    }

    /** Computes output row (b, i, h) and returns its log-sum-exp. */
    private float row(AttentionProblem p, int b, int h, int i) {
        VectorOps ops = engine.ops();
        int lk = p.keyLength(), d = p.headDim(), dv = p.valueDim(), kvh = h / p.group();
        MaskMod mask = p.mask();
        int from = 0, to = lk;
        if (mask instanceof IntervalMask interval) {
            from = Math.max(0, interval.keyFrom(b, h, i));
            to = Math.min(lk, interval.keyTo(b, h, i));
        }
        float[] od = p.out().data();
        int outRow = p.out().at(b, i, h);
        Arrays.fill(od, outRow, outRow + dv, 0f);
        if (to <= from) {
            return Float.NEGATIVE_INFINITY;
        }
        int n = to - from;
        Scratch scratch = Scratch.get();
        float[] s = scratch.floats(SLOT_SCORES, n);
        float[] query = scratch.floats(SLOT_QUERY, d);
        float[] max = scratch.floats(SLOT_MAX, 1), sum = scratch.floats(SLOT_SUM, 1);
        int qRow = p.q().at(b, i, h);
        for (int c = 0; c < d; c++) {
            query[c] = p.scale() * p.q().data()[qRow + c];
        }
        // pass 1: the whole score row, s_j = q · k_j for every visible key (a dot product per key)
        ops.scoresRows(query, 0, d, 1, p.k().data(), p.k().at(b, from, kvh), p.k().strideSeq(), n, d, s, 0, n);
        ScoreMod scoreMod = p.scoreMod();
        if (scoreMod != null) {
            scoreMod.applyTile(s, 0, n, 1, b, h, i, 1, from, n, ops);
        }
        if (mask != null && !(mask instanceof IntervalMask)) {
            for (int j = 0; j < n; j++) {
                if (!mask.test(b, h, i, from + j)) {
                    s[j] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        // softmax over the full row: max, exponentials, sum (one step of the online update is the two-pass softmax)
        max[0] = Float.NEGATIVE_INFINITY;
        sum[0] = 0f;
        ops.onlineSoftmaxRows(s, 0, n, 1, n, from, null, null, 0, max, sum, od, 0, 0);
        if (max[0] == Float.NEGATIVE_INFINITY) {
            return Float.NEGATIVE_INFINITY;
        }
        // pass 2: o = Σ_j p_j v_j / Σ_j p_j
        ops.accumulateRows(s, 0, n, 1, n, p.v().data(), p.v().at(b, from, kvh), p.v().strideSeq(), dv, od, outRow, dv);
        float inverse = 1f / sum[0];
        for (int c = 0; c < dv; c++) {
            od[outRow + c] *= inverse;
        }
        return max[0] + (float) Math.log(sum[0]);
    }
}
