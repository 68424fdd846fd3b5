package io.attn4j.attention.exact;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.PartialState;
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
 * Exact decode attention with the key range split evenly over cores: Lean Attention (Sanovar, Bharadwaj, St. Amant,
 * Rühle, Rajmohan: "Lean Attention: Hardware-Aware Scalable Attention Mechanism for the Decode-Phase of
 * Transformers", 2024, arXiv:2405.10480).
 *
 * <p><b>Algorithm.</b> Decode is memory-bound: each new token's queries read the whole cache once. The work of a
 * call is the concatenation, over every batch row, of that row's visible key range; it is cut into
 * {@code threads × splitsPerThread} spans of equal length regardless of row boundaries (Lean's stream-K
 * decomposition), so every core streams the same number of keys whether the batch holds one long sequence or many
 * short ones. A span yields one partial state {@code (o, lse)} per (row segment, query); the states of each query
 * are merged exactly, left to right, with {@link PartialState#mergeRow}. Inside a segment, keys are processed in
 * tiles, and each tile serves every KV head: in the BSHD layout a tile of keys of all heads is one contiguous block
 * of memory, copied in one sequential stream, instead of jumping {@code Hkv·D} floats between the keys of one
 * head. For each KV head, all {@code G · Lq} queries of its GQA group (query heads {@code kvh·G … kvh·G + G − 1},
 * every new token) are scored against each key row as it streams by ({@link VectorOps#scoresRows}), so K and V are
 * read once per KV head, never per query head, and never expanded.
 *
 * <p><b>Choices.</b> 64-key tiles (with 8 KV heads of D = 128, 512 KB of K and V per tile, inside L2), copied
 * whole when the heads are interleaved (BSHD) so that memory is read as one stream; spans
 * shorter than 256 keys are not split further (merging costs more than it saves); queries are pre-scaled once per
 * segment; the visible range of an interval mask (sliding windows) bounds the spans, so a window costs only its
 * keys. At most {@value Pattern#DECODE_MAX_QUERIES} queries per call: decode steps, speculative drafts, the first
 * step of a sequence; longer query blocks belong to {@link FlashAttention}.
 *
 * <p><b>Complexity.</b> Time O(B·Hq·Lq·(visible keys)·(D + Dv)), bandwidth-bound at
 * {@code B·Hkv·(visible keys)·(D + Dv)·4} bytes; extra memory O(splits·Hq·Lq·Dv) for the partial states.
 */
public final class LeanDecode implements AttentionMechanism {

    /**
     * @param splitsPerThread spans per thread (1 is enough when the spans are equal)
     * @param tileKeys        keys per tile
     * @param minKeysPerSplit spans are never shorter than this
     */
    public record Config(int splitsPerThread, int tileKeys, int minKeysPerSplit) implements MechanismConfig {
        public Config {
            if (splitsPerThread < 1 || splitsPerThread > 64) {
                throw new IllegalArgumentException("splitsPerThread = " + splitsPerThread + "; allowed: 1 to 64");
            }
            if (tileKeys < 1 || tileKeys > 4096) {
                throw new IllegalArgumentException("tileKeys = " + tileKeys + "; allowed: 1 to 4096");
            }
            if (minKeysPerSplit < 1) {
                throw new IllegalArgumentException("minKeysPerSplit = " + minKeysPerSplit + "; allowed: >= 1");
            }
        }

        public static Config defaults() {
            return new Config(1, 64, 256);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("lean", Family.EXACT, "Lean Attention (decode phase)",
            "Sanovar, Bharadwaj, St. Amant, Rühle, Rajmohan: \"Lean Attention: Hardware-Aware Scalable Attention "
                    + "Mechanism for the Decode-Phase of Transformers\", 2024 (arXiv:2405.10480)",
            EnumSet.of(Pattern.DECODE), Weights.FREE, true, true, false, "O(n d) per query", "O(splits d)",
            Config.class, Config.defaults(), (config, engine) -> new LeanDecode((Config) config, engine));

    private static final int S_QUERIES = 0, S_SCORES = 1, S_OUT = 2, S_MAX = 3, S_SUM = 4, S_KEYS = 5, S_VALUES = 6;
    private static final int I_FROM = 0, I_TO = 1;

    private final Config config;
    private final Engine engine;

    public LeanDecode(Config config, Engine engine) {
        this.config = config;
        this.engine = engine;
    }

    public LeanDecode(Engine engine) {
        this(Config.defaults(), engine);
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        DESCRIPTOR.checkSupports(spec);
        int lq = q == null || q.rank() != 4 ? 0 : q.size(spec.layout().seqAxis());
        if (lq > Pattern.DECODE_MAX_QUERIES) {
            throw new UnsupportedInputException("lean handles decode: at most " + Pattern.DECODE_MAX_QUERIES
                    + " queries per call; this call has Lq = " + lq + " (use flash for prefill)");
        }
        AttentionProblem p = AttentionProblem.of(q, k, v, spec, out);
        LeanSplit plan = plan(p);
        int states = p.heads() * p.queryLength(), dv = p.valueDim(); // partial states per segment
        int segments = plan.segments();
        float[] partialOut = new float[segments * states * dv];
        float[] partialLse = new float[segments * states];
        engine.parallelFor(plan.parts(), part -> {
            for (int seg = plan.partStart()[part]; seg < plan.partStart()[part + 1]; seg++) {
                segment(p, plan.segmentItem()[seg], plan.segmentFrom()[seg], plan.segmentTo()[seg],
                        partialOut, seg * states * dv, partialLse, seg * states);
            }
        });
        Tensor lse = p.returnLse() ? Tensor.zeros(p.batch(), p.heads(), p.queryLength()) : null;
        merge(p, plan, partialOut, partialLse, lse);
        return p.result(lse, null, null, null);
    }

    private LeanSplit plan(AttentionProblem p) {
        int rows = p.batch();
        int[] rowFrom = new int[rows], rowTo = new int[rows];
        for (int b = 0; b < rows; b++) {
            int[] range = visibleRange(p, b);
            rowFrom[b] = range[0];
            rowTo[b] = range[1];
        }
        return LeanSplit.of(rowFrom, rowTo, engine.threads() * config.splitsPerThread(), config.minKeysPerSplit());
    }

    /** The union of the visible key intervals of a batch row's queries, or [0, Lk) for non-interval masks. */
    private static int[] visibleRange(AttentionProblem p, int b) {
        int lk = p.keyLength();
        if (!(p.mask() instanceof IntervalMask interval)) {
            return new int[] {0, lk};
        }
        int from = lk, to = 0;
        for (int h = 0; h < p.heads(); h++) {
            for (int t = 0; t < p.queryLength(); t++) {
                int f = Math.max(0, interval.keyFrom(b, h, t)), e = Math.min(lk, interval.keyTo(b, h, t));
                if (f < e) {
                    from = Math.min(from, f);
                    to = Math.max(to, e);
                }
            }
        }
        return from < to ? new int[] {from, to} : new int[] {0, 0};
    }

    /**
     * Partial states of every query of batch row {@code b} over keys [kFrom, kTo). State {@code st = (kvh·Lq + t)·G
     * + g} belongs to token t of query head kvh·G + g, so each KV head's states are consecutive rows.
     */
    private void segment(AttentionProblem p, int b, int kFrom, int kTo, float[] partialOut, int outOffset,
                         float[] partialLse, int lseOffset) {
        VectorOps ops = engine.ops();
        int group = p.group(), lq = p.queryLength(), d = p.headDim(), dv = p.valueDim(), kvHeads = p.kvHeads();
        int rows = group * lq, states = kvHeads * rows, tile = config.tileKeys();
        HeadView q = p.q(), k = p.k(), v = p.v();
        ScoreMod scoreMod = p.scoreMod();
        MaskMod mask = p.mask();
        IntervalMask interval = mask instanceof IntervalMask im ? im : null;

        Scratch scratch = Scratch.get();
        float[] queries = scratch.floats(S_QUERIES, states * d);
        float[] s = scratch.floats(S_SCORES, rows * tile);
        float[] o = scratch.floats(S_OUT, states * dv);
        float[] m = scratch.floats(S_MAX, states);
        float[] l = scratch.floats(S_SUM, states);
        int[] from = scratch.ints(I_FROM, states), to = scratch.ints(I_TO, states);
        // Heads interleaved in memory (BSHD): the keys of one head are Hkv·D floats apart, so reading head by head
        // jumps a page per key and defeats the prefetchers. The tile of all heads is contiguous, though: copy it
        // (a sequential stream) and read the heads from the copy, which stays in L2.
        boolean packKeys = kvHeads > 1 && k.strideHead() == d && k.strideSeq() == kvHeads * d;
        boolean packValues = kvHeads > 1 && v.strideHead() == dv && v.strideSeq() == kvHeads * dv;
        float[] keyTile = packKeys ? scratch.floats(S_KEYS, tile * kvHeads * d) : null;
        float[] valueTile = packValues ? scratch.floats(S_VALUES, tile * kvHeads * dv) : null;
        for (int st = 0; st < states; st++) {
            int h = head(st, group, lq), t = token(st, group, lq);
            int qRow = q.at(b, t, h);
            for (int c = 0; c < d; c++) {
                queries[st * d + c] = p.scale() * q.data()[qRow + c];
            }
            if (interval != null) {
                from[st] = interval.keyFrom(b, h, t);
                to[st] = interval.keyTo(b, h, t);
            }
        }
        Arrays.fill(o, 0, states * dv, 0f);
        Arrays.fill(m, 0, states, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, states, 0f);

        for (int k0 = kFrom; k0 < kTo; k0 += tile) {
            int nk = Math.min(tile, kTo - k0);
            if (packKeys) {
                System.arraycopy(k.data(), k.at(b, k0, 0), keyTile, 0, nk * kvHeads * d);
            }
            if (packValues) {
                System.arraycopy(v.data(), v.at(b, k0, 0), valueTile, 0, nk * kvHeads * dv);
            }
            for (int kvh = 0; kvh < kvHeads; kvh++) {
                int first = kvh * rows; // this KV head's states
                ops.scoresRows(queries, first * d, d, rows, packKeys ? keyTile : k.data(),
                        packKeys ? kvh * d : k.at(b, k0, kvh), k.strideSeq(), nk, d, s, 0, tile);
                if (scoreMod != null || (mask != null && interval == null)) {
                    for (int r = 0; r < rows; r++) {
                        int st = first + r, h = head(st, group, lq), t = token(st, group, lq);
                        if (scoreMod != null) {
                            scoreMod.applyTile(s, r * tile, tile, 1, b, h, t, 1, k0, nk, ops);
                        }
                        if (mask != null && interval == null) {
                            for (int j = 0; j < nk; j++) {
                                if (!mask.test(b, h, t, k0 + j)) {
                                    s[r * tile + j] = Float.NEGATIVE_INFINITY;
                                }
                            }
                        }
                    }
                }
                // online softmax per state (masking to its interval): m, l and o of states first .. first + rows
                ops.onlineSoftmaxRows(s, 0, tile, rows, nk, k0, interval == null ? null : from, to, first, m, l,
                        o, dv, dv);
                ops.accumulateRows(s, 0, tile, rows, nk, packValues ? valueTile : v.data(),
                        packValues ? kvh * dv : v.at(b, k0, kvh), v.strideSeq(), dv, o, first * dv, dv);
            }
        }
        PartialState.finish(o, m, l, states, dv, partialOut, outOffset, partialLse, lseOffset);
    }

    /** The query head of state {@code st} (see {@link #segment}). */
    private static int head(int st, int group, int lq) {
        int kvh = st / (group * lq);
        return kvh * group + st % group;
    }

    /** The token of state {@code st}. */
    private static int token(int st, int group, int lq) {
        return st / group % lq;
    }

    /** Merges each query's segment states in order and writes the output rows (and lse). */
    private static void merge(AttentionProblem p, LeanSplit plan, float[] partialOut, float[] partialLse, Tensor lse) {
        int group = p.group(), lq = p.queryLength(), dv = p.valueDim(), states = p.heads() * lq;
        HeadView out = p.out();
        for (int b = 0; b < p.batch(); b++) {
            int first = plan.itemFirstSegment()[b], last = plan.itemFirstSegment()[b + 1];
            for (int st = 0; st < states; st++) {
                int h = head(st, group, lq), t = token(st, group, lq);
                int outRow = out.at(b, t, h);
                float rowLse = Float.NEGATIVE_INFINITY;
                Arrays.fill(out.data(), outRow, outRow + dv, 0f);
                for (int seg = first; seg < last; seg++) {
                    rowLse = PartialState.mergeRow(out.data(), outRow, rowLse, partialOut, (seg * states + st) * dv,
                            partialLse[seg * states + st], out.data(), outRow, dv);
                }
                if (lse != null) {
                    lse.array()[(b * p.heads() + h) * lq + t] = rowLse;
                }
            }
        }
    }
}
