package io.attn4j.attention;

import java.util.Arrays;
import java.util.Objects;

/**
 * The standard masks (LongCA-bench's mask families) as {@link MaskMod}s. Every query position below is the
 * bottom-right aligned position {@code p = i + (Lk − Lq)} of {@link MaskMod}; {@code k} is the key index.
 *
 * <table>
 *   <caption>Masks and the keys they leave visible</caption>
 *   <tr><th>factory</th><th>visible keys of the query at position p</th></tr>
 *   <tr><td>{@link #all()}</td><td>every key</td></tr>
 *   <tr><td>{@link #causal()}</td><td>{@code k <= p}</td></tr>
 *   <tr><td>{@link #slidingWindow(int) slidingWindow(w)}</td><td>{@code |p − k| < w}; with {@code causal()}: the
 *       last {@code w} keys up to and including {@code p}</td></tr>
 *   <tr><td>{@link #slidingWindow(int, int) slidingWindow(left, right)}</td><td>{@code p − left <= k <= p + right}
 *       (FlashAttention's {@code window_size=(left, right)})</td></tr>
 *   <tr><td>{@link #prefixLm(int) prefixLm(n)}</td><td>{@code k < n} or {@code k <= p}: a bidirectional prefix,
 *       causal after it</td></tr>
 *   <tr><td>{@link #sinks(int) sinks(s)}</td><td>{@code k < s}: the first {@code s} keys (attention sinks,
 *       StreamingLLM); combine with a window by {@link MaskMod#or}, or by {@link BlockMask#or} for long
 *       sequences</td></tr>
 *   <tr><td>{@link #blockCausal(int) blockCausal(b)}</td><td>{@code k < (⌊p / b⌋ + 1) · b}: every key of the
 *       query's block and all earlier blocks</td></tr>
 *   <tr><td>{@link #dilated(int, int) dilated(w, d)}</td><td>{@code k = p + j·d} for {@code |j| < w}</td></tr>
 *   <tr><td>{@link #documents(int[]) documents(offsets)}</td><td>keys of the query's own document, for packed
 *       sequences; {@link #documents(int[], int[], MaskMod)} takes separate query and key offsets and applies an
 *       inner mask inside each document with its own lengths (varlen cross-attention, per-document causal)</td></tr>
 * </table>
 */
public final class Masks {
    private Masks() {
    }

    /** Every key visible. */
    public static IntervalMask all() {
        return All.INSTANCE;
    }

    /** Causal: key {@code k} is visible to the query at position {@code p} iff {@code k <= p}. */
    public static IntervalMask causal() {
        return new Causal(0);
    }

    /** A symmetric window: visible iff {@code |p − k| < window}. {@code window >= 1}. */
    public static IntervalMask slidingWindow(int window) {
        if (window < 1) {
            throw new IllegalArgumentException("window = " + window + "; allowed: >= 1 (the number of keys within "
                    + "distance window - 1 of the query, on each side)");
        }
        return new Window(window - 1, window - 1, 0);
    }

    /** A window of {@code left} keys before and {@code right} keys after the query's position (both {@code >= 0}). */
    public static IntervalMask slidingWindow(int left, int right) {
        if (left < 0 || right < 0) {
            throw new IllegalArgumentException("window (left = " + left + ", right = " + right
                    + "); allowed: both >= 0");
        }
        return new Window(left, right, 0);
    }

    /** Bidirectional over the first {@code prefixLength} keys, causal after them. {@code prefixLength >= 0}. */
    public static IntervalMask prefixLm(int prefixLength) {
        if (prefixLength < 0) {
            throw new IllegalArgumentException("prefixLength = " + prefixLength + "; allowed: >= 0");
        }
        return new PrefixLm(prefixLength, 0);
    }

    /** The first {@code count} keys, whatever the query ({@code count >= 0}): attention sinks. */
    public static IntervalMask sinks(int count) {
        if (count < 0) {
            throw new IllegalArgumentException("sinks = " + count + "; allowed: >= 0");
        }
        return new Sinks(count);
    }

    /** Block-causal: a query sees every key of its own block of {@code blockSize} positions and of earlier ones. */
    public static IntervalMask blockCausal(int blockSize) {
        if (blockSize < 1) {
            throw new IllegalArgumentException("blockSize = " + blockSize + "; allowed: >= 1");
        }
        return new BlockCausal(blockSize, 0);
    }

