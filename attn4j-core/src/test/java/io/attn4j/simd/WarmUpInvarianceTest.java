package io.attn4j.simd;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Masks;
import io.attn4j.attention.ScoreMods;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SIMD kernels give the same bits before and after the JIT compiles them. The Vector API runs its operators as
 * plain Java until C2 compiles a method, then as machine code; where the two round differently (the JDK's
 * {@code EXP} and {@code TANH} operators, {@code reduceLanes(ADD)}), a text's embedding depended on what ran before
 * it, and a test comparing two passes failed on a cold JVM only. Here a child JVM with {@code -Xint} (nothing ever
 * compiled) computes the same fingerprint as this JVM after a warm-up, and the two must be equal bit for bit.
 */
class WarmUpInvarianceTest {

    /** Run by the child JVM: prints the fingerprint, one float's bits per line (its other output is logging). */
    public static void main(String[] args) {
        for (int bits : fingerprint()) {
            System.out.println("bits " + Integer.toHexString(bits));
        }
    }

    @Test
    void compiledKernelsGiveTheInterpretedBits() throws IOException, InterruptedException {
        for (int i = 0; i < 300; i++) {
            fingerprint();
        }
        int[] warm = fingerprint();
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process child = new ProcessBuilder(java.toString(), "--add-modules=jdk.incubator.vector", "-Xint",
                "-cp", System.getProperty("java.class.path"), WarmUpInvarianceTest.class.getName())
                .redirectErrorStream(true).start();
        String out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(child.waitFor(120, TimeUnit.SECONDS), "the interpreted child finished");
        assertEquals(0, child.exitValue(), () -> "the interpreted child's exit code; it printed:\n" + out);
        String[] lines = out.lines().filter(line -> line.startsWith("bits ")).map(line -> line.substring(5)).toArray(String[]::new);
        assertEquals(warm.length, lines.length, "fingerprint length");
        for (int i = 0; i < warm.length; i++) {
            int cold = Integer.parseUnsignedInt(lines[i], 16);
            int index = i;
            assertEquals(cold, warm[i], () -> "value " + index + ": interpreted " + Float.intBitsToFloat(cold)
                    + ", compiled " + Float.intBitsToFloat(warm[index]));
        }
    }

    /** Every kernel whose arithmetic the JIT could change, on fixed inputs longer than a few vectors. */
    static int[] fingerprint() {
        VectorOps ops = new PanamaVectorOps(); // the provider refuses SIMD under -Xint, for speed; not so here
        FlashAttention flash = new FlashAttention(Engine.of(ops, 2));
        SplittableRandom r = new SplittableRandom(42);
        List<Float> values = new ArrayList<>();
        int n = 203;
        float[] x = gaussian(r, n), y = gaussian(r, n);
        values.add(ops.dot(x, 0, y, 0, n));
        float[] g = x.clone();
        ops.gelu(g, 0, n);
        add(values, g);
        float[] c = x.clone();
        ops.softcap(c, 0, n, 0.8f);
        add(values, c);
        float[] e = x.clone();
        values.add(ops.expShiftSum(e, 0, n, 3f));
        add(values, e);
        float[] ls = x.clone(); // GLA's gates: bits of a chunked run once depended on warm-up through these
        for (int i = 0; i < n; i++) {
            ls[i] *= 12f; // through σ's saturated tails too
        }
        ops.logSigmoid(ls, 0, n, 0.5f);
        add(values, ls);
        byte[] codes = new byte[n];
        r.nextBytes(codes);
        float[] dq = new float[n];
        ops.dequantizeBytes(codes, 0, 0.25f, 0.01f, dq, 0, n);
        add(values, dq);
        ops.dequantizeNibbles(codes, 0, -0.5f, 0.1f, dq, 0, n);
        add(values, dq);
        float[] norm = new float[n];
        ops.layerNorm(x, 0, n, y, x, 1e-12f, norm, 0);
        add(values, norm);

        AttentionInputs in = StandardInputs.random(7, InputShape.self(1, 37, 2, 2, 32));
        add(values, flash.forward(in.q(), in.k(), in.v(), AttentionSpec.noncausal()).output().toArray());
        add(values, flash.forward(in.q(), in.k(), in.v(),
                AttentionSpec.causal().scoreMod(ScoreMods.softcap(2f)).returnLse()).lse().toArray());
        add(values, flash.forward(in.q(), in.k(), in.v(),
                AttentionSpec.noncausal().mask(Masks.slidingWindow(9))).output().toArray());
        int[] bits = new int[values.size()];
        for (int i = 0; i < bits.length; i++) {
            bits[i] = Float.floatToRawIntBits(values.get(i));
        }
        return bits;
    }

    private static float[] gaussian(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (2 * r.nextGaussian());
        }
        return v;
    }

    private static void add(List<Float> values, float[] v) {
        for (float f : v) {
            values.add(f);
        }
    }
}
