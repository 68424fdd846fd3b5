package io.attn4j.attention;

import java.util.Arrays;

/**
 * Which tiles of the (query block × key block) grid a kernel computes, FlexAttention's block mask: tiles that the
 * mask hides completely are skipped, not masked; <em>full</em> tiles are computed without testing the mask;
 * <em>partial</em> tiles apply the element mask {@link #mask()}. Kernels use the block sizes as their tile sizes.
 *
 * <p>Each row — one query block of one (batch, head), or of all of them when the mask does not depend on batch or
 * head — holds its kept key blocks as sorted runs {@code [from, to)} of one kind, so a causal row costs two runs
 * and a 64K-token causal mask a few kilobytes rather than the n²/b² entries of a bitmap.
 *
 * <p>Built from a {@link MaskMod} with {@link #of}: interval masks are classified exactly from each query's key
 * interval in O(query block) per edge tile; other masks are tested element by element (O(Lq·Lk) once), so build
 * arbitrary masks once and reuse them. Sparse mechanisms build their own with {@link #builder}.
 */
public final class BlockMask {
    private final int queryLength;
    private final int keyLength;
    private final int blockQ;
    private final int blockK;
    private final int queryBlocks;
    private final int keyBlocks;
    private final int batch;
    private final int heads;
    private final MaskMod mask;
    private final int[] rowStart;
    private final int[] runFrom;
    private final int[] runTo;
    private final boolean[] runFull;

    private BlockMask(int queryLength, int keyLength, int blockQ, int blockK, int batch, int heads, MaskMod mask,
                      int[] rowStart, int[] runFrom, int[] runTo, boolean[] runFull) {
        this.queryLength = queryLength;
        this.keyLength = keyLength;
        this.blockQ = blockQ;
        this.blockK = blockK;
        this.queryBlocks = ceilDiv(queryLength, blockQ);
        this.keyBlocks = ceilDiv(keyLength, blockK);
        this.batch = batch;
        this.heads = heads;
        this.mask = mask;
        this.rowStart = rowStart;
        this.runFrom = runFrom;
        this.runTo = runTo;
        this.runFull = runFull;
    }

    /**
     * The block mask of {@code mask} (bound to the lengths here; {@code null} means every key visible) with square
     * blocks, shared by every batch row and head: {@code mask} must not depend on them.
     */
    public static BlockMask of(MaskMod mask, int queryLength, int keyLength, int blockSize) {
        return of(mask, 1, 1, queryLength, keyLength, blockSize, blockSize);
    }

