package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.UnsupportedInputException;
import io.attn4j.attention.Work;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.util.concurrent.atomic.DoubleAdder;

/**
 * The shape every mechanism shares that computes exact attention on a selection of tiles: validate the call, let
 * the mechanism choose a {@link BlockMask}, and run {@code flash}'s kernel over exactly those tiles
 * ({@link FlashAttention#run}). No mechanism here has a softmax kernel of its own.
 *
 * <p>A selection starts from the tiles the spec's own mask leaves visible ({@link #visible}) and keeps a subset of
 * them with their kind, so a query never sees a key the caller's mask hides; partial tiles apply the caller's mask
 * (and any element mask the mechanism adds).
 */
public abstract class BlockSparseAttention implements SparseAttention {
    protected final Engine engine;
    private final FlashAttention flash;

    /**
     * {@code blockQ} × {@code blockK} are both the selection's granularity and the kernel's tiles (0 × 0: the
     * subclass sizes its block masks per call; the kernel takes its tiles from the block mask).
     */
    protected BlockSparseAttention(Engine engine, int blockQ, int blockK) {
        this.engine = engine;
        this.flash = new FlashAttention(blockQ == 0 ? FlashAttention.Config.defaults()
                : new FlashAttention.Config(blockQ, blockK), engine);
    }

    /**
     * The tiles this mechanism attends to for a validated call; the FLOPs spent choosing them are added to
     * {@code selectionFlops} when it is not {@code null} (static patterns add nothing).
     */
    protected abstract BlockMask select(AttentionProblem p, DoubleAdder selectionFlops);

    /** The tiles this mechanism attends to for a validated call. */
    protected final BlockMask select(AttentionProblem p) {
        return select(p, null);
    }

    /** How the selection's FLOPs are counted, in words, for {@link Work#rule()}; {@code null}: no selection. */
    protected String selectionRule() {
        return null;
    }

    @Override
    public final AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        AttentionProblem p = problem(q, k, v, spec, out);
        return flash.run(p, select(p));
    }

    @Override
    public final KeptKeys keptKeys(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        return KeptKeys.of(select(problem(q, k, v, spec, null)));
    }

    /** Exact attention on the kept tiles' pairs ({@link Work#ofKept}) and the selection's FLOPs as it counts them. */
    @Override
    public final Work work(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        AttentionProblem p = problem(q, k, v, spec, null);
        DoubleAdder selection = new DoubleAdder();
        KeptKeys kept = KeptKeys.of(select(p, selection));
        Work work = Work.ofKept(Work.Shape.of(p), kept::kept);
        return selectionRule() == null ? work : work.withSelection(selection.sum(), selectionRule());
    }

    /** Validates the call against the descriptor (pattern, mask, score mod, LSE, observers) and resolves it. */
    protected final AttentionProblem problem(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        return validate(descriptor(), q, k, v, spec, out, "");
    }

    /**
     * Validates a call of a sparse mechanism {@code m} against its descriptor and resolves it: observers and LSE it
     * does not compute, a mask or score mod it does not promise, and a pattern it does not declare are refused with
     * an {@link UnsupportedInputException} ({@code patternReason}, when not empty, is appended to the pattern's
     * refusal to say why); shapes and values are checked by {@link AttentionProblem#of} before anything is written.
     */
    static AttentionProblem validated(Mechanism m, Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        return validate(m, q, k, v, spec, out, "");
    }

    /** As {@link #validated}, with {@code patternReason} appended to a pattern refusal to say why. */
    static AttentionProblem validate(Mechanism m, Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out,
                                     String patternReason) {
        if (spec != null) {
            m.checkSupports(spec);
            if (spec.mask() != null && !m.promises(Guarantee.MASKS)) {
                throw new UnsupportedInputException(m.id() + " takes no mask besides causal (got " + spec.mask()
                        + "); its selection is the mask");
            }
            if (spec.scoreMod() != null && !m.promises(Guarantee.SCORE_MODS)) {
                throw new UnsupportedInputException(m.id() + " takes no score mod (got " + spec.scoreMod() + ")");
            }
        }
        AttentionProblem p = AttentionProblem.of(q, k, v, spec, out);
        if (!m.supports(p.pattern())) {
            throw new UnsupportedInputException(m.id() + " supports the patterns " + m.patternList()
                    + "; this call (Lq = " + p.queryLength() + ", Lk = " + p.keyLength() + ", "
                    + (spec.isCausal() ? "causal" : "noncausal") + ") is " + p.pattern().id() + patternReason);
        }
        return p;
    }

    /** The tiles the call's own mask leaves visible, at the kernel's block sizes. */
    protected final BlockMask visible(AttentionProblem p) {
        return visible(p, blockQ(), blockK());
    }

    /** The tiles the call's own mask leaves visible, at the given block sizes. */
    protected static BlockMask visible(AttentionProblem p, int blockQ, int blockK) {
        return BlockMask.of(p.mask(), p.batch(), p.heads(), p.queryLength(), p.keyLength(), blockQ, blockK);
    }

    /**
     * The visible tiles at the configured block sizes, or at {@link #autoKeyTile sizes by length} when both are 0.
     */
    protected static BlockMask visibleSized(AttentionProblem p, int blockQ, int blockK) {
        int bk = blockK == 0 ? autoKeyTile(p.keyLength()) : blockK;
        return visible(p, blockQ == 0 ? 2 * bk : blockQ, bk);
    }

    /**
     * Key tiles for a selection over {@code keyLength} keys when the configuration leaves them to the length: 64
     * from 2048 keys on (the kernel's best tile), and smaller below, down to 16, so a short sequence still has
     * about 32 tiles to choose from (at 512 tokens, 16-key tiles; with 64-key tiles a 25 % budget would be two
     * tiles, fewer than every row keeps anyway). Query blocks are twice as long.
     */
    static int autoKeyTile(int keyLength) {
        return Math.max(16, Math.min(64, Integer.highestOneBit(Math.max(1, keyLength / 32))));
    }

    /** Checks configured block sizes: both 1 to 1024, or both 0 for {@link #autoKeyTile sizes by length}. */
    static void checkBlocksOrAuto(int blockQ, int blockK) {
        if (blockQ == 0 && blockK == 0) {
            return;
        }
        if (blockQ < 1 || blockQ > 1024 || blockK < 1 || blockK > 1024) {
            throw new IllegalArgumentException("blocks (" + blockQ + ", " + blockK + "); allowed: 1 to 1024 each, or "
                    + "both 0 (sized by the sequence length)");
        }
    }

    /** Whether the call is causal (CS, CC or decode). */
    protected static boolean causal(AttentionProblem p) {
        return p.pattern() == Pattern.CS || p.pattern() == Pattern.CC || p.pattern() == Pattern.DECODE;
    }

    protected final int blockQ() {
        return flash.config().blockQ();
    }

    protected final int blockK() {
        return flash.config().blockK();
    }
}
