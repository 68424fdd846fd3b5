package io.attn4j.sparse;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.UnsupportedInputException;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import static io.attn4j.testing.Numerics.assertBitIdentical;
import static io.attn4j.testing.Numerics.assertClose;
import static io.attn4j.testing.Numerics.assertFinite;
import static io.attn4j.testing.Numerics.relativeError;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What agent attention's Javadoc promises: its identities, its refusals, and its fidelity at the defaults. */
class AgentAttentionTest {

    private static Engine engine() {
        return Engine.defaults().withThreads(3);
    }

    private static Tensor agent(int agents, AttentionInputs in) {
        return new AgentAttention(AgentAttention.Config.of(agents), engine())
                .forward(in.q(), in.k(), in.v(), AttentionSpec.noncausal()).output();
    }

    private static Tensor reference(Tensor q, Tensor k, Tensor v) {
        return new ReferenceAttention(engine()).forward(q, k, v, AttentionSpec.noncausal()).output();
    }

    /** The agents of the Javadoc, in float64: agent i = mean of the queries [⌊i·Lq/n⌋, ⌈(i+1)·Lq/n⌉). */
    private static Tensor pooled(Tensor q, int agents) {
        int batch = q.size(0), lq = q.size(1), heads = q.size(2), d = q.size(3);
        Tensor a = Tensor.zeros(batch, agents, heads, d);
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < agents; i++) {
                int from = (int) Math.floor((double) i * lq / agents), to = (int) Math.ceil((i + 1.0) * lq / agents);
                for (int h = 0; h < heads; h++) {
                    for (int t = 0; t < d; t++) {
                        double sum = 0;
                        for (int s = from; s < to; s++) {
                            sum += q.get(b, s, h, t);
                        }
                        a.set((float) (sum / (to - from)), b, i, h, t);
                    }
                }
            }
        }
        return a;
    }

    /** Agent attention from its definition: two exact attentions in float64 around the pooled agents. */
    private static Tensor byDefinition(AttentionInputs in, int agents) {
        Tensor a = pooled(in.q(), Math.min(agents, in.q().size(1)));
        Tensor agentValues = reference(a, in.k(), in.v());
        return reference(in.q(), a, agentValues);
    }

    @Test
    void isTwoExactSoftmaxesAroundPooledAgents() {
        // 37 queries in 5 overlapping segments, cross-attention to 60 keys, GQA 4:2, two batch rows
        AttentionInputs in = StandardInputs.random(Fresh.seed(), new InputShape(2, 37, 60, 4, 2, 32, 24));
        for (int agents : new int[] {5, 36, 37, 1000}) {
            assertClose(agents + " agents", agent(agents, in), byDefinition(in, agents), 1e-5);
        }
    }

    @Test
    void oneAgentGivesEveryQueryTheMeanQueryAttention() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.cross(1, 50, 80, 4, 2, 32));
        Tensor out = agent(1, in);
        // softmax over a single agent is 1: every query's output is V_A itself, bit for bit
        for (int i = 1; i < 50; i++) {
            assertBitIdentical("query " + i + " vs query 0", out.slice(1, i, i + 1).copy(), out.slice(1, 0, 1).copy());
        }
        Tensor meanQuery = pooled(in.q(), 1);
        assertClose("attention of the mean query", out.slice(1, 0, 1).copy(), reference(meanQuery, in.k(), in.v()),
                1e-5);
        // a single query is its own agent, and it sees its one key: the output is that key's value
        AttentionInputs one = StandardInputs.random(Fresh.seed(), InputShape.self(1, 1, 2, 1, 16));
        Tensor single = agent(256, one);
        for (int h = 0; h < 2; h++) {
            assertClose("n = 1, head " + h, single.slice(2, h, h + 1), one.v(), 0);
        }
    }

    @Test
    void asManyAgentsAsQueriesIsStillNotExactAttention() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 200, 2, 1, 32));
        Tensor out = agent(200, in);
        // A = Q: O = softmax(scale·Q Qᵀ) · softmax(scale·Q Kᵀ) V, which is not softmax(scale·Q Kᵀ) V
        assertClose("A = Q", out, reference(in.q(), in.q(), reference(in.q(), in.k(), in.v())), 1e-5);
        double error = relativeError(out, new FlashAttention(engine()).forward(in.q(), in.k(), in.v(),
                AttentionSpec.noncausal()).output());
        assertTrue(error > 0.1, "two softmaxes are not one: relative error " + error);
    }

    @Test
    void fidelityOnStructuredInputsAtTheDefaults() {
        AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, 2048, 2, 1, 64));
        Tensor exact = new ReferenceAttention(engine()).forward(in.q(), in.k(), in.v(), AttentionSpec.noncausal())
                .output();
        double defaults = relativeError(new AgentAttention(AgentAttention.Config.defaults(), engine())
                .forward(in.q(), in.k(), in.v(), AttentionSpec.noncausal()).output(), exact);
        double sixteen = relativeError(agent(16, in), exact);
        double one = relativeError(agent(1, in), exact);
        // measured over 8 seeds: 256 agents 0.68-0.72, 16 agents 0.89-0.91, 1 agent 1.23-1.32
        String seed = " (seed base " + Fresh.base() + ")";
        assertTrue(defaults < 0.78, "256 agents: relative error " + defaults + seed);
        assertTrue(sixteen > defaults + 0.1, "16 agents " + sixteen + " vs 256 " + defaults + seed);
        assertTrue(one > sixteen + 0.2, "1 agent " + one + " vs 16 " + sixteen + seed);
    }

    @Test
    void oddLengthsGiveFiniteOutputs() {
        for (int n : new int[] {1, 3, 17, 255, 257, 1000, 4097}) {
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 2, 1, 64));
            assertFinite(agent(256, in), "n = " + n);
        }
    }

    @Test
    void refusesCausalMasksAndScoreModsClearly() {
        AgentAttention agent = new AgentAttention(AgentAttention.Config.defaults(), engine());
        AttentionInputs self = StandardInputs.random(Fresh.seed(), InputShape.self(1, 40, 2, 1, 16));
        AttentionInputs cross = StandardInputs.random(Fresh.seed(), InputShape.cross(1, 40, 70, 2, 1, 16));
        AttentionInputs decode = StandardInputs.random(Fresh.seed(), InputShape.cross(1, 3, 70, 2, 1, 16));
        for (AttentionInputs in : new AttentionInputs[] {self, cross, decode}) {
            UnsupportedInputException e = assertThrows(UnsupportedInputException.class,
                    () -> agent.forward(in.q(), in.k(), in.v(), AttentionSpec.causal()));
            assertTrue(e.getMessage().contains("later tokens") && e.getMessage().contains("NS,NC"), e.getMessage());
        }
        UnsupportedInputException e = assertThrows(UnsupportedInputException.class,
                () -> agent.forward(decode.q(), decode.k(), decode.v(), AttentionSpec.noncausal()));
        assertTrue(e.getMessage().contains("decode") && e.getMessage().contains("later tokens"), e.getMessage());
        e = assertThrows(UnsupportedInputException.class, () -> agent.forward(self.q(), self.k(), self.v(),
                AttentionSpec.noncausal().mask((b, h, q, k) -> k != 2)));
        assertTrue(e.getMessage().contains("no mask"), e.getMessage());
        e = assertThrows(UnsupportedInputException.class, () -> agent.forward(self.q(), self.k(), self.v(),
                AttentionSpec.noncausal().scoreMod((s, b, h, q, k) -> s + 1)));
        assertTrue(e.getMessage().contains("score mod"), e.getMessage());
        assertThrows(UnsupportedInputException.class, () -> agent.forward(self.q(), self.k(), self.v(),
                AttentionSpec.noncausal().returnLse()));
        // a bad shape is named as such even in a causal call
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> agent.forward(self.q(),
                Tensor.zeros(1, 40, 2, 8), self.v(), AttentionSpec.causal()));
        assertTrue(shape.getMessage().contains("head dim"), shape.getMessage());
    }
}
