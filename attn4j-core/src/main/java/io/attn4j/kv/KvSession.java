package io.attn4j.kv;

import io.attn4j.attention.exact.LeanDecode;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * One layer's decode loop over a compressed cache: prefill appends the prompt's keys and values and compresses
 * with the prompt's queries in view; each decode step appends the new token, attends through {@link KvDecode}
 * (to the cache, or to the view a decode-time policy chooses), keeps the last {@code window} queries of every
 * sequence for the policy to observe, and compresses again every {@code compressEvery} steps (0: at prefill only).
 *
 * <p>The session starts the tallies its policy asks for before the first token, so they see every step.
 */
public final class KvSession {
    private final KvCache cache;
    private final KvPolicy policy;
    private final Budget budget;
    private final int queryHeads, compressEvery, window;
    private final float scale;
    private final Engine engine;
    private final KvDecode decode;
    private final float[][] recent;   // per sequence: the last `window` queries, oldest first
    private final int[] recentCount;
    private long steps;

    /**
     * @param cache         the layer's cache (its format should be the policy's, when it asks for one)
     * @param policy        what to keep
     * @param budget        rows per head after each compression
     * @param queryHeads    query heads of the layer (a multiple of the cache's KV heads)
     * @param compressEvery compress every this many decode steps (0: only at prefill)
     * @param window        recent queries kept for the policy per sequence ({@code >= 1})
     * @param engine        threads and SIMD
     */
    public KvSession(KvCache cache, KvPolicy policy, Budget budget, int queryHeads, int compressEvery, int window,
                     Engine engine) {
        this.cache = Objects.requireNonNull(cache, "cache");
        this.policy = Objects.requireNonNull(policy, "policy");
        this.budget = Objects.requireNonNull(budget, "budget");
        this.engine = Objects.requireNonNull(engine, "engine");
        if (queryHeads < 1 || queryHeads % cache.kvHeads() != 0) {
            throw new IllegalArgumentException("queryHeads = " + queryHeads + "; allowed: a multiple of the cache's "
                    + cache.kvHeads() + " KV heads");
        }
        if (compressEvery < 0) {
            throw new IllegalArgumentException("compressEvery = " + compressEvery
                    + "; allowed: >= 0 (0: prefill only)");
        }
        if (window < 1) {
            throw new IllegalArgumentException("window = " + window + "; allowed: >= 1 query");
        }
        KvFormat wanted = policy.format();
        if (wanted != null && !wanted.equals(cache.format())) {
            throw new IllegalArgumentException("policy " + policy.id() + " stores " + wanted + " rows; the cache is "
                    + cache.format());
        }
        this.queryHeads = queryHeads;
        this.compressEvery = compressEvery;
        this.window = window;
        this.scale = (float) (1 / Math.sqrt(cache.headDim()));
        this.decode = new KvDecode(LeanDecode.Config.defaults(), engine);
        this.recent = new float[cache.sequences()][window * queryHeads * cache.headDim()];
        this.recentCount = new int[cache.sequences()];
        for (double decay : policy.tallyDecays()) {
            cache.track(decay);
        }
    }

    public KvCache cache() {
        return cache;
    }

    public KvPolicy policy() {
        return policy;
    }

    /** Decode steps run so far. */
    public long steps() {
        return steps;
    }

    /**
     * Appends a prompt of {@code n} tokens to sequence {@code seq} ({@code q [n, queryHeads, D]}, {@code k} and
     * {@code v [n, kvHeads, D]}) and compresses it with all of its queries observed. The prompt's own attention
     * output is the caller's (prefill belongs to {@code flash}).
     */
    public void prefill(int seq, Tensor q, Tensor k, Tensor v) {
        Objects.requireNonNull(q, "q");
        if (q.rank() != 3 || q.size(1) != queryHeads || q.size(2) != cache.headDim()) {
            throw new IllegalArgumentException("prompt queries " + Arrays.toString(q.shape()) + "; expected [n, "
                    + queryHeads + ", " + cache.headDim() + "]");
        }
        int first = cache.tokensSeen(seq);
        cache.append(seq, k, v);
        if (cache.tokensSeen(seq) - first != q.size(0)) {
            throw new IllegalArgumentException("prompt has " + q.size(0) + " queries but " + (cache.tokensSeen(seq)
                    - first) + " keys");
        }
        remember(seq, q.isContiguous() && q.isHeap() && q.arrayOffset() == 0 ? q.array() : q.toArray(), q.size(0));
        policy.compress(cache, seq, budget, new Observation(q, first, scale, engine));
    }

    /**
     * One decode step for every sequence: appends {@code k}, {@code v} ({@code [sequences, 1, kvHeads, D]}),
     * writes attention of {@code q} ({@code [sequences, 1, queryHeads, D]}) into {@code out}
     * ({@code [sequences, 1, queryHeads, Dv]}), and compresses when the schedule says so.
     */
    public void step(Tensor q, Tensor k, Tensor v, Tensor out) {
        Objects.requireNonNull(q, "q");
        if (q.rank() != 4 || q.size(0) != cache.sequences() || q.size(1) != 1 || q.size(2) != queryHeads
                || q.size(3) != cache.headDim()) {
            throw new IllegalArgumentException("step queries " + Arrays.toString(q.shape()) + "; expected ["
                    + cache.sequences() + ", 1, " + queryHeads + ", " + cache.headDim() + "]");
        }
        cache.append(k, v);
        float[] qData = q.isContiguous() && q.isHeap() && q.arrayOffset() == 0 ? q.array() : q.toArray();
        int per = queryHeads * cache.headDim();
        for (int b = 0; b < cache.sequences(); b++) {
            remember(b, Arrays.copyOfRange(qData, b * per, (b + 1) * per), 1);
        }
        steps++;
        // the step's context: its queries are q (every sequence); the observation carries the scale and threads
        Observation context = new Observation(Tensor.zeros(0, queryHeads, cache.headDim()), 0, scale, engine);
        KvCache target = policy.attendTo(cache, q, steps, context);
        decode.plan(target, queryHeads, 1).run(q, out, KvDecode.Options.defaults().withScale(scale));
        if (compressEvery > 0 && steps % compressEvery == 0) {
            for (int b = 0; b < cache.sequences(); b++) {
                policy.compress(cache, b, budget, observation(b));
            }
        }
    }

    /** The recent queries of sequence {@code seq}, oldest first. */
    public Observation observation(int seq) {
        int count = recentCount[seq], per = queryHeads * cache.headDim();
        Tensor queries = Tensor.of(Arrays.copyOf(recent[seq], count * per), count, queryHeads, cache.headDim());
        return new Observation(queries, cache.tokensSeen(seq) - count, scale, engine);
    }

    private void remember(int seq, float[] queries, int n) {
        int per = queryHeads * cache.headDim(), take = Math.min(n, window);
        float[] buffer = recent[seq];
        int keep = Math.min(recentCount[seq], window - take);
        System.arraycopy(buffer, (recentCount[seq] - keep) * per, buffer, 0, keep * per);
        System.arraycopy(queries, (n - take) * per, buffer, keep * per, take * per);
        recentCount[seq] = keep + take;
    }
}
