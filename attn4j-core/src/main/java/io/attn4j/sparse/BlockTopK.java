package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Pattern;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.Weights;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;

import java.util.EnumSet;
import java.util.Objects;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * Block-sparse attention that keeps, for each block of queries, the key blocks with the highest block scores: the
 * training-free forms of SeerAttention's block gate (Gao et al., "SeerAttention: Learning Intrinsic Sparse
 * Attention in Your LLMs", 2024), whose oracle is the upper bound of any block selector, and the block version of
 * SpAtten's token ranking.
 *
 * <p><b>Algorithm.</b> Queries are cut into blocks of {@code blockQ} and keys into tiles of {@code blockK}. Each
 * query block gets a budget of tiles ({@code ⌈budget(visible keys) / blockK⌉}) and keeps its diagonal band (the
 * tiles holding its own positions, so a causal query always sees itself and its neighbours), its first
 * {@code sinkTiles} tiles (attention sinks), and up to the budget the other tiles with the highest block score,
 * where the score is
 * <ul>
 *   <li>{@link Estimate#POOLED_MAX} (default): the block's mean query (scaled) against every key of the tile, the
 *       maximum taken: one pooled query per block, so scoring costs {@code 1/blockQ} of full attention and runs
 *       as a GEMM of pooled queries against K with the kernels' own score tile;</li>
 *   <li>{@link Estimate#POOLED_MEAN}: mean query against mean key (SeerAttention's average-pooled gate input without
 *       its learned projection): {@code 1/(blockQ·blockK)} of full attention, coarser;</li>
 *   <li>{@link Estimate#ORACLE}: the exact softmax mass of the tile, {@code Σ_{i∈block} Σ_{j∈tile} p_ij}: what a
 *       perfect gate would keep. It costs two passes of full attention; it is for fidelity studies, not for
 *       speed.</li>
 * </ul>
 * {@code flash} then computes exact attention over the kept tiles only.
 *
 * <p><b>Choices.</b> The budget counts whole tiles; the diagonal band and the sinks count within it but are kept even
 * when it is smaller (so the smallest budget keeps them and nothing else). Scores ignore score mods (the kernel applies them). Ties go to the earlier tile. The selection of a
 * block depends on all its queries, so a query's keys can depend on later queries of its block: causal outputs
 * are not prefix invariant at block granularity, which the descriptor declares.
 *
 * <p><b>Complexity.</b> Time O(n²·d / blockQ) to score (pooled max; O(n²·d/(blockQ·blockK)) pooled mean) plus
 * O(n·budget·d) for attention; extra memory O(n²/(blockQ·blockK)) block scores per thread and the block mask.
 */
public final class BlockTopK extends BlockSparseAttention {

    /** How blocks are scored. */
    public enum Estimate {
        /** Mean query of the block against each key of the tile, maximum over the tile. */
        POOLED_MAX,
        /** Mean query against mean key. */
        POOLED_MEAN,
        /** The tile's exact softmax mass (needs full attention twice). */
        ORACLE
    }

    /**
     * @param budget    keys per query, as tokens or a share of the visible keys (rounded up to tiles)
     * @param estimate  how blocks are scored
     * @param sinkTiles leading tiles always kept (beside the budget, like StreamingLLM's sinks)
     * @param blockQ    queries per block (selection granularity and kernel tile); 0 with blockK 0: by length
     * @param blockK    keys per tile; 0: {@link BlockSparseAttention#autoKeyTile by length}
     */
    public record Config(KeyBudget budget, Estimate estimate, int sinkTiles, int blockQ, int blockK)
            implements BudgetedConfig {
        public Config {
            Objects.requireNonNull(budget, "budget");
            Objects.requireNonNull(estimate, "estimate");
            if (sinkTiles < 0) {
                throw new IllegalArgumentException("sinkTiles = " + sinkTiles + "; allowed: >= 0");
            }
            checkBlocksOrAuto(blockQ, blockK);
        }

        /** {@code budget} with pooled-max scores, one sink tile and tiles sized by the length (128 × 64 from 2K keys). */
        public static Config of(KeyBudget budget) {
            return new Config(budget, Estimate.POOLED_MAX, 1, 0, 0);
        }

        /** 10 % of the visible keys. */
        public static Config defaults() {
            return of(KeyBudget.ratio(0.1));
        }

        @Override
        public Config withKeyBudget(KeyBudget newBudget) {
            return new Config(newBudget, estimate, sinkTiles, blockQ, blockK);
        }

        public Config withEstimate(Estimate newEstimate) {
            return new Config(budget, newEstimate, sinkTiles, blockQ, blockK);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("block-topk", Family.SPARSE,
            "block top-k (SeerAttention's block gate, oracle and pooled estimates; SpAtten's ranking by blocks)",
            "Gao et al.: \"SeerAttention: Learning Intrinsic Sparse Attention in Your LLMs\", 2024 "
                    + "(arXiv:2410.13276); Wang, Zhang, Han: \"SpAtten: Efficient Sparse Attention Architecture with "
                    + "Cascade Token and Head Pruning\", HPCA 2021",
            EnumSet.of(Pattern.NS, Pattern.CS, Pattern.NC, Pattern.CC), Weights.FREE, false, false, false,
            "O(n^2 d / blockQ + n budget d)", "O(n^2 / (blockQ blockK)) per thread", Config.class, Config.defaults(),
            (config, engine) -> new BlockTopK((Config) config, engine),
            EnumSet.of(Guarantee.MASKS, Guarantee.SCORE_MODS));

    private final Config config;

    public BlockTopK(Config config, Engine engine) {
        super(engine, config.blockQ(), config.blockK());
        this.config = config;
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    public Config config() {
        return config;
    }

    @Override
    protected BlockMask select(AttentionProblem p, DoubleAdder selectionFlops) {
        BlockMask visible = visibleSized(p, config.blockQ(), config.blockK());
        return TileSelection.select(p, visible, config.budget(), config.sinkTiles(), engine,
                (b, h) -> chooser(p, visible, b, h, selectionFlops));
    }

    @Override
    protected String selectionRule() {
        return switch (config.estimate()) {
            case POOLED_MAX -> "block means of the queries (2·D per query) against every key (2·D per key and block)";
            case POOLED_MEAN -> "block means of queries and keys (2·D per row) against each other (2·D per pair of "
                    + "blocks)";
            case ORACLE -> "two passes of scores over the visible tiles (2·2·D per visible pair)";
        };
    }

    private TileSelection.HeadChooser chooser(AttentionProblem p, BlockMask visible, int b, int h,
                                              DoubleAdder selectionFlops) {
        float[][] scores = switch (config.estimate()) {
            case POOLED_MAX -> pooledScores(p, visible, b, h, true);
            case POOLED_MEAN -> pooledScores(p, visible, b, h, false);
            case ORACLE -> oracleScores(p, visible, b, h, selectionFlops);
        };
        if (selectionFlops != null && config.estimate() != Estimate.ORACLE) {
            // pooling each query row, then the pooled queries against every key (max) or every mean key (mean)
            double d = p.headDim(), blocks = visible.queryBlocks();
            selectionFlops.add(2 * d * p.queryLength() + (config.estimate() == Estimate.POOLED_MAX
                    ? 2 * d * blocks * p.keyLength()
                    : 2 * d * p.keyLength() + 2 * d * blocks * visible.keyBlocks()));
        }
        float[] rowScores = new float[visible.keyBlocks()];
        return (qb, tiles, count, forced, keep, out) -> {
            for (int c = 0; c < count; c++) {
                rowScores[c] = scores[qb][tiles[c]];
            }
            return TileSelection.top(rowScores, count, forced, keep, out);
        };
    }

    /**
     * scores[qb][kb] for every block pair of one head: the scaled mean query of block qb against each key of tile
     * kb (maximum over the tile), or against the tile's mean key.
     */
    private float[][] pooledScores(AttentionProblem p, BlockMask visible, int b, int h, boolean maxOverKeys) {
        VectorOps ops = engine.ops();
        int d = p.headDim(), lq = p.queryLength(), lk = p.keyLength(), kvh = h / p.group();
        int bq = visible.blockQ(), bk = visible.blockK(), nqb = visible.queryBlocks(), nkb = visible.keyBlocks();
        HeadView q = p.q(), k = p.k();
        // pooledT[t][qb] = scale · mean over the block's queries of q[t]: the block queries, transposed
        float[] pooledT = new float[d * nqb];
        for (int qb = 0; qb < nqb; qb++) {
            int q0 = qb * bq, nq = Math.min(bq, lq - q0);
            float w = p.scale() / nq;
            for (int i = 0; i < nq; i++) {
                int at = q.at(b, q0 + i, h);
                for (int t = 0; t < d; t++) {
                    pooledT[t * nqb + qb] += w * q.data()[at + t];
                }
            }
        }
        float[][] scores = new float[nqb][nkb];
        float[] keyTile = new float[bk * d];
        float[] s = new float[bk * nqb];
        for (int kb = 0; kb < nkb; kb++) {
            int k0 = kb * bk, nk = Math.min(bk, lk - k0);
            for (int j = 0; j < nk; j++) {
                System.arraycopy(k.data(), k.at(b, k0 + j, kvh), keyTile, j * d, d);
            }
            if (maxOverKeys) {
                // s[j][qb] = pooled query qb · key k0 + j
                ops.scoresTransposed(pooledT, 0, nqb, nqb, keyTile, 0, d, nk, d, s, 0, nqb);
                for (int qb = 0; qb < nqb; qb++) {
                    float best = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < nk; j++) {
                        best = Math.max(best, s[j * nqb + qb]);
                    }
                    scores[qb][kb] = best;
                }
            } else {
                float[] meanKey = new float[d];
                for (int j = 0; j < nk; j++) {
                    for (int t = 0; t < d; t++) {
                        meanKey[t] += keyTile[j * d + t] / nk;
                    }
                }
                ops.scoresTransposed(pooledT, 0, nqb, nqb, meanKey, 0, d, 1, d, s, 0, nqb);
                for (int qb = 0; qb < nqb; qb++) {
                    scores[qb][kb] = s[qb];
                }
            }
        }
        return scores;
    }

    /**
     * scores[qb][kb] = Σ_{i∈qb} Σ_{j∈kb} p_ij, the exact softmax mass of each visible tile (score mod and mask
     * applied): one pass for each query's log-sum-exp, one for the masses.
     */
    private float[][] oracleScores(AttentionProblem p, BlockMask visible, int b, int h, DoubleAdder selectionFlops) {
        VectorOps ops = engine.ops();
        int d = p.headDim(), lq = p.queryLength(), lk = p.keyLength(), kvh = h / p.group();
        int bq = visible.blockQ(), bk = visible.blockK(), nqb = visible.queryBlocks(), nkb = visible.keyBlocks();
        HeadView q = p.q(), k = p.k();
        MaskMod mask = visible.mask();
        float[][] scores = new float[nqb][nkb];
        float[] qT = new float[d * bq];
        float[] s = new float[bk * bq];
        float[] keyTile = new float[bk * d];
        double[] max = new double[bq], sum = new double[bq];
        for (int qb = 0; qb < nqb; qb++) {
            int q0 = qb * bq, nq = Math.min(bq, lq - q0);
            ops.transposeScaled(q.data(), q.at(b, q0, h), q.strideSeq(), nq, d, qT, 0, bq, p.scale());
            int row = visible.row(b, h, qb);
            java.util.Arrays.fill(max, Double.NEGATIVE_INFINITY);
            java.util.Arrays.fill(sum, 0);
            for (int pass = 0; pass < 2; pass++) {
                for (int run = visible.runsStart(row); run < visible.runsEnd(row); run++) {
                    for (int kb = visible.runFrom(run); kb < visible.runTo(run); kb++) {
                        int k0 = kb * bk, nk = Math.min(bk, lk - k0);
                        for (int j = 0; j < nk; j++) {
                            System.arraycopy(k.data(), k.at(b, k0 + j, kvh), keyTile, j * d, d);
                        }
                        ops.scoresTransposed(qT, 0, bq, nq, keyTile, 0, d, nk, d, s, 0, bq);
                        if (selectionFlops != null) {
                            selectionFlops.add(2.0 * d * nq * nk);
                        }
                        if (p.scoreMod() != null) {
                            p.scoreMod().applyTile(s, 0, 1, bq, b, h, q0, nq, k0, nk, ops);
                        }
                        boolean partial = !visible.runFull(run) && mask != null;
                        double mass = 0;
                        for (int j = 0; j < nk; j++) {
                            for (int i = 0; i < nq; i++) {
                                if (partial && !mask.test(b, h, q0 + i, k0 + j)) {
                                    continue;
                                }
                                double x = s[j * bq + i];
                                if (pass == 0) {
                                    // running log-sum-exp of each query
                                    if (x > max[i]) {
                                        sum[i] = sum[i] * Math.exp(max[i] - x) + 1;
                                        max[i] = x;
                                    } else {
                                        sum[i] += Math.exp(x - max[i]);
                                    }
                                } else {
                                    mass += Math.exp(x - max[i] - Math.log(sum[i]));
                                }
                            }
                        }
                        if (pass == 1) {
                            scores[qb][kb] = (float) mass;
                        }
                    }
                }
            }
        }
        return scores;
    }
}
