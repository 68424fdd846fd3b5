package io.attn4j.testing;

import io.attn4j.simd.VectorOps;
import io.attn4j.simd.VectorOpsProvider;

import java.util.List;

/**
 * Both implementations of {@link VectorOps}. Tests run every kernel on each; Panama must be available in the test
 * JVM (the build adds the module), so a missing module fails the suite instead of silently testing half of it.
 */
public final class SimdPaths {
    private SimdPaths() {
    }

    public static List<VectorOps> all() {
        VectorOps panama = VectorOpsProvider.panama().orElseThrow(() -> new IllegalStateException(
                "the Panama path is unavailable in the test JVM: " + VectorOpsProvider.panamaUnavailableReason()));
        return List.of(VectorOpsProvider.scalar(), panama);
    }
}
