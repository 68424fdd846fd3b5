package io.attn4j.linear.mamba;

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
import io.attn4j.linear.LinearState;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.linear.RecurrentResult;
import io.attn4j.linear.Segments;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Mamba's selective state space: a diagonal linear recurrence whose step Δ, input matrix B and output matrix C
 * depend on the token (Gu and Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", 2023).
 *
 * <p><b>Algorithm.</b> Per sequence, KV head, channel {@code c < Dv} and state index {@code n < N}:
 * <pre>
 *   h_t[c, n] = exp(Δ_t[c]·A[c, n]) · h_{t−1}[c, n] + Δ_t[c] · B_t[n] · x_t[c]
 *   y_t[c]    = Σ_n C_t[n] · h_t[c, n] + D[c] · x_t[c]
 * </pre>
 * (zero-order hold for A, the paper's simplified Euler step {@code Δ·B} for B). On the attention API, in the
 * state-space-duality view of Mamba-2: {@code x = v} (Dv channels per KV head), {@code B = k} (N = the head dim),
 * {@code C = q} — query heads read the state of their KV head (GQA) — and
 * {@code Δ_t[c] = softplus(v_t · wΔ[c] + bΔ[c])}, {@code A[c, n] = −exp(A_log[c, n])}, D a skip per channel. The
 * three {@link Form forms} are in {@link SelectiveScan}; {@link #scan} takes Δ, A, B, C, D directly.
 *
 * <p><b>Choices the paper leaves open here.</b>
 * <ul>
 *   <li>Parameters: {@link Parameters} hold {@code wΔ} ({@code Dv × Dv}, full rank where the paper projects from a
 *       low-rank {@code dt_rank} input), {@code bΔ}, {@code A_log} ({@code Dv × N}) and D ({@code Dv}), one set
 *       shared by every KV head or one per KV head. Explicit ones fix Dv and N; without, they are initialised
 *       from the configuration's seed for each call's dimensions and shared by the heads: the paper's init —
 *       {@code wΔ ~ U(±Dv^−½)}, {@code bΔ = softplus⁻¹(Δ₀)} with {@code Δ₀} log-uniform in [0.001, 0.1], the S4D-real
 *       {@code A = −(n + 1)}, {@code D = 1}.</li>
 *   <li>The call's scale is not applied: C is used as given, as in the paper.</li>
 *   <li>A query placed before the first key (more queries than keys) reads the initial state and has no skip
 *       term.</li>
 *   <li>The state per (sequence, KV head) is {@code h}, {@code Dv × N} row-major by channel ({@code h[c·N + n]}).
 *       Causal only: CS, CC and decode.</li>
 * </ul>
 *
 * <p><b>Complexity.</b> Time O(n·Dv·(N·Hq/Hkv + Dv)) per KV head in every form (the chunked form adds at most one
 * correction pass per part, cut short once the start state has decayed); state O(Dv·N) per KV head.
 */
public final class Mamba extends RecurrentMechanism {

    /**
     * Mamba's trained parameters.
     *
     * @param heads       1 (shared by every KV head) or the call's KV heads
     * @param valueDim    Dv
     * @param stateDim    N (the head dim of q and k)
     * @param deltaWeight wΔ, {@code [heads, Dv, Dv]}: {@code Δ[c] = softplus(Σ_j v[j] · wΔ[c, j] + bΔ[c])}
     * @param deltaBias   bΔ, {@code [heads, Dv]}
     * @param aLog        A_log, {@code [heads, Dv, N]}: {@code A = −exp(A_log)}
     * @param skip        D, {@code [heads, Dv]}
     */
    public record Parameters(int heads, int valueDim, int stateDim, float[] deltaWeight, float[] deltaBias,
                             float[] aLog, float[] skip) {
        public Parameters {
            if (heads < 1 || valueDim < 1 || stateDim < 1) {
                throw new IllegalArgumentException("mamba parameters for heads = " + heads + ", Dv = " + valueDim
                        + ", N = " + stateDim + "; allowed: every size >= 1");
            }
            requireLength("deltaWeight", deltaWeight, heads * valueDim * valueDim, "[heads, Dv, Dv]");
            requireLength("deltaBias", deltaBias, heads * valueDim, "[heads, Dv]");
            requireLength("aLog", aLog, heads * valueDim * stateDim, "[heads, Dv, N]");
            requireLength("skip", skip, heads * valueDim, "[heads, Dv]");
            for (int i = 0; i < aLog.length; i++) {
                // A = −exp(A_log) must be a finite negative number
                if (!Float.isFinite(aLog[i]) || !Float.isFinite((float) -Math.exp(aLog[i]))) {
                    throw new IllegalArgumentException("aLog[" + i + "] = " + aLog[i]
                            + "; allowed: finite with exp(aLog) finite in float32 (aLog < 88)");
                }
            }
        }

        private static void requireLength(String name, float[] values, int expected, String shape) {
            Objects.requireNonNull(values, name);
            if (values.length != expected) {
                throw new IllegalArgumentException(name + " has " + values.length + " values; allowed: " + expected
                        + " (" + shape + ")");
            }
            for (int i = 0; i < values.length; i++) {
                if (!Float.isFinite(values[i])) {
                    throw new IllegalArgumentException(name + "[" + i + "] = " + values[i] + "; allowed: finite");
                }
            }
        }

        /**
         * The paper's initialisation, one set shared by every KV head: {@code wΔ ~ U(±Dv^−½)},
         * {@code bΔ = softplus⁻¹(Δ₀)} with {@code Δ₀} log-uniform in [0.001, 0.1], {@code A_log[c, n] = ln(n + 1)}
         * (S4D-real: {@code A = −(n + 1)}), {@code D = 1}.
         */
        public static Parameters initial(long seed, int valueDim, int stateDim) {
            SplittableRandom random = new SplittableRandom(seed);
            float[] weight = new float[valueDim * valueDim];
            double bound = 1 / Math.sqrt(valueDim);
            for (int i = 0; i < weight.length; i++) {
                weight[i] = (float) ((2 * random.nextDouble() - 1) * bound);
            }
            float[] bias = new float[valueDim];
            for (int c = 0; c < valueDim; c++) {
                double delta0 = Math.exp(Math.log(0.001) + random.nextDouble() * (Math.log(0.1) - Math.log(0.001)));
                bias[c] = (float) (delta0 + Math.log(-Math.expm1(-delta0))); // softplus⁻¹(Δ₀)
            }
            float[] aLog = new float[valueDim * stateDim];
            for (int c = 0; c < valueDim; c++) {
                for (int n = 0; n < stateDim; n++) {
                    aLog[c * stateDim + n] = (float) Math.log(n + 1);
                }
            }
            float[] skip = new float[valueDim];
            Arrays.fill(skip, 1f);
            return new Parameters(1, valueDim, stateDim, weight, bias, aLog, skip);
        }
    }

    /**
     * @param seed       seeds the parameters when {@code parameters} is null
     * @param parameters explicit parameters, or {@code null} for the seeded init at each call's dimensions
     * @param form       the form {@code forward} uses
     */
    public record Config(long seed, Parameters parameters, Form form) implements MechanismConfig {
        public Config {
            Objects.requireNonNull(form, "form");
        }

        /** Seeded parameters (seed 0x4d414d4241), chunked. */
        public static Config defaults() {
            return new Config(0x4d414d4241L, null, Form.chunked());
        }

        public static Config of(Parameters parameters) {
            return new Config(0, Objects.requireNonNull(parameters, "parameters"), Form.chunked());
        }

        public Config withForm(Form newForm) {
            return new Config(seed, parameters, newForm);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("mamba", Family.LINEAR,
            "Mamba selective scan (input-dependent Δ, B, C; diagonal A; x = v, B = k, C = q)",
            "Gu, Dao: \"Mamba: Linear-Time Sequence Modeling with Selective State Spaces\", 2023 (arXiv:2312.00752)",
            EnumSet.of(Pattern.CS, Pattern.CC, Pattern.DECODE), Weights.TRAINED, false, false, false,
            "O(n dv (d + dv))", "O(dv d) per KV head",
            Config.class, Config.defaults(), (config, engine) -> new Mamba((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT, Guarantee.PACKED_DOCUMENTS));

    private final Config config;
    private volatile Parameters seeded;

    public Mamba(Config config, Engine engine) {
        super(engine);
        this.config = Objects.requireNonNull(config, "config");
    }

    public Mamba(Config config) {
        this(config, Engine.defaults());
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
    public int stateSize(AttentionProblem p) {
        return p.valueDim() * p.headDim();
    }

    @Override
    protected void check(AttentionProblem p, Segments segments) {
        Parameters w = config.parameters();
        if (w != null && (w.valueDim() != p.valueDim() || w.stateDim() != p.headDim()
                || (w.heads() != 1 && w.heads() != p.kvHeads()))) {
            throw new IllegalArgumentException("mamba's parameters are for " + w.heads() + " head(s), Dv = "
                    + w.valueDim() + ", N = " + w.stateDim() + "; this call has " + p.kvHeads() + " KV heads, Dv = "
                    + p.valueDim() + ", head dim " + p.headDim() + " (allowed: equal Dv and N, heads 1 or the KV heads)");
        }
    }

    /** The parameters of a call: the explicit ones, or the seeded init for its dimensions. */
    public Parameters parameters(int valueDim, int stateDim) {
        if (config.parameters() != null) {
            return config.parameters();
        }
        Parameters w = seeded;
        if (w == null || w.valueDim() != valueDim || w.stateDim() != stateDim) {
            w = Parameters.initial(config.seed(), valueDim, stateDim);
            seeded = w;
        }
        return w;
    }

    @Override
    public Work work(Work.Shape s, boolean causal, Form form) {
        return scanWork(s, form);
    }

    /**
     * The selective scan's work: per key row and KV head, Δ from the values ({@code 2·Dv²}) and the state write
     * ({@code 2·Dv·N}, N = D); per query row, the state read ({@code 2·Dv·N}); the decays {@code exp(Δ·A)} are
     * element-wise.
     */
    static Work scanWork(Work.Shape s, Form form) {
        double keys = (double) s.batch() * s.keyLength() * s.kvHeads();
        double queries = (double) s.batch() * s.queryLength() * s.heads();
        double dv = s.valueDim(), n = s.headDim();
        return Work.formula(keys * (2 * dv * dv + 2 * dv * n) + queries * 2 * dv * n, operandBytes(s),
                "selective scan, 2·Dv² + 2·Dv·N per key row, 2·Dv·N per query row, " + form);
    }

    @Override
    protected void compute(Call call, Form form) {
        AttentionProblem p = call.problem();
        int dv = p.valueDim(), n = p.headDim(), kvHeads = p.kvHeads();
        Parameters w = parameters(dv, n);
        VectorOps ops = engine.ops();
        HeadView delta = Features.map(engine, p.v(), p.batch(), p.keyLength(), kvHeads, dv,
                (in, inOffset, out, outOffset, head) -> {
                    int hp = w.heads() == 1 ? 0 : head;
                    for (int c = 0; c < dv; c++) {
                        float z = ops.dot(w.deltaWeight(), (hp * dv + c) * dv, in, inOffset, dv)
                                + w.deltaBias()[hp * dv + c];
                        out[outOffset + c] = softplus(z);
                    }
                });
        float[] a = new float[kvHeads * dv * n];
        float[] skip = new float[kvHeads * dv];
        for (int g = 0; g < kvHeads; g++) {
            int hp = w.heads() == 1 ? 0 : g;
            for (int x = 0; x < dv * n; x++) {
                a[g * dv * n + x] = (float) -Math.exp(w.aLog()[hp * dv * n + x]);
            }
            System.arraycopy(w.skip(), hp * dv, skip, g * dv, dv);
        }
        SelectiveScan.run(engine, call, new SelectiveScan.Operands(delta, a, skip), form);
    }

    /** {@code softplus(z) = ln(1 + e^z)}, computed without overflow: {@code z} itself above 20. */
    static float softplus(float z) {
        return z > 20f ? z : (float) Math.log1p(Math.exp(z));
    }

    // ------------------------------------------------------------------------------------------ explicit API

    /** {@link #scan(Engine, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, AttentionSpec, LinearState, Form)}, causal. */
    public static RecurrentResult scan(Engine engine, Tensor x, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d,
                                       LinearState initial, Form form) {
        return scan(engine, x, delta, a, b, c, d, AttentionSpec.causal(), initial, form);
    }

    /**
     * The selective scan on explicit operands, in any form, continuing from {@code initial} ({@code null}: zeros).
     *
     * @param x       inputs, {@code [B, L, H, Dv]} in the spec's layout (H: the state's heads)
     * @param delta   Δ, the shape of x; finite and {@code >= 0}
     * @param a       A, {@code [H, Dv, N]}; finite and {@code <= 0}
     * @param b       B, {@code [B, L, H, N]}
     * @param c       C, {@code [B, Lq, Hq, N]} with {@code Hq} a multiple of H (query head h reads head
     *                {@code h / (Hq / H)})
     * @param d       D, {@code [H, Dv]}, or {@code null} for no skip term
     * @param spec    causal, optionally with packed documents
     * @return the output {@code y} ({@code [B, Lq, Hq, Dv]}) and the final state h
     * @throws IllegalArgumentException naming the operand that does not fit, before anything is written
     */
    public static RecurrentResult scan(Engine engine, Tensor x, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d,
                                       AttentionSpec spec, LinearState initial, Form form) {
        return new Explicit(engine, delta, a, d).run(c, b, x, spec, initial, form);
    }

    /** The scan on given Δ, A and D, behind the same validation as the mechanism. */
    private static final class Explicit extends RecurrentMechanism {
        private final Tensor delta, a, d;

        Explicit(Engine engine, Tensor delta, Tensor a, Tensor d) {
            super(engine);
            this.delta = Objects.requireNonNull(delta, "delta");
            this.a = Objects.requireNonNull(a, "a");
            this.d = d;
        }

        @Override
        public Mechanism descriptor() {
            return DESCRIPTOR;
        }

        @Override
        public Form form() {
            return Form.chunked();
        }

        @Override
        public boolean gated() {
            return true;
        }

        @Override
        public int stateSize(AttentionProblem p) {
            return p.valueDim() * p.headDim();
        }

        @Override
        protected void check(AttentionProblem p, Segments segments) {
            Layout layout = p.layout();
            int[] xShape = layout.shape(p.batch(), p.keyLength(), p.kvHeads(), p.valueDim());
            if (!Arrays.equals(delta.shape(), xShape)) {
                throw new IllegalArgumentException("delta has shape " + Arrays.toString(delta.shape())
                        + "; allowed: the shape of x, " + Arrays.toString(xShape));
            }
            int[] aShape = {p.kvHeads(), p.valueDim(), p.headDim()};
            if (!Arrays.equals(a.shape(), aShape)) {
                throw new IllegalArgumentException("a has shape " + Arrays.toString(a.shape()) + "; allowed: "
                        + Arrays.toString(aShape) + " ([heads, Dv, N])");
            }
            if (d != null && !Arrays.equals(d.shape(), new int[] {p.kvHeads(), p.valueDim()})) {
                throw new IllegalArgumentException("d has shape " + Arrays.toString(d.shape()) + "; allowed: ["
                        + p.kvHeads() + ", " + p.valueDim() + "] ([heads, Dv]) or null");
            }
            requireSign("delta", delta, false);
            requireSign("a", a, true);
            if (d != null) {
                int[] at = d.firstNonFinite();
                if (at != null) {
                    throw new IllegalArgumentException("d holds " + d.get(at) + " at " + Arrays.toString(at)
                            + "; allowed: finite values");
                }
            }
        }

        private static void requireSign(String name, Tensor t, boolean nonPositive) {
            float[] values = t.toArray();
            for (int i = 0; i < values.length; i++) {
                float v = values[i];
                if (!Float.isFinite(v) || (nonPositive ? v > 0 : v < 0)) {
                    throw new IllegalArgumentException(name + " holds " + v + " at flat index " + i + "; allowed: "
                            + "finite values " + (nonPositive ? "<= 0 (a positive A makes the state grow "
                            + "without bound)" : ">= 0 (a negative step makes the decay exp(Δ·A) grow)"));
                }
            }
        }

        @Override
        public Work work(Work.Shape s, boolean causal, Form form) {
            return scanWork(s, form);
        }

        @Override
        protected void compute(Call call, Form form) {
            Tensor dense = Tensor.of(delta.toArray(), delta.shape());
            Layout layout = call.problem().layout();
            HeadView deltaView = new HeadView(dense.array(), 0, (int) dense.stride(layout.batchAxis()),
                    (int) dense.stride(layout.seqAxis()), (int) dense.stride(layout.headAxis()));
            float[] skip = d == null ? new float[call.problem().kvHeads() * call.problem().valueDim()] : d.toArray();
            SelectiveScan.run(engine, call, new SelectiveScan.Operands(deltaView, a.toArray(), skip), form);
        }
    }
}
