package io.attn4j.kv;

import java.util.Arrays;

/**
 * What {@link H2o} and {@link A2sf} share: a row's score is the attention it has received, accumulated with a
 * decay {@code α} per query (H2O: {@code α = 1}, a plain sum; A2SF: {@code α < 1}, a forgetting factor):
 * <pre>
 *   score_j = Σ_q α^(t − q) · (1/G) Σ_g softmax_j(scale · q_{q, kvh·G+g} · k_j)     q = every query counted so far,
 *                                                                                   t = the last of them
 * </pre>
 * and each head keeps its sinks, its most recent rows and, in what is left of the budget, the rows of highest score.
 *
 * <p><b>Where the sum lives.</b> In the cache: the policy asks for a tally with decay {@code α}
 * ({@link #tallyDecays}, started by {@link KvSession}); every decode step's attention is added by the decode kernel
 * ({@link KvDecode}, group-averaged). Compression adds what the kernel never saw — the prompt's queries, observed
 * at prefill — with {@link ObservedAttention} (query {@code i} of {@code m} new ones weighted {@code α^(m−1−i)},
 * the tally held so far multiplied by {@code α^m}, so prompt and decode queries are weighted alike). A cache that
 * does not track the tally yet (the policy used outside a session) is asked to, at the first compression.
 *
 * <p><b>Counting each query once.</b> Compressions happen at prefill and every few decode steps, and the session's
 * observation at decode holds recent queries the kernel already counted (and, early on, prompt queries counted at
 * prefill). The rule: a query at position {@code p} has been counted for a head iff some row of that head at a
 * position {@code >= p} has a non-zero tally. Queries are counted in position order (prompt at prefill, then one
 * per decode step), and a counted query gives its own row (causal attention sees it) a positive weight; rows past
 * the last counted query have tally exactly 0. So per head, with {@code W} = 1 + the position of the newest row with
 * a non-zero tally (0 if none), compression adds the observed queries at positions {@code >= W} and nothing else:
 * the whole prompt at prefill (including later chunks of a prompt fed in pieces), nothing at decode (the newest row
 * is the last step's own token, attended by it), nothing on a repeated compression. The rule reads only the cache,
 * so the policy stays stateless. Where it can miscount: a query's weight on its own row underflowing float32
 * (a logit over 100 below the row maximum), or the newest counted row dropped by a compression and another
 * compression of the same policy before any new step (possible only with {@code recentFraction = 0}, e.g. the
 * policy chained with itself) — then the queries after the newest surviving non-zero row, if observed again, are
 * added again.
 *
 * <p><b>Selection.</b> Per head with {@code n > B} rows (B = {@code budget.rows(tokensSeen)}): the rows at
 * positions {@code < sinks} (at most B of them, earliest first), then the last {@code R = ⌊recentFraction · B + ½⌋}
 * rows of the head (at most what the sinks leave; the last rows of the cache, as H2O's and A2SF's code take them,
 * so exactly R rows however the budget grew), then the highest tallies among the rest (ties: later rows). Each head
 * holds exactly {@code min(n, B)} rows after compression; heads within budget are untouched (their tallies are
 * still brought up to date).
 *
 * <p><b>Wrappers.</b> {@link #keepSinks} returns the same policy with {@code sinks} set (same meaning as the generic
 * wrapper, and the recent split is kept). {@link #keepRecent} is the generic wrapper: tallies are still counted once
 * (they are brought up to date in {@link #headBudgets}, which every compression path calls once), but the wrapper's
 * selection — its recent positions, then the highest tallies — replaces the {@code recentFraction} split, which it
 * cannot see (it knows no budget when it scores).
 *
 * <p><b>Complexity.</b> Bringing tallies up to date costs {@link ObservedAttention}'s O(m · n · G · D) for
 * {@code m} new observed queries (the prompt, once); at decode it is O(n) per head to find {@code W}. Selection is
 * O(n log n) per head. Memory: one float per cached row for the tally (the decode kernel's update keeps
 * {@code n · G} logits per step while it runs).
 */
public abstract sealed class AccumulatedAttention extends ScoringPolicy permits H2o, A2sf {
    private final double decay;
    private final double recentFraction;
    private final int sinks;

    AccumulatedAttention(double decay, double recentFraction, int sinks) {
        this.decay = decay;
        this.recentFraction = recentFraction;
        this.sinks = sinks;
    }

    static void checkShared(double recentFraction, int sinks) {
        if (!(recentFraction >= 0 && recentFraction <= 1)) {
            throw new IllegalArgumentException("recentFraction = " + recentFraction
                    + "; allowed: 0 to 1 (the share of the budget kept for the most recent rows)");
        }
        if (sinks < 0) {
            throw new IllegalArgumentException("sinks = " + sinks + "; allowed: >= 0");
        }
    }

    /** The tally's decay per query: 1 for H2O, the forgetting factor for A2SF. */
    public double decay() {
        return decay;
    }

    public double recentFraction() {
        return recentFraction;
    }

