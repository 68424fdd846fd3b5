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
 * call is the concatenation, over every (batch, KV head) "unit", of that unit's visible key range; it is cut into
 * {@code threads × splitsPerThread} spans of equal length regardless of unit boundaries (Lean's stream-K
 * decomposition), so every core streams the same number of keys whether the batch has one long sequence or many
 * heads. A span yields one partial state {@code (o, lse)} per unit segment it covers; the states of each unit are
 * merged exactly, left to right, with {@link PartialState#mergeRow}. Inside a segment, keys are processed in tiles:
 * all {@code G · Lq} queries of the unit's GQA group (query heads {@code kvh·G … kvh·G + G − 1}, every new token)
 * are scored against each key row as it streams by ({@link VectorOps#scoresRows}), so K and V are read once per KV
 * head, never per query head, and never expanded.
 *
 * <p><b>Choices.</b> 128-key tiles (64 KB of K at D = 128 stay in L2 for the value pass); spans shorter than 256
 * keys are not split further (merging costs more than it saves); queries are pre-scaled once per segment; the
 * visible range of an interval mask (sliding windows) bounds the spans, so a window costs only its keys. At most
 * {@value Pattern#DECODE_MAX_QUERIES} queries per call: decode steps, speculative drafts, the first step of a
 * sequence; longer query blocks belong to {@link FlashAttention}.
 *
 * <p><b>Complexity.</b> Time O(B·Hq·Lq·(visible keys)·(D + Dv)), bandwidth-bound at
 * {@code B·Hkv·(visible keys)·(D + Dv)·4} bytes; extra memory O(splits·G·Lq·Dv) for the partial states.
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
            return new Config(1, 128, 256);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("lean", Family.EXACT, "Lean Attention (decode phase)",
            "Sanovar, Bharadwaj, St. Amant, Rühle, Rajmohan: \"Lean Attention: Hardware-Aware Scalable Attention "
                    + "Mechanism for the Decode-Phase of Transformers\", 2024 (arXiv:2405.10480)",
            EnumSet.of(Pattern.DECODE), Weights.FREE, true, true, false, "O(n d) per query", "O(splits d)",
            Config.class, Config.defaults(), (config, engine) -> new LeanDecode((Config) config, engine));

    private static final int S_QUERIES = 0, S_SCORES = 1, S_OUT = 2, S_MAX = 3, S_SUM = 4;
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
        if (!spec.observers().isEmpty()) {
            throw new UnsupportedInputException("lean computes no observers (asked for " + spec.observers()
                    + "); use flash or reference");
        }
        int lq = q == null || q.rank() != 4 ? 0 : q.size(spec.layout().seqAxis());
        if (lq > Pattern.DECODE_MAX_QUERIES) {
            throw new UnsupportedInputException("lean handles decode: at most " + Pattern.DECODE_MAX_QUERIES
                    + " queries per call; this call has Lq = " + lq + " (use flash for prefill)");
        }
        AttentionProblem p = AttentionProblem.of(q, k, v, spec, out);
        Plan plan = plan(p);
        int rows = p.group() * p.queryLength(), dv = p.valueDim();
        int segments = plan.segmentUnit.length;
        float[] partialOut = new float[segments * rows * dv];
        float[] partialLse = new float[segments * rows];
        engine.parallelFor(plan.splits, split -> {
            for (int seg = plan.splitStart[split]; seg < plan.splitStart[split + 1]; seg++) {
                segment(p, plan.segmentUnit[seg], plan.segmentFrom[seg], plan.segmentTo[seg],
                        partialOut, seg * rows * dv, partialLse, seg * rows);
            }
        });
        Tensor lse = p.returnLse() ? Tensor.zeros(p.batch(), p.heads(), p.queryLength()) : null;
        merge(p, plan, partialOut, partialLse, lse);
        return p.result(lse, null, null, null);
    }

    /**
     * The split of a call: segments (unit, key range) in unit order, and for each span the first segment it owns.
     * A unit is a (batch, KV head) pair; its segments are consecutive.
     */
    private record Plan(int splits, int[] splitStart, int[] segmentUnit, int[] segmentFrom, int[] segmentTo,
                        int[] unitFirstSegment) {
    }

    private Plan plan(AttentionProblem p) {
        int units = p.batch() * p.kvHeads();
        int[] unitFrom = new int[units], unitTo = new int[units];
        long total = 0;
        for (int u = 0; u < units; u++) {
            int[] range = visibleRange(p, u / p.kvHeads(), u % p.kvHeads());
            unitFrom[u] = range[0];
            unitTo[u] = range[1];
            total += range[1] - range[0];
        }
        int splits = (int) Math.max(1, Math.min((long) engine.threads() * config.splitsPerThread(),
                total / config.minKeysPerSplit()));
        if (total == 0) {
            splits = 0;
        }
        // cut the concatenated ranges at total·s/splits
        int[] segUnit = new int[splits + units], segFrom = new int[splits + units], segTo = new int[splits + units];
        int[] splitStart = new int[splits + 1];
        int[] unitFirst = new int[units + 1];
        int segments = 0, unit = 0;
        long position = 0; // keys of the concatenation consumed so far
        int cursor = units > 0 ? unitFrom[0] : 0;
        for (int s = 0; s < splits; s++) {
            splitStart[s] = segments;
            long end = total * (s + 1) / splits;
            while (position < end) {
                while (cursor >= unitTo[unit]) {
                    unitFirst[++unit] = segments;
                    cursor = unitFrom[unit];
                }
                int take = (int) Math.min(unitTo[unit] - cursor, end - position);
                segUnit[segments] = unit;
                segFrom[segments] = cursor;
                segTo[segments] = cursor + take;
                segments++;
                cursor += take;
                position += take;
            }
        }
        splitStart[splits] = segments;
        while (unit < units) {
            unitFirst[++unit] = segments;
        }
        return new Plan(splits, splitStart, Arrays.copyOf(segUnit, segments), Arrays.copyOf(segFrom, segments),
                Arrays.copyOf(segTo, segments), unitFirst);
    }

    /** The union of the visible key intervals of a unit's queries, or [0, Lk) for non-interval masks. */
    private static int[] visibleRange(AttentionProblem p, int b, int kvh) {
        int lk = p.keyLength();
        if (!(p.mask() instanceof IntervalMask interval)) {
            return new int[] {0, lk};
        }
        int from = lk, to = 0;
        for (int g = 0; g < p.group(); g++) {
            int h = kvh * p.group() + g;
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

    /** Partial states of every row of a unit over keys [kFrom, kTo): rows r = t·G + g (token t, group member g). */
    private void segment(AttentionProblem p, int unit, int kFrom, int kTo, float[] partialOut, int outOffset,
                         float[] partialLse, int lseOffset) {
        VectorOps ops = engine.ops();
        int group = p.group(), lq = p.queryLength(), d = p.headDim(), dv = p.valueDim();
        int b = unit / p.kvHeads(), kvh = unit % p.kvHeads();
        int rows = group * lq, tile = config.tileKeys();
        HeadView q = p.q(), k = p.k(), v = p.v();
        ScoreMod scoreMod = p.scoreMod();
        MaskMod mask = p.mask();
        IntervalMask interval = mask instanceof IntervalMask im ? im : null;

        Scratch scratch = Scratch.get();
        float[] queries = scratch.floats(S_QUERIES, rows * d);
        float[] s = scratch.floats(S_SCORES, rows * tile);
        float[] o = scratch.floats(S_OUT, rows * dv);
        float[] m = scratch.floats(S_MAX, rows);
        float[] l = scratch.floats(S_SUM, rows);
        int[] from = scratch.ints(I_FROM, rows), to = scratch.ints(I_TO, rows);
        for (int r = 0; r < rows; r++) {
            int t = r / group, h = kvh * group + r % group;
            int qRow = q.at(b, t, h);
            for (int c = 0; c < d; c++) {
                queries[r * d + c] = p.scale() * q.data()[qRow + c];
            }
            if (interval != null) {
                from[r] = interval.keyFrom(b, h, t);
                to[r] = interval.keyTo(b, h, t);
            }
        }
        Arrays.fill(o, 0, rows * dv, 0f);
        Arrays.fill(m, 0, rows, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, rows, 0f);

        for (int k0 = kFrom; k0 < kTo; k0 += tile) {
            int nk = Math.min(tile, kTo - k0);
            ops.scoresRows(queries, 0, d, rows, k.data(), k.at(b, k0, kvh), k.strideSeq(), nk, d, s, 0, tile);
            for (int r = 0; r < rows; r++) {
                int t = r / group, h = kvh * group + r % group;
                int at = r * tile;
                if (scoreMod != null) {
                    scoreMod.applyTile(s, at, tile, 1, b, h, t, 1, k0, nk, ops);
                }
                if (interval != null) {
                    // keys outside [from, to) of this row: clamp the interval to the tile and hide the rest
                    int lo = Math.min(nk, Math.max(0, from[r] - k0)), hi = Math.max(lo, Math.min(nk, to[r] - k0));
                    Arrays.fill(s, at, at + lo, Float.NEGATIVE_INFINITY);
                    Arrays.fill(s, at + hi, at + nk, Float.NEGATIVE_INFINITY);
                } else if (mask != null) {
                    for (int j = 0; j < nk; j++) {
                        if (!mask.test(b, h, t, k0 + j)) {
                            s[at + j] = Float.NEGATIVE_INFINITY;
                        }
                    }
                }
                float mNew = Math.max(m[r], ops.max(s, at, nk));
                float alpha = m[r] == mNew ? 1f : (float) Math.exp(m[r] - mNew);
                l[r] = l[r] * alpha + ops.expShiftSum(s, at, nk, mNew);
                if (alpha != 1f) {
                    ops.scale(o, r * dv, dv, alpha);
                }
                m[r] = mNew;
            }
            ops.accumulateRows(s, 0, tile, rows, nk, v.data(), v.at(b, k0, kvh), v.strideSeq(), dv, o, 0, dv);
        }
        for (int r = 0; r < rows; r++) {
            int at = outOffset + r * dv;
            if (l[r] != 0) { // 0: no visible key; NaN (unchecked NaN input) propagates
                float inverse = 1f / l[r];
                for (int c = 0; c < dv; c++) {
                    partialOut[at + c] = o[r * dv + c] * inverse;
                }
                partialLse[lseOffset + r] = m[r] + (float) Math.log(l[r]);
            } else {
                Arrays.fill(partialOut, at, at + dv, 0f);
                partialLse[lseOffset + r] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    /** Merges each unit's segments in order and writes the output rows (and lse). */
    private static void merge(AttentionProblem p, Plan plan, float[] partialOut, float[] partialLse, Tensor lse) {
        int group = p.group(), lq = p.queryLength(), dv = p.valueDim(), rows = group * lq;
        HeadView out = p.out();
        int units = p.batch() * p.kvHeads();
        for (int u = 0; u < units; u++) {
            int b = u / p.kvHeads(), kvh = u % p.kvHeads();
            int first = plan.unitFirstSegment[u], last = plan.unitFirstSegment[u + 1];
            for (int r = 0; r < rows; r++) {
                int t = r / group, h = kvh * group + r % group;
                int outRow = out.at(b, t, h);
                float rowLse = Float.NEGATIVE_INFINITY;
                Arrays.fill(out.data(), outRow, outRow + dv, 0f);
                for (int seg = first; seg < last; seg++) {
                    rowLse = PartialState.mergeRow(out.data(), outRow, rowLse, partialOut, (seg * rows + r) * dv,
                            partialLse[seg * rows + r], out.data(), outRow, dv);
                }
                if (lse != null) {
                    lse.array()[(b * p.heads() + h) * lq + t] = rowLse;
                }
            }
        }
    }
}
