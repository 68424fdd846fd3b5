package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.sparse.Moa;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * MoA's heterogeneous elastic spans as a KV-cache policy (Fu, Huang, Ning et al.: "MoA: Mixture of Sparse Attention
 * for Automatic Large Language Model Compression", 2024, arXiv:2406.14909): each KV head keeps the first
 * {@code sinks} tokens and a recent window of its own span, {@code w_h(n) = clamp(α_h + ⌊β_h·n⌋, 1, n)} for a
 * sequence of {@code n} tokens — the decode-time mask of {@link Moa} turned into what the cache holds.
 *
 * <p><b>Algorithm.</b> Per KV head {@code h}: the window {@code w_h(n)}, {@code n = tokensSeen}; the head keeps its
 * sink rows (positions {@code < sinks}) and its most recent rows; the rest is dropped (freed). Then, unless the
 * configuration says otherwise, the windows are fitted to the budget (below).
 *
 * <p><b>Budget rule</b> (per-head budgets). With {@link Config#fitBudget} (the default) the spans set the
 * <em>shape</em> — how the rows are shared among heads — and the budget the total: each head first keeps
 * {@code s_h = min(its sink rows, B)} sinks ({@code B = budget.rows(tokensSeen)}); the remaining
 * {@code kvHeads·B − Σ s_h} rows are shared among the windows in proportion to {@code w_h(n)} (integer shares:
 * floors, then the remainder one row at a time by largest fraction, ties to the lower head; a head whose share
 * exceeds the rows it holds gets them all and the rest is shared again among the others). So the total over heads
 * is {@code <= kvHeads × B}; single heads may hold more than {@code B}. MoA's profiler ({@code MoaProfiler}) likewise
 * fits spans to an average density: here the average rows per head equal the budget. With a uniform span the shares
 * are equal, and the policy keeps exactly what {@link StreamingLlm} keeps (tested). Without {@code fitBudget} the
 * spans are MoA's own budget and the budget argument is ignored: each head keeps its sinks and {@code w_h(n)}
 * recent rows.
 *
 * <p><b>Choices.</b>
 * <ul>
 *   <li>Spans and their format are {@link Moa}'s ({@link Moa.Span}; {@link Config#of(Moa.Config)} takes a layer's
 *       configuration as {@code MoaProfiler} writes it): one span for all heads, or one per <em>query</em> head.
 *       A KV head keeps the <em>largest</em> window of its GQA group's query heads, {@code max_g w_{h·G+g}(n)},
 *       so every query head still sees its whole span (the KV head is shared; keeping less would cut the widest
 *       head of the group). Per-query-head spans need the observation's query-head count to equal the number of
 *       spans (an observation without queries still names its heads) and to be a multiple of the KV heads.</li>
 *   <li>{@code n} is the tokens the sequence has seen at compression, so the window is the one MoA's mask gives the
 *       last token. Windows count the most recent <em>rows held</em> (on a cache this policy alone compresses, the
 *       last {@code w} tokens). Since {@code n − w(n)} never decreases for {@code β <= 1}, compressing at every
 *       step never drops a token a later window would need.</li>
 *   <li>Sinks first: when {@code B} is below the sink count a head keeps the first {@code B} sinks (as
 *       StreamingLLM). Default: a uniform span of 1024 tokens (β = 0) with 4 sinks, {@link Moa}'s default; with
 *       {@code fitBudget} that is StreamingLLM at any budget, and MoA proper comes from a profiled configuration.</li>
 *   <li>No queries are used: the spans come from offline profiling.</li>
 * </ul>
 *
 * <p><b>Complexity.</b> O(n) per head per compression (plus O(n log n) for the ranking of {@link ScoringPolicy});
 * {@code kvHeads·B} rows in total (fitted), or {@code sinks + w_h(n)} per head.
 */
public final class MoaKv extends ScoringPolicy {

    /**
     * @param spans     one span for every head, or one per query head ({@link Moa.Span})
     * @param sinks     the first tokens every head keeps ({@code >= 0})
     * @param fitBudget share {@code kvHeads × budget} rows in proportion to the windows (true), or keep the spans'
     *                  own windows whatever the budget (false)
     */
    public record Config(List<Moa.Span> spans, int sinks, boolean fitBudget) implements MechanismConfig {
        public Config {
            Objects.requireNonNull(spans, "spans");
            if (spans.isEmpty()) {
                throw new IllegalArgumentException("spans is empty; allowed: one span (uniform) or one per query head");
            }
            spans = List.copyOf(spans);
            if (sinks < 0) {
                throw new IllegalArgumentException("sinks = " + sinks + "; allowed: >= 0");
            }
        }

        /** A uniform 1024-token window with 4 sinks, fitted to the budget (StreamingLLM at any budget). */
        public static Config defaults() {
            return new Config(List.of(new Moa.Span(1024, 0)), 4, true);
        }

        /** A layer's {@link Moa} configuration (as {@code MoaProfiler} writes it), fitted to the budget. */
        public static Config of(Moa.Config moa) {
            Objects.requireNonNull(moa, "moa");
            return new Config(moa.spans(), moa.sinks(), true);
        }

