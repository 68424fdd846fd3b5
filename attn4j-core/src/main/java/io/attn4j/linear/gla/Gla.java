package io.attn4j.linear.gla;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.AttentionSpec;
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
import io.attn4j.linear.LinearState;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.linear.RecurrentResult;
import io.attn4j.linear.Segments;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Gated Linear Attention: linear attention whose matrix state forgets through a data-dependent gate per key
 * feature (Yang, Wang, Shen, Panda, Kim, "Gated Linear Attention Transformers with Hardware-Efficient Training",
 * ICML 2024; the decay generalises RetNet's and TransNormer's fixed ones).
 *
 * <p><b>Algorithm.</b> {@code S_t = diag(α_t) S_{t−1} + k_t v_tᵀ}, {@code o_t = (s·q_t)ᵀ S_t}, with
 * {@code α_t ∈ (0, 1]^D}. The chunked form is the paper's chunkwise one ({@link GatedLinearRecurrence}): inside a
 * chunk, {@code A = (Q ⊙ P)(K / P)ᵀ} with the running products P of the gates, which the kernel uses only while a
 * chunk's total decay stays above 1e-9 per feature; under stronger gates the intra-chunk factors are built as
 * running products from the diagonal (the role of the paper's secondary, log-space chunking) — never an
 * exponential that can overflow. Between chunks the state is multiplied by the chunk's decay, a factor ≤ 1.
 *
 * <p><b>Choices.</b> Gates come either explicitly ({@link #run(Tensor, Tensor, Tensor, Tensor, AttentionSpec,
 * LinearState, Form)}: log α, {@code [B, Lk, Hkv, D]}, finite, ≤ 0) or, in the attention API, from the keys
 * through the paper's low-rank gate: {@code log α_t = logsigmoid((k_t W₁) W₂ + b) / τ} with {@code W₁: D × r},
 * {@code W₂: r × D} (r = 16), {@code τ = 16}, shared by the heads. The config holds W₁, W₂, b explicitly or a seed
 * from which they are drawn ({@code W₁ ~ N(0, 1/D)}, {@code W₂ ~ N(0, 1/r)}, {@code b = 0}: about 0.96 decay per
 * token). The paper computes the gate from the layer input x; here the key stands for it. No normaliser (GLA
 * normalises the output outside attention); queries carry the call's scale. The state per (sequence, KV head) is
 * {@code S} ({@code D × Dv}, row-major).
 *
 * <p><b>Complexity.</b> Time O(n·(C·(D + Dv) + D·Dv)) per head chunked (O(n·C·D) more for the gates' products;
 * O(n·C²·D) in chunks whose decay falls below the floor); state O(D·Dv) per KV head.
 */
public final class Gla extends RecurrentMechanism {

    /** Rank of the default gate projection (the paper's 16). */
    public static final int GATE_RANK = 16;

