package io.attn4j.kv;

import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * What a policy may look at when it compresses one sequence, besides the cache itself (rows, positions, tallies):
 * the sequence's most recent queries — the whole prompt at prefill, a window of recent decode queries later.
 *
 * @param queries       {@code [n, queryHeads, headDim]}, query {@code i} at position {@code firstPosition + i};
 *                      may hold 0 queries (policies that need queries then refuse, naming what they need)
 * @param firstPosition the position of the first query
 * @param scale         the logit scale the model uses
 * @param engine        threads and SIMD for the policy's own scoring
 */
public record Observation(Tensor queries, int firstPosition, float scale, Engine engine) {

    public Observation {
        Objects.requireNonNull(queries, "queries");
        Objects.requireNonNull(engine, "engine");
        if (queries.rank() != 3) {
            throw new IllegalArgumentException("observed queries " + Arrays.toString(queries.shape())
                    + "; expected [n, queryHeads, headDim]");
        }
        if (firstPosition < 0) {
            throw new IllegalArgumentException("firstPosition = " + firstPosition + "; allowed: >= 0");
        }
        if (!(Float.isFinite(scale) && scale > 0)) {
            throw new IllegalArgumentException("scale = " + scale + "; allowed: finite and > 0");
        }
    }

    /** An observation without queries (for policies that need none). */
    public static Observation none(KvCache cache, int queryHeads, Engine engine) {
        return new Observation(Tensor.zeros(0, queryHeads, cache.headDim()), 0,
                (float) (1 / Math.sqrt(cache.headDim())), engine);
    }

    /** Queries observed. */
    public int count() {
        return queries.size(0);
    }

    /** Query heads. */
    public int queryHeads() {
        return queries.size(1);
    }

    /** The last {@code n} queries (all of them when there are fewer). */
    public Observation last(int n) {
        int count = count(), take = Math.min(n, count);
        return new Observation(queries.slice(0, count - take, count), firstPosition + count - take, scale, engine);
    }

    /** Checks that the queries fit {@code cache} and that there are at least {@code min}, naming the policy. */
    public void require(String policy, KvCache cache, int min) {
        if (queries.size(2) != cache.headDim() || queryHeads() % cache.kvHeads() != 0) {
            throw new IllegalArgumentException(policy + ": observed queries " + Arrays.toString(queries.shape())
                    + " do not fit a cache of " + cache.kvHeads() + " KV heads of dimension " + cache.headDim());
        }
        if (count() < min) {
            throw new IllegalArgumentException(policy + " scores with the sequence's recent queries and needs at "
                    + "least " + min + "; the observation holds " + count());
        }
    }
}
