package io.attn4j.simd;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VectorOpsProviderTest {
    @Test
    void panamaIsChosenWhenTheModuleIsPresent() {
        // The test JVM runs with --add-modules jdk.incubator.vector and C2 on.
        assertNull(VectorOpsProvider.panamaUnavailableReason());
        assertTrue(VectorOpsProvider.panama().isPresent());
        String forced = System.getProperty("attn4j.simd", "auto");
        VectorOps expected = forced.equals("scalar") ? VectorOpsProvider.scalar() : VectorOpsProvider.panama().get();
        assertEquals(expected.name(), VectorOpsProvider.get().name());
        assertTrue(VectorOpsProvider.panama().get().lanes() >= 4);
        assertEquals(1, VectorOpsProvider.scalar().lanes());
    }
}
