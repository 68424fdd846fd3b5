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

/**
 * Attention sinks plus a recent window: StreamingLLM (Xiao, Tian, Chen, Han, Lewis, "Efficient Streaming Language
 * Models with Attention Sinks", ICLR 2024), and the pattern of DuoAttention's streaming heads.
 *
 * <p><b>Algorithm.</b> A query sees the first {@code sinks} keys of the sequence, which pretrained models use as a
 * place to park attention mass, and the keys of a {@link SlidingWindow} of {@code window} keys. Both are interval
 * masks; their block masks are united run by run ({@link BlockMask#or}), and {@code flash} computes the union's
 * tiles, testing the OR of the two masks only inside partial tiles.
 *
 * <p><b>Choices.</b> Four sink tokens and a 1024-key window by default (the paper uses 4 sinks and windows of
 * 1–4K). Sinks are the first keys of the call's key sequence, so packed documents share the first document's
 * sinks (not one set per document). No log-sum-exp: splitting the keys would move the window and the sinks.
 *
 * <p><b>Complexity.</b> Time O(n·(w + s + 2·blockK)·d) per head; extra memory that of {@code flash}.
 */
public final class Streaming extends BlockSparseAttention {

    /**
     * @param sinks  the first keys every query sees ({@code >= 0})
     * @param window the recent keys a causal query sees (itself included), as tokens or a share of the key length
     * @param blockQ queries per tile
     * @param blockK keys per tile
     */
    public record Config(int sinks, KeyBudget window, int blockQ, int blockK) implements BudgetedConfig {
        public Config {
            if (sinks < 0) {
                throw new IllegalArgumentException("sinks = " + sinks + "; allowed: >= 0 keys");
            }
            java.util.Objects.requireNonNull(window, "window");
            SlidingWindow.checkBlocks(blockQ, blockK);
        }

        public static Config of(int sinks, int window) {
            if (window < 1) {
                throw new IllegalArgumentException("window = " + window + "; allowed: >= 1 keys");
            }
            return new Config(sinks, KeyBudget.tokens(window), 128, 64);
        }

        /** The budget goes to the window; the sinks stay. */
        @Override
        public Config withKeyBudget(KeyBudget budget) {
            return new Config(sinks, budget, blockQ, blockK);
        }

        public static Config defaults() {
            return of(4, 1024);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("streaming", Family.SPARSE,
            "attention sinks + recent window (StreamingLLM; DuoAttention's streaming heads)",
            "Xiao, Tian, Chen, Han, Lewis: \"Efficient Streaming Language Models with Attention Sinks\", ICLR 2024 "
                    + "(arXiv:2309.17453)",
            EnumSet.allOf(Pattern.class), Weights.FREE, false, false, false, "O(n (w + s) d)",
            "O(block (d + block)) per thread", Config.class, Config.defaults(),
            (config, engine) -> new Streaming((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT, Guarantee.MASKS, Guarantee.SCORE_MODS));

    private final Config config;

    public Streaming(Config config, Engine engine) {
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
    protected BlockMask select(AttentionProblem p) {
        int lq = p.queryLength(), lk = p.keyLength();
        MaskMod window = Masks.slidingWindow(config.window().windowOf(lq, lk, causal(p))).bind(lq, lk);
        MaskMod recent = p.mask() == null ? window : p.mask().and(window);
        BlockMask blocks = BlockMask.of(recent, p.batch(), p.heads(), lq, lk, blockQ(), blockK());
        if (config.sinks() == 0) {
            return blocks;
        }
        MaskMod sinks = p.mask() == null ? Masks.sinks(config.sinks()) : p.mask().and(Masks.sinks(config.sinks()));
        BlockMask sinkBlocks = BlockMask.of(sinks, p.batch(), p.heads(), lq, lk, blockQ(), blockK());
        return blocks.or(sinkBlocks, recent.or(sinks));
    }
}
