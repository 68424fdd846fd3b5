package io.attn4j.linear;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.UnsupportedInputException;
import io.attn4j.attention.Work;
import io.attn4j.catalog.Mechanism;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

/**
 * The shape every linear or recurrent mechanism shares: one call in three equivalent {@link Form forms}, with an
 * initial state in and the final state out ({@link #run}), and {@link #forward} for the catalog's attention API
 * (zero initial state, the configured form).
 *
 * <p>Validation happens here, before anything is written: operands as {@link AttentionProblem#of} checks them;
 * the pattern against the descriptor; no observers, no log-sum-exp, no score mod; the mask may only be packed
 * documents ({@link Segments}); the initial state must match {@link #stateSize} and be finite. Subclasses
 * implement {@link #compute} for a call that is known to be valid.
 */
public abstract class RecurrentMechanism implements AttentionMechanism {
    protected final Engine engine;

    protected RecurrentMechanism(Engine engine) {
        this.engine = java.util.Objects.requireNonNull(engine, "engine");
    }

    /** A validated call: the problem, its sequences, the initial state (never null) and the final state to fill. */
    public record Call(AttentionProblem problem, Segments segments, LinearState initial, LinearState state) {
    }

    /**
     * The queries of the softmax attention this mechanism computes or approximates, for fidelity measurements:
     * {@code q} itself, except for mechanisms that read fewer queries than they are given (Aaren's single query
     * token per sequence).
     */
    public Tensor referenceQueries(Tensor q, AttentionSpec spec) {
        return q;
    }

    /** The form {@link #forward} uses: the configuration's. */
    public abstract Form form();

    /**
     * Whether the state decays through data-dependent or fixed gates: the forms of a gated mechanism agree with
     * the reference within 1e-4 (relative RMS), those of an ungated one within 1e-5.
     */
    public boolean gated() {
        return false;
    }

    /** Floats of state per (sequence, KV head) for this call's dimensions. */
    public abstract int stateSize(AttentionProblem p);

    /** Computes a valid call in {@code form}: writes the output rows and {@code call.state()}. */
    protected abstract void compute(Call call, Form form);

    /**
     * The work of a call in the configured {@link #form()}: the member's own formula in its feature and state sizes
     * ({@link #work(Work.Shape, boolean, Form)}); the operands' shapes are checked, their values are not read.
     */
    @Override
    public final Work work(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        Work.Shape s = Work.Shape.of(q, k, v, spec);
        descriptor().requirePattern(Pattern.of(s.queryLength(), s.keyLength(), spec.isCausal()));
        return work(s, spec.isCausal(), form());
    }

    /**
     * The work of a call of shape {@code s} in {@code form}, causal or not: FLOPs by the member's formula (a fused
     * multiply-add counts two; decays, exponentials and other element-wise work are not counted, as in the
     * complexity of its paper card), bytes usually {@link #operandBytes}.
     */
    public abstract Work work(Work.Shape s, boolean causal, Form form);

    /** Bytes of Q, K, V read and the output written once; the state (O(F·Dv) per head) is not counted. */
    protected static double operandBytes(Work.Shape s) {
        return 4.0 * ((double) s.batch() * s.queryLength() * s.heads() * (s.headDim() + s.valueDim())
                + (double) s.batch() * s.keyLength() * s.kvHeads() * (s.headDim() + s.valueDim()));
    }

    /**
     * Heads of state per sequence: the KV heads (a GQA group shares one state), unless the mechanism's state
     * differs between the query heads of a group.
     */
    public int stateHeads(AttentionProblem p) {
        return p.kvHeads();
    }

    /** Mechanism-specific checks of a resolved call (head dims, parameters); throws before anything is written. */
    protected void check(AttentionProblem p, Segments segments) {
    }

