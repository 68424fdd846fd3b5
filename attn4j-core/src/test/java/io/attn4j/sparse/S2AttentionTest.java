package io.attn4j.sparse;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.exact.NaiveAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static io.attn4j.testing.Numerics.assertBitIdentical;
import static io.attn4j.testing.Numerics.assertExact;
import static io.attn4j.testing.Numerics.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * S2-Attention against exact attention under its mask written element by element (a head's window plus its
 * shard), the coverage of the default sharding, stride 1 as dense attention, and the per-head refusal.
 */
class S2AttentionTest {
    private static final Engine ENGINE = Engine.defaults().withThreads(3);

    /** Head h sees key k: causal order, then the window |q − k| < w, else ⌊k / unit⌋ ≡ offset_h (mod stride_h). */
    private static MaskMod mask(int[] strides, int[] offsets, int window, int unit, boolean causal) {
        return (b, h, q, k) -> {
            if (causal && k > q) {
                return false;
            }
            return Math.abs(q - k) < window || Math.floorMod(k / unit - offsets[h], strides[h]) == 0;
        };
    }

    private static int[] ruleStrides(int stride, int heads) {
        int[] strides = new int[heads];
        Arrays.fill(strides, stride);
        return strides;
    }

    private static int[] ruleOffsets(int stride, int heads) {
        int[] offsets = new int[heads];
        for (int h = 0; h < heads; h++) {
            offsets[h] = h % stride;
        }
        return offsets;
    }

    private static S2Attention.Config withBlocks(S2Attention.Config c, int blockQ, int blockK) {
        return new S2Attention.Config(c.strides(), c.offsets(), c.stride(), c.window(), c.shardUnit(), blockQ, blockK);
    }

