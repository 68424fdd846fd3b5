package io.attn4j.linalg;

import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import io.attn4j.testing.SimdPaths;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GemmTest {

    private static Tensor gaussian(SplittableRandom r, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] a = t.array();
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return t;
    }

    @Test
    void multiplyMatchesAFloat64LoopAtOddSizes() {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        for (VectorOps ops : SimdPaths.all()) {
            Engine engine = Engine.of(ops, 3);
            for (int[] size : new int[][] {{1, 1, 1}, {3, 17, 5}, {65, 64, 64}, {130, 100, 385}, {200, 384, 1152}}) {
                int rows = size[0], inputs = size[1], outputs = size[2];
                Tensor a = gaussian(r, rows, inputs + 3); // a row stride wider than the inputs
                Tensor w = gaussian(r, outputs, inputs);
                float[] bias = gaussian(r, outputs).array();
                PackedMatrix packed = PackedMatrix.ofOutputsByInputs(w);
                float[] c = new float[rows * (outputs + 2) + 1];
                Gemm.multiply(engine, a.array(), 0, inputs + 3, rows, packed, bias, c, 1, outputs + 2);
                for (int i = 0; i < rows; i++) {
                    for (int o = 0; o < outputs; o++) {
                        double expected = bias[o], scale = Math.abs(bias[o]);
                        for (int t = 0; t < inputs; t++) {
                            double term = (double) a.get(i, t) * w.get(o, t);
                            expected += term;
                            scale += Math.abs(term);
                        }
                        float actual = c[1 + i * (outputs + 2) + o];
                        assertEquals(expected, actual, 1e-6 * scale + 1e-6, ops.name() + " " + rows + "x" + inputs
                                + "x" + outputs + " at (" + i + ", " + o + ")");
                    }
                }
            }
        }
    }

    @Test
    void aRowsResultDoesNotDependOnTheRowsBatchedWithIt() {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        int rows = 131, inputs = 384, outputs = 1152 + 40; // a partial last panel too
        Tensor a = gaussian(r, rows, inputs);
        PackedMatrix w = PackedMatrix.ofOutputsByInputs(gaussian(r, outputs, inputs));
        float[] bias = gaussian(r, outputs).array();
        for (VectorOps ops : SimdPaths.all()) {
            float[] all = new float[rows * outputs];
            Gemm.multiply(Engine.of(ops, 2), a.array(), 0, inputs, rows, w, bias, all, 0, outputs);
            for (int chunk : new int[] {1, 7, 61}) {
                float[] pieces = new float[rows * outputs];
                for (int r0 = 0; r0 < rows; r0 += chunk) {
                    int n = Math.min(chunk, rows - r0);
                    Gemm.multiply(Engine.of(ops, 1), a.array(), r0 * inputs, inputs, n, w, bias, pieces,
                            r0 * outputs, outputs);
                }
                assertTrue(java.util.Arrays.equals(all, pieces), ops.name() + ": rows in chunks of " + chunk);
            }
        }
    }

    @Test
    void bothLayoutsAndStacksPackTheSameMatrix() {
        SplittableRandom r = new SplittableRandom(Fresh.seed());
        Tensor q = gaussian(r, 70, 40), k = gaussian(r, 70, 40), v = gaussian(r, 30, 40);
        PackedMatrix stacked = PackedMatrix.stack(List.of(q, k, v), false);
        assertEquals(170, stacked.outputs());
        assertEquals(40, stacked.inputs());
        Tensor all = Tensor.zeros(170, 40);
        all.slice(0, 0, 70).copyFrom(q);
        all.slice(0, 70, 140).copyFrom(k);
        all.slice(0, 140, 170).copyFrom(v);
        PackedMatrix fromTransposed = PackedMatrix.ofInputsByOutputs(all.permute(1, 0).copy());
        Engine engine = Engine.defaults();
        Tensor a = gaussian(r, 9, 40);
        float[] c1 = new float[9 * 170], c2 = new float[9 * 170];
        Gemm.multiply(engine, a.array(), 0, 40, 9, stacked, null, c1, 0, 170);
        Gemm.multiply(engine, a.array(), 0, 40, 9, fromTransposed, null, c2, 0, 170);
        assertTrue(java.util.Arrays.equals(c1, c2));
    }

    @Test
    void badShapesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> PackedMatrix.ofOutputsByInputs(Tensor.zeros(3, 4, 5)));
        assertThrows(IllegalArgumentException.class,
                () -> PackedMatrix.stack(List.of(Tensor.zeros(3, 4), Tensor.zeros(3, 5)), false));
        PackedMatrix w = PackedMatrix.ofOutputsByInputs(Tensor.zeros(8, 4));
        assertThrows(IllegalArgumentException.class,
                () -> Gemm.multiply(Engine.defaults(), new float[8], 0, 3, 2, w, null, new float[16], 0, 8));
    }
}
