package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Masks;
import io.attn4j.attention.PartialState;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.SplittableRandom;

/**
 * Content-based sparse attention by clustering: the Routing Transformer (Roy, Saffar, Vaswani, Grangier, "Efficient
 * Content-Based Sparse Attention with Routing Transformers", TACL 2021). Queries and keys are clustered together by
 * k-means, and each query attends to the keys of its own cluster, plus an exact local window, as the paper's
 * models mix routing heads with local heads.
 *
 * <p><b>Algorithm</b>, per (batch, query head), with {@code c = ⌈Lk / clusterSize⌉} clusters:
 * <ol>
 *   <li><em>Spherical k-means</em> over the L2-normalised rows of Q (this head) and K (its KV head) together: the
 *       {@code c} centroids start at distinct points drawn with the config's seed, and {@code iterations} Lloyd
 *       steps assign every point to the centroid of highest cosine and set each centroid to the normalised mean
 *       of its points (a centroid left without points keeps its place). A last assignment gives each point its
 *       cluster and its similarity to the centroid.</li>
 *   <li><em>Balanced clusters</em>: queries are sorted by (cluster, −similarity, index) and cut into {@code c}
 *       consecutive chunks of {@code ⌊Lq/c⌋} or {@code ⌈Lq/c⌉}; keys the same way. A cluster with too many members
 *       passes its least similar ones to the next chunk, so every chunk has its share (the paper's balanced top-w
 *       routing, made a partition: every token is in exactly one chunk). Chunk i of queries attends to chunk i of
 *       keys.</li>
 *   <li><em>Routing attention</em>: Q, K and V are gathered into chunk order (within a chunk, by position), and
 *       {@code flash} runs over a block-diagonal {@link BlockMask} of that sorted order: whole GEMM tiles, with an
 *       element mask only in tiles cut by a chunk edge or a window edge. Because each chunk is sorted by position,
 *       the keys a query may see in its chunk are intervals of the sorted order: causal, the keys at positions
 *       {@code <= p − w} (one interval, SIMD-masked as an {@link IntervalMask}); noncausal, those at distance
 *       {@code >= w} from {@code p} (a prefix and a suffix of the chunk).</li>
 *   <li><em>Local attention</em> over the window of {@code w} keys ({@link Masks#slidingWindow}, as
 *       {@link SlidingWindow}) runs through {@code flash} with its log-sum-exp, and the two disjoint parts merge
 *       exactly ({@link PartialState#mergeRow}): the result is the exact softmax over the union of the query's
 *       window and the rest of its chunk ({@link #keptKeys}). Nothing is counted twice, and a causal query always
 *       sees itself.</li>
 * </ol>
 *
 * <p><b>Choices</b> (the paper trains its centroids by exponential moving average during training; here nothing is
 * trained):
 * <ul>
 *   <li>Centroids are fitted at run time by a fixed number of Lloyd iterations (4 by default), initialised from
 *       data points drawn by a {@link SplittableRandom} seeded by the config's seed and (batch, head): the result
 *       is deterministic for a seed, and another seed gives another clustering. Ties go to the lower cluster.</li>
 *   <li>Q and K share centroids (the paper's shared routing space; it also ties the query and key projections,
 *       which a pretrained model does not, so queries and keys are normalised separately instead).</li>
 *   <li>Clusters per head follow the key length: {@code clusterSize} keys per cluster (512 by default, about
 *       {@code √n} at 256K tokens; the paper's {@code c ≈ √n} is {@code clusterSize = √n}), at most
 *       {@code min(Lq, Lk)} clusters so every chunk is non-empty. The window is 256 keys by default (causal: the
 *       last 256 positions, noncausal: distance {@code < 256} on either side, as {@link SlidingWindow}); 0 turns
 *       local attention off, and a causal query whose chunk holds no earlier key then sees nothing (output 0).</li>
 *   <li>Clustering is per query head; under GQA each query head gathers its own copy of its KV head's keys.</li>
 *   <li>No spec masks or score mods (the sorted order has no original indices to give them); no log-sum-exp
 *       (splitting the keys changes the clusters); not prefix invariant (the centroids depend on every token).
 *       Decode is refused: a handful of queries makes no clusters.</li>
 * </ul>
 *
 * <p><b>Complexity.</b> k-means O((i + 1)·(Lq + Lk)·c·d) for i iterations; attention O(Lq·(Lk/c + w)·d); with
 * {@code c = √n} and {@code w <= √n}, O(n^1.5·d). Extra memory O(B·Hq·(Lq + Lk)·(d + Dv)) for the sorted copies
 * and the routing part's output, O((Lq + Lk)·d + c·d) per thread for the k-means, and nothing of size n².
 */
