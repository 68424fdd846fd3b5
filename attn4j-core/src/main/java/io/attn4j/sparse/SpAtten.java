package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.Observers;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.UnsupportedInputException;
import io.attn4j.attention.Work;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;

/**
 * Cascade token and head pruning: SpAtten (Wang, Zhang, Han, "SpAtten: Efficient Sparse Attention Architecture
 * with Cascade Token and Head Pruning", HPCA 2021). A token's importance is the attention probability it receives,
 * summed over queries and heads and accumulated layer after layer; a head's importance is the magnitude of its
 * output, accumulated the same way. Tokens and heads of low cumulative importance are pruned, and a pruned token
 * or head never comes back in a later layer. The paper's hardware (top-k engine, progressive quantisation) is not
 * modelled; its algorithm is, in two forms.
 *
 * <p><b>{@link Cascade}: the algorithm across layers.</b> One object per forward pass, called once per layer in
 * order. Before layer {@code l > 0} it keeps, in every batch row, the {@code ⌈tokenKeep[l]·n⌉} alive tokens of
 * highest cumulative importance and the {@code ⌈headKeep[l]·H⌉} alive heads of highest cumulative head importance
 * (ratios of the original counts, non-increasing, 1 at layer 0 where no importance exists yet). The layer then
 * runs exact attention ({@code flash}) among the alive tokens only, for the alive heads only: pruned tokens are
 * gone as keys <em>and</em> as queries (their output rows are zero, like a pruned head's output), as in the paper,
 * where a pruned token leaves the sequence. {@code flash}'s column-mass observer gives each alive key's received
 * probability {@code Σ_i p_ij} per head; their sum over heads is added to the token's importance, and the L1 norm
 * of each head's output {@code Σ_i Σ_c |o_ic|} to the head's.
 *
 * <p><b>{@code spatten}: one layer, stateless</b> (the catalog mechanism). With no earlier layers to accumulate
 * from, importance is estimated within the call: {@code flash} with the column-mass observer runs the last
 * {@code observation} queries against every key (bottom-right aligned, so causal queries see their own prefix), and
 * each (batch, query head) keeps the {@code budget} keys of highest column mass. Keys and values of the kept
 * indices are gathered per head into contiguous tensors and {@code flash} attends to them exactly; causal, the
 * mask is carried over to the original positions (kept key {@code j} of a head is visible to query {@code i} iff
 * its original index is {@code <= i}, an interval because kept indices ascend), and every causal query also sees
 * its own key, merged exactly from its logit and the gathered part's log-sum-exp when it was pruned. A block
 * mask cannot express per-key selections cheaply; the gather costs O(n·d) per head.
 *
 * <p><b>Choices</b> (the paper leaves these to the hardware or the task):
 * <ul>
 *   <li>The stateless form selects per query head (GQA gathers each query head's own keys from its KV head), so
 *       GQA gives the same output as repeating the KV heads. The cascade prunes tokens per batch row for all
 *       heads together, as the paper does, and heads per batch row.</li>
 *   <li>Importance ties go to the earlier token or head. Causal, the last token is never pruned by the cascade
 *       (it is the one generation continues from), and every query keeps itself in the stateless form.</li>
 *   <li>Head magnitude is the L1 norm of the head's output (the paper's "magnitude"), summed over alive queries.
 *   </li>
 *   <li>Default stateless budget: 25 % of the keys from the last 64 queries. Default cascade schedule
 *       ({@link CascadeConfig#defaults}): nothing pruned in the first quarter of the layers (importance is noisy
 *       there), then token keep ratios falling geometrically to 25 % and head keep ratios to 75 % at the last
 *       layer: a progressive cascade like the paper's, whose exact per-task ratios are tuned per benchmark.</li>
 *   <li>No masks, score mods, log-sum-exp or observers: the selection is the mask. Patterns NS and CS; decode is
 *       refused (in decode the cascade is a KV-cache policy, not an attention call).</li>
 *   <li>Neither form is prefix invariant (importance depends on the whole sequence).</li>
 * </ul>
 *
 * <p><b>Fidelity</b> (tested at the defaults on 1024 structured tokens): the sinks and every needle are kept; the
 * kept keys hold >= 0.5 (causal) / >= 0.4 (noncausal) of the attention mass and the output's relative error is
 * <= 1.0 / 1.3. Token pruning keeps the globally important tokens and drops most of each query's neighbourhood,
 * which is most of the mass of locality-dominated attention: it suits inputs whose important tokens are global
 * (the paper's classification and summarisation tasks), not local language modelling.
 *
 * <p><b>Complexity.</b> Stateless: O(obs·n·d) to estimate, O(n log n) per head to rank, O(n·m·d) to attend to
 * m = budget keys (half for causal), O(B·H·m·(d + Dv)) extra memory for the gathered keys and values. Cascade: layer
 * l costs O(n_l²·a_l·d) for n_l alive tokens and a_l alive heads, so the cascade's cost falls layer by layer;
 * state O(B·(n + H)).
 */
