package io.attn4j.bench;

import io.attn4j.attention.exact.LeanDecode;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.Needle;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.kv.Budget;
import io.attn4j.kv.KvCache;
import io.attn4j.kv.KvDecode;
import io.attn4j.kv.KvFormat;
import io.attn4j.kv.KvPolicies;
import io.attn4j.kv.KvPolicy;
import io.attn4j.kv.KvSession;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.util.Json;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * KV-cache policies measured the way issue 7 states its targets (docs/KV.md explains each protocol):
 * <ul>
 *   <li><b>Fidelity</b>: on {@code structured} inputs without needles ({@link #fidelityStructure}) or
 *       {@code captured} ones, a prompt of {@code n − steps} tokens is prefilled and compressed, then {@code steps}
 *       tokens are decoded through a {@link KvSession} (compressing every {@code compressEvery} steps); each
 *       step's output is compared with exact decode over the full cache: relative error (RMS over all steps and
 *       heads) and attention-mass recall (the share of the exact attention on rows the compressed cache still
 *       holds, merged rows excluded; mean and minimum over steps × query heads).</li>
 *   <li><b>Needles</b>: {@code structured} inputs with 10 needles per KV head at depths 5 %, 15 %, …, 95 % of the
 *       context (the generator plants at most d/4: 8 at d = 32, evenly spread), over a length sweep. The whole
 *       input is the prompt (the needle queries are its last rows, as the question closes a needle-in-a-haystack
 *       prompt); after prefill compression a needle counts as found, for
 *       each query head of its group, when its query's top-weighted row among the rows it sees is the needle key.</li>
 *   <li><b>Speed and bytes</b>: for each budget B, a cache of {@code context} tokens compressed to B rows per head
 *       (by {@code streaming}, whose compression is cheapest) against an uncompressed cache of B tokens: decode
 *       step time (plan and run; medians of calls timed alternately, so drifts of a shared machine fall on both),
 *       and bytes held against {@code B × bytesPerRow}.</li>
 * </ul>
 */
public final class KvBench {

    /**
     * @param policies      catalog ids of KV policies
     * @param budget        the budget of fidelity and needle runs
     * @param input         {@code structured} or {@code captured} (fidelity only; needles need structured inputs)
     * @param capture       the capture directory of {@code captured}, else null
     * @param fidelityN     tokens of the fidelity input (prompt + decoded)
     * @param steps         decoded tokens of the fidelity run
     * @param compressEvery decode steps between compressions (0: prefill only)
     * @param heads         query heads (structured inputs)
     * @param kvHeads       KV heads (structured inputs)
     * @param headDim       head dimension (structured inputs)
     * @param needleLengths lengths of the needle sweep (empty: no needle sweep)
     * @param speedBudgets  budgets of the speed measurement (empty: none)
     * @param speedContext  tokens cached before compression in the speed measurement
     * @param speedBatch    sequences decoded together in the speed measurement
     * @param threads       threads
     * @param seed          input seed
     */
    public record Config(List<String> policies, Budget budget, String input, java.nio.file.Path capture,
                         int fidelityN, int steps, int compressEvery, int heads, int kvHeads, int headDim,
                         int[] needleLengths, int[] speedBudgets, int speedContext, int speedBatch, int threads,
                         long seed) {
        public Config {
            policies = List.copyOf(policies);
            for (String id : policies) {
                KvPolicies.get(id);
            }
            if (!input.equals("structured") && !input.equals("captured")) {
                throw new IllegalArgumentException("--input " + input + "; allowed: structured, captured");
            }
            if (input.equals("captured") != (capture != null)) {
                throw new IllegalArgumentException("a capture directory is read with --input captured only");
            }
            if (steps < 1 || fidelityN <= steps) {
                throw new IllegalArgumentException("steps = " + steps + ", fidelity length = " + fidelityN
                        + "; allowed: 1 <= steps < length");
            }
            if (compressEvery < 0 || heads < 1 || kvHeads < 1 || heads % kvHeads != 0 || headDim < 4
                    || threads < 1 || speedBatch < 1) {
                throw new IllegalArgumentException("compressEvery >= 0, heads a multiple of kvHeads >= 1, headDim >= 4,"
                        + " threads and batch >= 1");
            }
            for (int b : speedBudgets) {
                if (b < 1 || b > speedContext) {
                    throw new IllegalArgumentException("speed budget " + b + "; allowed: 1 to the context "
                            + speedContext);
                }
            }
        }
    }

    /** A fidelity row; {@code error} is null unless the run failed. */
    public record FidelityResult(String policy, String input, int n, int steps, double relativeError,
                                 double massRecall, double minMassRecall, long bytesHeld, long fullBytes,
                                 String error) {
        public Map<String, Object> toJson() {
            Map<String, Object> o = Json.object();
            o.put("policy", policy);
            o.put("input", input);
            o.put("n", n);
            o.put("steps", steps);
            o.put("relative_error", relativeError);
            o.put("mass_recall", massRecall);
            o.put("min_mass_recall", minMassRecall);
            o.put("bytes_held", bytesHeld);
            o.put("full_bytes", fullBytes);
            o.put("error", error);
            return o;
        }
    }

    /** Needles of one (policy, length, depth) cell. */
    public record NeedleCell(String policy, int n, double depth, int found, int total, String error) {
        public Map<String, Object> toJson() {
            Map<String, Object> o = Json.object();
            o.put("policy", policy);
            o.put("n", n);
            o.put("depth", depth);
            o.put("found", found);
            o.put("total", total);
            o.put("error", error);
            return o;
        }
    }

    /** Decode step time and bytes at one budget. */
    public record SpeedResult(String format, int budget, int context, int batch, double compressedUs,
                              double uncompressedUs, long bytesHeld, long budgetBytes, long metadataBytes) {
        public Map<String, Object> toJson() {
            Map<String, Object> o = Json.object();
            o.put("format", format);
            o.put("budget", budget);
            o.put("context", context);
            o.put("batch", batch);
            o.put("compressed_us", compressedUs);
            o.put("uncompressed_us", uncompressedUs);
            o.put("ratio", compressedUs / uncompressedUs);
            o.put("bytes_held", bytesHeld);
            o.put("budget_bytes", budgetBytes);
            o.put("metadata_bytes", metadataBytes);
            return o;
        }
    }

    private KvBench() {
    }

    /**
     * Policies by id at their defaults, {@code razor} and {@code duo} calibrated on {@code calibration} (an input of
     * the same heads that is not the measured one: DuoAttention and RazorAttention score heads offline).
     */
    public static Function<String, KvPolicy> calibrated(AttentionInputs calibration, int threads) {
        Engine engine = Engine.defaults().withThreads(threads);
        return id -> KvPolicies.create(id, calibration, engine);
    }

    /** A structured calibration input of the needle and structured-fidelity shape (its own seed, 2048 tokens). */
    public static AttentionInputs structuredCalibration(Config c) {
        return StandardInputs.structured(c.seed() ^ 0x5DEECE66DL, InputShape.self(1, 2048, c.heads(), c.kvHeads(),
                c.headDim()));
    }

    /**
     * A captured calibration input: the same layer as {@code captured.inputs(n, 1)} (batch row 0) over the next
     * text, so heads are scored on real attention of that layer without seeing the measured text.
     */
    public static AttentionInputs capturedCalibration(io.attn4j.models.capture.CapturedInputs captured, int n) {
        int layers = captured.index().layers();
        AttentionInputs two = captured.inputs(n, layers + 1); // row `layers`: layer 0 of the next eligible text
        InputShape one = InputShape.self(1, n, two.shape().heads(), two.shape().kvHeads(), two.shape().headDim());
        return new AttentionInputs("captured", 0, one, two.q().slice(0, layers, layers + 1),
                two.k().slice(0, layers, layers + 1), two.v().slice(0, layers, layers + 1), List.of());
    }

    private static KvCache newCache(KvPolicy policy, int kvHeads, int headDim, int sequences) {
        KvFormat format = policy.format() == null ? KvFormat.float32() : policy.format();
        return KvCache.builder(sequences, kvHeads, headDim).format(format).paged(256).build();
    }

    // ---------------------------------------------------------------------------------------------- fidelity

    /** The fidelity rows of every policy on one input. */
    public static List<FidelityResult> fidelity(Config c, AttentionInputs in, Function<String, KvPolicy> policies,
                                                Consumer<String> progress) {
        Engine engine = Engine.defaults().withThreads(c.threads());
        int n = in.shape().keyLength(), hq = in.shape().heads(), hkv = in.shape().kvHeads(), d = in.shape().headDim();
        int prompt = n - c.steps();
        List<FidelityResult> results = new ArrayList<>();
        for (String id : c.policies()) {
            progress.accept(id + " fidelity n=" + n + " budget " + c.budget());
            try {
                KvPolicy policy = policies.apply(id);
                KvCache cache = newCache(policy, hkv, d, 1);
                KvSession session = new KvSession(cache, policy, c.budget(), hq, c.compressEvery(), 64, engine);
                KvCache full = KvCache.builder(1, hkv, d).paged(256).build();
                Tensor q0 = in.q().select(0, 0), k0 = in.k().select(0, 0), v0 = in.v().select(0, 0);
                session.prefill(0, q0.slice(0, 0, prompt), k0.slice(0, 0, prompt), v0.slice(0, 0, prompt));
                full.append(0, k0.slice(0, 0, prompt), v0.slice(0, 0, prompt));
                double errSq = 0, refSq = 0, recall = 0, minRecall = 1;
                int rows = 0;
                float scale = (float) (1 / Math.sqrt(d));
                for (int t = prompt; t < n; t++) {
                    Tensor q = in.q().slice(1, t, t + 1), k = in.k().slice(1, t, t + 1), v = in.v().slice(1, t, t + 1);
                    Tensor out = Tensor.zeros(1, 1, hq, d), exact = Tensor.zeros(1, 1, hq, d);
                    session.step(q, k, v, out);
                    full.append(k, v);
                    new KvDecode(LeanDecode.Config.defaults(), engine).plan(full, hq, 1).run(q, exact,
                            KvDecode.Options.defaults().withScale(scale));
                    for (int i = 0; i < out.array().length; i++) {
                        double e = out.array()[i] - exact.array()[i];
                        errSq += e * e;
                        refSq += (double) exact.array()[i] * exact.array()[i];
                    }
                    for (int h = 0; h < hq; h++) {
                        double r = massRecall(full, cache, q, h, hq / hkv, scale);
                        recall += r;
                        minRecall = Math.min(minRecall, r);
                        rows++;
                    }
                }
                results.add(new FidelityResult(id, in.kind(), n, c.steps(), Math.sqrt(errSq / refSq), recall / rows,
                        minRecall, cache.memory().total(), full.memory().total(), null));
            } catch (RuntimeException | OutOfMemoryError e) {
                results.add(new FidelityResult(id, in.kind(), n, c.steps(), Double.NaN, Double.NaN, Double.NaN, 0, 0,
                        e.toString()));
            }
        }
        return results;
    }

    /** The exact attention of query head {@code h} over {@code full} that falls on rows {@code kept} holds. */
    static double massRecall(KvCache full, KvCache kept, Tensor q, int h, int group, float scale) {
        int kvh = h / group, n = full.length(0, kvh), d = full.headDim();
        float[] key = new float[d];
        double[] logits = new double[n];
        double max = Double.NEGATIVE_INFINITY;
        for (int r = 0; r < n; r++) {
            full.key(0, kvh, r, key, 0);
            double dot = 0;
            for (int c = 0; c < d; c++) {
                dot += (double) q.get(0, 0, h, c) * key[c];
            }
            logits[r] = scale * dot;
            max = Math.max(max, logits[r]);
        }
        int[] positions = kept.positions(0, kvh);
        double total = 0, held = 0;
        int next = 0;
        for (int r = 0; r < n; r++) {
            double w = Math.exp(logits[r] - max);
            total += w;
            int p = full.position(0, kvh, r);
            while (next < positions.length && positions[next] < p) {
                next++;
            }
            if (next < positions.length && positions[next] == p && kept.multiplicity(0, kvh, next) == 1) {
                held += w;
            }
        }
        return held / total;
    }

    // ---------------------------------------------------------------------------------------------- needles

    /**
     * The structured input of the fidelity run: the standard structure without needles, so that the decode steps
     * measure typical queries (sinks, locality, a spread tail); needles have their own grid.
     */
    public static StandardInputs.Structure fidelityStructure() {
        StandardInputs.Structure s = StandardInputs.Structure.defaults();
        return new StandardInputs.Structure(s.sinks(), s.sinkMass(), s.localMass(), s.localWidth(), 0, s.needleMass());
    }

    /** A structured fidelity input of {@code n} tokens ({@link #fidelityStructure}). */
    public static AttentionInputs structuredFidelity(Config c, int n) {
        return StandardInputs.structured(c.seed(), InputShape.self(1, n, c.heads(), c.kvHeads(), c.headDim()),
                fidelityStructure());
    }

    /** Ten needles per KV head, at depths 5 %, 15 %, …, 95 % (at most d/4 of them, evenly spread). */
    public static StandardInputs.Structure needleStructure() {
        StandardInputs.Structure s = StandardInputs.Structure.defaults();
        return new StandardInputs.Structure(s.sinks(), s.sinkMass(), s.localMass(), s.localWidth(), 10,
                s.needleMass());
    }

    /** The needle grid of every policy over the lengths. */
    public static List<NeedleCell> needles(Config c, Function<String, KvPolicy> policies, Consumer<String> progress) {
        Engine engine = Engine.defaults().withThreads(c.threads());
        List<NeedleCell> cells = new ArrayList<>();
        for (int li = 0; li < c.needleLengths().length; li++) {
            int n = c.needleLengths()[li];
            progress.accept("needle input n=" + n);
            AttentionInputs in = StandardInputs.structured(c.seed() + 104729L * (li + 1),
                    InputShape.self(1, n, c.heads(), c.kvHeads(), c.headDim()), needleStructure());
            for (String id : c.policies()) {
                progress.accept(id + " needles n=" + n + " budget " + c.budget());
                try {
                    KvPolicy policy = policies.apply(id);
                    KvCache cache = newCache(policy, c.kvHeads(), c.headDim(), 1);
                    KvSession session = new KvSession(cache, policy, c.budget(), c.heads(), 0, 64, engine);
                    session.prefill(0, in.q().select(0, 0), in.k().select(0, 0), in.v().select(0, 0));
                    cells.addAll(found(id, n, cache, in, c.heads() / c.kvHeads()));
                } catch (RuntimeException | OutOfMemoryError e) {
                    cells.add(new NeedleCell(id, n, Double.NaN, 0, 0, e.toString()));
                }
            }
        }
        return cells;
    }

    /** One cell per needle depth: how many of its (needle, query head) pairs find the needle key. */
    static List<NeedleCell> found(String id, int n, KvCache cache, AttentionInputs in, int group) {
        int d = cache.headDim();
        float scale = (float) (1 / Math.sqrt(d));
        float[] key = new float[d];
        java.util.TreeMap<Double, int[]> byDepth = new java.util.TreeMap<>();
        for (Needle needle : in.needles()) {
            int kvh = needle.kvHead(), rows = cache.length(0, kvh);
            int[] tally = byDepth.computeIfAbsent(Math.round(needle.depth() * 1000) / 1000.0, x -> new int[2]);
            for (int g = 0; g < group; g++) {
                int h = kvh * group + g;
                double best = Double.NEGATIVE_INFINITY;
                int bestRow = -1;
                for (int r = 0; r < rows && cache.position(0, kvh, r) <= needle.queryIndex(); r++) {
                    cache.key(0, kvh, r, key, 0);
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) in.q().get(0, needle.queryIndex(), h, c) * key[c];
                    }
                    double logit = scale * dot + Math.log(cache.multiplicity(0, kvh, r));
                    if (logit > best) {
                        best = logit;
                        bestRow = r;
                    }
                }
                boolean hit = bestRow >= 0 && cache.position(0, kvh, bestRow) == needle.keyPosition()
                        && cache.multiplicity(0, kvh, bestRow) == 1;
                tally[0] += hit ? 1 : 0;
                tally[1]++;
            }
        }
        List<NeedleCell> cells = new ArrayList<>();
        byDepth.forEach((depth, t) -> cells.add(new NeedleCell(id, n, depth, t[0], t[1], null)));
        return cells;
    }

    // ---------------------------------------------------------------------------------------------- speed

    /** Decode step time of a compressed cache against an uncompressed one of the same number of rows. */
    public static List<SpeedResult> speed(Config c, KvFormat format, Consumer<String> progress) {
        Engine engine = Engine.defaults().withThreads(c.threads());
        List<SpeedResult> results = new ArrayList<>();
        Random rng = new Random(c.seed());
        int s = c.speedBatch(), hkv = c.kvHeads(), hq = c.heads(), d = c.headDim();
        Tensor context = randomTensor(rng, s, c.speedContext(), hkv, d);
        Tensor values = randomTensor(rng, s, c.speedContext(), hkv, d);
        Tensor q = randomTensor(rng, s, 1, hq, d), out = Tensor.zeros(s, 1, hq, d);
        KvDecode decode = new KvDecode(engine);
        for (int budget : c.speedBudgets()) {
            progress.accept("speed " + format + " budget " + budget + " context " + c.speedContext());
            KvCache compressed = KvCache.builder(s, hkv, d).format(format).paged(256).build();
            compressed.append(context, values);
            for (int b = 0; b < s; b++) {
                KvPolicies.streaming(4).compress(compressed, b, Budget.tokens(budget),
                        io.attn4j.kv.Observation.none(compressed, hq, engine));
            }
            KvCache plain = KvCache.builder(s, hkv, d).format(format).paged(256).build();
            plain.append(context.slice(1, 0, budget), values.slice(1, 0, budget));
            double[] t = alternating(() -> decode.plan(compressed, hq, 1).run(q, out),
                    () -> decode.plan(plain, hq, 1).run(q, out));
            KvCache.Memory m = compressed.memory();
            results.add(new SpeedResult(format.toString(), budget, c.speedContext(), s, t[0], t[1],
                    m.total(), (long) budget * s * hkv * compressed.bytesPerRow(), m.metadataBytes()));
        }
        return results;
    }

    /**
     * Median microseconds of {@code a} and of {@code b}, timed alternately call by call (after a warm-up of both)
     * so that the machine's drifts — other processes, frequency — fall on both alike: at least 31 calls each and
     * 1.5 s in all.
     */
    static double[] alternating(Runnable a, Runnable b) {
        long warm = System.nanoTime();
        while (System.nanoTime() - warm < 1.0e9) {
            a.run();
            b.run();
        }
        List<Double> ta = new ArrayList<>(), tb = new ArrayList<>();
        long start = System.nanoTime();
        while (ta.size() < 31 || (System.nanoTime() - start < 1.5e9 && ta.size() < 5000)) {
            long t0 = System.nanoTime();
            a.run();
            long t1 = System.nanoTime();
            b.run();
            long t2 = System.nanoTime();
            ta.add((t1 - t0) / 1e3);
            tb.add((t2 - t1) / 1e3);
        }
        return new double[] {median(ta), median(tb)};
    }

    private static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        java.util.Collections.sort(sorted);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    private static Tensor randomTensor(Random rng, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] a = t.array();
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) rng.nextGaussian();
        }
        return t;
    }

    // ---------------------------------------------------------------------------------------------- output

    public static String fidelityTable(List<FidelityResult> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%-12s %-10s %7s %6s %10s %9s %9s %12s %8s%n", "policy", "input", "n", "steps",
                "rel err", "recall", "min rec", "bytes held", "of full"));
        for (FidelityResult r : rows) {
            if (r.error() != null) {
                sb.append(String.format("%-12s failed: %s%n", r.policy(), r.error()));
                continue;
            }
            sb.append(String.format("%-12s %-10s %7d %6d %10.4f %9.4f %9.4f %12d %7.1f%%%n", r.policy(), r.input(),
                    r.n(), r.steps(), r.relativeError(), r.massRecall(), r.minMassRecall(), r.bytesHeld(),
                    100.0 * r.bytesHeld() / r.fullBytes()));
        }
        return sb.toString();
    }

    public static String needleTable(List<NeedleCell> cells) {
        StringBuilder sb = new StringBuilder();
        java.util.LinkedHashMap<String, java.util.TreeMap<Integer, int[]>> byPolicy = new java.util.LinkedHashMap<>();
        java.util.TreeSet<Double> depths = new java.util.TreeSet<>();
        for (NeedleCell cell : cells) {
            if (cell.error() != null) {
                sb.append(String.format("%-12s n=%d failed: %s%n", cell.policy(), cell.n(), cell.error()));
                continue;
            }
            depths.add(cell.depth());
            int[] t = byPolicy.computeIfAbsent(cell.policy(), x -> new java.util.TreeMap<>())
                    .computeIfAbsent(cell.n(), x -> new int[2]);
            t[0] += cell.found();
            t[1] += cell.total();
        }
        sb.append(String.format("%-12s %8s %10s   by depth (%%)%n", "policy", "n", "found"));
        for (var e : byPolicy.entrySet()) {
            for (var ln : e.getValue().entrySet()) {
                StringBuilder line = new StringBuilder();
                for (double depth : depths) {
                    for (NeedleCell cell : cells) {
                        if (cell.policy().equals(e.getKey()) && cell.n() == ln.getKey() && cell.depth() == depth
                                && cell.error() == null) {
                            line.append(String.format(" %3.0f", 100.0 * cell.found() / cell.total()));
                        }
                    }
                }
                sb.append(String.format("%-12s %8d %9.1f%%  %s%n", e.getKey(), ln.getKey(),
                        100.0 * ln.getValue()[0] / ln.getValue()[1], line));
            }
        }
        return sb.toString();
    }

    public static String speedTable(List<SpeedResult> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%-8s %8s %8s %6s %14s %14s %7s %14s %10s%n", "format", "budget", "context", "batch",
                "compressed us", "plain B us", "ratio", "bytes held", "metadata"));
        for (SpeedResult r : rows) {
            sb.append(String.format("%-8s %8d %8d %6d %14.1f %14.1f %7.2f %14d %9.2f%%%n", r.format(), r.budget(),
                    r.context(), r.batch(), r.compressedUs(), r.uncompressedUs(), r.compressedUs() / r.uncompressedUs(),
                    r.bytesHeld(), 100.0 * r.metadataBytes() / r.budgetBytes()));
        }
        return sb.toString();
    }

    public static Map<String, Object> toJson(Config c, List<FidelityResult> fidelity, List<NeedleCell> needles,
                                             List<SpeedResult> speed) {
        Map<String, Object> o = Json.object();
        o.put("benchmark", "kv");
        o.put("budget", c.budget().toString());
        o.put("input", c.input());
        o.put("heads", c.heads());
        o.put("kv_heads", c.kvHeads());
        o.put("head_dim", c.headDim());
        o.put("compress_every", c.compressEvery());
        o.put("threads", c.threads());
        o.put("seed", c.seed());
        o.put("fidelity", fidelity.stream().map(FidelityResult::toJson).toList());
        o.put("needles", needles.stream().map(NeedleCell::toJson).toList());
        o.put("speed", speed.stream().map(SpeedResult::toJson).toList());
        return o;
    }
}
