package io.attn4j.analysis;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Masks;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FidelityTest {

    @Test
    void exactOutputsHaveNoErrorAndFullRecall() {
        AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(2, 300, 4, 2, 32));
        AttentionSpec spec = AttentionSpec.causal();
        Fidelity f = new Fidelity(in.q(), in.k(), in.v(), spec);
        Tensor out = new FlashAttention(Engine.defaults()).forward(in.q(), in.k(), in.v(), spec).output();
        Fidelity.Measures m = f.measure(out, (b, h, q, k) -> true);
        assertTrue(m.relativeError() < 1e-5, "flash error " + m.relativeError());
        assertEquals(1.0, m.massRecall(), 1e-6);
        assertEquals(0.0, m.rowKl(), 1e-6);
        Fidelity.Measures none = f.measure(out, null);
        assertTrue(Double.isNaN(none.massRecall()) && Double.isNaN(none.rowKl()));
    }

    @Test
    void recallAndKlOfAWindowAreTheMassItKeeps() {
        int n = 60; // every row sampled
        AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, n, 2, 2, 16));
        AttentionSpec spec = AttentionSpec.causal();
        Fidelity f = new Fidelity(in.q(), in.k(), in.v(), spec);
        MaskMod window = Masks.slidingWindow(8).bind(n, n);
        Tensor out = new ReferenceAttention(Engine.defaults()).forward(in.q(), in.k(), in.v(),
                spec.mask(window)).output();
        Fidelity.Measures m = f.measure(out, window::test);
        // brute force: the exact weights of every row, summed over the window
        Tensor lse = new ReferenceAttention(Engine.defaults()).forward(in.q(), in.k(), in.v(), spec.returnLse()).lse();
        double recall = 0, kl = 0;
        float scale = (float) (1 / Math.sqrt(16));
        for (int h = 0; h < 2; h++) {
            for (int i = 0; i < n; i++) {
                double kept = 0;
                for (int j = Math.max(0, i - 7); j <= i; j++) {
                    double dot = 0;
                    for (int t = 0; t < 16; t++) {
                        dot += (double) in.q().get(0, i, h, t) * in.k().get(0, j, h, t);
                    }
                    kept += Math.exp(scale * dot - lse.get(0, h, i));
                }
                recall += kept;
                kl += -Math.log(kept);
            }
        }
        assertEquals(recall / (2 * n), m.massRecall(), 1e-4);
        assertEquals(kl / (2 * n), m.rowKl(), 1e-3);
        assertTrue(m.massRecall() < 1 && m.minMassRecall() <= m.massRecall());
    }

    @Test
    void longInputsAreSampledAndEachRowStandsForItsShare() {
        int[] rows = Fidelity.sampleRows(1000);
        assertEquals(40, rows.length);
        assertEquals(0, rows[0]);
        assertArrayEquals(new int[] {992, 993, 994, 995, 996, 997, 998, 999}, java.util.Arrays.copyOfRange(rows, 32, 40));
        assertEquals(64, Fidelity.sampleRows(64).length);
        // an output wrong only in the last 8 rows: its weighted error is that of 8 rows in 1000, not 8 in 40
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 1000, 1, 1, 16));
        AttentionSpec spec = AttentionSpec.noncausal();
        Tensor out = new FlashAttention(Engine.defaults()).forward(in.q(), in.k(), in.v(), spec).output();
        for (int i = 992; i < 1000; i++) {
            for (int c = 0; c < 16; c++) {
                out.set(0f, 0, i, 0, c);
            }
        }
        double error = new Fidelity(in.q(), in.k(), in.v(), spec).relativeError(out);
        assertTrue(error < Math.sqrt(8.0 / 1000) * 1.5 && error > Math.sqrt(8.0 / 1000) / 1.5, "error " + error);
    }
}
