package io.attn4j.attention;

import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import static io.attn4j.testing.Numerics.assertClose;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The facade: dispatch, flex, and the spec's options. */
class AttentionTest {
    private static final ReferenceAttention REFERENCE = new ReferenceAttention(Engine.defaults());

    @Test
    void sdpaComputesTheSpecForPrefillAndDecode() {
        AttentionInputs prefill = StandardInputs.random(Fresh.seed(), InputShape.self(2, 100, 4, 2, 32));
        AttentionSpec spec = AttentionSpec.causal().returnLse();
        AttentionResult r = Attention.sdpa(prefill.q(), prefill.k(), prefill.v(), spec);
        AttentionResult ref = REFERENCE.forward(prefill.q(), prefill.k(), prefill.v(), spec);
        assertClose("prefill", r.output(), ref.output(), 1e-5);
        assertClose("lse", r.lse(), ref.lse(), 1e-5);

        AttentionInputs decode = StandardInputs.random(Fresh.seed(), InputShape.cross(2, 1, 600, 8, 2, 64));
        Tensor out = Tensor.zeros(2, 1, 8, 64);
        Attention.sdpa(decode.q(), decode.k(), decode.v(), AttentionSpec.causal(), out);
        assertClose("decode", out, REFERENCE.forward(decode.q(), decode.k(), decode.v(), AttentionSpec.causal())
                .output(), 1e-5);
    }

    @Test
    void flexRunsAnyBlockMaskAndScoreMod() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 200, 4, 4, 32));
        MaskMod mask = Masks.causal().and(Masks.slidingWindow(50));
        BlockMask blocks = BlockMask.of(mask, 200, 200, 32);
        ScoreMod alibi = ScoreMods.alibi(4);
        AttentionResult flex = Attention.flex(in.q(), in.k(), in.v(), alibi, blocks, AttentionSpec.noncausal());
        AttentionResult ref = REFERENCE.forward(in.q(), in.k(), in.v(),
                AttentionSpec.noncausal().mask(mask).scoreMod(alibi));
        assertClose("flex", flex.output(), ref.output(), 1e-5);

        var e = assertThrows(IllegalArgumentException.class,
                () -> Attention.flex(in.q(), in.k(), in.v(), null, blocks, AttentionSpec.causal()));
        assertTrue(e.getMessage().contains("block mask"));
        assertThrows(IllegalArgumentException.class, () -> Attention.flex(in.q(), in.k(), in.v(), alibi, blocks,
                AttentionSpec.noncausal().scoreMod(alibi)));
        assertThrows(IllegalArgumentException.class, () -> Attention.flex(in.q(), in.k(), in.v(), null,
                BlockMask.of(mask, 100, 200, 32), AttentionSpec.noncausal()));
    }

    @Test
    void requestedExtrasOnlyAreAvailable() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 20, 2, 2, 16));
        AttentionResult r = Attention.sdpa(in.q(), in.k(), in.v(), AttentionSpec.noncausal());
        var e = assertThrows(IllegalStateException.class, r::lse);
        assertTrue(e.getMessage().contains("returnLse"));
        assertThrows(IllegalStateException.class, r::columnMass);
        assertThrows(IllegalStateException.class, r::topKeys);
        assertThrows(IllegalArgumentException.class,
                () -> AttentionSpec.causal().observe(Observers.entropy(), Observers.entropy()));
        assertThrows(IllegalArgumentException.class, () -> Observers.topK(0));
    }

    @Test
    void uncheckedSpecsSkipTheFiniteScan() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 20, 2, 2, 16));
        Tensor q = in.q().copy();
        q.set(Float.NaN, 0, 3, 1, 2);
        assertThrows(IllegalArgumentException.class, () -> Attention.sdpa(q, in.k(), in.v(), AttentionSpec.causal()));
        // unchecked: the call goes through; the row that read the NaN is NaN, and rows of other heads are not
        Tensor out = Attention.sdpa(q, in.k(), in.v(), AttentionSpec.causal().checkFinite(false)).output();
        assertTrue(Float.isNaN(out.get(0, 3, 1, 0)));
        assertTrue(Float.isFinite(out.get(0, 3, 0, 0)));
    }
}