        /** This configuration keeping the spans' own windows, ignoring the budget. */
        public Config unfitted() {
            return new Config(spans, sinks, false);
        }
    }

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("moa-kv",
            "MoA at decode (per-head elastic spans alpha + beta n, plus sinks, as a cache policy)",
            "Fu, Huang, Ning et al.: \"MoA: Mixture of Sparse Attention for Automatic Large Language Model "
                    + "Compression\", 2024 (arXiv:2406.14909)", Weights.FREE, "O(n log n) per head",
            "kvHeads x budget rows in total, shared in proportion to the spans (or sinks + w_h(n) per head)",
            Config.class, Config.defaults(), config -> new MoaKv((Config) config));

    private final Config config;

    public MoaKv(Config config) {
        this.config = Objects.requireNonNull(config, "config");
    }

    public Config config() {
        return config;
    }

    @Override
    public String id() {
        return "moa-kv";
    }

    /** StreamingLLM's order: sinks first (earliest first), then the most recent rows. */
    @Override
    protected void score(KvCache cache, int seq, int head, Observation observation, float[] scores) {
        StreamingLlm.sinksThenRecent(cache, seq, head, config.sinks(), scores);
    }

    @Override
    protected int[] headBudgets(KvCache cache, int seq, Budget budget, Observation observation) {
        Objects.requireNonNull(budget, "budget");
        int kv = cache.kvHeads(), seen = cache.tokensSeen(seq);
        int[] windows = windows(kv, observation, seen);
        int[] sinkRows = new int[kv], lengths = new int[kv];
        for (int h = 0; h < kv; h++) {
            lengths[h] = cache.length(seq, h);
            KvCache.Stream s = cache.stream(seq, h);
            sinkRows[h] = s.firstAtOrAfter(config.sinks());
        }
        int[] budgets = new int[kv];
        if (!config.fitBudget()) {
            for (int h = 0; h < kv; h++) {
                budgets[h] = (int) Math.min(lengths[h], (long) sinkRows[h] + windows[h]);
            }
            return budgets;
        }
        int b = budget.rows(seen);
        long rest = (long) kv * b;
        int[] caps = new int[kv];
        for (int h = 0; h < kv; h++) {
            budgets[h] = Math.min(sinkRows[h], b);
            rest -= budgets[h];
            caps[h] = lengths[h] - budgets[h];
        }
        int[] shares = proportional(rest, windows, caps);
        for (int h = 0; h < kv; h++) {
            budgets[h] += shares[h];
        }
        return budgets;
    }

    /** The window of every KV head: the largest of its group's query heads, at {@code n} tokens. */
    int[] windows(int kvHeads, Observation observation, int n) {
        List<Moa.Span> spans = config.spans();
        int[] windows = new int[kvHeads];
        if (spans.size() == 1) {
            Arrays.fill(windows, spans.get(0).window(n));
            return windows;
        }
        Objects.requireNonNull(observation, "observation");
        if (observation.queryHeads() != spans.size() || spans.size() % kvHeads != 0) {
            throw new IllegalArgumentException("moa-kv config has spans for " + spans.size() + " query heads but "
                    + "the observation has " + observation.queryHeads() + " query heads over " + kvHeads
                    + " KV heads; allowed: one span per query head (a multiple of the KV heads), or one span for all");
        }
        int group = spans.size() / kvHeads;
        for (int h = 0; h < kvHeads; h++) {
            for (int g = 0; g < group; g++) {
                windows[h] = Math.max(windows[h], spans.get(h * group + g).window(n));
            }
        }
        return windows;
    }

    /**
     * Integer shares of {@code total} in proportion to {@code weights}, each at most {@code caps[h]}: floors, the
     * remainder by largest fraction (ties to the lower index); capped heads are fixed and the rest shared again.
     * The sum is {@code min(total, Σ caps)} when some weight is positive.
     */
    static int[] proportional(long total, int[] weights, int[] caps) {
        int k = weights.length;
        int[] out = new int[k];
        boolean[] fixed = new boolean[k];
        while (true) {
            long remaining = total;
            double weight = 0;
            for (int h = 0; h < k; h++) {
                if (fixed[h]) {
                    remaining -= out[h];
                } else if (caps[h] > 0) {
                    weight += weights[h];
                } else {
                    fixed[h] = true; // nothing to give
                }
            }
            if (weight == 0 || remaining <= 0) {
                return out;
            }
            boolean capped = false;
            double[] exact = new double[k];
            for (int h = 0; h < k; h++) {
                if (!fixed[h]) {
                    exact[h] = remaining * (weights[h] / weight);
                    if (exact[h] >= caps[h]) {
                        out[h] = caps[h];
                        fixed[h] = true;
                        capped = true;
                    }
                }
            }
            if (capped) {
                continue;
            }
            long given = 0;
            for (int h = 0; h < k; h++) {
                if (!fixed[h]) {
                    out[h] = (int) Math.floor(exact[h]);
                    given += out[h];
                }
            }
            long left = remaining - given;
            Integer[] order = new Integer[k];
            Arrays.setAll(order, i -> i);
            Arrays.sort(order, (a, c) -> {
                int cmp = Double.compare(exact[c] - Math.floor(exact[c]), exact[a] - Math.floor(exact[a]));
                return cmp != 0 ? cmp : Integer.compare(a, c);
            });
            while (left > 0) {
                boolean gave = false;
                for (int h : order) {
                    if (left > 0 && !fixed[h] && out[h] < caps[h]) {
                        out[h]++;
                        left--;
                        gave = true;
                    }
                }
                if (!gave) {
                    break;
                }
            }
            return out;
        }
    }
}
