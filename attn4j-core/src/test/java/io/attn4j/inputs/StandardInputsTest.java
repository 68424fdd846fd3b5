package io.attn4j.inputs;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Observers;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.runtime.Engine;
import io.attn4j.testing.Fresh;
import io.attn4j.testing.Numerics;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StandardInputsTest {

    @Test
    void generationIsDeterministicPerSeedAndRowAddressable() {
        long seed = Fresh.seed();
        InputShape shape = InputShape.cross(2, 50, 300, 4, 2, 64);
        AttentionInputs a = StandardInputs.structured(seed, shape), b = StandardInputs.structured(seed, shape);
        Numerics.assertBitIdentical("same seed", a.k(), b.k());
        Numerics.assertBitIdentical("same seed", a.q(), b.q());
        assertNotEquals(a.q().get(0, 0, 0, 0), StandardInputs.structured(seed + 1, shape).q().get(0, 0, 0, 0));
        float[] row = new float[64];
        StandardInputs.structuredRow(seed, shape, StandardInputs.Structure.defaults(), 'q', 1, 49, 3, row, 0);
        for (int c = 0; c < 64; c++) {
            assertEquals(a.q().get(1, 49, 3, c), row[c], "row " + c);
        }
        StandardInputs.structuredRow(seed, shape, StandardInputs.Structure.defaults(), 'k', 0, 299, 1, row, 0);
        assertEquals(a.k().get(0, 299, 1, 7), row[7]);
        AttentionInputs r = StandardInputs.random(seed, shape);
        Numerics.assertBitIdentical("random", r.v(), StandardInputs.random(seed, shape).v());
        assertTrue(r.needles().isEmpty());
        assertThrows(IllegalArgumentException.class, () -> StandardInputs.generate("zeros", 1, shape));
    }

    /** Sinks, locality and needles as BENCHMARKS.md describes them, measured with exact attention. */
    @Test
    void structuredInputsHaveSinksLocalityAndNeedles() {
        for (int n : new int[] {2048, 8192}) {
            AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, n, 4, 2, 64));
            AttentionProblem p = AttentionProblem.of(in.q(), in.k(), in.v(), AttentionSpec.noncausal(), null);
            double[] probabilities = new double[n];
            double[] out = new double[64];
            double sink = 0, local = 0;
            int rows = 0;
            for (int i = n / 8; i < n - 16; i += n / 32) {
                for (int h = 0; h < 4; h++) {
                    ReferenceAttention.row(p, 0, h, i, probabilities, out);
                    for (int j = 0; j < 4; j++) {
                        sink += probabilities[j];
                    }
                    for (int j = Math.max(4, i - 128); j <= Math.min(n - 1, i + 128); j++) {
                        local += probabilities[j];
                    }
                    rows++;
                }
            }
            sink /= rows;
            local /= rows;
            assertTrue(sink > 0.15 && sink < 0.45, "sink mass " + sink + " at n=" + n + " (target 0.3)");
            assertTrue(local > 0.45 && local < 0.8, "local mass " + local + " at n=" + n + " (target 0.6)");
            assertTrue(sink + local > 0.8, "sinks and neighbourhood hold most of the mass at n=" + n);

            AttentionResult top = new FlashAttention(Engine.defaults()).forward(in.q(), in.k(), in.v(),
                    AttentionSpec.causal().observe(Observers.topK(1)));
            int found = 0;
            double weight = 0;
            for (Needle needle : in.needles()) {
                for (int g = 0; g < 2; g++) {
                    int h = needle.kvHead() * 2 + g;
                    if (top.topKeys().index(0, h, needle.queryIndex(), 0) == needle.keyPosition()) {
                        found++;
                    }
                    weight += top.topKeys().weight(0, h, needle.queryIndex(), 0);
                }
            }
            int total = in.needles().size() * 2;
            assertEquals(16, in.needles().size(), "8 needles per KV head");
            assertTrue(found >= total * 0.95, found + " of " + total + " needles are their query's top key at n=" + n);
            assertTrue(weight / total > 0.7, "needle weight " + weight / total + " (target 0.9)");
            for (Needle needle : in.needles()) {
                assertTrue(needle.keyPosition() >= 4 && needle.keyPosition() < needle.queryIndex(),
                        "needles sit after the sinks and before their query: " + needle);
            }
        }
    }

    @Test
    void shapesAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> InputShape.self(1, 0, 2, 2, 8));
        assertThrows(IllegalArgumentException.class, () -> InputShape.self(1, 10, 3, 2, 8));
        assertThrows(IllegalArgumentException.class,
                () -> StandardInputs.structured(1, InputShape.self(1, 10, 2, 2, 4)));
        assertThrows(IllegalArgumentException.class, () -> new StandardInputs.Structure(4, 0.6, 0.5, 64, 8, 0.9));
    }
}