public final class Routing implements SparseAttention {

    /**
     * @param clusterSize keys per cluster: {@code c = ⌈Lk / clusterSize⌉} clusters ({@code >= 1}; a size {@code >= Lk}
     *                    is one cluster, which with {@code window = 0} is exact attention)
     * @param iterations  Lloyd iterations of the k-means ({@code 0} assigns to the seeded initial centroids)
     * @param window      local window in keys ({@code 0}: routing only)
     * @param seed        seed of the centroids' initialisation
     * @param blockQ      queries per tile of both flash passes
     * @param blockK      keys per tile
     */
    public record Config(int clusterSize, int iterations, int window, long seed, int blockQ, int blockK)
            implements MechanismConfig {
        /** The seed of {@link #defaults()}. */
        public static final long DEFAULT_SEED = 0x5EED_2003_05997L;

        public Config {
            if (clusterSize < 1) {
                throw new IllegalArgumentException("clusterSize = " + clusterSize + "; allowed: >= 1 keys per cluster");
            }
            if (iterations < 0 || iterations > 1000) {
                throw new IllegalArgumentException("iterations = " + iterations + "; allowed: 0 to 1000 k-means "
                        + "iterations");
            }
            if (window < 0) {
                throw new IllegalArgumentException("window = " + window + "; allowed: >= 0 keys (0: no local part)");
            }
            SlidingWindow.checkBlocks(blockQ, blockK);
        }

        /** Clusters of {@code clusterSize} keys and a window of {@code window}, 4 iterations, the default seed. */
        public static Config of(int clusterSize, int window) {
            return new Config(clusterSize, 4, window, DEFAULT_SEED, 128, 64);
        }

        /** This configuration with another seed. */
        public Config withSeed(long newSeed) {
            return new Config(clusterSize, iterations, window, newSeed, blockQ, blockK);
        }

        /** This configuration with another number of k-means iterations. */
        public Config withIterations(int newIterations) {
            return new Config(clusterSize, newIterations, window, seed, blockQ, blockK);
        }

        /** Clusters of 512 keys (32 at 16K tokens) and a 256-key window. */
        public static Config defaults() {
            return of(512, 256);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("routing", Family.SPARSE,
            "Routing Transformer (online k-means routing + local window)",
            "Roy, Saffar, Vaswani, Grangier: \"Efficient Content-Based Sparse Attention with Routing Transformers\", "
                    + "TACL 2021 (arXiv:2003.05997)",
            EnumSet.of(Pattern.NS, Pattern.CS, Pattern.NC, Pattern.CC), Weights.FREE, false, false, false,
            "O(n^1.5 d) with c = sqrt(n) clusters; O(n (n/c + w) d + i n c d) in general",
            "O(B H n (d + dv)) sorted copies; O(n d) per thread", Config.class, Config.defaults(),
            (config, engine) -> new Routing((Config) config, engine), EnumSet.noneOf(Guarantee.class));

    private static final String DECODE_REASON = "; decode is refused: a few new queries make no clusters "
            + "(use sliding-window or flash)";

    private final Config config;
    private final Engine engine;
    private final FlashAttention flash;

    public Routing(Config config, Engine engine) {
        this.config = config;
        this.engine = engine;
        this.flash = new FlashAttention(new FlashAttention.Config(config.blockQ(), config.blockK()), engine);
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
        AttentionProblem p = BlockSparseAttention.validate(DESCRIPTOR, q, k, v, spec, out, DECODE_REASON);
        boolean causal = spec.isCausal();
        Clusters clusters = cluster(p);
        int batch = p.batch(), heads = p.heads(), lq = p.queryLength(), lk = p.keyLength();
        int d = p.headDim(), dv = p.valueDim();

        // the local window first, straight into the output, with its log-sum-exp
        float[] localLse = null;
        if (config.window() > 0) {
            AttentionProblem local = AttentionProblem.of(q, k, v, spec.returnLse().checkFinite(false), p.output());
            MaskMod window = Masks.slidingWindow(config.window()).bind(lq, lk);
            MaskMod mask = p.mask() == null ? window : p.mask().and(window);
            localLse = flash.run(local, BlockMask.of(mask, batch, heads, lq, lk, config.blockQ(), config.blockK()))
                    .lse().array();
        }

        // the routing part in chunk order: Q, K, V gathered per query head (BHSD), block-diagonal tiles
        Tensor qs = Tensor.zeros(batch, heads, lq, d), ks = Tensor.zeros(batch, heads, lk, d);
        Tensor vs = Tensor.zeros(batch, heads, lk, dv), os = Tensor.zeros(batch, heads, lq, dv);
        engine.parallelFor(batch * heads, bh -> gather(p, clusters, bh, qs, ks, vs));
        AttentionProblem sorted = AttentionProblem.of(qs, ks, vs, AttentionSpec.noncausal().scale(p.scale())
                .layout(Layout.BHSD).returnLse().checkFinite(false), os);
        ChunkMask mask = chunkMask(clusters, p, causal);
        float[] routedLse = flash.run(sorted, blockMask(mask, p)).lse().array();

        // scatter back to positions, merged with the window's state: disjoint keys, so the merge is exact
        float[] localLseFinal = localLse;
        engine.parallelFor(batch * heads, bh -> {
            int b = bh / heads, h = bh % heads;
            HeadView o = p.out();
            float[] routed = os.array();
            for (int s = 0; s < lq; s++) {
                int query = clusters.queryOrder[bh * lq + s];
                int at = o.at(b, query, h), from = (bh * lq + s) * dv;
                if (localLseFinal == null) {
                    System.arraycopy(routed, from, o.data(), at, dv);
                } else {
                    PartialState.mergeRow(o.data(), at, localLseFinal[bh * lq + query], routed, from,
                            routedLse[bh * lq + s], o.data(), at, dv);
                }
            }
        });
        return p.result(null, null, null, null);
    }

    @Override
    public KeptKeys keptKeys(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        AttentionProblem p = BlockSparseAttention.validate(DESCRIPTOR, q, k, v, spec, null, DECODE_REASON);
        Clusters clusters = cluster(p);
        int heads = p.heads(), lq = p.queryLength(), lk = p.keyLength(), w = config.window();
        int[] queryChunk = new int[clusters.queryOrder.length], keyChunk = new int[clusters.keyOrder.length];
        for (int bh = 0; bh < p.batch() * heads; bh++) {
            for (int s = 0; s < lq; s++) {
                queryChunk[bh * lq + clusters.queryOrder[bh * lq + s]] = chunkOf(s, lq, clusters.count);
            }
            for (int s = 0; s < lk; s++) {
                keyChunk[bh * lk + clusters.keyOrder[bh * lk + s]] = chunkOf(s, lk, clusters.count);
            }
        }
        boolean causal = spec.isCausal();
        return (b, h, query, key) -> {
            int position = query + lk - lq, bh = b * heads + h;
            if (causal && key > position) {
                return false;
            }
            return Math.abs(position - key) < w || queryChunk[bh * lq + query] == keyChunk[bh * lk + key];
        };
    }

    // ------------------------------------------------------------------------------------------------ clustering

    /**
     * The balanced clustering of every (batch, query head): {@code queryOrder[bh·Lq + s]} is the query at sorted
     * index s (chunk by chunk, by position within a chunk), {@code keyOrder} likewise; chunk i of the queries is
     * {@code [⌊i·Lq/count⌋, ⌊(i+1)·Lq/count⌋)} and of the keys the same with Lk.
     */
    record Clusters(int count, int[] queryOrder, int[] keyOrder) {
    }

    /** The number of clusters of a call. */
    int clusterCount(int queryLength, int keyLength) {
        long c = ((long) keyLength + config.clusterSize() - 1) / config.clusterSize();
        return (int) Math.max(1, Math.min(c, Math.min(queryLength, keyLength)));
    }

    /** Clusters every (batch, query head) of a validated call: one task each, deterministic. */
    Clusters cluster(AttentionProblem p) {
        int heads = p.heads(), lq = p.queryLength(), lk = p.keyLength();
        int count = clusterCount(lq, lk);
        int[] queryOrder = new int[p.batch() * heads * lq], keyOrder = new int[p.batch() * heads * lk];
        engine.parallelFor(p.batch() * heads, bh -> new KMeans(p, bh / heads, bh % heads, count)
                .balance(queryOrder, bh * lq, keyOrder, bh * lk));
        return new Clusters(count, queryOrder, keyOrder);
    }

    /** The chunk of sorted index {@code s} of {@code length}: the i with ⌊i·length/c⌋ <= s < ⌊(i+1)·length/c⌋. */
    static int chunkOf(int s, int length, int chunks) {
        return (int) (((long) (s + 1) * chunks + length - 1) / length) - 1;
    }

    /** The first sorted index of chunk {@code i}. */
    static int chunkStart(int i, int length, int chunks) {
        return (int) ((long) i * length / chunks);
    }

    /** Spherical k-means of one (batch, query head): Q rows are points [0, Lq), K rows [Lq, Lq + Lk). */
    private final class KMeans {
        private static final int TILE = 64;
        private final int lq, lk, n, d, c;
        private final float[] points, centroids, centroidsT, sums, similarity, scores;
        private final int[] assignment, members;
        private final SplittableRandom random;

        KMeans(AttentionProblem p, int b, int h, int count) {
            lq = p.queryLength();
            lk = p.keyLength();
            n = lq + lk;
            d = p.headDim();
            c = count;
            points = new float[n * d];
            HeadView q = p.q(), k = p.k();
            for (int i = 0; i < lq; i++) {
                normalise(q.data(), q.at(b, i, h), points, i * d);
            }
            for (int j = 0; j < lk; j++) {
                normalise(k.data(), k.at(b, j, h / p.group()), points, (lq + j) * d);
            }
            centroids = new float[c * d];
            centroidsT = new float[d * c];
            sums = new float[c * d];
            similarity = new float[n];
            assignment = new int[n];
            members = new int[c];
            scores = new float[TILE * c];
            // the seed and the head pick the initial centroids: c distinct points (a partial Fisher-Yates shuffle)
            random = new SplittableRandom(config.seed() ^ (0x9E3779B97F4A7C15L * (1 + (long) b * p.heads() + h)));
        }

        /** Fits the centroids and writes the balanced orders of queries and keys. */
        void balance(int[] queryOrder, int queryAt, int[] keyOrder, int keyAt) {
            int[] pick = new int[n];
            for (int i = 0; i < n; i++) {
                pick[i] = i;
            }
            for (int i = 0; i < c; i++) {
                int j = i + random.nextInt(n - i);
                int t = pick[i];
                pick[i] = pick[j];
                pick[j] = t;
                System.arraycopy(points, pick[i] * d, centroids, i * d, d);
            }
            for (int it = 0; it < config.iterations(); it++) {
                assign();
                update();
            }
            assign();
            order(0, lq, queryOrder, queryAt);
            order(lq, lk, keyOrder, keyAt);
        }

        /** Every point to the centroid of highest cosine (ties: the lower cluster), with that cosine. */
        private void assign() {
            VectorOps ops = engine.ops();
            ops.transposeScaled(centroids, 0, d, c, d, centroidsT, 0, c, 1f);
            for (int j0 = 0; j0 < n; j0 += TILE) {
                int nj = Math.min(TILE, n - j0);
                // scores[j][i] = point j0 + j · centroid i
                ops.scoresTransposed(centroidsT, 0, c, c, points, j0 * d, d, nj, d, scores, 0, c);
                for (int j = 0; j < nj; j++) {
                    int best = 0;
                    float bestScore = scores[j * c];
                    for (int i = 1; i < c; i++) {
                        if (scores[j * c + i] > bestScore) {
                            bestScore = scores[j * c + i];
                            best = i;
                        }
                    }
                    assignment[j0 + j] = best;
                    similarity[j0 + j] = bestScore;
                }
            }
        }

        /** Each centroid to the normalised mean of its points, summed in point order; an empty one stays. */
        private void update() {
            Arrays.fill(sums, 0f);
            Arrays.fill(members, 0);
            VectorOps ops = engine.ops();
            for (int j = 0; j < n; j++) {
                int i = assignment[j];
                ops.axpy(1f, points, j * d, sums, i * d, d);
                members[i]++;
            }
            for (int i = 0; i < c; i++) {
                if (members[i] > 0) {
                    normalise(sums, i * d, centroids, i * d); // a zero sum (points that cancel) leaves it in place
                }
            }
        }

        /**
         * The points {@code [from, from + count)} sorted by (cluster, −similarity, index), cut into c chunks, each
         * chunk then sorted by position; written as point indices relative to {@code from}.
         */
        private void order(int from, int count, int[] out, int at) {
            // counting sort by cluster, then (−similarity, index) within each cluster as one ascending long
            int[] start = new int[c + 1];
            for (int j = from; j < from + count; j++) {
                start[assignment[j] + 1]++;
            }
            for (int i = 0; i < c; i++) {
                start[i + 1] += start[i];
            }
            long[] keyed = new long[count];
            int[] fill = Arrays.copyOf(start, c);
            for (int j = from; j < from + count; j++) {
                int bits = Float.floatToIntBits(similarity[j] == 0f ? 0f : similarity[j]);
                int sortable = bits >= 0 ? bits : bits ^ 0x7fffffff; // ascending int order = ascending float order
                keyed[fill[assignment[j]]++] = ((long) ~sortable << 32) | (j - from);
            }
            for (int i = 0; i < c; i++) {
                Arrays.sort(keyed, start[i], start[i + 1]);
            }
            for (int s = 0; s < count; s++) {
                out[at + s] = (int) keyed[s];
            }
            for (int i = 0; i < c; i++) {
                Arrays.sort(out, at + chunkStart(i, count, c), at + chunkStart(i + 1, count, c));
            }
        }

        /** dst = src / ‖src‖; a zero src leaves dst as it is. */
        private void normalise(float[] src, int srcAt, float[] dst, int dstAt) {
            double norm = 0;
            for (int t = 0; t < d; t++) {
                norm += (double) src[srcAt + t] * src[srcAt + t];
            }
            if (norm > 0) {
                float inverse = (float) (1 / Math.sqrt(norm));
                for (int t = 0; t < d; t++) {
                    dst[dstAt + t] = src[srcAt + t] * inverse;
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ sorted attention

    /** Copies the rows of one (batch, query head) into chunk order. */
    private static void gather(AttentionProblem p, Clusters clusters, int bh, Tensor qs, Tensor ks, Tensor vs) {
        int heads = p.heads(), lq = p.queryLength(), lk = p.keyLength(), d = p.headDim(), dv = p.valueDim();
        int b = bh / heads, h = bh % heads, kvh = h / p.group();
        HeadView q = p.q(), k = p.k(), v = p.v();
        for (int s = 0; s < lq; s++) {
            System.arraycopy(q.data(), q.at(b, clusters.queryOrder[bh * lq + s], h), qs.array(), (bh * lq + s) * d, d);
        }
        for (int s = 0; s < lk; s++) {
            int key = clusters.keyOrder[bh * lk + s];
            System.arraycopy(k.data(), k.at(b, key, kvh), ks.array(), (bh * lk + s) * d, d);
            System.arraycopy(v.data(), v.at(b, key, kvh), vs.array(), (bh * lk + s) * dv, dv);
        }
    }

    /**
     * The keys each sorted query sees in the routing part, as at most two intervals of sorted key indices
     * {@code [from1, to1) ∪ [from2, to2)} inside its chunk: the chunk's keys minus the window (and, causal, minus
     * later positions). A chunk is sorted by position, so these are a prefix (positions {@code <= p − w}, or
     * {@code <= p} without a window) and, noncausal, a suffix (positions {@code >= p + w}).
     */
    private ChunkMask chunkMask(Clusters clusters, AttentionProblem p, boolean causal) {
        int heads = p.heads(), lq = p.queryLength(), lk = p.keyLength(), c = clusters.count, w = config.window();
        int rows = p.batch() * heads * lq;
        int[] from1 = new int[rows], to1 = new int[rows];
        int[] from2 = causal || w == 0 ? null : new int[rows], to2 = from2 == null ? null : new int[rows];
        engine.parallelFor(p.batch() * heads, bh -> {
            int[] keys = clusters.keyOrder;
            for (int s = 0; s < lq; s++) {
                int chunk = chunkOf(s, lq, c), row = bh * lq + s;
                int k0 = bh * lk + chunkStart(chunk, lk, c), k1 = bh * lk + chunkStart(chunk + 1, lk, c);
                int position = clusters.queryOrder[row] + lk - lq;
                // keys of the chunk at positions <= last: the prefix [k0, upTo(last))
                long last = w == 0 ? (causal ? position : Long.MAX_VALUE) : (long) position - w;
                from1[row] = k0 - bh * lk;
                to1[row] = countAtMost(keys, k0, k1, last) - bh * lk;
                if (from2 != null) {
                    from2[row] = countAtMost(keys, k0, k1, (long) position + w - 1) - bh * lk;
                    to2[row] = k1 - bh * lk;
                }
            }
        });
        return from2 == null ? new OneInterval(heads, lq, from1, to1) : new TwoIntervals(heads, lq, from1, to1,
                from2, to2);
    }

    /** The first index in sorted {@code keys[from, to)} holding a value {@code > last}. */
    private static int countAtMost(int[] keys, int from, int to, long last) {
        int lo = from, hi = to;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (keys[mid] <= last) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /**
     * The tiles of the sorted problem: for each query block, the key tiles its queries' intervals touch, full when
     * every query sees the whole tile, partial otherwise (classified exactly from the intervals).
     */
    private BlockMask blockMask(ChunkMask mask, AttentionProblem p) {
        int batch = p.batch(), heads = p.heads(), lq = p.queryLength(), lk = p.keyLength();
        int bq = config.blockQ(), bk = config.blockK(), queryBlocks = (lq + bq - 1) / bq;
        BlockMask.Builder builder = BlockMask.builder(batch, heads, lq, lk, bq, bk, mask);
        for (int bh = 0; bh < batch * heads; bh++) {
            for (int qb = 0; qb < queryBlocks; qb++) {
                builder.startRow(bh / heads, bh % heads, qb);
                int r0 = bh * lq + qb * bq, r1 = bh * lq + Math.min(lq, (qb + 1) * bq);
                int lo = lk, hi = 0;
                for (int r = r0; r < r1; r++) {
                    for (int part = 0; part < mask.parts(); part++) {
                        if (mask.from(part, r) < mask.to(part, r)) {
                            lo = Math.min(lo, mask.from(part, r));
                            hi = Math.max(hi, mask.to(part, r));
                        }
                    }
                }
                for (int kb = lo / bk; kb * bk < hi; kb++) {
                    int k0 = kb * bk, k1 = Math.min(lk, k0 + bk);
                    boolean full = true, any = false;
                    for (int r = r0; r < r1; r++) {
                        int seen = 0;
                        for (int part = 0; part < mask.parts(); part++) {
                            seen += Math.max(0, Math.min(k1, mask.to(part, r)) - Math.max(k0, mask.from(part, r)));
                        }
                        full &= seen == k1 - k0;
                        any |= seen > 0;
                    }
                    if (any) {
                        builder.add(kb, kb + 1, full);
                    }
                }
            }
        }
        return builder.build();
    }

    /** Per sorted query (row {@code (b·H + h)·Lq + s}), one or two key intervals of the sorted order. */
    private abstract static sealed class ChunkMask implements MaskMod permits OneInterval, TwoIntervals {
        final int heads, lq;

        ChunkMask(int heads, int lq) {
            this.heads = heads;
            this.lq = lq;
        }

        abstract int parts();

        abstract int from(int part, int row);

        abstract int to(int part, int row);

        final int row(int b, int h, int s) {
            return (b * heads + h) * lq + s;
        }
    }

    /** Causal, or no window: one interval per query, masked by the kernel's SIMD interval path. */
    private static final class OneInterval extends ChunkMask implements IntervalMask {
        private final int[] from, to;

        OneInterval(int heads, int lq, int[] from, int[] to) {
            super(heads, lq);
            this.from = from;
            this.to = to;
        }

        @Override
        int parts() {
            return 1;
        }

        @Override
        int from(int part, int row) {
            return from[row];
        }

        @Override
        int to(int part, int row) {
            return to[row];
        }

        @Override
        public int keyFrom(int b, int h, int s) {
            return from[row(b, h, s)];
        }

        @Override
        public int keyTo(int b, int h, int s) {
            return to[row(b, h, s)];
        }

        @Override
        public boolean test(int b, int h, int s, int key) {
            int r = row(b, h, s);
            return key >= from[r] && key < to[r];
        }

        @Override
        public OneInterval bind(int queryLength, int keyLength) {
            return this;
        }
    }

    /** Noncausal with a window: the chunk's keys before the window and those after it. */
    private static final class TwoIntervals extends ChunkMask {
        private final int[] from1, to1, from2, to2;

        TwoIntervals(int heads, int lq, int[] from1, int[] to1, int[] from2, int[] to2) {
            super(heads, lq);
            this.from1 = from1;
            this.to1 = to1;
            this.from2 = from2;
            this.to2 = to2;
        }

        @Override
        int parts() {
            return 2;
        }

        @Override
        int from(int part, int row) {
            return part == 0 ? from1[row] : from2[row];
        }

        @Override
        int to(int part, int row) {
            return part == 0 ? to1[row] : to2[row];
        }

        @Override
        public boolean test(int b, int h, int s, int key) {
            int r = row(b, h, s);
            return (key >= from1[r] && key < to1[r]) || (key >= from2[r] && key < to2[r]);
        }
    }
}
