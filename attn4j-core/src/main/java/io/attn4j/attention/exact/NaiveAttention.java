package io.attn4j.attention.exact;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.ScoreMod;
import io.attn4j.attention.UnsupportedInputException;
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
 * {@code max}, {@code exp(s − max)} and its sum, then {@code o = Σ_j p_j v_j} by SIMD {@code axpy}. Work is split
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
    private static final int SLOT_SCORES = 0;

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
        if (!spec.observers().isEmpty()) {
            throw new UnsupportedInputException("naive computes no observers (asked for " + spec.observers()
                    + "); use flash or reference");
        }
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
        float[] s = Scratch.get().floats(SLOT_SCORES, lk);
        float[] qd = p.q().data(), kd = p.k().data(), vd = p.v().data();
        int qRow = p.q().at(b, i, h);
        for (int j = from; j < to; j++) {
            s[j] = p.scale() * ops.dot(qd, qRow, kd, p.k().at(b, j, kvh), d);
        }
        ScoreMod scoreMod = p.scoreMod();
        if (scoreMod != null) {
            scoreMod.applyTile(s, from, 0, 1, b, h, i, 1, from, n, ops);
        }
        if (mask != null && !(mask instanceof IntervalMask)) {
            for (int j = from; j < to; j++) {
                if (!mask.test(b, h, i, j)) {
                    s[j] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        float max = ops.max(s, from, n);
        if (max == Float.NEGATIVE_INFINITY) {
            return Float.NEGATIVE_INFINITY;
        }
        float sum = ops.expShiftSum(s, from, n, max);
        float inverse = 1f / sum;
        for (int j = from; j < to; j++) {
            if (s[j] != 0f) {
                ops.axpy(s[j] * inverse, vd, p.v().at(b, j, kvh), od, outRow, dv);
            }
        }
        return max + (float) Math.log(sum);
    }
}