    /**
     * The block mask of {@code mask} for every batch row and head (one shared copy when
     * {@link MaskMod#dependsOnBatchOrHead()} is false, whatever {@code batch} and {@code heads} are).
     */
    public static BlockMask of(MaskMod mask, int batch, int heads, int queryLength, int keyLength, int blockQ,
                               int blockK) {
        checkDims(batch, heads, queryLength, keyLength, blockQ, blockK);
        MaskMod bound = mask == null ? null : mask.bind(queryLength, keyLength);
        boolean shared = bound == null || !bound.dependsOnBatchOrHead();
        int b = shared ? 1 : batch, h = shared ? 1 : heads;
        Builder builder = new Builder(b, h, queryLength, keyLength, blockQ, blockK, bound);
        int queryBlocks = ceilDiv(queryLength, blockQ);
        int[] from = new int[blockQ];
        int[] to = new int[blockQ];
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                for (int qb = 0; qb < queryBlocks; qb++) {
                    builder.startRow(bi, hi, qb);
                    if (bound == null) {
                        builder.add(0, builder.keyBlocks, true);
                    } else if (bound instanceof IntervalMask interval) {
                        classifyIntervalRow(interval, bi, hi, qb, builder, from, to);
                    } else {
                        classifyRow(bound, bi, hi, qb, builder);
                    }
                }
            }
        }
        return builder.build();
    }

    /** Every tile full. */
    public static BlockMask full(int queryLength, int keyLength, int blockQ, int blockK) {
        return of(null, 1, 1, queryLength, keyLength, blockQ, blockK);
    }

    /**
     * A builder for block masks chosen by a mechanism (for example the top-k key blocks of each query block).
     * {@code mask} (bound by the caller, may be {@code null}) is what partial tiles apply. Use {@code batch = heads
     * = 1} for a mask shared by every batch row and head.
     */
    public static Builder builder(int batch, int heads, int queryLength, int keyLength, int blockQ, int blockK,
                                  MaskMod mask) {
        checkDims(batch, heads, queryLength, keyLength, blockQ, blockK);
        return new Builder(batch, heads, queryLength, keyLength, blockQ, blockK, mask);
    }

    private static void checkDims(int batch, int heads, int queryLength, int keyLength, int blockQ, int blockK) {
        if (batch < 1 || heads < 1 || queryLength < 1 || keyLength < 1) {
            throw new IllegalArgumentException("block mask of batch = " + batch + ", heads = " + heads + ", Lq = "
                    + queryLength + ", Lk = " + keyLength + "; allowed: all >= 1");
        }
        if (blockQ < 1 || blockK < 1 || blockQ > 4096 || blockK > 4096) {
            throw new IllegalArgumentException("block sizes (" + blockQ + ", " + blockK + "); allowed: 1 to 4096");
        }
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    private static void classifyIntervalRow(IntervalMask mask, int b, int h, int qb, Builder out, int[] from, int[] to) {
        int q0 = qb * out.blockQ, q1 = Math.min(q0 + out.blockQ, out.queryLength);
        int lk = out.keyLength, bk = out.blockK;
        int minFrom = Integer.MAX_VALUE, maxFrom = Integer.MIN_VALUE, minTo = Integer.MAX_VALUE, maxTo = Integer.MIN_VALUE;
        boolean emptyRow = false;
        for (int q = q0; q < q1; q++) {
            int f = Math.max(0, Math.min(lk, mask.keyFrom(b, h, q)));
            int t = Math.max(0, Math.min(lk, mask.keyTo(b, h, q)));
            from[q - q0] = f;
            to[q - q0] = t;
            if (t <= f) {
                emptyRow = true;
                continue;
            }
            minFrom = Math.min(minFrom, f);
            maxFrom = Math.max(maxFrom, f);
            minTo = Math.min(minTo, t);
            maxTo = Math.max(maxTo, t);
        }
        if (minFrom == Integer.MAX_VALUE) {
            return; // no query of this block sees any key
        }
        int candidateFrom = minFrom / bk, candidateTo = ceilDiv(maxTo, bk);
        // Tiles every row covers completely: k0 >= maxFrom and min(k0 + bk, lk) <= minTo.
        int fullFrom = ceilDiv(maxFrom, bk);
        int fullTo = minTo >= lk ? out.keyBlocks : minTo / bk;
        if (emptyRow || fullFrom >= fullTo) {
            fullFrom = fullTo = candidateTo;
        }
        for (int kb = candidateFrom; kb < fullFrom; kb++) {
            addIfSeen(out, kb, from, to, q1 - q0);
        }
        if (fullFrom < fullTo) {
            out.add(fullFrom, fullTo, true);
        }
        for (int kb = Math.max(fullTo, candidateFrom); kb < candidateTo; kb++) {
            addIfSeen(out, kb, from, to, q1 - q0);
        }
    }

    /** Adds key block kb as a partial tile if some row's interval meets it. */
    private static void addIfSeen(Builder out, int kb, int[] from, int[] to, int rows) {
        int k0 = kb * out.blockK, k1 = Math.min(k0 + out.blockK, out.keyLength);
        for (int r = 0; r < rows; r++) {
            if (from[r] < to[r] && from[r] < k1 && to[r] > k0) {
                out.add(kb, kb + 1, false);
                return;
            }
        }
    }

    private static void classifyRow(MaskMod mask, int b, int h, int qb, Builder out) {
        int q0 = qb * out.blockQ, q1 = Math.min(q0 + out.blockQ, out.queryLength);
        for (int kb = 0; kb < out.keyBlocks; kb++) {
            int k0 = kb * out.blockK, k1 = Math.min(k0 + out.blockK, out.keyLength);
            boolean seen = false, hidden = false;
            scan:
            for (int q = q0; q < q1; q++) {
                for (int k = k0; k < k1; k++) {
                    if (mask.test(b, h, q, k)) {
                        seen = true;
                    } else {
                        hidden = true;
                    }
                    if (seen && hidden) {
                        break scan;
                    }
                }
            }
            if (seen) {
                out.add(kb, kb + 1, !hidden);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ accessors

    public int queryLength() {
        return queryLength;
    }

    public int keyLength() {
        return keyLength;
    }

    public int blockQ() {
        return blockQ;
    }

    public int blockK() {
        return blockK;
    }

    public int queryBlocks() {
        return queryBlocks;
    }

    public int keyBlocks() {
        return keyBlocks;
    }

    /** The element mask applied inside partial tiles (bound), or {@code null}. */
    public MaskMod mask() {
        return mask;
    }

    /** True when one set of rows serves every batch row and head. */
    public boolean isShared() {
        return batch == 1 && heads == 1;
    }

    /** The row of query block {@code qb} of ({@code b}, {@code h}). */
    public int row(int b, int h, int qb) {
        return isShared() ? qb : (b * heads + h) * queryBlocks + qb;
    }

    /** The first run of {@code row}. */
    public int runsStart(int row) {
        return rowStart[row];
    }

    /** One past the last run of {@code row}. */
    public int runsEnd(int row) {
        return rowStart[row + 1];
    }

    /** The first key block of run {@code run}. */
    public int runFrom(int run) {
        return runFrom[run];
    }

    /** One past the last key block of run {@code run}. */
    public int runTo(int run) {
        return runTo[run];
    }

    /** Whether the tiles of run {@code run} are full (computed without the element mask). */
    public boolean runFull(int run) {
        return runFull[run];
    }

    /** The number of kept tiles in {@code row}. */
    public int tiles(int row) {
        int n = 0;
        for (int r = rowStart[row]; r < rowStart[row + 1]; r++) {
            n += runTo[r] - runFrom[r];
        }
        return n;
    }

    /** Whether key block {@code kb} is kept in {@code row}: 0 = skipped, 1 = partial, 2 = full. */
    public int tileKind(int row, int kb) {
        int lo = rowStart[row], hi = rowStart[row + 1] - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (runTo[mid] <= kb) {
                lo = mid + 1;
            } else if (runFrom[mid] > kb) {
                hi = mid - 1;
            } else {
                return runFull[mid] ? 2 : 1;
            }
        }
        return 0;
    }

    /** The share of all tiles that are kept, over every row. */
    public double density() {
        long kept = 0;
        int rows = rowStart.length - 1;
        for (int r = 0; r < rows; r++) {
            kept += tiles(r);
        }
        return kept / ((double) rows * keyBlocks);
    }

    /**
     * The union of this block mask and {@code other} (same lengths and block sizes): a tile is kept when either
     * keeps it, full when either has it full, and partial tiles apply {@code elementMask}, which must be the union
     * of the two element masks (for example {@code a.mask().or(b.mask())}; {@code null} only if both are
     * {@code null}). Rows are merged run by run in O(runs), so windows plus sinks on 64K tokens cost microseconds,
     * where classifying their OR element by element would cost n².
     */
    public BlockMask or(BlockMask other, MaskMod elementMask) {
        if (other.queryLength != queryLength || other.keyLength != keyLength || other.blockQ != blockQ
                || other.blockK != blockK) {
            throw new IllegalArgumentException("cannot unite " + this + " with " + other
                    + "; allowed: the same lengths and block sizes");
        }
        if (elementMask == null && (mask != null || other.mask != null)) {
            throw new IllegalArgumentException("the union of masked block masks needs the union of their element "
                    + "masks; got null");
        }
        boolean shared = isShared() && other.isShared();
        int b = shared ? 1 : Math.max(batch, other.batch), h = shared ? 1 : Math.max(heads, other.heads);
        if (!shared && ((!isShared() && (batch != b || heads != h))
                || (!other.isShared() && (other.batch != b || other.heads != h)))) {
            throw new IllegalArgumentException("cannot unite " + this + " with " + other
                    + "; allowed: the same batch and heads, or shared");
        }
        Builder out = new Builder(b, h, queryLength, keyLength, blockQ, blockK, elementMask);
        byte[] kind = new byte[keyBlocks]; // 0 = skipped, 1 = partial, 2 = full
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                for (int qb = 0; qb < queryBlocks; qb++) {
                    out.startRow(bi, hi, qb);
                    int rowA = row(bi, hi, qb), rowB = other.row(bi, hi, qb);
                    int lo = keyBlocks, hi2 = 0;
                    for (BlockMask m : new BlockMask[] {this, other}) {
                        int r = m == this ? rowA : rowB;
                        for (int run = m.rowStart[r]; run < m.rowStart[r + 1]; run++) {
                            byte k = m.runFull[run] ? (byte) 2 : (byte) 1;
                            for (int kb = m.runFrom[run]; kb < m.runTo[run]; kb++) {
                                kind[kb] = (byte) Math.max(kind[kb], k);
                            }
                            lo = Math.min(lo, m.runFrom[run]);
                            hi2 = Math.max(hi2, m.runTo[run]);
                        }
                    }
                    for (int kb = lo; kb < hi2; kb++) {
                        if (kind[kb] != 0) {
                            out.add(kb, kb + 1, kind[kb] == 2);
                            kind[kb] = 0;
                        }
                    }
                }
            }
        }
        return out.build();
    }

    /** Checks that this block mask serves a call of the given shape, naming the mismatch if not. */
    public void checkFits(int callBatch, int callHeads, int callQueryLength, int callKeyLength) {
        if (callQueryLength != queryLength || callKeyLength != keyLength) {
            throw new IllegalArgumentException("block mask was built for Lq = " + queryLength + ", Lk = " + keyLength
                    + " but the call has Lq = " + callQueryLength + ", Lk = " + callKeyLength);
        }
        if (!isShared() && (batch != callBatch || heads != callHeads)) {
            throw new IllegalArgumentException("block mask was built for batch = " + batch + ", heads = " + heads
                    + " but the call has batch = " + callBatch + ", heads = " + callHeads
                    + "; build it for the call's shape, or shared (batch = heads = 1)");
        }
    }

    @Override
    public String toString() {
        return "BlockMask[Lq=" + queryLength + ", Lk=" + keyLength + ", blocks=" + blockQ + "x" + blockK
                + (isShared() ? ", shared" : ", batch=" + batch + ", heads=" + heads)
                + String.format(", density=%.3f", density()) + "]";
    }

    /** Collects runs row by row; rows must be started in order and runs added in increasing key order. */
    public static final class Builder {
        private final int batch, heads, queryLength, keyLength, blockQ, blockK, queryBlocks, keyBlocks;
        private final MaskMod mask;
        private final int[] rowStart;
        private int[] from = new int[64], to = new int[64];
        private boolean[] full = new boolean[64];
        private int runs;
        private int currentRow = -1;

        private Builder(int batch, int heads, int queryLength, int keyLength, int blockQ, int blockK, MaskMod mask) {
            this.batch = batch;
            this.heads = heads;
            this.queryLength = queryLength;
            this.keyLength = keyLength;
            this.blockQ = blockQ;
            this.blockK = blockK;
            this.queryBlocks = ceilDiv(queryLength, blockQ);
            this.keyBlocks = ceilDiv(keyLength, blockK);
            this.mask = mask;
            this.rowStart = new int[batch * heads * queryBlocks + 1];
        }

        /** Starts the row of query block {@code qb} of ({@code b}, {@code h}); rows go in (b, h, qb) order. */
        public Builder startRow(int b, int h, int qb) {
            if (b < 0 || b >= batch || h < 0 || h >= heads || qb < 0 || qb >= queryBlocks) {
                throw new IllegalArgumentException("row (b=" + b + ", h=" + h + ", qb=" + qb + ") is outside batch = "
                        + batch + ", heads = " + heads + ", query blocks = " + queryBlocks);
            }
            int row = (b * heads + h) * queryBlocks + qb;
            if (row <= currentRow) {
                throw new IllegalStateException("rows must be started in (batch, head, query block) order");
            }
            for (int r = currentRow + 1; r <= row; r++) {
                rowStart[r] = runs;
            }
            currentRow = row;
            return this;
        }

        /** Keeps key blocks {@code [kbFrom, kbTo)} of the current row, full or partial. */
        public Builder add(int kbFrom, int kbTo, boolean isFull) {
            if (currentRow < 0) {
                throw new IllegalStateException("startRow must come before add");
            }
            if (kbFrom < 0 || kbTo > keyBlocks || kbFrom >= kbTo) {
                throw new IllegalArgumentException("key blocks [" + kbFrom + ", " + kbTo + ") are outside [0, "
                        + keyBlocks + ") or empty");
            }
            if (runs > rowStart[currentRow]) {
                int last = runs - 1;
                if (kbFrom < to[last]) {
                    throw new IllegalArgumentException("key blocks must be added in increasing order: [" + kbFrom
                            + ", " + kbTo + ") after [" + from[last] + ", " + to[last] + ")");
                }
                if (kbFrom == to[last] && full[last] == isFull) {
                    to[last] = kbTo; // extend the run
                    return this;
                }
            }
            if (runs == from.length) {
                from = Arrays.copyOf(from, runs * 2);
                to = Arrays.copyOf(to, runs * 2);
                full = Arrays.copyOf(full, runs * 2);
            }
            from[runs] = kbFrom;
            to[runs] = kbTo;
            full[runs] = isFull;
            runs++;
            return this;
        }

        public BlockMask build() {
            for (int r = currentRow + 1; r < rowStart.length; r++) {
                rowStart[r] = runs;
            }
            return new BlockMask(queryLength, keyLength, blockQ, blockK, batch, heads, mask, rowStart,
                    Arrays.copyOf(from, runs), Arrays.copyOf(to, runs), Arrays.copyOf(full, runs));
        }
    }
}
