package io.attn4j.bench;

import io.attn4j.util.Json;
import io.attn4j.analysis.Fidelity;
import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Masks;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.Work;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.catalog.Catalog;
import io.attn4j.catalog.Mechanism;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.models.capture.CaptureIndex;
import io.attn4j.models.capture.CapturedInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * {@code attn4j bench kernels}: mechanisms × lengths for one pattern, timed in one process against the machine's
 * limits measured in the same process (BENCHMARKS.md).
 *
 * <p>For each length a fresh input is generated ({@code random} or {@code structured}), or taken from a capture
 * ({@code captured}: real Q/K/V of an encoder, {@link CapturedInputs}, with the model's own logit scale); shapes
 * per pattern: NS and CS {@code Lq = Lk = n}; NC and CC {@code Lq = n, Lk = 2n} (a query sequence over a context
 * twice its length, causal bottom-right for CC); decode one new query per sequence against a cache of {@code n}
 * (captured inputs take keys from a text's first {@code Lk} tokens and queries from the last {@code Lq} of them,
 * so NC, CC and decode need texts of {@code 2n} and {@code n} tokens). Each mechanism
 * writes into a preallocated output; inputs are checked for finiteness once, outside the timed calls.
 *
 * <ul>
 *   <li><b>Time</b>: the JIT is first warmed on a small input of the same configuration (at least 1.5 s or 400
 *       calls, so C2 has compiled the kernels before a long call runs in slower tiers), then the measured input
 *       is warmed until 2 calls and 1 s (1 call if a call takes over 2 s); then at least 5 timed calls and until
 *       1 s has passed (at most 50): min, median, max.</li>
 *   <li><b>Work</b>: what the mechanism computed, as it counts it ({@link AttentionMechanism#work}, {@link Work}):
 *       exact mechanisms {@code 2·(D + Dv)} per visible (query, key) pair per query head (LongCA-bench's mask-area
 *       rule: causal counts about half, a window about {@code n·w}); sparse mechanisms the same per pair they kept,
 *       their selection's FLOPs apart; linear forms their own formula. {@code gflops} counts both, {@code pct_peak}
 *       against the FMA figure. Bytes: Q and the output once, K and V of every key read, once per KV head;
 *       {@code pct_bandwidth} against the bandwidth this machine reaches on a working set of as many bytes
 *       ({@link MachinePeak#bandwidthLimit}: a call whose inputs fit in the caches is held to the caches' speed).
 *       </li>
 *   <li><b>Dense-equivalent speed-up</b> ({@code speedup_vs_flash}): {@code flash}'s median time on the same input
 *       divided by the mechanism's, when {@code flash} is measured in the same sweep: what sparse and linear
 *       mechanisms are for.</li>
 *   <li><b>Extra bytes</b>: heap allocated during one call by all threads ({@code ThreadMXBean}), output excluded
 *       (it is preallocated).</li>
 *   <li><b>Relative error</b> {@code ‖o − o_ref‖ / ‖o_ref‖} against {@code reference} (float64) on every query row
 *       when there are at most 64, else on 32 evenly spaced rows plus the last 8, of every (batch, head).</li>
 * </ul>
 */
public final class KernelBench {

    private KernelBench() {
    }

    /**
     * @param mechanisms catalog ids
     * @param pattern    the pattern
     * @param lengths    query lengths (decode: cache lengths)
     * @param headDim    D (= Dv)
     * @param heads      query heads
     * @param kvHeads    KV heads
     * @param batch      batch size
     * @param threads    threads per call
     * @param input      {@code random}, {@code structured} or {@code captured}
     * @param window     sliding window (keys within {@code |p − k| < window}, with the pattern's causality), or 0
     * @param seed       base seed; each length draws its own input from it (not used by {@code captured})
     * @param capture    the capture directory of {@code captured} inputs; {@code null} for the other inputs
     */
    public record Config(List<String> mechanisms, Pattern pattern, int[] lengths, int headDim, int heads, int kvHeads,
                         int batch, int threads, String input, int window, long seed, Path capture) {

        /** A sweep over generated inputs ({@code random} or {@code structured}). */
        public Config(List<String> mechanisms, Pattern pattern, int[] lengths, int headDim, int heads, int kvHeads,
                      int batch, int threads, String input, int window, long seed) {
            this(mechanisms, pattern, lengths, headDim, heads, kvHeads, batch, threads, input, window, seed, null);
        }

        public Config {
            if (mechanisms.isEmpty()) {
                throw new IllegalArgumentException("--mechanisms is empty");
            }
            mechanisms.forEach(m -> Catalog.create(m, Engine.defaults()));
            if (lengths.length == 0) {
                throw new IllegalArgumentException("--lengths is empty");
            }
            for (int n : lengths) {
                if (n < 1) {
                    throw new IllegalArgumentException("--lengths holds " + n + "; allowed: >= 1");
                }
            }
            if (headDim < 1 || heads < 1 || kvHeads < 1 || batch < 1 || threads < 1 || window < 0) {
                throw new IllegalArgumentException("head dim, heads, kv heads, batch and threads must be >= 1 and "
                        + "window >= 0");
            }
            if (heads % kvHeads != 0) {
                throw new IllegalArgumentException("--heads " + heads + " is not a multiple of --kv-heads " + kvHeads);
            }
            if (!input.equals("random") && !input.equals("structured") && !input.equals("captured")) {
                throw new IllegalArgumentException("--input " + input + "; allowed: random, structured, captured");
            }
            if (input.equals("captured") != (capture != null)) {
                throw new IllegalArgumentException(capture == null ? "--input captured needs a capture directory"
                        : "--capture " + capture + " is only read with --input captured (the input is " + input + ")");
            }
        }
    }

    /**
     * How long to warm up and time each measurement.
     *
     * @param jitWarmSeconds time spent on a small input of the configuration first, so C2 has compiled the kernels
     *                       before a long call runs in slower tiers (at most 400 calls); 0 skips it (the JIT is
     *                       already warm from an earlier measurement of the same mechanism)
     * @param warmCalls      calls of the measured input before timing (fewer if one call takes over 2 s)
     * @param warmSeconds    and at least this long
     * @param minCalls       timed calls at least
     * @param minSeconds     and until this much time has passed
     * @param maxCalls       but at most this many
     */
    public record Protocol(double jitWarmSeconds, int warmCalls, double warmSeconds, int minCalls, double minSeconds,
                           int maxCalls) {
        /** {@code bench kernels}: see the class comment. */
        public static final Protocol STANDARD = new Protocol(1.5, 2, 1, 5, 1, 50);

        public Protocol {
            if (jitWarmSeconds < 0 || warmCalls < 1 || warmSeconds < 0 || minCalls < 1 || minSeconds < 0
                    || maxCalls < minCalls) {
                throw new IllegalArgumentException("protocol " + jitWarmSeconds + "/" + warmCalls + "/" + warmSeconds
                        + "/" + minCalls + "/" + minSeconds + "/" + maxCalls + ": times >= 0, calls >= 1, max >= min");
            }
        }

        /** The same protocol without the JIT warm-up. */
        public Protocol warmJit(boolean warm) {
            return new Protocol(warm ? jitWarmSeconds : 0, warmCalls, warmSeconds, minCalls, minSeconds, maxCalls);
        }
    }

    /**
     * One row of results; times in milliseconds; {@code error} is null unless the mechanism failed.
     *
     * @param work            what one call computes and moves, as the mechanism counts it (null when it failed)
     * @param gflops          all of the work's FLOPs (attention and selection) per second of the median call
     * @param pctPeak         {@code gflops} as a percentage of the FMA figure
     * @param gbs             the work's bytes per second of the median call
     * @param pctBandwidth    {@code gbs} as a percentage of {@code bandwidthLimit}
     * @param bandwidthLimit  GB/s this machine reaches on a working set of the work's bytes
     * @param speedupVsFlash  flash's median on the same input ÷ this median; NaN when flash was not measured
     */
    public record Result(String mechanism, Pattern pattern, int n, int lk, int d, int heads, int kvHeads, int batch,
                         double msMin, double msMedian, double msMax, Work work, double gflops, double pctPeak,
                         double gbs, double pctBandwidth, double bandwidthLimit, long extraBytes, double relError,
                         double speedupVsFlash, String error) {

        /** A row with times measured for {@code work} against {@code peak}'s limits. */
        public static Result measured(String mechanism, InputShape shape, Pattern pattern, double[] ms, Work work,
                                      MachinePeak peak, MachinePeak.Access access, long extraBytes, double relError) {
            double seconds = ms[1] / 1e3;
            double gflops = work.totalFlops() / seconds / 1e9, gbs = work.bytes() / seconds / 1e9;
            double limit = peak.bandwidthLimit(work.bytes(), access);
            return new Result(mechanism, pattern, shape.queryLength(), shape.keyLength(), shape.headDim(),
                    shape.heads(), shape.kvHeads(), shape.batch(), ms[0], ms[1], ms[2], work, gflops,
                    100 * gflops / peak.fmaGflops(), gbs, 100 * gbs / limit, limit, extraBytes, relError, Double.NaN,
                    null);
        }

        /** A row for a mechanism that failed with {@code error}. */
        public static Result failed(String mechanism, InputShape shape, Pattern pattern, String error) {
            return new Result(mechanism, pattern, shape.queryLength(), shape.keyLength(), shape.headDim(),
                    shape.heads(), shape.kvHeads(), shape.batch(), Double.NaN, Double.NaN, Double.NaN, null,
                    Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, -1, Double.NaN, Double.NaN, error);
        }

        /** This row with its dense-equivalent speed-up against {@code flash}'s median time {@code flashMs}. */
        public Result withFlash(double flashMs) {
            return new Result(mechanism, pattern, n, lk, d, heads, kvHeads, batch, msMin, msMedian, msMax, work, gflops,
                    pctPeak, gbs, pctBandwidth, bandwidthLimit, extraBytes, relError, flashMs / msMedian, error);
        }

        /** This row as the JSON object of {@code bench kernels --json}. */
        public Map<String, Object> toJson() {
            Map<String, Object> o = Json.object();
            o.put("mechanism", mechanism);
            o.put("pattern", pattern.id());
            o.put("n", n);
            o.put("lk", lk);
            o.put("d", d);
            o.put("heads", heads);
            o.put("kv_heads", kvHeads);
            o.put("batch", batch);
            Map<String, Object> ms = Json.object();
            ms.put("min", msMin);
            ms.put("median", msMedian);
            ms.put("max", msMax);
            o.put("ms", ms);
            Map<String, Object> w = Json.object();
            w.put("flops", work == null ? null : work.flops());
            w.put("selection_flops", work == null ? null : work.selectionFlops());
            w.put("bytes", work == null ? null : work.bytes());
            w.put("rule", work == null ? null : work.rule());
            o.put("work", w);
            o.put("gflops", gflops);
            o.put("pct_peak", pctPeak);
            o.put("gbs", gbs);
            o.put("pct_bandwidth", pctBandwidth);
            o.put("bandwidth_limit_gbs", bandwidthLimit);
            o.put("speedup_vs_flash", Double.isNaN(speedupVsFlash) ? null : speedupVsFlash);
            o.put("extra_bytes", extraBytes);
            o.put("rel_error", relError);
            if (error != null) {
                o.put("error", error);
            }
            return o;
        }
    }

    /** The shape of a call of {@code pattern} at length {@code n}. */
    public static InputShape shape(Config c, int n) {
        return switch (c.pattern()) {
            case NS, CS -> new InputShape(c.batch(), n, n, c.heads(), c.kvHeads(), c.headDim(), c.headDim());
            case NC, CC -> new InputShape(c.batch(), n, 2 * n, c.heads(), c.kvHeads(), c.headDim(), c.headDim());
            case DECODE -> new InputShape(c.batch(), 1, n, c.heads(), c.kvHeads(), c.headDim(), c.headDim());
        };
    }

    /** The spec of the sweep's calls (finiteness is checked once per input, outside the timing). */
    public static AttentionSpec spec(Config c) {
        boolean causal = c.pattern() == Pattern.CS || c.pattern() == Pattern.CC || c.pattern() == Pattern.DECODE;
        AttentionSpec spec = causal ? AttentionSpec.causal() : AttentionSpec.noncausal();
        if (c.window() > 0) {
            spec = spec.mask(Masks.slidingWindow(c.window()));
        }
        return spec.checkFinite(false);
    }

    /**
     * Checks, before anything is measured, that the capture of a {@code captured} sweep can provide every shape of
     * the sweep (its heads and head dimension, lengths up to its longest text); does nothing for other inputs.
     *
     * @throws IllegalArgumentException naming what the capture lacks
     */
    public static void checkInputs(Config c) {
        if (c.capture() == null) {
            return;
        }
        CaptureIndex index = readIndex(c.capture());
        for (int n : c.lengths()) {
            index.checkShape(shape(c, n));
        }
    }

    private static CaptureIndex readIndex(Path capture) {
        try {
            return CaptureIndex.read(capture);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the capture " + capture + ": " + e.getMessage(), e);
        }
    }

    /** Runs the sweep; {@code progress} receives one line per measurement. */
    public static List<Result> run(Config c, MachinePeak peak, Consumer<String> progress) {
        return run(c, Protocol.STANDARD, peak, progress);
    }

    /** Runs the sweep with {@code protocol}'s warm-up and timing. */
    public static List<Result> run(Config c, Protocol protocol, MachinePeak peak, Consumer<String> progress) {
        if (c.capture() == null) {
            return run(c, null, protocol, peak, progress);
        }
        try (CapturedInputs captured = CapturedInputs.open(c.capture())) {
            return run(c, captured, protocol, peak, progress);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the capture " + c.capture() + ": " + e.getMessage(), e);
        }
    }

    private static List<Result> run(Config c, CapturedInputs captured, Protocol protocol, MachinePeak peak,
                                    Consumer<String> progress) {
        Engine engine = Engine.defaults().withThreads(c.threads());
        List<Result> results = new ArrayList<>();
        // captured Q is unscaled: the model's scale (1/√D, the default) is applied as the model applies it
        AttentionSpec spec = captured == null ? spec(c) : spec(c).scale((float) captured.index().scale());
        for (int li = 0; li < c.lengths().length; li++) {
            int n = c.lengths()[li];
            InputShape shape = shape(c, n);
            AttentionInputs in = captured != null ? captured.inputs(shape)
                    : StandardInputs.generate(c.input(), c.seed() + 7919L * li, shape);
            AttentionProblem.of(in.q(), in.k(), in.v(), spec.checkFinite(true), null); // validate once
            Fidelity errorRows = null;
            List<Result> atLength = new ArrayList<>();
            for (String id : c.mechanisms()) {
                progress.accept(String.format("%-10s %-6s n=%-7d lk=%-7d", id, c.pattern().id(), shape.queryLength(),
                        shape.keyLength()));
                try {
                    AttentionMechanism mechanism = Catalog.create(id, engine);
                    warmJit(c, mechanism, spec, protocol.jitWarmSeconds());
                    Tensor out = Tensor.zeros(shape.batch(), shape.queryLength(), shape.heads(), shape.valueDim());
                    double[] ms = time(() -> mechanism.forward(in.q(), in.k(), in.v(), spec, out), protocol);
                    long extra = allocatedDuring(() -> mechanism.forward(in.q(), in.k(), in.v(), spec, out));
                    if (errorRows == null) {
                        errorRows = new Fidelity(in.q(), in.k(), in.v(), spec);
                    }
                    double relError = errorRows.relativeError(out);
                    Work work = mechanism.work(in.q(), in.k(), in.v(), spec);
                    atLength.add(Result.measured(id, shape, c.pattern(), ms, work, peak, MachinePeak.Access.READ,
                            extra, relError));
                } catch (RuntimeException | OutOfMemoryError e) {
                    atLength.add(Result.failed(id, shape, c.pattern(), e.getClass().getSimpleName() + ": "
                            + e.getMessage()));
                }
            }
            results.addAll(withFlash(atLength));
        }
        return results;
    }

    /** The rows of one input with their speed-up against flash's row among them (unchanged when there is none). */
    public static List<Result> withFlash(List<Result> rows) {
        Result flash = rows.stream().filter(r -> r.mechanism().equals("flash") && r.error() == null).findFirst()
                .orElse(null);
        return flash == null ? rows : rows.stream().map(r -> r.error() == null ? r.withFlash(flash.msMedian()) : r)
                .toList();
    }

    /** The work of exact attention on a call of {@code shape} under {@code spec}: what every peer computes. */
    public static Work denseWork(AttentionSpec spec, InputShape shape) {
        return Work.dense(new Work.Shape(shape.batch(), shape.queryLength(), shape.keyLength(), shape.heads(),
                shape.kvHeads(), shape.headDim(), shape.valueDim()), spec);
    }

    /** Runs the mechanism on a small input of the sweep's configuration until C2 has had time to compile it. */
    private static void warmJit(Config c, AttentionMechanism mechanism, AttentionSpec spec, double seconds) {
        if (seconds <= 0) {
            return;
        }
        int small = c.pattern() == Pattern.DECODE ? Math.min(c.lengths()[0], 4096) : Math.min(c.lengths()[0], 512);
        InputShape shape = shape(c, small);
        AttentionInputs in = StandardInputs.random(c.seed() ^ 0x5eed, shape);
        Tensor out = Tensor.zeros(shape.batch(), shape.queryLength(), shape.heads(), shape.valueDim());
        long start = System.nanoTime();
        for (int calls = 0; calls < 400 && System.nanoTime() - start < seconds * 1e9; calls++) {
            mechanism.forward(in.q(), in.k(), in.v(), spec, out);
        }
    }

    /** Min, median and max milliseconds of {@code call} under {@code protocol}. */
    public static double[] time(Runnable call, Protocol protocol) {
        long warmStart = System.nanoTime();
        int warmups = 0;
        while (true) {
            long t0 = System.nanoTime();
            call.run();
            warmups++;
            double last = (System.nanoTime() - t0) / 1e9;
            double total = (System.nanoTime() - warmStart) / 1e9;
            if (last > 2 || (warmups >= protocol.warmCalls() && total >= protocol.warmSeconds())) {
                break;
            }
        }
        List<Double> times = new ArrayList<>();
        long start = System.nanoTime();
        while (times.size() < protocol.minCalls() || ((System.nanoTime() - start) < protocol.minSeconds() * 1e9
                && times.size() < protocol.maxCalls())) {
            long t0 = System.nanoTime();
            call.run();
            times.add((System.nanoTime() - t0) / 1e6);
        }
        double[] sorted = times.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int size = sorted.length;
        double median = size % 2 == 1 ? sorted[size / 2] : (sorted[size / 2 - 1] + sorted[size / 2]) / 2;
        return new double[] {sorted[0], median, sorted[size - 1]};
    }

    /** Heap bytes allocated by every thread while {@code call} runs. */
    public static long allocatedDuring(Runnable call) {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Map<Long, Long> before = allocatedByThread(threads);
        call.run();
        Map<Long, Long> after = allocatedByThread(threads);
        long total = 0;
        for (Map.Entry<Long, Long> e : after.entrySet()) {
            total += e.getValue() - before.getOrDefault(e.getKey(), 0L);
        }
        return total;
    }

    private static Map<Long, Long> allocatedByThread(com.sun.management.ThreadMXBean threads) {
        long[] ids = threads.getAllThreadIds();
        long[] bytes = threads.getThreadAllocatedBytes(ids);
        Map<Long, Long> map = new HashMap<>();
        for (int i = 0; i < ids.length; i++) {
            if (bytes[i] >= 0) {
                map.put(ids[i], bytes[i]);
            }
        }
        return map;
    }

    /** The JSON document of a sweep: {@code {"machine": {...}, "results": [...]}}. */
    public static Map<String, Object> toJson(MachinePeak peak, List<Result> results) {
        Map<String, Object> doc = Json.object();
        doc.put("machine", peak.toJson(false));
        List<Object> rows = new ArrayList<>();
        results.forEach(r -> rows.add(r.toJson()));
        doc.put("results", rows);
        return doc;
    }

    /** The human-readable table of a sweep. */
    public static String table(MachinePeak peak, List<Result> results) {
        StringBuilder sb = new StringBuilder();
        sb.append("machine: ").append(peak.line()).append('\n');
        sb.append("work as each mechanism counts it (%sel: its selection's share of the FLOPs); %bw against the "
                + "bandwidth of a working set of the call's bytes (bw lim, GB/s); ×flash: flash's time ÷ this one\n");
        sb.append(String.format("%-10s %-6s %7s %7s %4s %5s %9s %9s %9s %8s %6s %5s %8s %6s %7s %9s %9s %7s%n",
                "mechanism", "pattern", "n", "lk", "d", "heads", "ms med", "ms min", "ms max", "GFLOP/s", "%peak",
                "%sel", "GB/s", "%bw", "bw lim", "extra MB", "rel err", "×flash"));
        for (Result r : results) {
            if (r.error() != null) {
                sb.append(String.format("%-10s %-6s %7d %7d %4d %5s  FAILED: %s%n", r.mechanism(), r.pattern().id(),
                        r.n(), r.lk(), r.d(), r.heads() + "/" + r.kvHeads(), r.error()));
                continue;
            }
            sb.append(String.format("%-10s %-6s %7d %7d %4d %5s %9.2f %9.2f %9.2f %8.1f %6.1f %5.1f %8.2f %6.1f %7.1f "
                            + "%9.2f %9.2e %7s%n", r.mechanism(), r.pattern().id(), r.n(), r.lk(), r.d(),
                    r.heads() + "/" + r.kvHeads(), r.msMedian(), r.msMin(), r.msMax(), r.gflops(), r.pctPeak(),
                    100 * r.work().selectionFlops() / Math.max(1, r.work().totalFlops()), r.gbs(), r.pctBandwidth(),
                    r.bandwidthLimit(), r.extraBytes() / 1e6, r.relError(), Double.isNaN(r.speedupVsFlash()) ? "-"
                            : String.format("%.2f", r.speedupVsFlash())));
        }
        return sb.toString();
    }
}