public final class SpAtten implements SparseAttention {

    /**
     * @param budget      keys kept per (batch, query head): tokens or a share of the key length
     * @param observation the last queries whose column mass ranks the keys ({@code >= 1})
     * @param blockQ      queries per tile of the kernel
     * @param blockK      keys per tile of the kernel
     */
    public record Config(KeyBudget budget, int observation, int blockQ, int blockK) implements MechanismConfig {
        public Config {
            Objects.requireNonNull(budget, "budget");
            if (observation < 1) {
                throw new IllegalArgumentException("observation = " + observation + "; allowed: >= 1 queries");
            }
            SlidingWindow.checkBlocks(blockQ, blockK);
        }

        /** {@code budget} ranked by the last 64 queries, default tiles. */
        public static Config of(KeyBudget budget) {
            return new Config(budget, 64, 128, 64);
        }

        /** 25 % of the keys. */
        public static Config defaults() {
            return of(KeyBudget.ratio(0.25));
        }

        public Config withObservation(int newObservation) {
            return new Config(budget, newObservation, blockQ, blockK);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("spatten", Family.SPARSE,
            "SpAtten (cascade token and head pruning by cumulative attention importance)",
            "Wang, Zhang, Han: \"SpAtten: Efficient Sparse Attention Architecture with Cascade Token and Head "
                    + "Pruning\", HPCA 2021 (arXiv:2012.09852)",
            EnumSet.of(Pattern.NS, Pattern.CS), Weights.FREE, false, false, false,
            "O(obs n d + n m d), m = budget", "O(B H m (d + Dv)) gathered keys and values", Config.class,
            Config.defaults(), (config, engine) -> new SpAtten((Config) config, engine));

    private final Config config;
    private final Engine engine;
    private final FlashAttention flash;

    public SpAtten(Config config, Engine engine) {
        this.config = Objects.requireNonNull(config, "config");
        this.engine = Objects.requireNonNull(engine, "engine");
        this.flash = new FlashAttention(new FlashAttention.Config(config.blockQ(), config.blockK()), engine);
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    public Config config() {
        return config;
    }

    /** A cascade for one forward pass with this mechanism's tiles and engine. */
    public Cascade cascade(CascadeConfig schedule) {
        return new Cascade(schedule, engine, config.blockQ(), config.blockK());
    }

    @Override
    public AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        AttentionProblem p = problem(DESCRIPTOR, q, k, v, spec, out);
        Selection selection = select(p, q, k, v, spec);
        if (selection == null) {
            return flash.run(p, BlockMask.of(p.mask(), p.batch(), p.heads(), p.queryLength(), p.keyLength(),
                    config.blockQ(), config.blockK()));
        }
        return attend(p, selection, q);
    }

    @Override
    public KeptKeys keptKeys(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        AttentionProblem p = problem(DESCRIPTOR, q, k, v, spec, null);
        Selection selection = select(p, q, k, v, spec);
        int offset = p.keyLength() - p.queryLength(), heads = p.heads();
        boolean causal = spec.isCausal();
        if (selection == null) {
            return (b, h, i, j) -> !causal || j <= i + offset;
        }
        return (b, h, i, j) -> {
            int position = i + offset;
            if (causal && j > position) {
                return false;
            }
            return selection.kept[b * heads + h][j] || (causal && j == position);
        };
    }

    /**
     * Exact attention on the kept pairs, and as the selection the estimate of importance: the last
     * {@code observation} queries against every visible key with the column-mass observer, {@code 2·(D + Dv)} per
     * pair and {@code 2·D} more for the mass's second sweep (none when the budget keeps every key).
     */
    @Override
    public Work work(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        Work kept = SparseAttention.super.work(q, k, v, spec);
        Work.Shape s = Work.Shape.of(q, k, v, spec);
        if (config.budget().keysOf(s.keyLength()) >= s.keyLength()) {
            return kept.withSelection(0, "none (the budget keeps every key)");
        }
        int observed = Math.min(config.observation(), s.queryLength());
        Work estimate = Work.dense(new Work.Shape(s.batch(), observed, s.keyLength(), s.heads(), s.kvHeads(),
                s.headDim(), s.valueDim()), AttentionSpec.noncausal().causal(spec.isCausal()));
        double perPair = 2.0 * (s.headDim() + s.valueDim());
        return kept.withSelection(estimate.flops() / perPair * (perPair + 2.0 * s.headDim()), "the last "
                + observed + " queries against every visible key with the column-mass observer (2·(D + Dv) per pair, "
                + "2·D more for the mass)");
    }

    /** The keys each (batch, query head) keeps, ascending, and as membership flags. */
    private record Selection(int[][] indices, boolean[][] kept) {
    }

    /** The top keys by the column mass of the last queries, or {@code null} when the budget keeps every key. */
    private Selection select(AttentionProblem p, Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        int lq = p.queryLength(), lk = p.keyLength(), heads = p.heads();
        int m = config.budget().keysOf(lk);
        if (m >= lk) {
            return null;
        }
        Layout layout = spec.layout();
        int observed = Math.min(config.observation(), lq);
        Tensor recent = q.slice(layout.seqAxis(), lq - observed, lq);
        AttentionSpec observe = AttentionSpec.noncausal().causal(spec.isCausal()).scale(p.scale()).layout(layout)
                .checkFinite(false).observe(Observers.columnMass());
        float[] mass = flash.forward(recent, k, v, observe).columnMass().array(); // [B, H, Lk]
        int[][] indices = new int[p.batch() * heads][];
        boolean[][] kept = new boolean[p.batch() * heads][];
        engine.parallelFor(p.batch() * heads, bh -> {
            float[] scores = Arrays.copyOfRange(mass, bh * lk, (bh + 1) * lk);
            int[] top = new int[lk];
            int count = TileSelection.top(scores, lk, new boolean[lk], m, top);
            int[] chosen = Arrays.copyOf(top, count);
            Arrays.sort(chosen);
            boolean[] flags = new boolean[lk];
            for (int j : chosen) {
                flags[j] = true;
            }
            indices[bh] = chosen;
            kept[bh] = flags;
        });
        return new Selection(indices, kept);
    }

    /** Exact attention over each head's kept keys (plus, causal, each query's own key). */
    private AttentionResult attend(AttentionProblem p, Selection selection, Tensor q) {
        int batch = p.batch(), heads = p.heads(), lq = p.queryLength(), lk = p.keyLength();
        int d = p.headDim(), dv = p.valueDim(), group = p.group();
        int m = selection.indices[0].length;
        Layout layout = p.layout();
        Tensor keys = layout.zeros(batch, m, heads, d);
        Tensor values = layout.zeros(batch, m, heads, dv);
        HeadView keyView = view(keys, layout), valueView = view(values, layout);
        HeadView k = p.k(), v = p.v();
        engine.parallelFor(batch * heads, bh -> {
            int b = bh / heads, h = bh % heads, kvh = h / group;
            int[] chosen = selection.indices[bh];
            for (int j = 0; j < m; j++) {
                System.arraycopy(k.data(), k.at(b, chosen[j], kvh), keyView.data(), keyView.at(b, j, h), d);
                System.arraycopy(v.data(), v.at(b, chosen[j], kvh), valueView.data(), valueView.at(b, j, h), dv);
            }
        });
        boolean causal = p.pattern() == Pattern.CS;
        AttentionSpec gathered = AttentionSpec.noncausal().scale(p.scale()).layout(layout).checkFinite(false);
        if (causal) {
            gathered = gathered.mask(new KeptPrefix(selection.indices, heads, lk - lq)).returnLse();
        }
        AttentionResult result = flash.forward(q, keys, values, gathered, p.output());
        if (causal) {
            includeOwnKeys(p, selection, result.lse());
        }
        return p.result(null, null, null, null);
    }

    /**
     * Adds, for every causal query whose own key was not kept, that key to its softmax: with {@code s} its logit and
     * {@code lse} the gathered part's log-sum-exp, {@code o ← (e^lse·o + e^s·v_self) / (e^lse + e^s)}.
     */
    private void includeOwnKeys(AttentionProblem p, Selection selection, Tensor lse) {
        int heads = p.heads(), lq = p.queryLength(), offset = p.keyLength() - lq;
        int d = p.headDim(), dv = p.valueDim(), group = p.group();
        HeadView q = p.q(), k = p.k(), v = p.v(), out = p.out();
        float[] lseData = lse.array();
        engine.parallelFor(p.batch() * heads, bh -> {
            int b = bh / heads, h = bh % heads, kvh = h / group;
            boolean[] kept = selection.kept[bh];
            for (int i = 0; i < lq; i++) {
                int self = i + offset;
                if (kept[self]) {
                    continue;
                }
                int qAt = q.at(b, i, h), kAt = k.at(b, self, kvh);
                double dot = 0;
                for (int t = 0; t < d; t++) {
                    dot += (double) q.data()[qAt + t] * k.data()[kAt + t];
                }
                double s = p.scale() * dot;
                double rest = lseData[bh * lq + i];
                double max = Math.max(rest, s);
                double wRest = rest == Double.NEGATIVE_INFINITY ? 0 : Math.exp(rest - max);
                double wSelf = Math.exp(s - max);
                double norm = wRest + wSelf;
                int oAt = out.at(b, i, h), vAt = v.at(b, self, kvh);
                for (int c = 0; c < dv; c++) {
                    out.data()[oAt + c] = (float) ((wRest * out.data()[oAt + c] + wSelf * v.data()[vAt + c]) / norm);
                }
            }
        });
    }

    /** Validates a call: the descriptor's options and patterns, then the operands. */
    static AttentionProblem problem(Mechanism m, Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        if (spec != null) {
            m.checkSupports(spec);
            if (spec.mask() != null) {
                throw new UnsupportedInputException(m.id() + " takes no mask besides causal (got " + spec.mask()
                        + "); its token selection is the mask");
            }
            if (spec.scoreMod() != null) {
                throw new UnsupportedInputException(m.id() + " takes no score mod (got " + spec.scoreMod() + ")");
            }
        }
        AttentionProblem p = AttentionProblem.of(q, k, v, spec, out);
        if (!m.supports(p.pattern())) {
            throw new UnsupportedInputException(m.id() + " supports the patterns " + m.patternList()
                    + "; this call (Lq = " + p.queryLength() + ", Lk = " + p.keyLength() + ", "
                    + (spec.isCausal() ? "causal" : "noncausal") + ") is " + p.pattern().id());
        }
        return p;
    }

    private static HeadView view(Tensor t, Layout layout) {
        return new HeadView(t.array(), t.arrayOffset(), (int) t.stride(layout.batchAxis()),
                (int) t.stride(layout.seqAxis()), (int) t.stride(layout.headAxis()));
    }

    /**
     * Causality carried over to gathered keys: kept key {@code j} of (b, h) has original index
     * {@code indices[b·H + h][j]}, visible to query {@code i} iff that index is at most {@code i + offset}; kept
     * indices ascend, so the visible ones are {@code [0, count of indices <= i + offset)}.
     */
    private record KeptPrefix(int[][] indices, int heads, int offset) implements IntervalMask {
        @Override
        public int keyFrom(int batch, int head, int query) {
            return 0;
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            int[] chosen = indices[batch * heads + head];
            int position = query + offset;
            int lo = 0, hi = chosen.length; // first index > position
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (chosen[mid] <= position) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            return lo;
        }

        @Override
        public boolean dependsOnBatchOrHead() {
            return true;
        }

        @Override
        public String toString() {
            return "keptPrefix";
        }
    }

    // ------------------------------------------------------------------------------------------------- cascade

    /**
     * The keep ratios of a cascade, one per layer, as shares of the original token and head counts. Both start at
     * 1 (no importance exists before the first layer) and never increase (pruned tokens and heads stay pruned).
     *
     * @param tokenKeep per layer, the share of the sequence's tokens kept alive
     * @param headKeep  per layer, the share of the heads kept alive
     */
    public record CascadeConfig(List<Double> tokenKeep, List<Double> headKeep) {
        public CascadeConfig {
            tokenKeep = List.copyOf(Objects.requireNonNull(tokenKeep, "tokenKeep"));
            headKeep = List.copyOf(Objects.requireNonNull(headKeep, "headKeep"));
            if (tokenKeep.isEmpty() || tokenKeep.size() != headKeep.size()) {
                throw new IllegalArgumentException("tokenKeep has " + tokenKeep.size() + " layers and headKeep "
                        + headKeep.size() + "; allowed: the same number, at least 1");
            }
            check("tokenKeep", tokenKeep);
            check("headKeep", headKeep);
        }

        private static void check(String name, List<Double> ratios) {
            for (int l = 0; l < ratios.size(); l++) {
                double r = ratios.get(l);
                if (!(r > 0 && r <= 1)) {
                    throw new IllegalArgumentException(name + "[" + l + "] = " + r + "; allowed: 0 < ratio <= 1");
                }
                if (l == 0 && r != 1) {
                    throw new IllegalArgumentException(name + "[0] = " + r + "; allowed: 1 (no importance exists "
                            + "before the first layer)");
                }
                if (l > 0 && r > ratios.get(l - 1)) {
                    throw new IllegalArgumentException(name + "[" + l + "] = " + r + " > " + name + "[" + (l - 1)
                            + "] = " + ratios.get(l - 1) + "; allowed: non-increasing ratios (pruned stays pruned)");
                }
            }
        }

        /** The ratios given as arrays. */
        public static CascadeConfig of(double[] tokenKeep, double[] headKeep) {
            return new CascadeConfig(Arrays.stream(tokenKeep).boxed().toList(),
                    Arrays.stream(headKeep).boxed().toList());
        }

        /** Nothing pruned in any of {@code layers} layers: every layer equals {@code flash}. */
        public static CascadeConfig none(int layers) {
            double[] ones = new double[checkLayers(layers)];
            Arrays.fill(ones, 1);
            return of(ones, ones);
        }

        /**
         * The default cascade for {@code layers} layers: keep everything in the first quarter of the layers, then
         * token ratios falling geometrically to 0.25 and head ratios to 0.75 at the last layer.
         */
        public static CascadeConfig defaults(int layers) {
            checkLayers(layers);
            double[] tokens = new double[layers], heads = new double[layers];
            int first = Math.max(1, (layers + 3) / 4); // layers kept whole
            for (int l = 0; l < layers; l++) {
                double t = l < first || layers - 1 < first ? 0 : (double) (l - first + 1) / (layers - first);
                tokens[l] = Math.pow(0.25, t);
                heads[l] = Math.pow(0.75, t);
            }
            return of(tokens, heads);
        }

        private static int checkLayers(int layers) {
            if (layers < 1) {
                throw new IllegalArgumentException("layers = " + layers + "; allowed: >= 1");
            }
            return layers;
        }

        public int layers() {
            return tokenKeep.size();
        }
    }

    /**
     * SpAtten across the layers of one forward pass: call {@link #forward} once per layer, in order. Carries the
     * cumulative token and head importance and what has been pruned (see the class comment of {@link SpAtten}).
     *
     * <p><b>Not thread-safe</b>, and for one forward pass only: create one per sequence batch (each batch row is
     * its own sequence, pruned on its own). Each layer call runs in parallel on the engine.
     */
    public static final class Cascade {
        private final CascadeConfig schedule;
        private final Engine engine;
        private final FlashAttention flash;
        private int nextLayer;
        private int batch, length, heads;
        private boolean causal;
        private double[][] tokenImportance; // [b][token]
        private double[][] headImportance;  // [b][head]
        private boolean[][] tokenAlive;
        private boolean[][] headAlive;

        public Cascade(CascadeConfig schedule, Engine engine) {
            this(schedule, engine, 128, 64);
        }

        Cascade(CascadeConfig schedule, Engine engine, int blockQ, int blockK) {
            this.schedule = Objects.requireNonNull(schedule, "schedule");
            this.engine = Objects.requireNonNull(engine, "engine");
            this.flash = new FlashAttention(new FlashAttention.Config(blockQ, blockK), engine);
        }

        public CascadeConfig schedule() {
            return schedule;
        }

        /** Layers run so far. */
        public int layersDone() {
            return nextLayer;
        }

        /** {@link #forward(int, Tensor, Tensor, Tensor, AttentionSpec, Tensor)} into a new output tensor. */
        public AttentionResult forward(int layer, Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
            return forward(layer, q, k, v, spec, null);
        }

        /**
         * Layer {@code layer}'s self-attention (NS or CS): prunes tokens and heads to the layer's keep ratios by the
         * importance of the earlier layers, attends among the alive tokens with the alive heads, and accumulates
         * this layer's importance. Rows of pruned tokens and heads of the output are zero.
         *
         * @throws IllegalArgumentException if the layer is out of order or the shape differs from earlier layers
         */
        public AttentionResult forward(int layer, Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
            AttentionProblem p = problem(DESCRIPTOR, q, k, v, spec, out);
            if (layer != nextLayer || layer >= schedule.layers()) {
                throw new IllegalArgumentException("layer " + layer + " after " + nextLayer + " layers of a "
                        + schedule.layers() + "-layer cascade; allowed: layer " + nextLayer
                        + " (each layer once, in order; one cascade per forward pass)");
            }
            if (layer == 0) {
                start(p);
            } else if (p.batch() != batch || p.queryLength() != length || p.heads() != heads
                    || (p.pattern() == Pattern.CS) != causal) {
                throw new IllegalArgumentException("layer " + layer + " has batch = " + p.batch() + ", n = "
                        + p.queryLength() + ", heads = " + p.heads() + (p.pattern() == Pattern.CS ? ", causal" : "")
                        + " but the cascade started with batch = " + batch + ", n = " + length + ", heads = " + heads
                        + (causal ? ", causal" : "") + "; allowed: the same shape and pattern in every layer");
            }
            int keepTokens = KeyBudget.ratio(schedule.tokenKeep().get(layer)).keysOf(length);
            int keepHeads = KeyBudget.ratio(schedule.headKeep().get(layer)).keysOf(heads);
            engine.parallelFor(batch, b -> {
                prune(tokenAlive[b], tokenImportance[b], keepTokens, causal ? length - 1 : -1);
                prune(headAlive[b], headImportance[b], keepHeads, -1);
            });
            attend(p);
            nextLayer++;
            return p.result(null, null, null, null);
        }

        /** The tokens of batch row {@code b} alive in the last layer run (ascending). */
        public int[] keptTokens(int b) {
            return alive(tokenAlive, b);
        }

        /** The heads of batch row {@code b} alive in the last layer run (ascending). */
        public int[] keptHeads(int b) {
            return alive(headAlive, b);
        }

        /** The cumulative importance of every token of batch row {@code b}: Σ over layers and heads of column mass. */
        public double[] tokenImportance(int b) {
            requireStarted();
            return tokenImportance[b].clone();
        }

        /** The cumulative importance of every head of batch row {@code b}: Σ over layers of Σ |output|. */
        public double[] headImportance(int b) {
            requireStarted();
            return headImportance[b].clone();
        }

        private int[] alive(boolean[][] flags, int b) {
            requireStarted();
            return indicesOf(flags[b]);
        }

        private void requireStarted() {
            if (nextLayer == 0) {
                throw new IllegalStateException("no layer has run yet; call forward(0, ...) first");
            }
        }

        private void start(AttentionProblem p) {
            batch = p.batch();
            length = p.queryLength();
            heads = p.heads();
            causal = p.pattern() == Pattern.CS;
            tokenImportance = new double[batch][length];
            headImportance = new double[batch][heads];
            tokenAlive = new boolean[batch][length];
            headAlive = new boolean[batch][heads];
            for (int b = 0; b < batch; b++) {
                Arrays.fill(tokenAlive[b], true);
                Arrays.fill(headAlive[b], true);
            }
        }

        /**
         * Keeps the {@code keep} alive entries of highest importance (ties: the earlier; {@code forced} >= 0 is kept
         * first), marking the rest dead for good.
         */
        private static void prune(boolean[] alive, double[] importance, int keep, int forced) {
            List<Integer> candidates = new ArrayList<>();
            for (int i = 0; i < alive.length; i++) {
                if (alive[i]) {
                    candidates.add(i);
                }
            }
            if (candidates.size() <= keep) {
                return;
            }
            candidates.sort((a, b) -> {
                if (a == forced || b == forced) {
                    return a == forced ? (b == forced ? 0 : -1) : 1;
                }
                int byImportance = Double.compare(importance[b], importance[a]);
                return byImportance != 0 ? byImportance : Integer.compare(a, b);
            });
            for (int r = keep; r < candidates.size(); r++) {
                alive[candidates.get(r)] = false;
            }
        }

        /** Attention among the alive tokens for the alive heads, scattered into the output; importance added. */
        private void attend(AttentionProblem p) {
            int d = p.headDim(), dv = p.valueDim(), group = p.group();
            int[][] tokens = new int[batch][], liveHeads = new int[batch][];
            for (int b = 0; b < batch; b++) {
                tokens[b] = indicesOf(tokenAlive[b]);
                liveHeads[b] = indicesOf(headAlive[b]);
            }
            int m = tokens[0].length, a = liveHeads[0].length;
            // compact BSHD operands [B, m, a, ·]: slot s of row b is head liveHeads[b][s], reading its KV head
            Tensor qc = Tensor.zeros(batch, m, a, d), kc = Tensor.zeros(batch, m, a, d);
            Tensor vc = Tensor.zeros(batch, m, a, dv);
            HeadView q = p.q(), k = p.k(), v = p.v();
            engine.parallelFor(batch * m, bj -> {
                int b = bj / m, j = bj % m, token = tokens[b][j];
                for (int s = 0; s < a; s++) {
                    int h = liveHeads[b][s];
                    int at = bj * a + s;
                    System.arraycopy(q.data(), q.at(b, token, h), qc.array(), at * d, d);
                    System.arraycopy(k.data(), k.at(b, token, h / group), kc.array(), at * d, d);
                    System.arraycopy(v.data(), v.at(b, token, h / group), vc.array(), at * dv, dv);
                }
            });
            // alive indices ascend, so causality among them is causality of the original positions
            AttentionSpec spec = AttentionSpec.noncausal().causal(causal).scale(p.scale()).checkFinite(false)
                    .observe(Observers.columnMass());
            AttentionResult result = flash.forward(qc, kc, vc, spec);
            float[] oc = result.output().array(), mass = result.columnMass().array(); // [B, m, a, Dv], [B, a, m]
            HeadView out = p.out();
            engine.parallelFor(batch, b -> {
                // zero every row, then write the alive (token, head) rows
                for (int i = 0; i < length; i++) {
                    for (int h = 0; h < heads; h++) {
                        Arrays.fill(out.data(), out.at(b, i, h), out.at(b, i, h) + dv, 0f);
                    }
                }
                double[] headMagnitude = new double[a];
                for (int j = 0; j < m; j++) {
                    int token = tokens[b][j];
                    double received = 0;
                    for (int s = 0; s < a; s++) {
                        int at = ((b * m + j) * a + s) * dv;
                        System.arraycopy(oc, at, out.data(), out.at(b, token, liveHeads[b][s]), dv);
                        double l1 = 0;
                        for (int c = 0; c < dv; c++) {
                            l1 += Math.abs(oc[at + c]);
                        }
                        headMagnitude[s] += l1;
                        received += mass[(b * a + s) * m + j];
                    }
                    tokenImportance[b][token] += received;
                }
                for (int s = 0; s < a; s++) {
                    headImportance[b][liveHeads[b][s]] += headMagnitude[s];
                }
            });
        }

        /** The indices of the set flags, ascending. */
        private static int[] indicesOf(boolean[] flags) {
            int[] out = new int[flags.length];
            int n = 0;
            for (int i = 0; i < flags.length; i++) {
                if (flags[i]) {
                    out[n++] = i;
                }
            }
            return Arrays.copyOf(out, n);
        }
    }
}
