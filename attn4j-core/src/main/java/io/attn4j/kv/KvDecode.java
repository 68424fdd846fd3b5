package io.attn4j.kv;

import io.attn4j.attention.PartialState;
import io.attn4j.attention.ScoreMod;
import io.attn4j.attention.exact.LeanDecode;
import io.attn4j.attention.exact.LeanSplit;
import io.attn4j.runtime.Engine;
import io.attn4j.runtime.Scratch;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * Exact decode attention over a {@link KvCache}, with Lean Attention's work split ({@link LeanSplit}): the rows of
 * every (sequence, KV head) stream are concatenated and cut into equal spans, one per core, so a batch of long and
 * short sequences, or heads compressed to different lengths, still keep every core streaming the same number of
 * rows. Each span yields partial states {@code (o, lse)} that are merged exactly ({@link PartialState#mergeRow}).
 *
 * <p><b>Plan and run.</b> {@link #plan} fixes the work of one step shape (the cache's stream lengths, the query
 * heads and the queries per sequence); {@link Plan#run} executes it for the step's queries, and may run again for
 * other queries as long as the cache has not changed (a changed cache is refused: plan again).
 *
 * <p><b>Semantics.</b> Queries {@code q} are {@code [sequences, Lq, queryHeads, headDim]} (BSHD): query {@code t}
 * of sequence {@code b} is the token at position {@code tokensSeen(b) − Lq + t} (its key and value were appended
 * before the call) and sees every cached row at a position {@code <= } its own. Query head {@code h} reads KV head
 * {@code h / G} ({@code G = queryHeads / kvHeads}); K and V are read once per KV head for the whole group, never
 * expanded. The logit of a row is {@code scale · q·k + log m} (m: the row's multiplicity, 1 except for merged
 * compensation rows), then the score mod, which receives the query's and the row's <em>positions</em> — after
 * compression distances stay true. Rows are read in place (float32) or dequantised tile by tile (int8 / int4).
 *
 * <p><b>Tallies.</b> When the cache {@linkplain KvCache#track tracks} attention and the run asks for it, each row's
 * tally becomes {@code decay^Lq · tally + Σ_t decay^(Lq−1−t) · (1/G) Σ_g p(h = kvh·G + g, t, row)}: the step's
 * attention weights averaged over the group (kvpress's GQA rule), summed over the step's queries. The logits are kept
 * per span while it runs and turned into weights with the merged log-sum-exp.
 *
 * <p><b>Complexity.</b> Time O(Σ_streams length · G·Lq · (D + Dv)), bound by reading every row once:
 * {@code Σ length · bytesPerRow} bytes. Extra memory O(segments · G·Lq · Dv) for the partial states, plus
 * {@code Σ length · G·Lq} floats of logits when tallies are updated.
 */
public final class KvDecode {
    private static final int S_QUERIES = 0, S_SCORES = 1, S_OUT = 2, S_MAX = 3, S_SUM = 4, S_KEYS = 5, S_VALUES = 6;
    private static final int I_TO = 0;

    private final LeanDecode.Config config;
    private final Engine engine;

    public KvDecode(LeanDecode.Config config, Engine engine) {
        this.config = Objects.requireNonNull(config, "config");
        this.engine = Objects.requireNonNull(engine, "engine");
    }

    public KvDecode(Engine engine) {
        this(LeanDecode.Config.defaults(), engine);
    }

    /**
     * Options of a run.
     *
     * @param scale         the logit scale; NaN for {@code 1/√headDim}
     * @param scoreMod      applied to every logit with positions (null for none)
     * @param updateTallies whether the cache's tracked tallies take this step's attention
     * @param returnLse     whether {@link Plan#run} returns the log-sum-exp per (sequence, query head, query)
     */
    public record Options(float scale, ScoreMod scoreMod, boolean updateTallies, boolean returnLse) {
        public Options {
            if (!Float.isNaN(scale) && !(Float.isFinite(scale) && scale > 0)) {
                throw new IllegalArgumentException("scale = " + scale + "; allowed: finite and > 0 (NaN: 1/sqrt(d))");
            }
        }

        /** Default scale, no score mod, tallies updated, no lse. */
        public static Options defaults() {
            return new Options(Float.NaN, null, true, false);
        }

        public Options withScale(float s) {
            return new Options(s, scoreMod, updateTallies, returnLse);
        }

        public Options withScoreMod(ScoreMod mod) {
            return new Options(scale, mod, updateTallies, returnLse);
        }

        public Options withTallies(boolean update) {
            return new Options(scale, scoreMod, update, returnLse);
        }

        public Options withLse(boolean lse) {
            return new Options(scale, scoreMod, updateTallies, lse);
        }
    }

    /** The work of one step shape over {@code cache}: {@code queryHeads} heads, {@code queries} tokens each. */
    public Plan plan(KvCache cache, int queryHeads, int queries) {
        Objects.requireNonNull(cache, "cache");
        if (queryHeads < 1 || queryHeads % cache.kvHeads() != 0) {
            throw new IllegalArgumentException("queryHeads = " + queryHeads + "; allowed: a positive multiple of the "
                    + "cache's " + cache.kvHeads() + " KV heads");
        }
        if (queries < 1 || queries > io.attn4j.attention.Pattern.DECODE_MAX_QUERIES) {
            throw new IllegalArgumentException("queries = " + queries + "; allowed: 1 to "
                    + io.attn4j.attention.Pattern.DECODE_MAX_QUERIES + " per sequence (longer blocks are prefill)");
        }
        for (int b = 0; b < cache.sequences(); b++) {
            if (cache.tokensSeen(b) < queries) {
                throw new IllegalArgumentException("sequence " + b + " has seen " + cache.tokensSeen(b)
                        + " tokens; a step of " + queries + " queries needs their keys appended first");
            }
        }
        int streams = cache.sequences() * cache.kvHeads();
        int[] from = new int[streams], to = new int[streams];
        for (int i = 0; i < streams; i++) {
            to[i] = cache.length(i / cache.kvHeads(), i % cache.kvHeads());
        }
        LeanSplit split = LeanSplit.of(from, to, engine.threads() * config.splitsPerThread(),
                config.minKeysPerSplit());
        return new Plan(cache, cache.version(), queryHeads, queries, split, to);
    }

    /** A planned step; see {@link KvDecode}. */
    public final class Plan {
        private final KvCache cache;
        private final long version;
        private final int queryHeads, queries, group;
        private final LeanSplit split;
        private final int[] lengths;

        private Plan(KvCache cache, long version, int queryHeads, int queries, LeanSplit split, int[] lengths) {
            this.cache = cache;
            this.version = version;
            this.queryHeads = queryHeads;
            this.queries = queries;
            this.group = queryHeads / cache.kvHeads();
            this.split = split;
            this.lengths = lengths;
        }

        /** Rows this plan reads, over every stream. */
        public long rows() {
            long n = 0;
            for (int length : lengths) {
                n += length;
            }
            return n;
        }

        /** Runs with the default options, writing {@code out} ({@code [sequences, Lq, queryHeads, valueDim]}). */
        public void run(Tensor q, Tensor out) {
            run(q, out, Options.defaults());
        }

        /**
         * Runs the step: writes {@code out} and returns the log-sum-exp {@code [sequences, queryHeads, Lq]} when
         * the options ask for it (else null).
         */
        public Tensor run(Tensor q, Tensor out, Options options) {
            Objects.requireNonNull(options, "options");
            if (cache.version() != version) {
                throw new IllegalStateException("the cache changed since this plan was made (version " + version
                        + ", now " + cache.version() + "); plan again");
            }
            int sequences = cache.sequences(), d = cache.headDim(), dv = cache.valueDim();
            float[] qData = checked("q", q, d);
            float[] outData = outArray(out, dv);
            float scale = Float.isNaN(options.scale()) ? (float) (1 / Math.sqrt(d)) : options.scale();
            int rows = group * queries;
            int segments = split.segments();
            float[] partialOut = new float[segments * rows * dv];
            float[] partialLse = new float[segments * rows];
            boolean tallies = options.updateTallies() && cache.trackedDecays().length > 0;
            long[] logitOffset = tallies ? logitOffsets(rows) : null;
            float[] logits = tallies ? new float[Math.toIntExact(logitOffset[logitOffset.length - 1])] : null;
            engine.parallelFor(split.parts(), part -> {
                for (int seg = split.partStart()[part]; seg < split.partStart()[part + 1]; seg++) {
                    int item = split.segmentItem()[seg];
                    segment(item, split.segmentFrom()[seg], split.segmentTo()[seg], qData, scale,
                            options.scoreMod(), partialOut, seg * rows * dv, partialLse, seg * rows,
                            logits, tallies ? (int) logitOffset[item] : 0);
                }
            });
            float[] lse = new float[sequences * cache.kvHeads() * rows];
            merge(partialOut, partialLse, outData, lse);
            if (out.array() != outData) {
                out.copyFrom(Tensor.of(outData, out.shape()));
            }
            if (tallies) {
                updateTallies(logits, logitOffset, lse);
            }
            if (!options.returnLse()) {
                return null;
            }
            Tensor result = Tensor.zeros(sequences, queryHeads, queries);
            for (int item = 0; item < sequences * cache.kvHeads(); item++) {
                int b = item / cache.kvHeads(), kvh = item % cache.kvHeads();
                for (int r = 0; r < rows; r++) {
                    int t = r / group, h = kvh * group + r % group;
                    result.set(lse[item * rows + r], b, h, t);
                }
            }
            return result;
        }

        private long[] logitOffsets(int rows) {
            long[] offsets = new long[lengths.length + 1];
            for (int i = 0; i < lengths.length; i++) {
                offsets[i + 1] = offsets[i] + (long) lengths[i] * rows;
            }
            if (offsets[lengths.length] > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("tallies over " + offsets[lengths.length] + " logits per step do "
                        + "not fit one array; track fewer heads or shorter caches");
            }
            return offsets;
        }

        private float[] checked(String name, Tensor t, int dim) {
            Objects.requireNonNull(t, name);
            int[] expected = {cache.sequences(), queries, queryHeads, dim};
            if (!Arrays.equals(t.shape(), expected)) {
                throw new IllegalArgumentException(name + " " + Arrays.toString(t.shape()) + "; this plan expects "
                        + Arrays.toString(expected) + " ([sequences, queries, queryHeads, dim])");
            }
            float[] data = t.isHeap() && t.isContiguous() && t.arrayOffset() == 0
                    && t.array().length == t.elementCount() ? t.array() : t.toArray();
            for (int i = 0; i < data.length; i++) {
                if (!Float.isFinite(data[i])) {
                    throw new IllegalArgumentException(name + " has " + data[i] + " at index " + i
                            + "; decode takes finite queries");
                }
            }
            return data;
        }

        private float[] outArray(Tensor out, int dv) {
            Objects.requireNonNull(out, "out");
            int[] expected = {cache.sequences(), queries, queryHeads, dv};
            if (!Arrays.equals(out.shape(), expected)) {
                throw new IllegalArgumentException("out " + Arrays.toString(out.shape()) + "; this plan writes "
                        + Arrays.toString(expected));
            }
            return out.isHeap() && out.isContiguous() && out.arrayOffset() == 0
                    && out.array().length == out.elementCount() ? out.array() : new float[(int) out.elementCount()];
        }

        /** The position of query {@code t} of sequence {@code b}. */
        private int queryPosition(int b, int t) {
            return cache.tokensSeen(b) - queries + t;
        }

        /**
         * Partial states of the G·Lq queries of stream {@code item} over its rows [from, to). Row {@code r = t·G + g}
         * is token t of query head kvh·G + g.
         */
        private void segment(int item, int from, int to, float[] qData, float scale, ScoreMod scoreMod,
                             float[] partialOut, int outOffset, float[] partialLse, int lseOffset, float[] logits,
                             int logitOffset) {
            VectorOps ops = engine.ops();
            int kvHeads = cache.kvHeads(), b = item / kvHeads, kvh = item % kvHeads;
            int d = cache.headDim(), dv = cache.valueDim(), rows = group * queries, tile = config.tileKeys();
            KvCache.Stream stream = cache.stream(b, kvh);
            Scratch scratch = Scratch.get();
            float[] q = scratch.floats(S_QUERIES, rows * d);
            float[] s = scratch.floats(S_SCORES, rows * tile);
            float[] o = scratch.floats(S_OUT, rows * dv);
            float[] m = scratch.floats(S_MAX, rows);
            float[] l = scratch.floats(S_SUM, rows);
            int[] visible = scratch.ints(I_TO, rows);
            float[] keyScratch = cache.format().quantized() ? scratch.floats(S_KEYS, tile * d) : null;
            float[] valueScratch = cache.format().quantized() ? scratch.floats(S_VALUES, tile * dv) : null;
            boolean allVisible = true;
            for (int r = 0; r < rows; r++) {
                int t = r / group, h = kvh * group + r % group;
                int at = ((b * queries + t) * queryHeads + h) * d;
                for (int c = 0; c < d; c++) {
                    q[r * d + c] = scale * qData[at + c];
                }
                visible[r] = stream.firstAtOrAfter(queryPosition(b, t) + 1);
                allVisible &= visible[r] >= to;
            }
            int[] zeros = allVisible ? null : new int[rows];
            Arrays.fill(o, 0, rows * dv, 0f);
            Arrays.fill(m, 0, rows, Float.NEGATIVE_INFINITY);
            Arrays.fill(l, 0, rows, 0f);
            float[] logWeights = stream.logWeights();
            int[] positions = stream.positions;
            for (int k0 = from; k0 < to; ) {
                int nk = Math.min(tile, Math.min(to, stream.runEnd(k0)) - k0);
                RowBlock keys = stream.keyBlock(k0), values = stream.valueBlock(k0);
                int in = stream.inBlock(k0);
                ops.scoresRows(q, 0, d, rows, keys.rows(in, nk, keyScratch, ops), keys.offset(in), d, nk, d, s, 0,
                        tile);
                if (logWeights != null) {
                    for (int r = 0; r < rows; r++) {
                        ops.axpy(1f, logWeights, k0, s, r * tile, nk);
                    }
                }
                if (scoreMod != null) {
                    for (int r = 0; r < rows; r++) {
                        int t = r / group, h = kvh * group + r % group, qPos = queryPosition(b, t);
                        for (int j = 0; j < nk; j++) {
                            s[r * tile + j] = scoreMod.apply(s[r * tile + j], b, h, qPos, positions[k0 + j]);
                        }
                    }
                }
                if (logits != null) {
                    for (int r = 0; r < rows; r++) {
                        System.arraycopy(s, r * tile, logits, logitOffset + r * lengths[item] + k0, nk);
                    }
                }
                ops.onlineSoftmaxRows(s, 0, tile, rows, nk, k0, zeros, visible, 0, m, l, o, dv, dv);
                ops.accumulateRows(s, 0, tile, rows, nk, values.rows(in, nk, valueScratch, ops), values.offset(in), dv,
                        dv, o, 0, dv);
                k0 += nk;
            }
            PartialState.finish(o, m, l, rows, dv, partialOut, outOffset, partialLse, lseOffset);
        }

        /** Merges each stream's segment states in order into {@code out} and the per-(stream, row) lse. */
        private void merge(float[] partialOut, float[] partialLse, float[] out, float[] lse) {
            int kvHeads = cache.kvHeads(), dv = cache.valueDim(), rows = group * queries;
            for (int item = 0; item < cache.sequences() * kvHeads; item++) {
                int b = item / kvHeads, kvh = item % kvHeads;
                int first = split.itemFirstSegment()[item], last = split.itemFirstSegment()[item + 1];
                for (int r = 0; r < rows; r++) {
                    int t = r / group, h = kvh * group + r % group;
                    int outRow = ((b * queries + t) * queryHeads + h) * dv;
                    float rowLse = Float.NEGATIVE_INFINITY;
                    Arrays.fill(out, outRow, outRow + dv, 0f);
                    for (int seg = first; seg < last; seg++) {
                        rowLse = PartialState.mergeRow(out, outRow, rowLse, partialOut, (seg * rows + r) * dv,
                                partialLse[seg * rows + r], out, outRow, dv);
                    }
                    lse[item * rows + r] = rowLse;
                }
            }
        }

        /** Adds this step's group-averaged attention weights to every tracked tally. */
        private void updateTallies(float[] logits, long[] logitOffset, float[] lse) {
            double[] decays = cache.trackedDecays();
            int kvHeads = cache.kvHeads(), rows = group * queries;
            engine.parallelFor(lengths.length, item -> {
                int b = item / kvHeads, kvh = item % kvHeads, n = lengths[item];
                KvCache.Stream stream = cache.stream(b, kvh);
                double[] step = new double[n * decays.length];
                double[] age = new double[decays.length]; // decay^(Lq − 1 − t) of the row's query
                for (int r = 0; r < rows; r++) {
                    int t = r / group;
                    float rowLse = lse[item * rows + r];
                    if (rowLse == Float.NEGATIVE_INFINITY) {
                        continue;
                    }
                    for (int i = 0; i < decays.length; i++) {
                        age[i] = Math.pow(decays[i], queries - 1 - t);
                    }
                    int visible = stream.firstAtOrAfter(queryPosition(b, t) + 1);
                    int at = (int) logitOffset[item] + r * n;
                    for (int j = 0; j < Math.min(n, visible); j++) {
                        double w = Math.exp(logits[at + j] - rowLse) / group;
                        for (int i = 0; i < decays.length; i++) {
                            step[i * n + j] += age[i] * w;
                        }
                    }
                }
                for (int i = 0; i < decays.length; i++) {
                    float[] tally = stream.tallies[i];
                    float carry = (float) Math.pow(decays[i], queries);
                    for (int j = 0; j < n; j++) {
                        tally[j] = carry * tally[j] + (float) step[i * n + j];
                    }
                }
            });
        }
    }
}
