package io.attn4j.sparse;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.UnsupportedInputException;
import io.attn4j.attention.Work;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;

import java.util.EnumSet;

/**
 * Agent Attention (Han, Ye, Han, Pan, Song, Huang et al., "Agent Attention: On the Integration of Softmax and Linear
 * Attention", ECCV 2024), training-free: a few <em>agent</em> tokens, pooled from the queries, stand between the
 * queries and the keys, so both softmaxes are {@code n × n_a} instead of {@code n × n}.
 *
 * <p><b>Algorithm</b>, per (batch, query head), with {@code n_a = min(agents, Lq)} agents:
 * <ol>
 *   <li><em>Agents</em>: {@code A = pool(Q)}, adaptive average pooling over the sequence: agent i is the mean of
 *       the queries {@code [⌊i·Lq/n_a⌋, ⌈(i+1)·Lq/n_a⌉)} (PyTorch's {@code adaptive_avg_pool1d} segments, which
 *       overlap by one row when {@code n_a} does not divide {@code Lq}).</li>
 *   <li><em>Agent aggregation</em>: {@code V_A = softmax(scale · A Kᵀ) V}, the agents attending to the keys.</li>
 *   <li><em>Agent broadcast</em>: {@code O = softmax(scale · Q Aᵀ) V_A}, the queries attending to the agents.</li>
 * </ol>
 * Both steps are exact attention calls to {@code flash} (agents as queries, then agents as keys); there is no
 * softmax kernel here.
 *
 * <p><b>Choices.</b>
 * <ul>
 *   <li>The paper's <em>agent bias</em> (learned positional biases added to both score matrices) and its depthwise
 *       convolution on V (the diversity restoration module) are omitted: both need trained weights. What remains
 *       is the paper's core form with a training-free pooling.</li>
 *   <li>256 agents by default (the paper uses 49 to 256 for vision tokens; more agents cost linearly and help
 *       long, varied sequences). Both softmaxes use the call's scale.</li>
 *   <li>GQA: agents are pooled per query head; K and V stay per KV head (flash reads them through the group),
 *       and the broadcast step's keys and values (A, V_A) are per query head.</li>
 *   <li>Noncausal only: an agent pools queries from the whole sequence, so every output would depend on later
 *       tokens; CS, CC and decode are refused, not approximated. Spec masks and score mods are refused (queries
 *       never meet keys directly, so there is nothing to apply them to).</li>
 *   <li>It keeps no subset of the keys, so it reports no {@link KeptKeys}. It is never exactly softmax attention:
 *       even with one agent per query ({@code A = Q}) the two softmaxes do not compose to one. With one agent
 *       every query gets the same output: attention of the mean query over all keys.</li>
 * </ul>
 *
 * <p><b>Fidelity</b> on {@code StandardInputs.structured} (2048 tokens, d = 64): relative error 0.68–0.72 with the
 * default 256 agents, 0.89–0.91 with 16 and 1.23–1.32 with one. Without the trained agent bias the pooled agents
 * blur the local and needle structure that exact attention keeps; it is the training-free baseline of the method,
 * not a drop-in replacement. {@code AgentAttentionTest} holds these with a margin.
 *
 * <p><b>Complexity.</b> Time O(Lq·d) to pool, O(n_a·Lk·(d + Dv)) to aggregate and O(Lq·n_a·(d + Dv)) to
 * broadcast: O(n·n_a·d), linear in n for a fixed number of agents. Extra memory O(B·Hq·n_a·(d + Dv)).
 */
public final class AgentAttention implements AttentionMechanism {

    /**
     * @param agents agent tokens per query head ({@code >= 1}; more than {@code Lq} means one per query)
     * @param blockQ queries per tile of both flash passes
     * @param blockK keys per tile
     */
    public record Config(int agents, int blockQ, int blockK) implements MechanismConfig {
        public Config {
            if (agents < 1) {
                throw new IllegalArgumentException("agents = " + agents + "; allowed: >= 1 agent tokens per head");
            }
            SlidingWindow.checkBlocks(blockQ, blockK);
        }

        /** {@code agents} agents with the default tiles. */
        public static Config of(int agents) {
            return new Config(agents, 128, 64);
        }

