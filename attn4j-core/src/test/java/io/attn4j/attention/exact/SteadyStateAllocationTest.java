package io.attn4j.attention.exact;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Masks;
import io.attn4j.attention.ScoreMods;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOpsProvider;
import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Once the JIT has compiled them, the kernels allocate (almost) nothing per call. This is the guard against the
 * Vector API's failure mode: a vector that reaches a call C2 did not inline is boxed, and a kernel then allocates
 * megabytes per call and runs many times slower while still computing the right answer — which no exactness test
 * can see. Calls run on one thread, so the calling thread's allocation counter sees all of it; each configuration
 * gets up to 30 s for C2 to settle and passes as soon as a round of calls stays under the budget (the block mask,
 * the result object and lean's partial states are allocated per call by design).
 */
class SteadyStateAllocationTest {
    private static final long BUDGET_BYTES_PER_CALL = 64 * 1024;

    private static void assertSteadyStateIsAllocationFree(String what, AttentionMechanism m, AttentionInputs in,
                                                          AttentionSpec spec, Tensor out) {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long deadline = System.nanoTime() + 30_000_000_000L;
        long perCall = Long.MAX_VALUE;
        while (System.nanoTime() < deadline) {
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 20; i++) {
                m.forward(in.q(), in.k(), in.v(), spec, out);
            }
            perCall = (threads.getCurrentThreadAllocatedBytes() - before) / 20;
            if (perCall <= BUDGET_BYTES_PER_CALL) {
                return;
            }
        }
        fail(what + " still allocates " + perCall + " bytes per call after 30 s of calls (budget "
                + BUDGET_BYTES_PER_CALL + "): vectors are being boxed somewhere in its kernels");
    }

    private static Engine panamaOnOneThread() {
        return Engine.of(VectorOpsProvider.panama().orElseThrow(), 1);
    }

    @Test
    void flashWithMasksAndScoreMods() {
        AttentionInputs in = StandardInputs.random(1, InputShape.self(1, 256, 4, 2, 64));
        Tensor out = Tensor.zeros(1, 256, 4, 64);
        FlashAttention flash = new FlashAttention(panamaOnOneThread());
        assertSteadyStateIsAllocationFree("flash NS", flash, in, AttentionSpec.noncausal().checkFinite(false), out);
        assertSteadyStateIsAllocationFree("flash causal window alibi", flash, in, AttentionSpec.causal()
                .mask(Masks.slidingWindow(100)).scoreMod(ScoreMods.alibi(4)).checkFinite(false), out);
        AttentionInputs odd = StandardInputs.random(2, InputShape.self(1, 150, 2, 2, 80));
        assertSteadyStateIsAllocationFree("flash D=80, ragged blocks", flash, odd, AttentionSpec.causal()
                .scoreMod(ScoreMods.softcap(20f)).checkFinite(false), Tensor.zeros(1, 150, 2, 80));
    }

    @Test
    void leanDecode() {
        AttentionInputs in = StandardInputs.random(3, InputShape.cross(1, 1, 4096, 16, 4, 128));
        assertSteadyStateIsAllocationFree("lean", new LeanDecode(panamaOnOneThread()), in,
                AttentionSpec.causal().checkFinite(false), Tensor.zeros(1, 1, 16, 128));
    }

    @Test
    void naive() {
        AttentionInputs in = StandardInputs.random(4, InputShape.self(1, 128, 2, 2, 64));
        assertSteadyStateIsAllocationFree("naive", new NaiveAttention(panamaOnOneThread()), in,
                AttentionSpec.causal().checkFinite(false), Tensor.zeros(1, 128, 2, 64));
    }
}
