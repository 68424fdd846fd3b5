package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.WeakHashMap;

/**
 * Recycled Attention (Xu, Goyal, Choi: "Recycled Attention: Efficient inference for long-context language models",
 * 2024, arXiv:2411.05787; later versions name it RefreshKV): a decode-time policy that keeps the whole cache but
 * lets most steps read only a small part of it.
 *
 * <p><b>Algorithm.</b> Every {@code stride} decode steps is a <em>full</em> step: it attends to the whole cache and
 * records, per KV head, the {@code K} rows its queries attended to most (the step's attention weights averaged over
 * the head's group of query heads, {@link ObservedAttention} of the step's queries). The steps between are
 * <em>recycled</em>: they attend only to those {@code K} rows plus the tokens appended since the last full step,
 * held in a small side cache ({@link #attendTo} returns it). Attention over the side cache is exact: the rows are
 * copies of the cache's (codes copied as stored, never re-quantised), at their original positions, with their
 * multiplicities.
 *
 * <p><b>Budget.</b> The budget is {@code K}: with {@link Config#topK} {@code = 0} (the default) {@code K} is
 * {@code budget.rows(tokensSeen)} of the budget the last {@link #compress} of that cache was called with (a
 * {@link KvSession} compresses at prefill, so its budget is the session's); a positive {@code topK} fixes it.
 * {@link #compress} keeps everything: <b>Recycled Attention trades memory for speed</b> — the cache keeps every row
 * (the policy's point is that no token is evicted for good), and the side cache adds {@code K + stride} rows per
 * head. So the budget contract here is on what a recycled step reads, not on what the cache holds.
 *
 * <p><b>Choices.</b>
 * <ul>
 *   <li>Schedule: the fixed stride of the paper's main method (its query-similarity schedule is not implemented).
 *       Step {@code s} (KvSession counts from 1) is full when {@code (s − 1) mod stride = 0}, so the first decode
 *       step is full; a stride of 1 makes every step full (exact decode). Default stride 10: the paper's exact
 *       default could not be checked from here; 10 keeps a full step's cost (two passes, see below) a fifth of
 *       the steps' total at large n.</li>
 *   <li>A step is also full when the cache has no recorded rows yet, or when some sequence of the cache holds fewer
 *       tokens than the side cache (a truncation: the recorded rows may be rolled-back drafts). A truncation
 *       followed by re-appending at least as many tokens is not detected: call {@link #reset} after rolling back.
 *       Rows another policy drops from the cache between full steps stay readable in the side cache until the next
 *       full step.</li>
 *   <li>The top-K rows are ranked by the full step's own group-averaged weights, over all its queries when a step
 *       has several ({@link ScoringPolicy#topRows}: ties to later rows). No sinks or recent window are forced: the
 *       paper's top-K is plain, and the steps' new tokens are read anyway.</li>
 *   <li>State: policies are stateless values elsewhere; this one must remember the side cache between steps. It is
 *       kept per cache in a synchronised {@link WeakHashMap} keyed by the cache's identity, so one policy serves
 *       many caches and a cache that is no longer used releases its state. A cleaner design would let the session
 *       own per-policy state; see the report of the issue.</li>
 *   <li>Tallies: a recycled step updates the tallies of the side cache (which tracks none), not the cache's: when
 *       composed with a tally-based policy (H2O), its tallies see full steps only.</li>
 * </ul>
 *
 * <p><b>Complexity.</b> A full step reads the cache twice (the step's decode, and the scoring pass that records the
 * top-K: O(n·G·d) each) plus O(n log n) per head for the ranking and O(K·d) to copy the rows; a recycled step reads
 * {@code K + (steps since the full one)} rows per head and copies the new token's row. Memory: the whole cache
 * plus {@code K + stride} rows per head.
 */
public final class Recycled implements KvPolicy {

    /**
     * @param stride every this many decode steps is a full attention step ({@code >= 1})
     * @param topK   rows recorded per KV head at a full step ({@code >= 1}), or 0 for the budget's rows
     */
    public record Config(int stride, int topK) implements MechanismConfig {
        public Config {
            if (stride < 1) {
                throw new IllegalArgumentException("stride = " + stride + "; allowed: >= 1 decode step");
            }
            if (topK < 0) {
                throw new IllegalArgumentException("topK = " + topK + "; allowed: >= 1 rows, or 0 for the budget's");
            }
        }

        /** A full step every 10 steps, K from the budget. */
        public static Config defaults() {
            return new Config(10, 0);
        }
    }

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("recycled",
            "Recycled Attention (periodic full step records top-K per head; the steps between read only those)",
            "Xu, Goyal, Choi: \"Recycled Attention: Efficient inference for long-context language models\", 2024 "
                    + "(arXiv:2411.05787)", Weights.FREE,
            "full step O(n G d) twice; other steps O((K + stride) G d) per head",
            "n rows per head (nothing evicted) + K + stride rows per head of side cache",
            Config.class, Config.defaults(), config -> new Recycled((Config) config));

