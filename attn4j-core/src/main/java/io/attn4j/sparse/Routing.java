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
import io.attn4j.attention.Work;
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
 *   <li><em>Balanced spherical k-means</em> over the L2-normalised rows of Q (this head) and K (its KV head)
 *       together. The {@code c} centroids start at points drawn with the config's seed (k-means++). Each of the
 *       {@code iterations} Lloyd steps assigns every point to the centroid of highest cosine, balances the
 *       assignment (below), and sets each centroid to the normalised mean of its points. A last assignment and
 *       balancing give the clusters.</li>
 *   <li><em>Balancing</em>: cluster i takes exactly its share of the queries ({@code ⌊Lq/c⌋} or {@code ⌈Lq/c⌉}:
 *       {@code ⌊(i+1)·Lq/c⌋ − ⌊i·Lq/c⌋}) and of the keys. Queries go in order of decreasing similarity to their
 *       nearest centroid, each to its nearest cluster that still has room; keys the same way. This is the paper's
 *       balanced routing (each centroid takes its top-w tokens) made a partition, so every token is in exactly one
 *       cluster. The queries of cluster i attend to the keys of cluster i.</li>
 *   <li><em>Routing attention</em>: Q, K and V are gathered cluster by cluster, each cluster's rows a contiguous
 *       <em>chunk</em> sorted by position, and {@code flash} runs over a block-diagonal {@link BlockMask} of that
 *       sorted order: whole GEMM tiles, with an element mask only in tiles cut by a chunk edge or a window edge.
 *       Because each chunk is sorted by position, the keys a query may see in its chunk are intervals of the
 *       sorted order: causal, the keys at positions {@code <= p − w} (one interval, SIMD-masked as an
 *       {@link IntervalMask}); noncausal, those at distance {@code >= w} from {@code p} (a prefix and a suffix of
 *       the chunk).</li>
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
 *   <li>Centroids are fitted at run time by a fixed number of Lloyd iterations (3 by default), initialised by
 *       k-means++ from a {@link SplittableRandom} seeded by the config's seed and (batch, head): the result is
 *       deterministic for a seed, and another seed gives another clustering. Ties go to the lower cluster.</li>
 *   <li>Balancing inside every Lloyd step, not only at the end: with unbalanced steps, a k-means++ start that puts
 *       two centroids in one cluster and none in another stays there (on 8 planted clusters of 2048 tokens,
 *       recall 0.69–0.98 over seeds, half of them near 0.8); balanced steps push the extra centroid out (recall
 *       0.93–0.98 at 3 or 4 iterations, 0.82–0.98 at 2).</li>
 *   <li>Balancing is greedy, most confident tokens first, rather than the paper's top-w per centroid (where a
 *       token can be in several clusters or none) or a cut of the tokens sorted by (cluster, −similarity) into
 *       equal chunks (which hands each cluster's overflow to the next cluster by index, not to the nearest).
 *       Tokens whose nearest cluster is full are re-scored against every centroid: O(c·d) each.</li>
 *   <li>Q and K share one set of centroids and both update it, as in the paper; rows are L2-normalised (the paper
 *       routes layer-normalised Q and K on the unit sphere).</li>
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
 * <p><b>Fidelity</b> at the defaults on {@code StandardInputs.structured} (2048 tokens, d = 64: 4 clusters of 512
 * keys and the 256-key window): relative error 0.61–0.64 noncausal and 0.66–0.69 causal, attention-mass recall
 * 0.79–0.80 and 0.74–0.75, where the 256-key window alone has error 0.77–0.81 / 0.83–0.86 and recall 0.68–0.70 /
 * 0.61–0.63 (what routing misses are the sinks and the spread mass outside a query's cluster). On 8 clusters
 * planted at random positions of 2048 tokens, routing alone (no window) has recall 0.93–0.98 where a window of as
 * many keys has 0.12 (noncausal) and 0.40 (causal). {@code RoutingTest} holds these with a margin.
 *
 * <p><b>Complexity.</b> k-means O((i + 2)·(Lq + Lk)·c·d) for i iterations (k-means++ costs one pass), balancing
 * O(n log n) plus O(c·d) per displaced token per step; attention O(Lq·(Lk/c + w)·d). With {@code c = √n} and
 * {@code w <= √n}: O(n^1.5·d). Extra memory O(B·Hq·(Lq + Lk)·(d + Dv)) for the sorted copies and the routing
 * part's output, O((Lq + Lk)·d + 64·c) per thread for the k-means, and nothing of size n².
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

        /** Clusters of {@code clusterSize} keys and a window of {@code window}, 3 iterations, the default seed. */
        public static Config of(int clusterSize, int window) {
            return new Config(clusterSize, 3, window, DEFAULT_SEED, 128, 64);
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

    /**
     * Exact attention on the kept pairs (the query's cluster and its window), and as the selection the k-means:
     * {@code 2·D} per (point, centroid) similarity for the {@code Lq + Lk} points of every (batch, query head), in
     * the {@code iterations} Lloyd steps, the k-means++ start and the final assignment ({@code iterations + 2}
     * passes over the {@code c} centroids), plus {@code 2·D} per point and step for the centroid means. Re-scoring
     * the tokens balancing displaces is not counted.
     */
    @Override
    public Work work(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        Work kept = SparseAttention.super.work(q, k, v, spec);
        Work.Shape s = Work.Shape.of(q, k, v, spec);
        double points = (double) s.batch() * s.heads() * (s.queryLength() + s.keyLength());
        int c = clusterCount(s.queryLength(), s.keyLength()), passes = config.iterations() + 2;
        return kept.withSelection(points * 2.0 * s.headDim() * ((double) c * passes + config.iterations() + 1),
                "balanced k-means, 2·D per point and centroid in " + passes + " passes over " + c + " centroids");
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
        private final float[] points, pointsT, centroids, sums, similarity, scores;
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
            // the points again, transposed tile by tile (tile j0 / TILE holds pointsT[j0·d + t·TILE + j]): the
            // score kernel takes its many columns transposed and its few rows (the centroids) as rows
            pointsT = new float[((n + TILE - 1) / TILE) * TILE * d];
            for (int j0 = 0; j0 < n; j0 += TILE) {
                engine.ops().transposeScaled(points, j0 * d, d, Math.min(TILE, n - j0), d, pointsT, j0 * d, TILE, 1f);
            }
            sums = new float[c * d];
            similarity = new float[n];
            assignment = new int[n];
            members = new int[c];
            scores = new float[TILE * c];
            // the config's seed and the (batch, head) drive the k-means++ draws
            random = new SplittableRandom(config.seed() ^ (0x9E3779B97F4A7C15L * (1 + (long) b * p.heads() + h)));
        }

        /** Fits the centroids and writes the balanced orders of queries and keys. */
        void balance(int[] queryOrder, int queryAt, int[] keyOrder, int keyAt) {
            seed();
            for (int it = 0; it < config.iterations(); it++) {
                assign();
                // balanced already while fitting: a centroid that shares a cluster with another cannot keep more
                // than its share, and the overflow pulls it towards a cluster that has no centroid yet
                order(0, lq, queryOrder, queryAt);
                order(lq, lk, keyOrder, keyAt);
                update();
            }
            assign();
            order(0, lq, queryOrder, queryAt);
            order(lq, lk, keyOrder, keyAt);
        }

        /**
         * k-means++ initialisation (Arthur and Vassilvitskii, 2007): the first centroid is a random point, each next
         * one a point drawn with probability proportional to its squared distance to the nearest centroid so far
         * ({@code 2 − 2·cos} for unit vectors). Costs one assignment pass.
         */
        private void seed() {
            VectorOps ops = engine.ops();
            double[] nearest = new double[n]; // squared distance of each point to its nearest centroid so far
            Arrays.fill(nearest, Double.POSITIVE_INFINITY);
            int chosen = random.nextInt(n);
            for (int i = 0; i < c; i++) {
                System.arraycopy(points, chosen * d, centroids, i * d, d);
                if (i + 1 == c) {
                    break;
                }
                double total = 0;
                for (int j0 = 0; j0 < n; j0 += TILE) {
                    int nj = Math.min(TILE, n - j0);
                    // scores[j] = point j0 + j · centroid i
                    ops.scoresTransposed(pointsT, j0 * d, TILE, nj, centroids, i * d, d, 1, d, scores, 0, TILE);
                    for (int j = 0; j < nj; j++) {
                        nearest[j0 + j] = Math.min(nearest[j0 + j], Math.max(0, 2 - 2 * (double) scores[j]));
                        total += nearest[j0 + j];
                    }
                }
                // every point on a centroid already (total 0): a uniform draw
                chosen = total > 0 ? drawByDistance(nearest, total) : random.nextInt(n);
            }
        }

        /** A point drawn with probability proportional to {@code nearest}, whose sum is {@code total}. */
        private int drawByDistance(double[] nearest, double total) {
            double target = random.nextDouble() * total, sum = 0;
            int last = 0;
            for (int j = 0; j < n; j++) {
                if (nearest[j] > 0) {
                    sum += nearest[j];
                    last = j;
                    if (sum > target) {
                        return j;
                    }
                }
            }
            return last;
        }

        /** Every point to the centroid of highest cosine (ties: the lower cluster), with that cosine. */
        private void assign() {
            VectorOps ops = engine.ops();
            for (int j0 = 0; j0 < n; j0 += TILE) {
                int nj = Math.min(TILE, n - j0);
                // scores[i][j] = point j0 + j · centroid i: a tile of points (transposed) against every centroid
                ops.scoresTransposed(pointsT, j0 * d, TILE, nj, centroids, 0, d, c, d, scores, 0, TILE);
                for (int j = 0; j < nj; j++) {
                    float best = scores[j];
                    int bestAt = 0;
                    for (int i = 1; i < c; i++) {
                        float score = scores[i * TILE + j];
                        boolean better = score > best; // selects, not branches: which centroid wins is data noise
                        best = better ? score : best;
                        bestAt = better ? i : bestAt;
                    }
                    similarity[j0 + j] = best;
                    assignment[j0 + j] = bestAt;
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
         * The balanced clusters of the points {@code [from, from + count)}: cluster i takes exactly
         * {@code ⌊(i+1)·count/c⌋ − ⌊i·count/c⌋} of them. Points go in order of decreasing similarity to their
         * centroid (ties: lower index), each to its nearest cluster that still has room; a point whose nearest
         * cluster is full is scored against every centroid again and takes the best with room. Written as chunks in
         * cluster order, each sorted by position, as point indices relative to {@code from}.
         */
        private void order(int from, int count, int[] out, int at) {
            long[] keyed = new long[count];
            for (int j = from; j < from + count; j++) {
                keyed[j - from] = ((long) ~sortable(similarity[j]) << 32) | (j - from);
            }
            Arrays.sort(keyed);
            int[] room = new int[c], fill = new int[c];
            for (int i = 0; i < c; i++) {
                fill[i] = chunkStart(i, count, c);
                room[i] = chunkStart(i + 1, count, c) - fill[i];
            }
            VectorOps ops = engine.ops();
            for (long key : keyed) {
                int j = (int) key, cluster = assignment[from + j];
                if (room[cluster] == 0) {
                    // scores[i] = this point · centroid i; the best cluster with room (ties: the lower one)
                    ops.scoresTransposed(points, (from + j) * d, 1, 1, centroids, 0, d, c, d, scores, 0, 1);
                    cluster = -1;
                    for (int i = 0; i < c; i++) {
                        if (room[i] > 0 && (cluster < 0 || scores[i] > scores[cluster])) {
                            cluster = i;
                        }
                    }
                }
                room[cluster]--;
                assignment[from + j] = cluster;
                out[at + fill[cluster]++] = j;
            }
            for (int i = 0; i < c; i++) {
                Arrays.sort(out, at + chunkStart(i, count, c), at + chunkStart(i + 1, count, c));
            }
        }

        /** The float's bits as an int whose signed order is the float order. */
        private static int sortable(float x) {
            int bits = Float.floatToIntBits(x == 0f ? 0f : x);
            return bits >= 0 ? bits : bits ^ 0x7fffffff;
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
