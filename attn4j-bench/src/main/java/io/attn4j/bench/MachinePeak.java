package io.attn4j.bench;

import io.attn4j.util.Json;
import io.attn4j.simd.VectorOpsProvider;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * What this machine can do, measured in pure Java in the same process as the benchmarks that quote it
 * (BENCHMARKS.md, "The limits of the machine").
 *
 * <ul>
 *   <li><b>FMA throughput</b>: a Vector API loop over 16 independent accumulators ({@code acc = x·y + acc} at the
 *       preferred width), enough to cover the FMA latency of every current core, counted as 2 flops per lane.
 *       Scalar JVMs run the same loop on {@link Math#fma}.</li>
 *   <li><b>Memory bandwidth</b>: a streaming {@code a[i] = s·b[i]} over two 256 MB arrays, partitioned over the
 *       threads, counted as 8 bytes per element (one read, one write), STREAM's "scale" convention.</li>
 *   <li><b>Bandwidth at a working set</b> ({@link #bandwidthLimit}): what a kernel moving a given number of bytes
 *       can reach at most. Repeated calls on inputs that fit in the caches read them from the caches, faster than
 *       from memory, so a kernel's bytes per second are compared with a pure read loop (a sum with independent
 *       accumulators) — or the scale loop when it writes as much as it reads — over a working set of the same
 *       size, measured on demand by the same threads and cached per power-of-two size.</li>
 * </ul>
 * Each figure is the best of several repetitions, as STREAM reports: the limit, not the typical. All-threads
 * figures start every thread at a barrier and time until the last one finishes, so each thread does exactly its
 * share (no thread can take another's work while it is still starting).
 *
 * @param threads      threads of the all-threads figures
 * @param fmaGflops1   FMA GFLOP/s on one thread
 * @param fmaGflops    FMA GFLOP/s on {@code threads} threads
 * @param streamGbs1   GB/s on one thread
 * @param streamGbs    GB/s on {@code threads} threads
 * @param jdk          the JDK running the benchmark
 * @param simd         the {@link io.attn4j.simd.VectorOps} implementation in use
 */
public record MachinePeak(int threads, double fmaGflops1, double fmaGflops, double streamGbs1, double streamGbs,
                          String jdk, String simd) {

    private static final int STREAM_FLOATS = 64 << 20; // 256 MB per array
    private static volatile float sink;

    /** Measures the machine with {@code threads} threads (about 1.5 s per figure). */
    public static MachinePeak measure(int threads, boolean useSimd) {
        double fma1 = fma(1, useSimd), fmaAll = threads == 1 ? fma1 : fma(threads, useSimd);
        float[] a = new float[STREAM_FLOATS], b = new float[STREAM_FLOATS];
        java.util.Arrays.fill(b, 1.5f);
        double stream1 = stream(1, a, b, useSimd), streamAll = threads == 1 ? stream1 : stream(threads, a, b, useSimd);
        return new MachinePeak(threads, fma1, fmaAll, stream1, streamAll, Runtime.version().toString(),
                useSimd ? VectorOpsProvider.get().name() : "scalar");
    }

    /** Measures with the SIMD choice of {@link VectorOpsProvider#get()}. */
    public static MachinePeak measure(int threads) {
        return measure(threads, VectorOpsProvider.get().lanes() > 1);
    }

    private static double fma(int threads, boolean useSimd) {
        long iterations = useSimd ? 10_000_000L : 2_500_000L;
        double flopsPerIteration = 16.0 * 2 * (useSimd ? FloatVector.SPECIES_PREFERRED.length() : 1);
        double best = 0;
        long start = System.nanoTime();
        // at least 10 repetitions and 1.5 s: on a shared machine a core is sometimes busy for a while (the JIT,
        // another process), and the best repetition is the one that had the machine
        for (int rep = 0; rep < 11 || System.nanoTime() - start < 1.5e9; rep++) {
            double seconds = together(threads, t -> sink += useSimd ? fmaLoopSimd(iterations) : fmaLoopScalar(iterations));
            if (rep > 0) { // the first repetition warms up the JIT
                best = Math.max(best, threads * iterations * flopsPerIteration / seconds / 1e9);
            }
        }
        return best;
    }

    /**
     * Runs {@code body(t)} on {@code threads} fresh threads that wait at a gate, opens the gate, and returns the
     * seconds from opening it until the last thread ends. The clock starts before the gate opens, so a measurement
     * can only overstate the time (by the wake-up latency), never understate it.
     */
    private static double together(int threads, java.util.function.IntConsumer body) {
        java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(threads);
        java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(1);
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            int index = t;
            workers[t] = new Thread(() -> {
                ready.countDown();
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                body.accept(index);
            }, "attn4j-peak-" + t);
            workers[t].start();
        }
        try {
            ready.await();
            long begin = System.nanoTime();
            gate.countDown();
            for (Thread w : workers) {
                w.join();
            }
            return (System.nanoTime() - begin) / 1e9;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("peak measurement interrupted", e);
        }
    }

    private static float fmaLoopSimd(long iterations) {
        VectorSpecies<Float> f = FloatVector.SPECIES_PREFERRED;
        FloatVector x = FloatVector.broadcast(f, 0.999999f), y = FloatVector.broadcast(f, 1e-7f);
        FloatVector a0 = FloatVector.broadcast(f, 0.1f), a1 = a0.add(0.01f), a2 = a0.add(0.02f), a3 = a0.add(0.03f);
        FloatVector a4 = a0.add(0.04f), a5 = a0.add(0.05f), a6 = a0.add(0.06f), a7 = a0.add(0.07f);
        FloatVector a8 = a0.add(0.08f), a9 = a0.add(0.09f), a10 = a0.add(0.10f), a11 = a0.add(0.11f);
        FloatVector a12 = a0.add(0.12f), a13 = a0.add(0.13f), a14 = a0.add(0.14f), a15 = a0.add(0.15f);
        for (long i = 0; i < iterations; i++) {
            a0 = a0.fma(x, y);
            a1 = a1.fma(x, y);
            a2 = a2.fma(x, y);
            a3 = a3.fma(x, y);
            a4 = a4.fma(x, y);
            a5 = a5.fma(x, y);
            a6 = a6.fma(x, y);
            a7 = a7.fma(x, y);
            a8 = a8.fma(x, y);
            a9 = a9.fma(x, y);
            a10 = a10.fma(x, y);
            a11 = a11.fma(x, y);
            a12 = a12.fma(x, y);
            a13 = a13.fma(x, y);
            a14 = a14.fma(x, y);
            a15 = a15.fma(x, y);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .add(a12).add(a13).add(a14).add(a15).reduceLanes(VectorOperators.ADD);
    }

    private static float fmaLoopScalar(long iterations) {
        float x = 0.999999f, y = 1e-7f;
        float a0 = 0.1f, a1 = 0.11f, a2 = 0.12f, a3 = 0.13f, a4 = 0.14f, a5 = 0.15f, a6 = 0.16f, a7 = 0.17f;
        float a8 = 0.18f, a9 = 0.19f, a10 = 0.2f, a11 = 0.21f, a12 = 0.22f, a13 = 0.23f, a14 = 0.24f, a15 = 0.25f;
        for (long i = 0; i < iterations; i++) {
            a0 = Math.fma(a0, x, y);
            a1 = Math.fma(a1, x, y);
            a2 = Math.fma(a2, x, y);
            a3 = Math.fma(a3, x, y);
            a4 = Math.fma(a4, x, y);
            a5 = Math.fma(a5, x, y);
            a6 = Math.fma(a6, x, y);
            a7 = Math.fma(a7, x, y);
            a8 = Math.fma(a8, x, y);
            a9 = Math.fma(a9, x, y);
            a10 = Math.fma(a10, x, y);
            a11 = Math.fma(a11, x, y);
            a12 = Math.fma(a12, x, y);
            a13 = Math.fma(a13, x, y);
            a14 = Math.fma(a14, x, y);
            a15 = Math.fma(a15, x, y);
        }
        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15;
    }

    private static double stream(int threads, float[] a, float[] b, boolean useSimd) {
        int n = a.length;
        double best = 0;
        long start = System.nanoTime();
        for (int rep = 0; rep < 6 || (rep < 30 && System.nanoTime() - start < 1.5e9); rep++) {
            double seconds = together(threads, t -> {
                int from = (int) ((long) n * t / threads), to = (int) ((long) n * (t + 1) / threads);
                if (useSimd) {
                    scaleSimd(a, b, from, to);
                } else {
                    for (int i = from; i < to; i++) {
                        a[i] = 1.0001f * b[i];
                    }
                }
            });
            if (rep > 0) {
                best = Math.max(best, 8.0 * n / seconds / 1e9);
            }
        }
        sink += a[n / 2];
        return best;
    }

    private static void scaleSimd(float[] a, float[] b, int from, int to) {
        VectorSpecies<Float> f = FloatVector.SPECIES_PREFERRED;
        int i = from;
        for (; i + f.length() <= to; i += f.length()) {
            FloatVector.fromArray(f, b, i).mul(1.0001f).intoArray(a, i);
        }
        for (; i < to; i++) {
            a[i] = 1.0001f * b[i];
        }
    }

    /** What a kernel's traffic is: reads (a kernel reading its operands, writing little) or reads and writes. */
    public enum Access {
        /** Mostly reads: compared with a read loop. */
        READ,
        /** As much written as read (a recurrent state updated in place): compared with the scale loop. */
        READ_WRITE
    }

    /** Working sets from this size on are past every cache: the figure of a 256 MB set stands for them. */
    private static final long MEMORY_SIZED = 64L << 20;
    private static final java.util.Map<String, Double> LIMITS = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * The GB/s this machine reaches at most, with {@link #threads} threads, on traffic of {@code access} over a
     * working set of {@code bytes}: a loop over the largest power of two not above {@code bytes} (at least 64 KB;
     * from 64 MB on, 256 MB), best of several repetitions — the limit a kernel moving {@code bytes} per call can
     * approach, never exceed (a smaller set is at least as fast). Measured once per size and access, in about
     * 0.2 s, and never below the stream figure of this record.
     */
    public double bandwidthLimit(double bytes, Access access) {
        long size = bytes >= MEMORY_SIZED ? 256L << 20 : Math.max(64L << 10, Long.highestOneBit((long) Math.max(1,
                bytes)));
        String key = threads + "/" + access + "/" + size;
        double measured = LIMITS.computeIfAbsent(key, k -> measureBandwidth(threads, size, access));
        return Math.max(measured, streamGbs);
    }

    private static double measureBandwidth(int threads, long bytes, Access access) {
        boolean useSimd = VectorOpsProvider.get().lanes() > 1;
        int floats = (int) (bytes / 4);
        float[] a = new float[access == Access.READ ? floats : floats / 2];
        float[] b = access == Access.READ ? null : new float[floats / 2];
        java.util.Arrays.fill(a, 1.25f);
        int n = a.length;
        // passes over the set per repetition: about 64 MB of traffic, so a repetition is long enough to time
        int passes = (int) Math.max(1, (64L << 20) / bytes);
        double best = 0;
        long start = System.nanoTime();
        for (int rep = 0; rep < 6 || (rep < 40 && System.nanoTime() - start < 0.2e9); rep++) {
            double seconds = together(threads, t -> {
                int from = (int) ((long) n * t / threads), to = (int) ((long) n * (t + 1) / threads);
                float acc = 0;
                for (int pass = 0; pass < passes; pass++) {
                    if (access == Access.READ) {
                        acc += useSimd ? sumSimd(a, from, to) : sumScalar(a, from, to);
                    } else if (useSimd) {
                        scaleSimd(b, a, from, to);
                    } else {
                        for (int i = from; i < to; i++) {
                            b[i] = 1.0001f * a[i];
                        }
                    }
                }
                sink += acc;
            });
            if (rep > 0) { // the first repetition warms up the JIT
                best = Math.max(best, (double) passes * n * (access == Access.READ ? 4 : 8) / seconds / 1e9);
            }
        }
        return best;
    }

    private static float sumSimd(float[] a, int from, int to) {
        VectorSpecies<Float> f = FloatVector.SPECIES_PREFERRED;
        FloatVector s0 = FloatVector.zero(f), s1 = FloatVector.zero(f), s2 = FloatVector.zero(f);
        FloatVector s3 = FloatVector.zero(f);
        int i = from, step = f.length();
        for (; i + 4 * step <= to; i += 4 * step) {
            s0 = s0.add(FloatVector.fromArray(f, a, i));
            s1 = s1.add(FloatVector.fromArray(f, a, i + step));
            s2 = s2.add(FloatVector.fromArray(f, a, i + 2 * step));
            s3 = s3.add(FloatVector.fromArray(f, a, i + 3 * step));
        }
        float sum = s0.add(s1).add(s2).add(s3).reduceLanes(VectorOperators.ADD);
        for (; i < to; i++) {
            sum += a[i];
        }
        return sum;
    }

    private static float sumScalar(float[] a, int from, int to) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = from;
        for (; i + 4 <= to; i += 4) {
            s0 += a[i];
            s1 += a[i + 1];
            s2 += a[i + 2];
            s3 += a[i + 3];
        }
        for (; i < to; i++) {
            s0 += a[i];
        }
        return s0 + s1 + s2 + s3;
    }

    /**
     * The figures as a JSON object: {@code threads, fma_gflops, stream_gbs, jdk, simd}, and with
     * {@code singleThread} also {@code fma_gflops_1, stream_gbs_1}.
     */
    public java.util.Map<String, Object> toJson(boolean singleThread) {
        java.util.Map<String, Object> o = Json.object();
        o.put("threads", threads);
        o.put("fma_gflops", fmaGflops);
        o.put("stream_gbs", streamGbs);
        o.put("jdk", jdk);
        o.put("simd", simd);
        if (singleThread) {
            o.put("fma_gflops_1", fmaGflops1);
            o.put("stream_gbs_1", streamGbs1);
        }
        return o;
    }

    /** One line for reports: {@code 2 threads: FMA 350.1 GFLOP/s (1 thread 175.0), stream 22.3 GB/s (1 thread 14.1)}. */
    public String line() {
        return String.format("%d threads: FMA %.1f GFLOP/s (1 thread %.1f), stream %.1f GB/s (1 thread %.1f); %s, %s",
                threads, fmaGflops, fmaGflops1, streamGbs, streamGbs1, jdk, simd);
    }
}