    @Test
    void equalsExactAttentionUnderItsMask() {
        int[] strides = {3, 2, 5, 1}, offsets = {2, 1, 0, 0};
        for (int n : new int[] {1, 17, 300}) {
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 4, 2, 16));
            for (boolean causal : new boolean[] {false, true}) {
                AttentionSpec spec = causal ? AttentionSpec.causal() : AttentionSpec.noncausal();
                Object[][] cases = {
                        {S2Attention.Config.rule(4, 5), mask(ruleStrides(4, 4), ruleOffsets(4, 4), 5, 1, causal)},
                        {withBlocks(S2Attention.Config.rule(3, 16), 16, 8),
                                mask(ruleStrides(3, 4), ruleOffsets(3, 4), 16, 1, causal)},
                        {S2Attention.Config.perHead(strides, offsets, 7), mask(strides, offsets, 7, 1, causal)},
                        {withBlocks(S2Attention.Config.perHead(strides, offsets, 1).withShardUnit(4), 16, 8),
                                mask(strides, offsets, 1, 4, causal)},
                        {S2Attention.Config.rule(2, 40).withShardUnit(3),
                                mask(ruleStrides(2, 4), ruleOffsets(2, 4), 40, 3, causal)}};
                for (Object[] c : cases) {
                    S2Attention.Config config = (S2Attention.Config) c[0];
                    AttentionSpec masked = AttentionSpec.noncausal().mask((MaskMod) c[1]);
                    Tensor ours = new S2Attention(config, ENGINE).forward(in.q(), in.k(), in.v(), spec).output();
                    Tensor naive = new NaiveAttention(ENGINE).forward(in.q(), in.k(), in.v(), masked).output();
                    Tensor reference = new ReferenceAttention(ENGINE).forward(in.q(), in.k(), in.v(), masked).output();
                    assertExact(config + " n=" + n + " " + spec, ours, naive, reference);
                }
            }
        }
    }

    @Test
    void keptKeysAreTheMask() {
        int n = 150;
        int[] strides = {3, 2, 5, 1}, offsets = {2, 1, 0, 0};
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 4, 1, 16));
        S2Attention s2 = new S2Attention(S2Attention.Config.perHead(strides, offsets, 6).withShardUnit(2), ENGINE);
        for (boolean causal : new boolean[] {false, true}) {
            KeptKeys kept = s2.keptKeys(in.q(), in.k(), in.v(), causal ? AttentionSpec.causal()
                    : AttentionSpec.noncausal());
            MaskMod expected = mask(strides, offsets, 6, 2, causal);
            for (int h = 0; h < 4; h++) {
                for (int q = 0; q < n; q++) {
                    for (int k = 0; k < n; k++) {
                        assertEquals(expected.test(0, h, q, k), kept.kept(0, h, q, k), "head " + h + " q " + q + " k " + k);
                    }
                }
            }
        }
    }

    /** With the rule, every group of {@code stride} heads splits the keys outside the window among themselves. */
    @Test
    void theShardsOfAGroupOfHeadsCoverTheContextOnce() {
        int n = 300, stride = 8, window = 16, heads = 16;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, heads, 2, 16));
        for (int unit : new int[] {1, 64}) {
            S2Attention s2 = new S2Attention(S2Attention.Config.rule(stride, window).withShardUnit(unit), ENGINE);
            for (AttentionSpec spec : new AttentionSpec[] {AttentionSpec.noncausal(), AttentionSpec.causal()}) {
                KeptKeys kept = s2.keptKeys(in.q(), in.k(), in.v(), spec);
                for (int q = 0; q < n; q++) {
                    for (int k = 0; k < (spec.isCausal() ? q + 1 : n); k++) {
                        for (int group = 0; group < heads / stride; group++) {
                            int holders = 0;
                            for (int h = group * stride; h < (group + 1) * stride; h++) {
                                holders += kept.kept(0, h, q, k) ? 1 : 0;
                            }
                            int expected = Math.abs(q - k) < window ? stride : 1;
                            assertEquals(expected, holders, "unit " + unit + " group " + group + " q " + q + " k " + k);
                        }
                    }
                }
            }
        }
    }

    @Test
    void strideOneIsDenseAttention() {
        for (int n : new int[] {1, 65, 333}) {
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 4, 2, 32));
            for (AttentionSpec spec : new AttentionSpec[] {AttentionSpec.noncausal(), AttentionSpec.causal()}) {
                Tensor naive = new NaiveAttention(ENGINE).forward(in.q(), in.k(), in.v(), spec).output();
                Tensor reference = new ReferenceAttention(ENGINE).forward(in.q(), in.k(), in.v(), spec).output();
                for (S2Attention.Config config : new S2Attention.Config[] {S2Attention.Config.rule(1, 1),
                        S2Attention.Config.rule(1, 7), S2Attention.Config.rule(1, 500),
                        S2Attention.Config.perHead(new int[] {1, 1, 1, 1}, new int[] {0, 0, 0, 0}, 3).withShardUnit(5)}) {
                    Tensor ours = new S2Attention(config, ENGINE).forward(in.q(), in.k(), in.v(), spec).output();
                    assertExact(config + " n=" + n + " " + spec, ours, naive, reference);
                }
            }
        }
    }

    @Test
    void layoutsAndThreadCountsAgree() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 257, 4, 2, 32));
        S2Attention.Config config = S2Attention.Config.rule(4, 20);
        for (AttentionSpec spec : new AttentionSpec[] {AttentionSpec.noncausal(), AttentionSpec.causal()}) {
            Tensor bshd = new S2Attention(config, ENGINE).forward(in.q(), in.k(), in.v(), spec).output();
            Tensor q = in.q().permute(0, 2, 1, 3).copy(), k = in.k().permute(0, 2, 1, 3).copy();
            Tensor v = in.v().permute(0, 2, 1, 3).copy();
            Tensor bhsd = new S2Attention(config, Engine.defaults().withThreads(1)).forward(q, k, v,
                    spec.layout(Layout.BHSD)).output();
            assertBitIdentical(spec + " BHSD on one thread vs BSHD on three", bhsd.permute(0, 2, 1, 3).copy(), bshd);
        }
    }

    @Test
    void perHeadShardsForAnotherHeadCountAreRefusedBeforeWriting() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 40, 4, 2, 16));
        S2Attention s2 = new S2Attention(S2Attention.Config.perHead(new int[] {2, 2, 2}, new int[] {0, 1, 0}, 4),
                ENGINE);
        Tensor out = Tensor.zeros(1, 40, 4, 16);
        out.fill(3f);
        float[] before = out.toArray();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> s2.forward(in.q(), in.k(), in.v(), AttentionSpec.causal(), out));
        assertTrue(e.getMessage().contains("per-head shards for 3 query heads but the call has 4"), e.getMessage());
        assertTrue(e.getMessage().contains("allowed"), e.getMessage());
        assertTrue(Arrays.equals(before, out.toArray()), "the output is untouched after a refusal");
        assertThrows(IllegalArgumentException.class, () -> s2.keptKeys(in.q(), in.k(), in.v(), AttentionSpec.causal()));
    }

    /**
     * The fidelity the class promises at its defaults (stride 8, window 1024) on the structured inputs at
     * n = 2048, two heads (offsets 0 and 1; each head's fidelity does not depend on how many others there are).
     * Measured over five seeds: recall 0.88–0.89 noncausal and 0.86–0.87 causal; relative error 0.49–0.52 and
     * 0.51–0.55.
     */
    @Test
    void fidelityOnStructuredInputsAtTheDefaults() {
        int n = 2048;
        AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, n, 2, 1, 64));
        S2Attention s2 = (S2Attention) S2Attention.DESCRIPTOR.create(ENGINE);
        for (AttentionSpec spec : new AttentionSpec[] {AttentionSpec.noncausal(), AttentionSpec.causal()}) {
            boolean causal = spec.isCausal();
            Tensor ours = s2.forward(in.q(), in.k(), in.v(), spec).output();
            Tensor exact = new ReferenceAttention(ENGINE).forward(in.q(), in.k(), in.v(), spec).output();
            double error = relativeError(ours, exact);
            double recall = AllRowsRecall.recall(s2.keptKeys(in.q(), in.k(), in.v(), spec), in, spec, ENGINE);
            assertTrue(recall >= (causal ? 0.83 : 0.85), spec + ": recall " + recall);
            assertTrue(error <= (causal ? 0.62 : 0.60), spec + ": relative error " + error);
        }
    }
}
