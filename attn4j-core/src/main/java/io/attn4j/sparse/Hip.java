package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.BlockMask;
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
 * Hierarchical attention pruning: HiP Attention (Lee, Park, Willette, Hwang et al., "HiP Attention: Sparse
 * Sub-Quadratic Attention with Hierarchical Attention Pruning", 2024). Finds each query block's most attended key
 * tiles by a tree search over the key sequence instead of scoring every tile, then attends exactly to them.
 *
 * <p><b>Algorithm.</b> For a query block with a budget of {@code k} tiles among its {@code c} visible ones: start
 * with {@code k} branches that split the visible tiles evenly (cut again where the tiles every row keeps interrupt
 * them). Each round splits every branch of more than one tile
 * into two halves, scores each half by its <em>representative</em> keys (its first and its last key) as the
 * maximum over the block's queries of {@code scale · q·k_rep}, and keeps the {@code k} best branches.
 * After {@code ⌈log₂(c/k)⌉} rounds every branch is one tile; {@code flash} attends to exactly those (plus the
 * diagonal and sink tiles every row keeps, as in {@link BlockTopK}). No tile is ever excluded for good: each query
 * block searches again.
 *
 * <p><b>Choices</b> (the paper's GPU kernel fixes some of these differently): branches end at the kernel's tile,
 * not at single keys, so the exact pass stays a dense tile GEMM; a branch is represented by its two end keys —
 * the paper's first key, plus the last so that locality survives on both sides of the diagonal (with the centre
 * key alone, the tiles next to the diagonal band of a noncausal row were lost: recall 0.69 against block top-k's
 * 0.92 at 10 % on 4K structured tokens) — and a needle inside a half is found only if an end of its half scores;
 * a branch of one tile keeps its score and competes with the halves of larger ones; ties go to the earlier tile. Scores ignore score mods.
 * Like every per-block selection it is not prefix invariant within a block.
 *
 * <p><b>Complexity.</b> Per query block, {@code O(k·log(c/k))} representative scores of {@code blockQ·d} each:
 * O(n·k·log(n)·d) to search instead of O(n²·d), plus O(n·k·blockK·d) for attention; extra memory O(c) per thread.
 */
public final class Hip extends BlockSparseAttention {

    /**
     * @param budget    keys per query (rounded up to tiles)
     * @param sinkTiles leading tiles always kept (beside the budget, like StreamingLLM's sinks)
     * @param blockQ    queries per block; 0 with blockK 0: by length
     * @param blockK    keys per tile, the leaves of the search; 0: {@link BlockSparseAttention#autoKeyTile by length}
     */
    public record Config(KeyBudget budget, int sinkTiles, int blockQ, int blockK) implements BudgetedConfig {
        public Config {
            Objects.requireNonNull(budget, "budget");
            if (sinkTiles < 0) {
                throw new IllegalArgumentException("sinkTiles = " + sinkTiles + "; allowed: >= 0");
            }
            checkBlocksOrAuto(blockQ, blockK);
        }

        public static Config of(KeyBudget budget) {
            return new Config(budget, 1, 0, 0);
        }

        /** 10 % of the visible keys. */
        public static Config defaults() {
            return of(KeyBudget.ratio(0.1));
        }

        @Override
        public Config withKeyBudget(KeyBudget newBudget) {
            return new Config(newBudget, sinkTiles, blockQ, blockK);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("hip", Family.SPARSE,
            "HiP Attention (hierarchical attention pruning)",
            "Lee, Park, Willette, Hwang et al.: \"HiP Attention: Sparse Sub-Quadratic Attention with Hierarchical "
                    + "Attention Pruning\", 2024 (arXiv:2406.09827)",
            EnumSet.of(Pattern.NS, Pattern.CS, Pattern.NC, Pattern.CC), Weights.FREE, false, false, false,
            "O(n k log(n) d) search + O(n k d) attention", "O(n / blockK) per thread", Config.class,
            Config.defaults(), (config, engine) -> new Hip((Config) config, engine),
            EnumSet.of(Guarantee.MASKS, Guarantee.SCORE_MODS));

    private final Config config;

    public Hip(Config config, Engine engine) {
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
                (b, h) -> new Search(p, visible, b, h, selectionFlops));
    }

    @Override
    protected String selectionRule() {
        return "each representative key the search scores against the block's queries (2·D per query), counted";
    }

    /** The tree search of one (batch, head); branches are ranges [from, to) of candidate indices. */
    private final class Search implements TileSelection.HeadChooser {
        private final AttentionProblem p;
        private final int b, h, kvh, d, bq, bk;
        private final float[] qT, s;
        private final DoubleAdder selectionFlops;
        private int[] from = new int[16], to = new int[16], nextFrom = new int[16], nextTo = new int[16];
        private float[] score = new float[16], nextScore = new float[16];

        Search(AttentionProblem p, BlockMask visible, int b, int h, DoubleAdder selectionFlops) {
            this.p = p;
            this.selectionFlops = selectionFlops;
            this.b = b;
            this.h = h;
            this.kvh = h / p.group();
            this.d = p.headDim();
            this.bq = visible.blockQ();
            this.bk = visible.blockK();
            this.qT = new float[d * bq];
            this.s = new float[bq];
        }

        @Override
        public int choose(int qb, int[] tiles, int count, boolean[] forced, int keep, int[] out) {
            VectorOps ops = engine.ops();
            int q0 = qb * bq, nq = Math.min(bq, p.queryLength() - q0);
            HeadView q = p.q();
            ops.transposeScaled(q.data(), q.at(b, q0, h), q.strideSeq(), nq, d, qT, 0, bq, p.scale());
            // candidates without the forced tiles, in key order
            int[] free = new int[count];
            int m = 0;
            for (int c = 0; c < count; c++) {
                if (!forced[c]) {
                    free[m++] = c;
                }
            }
            if (keep >= m) {
                System.arraycopy(free, 0, out, 0, m);
                return m;
            }
            // k branches splitting the free candidates evenly, cut again wherever the free tiles are not
            // contiguous (at the diagonal band and the sinks), so a branch's end keys are its real neighbours
            ensure(2 * (keep + count));
            int branches = 0;
            for (int i = 0; i < keep; i++) {
                int a = (int) ((long) i * m / keep), z = (int) ((long) (i + 1) * m / keep);
                for (int c = a + 1; c <= z; c++) {
                    if (c == z || tiles[free[c]] != tiles[free[c - 1]] + 1) {
                        from[branches] = a;
                        to[branches] = c;
                        score[branches++] = Float.POSITIVE_INFINITY;
                        a = c;
                    }
                }
            }
            boolean split = true;
            while (split) {
                split = false;
                int next = 0;
                for (int i = 0; i < branches; i++) {
                    if (to[i] - from[i] == 1) {
                        nextFrom[next] = from[i];
                        nextTo[next] = to[i];
                        nextScore[next++] = score[i] == Float.POSITIVE_INFINITY
                                ? representative(tiles, free, from[i], to[i], nq) : score[i];
                        continue;
                    }
                    split = true;
                    int mid = (from[i] + to[i]) >>> 1;
                    nextFrom[next] = from[i];
                    nextTo[next] = mid;
                    nextScore[next++] = representative(tiles, free, from[i], mid, nq);
                    nextFrom[next] = mid;
                    nextTo[next] = to[i];
                    nextScore[next++] = representative(tiles, free, mid, to[i], nq);
                }
                // keep the `keep` best branches (ties: the earlier one), in key order
                boolean[] none = new boolean[next];
                int[] best = new int[next];
                int kept = TileSelection.top(nextScore, next, none, keep, best);
                java.util.Arrays.sort(best, 0, kept);
                for (int i = 0; i < kept; i++) {
                    from[i] = nextFrom[best[i]];
                    to[i] = nextTo[best[i]];
                    score[i] = nextScore[best[i]];
                }
                branches = kept;
            }
            for (int i = 0; i < branches; i++) {
                out[i] = free[from[i]];
            }
            return branches;
        }

        /**
         * The score of branch free[from, to): max over the block's queries of scale·q·k for its two end keys (the
         * first key of its first tile and the last key of its last tile).
         */
        private float representative(int[] tiles, int[] free, int from, int to, int nq) {
            int firstKey = tiles[free[from]] * bk;
            int lastKey = Math.min(tiles[free[to - 1]] * bk + bk, p.keyLength()) - 1;
            return Math.max(score(firstKey, nq), score(lastKey, nq));
        }

        private float score(int key, int nq) {
            HeadView k = p.k();
            engine.ops().scoresTransposed(qT, 0, bq, nq, k.data(), k.at(b, key, kvh), d, 1, d, s, 0, bq);
            if (selectionFlops != null) {
                selectionFlops.add(2.0 * d * nq);
            }
            float best = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < nq; i++) {
                best = Math.max(best, s[i]);
            }
            return best;
        }

        private void ensure(int size) {
            if (from.length < size) {
                from = new int[size];
                to = new int[size];
                nextFrom = new int[size];
                nextTo = new int[size];
                score = new float[size];
                nextScore = new float[size];
            }
        }
    }
}
