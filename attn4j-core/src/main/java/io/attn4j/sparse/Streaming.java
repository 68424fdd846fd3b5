package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.PartialState;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.tensor.Tensor;
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
 * place to park attention mass, and the keys of a {@link SlidingWindow} of {@code window} keys, in one softmax.
 * Computed as two exact parts merged by their log-sum-exps ({@link PartialState#mergeRow}): {@code flash} over the
 * window's interval mask, and {@code flash} over the sinks that lie before the window ({@code [0, min(s, p − w +
 * 1))}, also an interval, so no key is counted twice). Both parts mask partial tiles a column at a time; a single
 * pass over the union ({@link BlockMask#or}) has to test its OR element by element in the window's edge tiles,
 * which measured 16.7× flash at 64K tokens against 22.8× for the window alone.
 *
 * <p><b>Choices.</b> Four sink tokens and a 1024-key window by default (the paper uses 4 sinks and windows of
 * 1–4K). Sinks are the first keys of the call's key sequence, so packed documents share the first document's
 * sinks (not one set per document). No log-sum-exp: splitting the keys would move the window and the sinks.
 *
 * <p><b>Complexity.</b> Time O(n·(w + s + 3·blockK)·d) per head; extra memory an output and a log-sum-exp per
 * query for the sinks' part.
 */
public final class Streaming implements SparseAttention {

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
    private final FlashAttention flash;

    public Streaming(Config config, Engine engine) {
        this.config = config;
        this.flash = new FlashAttention(new FlashAttention.Config(config.blockQ(), config.blockK()), engine);
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    public Config config() {
        return config;
    }

    @Override
    public AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        AttentionProblem p = BlockSparseAttention.validated(DESCRIPTOR, q, k, v, spec, out);
        int lq = p.queryLength(), lk = p.keyLength();
        MaskMod[] parts = parts(p);
        if (parts[1] == null) {
            return flash.run(p, blocks(p, parts[0]));
        }
        if (parts.length == 3) {
            // noncausal with more sinks than the window reaches: the sinks after an early query's window are a
            // second interval, so one pass over the union of the two block masks
            return flash.run(p, blocks(p, parts[0]).or(blocks(p, parts[2]), parts[0].or(parts[2])));
        }
        // both parts with their log-sum-exps; the window's lands in the caller's output, the sinks' beside it
        AttentionSpec withLse = spec.returnLse().checkFinite(false);
        AttentionProblem window = AttentionProblem.of(q, k, v, withLse, p.output());
        AttentionProblem sinks = AttentionProblem.of(q, k, v, withLse, null);
        float[] lseWindow = flash.run(window, blocks(p, parts[0])).lse().array();
        float[] lseSinks = flash.run(sinks, blocks(p, parts[1])).lse().array();
        AttentionProblem.HeadView o = window.out(), os = sinks.out();
        int heads = p.heads(), dv = p.valueDim();
        for (int b = 0; b < p.batch(); b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0, stat = (b * heads + h) * lq; i < lq; i++, stat++) {
                    PartialState.mergeRow(o.data(), o.at(b, i, h), lseWindow[stat], os.data(), os.at(b, i, h),
                            lseSinks[stat], o.data(), o.at(b, i, h), dv);
                }
            }
        }
        return p.result(null, null, null, null);
    }

    @Override
    public KeptKeys keptKeys(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        AttentionProblem p = BlockSparseAttention.validated(DESCRIPTOR, q, k, v, spec, null);
        MaskMod[] parts = parts(p);
        return parts[1] == null ? parts[0]::test : (b, h, i, j) -> parts[0].test(b, h, i, j) || parts[1].test(b, h, i, j);
    }

    /**
     * The window's mask and that of the sinks before the window (null without sinks), with the call's mask; three
     * masks (window, sinks, sinks) when a noncausal window can end before the last sink.
     */
    private MaskMod[] parts(AttentionProblem p) {
        int lq = p.queryLength(), lk = p.keyLength();
        int w = config.window().windowOf(lq, lk, BlockSparseAttention.causal(p));
        MaskMod window = Masks.slidingWindow(w).bind(lq, lk);
        MaskMod recent = p.mask() == null ? window : p.mask().and(window);
        if (config.sinks() == 0) {
            return new MaskMod[] {recent, null};
        }
        MaskMod sinks = p.mask() == null ? Masks.sinks(config.sinks()) : p.mask().and(Masks.sinks(config.sinks()));
        if (!BlockSparseAttention.causal(p) && config.sinks() > w) {
            return new MaskMod[] {recent, sinks, sinks};
        }
        MaskMod before = new SinksBeforeWindow(config.sinks(), w, lk - lq);
        return new MaskMod[] {recent, p.mask() == null ? before : p.mask().and(before)};
    }

    private BlockMask blocks(AttentionProblem p, MaskMod mask) {
        return BlockMask.of(mask, p.batch(), p.heads(), p.queryLength(), p.keyLength(), config.blockQ(),
                config.blockK());
    }

    /** Keys {@code [0, min(sinks, p − window + 1))}: the sinks a window of {@code window} does not reach. */
    private record SinksBeforeWindow(int sinks, int window, int offset) implements IntervalMask {
        @Override
        public boolean dependsOnBatchOrHead() {
            return false;
        }

        @Override
        public int keyFrom(int batch, int head, int query) {
            return 0;
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            return Math.min(sinks, query + offset - window + 1);
        }
    }
}
