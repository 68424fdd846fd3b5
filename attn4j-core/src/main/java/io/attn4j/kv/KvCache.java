package io.attn4j.kv;

import io.attn4j.tensor.Tensor;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Objects;

/**
 * The keys and values of one attention layer for a batch of sequences, stored per (sequence, KV head) so that each
 * head can hold a different number of tokens after compression — and the memory of dropped tokens is really freed,
 * not masked.
 *
 * <p><b>Layout.</b> Every (sequence, KV head) pair is a <em>stream</em>: rows of keys ({@code headDim}) and values
 * ({@code valueDim}) in position order, each row with the position of the token it came from. Streams are stored
 * either <em>contiguous</em> (one block per stream; it grows by an eighth, at least 16 rows, and is trimmed to its
 * exact length by compression) or <em>paged</em> (blocks of {@code pageSize} rows, pages past the length are
 * released when a stream shrinks). Rows are float32 or quantised ({@link KvFormat}: int8 / int4 codes with
 * per-group scales, quantised once per token at append).
 *
 * <p><b>Positions.</b> A sequence's tokens get positions 0, 1, 2, … in append order ({@link #tokensSeen}); a row
 * keeps its position through compression, so relative encodings see the true distances of what remains
 * ({@link KvDecode} passes positions, not slot indices, to score mods and uses them for causality). A stream's
 * positions never decrease. A row may stand for several tokens (a compensation token, {@link #keepAndMerge}):
 * its <em>multiplicity</em> {@code m} enters attention as a logit bias {@code log m}.
 *
 * <p><b>Attention tallies.</b> Policies that score tokens by the attention they received (H2O, A2SF) ask the cache
 * to {@link #track} a decayed sum per row: each decode step adds, per row, the attention weight of the step's
 * queries averaged over the KV head's group of query heads, after multiplying the old sum by the decay. Tallies
 * move with their rows through compression (a merged row gets the sum of its members').
 *
 * <p><b>Memory accounting</b> ({@link #memory}) counts the payload bytes of every array the cache holds: codes
 * and scales of K and V for every allocated row (capacity, not length), positions, multiplicities and tallies per
 * allocated row, and 4 bytes per page reference. JVM object headers (about 16 bytes per array) are not counted.
 *
 * <p>Not thread safe: one writer at a time; {@link KvDecode} reads from many threads while nobody writes.
 */
public final class KvCache {

    /** How streams are stored. */
    public enum Storage { CONTIGUOUS, PAGED }

    private final int sequences, kvHeads, headDim, valueDim;
    private final KvFormat format;
    private final Storage storage;
    private final int pageSize, maxFreePages;
    private final Stream[] streams;
    private final int[] tokensSeen;
    private double[] trackedDecays = new double[0];
    private final ArrayDeque<RowBlock[]> freePages = new ArrayDeque<>();
    private long version;

    private KvCache(Builder b) {
        this.sequences = b.sequences;
        this.kvHeads = b.kvHeads;
        this.headDim = b.headDim;
        this.valueDim = b.valueDim;
        this.format = b.format;
        this.storage = b.storage;
        this.pageSize = b.pageSize;
        this.maxFreePages = b.maxFreePages;
        this.streams = new Stream[sequences * kvHeads];
        for (int i = 0; i < streams.length; i++) {
            streams[i] = new Stream();
        }
        this.tokensSeen = new int[sequences];
    }

    /** A builder for a cache of {@code sequences} sequences, {@code kvHeads} KV heads of dimension {@code headDim}. */
    public static Builder builder(int sequences, int kvHeads, int headDim) {
        return new Builder(sequences, kvHeads, headDim);
    }

    /** Cache options; defaults: value dimension = head dimension, float32, contiguous. */
    public static final class Builder {
        private final int sequences, kvHeads, headDim;
        private int valueDim;
        private KvFormat format = KvFormat.float32();
        private Storage storage = Storage.CONTIGUOUS;
        private int pageSize = 256, maxFreePages = 0;

