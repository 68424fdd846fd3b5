package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.UnsupportedInputException;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.util.EnumSet;

/**
 * Neighbourhood attention: each query attends to the {@code k} keys (1-D) or {@code kh × kw} keys (2-D) around it.
 * Hassani, Walton, Li, Li, Shi, "Neighborhood Attention Transformer", CVPR 2023; Hassani, Shi, "Dilated
 * Neighborhood Attention Transformer" (DiNA), 2022; Hassani et al., "Faster Neighborhood Attention: Reducing the
 * O(n²) Cost of Self Attention at the Threadblock Level", NeurIPS 2024 (the GEMM-tiled form computed here).
 *
 * <p><b>Semantics</b> (NATTEN's). Along an axis of length {@code L} with kernel {@code k} (odd), the query at index
 * {@code j} sees the keys {@code [s, s + k)} with {@code s = clamp(j − ⌊k/2⌋, 0, L − k)}: centred on the query,
 * and shifted inwards at the borders, so every query sees exactly {@code k} keys. When {@code k >= L} every query
 * sees the whole axis. With dilation {@code δ} the axis splits into {@code δ} interleaved sub-sequences (indices
 * {@code ≡ r mod δ}) and each runs plain neighbourhood attention on its own length {@code ⌈(L − r)/δ⌉}; the
 * neighbours are then {@code δ} apart. Causal (1-D only): the query sees the {@code k} sub-sequence keys ending at
 * itself, {@code [j − k + 1, j]} clipped at 0 (NATTEN's causal window, not shifted at the start). In 2-D the tokens
 * are a row-major {@code H × W} grid and the window is the product of a row window and a column window.
 *
 * <p><b>Algorithm.</b> Never element by element: {@code flash} computes the tiles that windows touch.
 * <ul>
 *   <li>1-D, no dilation: each window is an interval of keys, so the {@link BlockMask} is built from an
 *       {@link IntervalMask} in O(query blocks) and {@code flash} runs on the operands as they are.</li>
 *   <li>1-D, dilation {@code δ}: Q, K and V rows are gathered sub-sequence by sub-sequence (residue 0 first, then
 *       1, …), where every window is again an interval; the output is scattered back.</li>
 *   <li>2-D: each dilation sub-grid is cut into patches and the rows are gathered patch-major (row-major inside a
 *       patch): a query block is one {@code qh × qw} patch of {@code blockQ} tokens and a key block one
 *       {@code kh' × kw'} patch of {@code blockK} tokens. A query patch keeps the key patches that meet the union
 *       of its queries' windows (a rectangle), as <em>full</em> tiles where the key patch lies inside every one of
 *       its queries' windows, else as partial tiles that test each (query, key) pair against the query's window.</li>
 * </ul>
 *
 * <p><b>Choices.</b> Patches are as square as the block allows (largest divisor of the block that is at most its
 * square root, and at most the sub-grid's height): 8 × 16 queries and 8 × 8 keys for the default 128 × 64 tiles;
 * sub-grids whose sides are not multiples of the patch are padded with slots that see nothing and are never seen.
 * A 2-D query patch of a 33 × 33 kernel then computes (8 + 32) × (16 + 32) keys per query instead of 33², about
 * 1.8 × the kernel's work, against the {@code n} of dense attention; the partial tiles' element test costs a few
 * integer comparisons per score. Even kernels are refused (NATTEN's classic semantics centre the window on the
 * query). The grid is {@code gridHeight × gridWidth}; {@code gridHeight = 0} takes {@code H = n / W} from the call,
 * and a call whose length does not fill the grid is refused. No log-sum-exp: splitting the keys moves the windows.
 * The catalog marks NA as trained (it is a layer of models trained with it), but it runs on any Q, K, V.
 *
 * <p><b>Fidelity.</b> NA is a layer of models trained with it; on other models it keeps what is near. On the
 * standard structured inputs at n = 2048 the default (1-D, 1025 keys) keeps at least 70 % of the attention mass
 * noncausal and 78 % causal (it misses the sink tokens of queries more than 512 positions in), with an output
 * relative error of at most 0.85 and 0.70.
 *
 * <p><b>Complexity.</b> Time O(n·(k + blockK)·d) per head in 1-D and about O(n·(kh + qh)·(kw + qw)·d) in 2-D;
 * extra memory that of {@code flash}, plus copies of Q, K, V and the output (O(n·d)) when rows are gathered.
 */
