package io.attn4j.linear.hedgehog;

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
import io.attn4j.linear.Segments;
import io.attn4j.runtime.Engine;

import java.util.EnumSet;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Hedgehog: linear attention whose feature map is trained to mimic softmax attention (Zhang, Bhatia, Kumbong, Ré,
 * "The Hedgehog &amp; the Porcupine: Expressive Linear Attentions with Softmax Mimicry", ICLR 2024).
 *
 * <p><b>Algorithm.</b> Per head, with {@code u = W x + b} ({@code W}: F × D, {@code b}: F),
 * <pre>
 *   φ(x) = [exp(u_1), …, exp(u_F), exp(−u_1), …, exp(−u_F)]      (2F features)
 *   o_t  = Σ_s φ_q(q_t)·φ_k(k_s) v_s / Σ_s φ_q(q_t)·φ_k(k_s)       (causal: s ≤ t; noncausal: all keys)
 * </pre>
 * computed by {@link GatedLinearRecurrence} with no decay in all three {@link Form forms}. The ± pair makes every
 * feature positive and the kernel spiky and monotone in {@code u_q + u_k}, the two properties of softmax the paper
 * identifies; {@link HedgehogDiagnostics} measures them.
 *
 * <p><b>Choices.</b> Released Hedgehog code normalises each half with a softmax over its F features (one positive
 * factor per token); this map keeps the plain ("softmax-free") exponentials, so {@code φ_q·φ_k} is a sum of
 * {@code 2F} exponentials and a fixed W gives a fixed kernel. The weights are trained
 * parameters and come from the configuration: explicit {@link FeatureMaps} (one map per query head or per KV head
 * for queries, one per KV head for keys, or one map for all), or an initialisation — {@link Init#IDENTITY} (the
 * default: {@code W} the identity, F = D, or rows {@code e_{i mod D}} for F ≠ D, b = 0, one map shared by every
 * head and by queries and keys; then {@code φ_q(q)·φ_k(k) = Σ_i 2 cosh(q_i + k_i)}), or {@link Init#SEEDED}
 * ({@code W} with i.i.d. N(0, 1/D) entries, b = 0, drawn from the seed for each KV head, shared by the KV head's
 * keys and its queries). The call's scale is not applied: {@code W} absorbs it. GQA shares one state per KV head.
 *
 * <p><b>Stability.</b> Queries subtract their row's largest exponent {@code max_i |u_i|}: one positive factor per
 * query row, which cancels in the normalised output, leaves every query feature in (0, 1]. Keys take no
 * data-dependent stabiliser (it would break prefix invariance and state passing): their pre-activations are
 * clamped to {@code [−}{@value #KEY_CLAMP}{@code , }{@value #KEY_CLAMP}{@code ]}, so a key feature is at most
 * {@code e^40 ≈ 2.4e17} and float32 (max ≈ 3.4e38) keeps a factor of about 1.4e21 for the sums over tokens of
 * {@code φ(k)} and {@code φ(k) v}. Below the clamp φ is exactly the formula; a key beyond it saturates (its
 * features would exceed e^40, far outside what a trained map produces). ε ({@code epsilon}, default 1e-12) is added
 * to the stabilised normaliser and only guards one that underflowed.
 *
 * <p><b>State layout</b> per (sequence, KV head): S ({@code 2F × Dv}, row-major by feature), then z ({@code 2F}).
 *
 * <p><b>Complexity.</b> Feature maps O(n·F·D); attention O(n·F·Dv) per head in every form (chunked adds
 * O(n·C·(F + Dv))); state O(F·Dv) per KV head, constant in n.
 */
public final class Hedgehog extends RecurrentMechanism {
    /** Key pre-activations are clamped to ± this: key features stay below {@code e^40}. */
    public static final double KEY_CLAMP = 40;

    /** Where the weights come from when the configuration gives none. */
    public enum Init {
        /** {@code W = I} (rows {@code e_{i mod D}} when F ≠ D), b = 0, one map for every head, queries and keys. */
        IDENTITY,
        /** {@code W ~ N(0, 1/D)} i.i.d., b = 0, one map per KV head from {@code (seed, kvHead)}, tied q/k. */
        SEEDED
    }

    /**
     * Explicit feature maps. A map is a weight matrix ({@code F × D}, row-major) and a bias ({@code F}). Query maps
     * come one for all heads, one per KV head (query head h uses map {@code h / group}) or one per query head; key
     * maps one for all or one per KV head. Arrays are not copied.
     *
     * @param features     F (φ has 2F features)
     * @param dim          D
     * @param queryWeights query maps' weights, each {@code F·D} floats
     * @param queryBias    query maps' biases, each F floats, as many as {@code queryWeights}
     * @param keyWeights   key maps' weights
     * @param keyBias      key maps' biases
     */
    public record FeatureMaps(int features, int dim, float[][] queryWeights, float[][] queryBias,
                              float[][] keyWeights, float[][] keyBias) {
        public FeatureMaps {
            if (features < 1 || dim < 1) {
                throw new IllegalArgumentException("features = " + features + ", dim = " + dim
                        + "; allowed: both >= 1");
            }
            checkMaps("queryWeights", queryWeights, "queryBias", queryBias, features, dim);
            checkMaps("keyWeights", keyWeights, "keyBias", keyBias, features, dim);
        }

        private static void checkMaps(String wName, float[][] w, String bName, float[][] b, int f, int d) {
            if (w == null || b == null || w.length == 0 || w.length != b.length) {
                throw new IllegalArgumentException(wName + " and " + bName + " must hold the same number (>= 1) of "
                        + "maps; got " + (w == null ? "null" : w.length) + " and " + (b == null ? "null" : b.length));
            }
            for (int m = 0; m < w.length; m++) {
                if (w[m] == null || w[m].length != f * d) {
                    throw new IllegalArgumentException(wName + "[" + m + "] has "
                            + (w[m] == null ? "null" : w[m].length) + " floats; allowed: F·D = " + f + "·" + d + " = " + f * d);
                }
                if (b[m] == null || b[m].length != f) {
                    throw new IllegalArgumentException(bName + "[" + m + "] has "
                            + (b[m] == null ? "null" : b[m].length) + " floats; allowed: F = " + f);
                }
                for (float x : w[m]) {
                    requireFinite(wName, m, x);
                }
                for (float x : b[m]) {
                    requireFinite(bName, m, x);
                }
            }
        }

        private static void requireFinite(String name, int map, float x) {
            if (!Float.isFinite(x)) {
                throw new IllegalArgumentException(name + "[" + map + "] holds " + x + "; allowed: finite values");
            }
        }

        /** One map for every head, used by queries and keys alike. */
        public static FeatureMaps shared(int features, int dim, float[] weights, float[] bias) {
            return tied(features, dim, new float[][] {weights}, new float[][] {bias});
        }

        /** One map per KV head (or one for all), used by the KV head's keys and by its queries. */
        public static FeatureMaps tied(int features, int dim, float[][] weights, float[][] bias) {
            return new FeatureMaps(features, dim, weights, bias, weights, bias);
        }

        /** The identity-like map: {@code W_ij = 1} when {@code i mod D = j}, b = 0, shared. */
        public static FeatureMaps identity(int features, int dim) {
            float[] w = new float[features * dim];
            for (int i = 0; i < features; i++) {
                w[i * dim + i % dim] = 1f;
            }
            return shared(features, dim, w, new float[features]);
        }

        /** Checks that the maps fit a call's head dim and head counts. */
        public void check(String who, int headDim, int heads, int kvHeads) {
            if (headDim != dim) {
                throw new IllegalArgumentException(who + ": the feature maps take head dim " + dim + "; this call has "
                        + headDim);
            }
            int nq = queryWeights.length, nk = keyWeights.length;
            if (nq != 1 && nq != kvHeads && nq != heads) {
                throw new IllegalArgumentException(who + ": " + nq + " query maps; allowed for " + heads
                        + " query heads and " + kvHeads + " KV heads: 1, " + kvHeads + " or " + heads);
            }
            if (nk != 1 && nk != kvHeads) {
                throw new IllegalArgumentException(who + ": " + nk + " key maps; allowed for " + kvHeads
                        + " KV heads: 1 or " + kvHeads);
            }
        }

        /** The query map of query head {@code h} in a call with the given head counts. */
        public int queryMap(int h, int heads, int kvHeads) {
            int n = queryWeights.length;
            return n == 1 ? 0 : n == heads ? h : h / (heads / kvHeads);
        }

        /** The key map of KV head {@code g}. */
        public int keyMap(int g) {
            return keyWeights.length == 1 ? 0 : g;
        }

        /** {@code u = W x + b} of map {@code m} into {@code out[0, F)}. */
        private void preActivations(float[] weights, float[] bias, float[] x, int offset, double[] out) {
            for (int i = 0; i < features; i++) {
                double u = bias[i];
                for (int j = 0; j < dim; j++) {
                    u += (double) weights[i * dim + j] * x[offset + j];
                }
                out[i] = u;
            }
        }

        /** The formula {@code φ(x) = [exp(u), exp(−u)]}, {@code u = W x + b}, of query map {@code map}, in float64. */
        public double[] queryFeatures(int map, float[] x, int offset) {
            return exactFeatures(queryWeights[map], queryBias[map], x, offset);
        }

        /** The formula {@code φ(x) = [exp(u), exp(−u)]} of key map {@code map}, in float64 (no clamp). */
        public double[] keyFeatures(int map, float[] x, int offset) {
            return exactFeatures(keyWeights[map], keyBias[map], x, offset);
        }

        private double[] exactFeatures(float[] w, float[] b, float[] x, int offset) {
            double[] u = new double[features];
            preActivations(w, b, x, offset, u);
            double[] out = new double[2 * features];
            for (int i = 0; i < features; i++) {
                out[i] = Math.exp(u[i]);
                out[features + i] = Math.exp(-u[i]);
            }
            return out;
        }

        /** Query features as computed: {@code exp(±u_i − max_j |u_j|)}, in (0, 1]. */
        void query(int map, float[] x, int offset, float[] out, int outOffset, double[] scratch) {
            preActivations(queryWeights[map], queryBias[map], x, offset, scratch);
            double max = 0;
            for (int i = 0; i < features; i++) {
                max = Math.max(max, Math.abs(scratch[i]));
            }
            for (int i = 0; i < features; i++) {
                out[outOffset + i] = (float) Math.exp(scratch[i] - max);
                out[outOffset + features + i] = (float) Math.exp(-scratch[i] - max);
            }
        }

        /** Key features as computed: {@code exp(±clamp(u_i, ±KEY_CLAMP))}, at most {@code e^40}. */
        void key(int map, float[] x, int offset, float[] out, int outOffset, double[] scratch) {
            preActivations(keyWeights[map], keyBias[map], x, offset, scratch);
            for (int i = 0; i < features; i++) {
                double u = Math.max(-KEY_CLAMP, Math.min(KEY_CLAMP, scratch[i]));
                out[outOffset + i] = (float) Math.exp(u);
                out[outOffset + features + i] = (float) Math.exp(-u);
            }
        }
    }

    /**
     * @param features F: {@code 0} for the head dim D (with an initialisation), else {@code >= 1}; must equal the
     *                 explicit maps' F when they are given
     * @param init     the initialisation used when {@code maps} is null
     * @param seed     the seed of {@link Init#SEEDED}
     * @param maps     explicit feature maps, or {@code null}
     * @param epsilon  ε added to the normaliser, {@code >= 0}
     * @param form     the form {@code forward} uses
     */
    public record Config(int features, Init init, long seed, FeatureMaps maps, float epsilon, Form form)
            implements MechanismConfig {
        public Config {
            Objects.requireNonNull(init, "init");
            Objects.requireNonNull(form, "form");
            if (features < 0 || features > 65536) {
                throw new IllegalArgumentException("features = " + features + "; allowed: 0 (the head dim) to 65536");
            }
            if (maps != null && features != maps.features()) {
                throw new IllegalArgumentException("features = " + features + " but the explicit maps have "
                        + maps.features() + "; allowed: equal");
            }
            if (!(epsilon >= 0) || Float.isInfinite(epsilon)) {
                throw new IllegalArgumentException("epsilon = " + epsilon + "; allowed: finite and >= 0");
            }
        }

        /** Identity maps with F = D, ε = 1e-12, chunked. */
        public static Config defaults() {
            return new Config(0, Init.IDENTITY, 0L, null, 1e-12f, Form.chunked());
        }

        /** Explicit (trained) maps, ε = 1e-12, chunked. */
        public static Config of(FeatureMaps maps) {
            return new Config(maps.features(), Init.IDENTITY, 0L, maps, 1e-12f, Form.chunked());
        }

        /** Seeded N(0, 1/D) maps with F features (0: D). */
        public static Config seeded(int features, long seed) {
            return new Config(features, Init.SEEDED, seed, null, 1e-12f, Form.chunked());
        }

        public Config withForm(Form newForm) {
            return new Config(features, init, seed, maps, epsilon, newForm);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("hedgehog", Family.LINEAR,
            "Hedgehog (trainable exp(±(Wx + b)) feature maps mimicking softmax)",
            "Zhang, Bhatia, Kumbong, Ré: \"The Hedgehog & the Porcupine: Expressive Linear Attentions with Softmax "
                    + "Mimicry\", ICLR 2024 (arXiv:2402.04347)",
            EnumSet.allOf(Pattern.class), Weights.TRAINED, false, false, false, "O(n f (d + dv))",
            "O(f dv) per KV head", Config.class, Config.defaults(),
            (config, engine) -> new Hedgehog((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT, Guarantee.PACKED_DOCUMENTS));

    private static final ThreadLocal<double[]> SCRATCH = ThreadLocal.withInitial(() -> new double[0]);

    private final Config config;
    /** Initialised maps by (head dim, KV heads). */
    private final ConcurrentHashMap<Long, FeatureMaps> initialised = new ConcurrentHashMap<>();

    public Hedgehog(Config config, Engine engine) {
        super(engine);
        this.config = Objects.requireNonNull(config, "config");
    }

    public Hedgehog(Config config) {
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

    /** F for a head dim. */
    private int features(int headDim) {
        return config.maps() != null ? config.maps().features()
                : config.features() == 0 ? headDim : config.features();
    }

    /** The maps a call with this head dim and KV head count uses: the explicit ones or the initialisation's. */
    public FeatureMaps maps(int headDim, int kvHeads) {
        if (config.maps() != null) {
            return config.maps();
        }
        int f = features(headDim);
        return switch (config.init()) {
            case IDENTITY -> initialised.computeIfAbsent((long) headDim << 32,
                    key -> FeatureMaps.identity(f, headDim));
            case SEEDED -> initialised.computeIfAbsent(((long) headDim << 32) | kvHeads, key -> {
                float[][] w = new float[kvHeads][f * headDim];
                float[][] b = new float[kvHeads][f];
                double sd = 1 / Math.sqrt(headDim);
                for (int g = 0; g < kvHeads; g++) {
                    SplittableRandom random = new SplittableRandom(config.seed() + g * 0x9E3779B97F4A7C15L);
                    for (int i = 0; i < w[g].length; i++) {
                        w[g][i] = (float) (sd * random.nextGaussian());
                    }
                }
                return FeatureMaps.tied(f, headDim, w, b);
            });
        };
    }

    @Override
    protected boolean updatesInPlace() {
        return true;
    }

    @Override
    public int stateSize(AttentionProblem p) {
        return GatedLinearRecurrence.stateSize(2 * features(p.headDim()), p.valueDim(), true);
    }

    @Override
    protected void check(AttentionProblem p, Segments segments) {
        maps(p.headDim(), p.kvHeads()).check(DESCRIPTOR.id(), p.headDim(), p.heads(), p.kvHeads());
    }

    /**
     * The feature maps (one affine map of D to f per query and key row, {@code 2·D·f}, then exp(±·)) and one pass of
     * the {@link GatedLinearRecurrence#flops recurrence} with {@code F = 2f} and the normaliser.
     */
    @Override
    public Work work(Work.Shape s, boolean causal, Form form) {
        int f = features(s.headDim());
        double rows = (double) s.batch() * (s.queryLength() * s.heads() + s.keyLength() * s.kvHeads());
        return Work.formula(2.0 * s.headDim() * f * rows
                        + GatedLinearRecurrence.flops(s, 2 * f, s.valueDim() + 1, false, causal, form),
                operandBytes(s), "feature maps 2·D·f per row, recurrence with F = 2f = " + 2 * f + ", " + form);
    }

    @Override
    protected void compute(Call call, Form form) {
        AttentionProblem p = call.problem();
        FeatureMaps maps = maps(p.headDim(), p.kvHeads());
        int f = maps.features(), heads = p.heads(), kvHeads = p.kvHeads();
        HeadView q = Features.map(engine, p.q(), p.batch(), p.queryLength(), heads, 2 * f,
                (in, inOffset, out, outOffset, h) -> maps.query(maps.queryMap(h, heads, kvHeads), in, inOffset, out,
                        outOffset, scratch(f)));
        HeadView k = Features.map(engine, p.k(), p.batch(), p.keyLength(), kvHeads, 2 * f,
                (in, inOffset, out, outOffset, g) -> maps.key(maps.keyMap(g), in, inOffset, out, outOffset,
                        scratch(f)));
        GatedLinearRecurrence.run(engine, call, new GatedLinearRecurrence.Operands(q, k, p.v(), 2 * f, 1f,
                new GatedLinearRecurrence.None(), true, config.epsilon()), form);
    }

    private static double[] scratch(int size) {
        double[] s = SCRATCH.get();
        if (s.length < size) {
            s = new double[size];
            SCRATCH.set(s);
        }
        return s;
    }
}
