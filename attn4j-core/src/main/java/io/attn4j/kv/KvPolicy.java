package io.attn4j.kv;

import io.attn4j.tensor.Tensor;

/**
 * A KV-cache compression policy: decides, per KV head of a sequence, which cached rows stay. Most policies are
 * "score, then keep" ({@link ScoringPolicy}): a score per row, the top {@code budget} rows per head kept. Scores
 * are per KV head — a GQA group's query heads are averaged, K and V are never expanded — and heads may end with
 * different lengths (the cache frees what they drop).
 *
 * <p>Policies are stateless values; what they accumulate lives in the cache (attention tallies, merged rows), so one
 * policy serves any number of caches and threads. Wrappers compose them: {@link #keepSinks}, {@link #keepRecent}
 * (on scoring policies), {@link #withBudget} and {@link #then}.
 */
public interface KvPolicy {

    /** The catalog id ({@code snapkv}, …), or a description of a composition. */
    String id();

    /**
     * Compresses every KV head of sequence {@code seq} to {@code budget} (policies with their own budget rule say
     * so in their Javadoc), using what {@code observation} shows.
     *
     * @throws IllegalArgumentException if the observation lacks what the policy needs (naming it)
     */
    void compress(KvCache cache, int seq, Budget budget, Observation observation);

    /** The attention tallies this policy scores with ({@link KvCache#track}); the session starts them. */
    default double[] tallyDecays() {
        return new double[0];
    }

    /** The storage format this policy asks of the cache (null: any). */
    default KvFormat format() {
        return null;
    }

    /**
     * The cache a decode step attends to: {@code cache} itself, or a smaller view a decode-time policy keeps
     * (Recycled Attention). Called once per step with the step's queries ({@code [sequences, 1, queryHeads, D]})
     * after their keys were appended; {@code context} carries the logit scale and the engine (its own queries are
     * empty: the step's are {@code queries}).
     */
    default KvCache attendTo(KvCache cache, Tensor queries, long step, Observation context) {
        return cache;
    }

    /** This policy with its own budget, ignoring the budget it is called with (for two-stage compositions). */
    default KvPolicy withBudget(Budget own) {
        KvPolicy inner = this;
        return new KvPolicy() {
            @Override
            public String id() {
                return inner.id() + "@" + own;
            }

            @Override
            public void compress(KvCache cache, int seq, Budget budget, Observation observation) {
                inner.compress(cache, seq, own, observation);
            }

            @Override
            public double[] tallyDecays() {
                return inner.tallyDecays();
            }

            @Override
            public KvFormat format() {
                return inner.format();
            }

            @Override
            public KvCache attendTo(KvCache cache, Tensor queries, long step, Observation context) {
                return inner.attendTo(cache, queries, step, context);
            }
        };
    }

    /**
     * This policy, then {@code next} on what it kept (kvpress's {@code ComposedPress}): with
     * {@code a.withBudget(Budget.ratio(0.5)).then(b)}, {@code a} halves the cache and {@code b} picks the final
     * budget among the survivors. Tallies of both are tracked; a format is taken from whichever asks for one (both
     * asking for different formats is refused); decode-time views come from {@code next}, then this.
     */
    default KvPolicy then(KvPolicy next) {
        KvPolicy first = this;
        KvFormat f1 = first.format(), f2 = next.format();
        if (f1 != null && f2 != null && !f1.equals(f2)) {
            throw new IllegalArgumentException("cannot compose " + first.id() + " (" + f1 + ") with " + next.id()
                    + " (" + f2 + "): a cache has one format");
        }
        return new KvPolicy() {
            @Override
            public String id() {
                return first.id() + "+" + next.id();
            }

            @Override
            public void compress(KvCache cache, int seq, Budget budget, Observation observation) {
                first.compress(cache, seq, budget, observation);
                next.compress(cache, seq, budget, observation);
            }

            @Override
            public double[] tallyDecays() {
                double[] a = first.tallyDecays(), b = next.tallyDecays();
                double[] all = java.util.Arrays.copyOf(a, a.length + b.length);
                System.arraycopy(b, 0, all, a.length, b.length);
                return all;
            }

            @Override
            public KvFormat format() {
                return f1 != null ? f1 : f2;
            }

            @Override
            public KvCache attendTo(KvCache cache, Tensor queries, long step, Observation context) {
                KvCache view = next.attendTo(cache, queries, step, context);
                return view != cache ? view : first.attendTo(cache, queries, step, context);
            }
        };
    }
}