public final class NeighborhoodAttention implements SparseAttention {

    /**
     * @param kernelHeight   keys per window along the grid's columns (odd; 1 in 1-D)
     * @param kernelWidth    keys per window along the sequence (1-D) or the grid's rows (2-D); odd
     * @param dilationHeight the distance between neighbours along the columns ({@code >= 1}; 1 in 1-D)
     * @param dilationWidth  the distance between neighbours along the sequence or the rows ({@code >= 1})
     * @param gridHeight     H, or 0 for {@code n / gridWidth} (0 in 1-D)
     * @param gridWidth      W, or 0 for a 1-D sequence
     * @param blockQ         queries per tile (one query patch in 2-D)
     * @param blockK         keys per tile (one key patch in 2-D)
     */
    public record Config(int kernelHeight, int kernelWidth, int dilationHeight, int dilationWidth, int gridHeight,
                         int gridWidth, int blockQ, int blockK) implements MechanismConfig {
        public Config {
            checkKernel("kernelHeight", kernelHeight);
            checkKernel("kernelWidth", kernelWidth);
            if (dilationHeight < 1 || dilationWidth < 1) {
                throw new IllegalArgumentException("dilation (" + dilationHeight + ", " + dilationWidth
                        + "); allowed: >= 1 each");
            }
            if (gridHeight < 0 || gridWidth < 0) {
                throw new IllegalArgumentException("grid " + gridHeight + " x " + gridWidth
                        + "; allowed: gridWidth >= 1 for 2-D (0 for 1-D) and gridHeight >= 1 (0 = n / gridWidth)");
            }
            if (gridWidth == 0 && (kernelHeight != 1 || dilationHeight != 1 || gridHeight != 0)) {
                throw new IllegalArgumentException("a 1-D neighbourhood (gridWidth = 0) with kernelHeight = "
                        + kernelHeight + ", dilationHeight = " + dilationHeight + ", gridHeight = " + gridHeight
                        + "; allowed: 1, 1 and 0 in 1-D (set gridWidth for a 2-D grid)");
            }
            SlidingWindow.checkBlocks(blockQ, blockK);
        }

        /** 1-D, a window of {@code kernel} keys (odd) centred on the query. */
        public static Config oneD(int kernel) {
            return oneD(kernel, 1);
        }

        /** 1-D, {@code kernel} neighbours {@code dilation} apart. */
        public static Config oneD(int kernel, int dilation) {
            return new Config(1, kernel, 1, dilation, 0, 0, 128, 64);
        }

        /** 2-D on a grid {@code gridWidth} tokens wide (H = n / W), window {@code kernelHeight × kernelWidth}. */
        public static Config twoD(int kernelHeight, int kernelWidth, int gridWidth) {
            return twoD(kernelHeight, kernelWidth, 1, 1, 0, gridWidth);
        }

        /** 2-D with dilation; {@code gridHeight = 0} takes {@code H = n / W}. */
        public static Config twoD(int kernelHeight, int kernelWidth, int dilationHeight, int dilationWidth,
                                  int gridHeight, int gridWidth) {
            if (gridWidth < 1) {
                throw new IllegalArgumentException("gridWidth = " + gridWidth + "; allowed: >= 1 for a 2-D grid");
            }
            return new Config(kernelHeight, kernelWidth, dilationHeight, dilationWidth, gridHeight, gridWidth, 128,
                    64);
        }

        /** 1-D, 1025 keys (512 on each side): a long-context window like sliding-window's 1024. */
        public static Config defaults() {
            return oneD(1025);
        }

        /** Whether tokens form a 2-D grid. */
        public boolean twoDimensional() {
            return gridWidth > 0;
        }

        private static void checkKernel(String name, int kernel) {
            if (kernel < 1 || kernel % 2 == 0) {
                throw new IllegalArgumentException(name + " = " + kernel + "; allowed: odd and >= 1 (the window is "
                        + "centred on the query)");
            }
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("neighborhood", Family.SPARSE,
            "Neighborhood Attention (NAT), dilated NA (DiNA), GEMM-tiled (Faster Neighborhood Attention)",
            "Hassani, Walton, Li, Li, Shi: \"Neighborhood Attention Transformer\", CVPR 2023 (arXiv:2204.07143); "
                    + "Hassani, Shi: \"Dilated Neighborhood Attention Transformer\", 2022 (arXiv:2209.15001); "
                    + "Hassani et al.: \"Faster Neighborhood Attention: Reducing the O(n^2) Cost of Self Attention at "
                    + "the Threadblock Level\", NeurIPS 2024 (arXiv:2403.04690)",
            EnumSet.of(Pattern.NS, Pattern.CS), Weights.TRAINED, false, false, false,
            "O(n k d) in 1-D, O(n kh kw d) in 2-D", "O(n d) gathered copies (dilated or 2-D) + flash's",
            Config.class, Config.defaults(), (config, engine) -> new NeighborhoodAttention((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT));

    private final Config config;
    private final Engine engine;
    private final FlashAttention flash;

    public NeighborhoodAttention(Config config, Engine engine) {
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
        AttentionProblem p = BlockSparseAttention.validated(DESCRIPTOR, q, k, v, spec, out);
        boolean causal = p.pattern() == Pattern.CS;
        int n = p.queryLength();
        if (config.twoDimensional()) {
            int height = gridHeight(n, causal);
            return twoD(p, height, config.gridWidth());
        }
        int kernel = config.kernelWidth(), dilation = config.dilationWidth();
        if (dilation == 1) {
            MaskMod window = new Window(n, kernel, causal);
            return flash.run(p, BlockMask.of(window, 1, 1, n, n, config.blockQ(), config.blockK()));
        }
        return dilatedOneD(p, kernel, dilation, causal);
    }

    @Override
    public KeptKeys keptKeys(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        AttentionProblem p = BlockSparseAttention.validated(DESCRIPTOR, q, k, v, spec, null);
        boolean causal = p.pattern() == Pattern.CS;
        int n = p.queryLength();
        if (config.twoDimensional()) {
            int height = gridHeight(n, causal), width = config.gridWidth();
            return (b, h, query, key) -> seen(query / width, key / width, height, config.kernelHeight(),
                    config.dilationHeight(), false)
                    && seen(query % width, key % width, width, config.kernelWidth(), config.dilationWidth(), false);
        }
        return (b, h, query, key) -> seen(query, key, n, config.kernelWidth(), config.dilationWidth(), causal);
    }

    /** H of the grid for a call of {@code n} tokens; refuses a length that does not fill it, and causal calls. */
    private int gridHeight(int n, boolean causal) {
        if (causal) {
            throw new UnsupportedInputException("neighborhood is causal only in 1-D; a 2-D grid (" + config.gridHeight()
                    + " x " + config.gridWidth() + ") supports NS");
        }
        int width = config.gridWidth();
        if (config.gridHeight() == 0) {
            if (n % width != 0) {
                throw new IllegalArgumentException("neighborhood: " + n + " tokens do not fill rows of gridWidth = "
                        + width + "; allowed: a sequence length that is a multiple of gridWidth (H = n / W)");
            }
            return n / width;
        }
        if ((long) config.gridHeight() * width != n) {
            throw new IllegalArgumentException("neighborhood: a grid of " + config.gridHeight() + " x " + width
                    + " = " + (long) config.gridHeight() * width + " tokens, but the call has " + n
                    + "; allowed: gridHeight · gridWidth = sequence length");
        }
        return config.gridHeight();
    }

    // ------------------------------------------------------------------------------------------------ windows

    /** The first index of the window of index {@code j} on an axis of {@code length}: centred, shifted inside. */
    static int windowStart(int j, int length, int kernel) {
        return Math.max(0, Math.min(j - kernel / 2, length - kernel));
    }

    /** The length of the sub-sequence of residue {@code r} of an axis of {@code length} with dilation {@code d}. */
    private static int subLength(int length, int r, int d) {
        return r >= length ? 0 : (length - r + d - 1) / d;
    }

    /** Whether index {@code query} sees index {@code key} along one axis. */
    private static boolean seen(int query, int key, int length, int kernel, int dilation, boolean causal) {
        int r = query % dilation;
        if (key % dilation != r) {
            return false;
        }
        int j = query / dilation, jk = key / dilation;
        if (causal) {
            return jk <= j && jk > j - kernel;
        }
        int start = windowStart(j, subLength(length, r, dilation), kernel);
        return jk >= start && jk < start + kernel;
    }

    /** The 1-D window without dilation, as an interval mask (positions are indices: Lq = Lk). */
    private record Window(int length, int kernel, boolean causal) implements IntervalMask {
        @Override
        public int keyFrom(int batch, int head, int query) {
            return causal ? query - kernel + 1 : windowStart(query, length, kernel);
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            return causal ? query + 1 : windowStart(query, length, kernel) + kernel;
        }

        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }
    }

    /** Per-query key intervals held in arrays. */
    private record Intervals(int[] from, int[] to) implements IntervalMask {
        @Override
        public int keyFrom(int batch, int head, int query) {
            return from[query];
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            return to[query];
        }

        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }
    }

    // ------------------------------------------------------------------------------------------------ 1-D dilated

    /**
     * Dilation in 1-D: slot {@code base[r] + j} of the gathered sequence holds token {@code r + j·δ}, so the
     * neighbours of a token are an interval of slots of its own sub-sequence.
     */
    private AttentionResult dilatedOneD(AttentionProblem p, int kernel, int dilation, boolean causal) {
        int n = p.queryLength();
        int[] original = new int[n], from = new int[n], to = new int[n];
        int base = 0;
        for (int r = 0; r < Math.min(dilation, n); r++) {
            int length = subLength(n, r, dilation);
            for (int j = 0; j < length; j++) {
                int slot = base + j;
                original[slot] = r + j * dilation;
                int start = causal ? j - kernel + 1 : windowStart(j, length, kernel);
                from[slot] = base + Math.max(0, start);
                to[slot] = base + (causal ? j + 1 : Math.min(length, start + kernel));
            }
            base += length;
        }
        BlockMask blocks = BlockMask.of(new Intervals(from, to), 1, 1, n, n, config.blockQ(), config.blockK());
        return gatheredRun(p, original, original, blocks);
    }

    // ------------------------------------------------------------------------------------------------ 2-D

    /**
     * 2-D: the query and key slots of every dilation sub-grid, patch-major, and the tiles each query patch needs.
     * Slot arrays hold the token of each slot (−1 for padding); the element mask compares a key slot's position in
     * its sub-grid with a query slot's window.
     */
    private AttentionResult twoD(AttentionProblem p, int height, int width) {
        int kh = config.kernelHeight(), kw = config.kernelWidth();
        int dh = config.dilationHeight(), dw = config.dilationWidth();
        int bq = config.blockQ(), bk = config.blockK();
        // count the slots first
        long querySlots = 0, keySlots = 0;
        for (int ry = 0; ry < Math.min(dh, height); ry++) {
            for (int rx = 0; rx < Math.min(dw, width); rx++) {
                int hs = subLength(height, ry, dh), ws = subLength(width, rx, dw);
                querySlots += (long) patches(hs, ws, bq) * bq;
                keySlots += (long) patches(hs, ws, bk) * bk;
            }
        }
        if (querySlots > Integer.MAX_VALUE / 4 || keySlots > Integer.MAX_VALUE / 4) {
            throw new IllegalArgumentException("neighborhood: a " + height + " x " + width + " grid needs " + querySlots
                    + " padded slots; allowed: fewer than 2^29");
        }
        int lq = (int) querySlots, lk = (int) keySlots;
        int[] queryToken = new int[lq], keyToken = new int[lk];
        int[] rowFrom = new int[lq], rowTo = new int[lq], colFrom = new int[lq], colTo = new int[lq];
        int[] keyRow = new int[lk], keyCol = new int[lk];
        BlockMask.Builder builder = BlockMask.builder(1, 1, lq, lk, bq, bk,
                new PatchWindows(rowFrom, rowTo, colFrom, colTo, keyRow, keyCol));
        int queryBase = 0, keyBase = 0; // in slots
        for (int ry = 0; ry < Math.min(dh, height); ry++) {
            for (int rx = 0; rx < Math.min(dw, width); rx++) {
                int hs = subLength(height, ry, dh), ws = subLength(width, rx, dw);
                // token of sub-grid position (y, x): (ry + y·dh)·W + rx + x·dw
                int qph = patchHeight(bq, hs), qpw = bq / qph, kph = patchHeight(bk, hs), kpw = bk / kph;
                int queryPatchCols = ceilDiv(ws, qpw), keyPatchCols = ceilDiv(ws, kpw);
                int queryPatches = ceilDiv(hs, qph) * queryPatchCols, keyPatches = ceilDiv(hs, kph) * keyPatchCols;
                for (int patch = 0; patch < keyPatches; patch++) {
                    int y0 = patch / keyPatchCols * kph, x0 = patch % keyPatchCols * kpw;
                    for (int i = 0; i < bk; i++) {
                        int slot = keyBase + patch * bk + i, y = y0 + i / kpw, x = x0 + i % kpw;
                        boolean real = y < hs && x < ws;
                        keyToken[slot] = real ? (ry + y * dh) * width + rx + x * dw : -1;
                        keyRow[slot] = real ? y : -1;
                        keyCol[slot] = real ? x : -1;
                    }
                }
                for (int patch = 0; patch < queryPatches; patch++) {
                    int y0 = patch / queryPatchCols * qph, x0 = patch % queryPatchCols * qpw;
                    int y1 = Math.min(hs, y0 + qph), x1 = Math.min(ws, x0 + qpw);
                    for (int i = 0; i < bq; i++) {
                        int slot = queryBase + patch * bq + i, y = y0 + i / qpw, x = x0 + i % qpw;
                        boolean real = y < hs && x < ws;
                        queryToken[slot] = real ? (ry + y * dh) * width + rx + x * dw : -1;
                        rowFrom[slot] = real ? windowStart(y, hs, kh) : 0;
                        rowTo[slot] = real ? Math.min(hs, rowFrom[slot] + kh) : 0;
                        colFrom[slot] = real ? windowStart(x, ws, kw) : 0;
                        colTo[slot] = real ? Math.min(ws, colFrom[slot] + kw) : 0;
                    }
                    // window starts grow with the index, so the patch's windows span [start(first), end(last))
                    // and all contain [start(last), end(first))
                    int unionRowFrom = windowStart(y0, hs, kh), unionRowTo = Math.min(hs, windowStart(y1 - 1, hs, kh) + kh);
                    int unionColFrom = windowStart(x0, ws, kw), unionColTo = Math.min(ws, windowStart(x1 - 1, ws, kw) + kw);
                    int commonRowFrom = windowStart(y1 - 1, hs, kh), commonRowTo = Math.min(hs, windowStart(y0, hs, kh) + kh);
                    int commonColFrom = windowStart(x1 - 1, ws, kw), commonColTo = Math.min(ws, windowStart(x0, ws, kw) + kw);
                    builder.startRow(0, 0, queryBase / bq + patch);
                    for (int pr = unionRowFrom / kph; pr * kph < unionRowTo; pr++) {
                        int a0 = pr * kph, a1 = Math.min(hs, a0 + kph);
                        boolean rowsFull = a1 - a0 == kph && a0 >= commonRowFrom && a1 <= commonRowTo;
                        for (int pc = unionColFrom / kpw; pc * kpw < unionColTo; pc++) {
                            int c0 = pc * kpw, c1 = Math.min(ws, c0 + kpw);
                            boolean full = rowsFull && c1 - c0 == kpw && c0 >= commonColFrom && c1 <= commonColTo;
                            int kb = keyBase / bk + pr * keyPatchCols + pc;
                            builder.add(kb, kb + 1, full);
                        }
                    }
                }
                queryBase += queryPatches * bq;
                keyBase += keyPatches * bk;
            }
        }
        return gatheredRun(p, queryToken, keyToken, builder.build());
    }

    /** Patches of {@code block} slots covering an {@code hs × ws} sub-grid. */
    private static int patches(int hs, int ws, int block) {
        int ph = patchHeight(block, hs);
        return ceilDiv(hs, ph) * ceilDiv(ws, block / ph);
    }

    /** The height of a patch of {@code block} slots: its largest divisor at most √block and at most {@code rows}. */
    static int patchHeight(int block, int rows) {
        int best = 1;
        for (int d = 1; (long) d * d <= block && d <= rows; d++) {
            if (block % d == 0) {
                best = d;
            }
        }
        return best;
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    /** In slot space: key slot k is in query slot q's window (sub-grid positions; padding is in no window). */
    private record PatchWindows(int[] rowFrom, int[] rowTo, int[] colFrom, int[] colTo, int[] keyRow, int[] keyCol)
            implements MaskMod {
        @Override
        public boolean test(int batch, int head, int query, int key) {
            int y = keyRow[key], x = keyCol[key];
            return y >= rowFrom[query] && y < rowTo[query] && x >= colFrom[query] && x < colTo[query];
        }

        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }
    }

    // ------------------------------------------------------------------------------------------------ gather

    /**
     * Runs {@code flash} over gathered rows: query slot {@code i} holds token {@code queryToken[i]} and key slot
     * {@code j} token {@code keyToken[j]} (−1: a zero padding row), then scatters the real query slots' outputs back
     * to the call's output.
     */
    private AttentionResult gatheredRun(AttentionProblem p, int[] queryToken, int[] keyToken, BlockMask blocks) {
        int batch = p.batch(), heads = p.heads(), kvHeads = p.kvHeads(), d = p.headDim(), dv = p.valueDim();
        int lq = queryToken.length, lk = keyToken.length;
        float[] q = Gathered.headMajorArray(batch, heads, lq, d);
        float[] k = Gathered.headMajorArray(batch, kvHeads, lk, d);
        float[] v = Gathered.headMajorArray(batch, kvHeads, lk, dv);
        float[] o = Gathered.headMajorArray(batch, heads, lq, dv);
        HeadView qView = Gathered.headMajor(q, heads, lq, d), kView = Gathered.headMajor(k, kvHeads, lk, d);
        HeadView vView = Gathered.headMajor(v, kvHeads, lk, dv), oView = Gathered.headMajor(o, heads, lq, dv);
        engine.parallelFor(batch * (heads + kvHeads), task -> {
            int b = task / (heads + kvHeads), h = task % (heads + kvHeads);
            if (h < heads) {
                for (int i = 0; i < lq; i++) {
                    if (queryToken[i] >= 0) {
                        Gathered.copyRow(p.q(), b, queryToken[i], h, q, qView.at(b, i, h), d);
                    }
                }
            } else {
                int kvh = h - heads;
                for (int j = 0; j < lk; j++) {
                    if (keyToken[j] >= 0) {
                        Gathered.copyRow(p.k(), b, keyToken[j], kvh, k, kView.at(b, j, kvh), d);
                        Gathered.copyRow(p.v(), b, keyToken[j], kvh, v, vView.at(b, j, kvh), dv);
                    }
                }
            }
        });
        AttentionProblem gathered = Gathered.problem(p, lq, lk, kvHeads, qView, kView, vView, oView,
                Tensor.of(o, batch, heads, lq, dv), false);
        flash.run(gathered, blocks);
        HeadView out = p.out();
        engine.parallelFor(batch * heads, task -> {
            int b = task / heads, h = task % heads;
            for (int i = 0; i < lq; i++) {
                if (queryToken[i] >= 0) {
                    System.arraycopy(o, oView.at(b, i, h), out.data(), out.at(b, queryToken[i], h), dv);
                }
            }
        });
        return p.result(null, null, null, null);
    }
}
