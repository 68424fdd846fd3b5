package io.attn4j.simd;

import io.attn4j.attention.Attention;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.testing.Fresh;
import io.attn4j.testing.Numerics;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs in a JVM started without {@code --add-modules jdk.incubator.vector} (its own surefire execution). */
class ProviderWithoutVectorModuleTest {
    @Test
    void attentionFallsBackToScalarKernelsAndSaysHowToEnableSimd() {
        assertTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty(),
                "this test must run without the Vector API module");
        assertEquals("scalar", VectorOpsProvider.get().name());
        assertTrue(VectorOpsProvider.panama().isEmpty());
        assertTrue(VectorOpsProvider.panamaUnavailableReason().contains("--add-modules jdk.incubator.vector"),
                VectorOpsProvider.panamaUnavailableReason());
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 70, 2, 1, 32));
        Numerics.assertClose("scalar sdpa", Attention.sdpa(in.q(), in.k(), in.v(), AttentionSpec.causal()).output(),
                new ReferenceAttention(Engine.defaults()).forward(in.q(), in.k(), in.v(), AttentionSpec.causal())
                        .output(), 1e-5);
    }
}
