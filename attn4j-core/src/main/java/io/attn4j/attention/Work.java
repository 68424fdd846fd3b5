package io.attn4j.attention;

import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;

import java.util.Objects;

/**
 * The work one attention call does, counted the way its mechanism does it, so that a time becomes a share of the
 * machine's limits without crediting a mechanism with work it skipped: {@link AttentionMechanism#work}.
 *
 * <ul>
 *   <li><b>Exact</b> mechanisms: {@code 2·(D + Dv)} FLOPs per visible (query, key) pair per query head (LongCA-bench's
 *       mask-area rule: causal counts about half, a window about {@code n·w}).</li>
 *   <li><b>Sparse</b> mechanisms: the same per pair they kept ({@code SparseAttention.keptKeys}), and what choosing
 *       them cost (pooled scores, hashing, clustering) apart, in {@link #selectionFlops}.</li>
 *   <li><b>Linear and recurrent</b> forms: their own formula in the feature size, state size and chunk length of the
 *       form that runs (written on each mechanism).</li>
 * </ul>
 * Bytes are the least traffic a kernel must cause: Q read and the output written once, and K and V of every key
 * the call reads, once per KV head (a GQA group shares its KV head's rows), plus any state read and written.
 * Element-wise work (exponentials, normalisation, masks) is not counted in any figure, as in every FLOP count of
 * attention in the literature; FLOPs count a fused multiply-add as two.
 *
 * @param flops          FLOPs of the attention itself
 * @param selectionFlops FLOPs spent choosing what to attend to (0 for exact and static patterns)
 * @param bytes          bytes the call must read and write at least
 * @param rule           how the figures were counted, in words (for reports)
 */
public record Work(double flops, double selectionFlops, double bytes, String rule) {

    /** Rows of each (batch, head) at most that {@link #ofKept} tests exhaustively before it samples. */
    static final long EXHAUSTIVE_TESTS = 1L << 25;
    /** Query rows per (batch, head) that {@link #ofKept} samples at least when it cannot test every row. */
    static final int MIN_SAMPLED_ROWS = 64;

    public Work {
        if (!(flops >= 0) || !(selectionFlops >= 0) || !(bytes >= 0) || !Double.isFinite(flops + selectionFlops + bytes)) {
            throw new IllegalArgumentException("work: flops " + flops + ", selection " + selectionFlops + ", bytes "
                    + bytes + "; allowed: finite values >= 0");
        }
        Objects.requireNonNull(rule, "rule");
    }

    /** FLOPs of the attention and of the selection together: what the machine executed. */
    public double totalFlops() {
        return flops + selectionFlops;
    }

    /** This work with {@code more} selection FLOPs, and the rule saying what they are. */
    public Work withSelection(double more, String what) {
        return new Work(flops, selectionFlops + more, bytes, rule + "; selection: " + what);
    }

    /**
     * The sizes of a call, read from its operands without resolving it (no output is allocated).
     *
     * @param batch       B
     * @param queryLength Lq
     * @param keyLength   Lk
     * @param heads       Hq
     * @param kvHeads     Hkv
     * @param headDim     D
     * @param valueDim    Dv
     */
    public record Shape(int batch, int queryLength, int keyLength, int heads, int kvHeads, int headDim,
                        int valueDim) {

        /** The sizes of {@code q}, {@code k}, {@code v} in {@code spec}'s layout. */
        public static Shape of(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
            Objects.requireNonNull(spec, "spec");
            Layout l = spec.layout();
            for (Tensor t : new Tensor[] {q, k, v}) {
                Objects.requireNonNull(t, "operand");
                if (t.rank() != 4) {
                    throw new IllegalArgumentException("operands must have rank 4 ([B, L, H, D] in " + l + "); got "
                            + t);
                }
            }
            return new Shape(q.size(l.batchAxis()), q.size(l.seqAxis()), k.size(l.seqAxis()), q.size(l.headAxis()),
                    k.size(l.headAxis()), q.size(l.dimAxis()), v.size(l.dimAxis()));
        }

        /** The sizes of a resolved call. */
        public static Shape of(AttentionProblem p) {
            return new Shape(p.batch(), p.queryLength(), p.keyLength(), p.heads(), p.kvHeads(), p.headDim(),
                    p.valueDim());
        }

        /** Query heads per KV head. */
        public int group() {
            return heads / kvHeads;
        }

        /** Bytes of Q read and the output written once. */
        double queryAndOutputBytes() {
            return 4.0 * batch * queryLength * heads * (headDim + valueDim);
        }

        /** Bytes of K and V of {@code keys} rows in all (batch, KV head) pairs together. */
        double keyValueBytes(double keys) {
            return 4.0 * keys * (headDim + valueDim);
        }
    }

