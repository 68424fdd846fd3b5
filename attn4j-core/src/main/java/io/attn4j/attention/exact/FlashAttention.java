package io.attn4j.attention.exact;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.ScoreMod;
import io.attn4j.attention.TopKeys;
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
 * Exact attention by tiles with an online softmax: FlashAttention (Dao et al., "FlashAttention: Fast and
 * Memory-Efficient Exact Attention with IO-Awareness", NeurIPS 2022; the loop order of FlashAttention-2), on CPU
 * cores and SIMD registers instead of GPU shared memory.
 *
 * <p><b>Algorithm.</b> The query sequence of each (batch, head) is cut into blocks of {@code blockQ} rows; each
 * block is one task. A task transposes its queries once (scaled by the logit scale) and then visits the kept key
 * blocks of its {@link BlockMask} row in order. For each tile of {@code blockK} keys it
 * <ol>
 *   <li>computes the score tile transposed, one row per key ({@link VectorOps#scoresTransposed}): keys are read
 *       straight from K, one broadcast element at a time, so K is never copied or transposed;</li>
 *   <li>applies the score mod, and the element mask only if the tile is partial (interval masks mask whole
 *       columns at once);</li>
 *   <li>updates each query's running maximum {@code m}, rescales its running sum {@code l} and its output
 *       accumulator by {@code e^(m_old − m_new)}, exponentiates the tile and adds its column sums to {@code l};</li>
 *   <li>accumulates {@code P·V} into the output block ({@link VectorOps#accumulateTransposed}).</li>
 * </ol>
 * At the end the block's output is divided by {@code l}, and {@code lse = m + log l}. Tiles that the mask hides are
 * never visited: a causal mask costs half the tiles and a window of {@code w} about {@code n·w / blockK²}.
 *
 * <p><b>Choices.</b> Tiles are 128 queries × 64 keys by default: a 128-query block is eight 16-lane vectors, so
 * every key and value row fetched serves 128 queries (measured 5–13 % faster than 64 × 64 at 4K–16K tokens, most
 * where K and V do not fit the caches); the score tile (32 KB) and the block's transposed queries and output stay
 * in L2. The score tile is kept transposed so the softmax statistics of 16 queries are updated lane-parallel. Key
 * and value rows that are strided in memory (heads interleaved, BSHD) are copied into contiguous tiles, which keeps
 * many cache misses in flight and avoids L1 set aliasing. Tasks go head by head (the threads share one head's K and
 * V in cache) and, within a head, largest first, which balances causal and sparse masks. Accumulation is float32
 * (the online rescaling keeps magnitudes bounded by the row maximum).
 * Observers: entropy costs one accumulator per query ({@code H = lse − Σ p·s / l}); top-k keys keep a heap per
 * query; column mass needs every query's final lse, so it is a second pass over the kept tiles, parallel over key
 * blocks so sums are deterministic.
 *
 * <p><b>Complexity.</b> Time O(B·Hq·(visible pairs)·(D + Dv)); extra memory O(blockQ·(D + Dv + blockK)) per thread
 * and nothing of size n² (plus O(Lq·D) per thread for the column-mass pass). Bit-identical results for any thread
 * count.
 */
public final class FlashAttention implements AttentionMechanism {

    /**
     * @param blockQ queries per tile (and per task)
     * @param blockK keys per tile
     */
    public record Config(int blockQ, int blockK) implements MechanismConfig {
        public Config {
            if (blockQ < 1 || blockQ > 1024 || blockK < 1 || blockK > 1024) {
                throw new IllegalArgumentException("flash blocks (" + blockQ + ", " + blockK
                        + "); allowed: 1 to 1024 each");
            }
        }

        public static Config defaults() {
            return new Config(128, 64);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("flash", Family.EXACT, "FlashAttention",
            "Dao, Fu, Ermon, Rudra, Ré: \"FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness\", "
                    + "NeurIPS 2022 (arXiv:2205.14135); Dao: \"FlashAttention-2\", 2023 (arXiv:2307.08691)",
            EnumSet.allOf(Pattern.class), Weights.FREE, true, true, true, "O(n^2 d) on visible tiles",
            "O(block (d + block)) per thread", Config.class, Config.defaults(),
            (config, engine) -> new FlashAttention((Config) config, engine));

    private static final int S_QT = 0, S_SCORES = 1, S_OUT = 2, S_MAX = 3, S_SUM = 5, S_ALPHA = 6,
            S_SCORE_SUM = 7, S_TOP_SCORES = 8, S_SHIFT = 9, S_VALUES = 10, S_KEYS = 11;
    private static final int I_FROM = 0, I_TO = 1, I_TOP_KEYS = 2, I_TOP_COUNT = 3;

    private final Config config;
    private final Engine engine;

    public FlashAttention(Config config, Engine engine) {
        this.config = config;
        this.engine = engine;
    }

    public FlashAttention(Engine engine) {
        this(Config.defaults(), engine);
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    public Config config() {
        return config;
    }

    @Override
    public AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        AttentionProblem p = AttentionProblem.of(q, k, v, spec, out);
        BlockMask blocks = BlockMask.of(p.mask(), p.batch(), p.heads(), p.queryLength(), p.keyLength(),
                config.blockQ(), config.blockK());
        return run(p, blocks);
    }

    /**
     * FlexAttention's entry point: attention over the tiles of {@code blocks} (its element mask applies inside
     * partial tiles), with {@code scoreMod}. The spec supplies scale, layout, LSE and observers; its own mask and
     * score mod must be unset. The kernel's tiles are the block mask's blocks.
     */
    public AttentionResult flex(Tensor q, Tensor k, Tensor v, ScoreMod scoreMod, BlockMask blocks, AttentionSpec spec,
                                Tensor out) {
        if (spec.isCausal() || spec.mask() != null) {
            throw new IllegalArgumentException("flex takes its mask from the block mask; the spec must not be causal "
                    + "or carry a mask (got " + spec + ")");
        }
        if (spec.scoreMod() != null && scoreMod != null) {
            throw new IllegalArgumentException("score mod given both as an argument and in the spec; give it once");
        }
        AttentionProblem p = AttentionProblem.of(q, k, v, scoreMod == null ? spec : spec.scoreMod(scoreMod), out);
        return run(p, blocks);
    }

    /**
     * Attention of a validated problem over the tiles of {@code blocks}, which decides everything about visibility:
     * its element mask applies in partial tiles and {@code p.mask()} is not consulted. This is how sparse mechanisms
     * run exact attention on the key blocks they selected, without a second softmax kernel; {@code blocks} must fit
     * the problem ({@link BlockMask#checkFits}).
     */
    public AttentionResult run(AttentionProblem p, BlockMask blocks) {
        blocks.checkFits(p.batch(), p.heads(), p.queryLength(), p.keyLength());
        int batch = p.batch(), heads = p.heads(), lq = p.queryLength(), lk = p.keyLength();
        int queryBlocks = blocks.queryBlocks();
        int tasks = batch * heads * queryBlocks;
        int[] order = largestFirst(blocks, batch, heads, queryBlocks);
        boolean needLse = p.returnLse() || p.columnMass();
        Tensor lse = needLse ? Tensor.zeros(batch, heads, lq) : null;
        Tensor entropy = p.entropy() ? Tensor.zeros(batch, heads, lq) : null;
        int topK = p.topK();
        TopKeys top = topK > 0 ? new TopKeys(batch, heads, lq, topK, new int[batch * heads * lq * topK],
                new float[batch * heads * lq * topK]) : null;
        engine.parallelFor(tasks, t -> forwardBlock(p, blocks, order[t], lse, entropy, top));
        Tensor mass = null;
        if (p.columnMass()) {
            mass = Tensor.zeros(batch, heads, lk);
            columnMass(p, blocks, lse, mass);
        }
        return p.result(p.returnLse() ? lse : null, mass, entropy, top);
    }

    /**
     * Task indices head by head, and within a head by kept tiles, most first. Head by head, the threads share one
     * head's K and V in the last-level cache (at 16K tokens a head's K and V are 8 MB; all eight heads' are 64 MB);
     * largest first, a causal head's long rows start early and short ones fill the gaps at the end.
     */
    private static int[] largestFirst(BlockMask blocks, int batch, int heads, int queryBlocks) {
        int[] order = new int[batch * heads * queryBlocks];
        long[] keyed = new long[queryBlocks];
        for (int bh = 0; bh < batch * heads; bh++) {
            for (int qb = 0; qb < queryBlocks; qb++) {
                int tiles = blocks.tiles(blocks.row(bh / heads, bh % heads, qb));
                keyed[qb] = ((long) (Integer.MAX_VALUE - tiles) << 32) | qb; // most tiles first, then by block
            }
            Arrays.sort(keyed);
            for (int i = 0; i < queryBlocks; i++) {
                order[bh * queryBlocks + i] = bh * queryBlocks + (int) keyed[i];
            }
        }
        return order;
    }

    private void forwardBlock(AttentionProblem p, BlockMask blocks, int task, Tensor lse, Tensor entropy, TopKeys top) {
        VectorOps ops = engine.ops();
        int heads = p.heads(), lq = p.queryLength(), lk = p.keyLength(), d = p.headDim(), dv = p.valueDim();
        int bq = blocks.blockQ(), bk = blocks.blockK(), queryBlocks = blocks.queryBlocks();
        int qb = task % queryBlocks, bh = task / queryBlocks;
        int b = bh / heads, h = bh % heads, kvh = h / p.group();
        int q0 = qb * bq, nq = Math.min(bq, lq - q0);
        HeadView q = p.q(), k = p.k(), v = p.v();
        ScoreMod scoreMod = p.scoreMod();
        MaskMod mask = blocks.mask();
        int topK = top == null ? 0 : top.k();

        Scratch scratch = Scratch.get();
        float[] qT = scratch.floats(S_QT, d * bq);
        float[] s = scratch.floats(S_SCORES, bk * bq);
        float[] o = scratch.floats(S_OUT, bq * dv);
        float[] m = scratch.floats(S_MAX, bq);
        float[] l = scratch.floats(S_SUM, bq);
        float[] alpha = scratch.floats(S_ALPHA, bq);
        float[] values = scratch.floats(S_VALUES, bk * dv);
        float[] keys = scratch.floats(S_KEYS, bk * d);
        float[] scoreSum = entropy == null ? null : scratch.floats(S_SCORE_SUM, bq);
        float[] topScores = topK == 0 ? null : scratch.floats(S_TOP_SCORES, bq * topK);
        int[] topKeys = topK == 0 ? null : scratch.ints(I_TOP_KEYS, bq * topK);
        int[] topCount = topK == 0 ? null : scratch.ints(I_TOP_COUNT, bq);
        int[] from = null, to = null;

        // qT[t][i] = scale · q[b, q0 + i, h, t]: the scale is folded into the queries once per block.
        ops.transposeScaled(q.data(), q.at(b, q0, h), q.strideSeq(), nq, d, qT, 0, bq, p.scale());
        Arrays.fill(o, 0, nq * dv, 0f);
        Arrays.fill(m, 0, nq, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, nq, 0f);
        if (scoreSum != null) {
            Arrays.fill(scoreSum, 0, nq, 0f);
        }
        if (topCount != null) {
            Arrays.fill(topCount, 0, nq, 0);
        }

        int row = blocks.row(b, h, qb);
        for (int run = blocks.runsStart(row); run < blocks.runsEnd(row); run++) {
            boolean full = blocks.runFull(run);
            for (int kb = blocks.runFrom(run); kb < blocks.runTo(run); kb++) {
                int k0 = kb * bk, nk = Math.min(bk, lk - k0);
                scoreTile(p, qT, 0, bq, b, h, q0, nq, k0, nk, s, bq, keys);
                int[] tileFrom = null, tileTo = null; // interval bounds for the softmax step to mask with
                if (!full && mask != null) {
                    if (mask instanceof IntervalMask interval) {
                        if (from == null) {
                            from = scratch.ints(I_FROM, bq);
                            to = scratch.ints(I_TO, bq);
                            intervalBounds(interval, b, h, q0, nq, from, to);
                        }
                        if (topK > 0) {
                            ops.maskOutsideIntervals(s, 0, bq, nk, nq, k0, from, to, 0); // top-k sees masked scores
                        } else {
                            tileFrom = from;
                            tileTo = to;
                        }
                    } else {
                        maskElements(mask, s, bq, b, h, q0, nq, k0, nk);
                    }
                }
                if (topK > 0) {
                    offerTopKeys(s, bq, nq, k0, nk, topK, topScores, topKeys, topCount);
                }
                // online softmax: m_new = max(m, max_j s), l = l·e^(m − m_new) + Σ_j e^(s − m_new), o likewise
                ops.onlineSoftmaxTransposed(s, 0, bq, nk, nq, k0, tileFrom, tileTo, m, l, scoreSum, alpha, o, dv, dv);
                // pack the value rows: strided rows (Hkv·Dv apart) alias in L1; contiguous ones stay there
                for (int j = 0, at = v.at(b, k0, kvh); j < nk; j++, at += v.strideSeq()) {
                    System.arraycopy(v.data(), at, values, j * dv, dv);
                }
                ops.accumulateTransposed(s, 0, bq, nq, nk, values, 0, dv, dv, o, 0, dv);
            }
        }

        HeadView out = p.out();
        for (int i = 0; i < nq; i++) {
            int outRow = out.at(b, q0 + i, h);
            int stat = (b * heads + h) * lq + q0 + i;
            // l == 0: no visible key. A NaN l (only possible with checkFinite(false) and a NaN input) propagates.
            float rowLse = l[i] != 0 ? m[i] + (float) Math.log(l[i]) : Float.NEGATIVE_INFINITY;
            if (l[i] != 0) {
                float inverse = 1f / l[i]; // once per row and block: a scalar loop keeps SIMD out of this method
                for (int c = 0; c < dv; c++) {
                    out.data()[outRow + c] = o[i * dv + c] * inverse;
                }
            } else {
                Arrays.fill(out.data(), outRow, outRow + dv, 0f);
            }
            if (lse != null) {
                lse.array()[stat] = rowLse;
            }
            if (entropy != null) {
                // H = lse − E_p[s], E_p[s] = Σ e^(s−m) s / l
                entropy.array()[stat] = l[i] != 0 ? Math.max(0f, rowLse - scoreSum[i] / l[i]) : 0f;
            }
            if (topK > 0) {
                writeTopKeys(top, stat, i * topK, topCount[i], topScores, topKeys, rowLse);
            }
        }
    }

    /**
     * The score tile {@code s[j][i] = qT[:, qTOffset + i] · k[b, k0 + j, kvh]} (scale folded into qT) for queries
     * q0 … q0 + nq − 1 and keys k0 … k0 + nk − 1, with the score mod applied.
     */
    private void scoreTile(AttentionProblem p, float[] qT, int qTOffset, int qTStride, int b, int h, int q0, int nq,
                           int k0, int nk, float[] s, int sStride, float[] keyTile) {
        HeadView k = p.k();
        int d = p.headDim(), at = k.at(b, k0, h / p.group());
        if (k.strideSeq() != d) {
            // Strided key rows (heads interleaved, BSHD) are copied into a contiguous tile first: the copy keeps
            // many cache misses in flight, where the FMA loop would meet them one row at a time. At 16K tokens and
            // 8 heads this is the difference between 97 and 120 GFLOP/s.
            for (int j = 0; j < nk; j++, at += k.strideSeq()) {
                System.arraycopy(k.data(), at, keyTile, j * d, d);
            }
            engine.ops().scoresTransposed(qT, qTOffset, qTStride, nq, keyTile, 0, d, nk, d, s, 0, sStride);
        } else {
            engine.ops().scoresTransposed(qT, qTOffset, qTStride, nq, k.data(), at, d, nk, d, s, 0, sStride);
        }
        if (p.scoreMod() != null) {
            p.scoreMod().applyTile(s, 0, 1, sStride, b, h, q0, nq, k0, nk, engine.ops());
        }
    }

    /** The visible key interval of queries q0 … q0 + nq − 1. */
    private static void intervalBounds(IntervalMask mask, int b, int h, int q0, int nq, int[] from, int[] to) {
        for (int i = 0; i < nq; i++) {
            from[i] = mask.keyFrom(b, h, q0 + i);
            to[i] = mask.keyTo(b, h, q0 + i);
        }
    }

    private static void maskElements(MaskMod mask, float[] s, int stride, int b, int h, int q0, int nq, int k0, int nk) {
        for (int j = 0; j < nk; j++) {
            for (int i = 0; i < nq; i++) {
                if (!mask.test(b, h, q0 + i, k0 + j)) {
                    s[j * stride + i] = Float.NEGATIVE_INFINITY;
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ top-k keys

    /** Min-heap per query of (score, key): the root is the worst kept entry. */
    private static void offerTopKeys(float[] s, int stride, int nq, int k0, int nk, int topK,
                                     float[] scores, int[] keys, int[] count) {
        for (int i = 0; i < nq; i++) {
            int base = i * topK;
            int c = count[i];
            for (int j = 0; j < nk; j++) {
                float score = s[j * stride + i];
                if (score == Float.NEGATIVE_INFINITY) {
                    continue;
                }
                int key = k0 + j;
                if (c < topK) {
                    // sift up
                    int pos = c++;
                    while (pos > 0) {
                        int parent = (pos - 1) >>> 1;
                        if (!worse(score, key, scores[base + parent], keys[base + parent])) {
                            break;
                        }
                        scores[base + pos] = scores[base + parent];
                        keys[base + pos] = keys[base + parent];
                        pos = parent;
                    }
                    scores[base + pos] = score;
                    keys[base + pos] = key;
                } else if (worse(scores[base], keys[base], score, key)) {
                    // replace the root and sift down
                    int pos = 0;
                    while (true) {
                        int child = 2 * pos + 1;
                        if (child >= topK) {
                            break;
                        }
                        if (child + 1 < topK && worse(scores[base + child + 1], keys[base + child + 1],
                                scores[base + child], keys[base + child])) {
                            child++;
                        }
                        if (!worse(scores[base + child], keys[base + child], score, key)) {
                            break;
                        }
                        scores[base + pos] = scores[base + child];
                        keys[base + pos] = keys[base + child];
                        pos = child;
                    }
                    scores[base + pos] = score;
                    keys[base + pos] = key;
                }
            }
            count[i] = c;
        }
    }

    /** Whether (s1, k1) ranks below (s2, k2): lower score, or equal score and higher key. */
    private static boolean worse(float s1, int k1, float s2, int k2) {
        return s1 < s2 || (s1 == s2 && k1 > k2);
    }

    private static void writeTopKeys(TopKeys top, int stat, int base, int count, float[] scores, int[] keys,
                                     float rowLse) {
        int topK = top.k();
        int outBase = stat * topK;
        // insertion sort of the heap entries, best first
        for (int a = 0; a < count; a++) {
            int bestAt = a;
            for (int c = a + 1; c < count; c++) {
                if (worse(scores[base + bestAt], keys[base + bestAt], scores[base + c], keys[base + c])) {
                    bestAt = c;
                }
            }
            float bestScore = scores[base + bestAt];
            int bestKey = keys[base + bestAt];
            scores[base + bestAt] = scores[base + a];
            keys[base + bestAt] = keys[base + a];
            scores[base + a] = bestScore;
            keys[base + a] = bestKey;
            top.indices()[outBase + a] = bestKey;
            top.weights()[outBase + a] = (float) Math.exp(bestScore - rowLse);
        }
        for (int a = count; a < topK; a++) {
            top.indices()[outBase + a] = -1;
            top.weights()[outBase + a] = 0f;
        }
    }

    // ------------------------------------------------------------------------------------------------ column mass

    /**
     * mass[b, h, j] = Σ_i exp(s_ij − lse_i): a second pass over the kept tiles once every lse is known. Tasks own
     * ranges of key blocks, and each key's sum runs over query blocks in order, so the result is deterministic.
     */
    private void columnMass(AttentionProblem p, BlockMask blocks, Tensor lse, Tensor mass) {
        VectorOps ops = engine.ops();
        int batch = p.batch(), heads = p.heads(), lq = p.queryLength(), lk = p.keyLength();
        int d = p.headDim(), bq = blocks.blockQ(), bk = blocks.blockK();
        int queryBlocks = blocks.queryBlocks(), keyBlocks = blocks.keyBlocks();
        int perTask = Math.max(1, (int) Math.min(keyBlocks,
                (long) keyBlocks * batch * heads / (4L * engine.threads())));
        int chunks = (keyBlocks + perTask - 1) / perTask;
        ScoreMod scoreMod = p.scoreMod();
        MaskMod mask = blocks.mask();
        engine.parallelFor(batch * heads * chunks, task -> {
            int chunk = task % chunks, bh = task / chunks;
            int b = bh / heads, h = bh % heads, kvh = h / p.group();
            Scratch scratch = Scratch.get();
            HeadView q = p.q(), k = p.k();
            float[] qT = scratch.floats(S_QT, d * lq);
            float[] s = scratch.floats(S_SCORES, bk * bq);
            float[] keys = scratch.floats(S_KEYS, bk * d);
            float[] shift = scratch.floats(S_SHIFT, lq);
            int[] from = scratch.ints(I_FROM, bq), to = scratch.ints(I_TO, bq);
            ops.transposeScaled(q.data(), q.at(b, 0, h), q.strideSeq(), lq, d, qT, 0, lq, p.scale());
            int lseBase = (b * heads + h) * lq;
            for (int i = 0; i < lq; i++) {
                float x = lse.array()[lseBase + i];
                shift[i] = x == Float.NEGATIVE_INFINITY ? Float.POSITIVE_INFINITY : x; // no key: contributes 0
            }
            float[] massData = mass.array();
            int massBase = (b * heads + h) * lk;
            for (int kb = chunk * perTask; kb < Math.min(keyBlocks, (chunk + 1) * perTask); kb++) {
                int k0 = kb * bk, nk = Math.min(bk, lk - k0);
                Arrays.fill(massData, massBase + k0, massBase + k0 + nk, 0f);
                for (int qb = 0; qb < queryBlocks; qb++) {
                    int kind = blocks.tileKind(blocks.row(b, h, qb), kb);
                    if (kind == 0) {
                        continue;
                    }
                    int q0 = qb * bq, nq = Math.min(bq, lq - q0);
                    scoreTile(p, qT, q0, lq, b, h, q0, nq, k0, nk, s, bq, keys);
                    if (kind == 1 && mask != null) {
                        if (mask instanceof IntervalMask interval) {
                            intervalBounds(interval, b, h, q0, nq, from, to);
                            ops.maskOutsideIntervals(s, 0, bq, nk, nq, k0, from, to, 0);
                        } else {
                            maskElements(mask, s, bq, b, h, q0, nq, k0, nk);
                        }
                    }
                    for (int j = 0; j < nk; j++) {
                        massData[massBase + k0 + j] += ops.expShiftedSum(s, j * bq, nq, shift, q0);
                    }
                }
            }
        });
    }
}