    public int sinks() {
        return sinks;
    }

    /** Recent rows kept of a budget of {@code budget} rows: {@code ⌊recentFraction · budget + ½⌋}. */
    public int recentRows(int budget) {
        return (int) Math.min(budget, Math.floor(recentFraction * budget + 0.5));
    }

    /** This policy with the first {@code sinks} tokens always kept (replacing the configured count). */
    @Override
    public abstract AccumulatedAttention keepSinks(int sinks);

    @Override
    public double[] tallyDecays() {
        return new double[] {decay};
    }

    @Override
    public void compress(KvCache cache, int seq, Budget budget, Observation observation) {
        int[] budgets = headBudgets(cache, seq, budget, observation); // brings the tallies up to date
        int index = tallyIndex(cache);
        for (int h = 0; h < cache.kvHeads(); h++) {
            int n = cache.length(seq, h), b = budgets[h];
            if (n <= b) {
                continue;
            }
            float[] scores = cache.tally(seq, h, index);
            int forcedSinks = 0;
            while (forcedSinks < Math.min(n, b) && cache.position(seq, h, forcedSinks) < sinks) {
                scores[forcedSinks++] = Float.POSITIVE_INFINITY;
            }
            int recent = Math.min(recentRows(b), b - forcedSinks);
            Arrays.fill(scores, n - recent, n, Float.POSITIVE_INFINITY);
            keep(cache, seq, h, topRows(scores, n, b));
        }
    }

    /**
     * Every head's budget (the default: {@code budget.rows(tokensSeen)}), after bringing the tallies up to date
     * with the observed queries not yet counted (see the class comment) — here because it is the one hook every
     * compression path calls exactly once, this class's {@link #compress} and the generic wrappers alike.
     */
    @Override
    protected int[] headBudgets(KvCache cache, int seq, Budget budget, Observation observation) {
        accumulate(cache, seq, observation);
        return super.headBudgets(cache, seq, budget, observation);
    }

    /** The tally (for the generic wrappers' selection), with the rows at positions {@code < sinks} forced. */
    @Override
    protected void score(KvCache cache, int seq, int head, Observation observation, float[] scores) {
        float[] tally = cache.tally(seq, head, tallyIndex(cache));
        for (int r = 0; r < tally.length; r++) {
            scores[r] = cache.position(seq, head, r) < sinks ? Float.POSITIVE_INFINITY : tally[r];
        }
    }

    private int tallyIndex(KvCache cache) {
        double[] decays = cache.trackedDecays();
        for (int i = 0; i < decays.length; i++) {
            if (decays[i] == decay) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Adds the attention of the observed queries no head has counted yet to every head's tally; checks everything
     * first and writes only when every head's addition is computed.
     */
    private void accumulate(KvCache cache, int seq, Observation observation) {
        observation.require(id(), cache, 0);
        int count = observation.count(), first = observation.firstPosition(), seen = cache.tokensSeen(seq);
        if (count > 0 && (long) first + count > seen) {
            throw new IllegalArgumentException(id() + ": observed queries at positions " + first + " to "
                    + (first + count - 1) + ", but sequence " + seq + " has seen " + seen
                    + " tokens; allowed: queries of tokens already appended");
        }
        int[] bad = observation.queries().firstNonFinite();
        if (bad != null) {
            throw new IllegalArgumentException(id() + ": observed query " + bad[0] + " (position " + (first + bad[0])
                    + "), head " + bad[1] + " is not finite; allowed: finite queries");
        }
        int index = tallyIndex(cache);
        float[][] additions = new float[cache.kvHeads()][];
        for (int h = 0; h < cache.kvHeads() && count > 0; h++) {
            int n = cache.length(seq, h);
            float[] tally = index < 0 ? new float[n] : cache.tally(seq, h, index);
            int counted = 0; // W: one past the position of the newest row with a non-zero tally
            for (int r = n - 1; r >= 0; r--) {
                if (tally[r] != 0) {
                    counted = cache.position(seq, h, r) + 1;
                    break;
                }
            }
            int fresh = count - Math.clamp((long) counted - first, 0, count);
            if (fresh == 0) {
                continue;
            }
            double[] weights = null;
            if (decay != 1) {
                weights = new double[fresh];
                for (int i = 0; i < fresh; i++) {
                    weights[i] = Math.pow(decay, fresh - 1 - i);
                }
            }
            float[] add = ObservedAttention.of(cache, seq, h, observation.last(fresh), weights);
            if (decay != 1) { // the tally so far ages by the fresh queries: decay^fresh · tally + add
                double carry = Math.pow(decay, fresh) - 1;
                for (int r = 0; r < n; r++) {
                    add[r] = (float) (add[r] + carry * tally[r]);
                }
            }
            additions[h] = add;
        }
        if (index < 0) {
            index = cache.track(decay);
        }
        for (int h = 0; h < cache.kvHeads(); h++) {
            if (additions[h] != null) {
                cache.addToTally(seq, h, index, additions[h]);
            }
        }
    }
}