    /**
     * @param seed        draws W₁, W₂ when {@code w1} is null
     * @param w1          {@code D × r} (row-major), or null to draw from the seed for the call's D
     * @param w2          {@code r × D}
     * @param bias        {@code D}
     * @param temperature τ, {@code >= 1}
     * @param form        the form {@code forward} uses
     */
    public record Config(long seed, float[] w1, float[] w2, float[] bias, float temperature, Form form)
            implements MechanismConfig {
        public Config {
            Objects.requireNonNull(form, "form");
            if (!(temperature >= 1) || Float.isInfinite(temperature)) {
                throw new IllegalArgumentException("temperature = " + temperature + "; allowed: finite and >= 1");
            }
            if ((w1 == null) != (w2 == null) || (w1 == null) != (bias == null)) {
                throw new IllegalArgumentException("w1, w2 and bias are given together or not at all");
            }
            if (w1 != null) {
                int d = bias.length;
                if (d == 0 || w1.length % d != 0 || w1.length != w2.length) {
                    throw new IllegalArgumentException("gate weights w1 (" + w1.length + "), w2 (" + w2.length
                            + "), bias (" + d + "); allowed: w1 D × r, w2 r × D, bias D");
                }
                for (float[] a : new float[][] {w1, w2, bias}) {
                    for (float x : a) {
                        if (!Float.isFinite(x)) {
                            throw new IllegalArgumentException("gate weights hold " + x + "; allowed: finite values");
                        }
                    }
                }
                w1 = w1.clone();
                w2 = w2.clone();
                bias = bias.clone();
            }
        }

        /** Seeded gate projection (seed 1), τ = 16, chunked. */
        public static Config defaults() {
            return new Config(1, null, null, null, 16f, Form.chunked());
        }

        /** Explicit gate weights: W₁ ({@code D × r}), W₂ ({@code r × D}), b ({@code D}). */
        public static Config ofWeights(float[] w1, float[] w2, float[] bias, float temperature) {
            return new Config(0, w1, w2, bias, temperature, Form.chunked());
        }

        public Config withForm(Form newForm) {
            return new Config(seed, w1, w2, bias, temperature, newForm);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Config c && c.seed == seed && Arrays.equals(c.w1, w1) && Arrays.equals(c.w2, w2)
                    && Arrays.equals(c.bias, bias) && c.temperature == temperature && c.form.equals(form);
        }

        @Override
        public int hashCode() {
            return Objects.hash(seed, Arrays.hashCode(w1), temperature, form);
        }

        @Override
        public String toString() {
            return "Gla.Config[" + (w1 == null ? "seed " + seed : "explicit gates, r = " + w1.length / bias.length)
                    + ", τ = " + temperature + ", " + form + "]";
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("gla", Family.LINEAR,
            "Gated Linear Attention (GLA, ViG)",
            "Yang, Wang, Shen, Panda, Kim: \"Gated Linear Attention Transformers with Hardware-Efficient Training\", "
                    + "ICML 2024 (arXiv:2312.06635)",
            EnumSet.of(Pattern.CS, Pattern.CC, Pattern.DECODE), Weights.TRAINED, false, false, false,
            "O(n (C (d + dv) + d dv))", "O(d dv) per KV head", Config.class, Config.defaults(),
            (config, engine) -> new Gla((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT, Guarantee.PACKED_DOCUMENTS));

    private final Config config;
    /** Explicit log gates bound to one call, or null: gates come from the keys. */
    private final Tensor logGates;

    public Gla(Config config, Engine engine) {
        this(config, engine, null);
    }

    private Gla(Config config, Engine engine, Tensor logGates) {
        super(engine);
        this.config = Objects.requireNonNull(config, "config");
        this.logGates = logGates;
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
        return true;
    }

    @Override
    protected boolean updatesInPlace() {
        return true;
    }

    @Override
    public int stateSize(AttentionProblem p) {
        return GatedLinearRecurrence.stateSize(p.headDim(), p.valueDim(), false);
    }

    /**
     * GLA with explicit gates: {@code logGates} holds log α, shaped like K ({@code [B, Lk, Hkv, D]} in the spec's
     * layout), every value finite and {@code <= 0}.
     *
     * @throws IllegalArgumentException for a gate tensor of the wrong shape or with a value outside (−∞, 0]
     */
    public RecurrentResult run(Tensor q, Tensor k, Tensor v, Tensor logGates, AttentionSpec spec, LinearState initial,
                               Form form) {
        Objects.requireNonNull(logGates, "logGates");
        return new Gla(config, engine, logGates).run(q, k, v, spec, initial, form);
    }

    @Override
    protected void check(AttentionProblem p, Segments segments) {
        if (logGates != null) {
            int[] expected = p.layout().shape(p.batch(), p.keyLength(), p.kvHeads(), p.headDim());
            if (!Arrays.equals(logGates.shape(), expected)) {
                throw new IllegalArgumentException("logGates has shape " + Arrays.toString(logGates.shape())
                        + "; allowed: " + Arrays.toString(expected) + " (shaped like k)");
            }
            if (!logGates.isHeap() || logGates.stride(p.layout().dimAxis()) != 1) {
                throw new IllegalArgumentException("logGates must be a heap tensor with a contiguous last axis");
            }
            float[] all = logGates.toArray();
            for (int i = 0; i < all.length; i++) {
                if (!(all[i] <= 0) || Float.isInfinite(all[i])) {
                    throw new IllegalArgumentException("logGates holds " + all[i] + " at flat index " + i
                            + "; allowed: finite values <= 0 (log of a gate in (0, 1])");
                }
            }
        } else if (config.w1() != null && config.bias().length != p.headDim()) {
            throw new IllegalArgumentException("the gate weights are for D = " + config.bias().length
                    + " but the call's head dim is " + p.headDim());
        }
    }

    /**
     * The gates from the keys (a rank-r projection, {@code 4·D·r} per key row) unless they are given, and one pass
     * of the {@link GatedLinearRecurrence#flops recurrence} with {@code F = D}.
     */
    @Override
    public Work work(Work.Shape s, boolean causal, Form form) {
        int rank = weights(s.headDim())[0].length / s.headDim();
        double gates = logGates != null ? 0 : 4.0 * s.headDim() * rank * s.batch() * s.keyLength() * s.kvHeads();
        return Work.formula(gates + GatedLinearRecurrence.flops(s, s.headDim(), s.valueDim(), false, causal, form),
                operandBytes(s), (logGates != null ? "" : "gates 4·D·r per key row (r = " + rank + "), ")
                        + "recurrence with per-feature gates, F = D = " + s.headDim() + ", " + form);
    }

    @Override
    protected void compute(Call call, Form form) {
        AttentionProblem p = call.problem();
        HeadView gates = logGates != null ? view(logGates, p.layout()) : gatesFromKeys(p);
        GatedLinearRecurrence.run(engine, call, new GatedLinearRecurrence.Operands(p.q(), p.k(), p.v(),
                p.headDim(), p.scale(), new GatedLinearRecurrence.Gates(gates, true), false, 0f), form);
    }

    private static HeadView view(Tensor t, Layout layout) {
        return new HeadView(t.array(), (int) t.arrayOffset(), (int) t.stride(layout.batchAxis()),
                (int) t.stride(layout.seqAxis()), (int) t.stride(layout.headAxis()));
    }

    /** log α_t = logsigmoid((k_t W₁) W₂ + b) / τ for every key row. */
    private HeadView gatesFromKeys(AttentionProblem p) {
        int d = p.headDim();
        float[][] w = weights(d);
        float[] w1 = w[0], w2 = w[1], bias = w[2];
        int r = w1.length / d;
        float[] w1t = new float[r * d]; // W₁ᵀ: one contiguous row per rank, for dot products with k
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < r; j++) {
                w1t[j * d + i] = w1[i * r + j];
            }
        }
        float inverseTau = 1f / config.temperature();
        var ops = engine.ops();
        return Features.map(engine, p.k(), p.batch(), p.keyLength(), p.kvHeads(), d,
                (in, inOffset, out, outOffset, head) -> {
                    System.arraycopy(bias, 0, out, outOffset, d);
                    for (int j = 0; j < r; j++) {
                        ops.axpy(ops.dot(in, inOffset, w1t, j * d, d), w2, j * d, out, outOffset, d);
                    }
                    ops.logSigmoid(out, outOffset, d, inverseTau);
                });
    }

    /** log σ(x) = −log(1 + e^{−x}), stable for both signs. */
    static double logSigmoid(double x) {
        return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
    }

    /** W₁, W₂, b: the configured ones or drawn from the seed for head dim d. */
    public float[][] weights(int d) {
        if (config.w1() != null) {
            return new float[][] {config.w1(), config.w2(), config.bias()};
        }
        SplittableRandom random = new SplittableRandom(config.seed());
        float[] w1 = new float[d * GATE_RANK], w2 = new float[GATE_RANK * d];
        for (int i = 0; i < w1.length; i++) {
            w1[i] = (float) (gaussian(random) / Math.sqrt(d));
        }
        for (int i = 0; i < w2.length; i++) {
            w2[i] = (float) (gaussian(random) / Math.sqrt(GATE_RANK));
        }
        return new float[][] {w1, w2, new float[d]};
    }

    private static double gaussian(SplittableRandom random) {
        // Box–Muller: SplittableRandom has no nextGaussian on every JDK this builds with
        double u = 1 - random.nextDouble(), v = random.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
}