        private Builder(int sequences, int kvHeads, int headDim) {
            check("sequences", sequences, 1, 1 << 20);
            check("kvHeads", kvHeads, 1, 4096);
            check("headDim", headDim, 1, 65536);
            this.sequences = sequences;
            this.kvHeads = kvHeads;
            this.headDim = headDim;
            this.valueDim = headDim;
        }

        public Builder valueDim(int dim) {
            check("valueDim", dim, 1, 65536);
            this.valueDim = dim;
            return this;
        }

        public Builder format(KvFormat f) {
            this.format = Objects.requireNonNull(f, "format");
            return this;
        }

        /** One block per stream. */
        public Builder contiguous() {
            this.storage = Storage.CONTIGUOUS;
            return this;
        }

        /** Pages of {@code rows} rows per stream. */
        public Builder paged(int rows) {
            check("pageSize", rows, 1, 1 << 20);
            this.storage = Storage.PAGED;
            this.pageSize = rows;
            return this;
        }

        /**
         * Pages released by shrinking streams kept for reuse, at most this many (default 0: released to the
         * garbage collector, so {@link #memory} falls as soon as a stream shrinks).
         */
        public Builder maxFreePages(int pages) {
            check("maxFreePages", pages, 0, Integer.MAX_VALUE);
            this.maxFreePages = pages;
            return this;
        }

        public KvCache build() {
            return new KvCache(this);
        }
    }

