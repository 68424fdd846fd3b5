package io.attn4j.linear.lightnet;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.Work;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.Weights;
import io.attn4j.linear.Features;
import io.attn4j.linear.Form;
import io.attn4j.linear.FormConfig;
import io.attn4j.linear.GatedLinearRecurrence;
import io.attn4j.linear.LinearState;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.linear.Segments;
import io.attn4j.runtime.Engine;

import java.util.EnumSet;
import java.util.Objects;

/**
 * LightNet's additive linear recurrence: the state is normalised by the cumulative sum of the key exponentials
 * instead of being multiplied by a decay (Qin, Mao, Shen, Li, Zhang, Dai, Zhong, "You Only Scan Once: Efficient
 * Multi-dimension Sequential Modeling with LightNet", arXiv:2405.21022, 2024).
 *
 * <p><b>Algorithm.</b> Per key feature i, {@code Z_t[i] = Σ_{s≤t} exp(k_s[i])} and
 * {@code S_t[i] = Σ_{s≤t} (exp(k_s[i]) / Z_t[i]) v_s}: every row of S is a softmax over time of its key feature,
 * a convex combination of the values seen so far. Causally that is the gated recurrence
 * <pre>
 *   S_t = diag(Z_{t−1} / Z_t) S_{t−1} + (exp(k_t) / Z_t) v_tᵀ,      o_t = (scale · q_t)ᵀ S_t
 * </pre>
 * whose gate is derived additively, computed by {@link GatedLinearRecurrence} in all three forms with per-feature
 * gates {@code log a_t = log Z_{t−1} − log Z_t} and written keys {@code k̃_t = exp(k_t − log Z_t)}. Both come from a
 * running log-sum-exp per feature, in sequence order, in float64 ({@code log Z_t = log Z_{t−1} +
 * softplus(k_t − log Z_{t−1})}; the gate is {@code −softplus(·)} directly, never a difference of two large
 * logarithms, so gates near 1 after a million tokens keep their precision). Every gate is in (0, 1] and every
 * written key in (0, 1], whatever the magnitude of k. <b>Noncausal</b>: a single normalisation over all keys,
 * {@code S[i] = Σ_s softmax_s(k[i]) v_s} (and an initial state weighted by {@code Z₀ / Z}), read by every query.
 *
 * <p><b>Choices.</b> Queries and keys enter raw (the paper's surrounding layer — projections, activations, output
 * gate, the MD-TPE / MD-LRPE positional encodings — is the model's, not the attention's, so no weights are taken
 * here; the descriptor still says {@link Weights#TRAINED} because a model must be trained with it); the query is multiplied by the call's scale; no output normaliser (each row of S already
 * sums its weights to 1). The first token of an empty state has no {@code Z_{t−1}}: its gate is taken as 1 (the
 * state it multiplies is zero). GQA shares one state per KV head (everything depends on k and v only).
 *
 * <p><b>What is and is not implemented.</b> The recurrence over 1-D sequences (with packed documents). The paper's
 * "one scan" claim is about multi-dimensional inputs: because the normalised sum does not depend on the scan order
 * for the noncausal form, an image needs one scan in any order rather than one per direction. Here a 2-D image is
 * run as a 1-D sequence flattened in one scan order chosen by the caller (e.g. row-major), noncausal for the global
 * receptive field; the multi-dimensional positional encodings are not implemented.
 *
 * <p><b>State.</b> Per (sequence, KV head): {@code S} ({@code D × Dv}, row-major by key feature), then
 * {@code log Z} ({@code D}), then the number of keys summarised (a float; 0 means empty, and {@code S} and
 * {@code log Z} are then ignored). The gated core's state is the first {@code D·Dv} floats.
 *
 * <p><b>Complexity.</b> Time O(n·D·Dv) per head in every form (the chunked form adds O(n·C·(D + Dv))), plus an
 * O(n·D) log-sum-exp scan per KV head; state O(D·Dv) per KV head, constant in n; O(n·D) floats of gates and keys.
 */
public final class LightNet extends RecurrentMechanism {


    public static final Mechanism DESCRIPTOR = new Mechanism("lightnet", Family.LINEAR,
            "LightNet: additive linear recurrence (state normalised by cumulative key exponentials)",
            "Qin, Mao, Shen, Li, Zhang, Dai, Zhong: \"You Only Scan Once: Efficient Multi-dimension Sequential "
                    + "Modeling with LightNet\", 2024 (arXiv:2405.21022)",
            EnumSet.allOf(Pattern.class), Weights.TRAINED, false, false, false, "O(n d dv)", "O(d dv) per KV head",
            FormConfig.class, FormConfig.defaults(), (config, engine) -> new LightNet((FormConfig) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT, Guarantee.PACKED_DOCUMENTS));

    private final FormConfig config;

