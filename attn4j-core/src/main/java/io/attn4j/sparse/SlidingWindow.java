package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Masks;
import io.attn4j.attention.Pattern;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.Weights;
import io.attn4j.runtime.Engine;

import java.util.EnumSet;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * Local attention: each query sees only the keys near it. The baseline of every long-context comparison (CAB,
 * LongCA-bench's window family; Beltagy et al., "Longformer: The Long-Document Transformer", 2020, for its use
 * in pretrained models; Mistral's sliding window).
 *
 * <p><b>Algorithm.</b> The window is a mask ({@link Masks#slidingWindow(int)}): causal, a query at position
 * {@code p} sees keys {@code p − w + 1 … p} (w keys, itself included); noncausal, every key with
 * {@code |p − k| < w} (2w − 1 keys). The mask is an interval per query, so its {@link BlockMask} is built in
 * O(query blocks) and {@code flash} computes exactly the tiles the window touches: about {@code n·(w + blockK)}
 * score entries instead of {@code n²/2}.
 *
 * <p><b>Choices.</b> A window given as a ratio spends that share of the mask's area ({@link KeyBudget#windowOf}). Positions are bottom-right aligned like every mask here, so decode against a cache keeps the
 * last w keys. The spec's own mask and score mod apply on top. No log-sum-exp is offered: splitting the keys of a
 * call moves the window, so partial states of a windowed call do not merge into the unsplit one.
 *
 * <p><b>Complexity.</b> Time O(n·(w + blockK)·d) per head; extra memory that of {@code flash}.
 */
public final class SlidingWindow extends BlockSparseAttention {

    /**
     * @param window the keys a causal query sees (itself included), as tokens or a share of the key length;
     *               noncausal, the reach on each side plus one
     * @param blockQ queries per tile
     * @param blockK keys per tile
     */
    public record Config(KeyBudget window, int blockQ, int blockK) implements BudgetedConfig {
        public Config {
            java.util.Objects.requireNonNull(window, "window");
            checkBlocks(blockQ, blockK);
        }

        /** A window of {@code window} keys ({@code >= 1}) with the default tiles. */
        public static Config of(int window) {
            if (window < 1) {
                throw new IllegalArgumentException("window = " + window + "; allowed: >= 1 keys");
            }
            return new Config(KeyBudget.tokens(window), 128, 64);
        }

        /** 1024 keys: CAB's and the long-context setting. */
        public static Config defaults() {
            return of(1024);
        }

        @Override
        public Config withKeyBudget(KeyBudget budget) {
            return new Config(budget, blockQ, blockK);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("sliding-window", Family.SPARSE,
            "local attention (CAB baseline)",
            "Beltagy, Peters, Cohan: \"Longformer: The Long-Document Transformer\", 2020 (arXiv:2004.05150); "
                    + "CAB: Zhang et al., \"CAB: Comprehensive Attention Benchmarking on Long Sequence Modeling\", "
                    + "ICML 2023",
            EnumSet.allOf(Pattern.class), Weights.FREE, false, false, false, "O(n w d)", "O(block (d + block)) per thread",
            Config.class, Config.defaults(), (config, engine) -> new SlidingWindow((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT, Guarantee.MASKS, Guarantee.SCORE_MODS));

    private final Config config;

    public SlidingWindow(Config config, Engine engine) {
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
        MaskMod window = Masks.slidingWindow(config.window().windowOf(p.queryLength(), p.keyLength(), causal(p)))
                .bind(p.queryLength(), p.keyLength());
        MaskMod mask = p.mask() == null ? window : p.mask().and(window);
        return BlockMask.of(mask, p.batch(), p.heads(), p.queryLength(), p.keyLength(), blockQ(), blockK());
    }

    static void checkBlocks(int blockQ, int blockK) {
        if (blockQ < 1 || blockQ > 1024 || blockK < 1 || blockK > 1024) {
            throw new IllegalArgumentException("blocks (" + blockQ + ", " + blockK + "); allowed: 1 to 1024 each");
        }
    }
}