    /**
     * A dilated window: the keys at distances {@code 0, ±d, ±2d, …, ±(window−1)·d} from the query's position.
     * Combine with {@link #causal()} for the causal form.
     */
    public static MaskMod dilated(int window, int dilation) {
        if (window < 1 || dilation < 1) {
            throw new IllegalArgumentException("dilated(window = " + window + ", dilation = " + dilation
                    + "); allowed: window >= 1 and dilation >= 1");
        }
        return new Dilated(window, dilation, 0);
    }

    /**
     * Packed sequences (self-attention): documents {@code [offsets[d], offsets[d+1])} of the concatenated
     * sequence see only themselves. {@code offsets} starts at 0 and does not decrease (cu_seqlens); rows past the
     * last offset see nothing. Combine with {@link #causal()} for causal packing.
     */
    public static IntervalMask documents(int[] offsets) {
        return (IntervalMask) documents(offsets, offsets, null);
    }

    /**
     * Packed sequences with separate query and key offsets: query document {@code d} sees key document {@code d},
     * and inside it {@code inner} (may be {@code null} for every key) is applied in document-local indices, bound
     * to the document's own lengths, so {@code inner = causal()} aligns each document bottom-right on its own.
     * Returns an {@link IntervalMask} when {@code inner} is one (or {@code null}).
     */
    public static MaskMod documents(int[] queryOffsets, int[] keyOffsets, MaskMod inner) {
        checkOffsets("queryOffsets", queryOffsets);
        checkOffsets("keyOffsets", keyOffsets);
        if (queryOffsets.length != keyOffsets.length) {
            throw new IllegalArgumentException("queryOffsets has " + (queryOffsets.length - 1) + " documents but "
                    + "keyOffsets has " + (keyOffsets.length - 1) + "; they must match");
        }
        int documents = queryOffsets.length - 1;
        MaskMod[] bound = null;
        if (inner != null) {
            bound = new MaskMod[documents];
            for (int d = 0; d < documents; d++) {
                bound[d] = inner.bind(queryOffsets[d + 1] - queryOffsets[d], keyOffsets[d + 1] - keyOffsets[d]);
            }
        }
        int[] q = queryOffsets.clone();
        int[] k = keyOffsets.clone();
        if (inner == null || inner instanceof IntervalMask) {
            return new IntervalDocuments(q, k, bound);
        }
        return new Documents(q, k, bound);
    }

    /**
     * The documents of a packed-sequence mask: a mask made by {@link #documents(int[])} or
     * {@link #documents(int[], int[], MaskMod)} with no inner mask or {@link #causal()} inside, or {@code null} for
     * any other mask. Mechanisms that run each document as its own sequence (the recurrent forms of
     * {@code io.attn4j.linear}) read the offsets from here instead of evaluating the mask.
     */
    public static Packing packing(MaskMod mask) {
        int[] q, k;
        MaskMod[] inner;
        if (mask instanceof IntervalDocuments d) {
            q = d.queryOffsets();
            k = d.keyOffsets();
            inner = d.inner();
        } else if (mask instanceof Documents d) {
            q = d.queryOffsets();
            k = d.keyOffsets();
            inner = d.inner();
        } else {
            return null;
        }
        if (inner != null) {
            for (MaskMod m : inner) {
                if (!(m instanceof Causal)) {
                    return null;
                }
            }
        }
        return new Packing(q.clone(), k.clone(), inner != null);
    }

    /**
     * Packed documents: query document {@code d} is rows {@code [queryOffsets[d], queryOffsets[d+1])} and sees key
     * document {@code [keyOffsets[d], keyOffsets[d+1])}, causally (bottom-right inside the document) when
     * {@code causal}.
     */
    public record Packing(int[] queryOffsets, int[] keyOffsets, boolean causal) {
        /** The number of documents. */
        public int documents() {
            return queryOffsets.length - 1;
        }
    }

    private static void checkOffsets(String name, int[] offsets) {
        Objects.requireNonNull(offsets, name);
        if (offsets.length < 2 || offsets[0] != 0) {
            throw new IllegalArgumentException(name + " = " + Arrays.toString(offsets)
                    + "; allowed: at least two entries, starting at 0 (cumulative document lengths)");
        }
        for (int i = 1; i < offsets.length; i++) {
            if (offsets[i] < offsets[i - 1]) {
                throw new IllegalArgumentException(name + " = " + Arrays.toString(offsets) + " decreases at index "
                        + i + "; offsets must not decrease");
            }
        }
    }

    /** Visible where both are; an {@link IntervalMask} when both are. */
    public static MaskMod and(MaskMod a, MaskMod b) {
        Objects.requireNonNull(a, "a");
        Objects.requireNonNull(b, "b");
        if (a instanceof IntervalMask ia && b instanceof IntervalMask ib) {
            return new IntervalAnd(ia, ib);
        }
        return new And(a, b);
    }

