package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Masks;
import io.attn4j.attention.Pattern;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.runtime.Engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * Heterogeneous elastic spans per head: MoA (Fu et al., "MoA: Mixture of Sparse Attention for Automatic Large
 * Language Model Compression", 2024, arXiv:2406.14909). Where StreamingLLM gives every head the same window, MoA
 * gives each head its own, and lets it grow with the input: head {@code h} sees the first {@code sinks} keys plus a
 * window of
 * <pre>
 *   w_h(n) = clamp(α_h + ⌊β_h · n⌋, 1, n)        (n = the call's key length)
 * </pre>
 * keys. Which (α, β) each head gets is found offline by {@link MoaProfiler}, against a budget of average density.
 *
 * <p><b>Algorithm.</b> The windows are one interval mask whose interval depends on the head; its {@link BlockMask}
 * has one row per (batch, head, query block) and is classified exactly in O(Lq) per head, then united run by run
 * with the sinks' block mask ({@link BlockMask#or}). {@code flash} computes exactly the kept tiles, testing the
 * element mask only in partial ones. When every head has the same window the block mask is shared (Streaming's).
 *
 * <p><b>Choices.</b>
 * <ul>
 *   <li>The window follows {@link SlidingWindow}: causal, the last {@code w} keys up to the query (itself
 *       included); noncausal (NS, encoders), every key with {@code |p − k| < w}. MoA is a causal method; the
 *       symmetric window is the meaning given here to encoder heads, and what the profiler searches when it
 *       profiles noncausal inputs. Noncausal cross-attention (NC) is refused: a window around a bottom-right
 *       aligned position has no meaning between two different sequences. Causal cross (CC) and decode use the
 *       bottom-right aligned positions, so decode against a cache of {@code n} keys sees the sinks and the last
 *       {@code w_h(n)} keys.</li>
 *   <li>{@code ⌊β · n⌋} rounds down; the span is clamped to at least one key (the query itself when causal).</li>
 *   <li>Sinks are the first keys of the call's key sequence, shared by every head (MoA's heads all keep the
 *       initial tokens); 4 by default, StreamingLLM's count.</li>
 *   <li>A configuration holds either one span (uniform: every head, any head count) or one span per query head;
 *       a per-head configuration for another head count is refused at call time, naming both counts. With GQA the
 *       spans are per query head.</li>
 *   <li>Default: a uniform span α = 1024, β = 0 with 4 sinks. That is exactly the uniform StreamingLLM mask MoA
 *       compares itself against, so the defaults are a well-understood baseline, and β = 0 keeps each row's keys
 *       independent of the sequence length: causal outputs are then prefix invariant and a decode step costs
 *       O(w), not O(n). The heterogeneity — MoA proper — comes from {@link MoaProfiler}.</li>
 *   <li>Prefix invariance is <em>not</em> promised by the descriptor: with β ≠ 0 the span depends on n, so row
 *       {@code i} of a call differs from row {@code i} of the call on the prefix. Configurations with every
 *       β = 0 are prefix invariant (tested). The spec's own mask and score mod apply on top of the spans.</li>
 *   <li>No log-sum-exp: splitting the keys of a call would move the windows and sinks.</li>
 * </ul>
 *
 * <p><b>Fidelity</b> (tested): exact while every window covers the sequence; at the defaults on 2048 structured
 * tokens the kept keys hold >= 0.94 of the attention mass and the output's relative error is <= 0.25.
 *
 * <p><b>Complexity.</b> Time O(n·(w_h(n) + s + 2·blockK)·d) per head h, so O(n·(α + β·n)·d): linear in n for
 * β = 0, a fixed fraction β of full attention otherwise. Extra memory: the block mask, O(B·H·n / blockQ) runs, and
 * that of {@code flash}.
 */
public final class Moa extends BlockSparseAttention {

    /**
     * The elastic span of one head: a window of {@code α + ⌊β·n⌋} keys for a call with {@code n} keys.
     *
     * @param alpha the fixed part of the window, in keys ({@code >= 0})
     * @param beta  the part that grows with the key length ({@code 0 <= β <= 1})
     */
    public record Span(int alpha, double beta) {
        public Span {
            if (alpha < 0) {
                throw new IllegalArgumentException("span alpha = " + alpha + "; allowed: >= 0 keys");
            }
            if (!(beta >= 0 && beta <= 1)) {
                throw new IllegalArgumentException("span beta = " + beta + "; allowed: 0 <= beta <= 1");
            }
        }

        /** The window for a call with {@code keyLength} keys: {@code clamp(α + ⌊β·n⌋, 1, n)}. */
        public int window(int keyLength) {
            long w = alpha + (long) Math.floor(beta * keyLength);
            return (int) Math.max(1, Math.min(Math.max(1, keyLength), w));
        }

        @Override
        public String toString() {
            return beta == 0 ? Integer.toString(alpha) : alpha + "+" + beta + "n";
        }
    }

    /**
     * @param spans  one span for every head (uniform), or one per query head
     * @param sinks  the first keys every head sees ({@code >= 0})
     * @param blockQ queries per tile
     * @param blockK keys per tile
     */
    public record Config(List<Span> spans, int sinks, int blockQ, int blockK) implements MechanismConfig {
        public Config {
            Objects.requireNonNull(spans, "spans");
            if (spans.isEmpty()) {
                throw new IllegalArgumentException("spans is empty; allowed: one span (uniform) or one per head");
            }
            spans = List.copyOf(spans);
            if (sinks < 0) {
                throw new IllegalArgumentException("sinks = " + sinks + "; allowed: >= 0 keys");
            }
            SlidingWindow.checkBlocks(blockQ, blockK);
        }

        /** The same span {@code α + β·n} for every head, with {@code sinks} sinks and the default tiles. */
        public static Config uniform(int alpha, double beta, int sinks) {
            return new Config(List.of(new Span(alpha, beta)), sinks, 128, 64);
        }

        /** One span per head, {@code (alpha[h], beta[h])}, with {@code sinks} sinks and the default tiles. */
        public static Config perHead(int[] alpha, double[] beta, int sinks) {
            if (alpha.length != beta.length) {
                throw new IllegalArgumentException("alpha has " + alpha.length + " heads and beta " + beta.length
                        + "; allowed: the same number");
            }
            List<Span> spans = new ArrayList<>();
            for (int h = 0; h < alpha.length; h++) {
                spans.add(new Span(alpha[h], beta[h]));
            }
            return new Config(spans, sinks, 128, 64);
        }

        /** One span per head with {@code sinks} sinks and the default tiles. */
        public static Config perHead(List<Span> spans, int sinks) {
            return new Config(spans, sinks, 128, 64);
        }

        /** A uniform 1024-key window (β = 0) with 4 sinks: StreamingLLM's mask, see the class comment. */
        public static Config defaults() {
            return uniform(1024, 0, 4);
        }

        /** Whether every head has the same span (then any head count is accepted). */
        public boolean isUniform() {
            return spans.size() == 1 || spans.stream().distinct().count() == 1;
        }

        /** The span of query head {@code head} (the only span of a uniform configuration). */
        public Span span(int head) {
            return spans.size() == 1 ? spans.get(0) : spans.get(head);
        }

        /**
         * The window of every query head for a call with {@code heads} query heads and {@code keyLength} keys.
         *
         * @throws IllegalArgumentException if this configuration has per-head spans for another head count
         */
        public int[] windows(int heads, int keyLength) {
            if (spans.size() != 1 && spans.size() != heads) {
                throw new IllegalArgumentException("moa config has spans for " + spans.size() + " heads but the call "
                        + "has " + heads + " query heads; allowed: one span per query head, or one span for all");
            }
            int[] windows = new int[heads];
            for (int h = 0; h < heads; h++) {
                windows[h] = span(h).window(keyLength);
            }
            return windows;
        }

        /** Whether every β is 0, so no window depends on the key length. */
        public boolean isLengthIndependent() {
            return spans.stream().allMatch(s -> s.beta() == 0);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("moa", Family.SPARSE,
            "MoA: Mixture of Sparse Attention (per-head elastic spans plus sinks)",
            "Fu, Huang, Ning et al.: \"MoA: Mixture of Sparse Attention for "
                    + "Automatic Large Language Model Compression\", 2024 (arXiv:2406.14909)",
            EnumSet.of(Pattern.NS, Pattern.CS, Pattern.CC, Pattern.DECODE), Weights.FREE, false, false, false,
            "O(n (alpha + beta n + s) d) per head", "O(B H n / blockQ) block mask + flash's per thread",
            Config.class, Config.defaults(), (config, engine) -> new Moa((Config) config, engine),
            EnumSet.of(Guarantee.MASKS, Guarantee.SCORE_MODS));

    private final Config config;

    public Moa(Config config, Engine engine) {
        super(engine, config.blockQ(), config.blockK());
        this.config = config;
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    public Config config() {
        return config;
    }

    @Override
    protected BlockMask select(AttentionProblem p, DoubleAdder selectionFlops) {
        int lq = p.queryLength(), lk = p.keyLength();
        int[] windows = config.windows(p.heads(), lk);
        MaskMod window = HeadWindows.of(windows).bind(lq, lk);
        MaskMod recent = p.mask() == null ? window : p.mask().and(window);
        BlockMask blocks = BlockMask.of(recent, p.batch(), p.heads(), lq, lk, blockQ(), blockK());
        if (config.sinks() == 0) {
            return blocks;
        }
        MaskMod sinks = p.mask() == null ? Masks.sinks(config.sinks()) : p.mask().and(Masks.sinks(config.sinks()));
        BlockMask sinkBlocks = BlockMask.of(sinks, p.batch(), p.heads(), lq, lk, blockQ(), blockK());
        return blocks.or(sinkBlocks, recent.or(sinks));
    }

    /**
     * Symmetric windows of a per-head reach: query head {@code h} at position {@code p} sees keys with
     * {@code |p − k| < window[h]} (the causal mask of the call cuts the right side). Shared by all heads when their
     * windows are equal, so the block mask is then built once.
     */
    private record HeadWindows(int[] window, boolean sameForAllHeads, int offset) implements IntervalMask {

        static HeadWindows of(int[] window) {
            boolean same = Arrays.stream(window).allMatch(w -> w == window[0]);
            return new HeadWindows(window, same, 0);
        }

        @Override
        public boolean dependsOnBatchOrHead() {
            return !sameForAllHeads;
        }

        @Override
        public int keyFrom(int batch, int head, int query) {
            // p − (w − 1), with p = query + Lk − Lq the bottom-right aligned position
            return query + offset - (window[sameForAllHeads ? 0 : head] - 1);
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            // p + (w − 1) + 1
            return query + offset + window[sameForAllHeads ? 0 : head];
        }

        @Override
        public IntervalMask bind(int queryLength, int keyLength) {
            return new HeadWindows(window, sameForAllHeads, keyLength - queryLength);
        }

        @Override
        public String toString() {
            return "moaWindows" + Arrays.toString(window);
        }
    }
}
