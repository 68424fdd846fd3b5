package io.attn4j.bench.peers;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A timing sanity check, not a benchmark: the median milliseconds of {@link OrtAttention#run()} and of attn4j's
 * {@code flash} (on an engine of {@code threads} threads) at self-attention shapes, in one process, their runs
 * interleaved (see {@link #medians}). The real comparison is {@code compare}'s job.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp ... io.attn4j.bench.peers.OrtAttentionTiming \
 *     [threads=2] [heads=8] [headDim=64] [lengths=1024,4096] [operators=MULTI_HEAD_ATTENTION,ATTENTION]
 * </pre>
 * attn4j's output is written into one preallocated tensor; ORT's inputs are prepared once, so only
 * {@link OrtAttention#run()} is timed.
 */
public final class OrtAttentionTiming {
    private OrtAttentionTiming() {
    }

    public static void main(String[] args) {
        int threads = 2, heads = 8, headDim = 64;
        int[] lengths = {1024, 4096};
        OrtAttention.Operator[] operators = OrtAttention.Operator.values();
        for (String arg : args) {
            String[] kv = arg.split("=", 2);
            if (kv.length != 2) {
                throw new IllegalArgumentException("argument '" + arg + "'; expected name=value");
            }
            switch (kv[0]) {
                case "threads" -> threads = Integer.parseInt(kv[1]);
                case "heads" -> heads = Integer.parseInt(kv[1]);
                case "headDim" -> headDim = Integer.parseInt(kv[1]);
                case "lengths" -> lengths = Arrays.stream(kv[1].split(",")).mapToInt(Integer::parseInt).toArray();
                case "operators" -> operators = Arrays.stream(kv[1].split(","))
                        .map(s -> OrtAttention.Operator.valueOf(s.toUpperCase(Locale.ROOT)))
                        .toArray(OrtAttention.Operator[]::new);
                default -> throw new IllegalArgumentException("argument '" + kv[0]
                        + "'; allowed: threads, heads, headDim, lengths, operators");
            }
        }
        FlashAttention flash = new FlashAttention(Engine.defaults().withThreads(threads));
        System.out.printf(Locale.ROOT, "threads=%d H=%d D=%d B=1, median ms of each engine, runs interleaved%n",
                threads, heads, headDim);
        for (int n : lengths) {
            AttentionInputs in = StandardInputs.random(1, InputShape.self(1, n, heads, heads, headDim));
            for (boolean causal : new boolean[] {false, true}) {
                AttentionSpec spec = causal ? AttentionSpec.causal() : AttentionSpec.noncausal();
                Tensor out = Tensor.zeros(1, n, heads, headDim);
                List<OrtAttention> orts = new ArrayList<>();
                try {
                    List<Runnable> calls = new ArrayList<>();
                    calls.add(() -> flash.forward(in.q(), in.k(), in.v(), spec, out));
                    for (OrtAttention.Operator operator : operators) {
                        OrtAttention ort = new OrtAttention(operator, 1, n, n, heads, headDim, causal, Float.NaN,
                                threads);
                        orts.add(ort);
                        ort.prepare(in.q(), in.k(), in.v());
                        calls.add(ort::run);
                    }
                    double[] ms = medians(calls);
                    StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "n=%5d %-9s flash %9.2f",
                            n, causal ? "causal" : "noncausal", ms[0]));
                    for (int i = 0; i < orts.size(); i++) {
                        line.append(String.format(Locale.ROOT, "  %s %9.2f (ORT/flash %.2f)",
                                orts.get(i).operator(), ms[i + 1], ms[i + 1] / ms[0]));
                    }
                    System.out.println(line);
                } finally {
                    orts.forEach(OrtAttention::close);
                }
            }
        }
    }

    /**
     * The median ms of each call: each warmed up alone (at least 3 runs and a second), then rounds of one run of
     * each in turn, until at least 7 rounds and 3 seconds. A pause of 20 ms before each timed run lets the previous
     * engine's pool threads stop spinning, so that interleaving, which spreads the machine's other load evenly over
     * the engines, does not make one engine pay for the other's threads.
     */
    private static double[] medians(List<Runnable> calls) {
        for (Runnable call : calls) {
            long warm = System.nanoTime();
            for (int i = 0; i < 3 || System.nanoTime() - warm < 1_000_000_000L; i++) {
                call.run();
            }
        }
        List<List<Double>> ms = new ArrayList<>();
        calls.forEach(c -> ms.add(new ArrayList<>()));
        long start = System.nanoTime();
        for (int round = 0; round < 7 || System.nanoTime() - start < 3_000_000_000L; round++) {
            for (int i = 0; i < calls.size(); i++) {
                pause();
                long t = System.nanoTime();
                calls.get(i).run();
                ms.get(i).add((System.nanoTime() - t) / 1e6);
            }
        }
        return ms.stream().mapToDouble(OrtAttentionTiming::median).toArray();
    }

    private static double median(List<Double> values) {
        double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static void pause() {
        try {
            Thread.sleep(20);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