    private static void check(String name, int value, int min, int max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(name + " = " + value + "; allowed: " + min + " to " + max);
        }
    }

    // ------------------------------------------------------------------------------------------------ shape

    public int sequences() {
        return sequences;
    }

    public int kvHeads() {
        return kvHeads;
    }

    public int headDim() {
        return headDim;
    }

    public int valueDim() {
        return valueDim;
    }

    public KvFormat format() {
        return format;
    }

    public Storage storage() {
        return storage;
    }

    /** Rows per page (paged storage). */
    public int pageSize() {
        return pageSize;
    }

    /** A counter that changes with every mutation; plans check it before they run. */
    public long version() {
        return version;
    }

    /** Tokens appended to sequence {@code seq} so far (minus truncations): the position of the next token. */
    public int tokensSeen(int seq) {
        checkSequence(seq);
        return tokensSeen[seq];
    }

    /** Rows held by stream (seq, head). */
    public int length(int seq, int head) {
        return stream(seq, head).length;
    }

    /** The longest stream of sequence {@code seq}. */
    public int maxLength(int seq) {
        int max = 0;
        for (int h = 0; h < kvHeads; h++) {
            max = Math.max(max, length(seq, h));
        }
        return max;
    }

    /** The positions of stream (seq, head), a copy. */
    public int[] positions(int seq, int head) {
        Stream s = stream(seq, head);
        return Arrays.copyOf(s.positions, s.length);
    }

    /** The position of row {@code row} of stream (seq, head). */
    public int position(int seq, int head, int row) {
        Stream s = stream(seq, head);
        Objects.checkIndex(row, s.length);
        return s.positions[row];
    }

    /** How many tokens row {@code row} stands for (1 unless it is a merged compensation row). */
    public double multiplicity(int seq, int head, int row) {
        Stream s = stream(seq, head);
        Objects.checkIndex(row, s.length);
        return s.logWeights == null ? 1 : Math.exp(s.logWeights[row]);
    }

    /** Copies key row {@code row} of stream (seq, head), dequantised, into {@code dst[offset ..]}. */
    public void key(int seq, int head, int row, float[] dst, int offset) {
        Stream s = stream(seq, head);
        Objects.checkIndex(row, s.length);
        s.keyBlock(row).read(s.inBlock(row), dst, offset);
    }

    /** Copies value row {@code row} of stream (seq, head), dequantised, into {@code dst[offset ..]}. */
    public void value(int seq, int head, int row, float[] dst, int offset) {
        Stream s = stream(seq, head);
        Objects.checkIndex(row, s.length);
        s.valueBlock(row).read(s.inBlock(row), dst, offset);
    }

    // ------------------------------------------------------------------------------------------------ append

    /**
     * Appends {@code n} tokens to sequence {@code seq}: {@code k} is {@code [n, kvHeads, headDim]} (or
     * {@code [1, n, kvHeads, headDim]}), {@code v} likewise with {@code valueDim}. Positions continue from
     * {@link #tokensSeen}. Non-finite values are refused before anything is written.
     */
    public void append(int seq, Tensor k, Tensor v) {
        checkSequence(seq);
        float[] keys = rows("k", k, headDim), values = rows("v", v, valueDim);
        int n = keys.length / (kvHeads * headDim);
        if (values.length / (kvHeads * valueDim) != n) {
            throw new IllegalArgumentException("k has " + n + " tokens but v has "
                    + values.length / (kvHeads * valueDim));
        }
        appendRows(seq, keys, values, n);
    }

    /**
     * Appends {@code n} tokens to every sequence: {@code k} is {@code [sequences, n, kvHeads, headDim]}, {@code v}
     * {@code [sequences, n, kvHeads, valueDim]} (the shape of a decode step's new keys).
     */
    public void append(Tensor k, Tensor v) {
        Objects.requireNonNull(k, "k");
        Objects.requireNonNull(v, "v");
        if (k.rank() != 4 || k.size(0) != sequences || v.rank() != 4 || v.size(0) != sequences) {
            throw new IllegalArgumentException("append to every sequence takes k [" + sequences + ", n, " + kvHeads
                    + ", " + headDim + "] and v [" + sequences + ", n, " + kvHeads + ", " + valueDim + "]; got k "
                    + Arrays.toString(k.shape()) + " and v " + Arrays.toString(v.shape()));
        }
        float[][] keys = new float[sequences][], values = new float[sequences][];
        for (int s = 0; s < sequences; s++) { // check everything before writing anything
            keys[s] = rows("k", k.select(0, s), headDim);
            values[s] = rows("v", v.select(0, s), valueDim);
        }
        int n = k.size(1);
        if (v.size(1) != n) {
            throw new IllegalArgumentException("k has " + n + " tokens but v has " + v.size(1));
        }
        for (int s = 0; s < sequences; s++) {
            appendRows(s, keys[s], values[s], n);
        }
    }

    /** The rows of a [n, kvHeads, dim] (or [1, n, kvHeads, dim]) tensor, row-major, checked finite. */
    private float[] rows(String name, Tensor t, int dim) {
        Objects.requireNonNull(t, name);
        Tensor x = t.rank() == 4 && t.size(0) == 1 ? t.select(0, 0) : t;
        if (x.rank() != 3 || x.size(1) != kvHeads || x.size(2) != dim) {
            throw new IllegalArgumentException(name + " " + Arrays.toString(t.shape()) + "; expected [n, " + kvHeads
                    + ", " + dim + "] (or [1, n, " + kvHeads + ", " + dim + "])");
        }
        float[] data = x.isHeap() && x.isContiguous() && x.arrayOffset() == 0
                && x.array().length == x.elementCount() ? x.array() : x.toArray();
        for (int i = 0; i < data.length; i++) {
            if (!Float.isFinite(data[i])) {
                int row = i / (kvHeads * dim);
                throw new IllegalArgumentException(name + " has " + data[i] + " at token " + row + ", head "
                        + i / dim % kvHeads + ", element " + i % dim + "; a KV cache takes finite values only");
            }
            if (format.quantized() && Math.abs(data[i]) > 1e37f) {
                throw new IllegalArgumentException(name + " has " + data[i] + " at token " + i / (kvHeads * dim)
                        + "; a quantised cache takes |x| <= 1e37 (the scale of a group must stay finite)");
            }
        }
        return data;
    }

    private void appendRows(int seq, float[] keys, float[] values, int n) {
        if ((long) tokensSeen[seq] + n > Integer.MAX_VALUE - 1) {
            throw new IllegalArgumentException("sequence " + seq + " would exceed " + (Integer.MAX_VALUE - 1)
                    + " tokens");
        }
        for (int h = 0; h < kvHeads; h++) {
            Stream s = streams[seq * kvHeads + h];
            s.ensureCapacity(s.length + n);
            for (int t = 0; t < n; t++) {
                int row = s.length;
                s.keyBlock(row).write(s.inBlock(row), keys, (t * kvHeads + h) * headDim);
                s.valueBlock(row).write(s.inBlock(row), values, (t * kvHeads + h) * valueDim);
                s.positions[row] = tokensSeen[seq] + t;
                if (s.logWeights != null) {
                    s.logWeights[row] = 0;
                }
                for (float[] tally : s.tallies) {
                    tally[row] = 0;
                }
                s.length++;
            }
        }
        tokensSeen[seq] += n;
        version++;
    }

    // ------------------------------------------------------------------------------------------------ remove

    /**
     * Forgets every token of sequence {@code seq} at position {@code >= position} (rolling back a speculative
     * draft) and makes {@code position} the next token's position.
     */
    public void truncate(int seq, int position) {
        checkSequence(seq);
        if (position < 0 || position > tokensSeen[seq]) {
            throw new IllegalArgumentException("truncate position = " + position + "; allowed: 0 to "
                    + tokensSeen[seq] + " (tokens seen by sequence " + seq + ")");
        }
        for (int h = 0; h < kvHeads; h++) {
            Stream s = streams[seq * kvHeads + h];
            int keep = s.firstAtOrAfter(position);
            if (keep < s.length) {
                s.length = keep;
                s.release(false); // a contiguous stream keeps its block: drafts are rolled back and refilled
            }
        }
        tokensSeen[seq] = position;
        version++;
    }

    /** Empties sequence {@code seq} (positions restart at 0) and frees its memory. */
    public void clear(int seq) {
        checkSequence(seq);
        for (int h = 0; h < kvHeads; h++) {
            Stream s = streams[seq * kvHeads + h];
            s.length = 0;
            s.release(true);
        }
        tokensSeen[seq] = 0;
        version++;
    }

    /**
     * Keeps rows {@code rows} (ascending, distinct, each in {@code [0, length)}) of stream (seq, head) and drops the
     * rest; the memory of dropped rows is freed (contiguous: the block is reallocated at the new length; paged:
     * pages past it are released).
     */
    public void keep(int seq, int head, int[] rows) {
        Stream s = stream(seq, head);
        checkRows(seq, head, s, rows);
        s.compact(rows, null);
        version++;
    }

    /**
     * Keeps {@code rows} and folds every dropped row into one compensation row (RazorAttention's compensation
     * token): its key and value are the multiplicity-weighted means of the dropped rows' (dequantised) keys and
     * values, its multiplicity their total (so attention sees it with logit bias {@code log m}: {@code m} tokens
     * with the mean key), its tallies their sum, and its position their weighted mean position, rounded — it is
     * inserted among the kept rows in position order. Nothing is merged when nothing is dropped.
     */
    public void keepAndMerge(int seq, int head, int[] rows) {
        Stream s = stream(seq, head);
        checkRows(seq, head, s, rows);
        if (rows.length == s.length) {
            return;
        }
        float[] meanKey = new float[headDim], meanValue = new float[valueDim];
        float[] k = new float[headDim], v = new float[valueDim];
        double[] sumK = new double[headDim], sumV = new double[valueDim];
        double[] tallies = new double[s.tallies.length];
        double weight = 0, position = 0;
        for (int r = 0, next = 0; r < s.length; r++) {
            if (next < rows.length && rows[next] == r) {
                next++;
                continue;
            }
            double w = s.logWeights == null ? 1 : Math.exp(s.logWeights[r]);
            s.keyBlock(r).read(s.inBlock(r), k, 0);
            s.valueBlock(r).read(s.inBlock(r), v, 0);
            for (int c = 0; c < headDim; c++) {
                sumK[c] += w * k[c];
            }
            for (int c = 0; c < valueDim; c++) {
                sumV[c] += w * v[c];
            }
            for (int t = 0; t < tallies.length; t++) {
                tallies[t] += s.tallies[t][r];
            }
            weight += w;
            position += w * s.positions[r];
        }
        for (int c = 0; c < headDim; c++) {
            meanKey[c] = (float) (sumK[c] / weight);
        }
        for (int c = 0; c < valueDim; c++) {
            meanValue[c] = (float) (sumV[c] / weight);
        }
        float[] mergedTallies = new float[tallies.length];
        for (int t = 0; t < tallies.length; t++) {
            mergedTallies[t] = (float) tallies[t];
        }
        s.compact(rows, new Merged(meanKey, meanValue, (float) Math.log(weight),
                (int) Math.round(position / weight), mergedTallies));
        version++;
    }

    private record Merged(float[] key, float[] value, float logWeight, int position, float[] tallies) {
    }

    /**
     * Appends copies of rows {@code rows} (ascending, distinct) of stream (seq, head) of {@code source} — a cache of
     * the same shape and format — to stream (seq, head) of this cache, as stored (codes are copied, never
     * re-quantised), with their positions and multiplicities (tallies start at 0), and raises {@link #tokensSeen} of
     * {@code seq} to the source's. The copied positions must follow this stream's last one. Package-private: the side
     * cache of {@link Recycled} holds rows of another cache at their original positions.
     */
    void appendCopies(KvCache source, int seq, int head, int[] rows) {
        Objects.requireNonNull(source, "source");
        if (source.sequences != sequences || source.kvHeads != kvHeads || source.headDim != headDim
                || source.valueDim != valueDim || !source.format.equals(format)) {
            throw new IllegalArgumentException("appendCopies takes rows of a cache of the same shape and format");
        }
        Stream from = source.stream(seq, head), to = stream(seq, head);
        checkRows(seq, head, from, rows);
        if (rows.length > 0 && to.length > 0 && from.positions[rows[0]] <= to.positions[to.length - 1]) {
            throw new IllegalArgumentException("copied position " + from.positions[rows[0]] + " does not follow "
                    + "the last position " + to.positions[to.length - 1] + " of stream (sequence " + seq + ", head "
                    + head + ")");
        }
        to.ensureCapacity(to.length + rows.length);
        for (int r : rows) {
            int at = to.length;
            from.keyBlock(r).copyRow(from.inBlock(r), to.keyBlock(at), to.inBlock(at));
            from.valueBlock(r).copyRow(from.inBlock(r), to.valueBlock(at), to.inBlock(at));
            to.positions[at] = from.positions[r];
            float logWeight = from.logWeights == null ? 0 : from.logWeights[r];
            if (logWeight != 0 && to.logWeights == null) {
                to.logWeights = new float[to.capacity];
            }
            if (to.logWeights != null) {
                to.logWeights[at] = logWeight;
            }
            for (float[] tally : to.tallies) {
                tally[at] = 0;
            }
            to.length++;
        }
        tokensSeen[seq] = Math.max(tokensSeen[seq], source.tokensSeen[seq]);
        version++;
    }

    private void checkRows(int seq, int head, Stream s, int[] rows) {
        Objects.requireNonNull(rows, "rows");
        for (int i = 0; i < rows.length; i++) {
            if (rows[i] < 0 || rows[i] >= s.length || (i > 0 && rows[i] <= rows[i - 1])) {
                throw new IllegalArgumentException("rows[" + i + "] = " + rows[i] + " for stream (sequence " + seq
                        + ", head " + head + ") of " + s.length + " rows; allowed: ascending, distinct, in [0, "
                        + s.length + ")");
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ tallies

    /**
     * Starts keeping an attention tally with the given decay per decode step ({@code 1}: H2O's plain sum;
     * {@code < 1}: A2SF's forgetting factor) and returns its index; a decay already tracked returns the existing
     * index. New tallies start at 0 for every row held.
     */
    public int track(double decay) {
        if (!(decay > 0 && decay <= 1)) {
            throw new IllegalArgumentException("tally decay = " + decay + "; allowed: (0, 1]");
        }
        for (int i = 0; i < trackedDecays.length; i++) {
            if (trackedDecays[i] == decay) {
                return i;
            }
        }
        trackedDecays = Arrays.copyOf(trackedDecays, trackedDecays.length + 1);
        trackedDecays[trackedDecays.length - 1] = decay;
        for (Stream s : streams) {
            s.tallies = Arrays.copyOf(s.tallies, s.tallies.length + 1);
            s.tallies[s.tallies.length - 1] = new float[s.capacity];
        }
        version++;
        return trackedDecays.length - 1;
    }

    /** The decays of the tracked tallies, by index. */
    public double[] trackedDecays() {
        return trackedDecays.clone();
    }

    /** Tally {@code index} of every row of stream (seq, head), a copy. */
    public float[] tally(int seq, int head, int index) {
        Stream s = stream(seq, head);
        Objects.checkIndex(index, trackedDecays.length);
        return Arrays.copyOf(s.tallies[index], s.length);
    }

    /** Adds {@code values[r]} to tally {@code index} of row {@code r} (a prefill's observed attention). */
    public void addToTally(int seq, int head, int index, float[] values) {
        Stream s = stream(seq, head);
        Objects.checkIndex(index, trackedDecays.length);
        if (values.length != s.length) {
            throw new IllegalArgumentException("values has " + values.length + " entries for stream (sequence " + seq
                    + ", head " + head + ") of " + s.length + " rows");
        }
        for (int r = 0; r < s.length; r++) {
            if (!Float.isFinite(values[r])) {
                throw new IllegalArgumentException("values[" + r + "] = " + values[r] + "; allowed: finite");
            }
        }
        for (int r = 0; r < s.length; r++) {
            s.tallies[index][r] += values[r];
        }
        version++;
    }

    // ------------------------------------------------------------------------------------------------ memory

    /**
     * Bytes held, in three parts.
     *
     * @param keyValueBytes codes (or floats) of K and V rows, for every allocated row
     * @param scaleBytes    quantisation scales of those rows
     * @param metadataBytes positions, multiplicities, tallies per allocated row, and page references
     * @param rows          rows held (the sum of the streams' lengths)
     * @param allocatedRows rows allocated (capacity)
     */
    public record Memory(long keyValueBytes, long scaleBytes, long metadataBytes, long rows, long allocatedRows) {
        /** Everything. */
        public long total() {
            return keyValueBytes + scaleBytes + metadataBytes;
        }
    }

    /** The bytes this cache holds now (see the class comment for what is counted). */
    public Memory memory() {
        long capacity = 0, rows = 0, metadata = 4L * sequences, pages = 0;
        for (Stream s : streams) {
            capacity += s.capacity;
            rows += s.length;
            metadata += (long) s.capacity * (4 + (s.logWeights == null ? 0 : 4) + 4L * s.tallies.length);
            pages += s.blockCount;
        }
        if (storage == Storage.PAGED) {
            metadata += 4 * pages;
            capacity += (long) freePages.size() * pageSize;
        }
        long codes = capacity * (format.codeBytes(headDim) + format.codeBytes(valueDim));
        long scales = capacity * (format.scaleBytes(headDim) + format.scaleBytes(valueDim));
        return new Memory(codes, scales, metadata, rows, capacity);
    }

    /** Bytes of K and V (codes and scales) one token of one KV head takes. */
    public int bytesPerRow() {
        return format.bytesPerRow(headDim) + format.bytesPerRow(valueDim);
    }

    // ------------------------------------------------------------------------------------------------ internals

    Stream stream(int seq, int head) {
        checkSequence(seq);
        if (head < 0 || head >= kvHeads) {
            throw new IllegalArgumentException("head = " + head + "; allowed: 0 to " + (kvHeads - 1));
        }
        return streams[seq * kvHeads + head];
    }

    private void checkSequence(int seq) {
        if (seq < 0 || seq >= sequences) {
            throw new IllegalArgumentException("sequence = " + seq + "; allowed: 0 to " + (sequences - 1));
        }
    }

    /** One (sequence, KV head): key and value blocks, and per-row metadata sized to the capacity. */
    final class Stream {
        RowBlock[] keys = new RowBlock[0], values = new RowBlock[0];
        int blockCount, length, capacity;
        int[] positions = new int[0];
        float[] logWeights;           // null while every row has multiplicity 1
        float[][] tallies = new float[0][];

        RowBlock keyBlock(int row) {
            return storage == Storage.PAGED ? keys[row / pageSize] : keys[0];
        }

        RowBlock valueBlock(int row) {
            return storage == Storage.PAGED ? values[row / pageSize] : values[0];
        }

        int inBlock(int row) {
            return storage == Storage.PAGED ? row % pageSize : row;
        }

        /** The end of the run of rows stored contiguously from {@code row}: the page end, or the length. */
        int runEnd(int row) {
            return storage == Storage.PAGED ? Math.min(length, (row / pageSize + 1) * pageSize) : length;
        }

        /** Multiplicity logit biases, or null when every row counts once. */
        float[] logWeights() {
            return logWeights;
        }

        int firstAtOrAfter(int position) {
            int lo = 0, hi = length;
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (positions[mid] < position) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            return lo;
        }

        void ensureCapacity(int rows) {
            if (rows <= capacity) {
                return;
            }
            if (storage == Storage.PAGED) {
                int pages = (rows + pageSize - 1) / pageSize;
                keys = Arrays.copyOf(keys, pages);
                values = Arrays.copyOf(values, pages);
                for (int p = blockCount; p < pages; p++) {
                    RowBlock[] page = freePages.poll();
                    keys[p] = page != null ? page[0] : new RowBlock(format, headDim, pageSize);
                    values[p] = page != null ? page[1] : new RowBlock(format, valueDim, pageSize);
                }
                blockCount = pages;
                resizeMetadata(pages * pageSize);
            } else {
                int grown = Math.max(rows, length + Math.max(16, length >> 3));
                reallocate(grown, null, null);
            }
        }

        /** Contiguous: a new block of {@code newCapacity} rows holding rows {@code order} (all rows when null). */
        private void reallocate(int newCapacity, int[] order, Merged merged) {
            RowBlock k = new RowBlock(format, headDim, newCapacity), v = new RowBlock(format, valueDim, newCapacity);
            int[] pos = new int[newCapacity];
            float[] weights = logWeights == null && merged == null ? null : new float[newCapacity];
            float[][] tal = new float[tallies.length][newCapacity];
            int n = order == null ? length : order.length + (merged == null ? 0 : 1);
            if (order == null && blockCount > 0) {
                keys[0].copyRows(0, k, 0, length);
                values[0].copyRows(0, v, 0, length);
                System.arraycopy(positions, 0, pos, 0, length);
                if (weights != null) {
                    System.arraycopy(logWeights, 0, weights, 0, length);
                }
                for (int t = 0; t < tallies.length; t++) {
                    System.arraycopy(tallies[t], 0, tal[t], 0, length);
                }
            } else if (order != null) {
                int to = 0;
                boolean placed = merged == null;
                for (int i = 0; i <= order.length; i++) {
                    if (!placed && (i == order.length || positions[order[i]] > merged.position)) {
                        k.write(to, merged.key, 0);
                        v.write(to, merged.value, 0);
                        pos[to] = merged.position;
                        weights[to] = merged.logWeight;
                        for (int t = 0; t < tal.length; t++) {
                            tal[t][to] = merged.tallies[t];
                        }
                        to++;
                        placed = true;
                    }
                    if (i == order.length) {
                        break;
                    }
                    int from = order[i];
                    keys[0].copyRow(from, k, to);
                    values[0].copyRow(from, v, to);
                    pos[to] = positions[from];
                    if (weights != null) {
                        weights[to] = logWeights == null ? 0 : logWeights[from];
                    }
                    for (int t = 0; t < tal.length; t++) {
                        tal[t][to] = tallies[t][from];
                    }
                    to++;
                }
            }
            keys = new RowBlock[] {k};
            values = new RowBlock[] {v};
            blockCount = 1;
            capacity = newCapacity;
            positions = pos;
            logWeights = weights;
            tallies = tal;
            length = n;
        }

        private void resizeMetadata(int newCapacity) {
            positions = Arrays.copyOf(positions, newCapacity);
            if (logWeights != null) {
                logWeights = Arrays.copyOf(logWeights, newCapacity);
            }
            for (int t = 0; t < tallies.length; t++) {
                tallies[t] = Arrays.copyOf(tallies[t], newCapacity);
            }
            capacity = newCapacity;
        }

        /** Keeps rows {@code order} (ascending) plus an optional merged row, and frees what is no longer needed. */
        void compact(int[] order, Merged merged) {
            int n = order.length + (merged == null ? 0 : 1);
            if (storage == Storage.CONTIGUOUS) {
                reallocate(n, order, merged);
                if (n == 0) {
                    release(true);
                }
                return;
            }
            if (merged != null && logWeights == null) {
                logWeights = new float[capacity];
            }
            // paged: move rows forward in place (order[i] >= i, and the merged row shifts later rows by one, so
            // first gather into a new order of sources, then write from the front; the merged row is staged apart)
            int to = 0;
            boolean placed = merged == null;
            int mergedAt = -1;
            for (int i = 0; i <= order.length; i++) {
                if (!placed && (i == order.length || positions[order[i]] > merged.position)) {
                    mergedAt = to++;
                    placed = true;
                }
                if (i == order.length) {
                    break;
                }
                int from = order[i];
                if (from != to) {
                    if (from < to) {
                        throw new IllegalStateException("compaction would move row " + from + " back to " + to);
                    }
                    keyBlock(from).copyRow(inBlock(from), keyBlock(to), inBlock(to));
                    valueBlock(from).copyRow(inBlock(from), valueBlock(to), inBlock(to));
                    positions[to] = positions[from];
                    if (logWeights != null) {
                        logWeights[to] = logWeights[from];
                    }
                    for (float[] tally : tallies) {
                        tally[to] = tally[from];
                    }
                }
                to++;
            }
            if (mergedAt >= 0) {
                keyBlock(mergedAt).write(inBlock(mergedAt), merged.key, 0);
                valueBlock(mergedAt).write(inBlock(mergedAt), merged.value, 0);
                positions[mergedAt] = merged.position;
                logWeights[mergedAt] = merged.logWeight;
                for (int t = 0; t < tallies.length; t++) {
                    tallies[t][mergedAt] = merged.tallies[t];
                }
            }
            length = n;
            release(true);
        }

        /** Frees storage past the length: pages beyond it, and a contiguous block's slack when {@code trim}. */
        void release(boolean trim) {
            if (storage == Storage.PAGED) {
                int pages = (length + pageSize - 1) / pageSize;
                for (int p = pages; p < blockCount; p++) {
                    if (freePages.size() < maxFreePages) {
                        freePages.push(new RowBlock[] {keys[p], values[p]});
                    }
                }
                if (pages < blockCount) {
                    keys = Arrays.copyOf(keys, pages);
                    values = Arrays.copyOf(values, pages);
                    blockCount = pages;
                    resizeMetadata(pages * pageSize);
                }
            } else if (trim && capacity > length) {
                if (length == 0) {
                    keys = new RowBlock[0];
                    values = new RowBlock[0];
                    blockCount = 0;
                    capacity = 0;
                    positions = new int[0];
                    logWeights = null;
                    for (int t = 0; t < tallies.length; t++) {
                        tallies[t] = new float[0];
                    }
                } else {
                    reallocate(length, null, null);
                }
            }
        }
    }
}
