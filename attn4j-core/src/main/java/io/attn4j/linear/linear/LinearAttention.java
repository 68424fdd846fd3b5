package io.attn4j.linear.linear;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.Work;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.linear.Features;
import io.attn4j.linear.Form;
import io.attn4j.linear.GatedLinearRecurrence;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.runtime.Engine;

import java.util.EnumSet;
import java.util.Objects;

/**
 * Linear attention: the softmax kernel {@code exp(q·k)} replaced by a feature-map dot product
 * {@code φ(q)·φ(k)}, so that attention regroups as {@code φ(Q)(φ(K)ᵀV)} and a causal prefix becomes a running
 * state (Katharopoulos et al., "Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention",
 * ICML 2020).
 *
 * <p><b>Algorithm.</b> {@code o_t = φ(q_t)ᵀ S_t / (φ(q_t)·z_t + ε)} with {@code S_t = Σ_{s≤t} φ(k_s) v_sᵀ} and
 * {@code z_t = Σ_{s≤t} φ(k_s)} (causal; noncausal reads the sums over all keys), computed by
 * {@link GatedLinearRecurrence} with no decay in any of the three {@link Form forms}.
 *
 * <p><b>Choices.</b> The feature map: {@code elu(x) + 1} (the paper's; positive, so the normaliser never vanishes),
 * {@code relu(x)}, or the identity. With the normaliser on (the default) the call's scale would cancel for the
 * identity and is not applied; with it off, queries are multiplied by the scale as in softmax attention. A query
 * whose normaliser is 0 (relu features all zero) outputs 0 rather than NaN, through ε. GQA shares one state per KV
 * head. The state per (sequence, KV head) is {@code S} ({@code D × Dv}, row-major) then {@code z} ({@code D}).
 *
 * <p><b>Complexity.</b> Time O(n·D·Dv) per head in every form (the chunked form adds O(n·C·(D + Dv)));
 * state O(D·Dv) per KV head — constant in n.
 */
public final class LinearAttention extends RecurrentMechanism {

    /** The feature maps of the paper and its common variants. */
    public enum FeatureMap {
        /** {@code elu(x) + 1}: x + 1 for x > 0, e^x otherwise. */
        ELU_PLUS_ONE,
        /** {@code max(x, 0)}. */
        RELU,
        /** {@code x}. */
        IDENTITY
    }

    /**
     * @param featureMap φ
     * @param normalise  divide by {@code φ(q)·z + ε}
     * @param epsilon    ε, {@code >= 0}
     * @param form       the form {@code forward} uses
     */
    public record Config(FeatureMap featureMap, boolean normalise, float epsilon, Form form)
            implements MechanismConfig {
        public Config {
            Objects.requireNonNull(featureMap, "featureMap");
            Objects.requireNonNull(form, "form");
            if (!(epsilon >= 0) || Float.isInfinite(epsilon)) {
                throw new IllegalArgumentException("epsilon = " + epsilon + "; allowed: finite and >= 0");
            }
        }

        /** elu + 1, normalised, ε = 1e-6, chunked. */
        public static Config defaults() {
            return new Config(FeatureMap.ELU_PLUS_ONE, true, 1e-6f, Form.chunked());
        }

        public Config withForm(Form newForm) {
            return new Config(featureMap, normalise, epsilon, newForm);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("linear", Family.LINEAR,
            "linear attention (feature maps elu+1, relu, identity)",
            "Katharopoulos, Vyas, Pappas, Fleuret: \"Transformers are RNNs: Fast Autoregressive Transformers with "
                    + "Linear Attention\", ICML 2020 (arXiv:2006.16236)",
            EnumSet.allOf(Pattern.class), Weights.TRAINED, false, false, false, "O(n d dv)", "O(d dv) per KV head",
            Config.class, Config.defaults(), (config, engine) -> new LinearAttention((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT, Guarantee.PACKED_DOCUMENTS));

    private final Config config;

    public LinearAttention(Config config, Engine engine) {
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
    protected boolean updatesInPlace() {
        return true;
    }

    @Override
    public int stateSize(AttentionProblem p) {
        return GatedLinearRecurrence.stateSize(p.headDim(), p.valueDim(), config.normalise());
    }

    /**
     * One pass of the {@link GatedLinearRecurrence#flops recurrence} with {@code F = D} (and the normaliser's column
     * when normalising); the feature map is element-wise.
     */
    @Override
    public Work work(Work.Shape s, boolean causal, Form form) {
        int columns = s.valueDim() + (config.normalise() ? 1 : 0);
        return Work.formula(GatedLinearRecurrence.flops(s, s.headDim(), columns, false, causal, form),
                operandBytes(s), "recurrence, F = D = " + s.headDim() + ", " + form);
    }

    @Override
    protected void compute(Call call, Form form) {
        AttentionProblem p = call.problem();
        HeadView q = p.q(), k = p.k();
        if (config.featureMap() != FeatureMap.IDENTITY) {
            Features.RowMap map = rowMap(config.featureMap(), p.headDim(), engine.ops());
            q = Features.map(engine, p.q(), p.batch(), p.queryLength(), p.heads(), p.headDim(), map);
            k = Features.map(engine, p.k(), p.batch(), p.keyLength(), p.kvHeads(), p.headDim(), map);
        }
        GatedLinearRecurrence.run(engine, call, new GatedLinearRecurrence.Operands(q, k, p.v(), p.headDim(),
                config.normalise() ? 1f : p.scale(), new GatedLinearRecurrence.None(), config.normalise(),
                config.epsilon()), form);
    }

    private static Features.RowMap rowMap(FeatureMap map, int d, io.attn4j.simd.VectorOps ops) {
        return switch (map) {
            case ELU_PLUS_ONE -> (in, inOffset, out, outOffset, head) -> {
                for (int i = 0; i < d; i++) {
                    out[outOffset + i] = Math.min(in[inOffset + i], 0f);
                }
                ops.expShiftSum(out, outOffset, d, 0f); // e^{min(x, 0)}: the negative branch, vectorised
                for (int i = 0; i < d; i++) {
                    float x = in[inOffset + i];
                    out[outOffset + i] = x > 0 ? x + 1f : out[outOffset + i];
                }
            };
            case RELU -> (in, inOffset, out, outOffset, head) -> {
                for (int i = 0; i < d; i++) {
                    out[outOffset + i] = Math.max(0f, in[inOffset + i]);
                }
            };
            case IDENTITY -> throw new IllegalStateException("identity needs no map");
        };
    }
}