    /** Visible where either is. */
    public static MaskMod or(MaskMod a, MaskMod b) {
        return new Or(Objects.requireNonNull(a, "a"), Objects.requireNonNull(b, "b"));
    }

    /**
     * The number of visible (query, key) pairs of {@code mask} for batch 0, head 0, bound to the given lengths: the
     * mask area that FLOP counts are normalised by. Exact; O(Lq) for interval masks, O(Lq·Lk) otherwise.
     */
    public static long area(MaskMod mask, int queryLength, int keyLength) {
        if (mask == null) {
            return (long) queryLength * keyLength;
        }
        MaskMod bound = mask.bind(queryLength, keyLength);
        long area = 0;
        if (bound instanceof IntervalMask interval) {
            for (int q = 0; q < queryLength; q++) {
                int from = Math.max(0, interval.keyFrom(0, 0, q));
                int to = Math.min(keyLength, interval.keyTo(0, 0, q));
                area += Math.max(0, to - from);
            }
            return area;
        }
        for (int q = 0; q < queryLength; q++) {
            for (int k = 0; k < keyLength; k++) {
                if (bound.test(0, 0, q, k)) {
                    area++;
                }
            }
        }
        return area;
    }

    // ---------------------------------------------------------------------------------------------- implementations

    private enum All implements IntervalMask {
        INSTANCE;

        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }

        @Override
        public int keyFrom(int batch, int head, int query) {
            return Integer.MIN_VALUE;
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            return Integer.MAX_VALUE;
        }

        @Override
        public boolean test(int batch, int head, int query, int key) {
            return true;
        }