    public LightNet(FormConfig config, Engine engine) {
        super(engine);
        this.config = Objects.requireNonNull(config, "config");
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    public FormConfig config() {
        return config;
    }

    @Override
    public Form form() {
        return config.form();
    }

    @Override
    public boolean gated() {
        return true;
    }

    @Override
    public int stateSize(AttentionProblem p) {
        return p.headDim() * p.valueDim() + p.headDim() + 1;
    }

    /**
     * One pass of the {@link GatedLinearRecurrence#flops recurrence} with {@code F = D} and per-feature gates; the
     * log-sum-exp scan that makes the gates is element-wise.
     */
    @Override
    public Work work(Work.Shape s, boolean causal, Form form) {
        return Work.formula(GatedLinearRecurrence.flops(s, s.headDim(), s.valueDim(), false, causal, form),
                operandBytes(s), "recurrence with per-feature gates, F = D = " + s.headDim() + ", " + form);
    }

    @Override
    protected void compute(Call call, Form form) {
        AttentionProblem p = call.problem();
        Segments sg = call.segments();
        int d = p.headDim(), dv = p.valueDim(), kvHeads = p.kvHeads(), lk = p.keyLength();
        int core = GatedLinearRecurrence.stateSize(d, dv, false);
        long n = (long) p.batch() * lk * kvHeads * d;
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("lightnet's gates and keys of " + n + " floats; at most "
                    + (Integer.MAX_VALUE - 8) + " fit in one array");
        }
        float[] keys = new float[(int) n];
        float[] gates = sg.causal() ? new float[(int) n] : null;
        LinearState initial = LinearState.zeros(sg.sequences(), kvHeads, core);
        LinearState state = LinearState.zeros(sg.sequences(), kvHeads, core);
        HeadView k = p.k();
        // the running log-sum-exp per (sequence, KV head, feature), in sequence order
        engine.parallelFor(sg.sequences() * kvHeads, task -> {
            int seq = task / kvHeads, g = task % kvHeads, b = sg.batchOf(seq), length = sg.keyLength(seq);
            float[] in = call.initial().data(), out = call.state().data();
            int from = call.initial().offset(seq, g), to = call.state().offset(seq, g);
            boolean empty = in[from + core + d] == 0f;
            double[] logZ = new double[d];
            for (int i = 0; i < d; i++) {
                logZ[i] = empty ? Double.NEGATIVE_INFINITY : in[from + core + i];
            }
            int at = initial.offset(seq, g);
            if (!empty) {
                System.arraycopy(in, from, initial.data(), at, core);
            }
            for (int t = 0; t < length; t++) {
                int kr = k.at(b, sg.keyFrom(seq) + t, g), row = ((b * lk + sg.keyFrom(seq) + t) * kvHeads + g) * d;
                for (int i = 0; i < d; i++) {
                    double x = k.data()[kr + i];
                    if (logZ[i] == Double.NEGATIVE_INFINITY) {
                        logZ[i] = x; // the first key: gate 1 on a zero state
                    } else {
                        double rise = softplus(x - logZ[i]); // log Z_t − log Z_{t−1} = log(1 + e^{k − log Z_{t−1}})
                        logZ[i] += rise;
                        if (gates != null) {
                            gates[row + i] = (float) -rise;
                        }
                    }
                    if (gates != null) {
                        keys[row + i] = (float) Math.exp(x - logZ[i]);
                    }
                }
            }
            if (gates == null) {
                // noncausal: one normalisation by the final Z; the initial S weighted by Z₀ / Z
                for (int t = 0; t < length; t++) {
                    int kr = k.at(b, sg.keyFrom(seq) + t, g), row = ((b * lk + sg.keyFrom(seq) + t) * kvHeads + g) * d;
                    for (int i = 0; i < d; i++) {
                        keys[row + i] = (float) Math.exp(k.data()[kr + i] - logZ[i]);
                    }
                }
                if (!empty) {
                    for (int i = 0; i < d; i++) {
                        float w = (float) Math.exp(in[from + core + i] - logZ[i]);
                        for (int c = 0; c < dv; c++) {
                            initial.data()[at + i * dv + c] *= w;
                        }
                    }
                }
            }
            boolean stillEmpty = empty && length == 0;
            for (int i = 0; i < d; i++) {
                out[to + core + i] = stillEmpty ? 0f : (float) logZ[i];
            }
            out[to + core + d] = (float) ((double) in[from + core + d] + length);
        });
        HeadView mappedKeys = Features.contiguous(keys, lk, kvHeads, d);
        GatedLinearRecurrence.Decay decay = gates == null ? new GatedLinearRecurrence.None()
                : new GatedLinearRecurrence.Gates(Features.contiguous(gates, lk, kvHeads, d), true);
        GatedLinearRecurrence.run(engine, new Call(p, sg, initial, state),
                new GatedLinearRecurrence.Operands(p.q(), mappedKeys, p.v(), d, p.scale(), decay, false, 0f), form);
        engine.parallelFor(sg.sequences() * kvHeads, task -> {
            int seq = task / kvHeads, g = task % kvHeads;
            System.arraycopy(state.data(), state.offset(seq, g), call.state().data(),
                    call.state().offset(seq, g), core);
        });
    }

    /** log(1 + e^x) without overflow. */
    private static double softplus(double x) {
        return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
    }
}