    /**
     * The work of exact attention under {@code spec}'s mask and causality: FLOPs on the mask's area, bytes of the
     * keys any query sees.
     */
    public static Work dense(Shape s, AttentionSpec spec) {
        MaskMod mask = spec.boundMask(s.queryLength(), s.keyLength());
        int lq = s.queryLength(), lk = s.keyLength();
        double pairs = 0, keys = 0;
        if (mask == null) {
            pairs = (double) lq * lk * s.batch() * s.heads();
            keys = (double) lk * s.batch() * s.kvHeads();
        } else if (!mask.dependsOnBatchOrHead()) {
            int[] cover = new int[lk + 1];
            pairs = visible(mask, 0, 0, lq, lk, cover) * (double) s.batch() * s.heads();
            keys = covered(cover) * (double) s.batch() * s.kvHeads();
        } else {
            for (int b = 0; b < s.batch(); b++) {
                for (int kvh = 0; kvh < s.kvHeads(); kvh++) {
                    // a KV head's rows are read once for its group: the union of what its query heads see
                    int[] cover = new int[lk + 1];
                    for (int h = kvh * s.group(); h < (kvh + 1) * s.group(); h++) {
                        pairs += visible(mask, b, h, lq, lk, cover);
                    }
                    keys += covered(cover);
                }
            }
        }
        return new Work(2.0 * (s.headDim() + s.valueDim()) * pairs, 0,
                s.queryAndOutputBytes() + s.keyValueBytes(keys), "mask area");
    }

    /**
     * The visible pairs of one (batch, head), marking the keys they read in {@code cover}: a difference array
     * ({@code cover[k]++} where a run of visible keys starts, {@code cover[k]--} one past its end).
     */
    private static long visible(MaskMod mask, int b, int h, int lq, int lk, int[] cover) {
        long area = 0;
        if (mask instanceof IntervalMask interval) {
            for (int q = 0; q < lq; q++) {
                int f = Math.max(0, interval.keyFrom(b, h, q)), t = Math.min(lk, interval.keyTo(b, h, q));
                if (f < t) {
                    area += t - f;
                    cover[f]++;
                    cover[t]--;
                }
            }
            return area;
        }
        boolean[] seen = new boolean[lk];
        for (int q = 0; q < lq; q++) {
            for (int k = 0; k < lk; k++) {
                if (mask.test(b, h, q, k)) {
                    area++;
                    seen[k] = true;
                }
            }
        }
        for (int k = 0; k < lk; k++) {
            if (seen[k]) {
                cover[k]++;
                cover[k + 1]--;
            }
        }
        return area;
    }

    /** The keys a difference array covers. */
    private static long covered(int[] cover) {
        long keys = 0;
        for (int k = 0, depth = 0; k < cover.length - 1; k++) {
            depth += cover[k];
            keys += depth > 0 ? 1 : 0;
        }
        return keys;
    }

    /**
     * Which keys a query attends to, as a predicate over (batch, query head, query, key): what a sparse mechanism
     * kept, for {@link #ofKept}.
     */
    @FunctionalInterface
    public interface Kept {
        boolean kept(int batch, int head, int query, int key);
    }

    /**
     * The work of exact attention on the pairs {@code kept} holds: FLOPs {@code 2·(D + Dv)} per kept pair, bytes of
     * the keys kept by at least one query of a KV head's group. Every row is tested when that takes at most
     * 2<sup>25</sup> tests; otherwise at least {@value #MIN_SAMPLED_ROWS} evenly spaced rows per (batch, head) are
     * (the middle row of each stratum), the pair count is scaled up to all rows and the keys read are those of
     * the sampled rows (a lower bound), which the rule says.
     */
    public static Work ofKept(Shape s, Kept kept) {
        return ofKept(s, kept, EXHAUSTIVE_TESTS);
    }

    /** {@link #ofKept(Shape, Kept)} testing every row up to {@code exhaustiveTests} tests. */
    static Work ofKept(Shape s, Kept kept, long exhaustiveTests) {
        int lq = s.queryLength(), lk = s.keyLength();
        long everyTest = (long) s.batch() * s.heads() * lq * lk;
        int rows = everyTest <= exhaustiveTests ? lq : (int) Math.min(lq, Math.max(MIN_SAMPLED_ROWS,
                exhaustiveTests / ((long) s.batch() * s.heads() * lk)));
        double pairs = 0, keys = 0;
        boolean[] read = new boolean[lk];
        for (int b = 0; b < s.batch(); b++) {
            for (int kvh = 0; kvh < s.kvHeads(); kvh++) {
                java.util.Arrays.fill(read, false);
                for (int h = kvh * s.group(); h < (kvh + 1) * s.group(); h++) {
                    long rowPairs = 0;
                    for (int r = 0; r < rows; r++) {
                        // row r of `rows` strata: the middle of stratum r (every row when rows == lq)
                        int q = rows == lq ? r : (int) (((2L * r + 1) * lq) / (2L * rows));
                        for (int k = 0; k < lk; k++) {
                            if (kept.kept(b, h, q, k)) {
                                rowPairs++;
                                read[k] = true;
                            }
                        }
                    }
                    pairs += rows == lq ? rowPairs : (double) rowPairs * lq / rows;
                }
                for (boolean r : read) {
                    keys += r ? 1 : 0;
                }
            }
        }
        String rule = rows == lq ? "kept pairs" : "kept pairs of " + rows + " evenly spaced query rows per head, "
                + "scaled to all " + lq + " (keys read: those rows' keys, a lower bound)";
        return new Work(2.0 * (s.headDim() + s.valueDim()) * pairs, 0,
                s.queryAndOutputBytes() + s.keyValueBytes(keys), rule);
    }

    /**
     * The work of a formula: {@code flops} and {@code bytes} as the mechanism states them for its algorithm, with
     * the formula in words.
     */
    public static Work formula(double flops, double bytes, String rule) {
        return new Work(flops, 0, bytes, "formula: " + rule);
    }
}