        /** 256 agents. */
        public static Config defaults() {
            return of(256);
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("agent", Family.SPARSE,
            "Agent Attention (pooled-query agents, training-free, no agent bias)",
            "Han, Ye, Han, Pan, Song, Huang et al.: \"Agent Attention: On the Integration of Softmax and Linear "
                    + "Attention\", ECCV 2024 (arXiv:2312.08578)",
            EnumSet.of(Pattern.NS, Pattern.NC), Weights.FREE, false, false, false, "O(n n_a d)",
            "O(B H n_a (d + dv))", Config.class, Config.defaults(),
            (config, engine) -> new AgentAttention((Config) config, engine), EnumSet.noneOf(Guarantee.class));

    private static final String NONCAUSAL_ONLY = "agents are pooled over the whole query sequence, so every output "
            + "would depend on later tokens: agent attention has no causal form (CS, CC and decode are refused)";

    private final Config config;
    private final Engine engine;
    private final FlashAttention flash;

    public AgentAttention(Config config, Engine engine) {
        this.config = config;
        this.engine = engine;
        this.flash = new FlashAttention(new FlashAttention.Config(config.blockQ(), config.blockK()), engine);
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    /**
     * Its two exact passes, {@code 2·(D + Dv)} per pair: {@code n_a} agents against the {@code Lk} keys and the
     * {@code Lq} queries against the {@code n_a} agents, per (batch, query head), plus {@code D} per query row to
     * pool the agents. Bytes: Q, K, V and the output once (K and V once per KV head).
     */
    @Override
    public Work work(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        Work.Shape s = Work.Shape.of(q, k, v, spec);
        DESCRIPTOR.requirePattern(Pattern.of(s.queryLength(), s.keyLength(), spec.isCausal()));
        double agents = Math.min(config.agents(), s.queryLength()), heads = (double) s.batch() * s.heads();
        double perPair = 2.0 * (s.headDim() + s.valueDim());
        double flops = heads * (perPair * agents * (s.keyLength() + s.queryLength())
                + (double) s.queryLength() * s.headDim());
        double bytes = 4.0 * (heads * s.queryLength() * (s.headDim() + s.valueDim())
                + (double) s.batch() * s.kvHeads() * s.keyLength() * (s.headDim() + s.valueDim()));
        return Work.formula(flops, bytes, "2·(D + Dv)·n_a·(Lk + Lq) per head with n_a = " + (int) agents
                + " agents, D per query row to pool them");
    }

    public Config config() {
        return config;
    }

    @Override
    public AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        if (spec != null && spec.mask() != null) {
            throw new UnsupportedInputException("agent takes no mask (got " + spec.mask() + "): queries attend to "
                    + "pooled agents, never to keys directly");
        }
        if (spec != null && spec.isCausal()) {
            // shapes first, so a bad input is still named; then the pattern
            AttentionProblem.of(q, k, v, spec.causal(false), out);
            throw new UnsupportedInputException("agent supports the patterns " + DESCRIPTOR.patternList()
                    + "; this call is causal, and " + NONCAUSAL_ONLY);
        }
        AttentionProblem p = BlockSparseAttention.validate(DESCRIPTOR, q, k, v, spec, out, ": " + NONCAUSAL_ONLY);
        int batch = p.batch(), heads = p.heads(), lq = p.queryLength(), d = p.headDim();
        int agents = Math.min(config.agents(), lq);
        Layout layout = p.layout();
        Tensor a = layout.zeros(batch, agents, heads, d);
        engine.parallelFor(batch * heads, bh -> pool(p, bh / heads, bh % heads, agents, a));
        AttentionSpec exact = AttentionSpec.noncausal().scale(p.scale()).layout(layout).checkFinite(false);
        // V_A = softmax(scale · A Kᵀ) V: agents as queries over K, V (GQA through flash's groups)
        Tensor agentValues = flash.forward(a, k, v, exact).output();
        // O = softmax(scale · Q Aᵀ) V_A: queries over the agents, into the caller's output
        flash.forward(q, a, agentValues, exact, p.output());
        return p.result(null, null, null, null);
    }

    /** Agent i of (b, h) = mean of the queries [⌊i·Lq/n_a⌋, ⌈(i+1)·Lq/n_a⌉), summed in order in float64. */
    private static void pool(AttentionProblem p, int b, int h, int agents, Tensor a) {
        int lq = p.queryLength(), d = p.headDim();
        Layout layout = p.layout();
        HeadView q = p.q();
        double[] sum = new double[d];
        for (int i = 0; i < agents; i++) {
            int from = (int) ((long) i * lq / agents), to = (int) (((long) (i + 1) * lq + agents - 1) / agents);
            java.util.Arrays.fill(sum, 0);
            for (int s = from; s < to; s++) {
                int at = q.at(b, s, h);
                for (int t = 0; t < d; t++) {
                    sum[t] += q.data()[at + t];
                }
            }
            int at = a.arrayOffset() + (int) (b * a.stride(layout.batchAxis()) + i * a.stride(layout.seqAxis())
                    + h * a.stride(layout.headAxis()));
            for (int t = 0; t < d; t++) {
                a.array()[at + t] = (float) (sum[t] / (to - from));
            }
        }
    }
}