        @Override
        public String toString() {
            return "all";
        }
    }

    /** {@code offset} = Lk − Lq once bound. */
    private record Causal(int offset) implements IntervalMask {
        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }

        @Override
        public int keyFrom(int batch, int head, int query) {
            return 0;
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            return query + offset + 1;
        }

        @Override
        public boolean test(int batch, int head, int query, int key) {
            return key <= query + offset;
        }

        @Override
        public IntervalMask bind(int queryLength, int keyLength) {
            return new Causal(keyLength - queryLength);
        }
    }

    private record Window(int left, int right, int offset) implements IntervalMask {
        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }

        @Override
        public int keyFrom(int batch, int head, int query) {
            return query + offset - left;
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            return query + offset + right + 1;
        }

        @Override
        public IntervalMask bind(int queryLength, int keyLength) {
            return new Window(left, right, keyLength - queryLength);
        }
    }

    private record PrefixLm(int prefixLength, int offset) implements IntervalMask {
        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }

        @Override
        public int keyFrom(int batch, int head, int query) {
            return 0;
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            return Math.max(prefixLength, query + offset + 1);
        }

        @Override
        public IntervalMask bind(int queryLength, int keyLength) {
            return new PrefixLm(prefixLength, keyLength - queryLength);
        }
    }

    private record Sinks(int count) implements IntervalMask {
        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }

        @Override
        public int keyFrom(int batch, int head, int query) {
            return 0;
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            return count;
        }
    }

    private record BlockCausal(int blockSize, int offset) implements IntervalMask {
        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }

        @Override
        public int keyFrom(int batch, int head, int query) {
            return 0;
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            return (Math.floorDiv(query + offset, blockSize) + 1) * blockSize;
        }

        @Override
        public IntervalMask bind(int queryLength, int keyLength) {
            return new BlockCausal(blockSize, keyLength - queryLength);
        }
    }

    private record Dilated(int window, int dilation, int offset) implements MaskMod {
        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }

        @Override
        public boolean test(int batch, int head, int query, int key) {
            int distance = query + offset - key;
            return Math.floorMod(distance, dilation) == 0 && Math.abs(distance) < (long) window * dilation;
        }

        @Override
        public MaskMod bind(int queryLength, int keyLength) {
            return new Dilated(window, dilation, keyLength - queryLength);
        }
    }

    /** The document holding row {@code index}: the last d with offsets[d] <= index, or -1 past the last offset. */
    private static int documentOf(int[] offsets, int index) {
        if (index < 0 || index >= offsets[offsets.length - 1]) {
            return -1;
        }
        int lo = 0, hi = offsets.length - 2;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (offsets[mid] <= index) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /** Documents must fit in the sequences they pack. */
    private static void checkCovers(int[] queryOffsets, int[] keyOffsets, int queryLength, int keyLength) {
        if (queryOffsets[queryOffsets.length - 1] > queryLength) {
            throw new IllegalArgumentException("queryOffsets ends at " + queryOffsets[queryOffsets.length - 1]
                    + " but the query length = " + queryLength + "; documents must fit in the sequence");
        }
        if (keyOffsets[keyOffsets.length - 1] > keyLength) {
            throw new IllegalArgumentException("keyOffsets ends at " + keyOffsets[keyOffsets.length - 1]
                    + " but the key length = " + keyLength + "; documents must fit in the sequence");
        }
    }

    private record IntervalDocuments(int[] queryOffsets, int[] keyOffsets, MaskMod[] inner) implements IntervalMask {
        @Override
        public boolean dependsOnBatchOrHead() {
            return inner != null && inner[0].dependsOnBatchOrHead();
        }

        @Override
        public int keyFrom(int batch, int head, int query) {
            int d = documentOf(queryOffsets, query);
            if (d < 0) {
                return 0;
            }
            int from = keyOffsets[d];
            if (inner != null) {
                long local = (long) from + ((IntervalMask) inner[d]).keyFrom(batch, head, query - queryOffsets[d]);
                from = (int) Math.max(from, Math.min(local, keyOffsets[d + 1]));
            }
            return from;
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            int d = documentOf(queryOffsets, query);
            if (d < 0) {
                return 0;
            }
            int to = keyOffsets[d + 1];
            if (inner != null) {
                long local = (long) keyOffsets[d] + ((IntervalMask) inner[d]).keyTo(batch, head, query - queryOffsets[d]);
                to = (int) Math.min(to, Math.max(local, keyOffsets[d]));
            }
            return to;
        }

        @Override
        public IntervalMask bind(int queryLength, int keyLength) {
            checkCovers(queryOffsets, keyOffsets, queryLength, keyLength);
            return this;
        }

        @Override
        public String toString() {
            return "documents(" + (queryOffsets.length - 1) + (inner == null ? ")" : ", " + inner[0] + ")");
        }
    }

    private record Documents(int[] queryOffsets, int[] keyOffsets, MaskMod[] inner) implements MaskMod {
        @Override
        public boolean dependsOnBatchOrHead() {
            return inner != null && inner[0].dependsOnBatchOrHead();
        }

        @Override
        public boolean test(int batch, int head, int query, int key) {
            int d = documentOf(queryOffsets, query);
            if (d < 0 || key < keyOffsets[d] || key >= keyOffsets[d + 1]) {
                return false;
            }
            return inner[d].test(batch, head, query - queryOffsets[d], key - keyOffsets[d]);
        }

        @Override
        public MaskMod bind(int queryLength, int keyLength) {
            checkCovers(queryOffsets, keyOffsets, queryLength, keyLength);
            return this;
        }

        @Override
        public String toString() {
            return "documents(" + (queryOffsets.length - 1) + ", " + inner[0] + ")";
        }
    }

    private record IntervalAnd(IntervalMask a, IntervalMask b) implements IntervalMask {
        @Override
        public boolean dependsOnBatchOrHead() {
            return a.dependsOnBatchOrHead() || b.dependsOnBatchOrHead();
        }

        @Override
        public int keyFrom(int batch, int head, int query) {
            return Math.max(a.keyFrom(batch, head, query), b.keyFrom(batch, head, query));
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            return Math.min(a.keyTo(batch, head, query), b.keyTo(batch, head, query));
        }

        @Override
        public IntervalMask bind(int queryLength, int keyLength) {
            return new IntervalAnd(a.bind(queryLength, keyLength), b.bind(queryLength, keyLength));
        }
    }

    private record And(MaskMod a, MaskMod b) implements MaskMod {
        @Override
        public boolean dependsOnBatchOrHead() {
            return a.dependsOnBatchOrHead() || b.dependsOnBatchOrHead();
        }

        @Override
        public boolean test(int batch, int head, int query, int key) {
            return a.test(batch, head, query, key) && b.test(batch, head, query, key);
        }

        @Override
        public MaskMod bind(int queryLength, int keyLength) {
            return new And(a.bind(queryLength, keyLength), b.bind(queryLength, keyLength));
        }
    }

    private record Or(MaskMod a, MaskMod b) implements MaskMod {
        @Override
        public boolean dependsOnBatchOrHead() {
            return a.dependsOnBatchOrHead() || b.dependsOnBatchOrHead();
        }

        @Override
        public boolean test(int batch, int head, int query, int key) {
            return a.test(batch, head, query, key) || b.test(batch, head, query, key);
        }

        @Override
        public MaskMod bind(int queryLength, int keyLength) {
            return new Or(a.bind(queryLength, keyLength), b.bind(queryLength, keyLength));
        }
    }
}