    @Override
    public final AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        return run(q, k, v, spec, null, form(), out).attention();
    }

    /** {@link #run(Tensor, Tensor, Tensor, AttentionSpec, LinearState, Form, Tensor)} into a new output. */
    public RecurrentResult run(Tensor q, Tensor k, Tensor v, AttentionSpec spec, LinearState initial, Form form) {
        return run(q, k, v, spec, initial, form, null);
    }

    /**
     * The call in the given form, continuing from {@code initial} ({@code null}: zeros).
     *
     * @throws UnsupportedInputException for a pattern, mask or option the mechanism does not take
     * @throws IllegalArgumentException  for invalid operands or a state of the wrong shape, before anything is
     *                                   written
     */
    public RecurrentResult run(Tensor q, Tensor k, Tensor v, AttentionSpec spec, LinearState initial, Form form,
                               Tensor out) {
        java.util.Objects.requireNonNull(form, "form");
        Call call = validate(q, k, v, spec, initial, out, false, true);
        compute(call, form);
        return new RecurrentResult(call.problem().result(null, null, null, null), call.state());
    }

    /**
     * Whether {@link #compute} accepts a call whose initial and final states are the same object (it reads every
     * initial value before writing that place), so {@link #step} continues a state without copying it.
     */
    protected boolean updatesInPlace() {
        return false;
    }

    /**
     * Decode: continues {@code state} by this call's tokens in the {@link Form#recurrent() recurrent} form,
     * overwriting it with the state after them. Mechanisms that {@link #updatesInPlace update in place} touch
     * the state once per token (read and written); the others compute into a new state and copy it back. The state's
     * shape is checked but its values are not scanned for NaN (that would read the whole state a second time per
     * token): pass a state that {@link #run} checked or that {@code run}/{@code step} produced.
     *
     * @throws IllegalArgumentException for invalid operands or a state of the wrong shape, before anything is
     *                                  written
     */
    public AttentionResult step(Tensor q, Tensor k, Tensor v, AttentionSpec spec, LinearState state, Tensor out) {
        java.util.Objects.requireNonNull(state, "state");
        Call call = validate(q, k, v, spec, state, out, updatesInPlace(), false);
        compute(call, Form.recurrent());
        if (call.state() != state) {
            System.arraycopy(call.state().data(), 0, state.data(), 0, state.data().length);
        }
        return call.problem().result(null, null, null, null);
    }

    private Call validate(Tensor q, Tensor k, Tensor v, AttentionSpec spec, LinearState initial, Tensor out,
                          boolean inPlace, boolean checkFinite) {
        Mechanism m = descriptor();
        if (spec != null) {
            m.checkSupports(spec);
            if (spec.scoreMod() != null) {
                throw new UnsupportedInputException(m.id() + " takes no score mod (got " + spec.scoreMod()
                        + "); it computes no scores");
            }
        }
        AttentionProblem p = AttentionProblem.of(q, k, v, spec, out);
        Segments segments = Segments.of(m.id(), p, spec);
        // documents packed with causal() inside are causal whatever the spec's own flag says
        Pattern pattern = Pattern.of(p.queryLength(), p.keyLength(), segments.causal());
        if (!m.supports(pattern)) {
            throw new UnsupportedInputException(m.id() + " supports the patterns " + m.patternList()
                    + "; this call (Lq = " + p.queryLength() + ", Lk = " + p.keyLength() + ", "
                    + (segments.causal() ? "causal" : "noncausal") + ") is " + pattern.id());
        }
        check(p, segments);
        int size = stateSize(p);
        if (initial != null) {
            initial.requireShape("initial state", segments.sequences(), stateHeads(p), size);
            if (checkFinite) {
                initial.requireFinite("initial state");
            }
        } else {
            initial = LinearState.zeros(segments.sequences(), stateHeads(p), size);
        }
        LinearState state = inPlace ? initial : LinearState.zeros(segments.sequences(), stateHeads(p), size);
        return new Call(p, segments, initial, state);
    }
}
