package io.attn4j.bench.peers;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.bench.KernelBench;
import io.attn4j.bench.compare.KernelPeer;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The PyTorch peer: without python3 or torch it says what to install; with them (Debian's python3-torch), its
 * output equals the float64 reference's for noncausal, causal (bottom-right, Lq < Lk) and grouped-query shapes, and
 * it times itself.
 */
class TorchAttentionTest {

    @Test
    void aMissingPythonOrTorchIsReportedWithWhatToInstall() {
        String reason = new TorchAttention("/nonexistent/python3").unavailableReason();
        assertNotNull(reason);
        assertTrue(reason.contains("apt-get install"), reason);
        assertTrue(new TorchAttention().skipReason(new InputShape(1, 65536, 65536, 8, 8, 64, 64))
                .contains("GB"));
        assertNull(new TorchAttention().skipReason(new InputShape(1, 1024, 1024, 8, 8, 64, 64)));
    }

    @Test
    void itsAttentionIsTheReferences() {
        TorchAttention torch = new TorchAttention();
        assumeTrue(torch.unavailableReason() == null, () -> "PyTorch peer not checked: " + torch.unavailableReason());
        ReferenceAttention reference = new ReferenceAttention(Engine.defaults());
        for (boolean causal : new boolean[] {false, true}) {
            for (InputShape shape : new InputShape[] {InputShape.self(2, 37, 4, 4, 32),
                    InputShape.cross(1, 5, 70, 8, 2, 16)}) {
                AttentionInputs in = StandardInputs.random(11, shape);
                float scale = 0.3f;
                AttentionSpec spec = (causal ? AttentionSpec.causal() : AttentionSpec.noncausal()).scale(scale);
                Tensor expected = reference.forward(in.q(), in.k(), in.v(), spec).output();
                try (KernelPeer.Call call = torch.open(in, causal, scale, 2)) {
                    double[] ms = call.time(new KernelBench.Protocol(0, 1, 0, 3, 0, 3));
                    assertTrue(ms[0] > 0 && ms[0] <= ms[1] && ms[1] <= ms[2], java.util.Arrays.toString(ms));
                    Tensor got = call.output();
                    double num = 0, den = 0;
                    float[] e = expected.toArray(), g = got.toArray();
                    assertEquals(e.length, g.length);
                    for (int i = 0; i < e.length; i++) {
                        num += (e[i] - g[i]) * (double) (e[i] - g[i]);
                        den += e[i] * (double) e[i];
                    }
                    double rel = Math.sqrt(num / den);
                    assertTrue(rel < 1e-5, shape + (causal ? " causal" : "") + ": relative error " + rel);
                }
            }
        }
    }
}
