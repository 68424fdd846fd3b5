package io.attn4j.kv;

import java.util.Arrays;

/**
 * "Score, then keep" (kvpress's {@code ScorerPress}): a score per cached row of each KV head, and the
 * {@code budget} best rows of each head kept, in position order. Subclasses give the scores and, when heads deserve
 * different budgets, the per-head budgets.
 *
 * <p><b>Ties and forced rows.</b> Rows scored {@code +∞} are always kept first (the sink and recent wrappers use
 * it); among equal scores later rows win (recent context is the safer guess). A head whose length is within its
 * budget is left untouched.
 */
public abstract class ScoringPolicy implements KvPolicy {

    /** Score of every row of stream (seq, head) into {@code scores[0 .. length)}; higher is kept first. */
    protected abstract void score(KvCache cache, int seq, int head, Observation observation, float[] scores);

    /** Rows each head may keep; by default every head gets {@code budget.rows(tokensSeen)}. */
    protected int[] headBudgets(KvCache cache, int seq, Budget budget, Observation observation) {
        int[] budgets = new int[cache.kvHeads()];
        Arrays.fill(budgets, budget.rows(cache.tokensSeen(seq)));
        return budgets;
    }

    @Override
    public void compress(KvCache cache, int seq, Budget budget, Observation observation) {
        int[] budgets = headBudgets(cache, seq, budget, observation);
        for (int h = 0; h < cache.kvHeads(); h++) {
            int n = cache.length(seq, h);
            if (n <= budgets[h]) {
                continue;
            }
            float[] scores = new float[n];
            score(cache, seq, h, observation, scores);
            keep(cache, seq, h, topRows(scores, n, budgets[h]));
        }
    }

    /** Applies a head's selection; {@link Razor}-like policies override it to merge what is dropped. */
    protected void keep(KvCache cache, int seq, int head, int[] rows) {
        cache.keep(seq, head, rows);
    }

    /**
     * The {@code k} highest-scoring of {@code n} rows, ascending: NaN scores rank lowest, ties go to later rows.
     */
    public static int[] topRows(float[] scores, int n, int k) {
        if (k >= n) {
            int[] all = new int[n];
            Arrays.setAll(all, i -> i);
            return all;
        }
        if (k <= 0) {
            return new int[0];
        }
        // sort keys: the score's order-preserving int, then the row (later wins): one long per row
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            float s = Float.isNaN(scores[i]) ? Float.NEGATIVE_INFINITY : scores[i];
            int bits = Float.floatToIntBits(s == 0f ? 0f : s);
            int ordered = bits >= 0 ? bits : bits ^ 0x7FFFFFFF; // monotone in s
            keys[i] = ((long) ordered << 32) | i;
        }
        Arrays.sort(keys);
        int[] rows = new int[k];
        for (int i = 0; i < k; i++) {
            rows[i] = (int) keys[n - 1 - i];
        }
        Arrays.sort(rows);
        return rows;
    }

    /**
     * This policy with the first {@code sinks} tokens of the sequence always kept (StreamingLLM's attention sinks),
     * when they are still cached.
     */
    public ScoringPolicy keepSinks(int sinks) {
        return forcing(sinks, 0);
    }

    /** This policy with the last {@code recent} tokens of the sequence always kept. */
    public ScoringPolicy keepRecent(int recent) {
        return forcing(0, recent);
    }

    private ScoringPolicy forcing(int sinks, int recent) {
        if (sinks < 0 || recent < 0) {
            throw new IllegalArgumentException("sinks = " + sinks + ", recent = " + recent + "; allowed: >= 0");
        }
        ScoringPolicy inner = this;
        return new ScoringPolicy() {
            @Override
            public String id() {
                return inner.id() + (sinks > 0 ? "+sinks" + sinks : "") + (recent > 0 ? "+recent" + recent : "");
            }

            @Override
            protected void score(KvCache cache, int seq, int head, Observation observation, float[] scores) {
                inner.score(cache, seq, head, observation, scores);
                int seen = cache.tokensSeen(seq), n = cache.length(seq, head);
                for (int r = 0; r < n; r++) {
                    int p = cache.position(seq, head, r);
                    if (p < sinks || p >= seen - recent) {
                        scores[r] = Float.POSITIVE_INFINITY;
                    }
                }
            }

            @Override
            protected int[] headBudgets(KvCache cache, int seq, Budget budget, Observation observation) {
                return inner.headBudgets(cache, seq, budget, observation);
            }

            @Override
            protected void keep(KvCache cache, int seq, int head, int[] rows) {
                inner.keep(cache, seq, head, rows);
            }

            @Override
            public double[] tallyDecays() {
                return inner.tallyDecays();
            }

            @Override
            public KvFormat format() {
                return inner.format();
            }
        };
    }
}