    private final Config config;
    private final Map<KvCache, State> states = Collections.synchronizedMap(new WeakHashMap<>());

    /** Per cache: the budget of the last compression and the side cache of the recorded rows plus new tokens. */
    private static final class State {
        Budget budget;
        KvCache side;
    }

    public Recycled(Config config) {
        this.config = Objects.requireNonNull(config, "config");
    }

    public Config config() {
        return config;
    }

    @Override
    public String id() {
        return "recycled";
    }

    /** Keeps every row; remembers {@code budget} as this cache's K (when {@link Config#topK} is 0). */
    @Override
    public void compress(KvCache cache, int seq, Budget budget, Observation observation) {
        Objects.requireNonNull(cache, "cache");
        Objects.requireNonNull(budget, "budget");
        cache.tokensSeen(seq); // checks the sequence
        state(cache).budget = budget;
    }

    /**
     * On a full step, records the top-K rows per KV head from {@code queries} ({@code [sequences, Lq, queryHeads,
     * headDim]}, their keys already appended) and returns {@code cache}; otherwise returns the side cache, extended
     * with the tokens appended since the previous step.
     */
    @Override
    public KvCache attendTo(KvCache cache, Tensor queries, long step, Observation observation) {
        Objects.requireNonNull(cache, "cache");
        Objects.requireNonNull(queries, "queries");
        Objects.requireNonNull(observation, "observation");
        if (queries.rank() != 4 || queries.size(0) != cache.sequences() || queries.size(3) != cache.headDim()
                || queries.size(2) % cache.kvHeads() != 0 || queries.size(1) < 1) {
            throw new IllegalArgumentException("recycled: step queries " + Arrays.toString(queries.shape())
                    + "; expected [" + cache.sequences() + ", Lq >= 1, a multiple of " + cache.kvHeads() + ", "
                    + cache.headDim() + "]");
        }
        State state = state(cache);
        synchronized (state) {
            if (state.side == null || Math.floorMod(step - 1, config.stride()) == 0 || truncated(cache, state.side)) {
                state.side = record(cache, queries, observation, state.budget);
                return cache;
            }
            extend(state.side, cache);
            return state.side;
        }
    }

    /** Forgets what was recorded for {@code cache}: its next step is full. */
    public void reset(KvCache cache) {
        State state = states.get(cache);
        if (state != null) {
            synchronized (state) {
                state.side = null;
            }
        }
    }

    /** The side cache recycled steps of {@code cache} read now (null before the first full step); for tests. */
    KvCache side(KvCache cache) {
        State state = states.get(cache);
        return state == null ? null : state.side;
    }

    private State state(KvCache cache) {
        return states.computeIfAbsent(cache, c -> new State());
    }

    private static boolean truncated(KvCache cache, KvCache side) {
        for (int b = 0; b < cache.sequences(); b++) {
            if (cache.tokensSeen(b) < side.tokensSeen(b)) {
                return true;
            }
        }
        return false;
    }

    /** A new side cache holding, per (sequence, KV head), the K rows the step's queries attended to most. */
    private KvCache record(KvCache cache, Tensor queries, Observation observation, Budget budget) {
        if (config.topK() == 0 && budget == null) {
            throw new IllegalArgumentException("recycled: topK = 0 takes K from the budget of compress, and no "
                    + "compress has run on this cache; set topK >= 1 or compress first");
        }
        int lq = queries.size(1);
        KvCache side = emptyLike(cache);
        for (int b = 0; b < cache.sequences(); b++) {
            int seen = cache.tokensSeen(b);
            int k = config.topK() > 0 ? config.topK() : budget.rows(seen);
            Observation step = new Observation(queries.select(0, b), Math.max(0, seen - lq), observation.scale(),
                    observation.engine());
            for (int h = 0; h < cache.kvHeads(); h++) {
                int n = cache.length(b, h);
                int[] rows = k >= n ? ScoringPolicy.topRows(new float[0], n, n)
                        : ScoringPolicy.topRows(ObservedAttention.of(cache, b, h, step), n, k);
                side.appendCopies(cache, b, h, rows);
            }
        }
        return side;
    }

    /** Copies into {@code side} every row of {@code cache} at a position the side cache has not seen yet. */
    private static void extend(KvCache side, KvCache cache) {
        for (int b = 0; b < cache.sequences(); b++) {
            int from = side.tokensSeen(b);
            for (int h = 0; h < cache.kvHeads(); h++) {
                KvCache.Stream s = cache.stream(b, h);
                int first = s.firstAtOrAfter(from);
                int[] rows = new int[s.length - first];
                Arrays.setAll(rows, i -> first + i);
                side.appendCopies(cache, b, h, rows);
            }
        }
    }

    private static KvCache emptyLike(KvCache cache) {
        KvCache.Builder builder = KvCache.builder(cache.sequences(), cache.kvHeads(), cache.headDim())
                .valueDim(cache.valueDim()).format(cache.format());
        if (cache.storage() == KvCache.Storage.PAGED) {
            builder.paged(cache.pageSize());
        }
        return builder.build();
    }
}
