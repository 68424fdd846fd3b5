package io.attn4j.kv;

import io.attn4j.runtime.Scratch;
import io.attn4j.simd.VectorOps;

import java.util.Arrays;

/**
 * The attention observed queries paid to each cached row of one KV head — what H2O accumulates and what SnapKV's
 * observation window votes with. For KV head {@code kvh} of a sequence, row {@code j}:
 * <pre>
 *   A[j] = (1/G) Σ_{g < G} Σ_i w_i · softmax_j(scale · q_{i, kvh·G+g} · k_j + log m_j)     over visible rows
 * </pre>
 * where query {@code i} (at position {@code firstPosition + i}) sees the rows at positions {@code <=} its own, and
 * {@code w_i} is a per-query weight (1, or A2SF's {@code α^(n−1−i)}). GQA groups are averaged, never expanded.
 *
 * <p><b>Algorithm.</b> Two passes per block of queries: the first computes every query's log-sum-exp online, the
 * second recomputes the logits and adds the normalised weights to the row sums; blocks run in parallel, each with
 * its own sums over a fixed split of the blocks (16 tasks), added in task order: the result does not depend on the
 * thread count. Time O(n_q · n · G · D) for n_q queries and n rows; memory 16 · n floats.
 */
public final class ObservedAttention {
    private static final int S_QUERIES = 0, S_SCORES = 1, S_MAX = 2, S_SUM = 3, S_KEYS = 4;
    private static final int BLOCK_QUERIES = 16, TILE = 128, TASKS = 16;

    private ObservedAttention() {
    }

    /** Per-row attention of all observed queries of {@code head} (weights 1). */
    public static float[] of(KvCache cache, int seq, int head, Observation obs) {
        return of(cache, seq, head, obs, null);
    }

    /**
     * Per-row attention of the observed queries, query {@code i} weighted by {@code queryWeights[i]} (null: 1),
     * averaged over the group's query heads.
     */
    public static float[] of(KvCache cache, int seq, int head, Observation obs, double[] queryWeights) {
        int n = cache.length(seq, head), count = obs.count();
        int group = obs.queryHeads() / cache.kvHeads();
        if (queryWeights != null && queryWeights.length != count) {
            throw new IllegalArgumentException("queryWeights has " + queryWeights.length + " entries for " + count
                    + " queries");
        }
        float[] qData = obs.queries().isContiguous() && obs.queries().isHeap() ? null : obs.queries().toArray();
        float[] queries = qData != null ? qData : obs.queries().array();
        int qBase = qData != null ? 0 : obs.queries().arrayOffset();
        KvCache.Stream stream = cache.stream(seq, head);
        int blocks = (count + BLOCK_QUERIES - 1) / BLOCK_QUERIES, tasks = Math.min(blocks, TASKS);
        float[][] partial = new float[tasks][];
        obs.engine().parallelFor(tasks, task -> {
            float[] acc = new float[n];
            for (int block = blocks * task / tasks; block < blocks * (task + 1) / tasks; block++) {
                block(cache, stream, head, obs, queryWeights, queries, qBase, block, group, acc);
            }
            partial[task] = acc;
        });
        float[] out = new float[n];
        for (int j = 0; j < n; j++) {
            double total = 0;
            for (float[] p : partial) {
                total += p[j];
            }
            out[j] = (float) total;
        }
        return out;
    }

    /** Adds the weights of one block of queries to {@code acc}. */
    private static void block(KvCache cache, KvCache.Stream stream, int head, Observation obs, double[] queryWeights,
                          float[] queries, int qBase, int block, int group, float[] acc) {
        int count = obs.count(), heads = obs.queryHeads(), d = cache.headDim();
        int i0 = block * BLOCK_QUERIES, i1 = Math.min(count, i0 + BLOCK_QUERIES), rows = (i1 - i0) * group;
        VectorOps ops = obs.engine().ops();
        Scratch scratch = Scratch.get();
        float[] q = scratch.floats(S_QUERIES, rows * d);
        float[] s = scratch.floats(S_SCORES, rows * TILE);
        float[] max = scratch.floats(S_MAX, rows), sum = scratch.floats(S_SUM, rows);
        float[] keyScratch = cache.format().quantized() ? scratch.floats(S_KEYS, TILE * d) : null;
        int[] visible = new int[rows];
        for (int i = i0; i < i1; i++) {
            for (int g = 0; g < group; g++) {
                int r = (i - i0) * group + g, at = qBase + (i * heads + head * group + g) * d;
                for (int c = 0; c < d; c++) {
                    q[r * d + c] = obs.scale() * queries[at + c];
                }
                visible[r] = stream.firstAtOrAfter(obs.firstPosition() + i + 1);
            }
        }
        int end = 0;
        for (int v : visible) {
            end = Math.max(end, v);
        }
        Arrays.fill(max, 0, rows, Float.NEGATIVE_INFINITY);
        Arrays.fill(sum, 0, rows, 0f);
        for (int pass = 0; pass < 2; pass++) {
            for (int k0 = 0; k0 < end; ) {
                int nk = Math.min(TILE, Math.min(end, stream.runEnd(k0)) - k0);
                RowBlock keys = stream.keyBlock(k0);
                int in = stream.inBlock(k0);
                ops.scoresRows(q, 0, d, rows, keys.rows(in, nk, keyScratch, ops), keys.offset(in), d, nk, d, s, 0,
                        TILE);
                float[] logWeights = stream.logWeights();
                for (int r = 0; r < rows; r++) {
                    int row = r * TILE, hi = Math.max(0, Math.min(nk, visible[r] - k0));
                    if (logWeights != null) {
                        ops.axpy(1f, logWeights, k0, s, row, nk);
                    }
                    if (pass == 0) {
                        if (hi == 0) {
                            continue;
                        }
                        float m = Math.max(max[r], ops.max(s, row, hi));
                        sum[r] = sum[r] * (float) Math.exp(max[r] - m) + ops.expShiftSum(s, row, hi, m);
                        max[r] = m;
                    } else {
                        if (hi == 0) {
                            continue;
                        }
                        int i = i0 + r / group;
                        float lse = (float) (max[r] + Math.log(sum[r]));
                        ops.expShiftSum(s, row, hi, lse); // the normalised weights
                        ops.axpy((float) ((queryWeights == null ? 1 : queryWeights[i]) / group), s, row, acc,
                                k0, hi);
                    }
                }
                k0 += nk;
            }
        }
    }
}
