package io.attn4j.linear.lightning;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.Work;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.linear.Form;
import io.attn4j.linear.GatedLinearRecurrence;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.runtime.Engine;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Objects;

/**
 * Lightning Attention: causal linear attention computed in blocks, without a cumulative sum over the sequence —
 * a masked quadratic product inside each block and a running key-value state between blocks (Qin et al.,
 * "Lightning Attention-2: A Free Lunch for Handling Unlimited Sequence Lengths in Large Language Models", 2024;
 * "TransNormerLLM: A Faster and Better Large Language Model with Improved TransNormer", 2023, for the decay).
 *
 * <p><b>Algorithm.</b> {@code o_t = Σ_{s≤t} λ^{t−s} (s·q_t·k_s) v_s}: the state {@code S_t = λ S_{t−1} + k_t v_tᵀ}
 * is read by {@code s·q_t}. The chunked form is the paper's: for block {@code [a, a + C)},
 * {@code O = (Q ⊙ Λ) S + (QKᵀ ⊙ M) V} and {@code S ← λ^C S + (K ⊙ Λ')ᵀ V}, with M the causal decay mask
 * ({@code λ^{t−s}}, 0 above the diagonal) — {@link GatedLinearRecurrence} with a constant decay.
 *
 * <p><b>Choices.</b> The decay per query head g (each then keeps its own state, so a GQA group's heads do not share one): none (λ = 1, Lightning Attention-1/2 as published), RetNet's
 * schedule {@code λ_g = 1 − 2^{−5−g}} (the default; TransNormerLLM's schedule also depends on the layer index, so
 * it is given explicitly through {@link Config#ofLogDecays}), or explicit log decays. No normaliser: TransNormer
 * normalises the output with an RMSNorm outside attention (NormAttention), so outputs here are the raw sums, and
 * queries carry the call's scale. Causal only: a decay has no noncausal meaning. The state per (sequence, head)
 * is {@code S} ({@code D × Dv}, row-major), one per query head (per KV head without decay).
 *
 * <p><b>Complexity.</b> Time O(n·(C·(D + Dv) + D·Dv)) per head (chunked), O(n·D·Dv) (recurrent); state
 * O(D·Dv) per head, constant in n.
 */
public final class Lightning extends RecurrentMechanism {

    /** How the decay is chosen. */
    public enum Decay {
        /** λ = 1 (Lightning Attention-1/2 without decay). */
        NONE,
        /** RetNet's multi-scale schedule: λ_g = 1 − 2^(−5−g) for query head g. */
        RETNET,
        /** The log decays given in {@link Config#logDecays}, one per query head (cycled when fewer). */
        EXPLICIT
    }

    /**
     * @param decay     the schedule
     * @param logDecays for {@link Decay#EXPLICIT}: log λ per query head, each finite and {@code <= 0}
     * @param form      the form {@code forward} uses
     */
    public record Config(Decay decay, float[] logDecays, Form form) implements MechanismConfig {
        public Config {
            Objects.requireNonNull(decay, "decay");
            Objects.requireNonNull(form, "form");
            if (decay == Decay.EXPLICIT) {
                if (logDecays == null || logDecays.length == 0) {
                    throw new IllegalArgumentException("logDecays is empty; allowed: one log decay per query head");
                }
                for (int i = 0; i < logDecays.length; i++) {
                    if (!(logDecays[i] <= 0) || Float.isInfinite(logDecays[i])) {
                        throw new IllegalArgumentException("logDecays[" + i + "] = " + logDecays[i]
                                + "; allowed: finite and <= 0 (a decay in (0, 1])");
                    }
                }
                logDecays = logDecays.clone();
            } else {
                logDecays = new float[0];
            }
        }

        /** RetNet's decay schedule, chunked. */
        public static Config defaults() {
            return new Config(Decay.RETNET, null, Form.chunked());
        }

        /** No decay. */
        public static Config noDecay() {
            return new Config(Decay.NONE, null, Form.chunked());
        }

        /** Explicit log decays, one per query head. */
        public static Config ofLogDecays(float... logDecays) {
            return new Config(Decay.EXPLICIT, logDecays, Form.chunked());
        }

        public Config withForm(Form newForm) {
            return new Config(decay, logDecays, newForm);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Config c && c.decay == decay && Arrays.equals(c.logDecays, logDecays)
                    && c.form.equals(form);
        }

        @Override
        public int hashCode() {
            return Objects.hash(decay, Arrays.hashCode(logDecays), form);
        }

        @Override
        public String toString() {
            return "Lightning.Config[" + decay + (decay == Decay.EXPLICIT ? " " + Arrays.toString(logDecays) : "")
                    + ", " + form + "]";
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("lightning", Family.LINEAR,
            "Lightning Attention 1 and 2; TransNormerLLM / RetNet decay",
            "Qin, Sun, Li, Shen, Sun, Zhong: \"Lightning Attention-2: A Free Lunch for Handling Unlimited Sequence "
                    + "Lengths in Large Language Models\", 2024 (arXiv:2401.04658)",
            EnumSet.of(Pattern.CS, Pattern.CC, Pattern.DECODE), Weights.TRAINED, false, false, false,
            "O(n (C (d + dv) + d dv))", "O(d dv) per head", Config.class, Config.defaults(),
            (config, engine) -> new Lightning((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT, Guarantee.PACKED_DOCUMENTS));

    private final Config config;

    public Lightning(Config config, Engine engine) {
        super(engine);
        this.config = Objects.requireNonNull(config, "config");
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    public Config config() {
        return config;
    }

    @Override
    public Form form() {
        return config.form();
    }

    @Override
    public boolean gated() {
        return config.decay() != Decay.NONE;
    }

    /** One state per query head when heads decay at their own rates (RetNet's schedule is per query head). */
    @Override
    public int stateHeads(AttentionProblem p) {
        return config.decay() == Decay.NONE ? p.kvHeads() : p.heads();
    }

    @Override
    protected boolean updatesInPlace() {
        return true;
    }

    @Override
    public int stateSize(AttentionProblem p) {
        return GatedLinearRecurrence.stateSize(p.headDim(), p.valueDim(), false);
    }

    /** log λ of each head under the configured schedule. */
    public float[] logDecays(int heads) {
        float[] log = new float[heads];
        for (int g = 0; g < heads; g++) {
            log[g] = switch (config.decay()) {
                case NONE -> 0f;
                case RETNET -> (float) Math.log1p(-Math.pow(2, -5 - g));
                case EXPLICIT -> config.logDecays()[g % config.logDecays().length];
            };
        }
        return log;
    }

    /**
     * One pass of the {@link GatedLinearRecurrence#flops recurrence} with {@code F = D}, one state per query head
     * when it decays (the decay differs between the heads of a group).
     */
    @Override
    public Work work(Work.Shape s, boolean causal, Form form) {
        return Work.formula(GatedLinearRecurrence.flops(s, s.headDim(), s.valueDim(), config.decay() != Decay.NONE,
                causal, form), operandBytes(s), "recurrence, F = D = " + s.headDim() + ", " + form);
    }

    @Override
    protected void compute(Call call, Form form) {
        AttentionProblem p = call.problem();
        GatedLinearRecurrence.Decay decay = config.decay() == Decay.NONE ? new GatedLinearRecurrence.None()
                : new GatedLinearRecurrence.Constant(logDecays(p.heads()));
        GatedLinearRecurrence.run(engine, call, new GatedLinearRecurrence.Operands(p.q(), p.k(), p.v(),
                p.headDim(), p.scale(), decay, false, 0f, config.decay() != Decay.NONE), form);
    }
}
