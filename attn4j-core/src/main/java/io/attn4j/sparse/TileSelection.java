package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.BlockMask;
import io.attn4j.runtime.Engine;

import java.util.Arrays;

/**
 * The frame of every per-query-block tile selection (block top-k, HiP): for each (batch, head) in parallel, a
 * {@link HeadChooser} prepares what it needs once, then for each query block it receives the tiles the call's mask
 * leaves visible and a budget of tiles, and picks. The frame handles what they share: the budget in tiles, the
 * tiles every row keeps (the diagonal band — the visible tiles holding the block's own positions, so a causal query
 * always sees itself and its nearest neighbours — and the first {@code sinkTiles} visible tiles, where pretrained
 * models park attention; both kept even beyond the budget, as StreamingLLM keeps its sinks beside its window), an
 * unchanged row when the budget covers it, and the assembly of the block mask with each kept tile's kind from the
 * visible mask.
 */
final class TileSelection {

    /** Chooses the tiles of the query blocks of one (batch, head). Used by one thread. */
    interface HeadChooser {
        /**
         * Writes the candidates (indices into {@code tiles}) to keep for query block {@code qb} into {@code out},
         * in any order, and returns how many: at most {@code keep}, none of them {@code forced}.
         *
         * @param tiles  the visible key blocks of the row, ascending; {@code count} of them
         * @param forced which candidates are kept anyway (they are not to be returned)
         * @param keep   how many more candidates to keep at most ({@code >= 1})
         */
        int choose(int qb, int[] tiles, int count, boolean[] forced, int keep, int[] out);
    }

    /** Creates the chooser of one (batch, head). */
    interface ChooserFactory {
        HeadChooser forHead(int b, int h);
    }

    private TileSelection() {
    }

    /** The tiles kept in every row of the call, as a block mask whose partial tiles apply the call's own mask. */
    static BlockMask select(AttentionProblem p, BlockMask visible, KeyBudget budget, int sinkTiles, Engine engine,
                            ChooserFactory factory) {
        int batch = p.batch(), heads = p.heads(), queryBlocks = visible.queryBlocks(), keyBlocks = visible.keyBlocks();
        int bq = visible.blockQ(), bk = visible.blockK(), lq = p.queryLength(), lk = p.keyLength();
        int offset = lk - lq; // query row i sits at key position i + offset (bottom-right alignment)
        int[][] kept = new int[batch * heads * queryBlocks][];
        engine.parallelFor(batch * heads, bh -> {
            int b = bh / heads, h = bh % heads;
            HeadChooser chooser = factory.forHead(b, h);
            int[] tiles = new int[keyBlocks];
            int[] chosen = new int[keyBlocks];
            boolean[] forced = new boolean[keyBlocks];
            for (int qb = 0; qb < queryBlocks; qb++) {
                int row = visible.row(b, h, qb);
                int count = 0, keys = 0;
                for (int run = visible.runsStart(row); run < visible.runsEnd(row); run++) {
                    for (int kb = visible.runFrom(run); kb < visible.runTo(run); kb++) {
                        tiles[count++] = kb;
                        keys += Math.min(bk, lk - kb * bk);
                    }
                }
                int budgetTiles = Math.max(1, (budget.keysOf(keys) + bk - 1) / bk);
                int[] rowKept;
                if (budgetTiles >= count) {
                    rowKept = Arrays.copyOf(tiles, count);
                } else {
                    // the diagonal band (the tiles holding the block's own positions, so every causal query sees
                    // itself and its nearest neighbours) and the sink tiles, kept whatever the budget
                    int first = (qb * bq + offset) / bk, last = (Math.min(qb * bq + bq, lq) - 1 + offset) / bk;
                    int nForced = 0;
                    for (int c = 0; c < count; c++) {
                        forced[c] = tiles[c] >= first && tiles[c] <= last;
                        nForced += forced[c] ? 1 : 0;
                    }
                    if (nForced == 0) {
                        forced[count - 1] = true; // no visible tile on the diagonal (cross-attention): the last one
                        nForced = 1;
                    }
                    for (int c = 0; c < Math.min(sinkTiles, count); c++) {
                        if (!forced[c]) {
                            forced[c] = true;
                            nForced++;
                        }
                    }
                    int n = 0;
                    if (budgetTiles > nForced) {
                        n = chooser.choose(qb, tiles, count, forced, budgetTiles - nForced, chosen);
                    }
                    for (int c = 0; c < count; c++) {
                        if (forced[c]) {
                            chosen[n++] = c;
                        }
                    }
                    rowKept = new int[n];
                    for (int i = 0; i < n; i++) {
                        rowKept[i] = tiles[chosen[i]];
                    }
                    Arrays.sort(rowKept);
                }
                kept[bh * queryBlocks + qb] = rowKept;
            }
        });
        BlockMask.Builder builder = BlockMask.builder(batch, heads, p.queryLength(), lk, visible.blockQ(), bk,
                visible.mask());
        for (int bh = 0; bh < batch * heads; bh++) {
            for (int qb = 0; qb < queryBlocks; qb++) {
                builder.startRow(bh / heads, bh % heads, qb);
                int row = visible.row(bh / heads, bh % heads, qb);
                for (int kb : kept[bh * queryBlocks + qb]) {
                    builder.add(kb, kb + 1, visible.tileKind(row, kb) == 2);
                }
            }
        }
        return builder.build();
    }

    /**
     * The {@code keep} unforced candidates with the highest {@code scores} (ties: the lower key block), written to
     * {@code out}; returns the count.
     */
    static int top(float[] scores, int count, boolean[] forced, int keep, int[] out) {
        long[] keyed = new long[count];
        int n = 0;
        for (int c = 0; c < count; c++) {
            if (!forced[c]) {
                // descending score, then ascending index, as one ascending long
                int bits = Float.floatToIntBits(scores[c] == 0f ? 0f : scores[c]);
                int sortable = bits >= 0 ? bits : bits ^ 0x7fffffff;
                keyed[n++] = ((long) ~sortable << 32) | c;
            }
        }
        Arrays.sort(keyed, 0, n);
        int k = Math.min(keep, n);
        for (int i = 0; i < k; i++) {
            out[i] = (int) keyed[i];
        }
        return k;
    }
}
