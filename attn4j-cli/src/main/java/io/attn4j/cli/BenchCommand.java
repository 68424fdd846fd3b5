package io.attn4j.cli;

import io.attn4j.attention.Pattern;
import io.attn4j.util.Json;
import io.attn4j.bench.KernelBench;
import io.attn4j.bench.KvBench;
import io.attn4j.bench.ModelBench;
import io.attn4j.bench.MachinePeak;
import io.attn4j.bench.RecurrentBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import io.attn4j.models.capture.CaptureIndex;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** {@code attn4j bench}: benchmark sweeps. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmark sweeps.",
        subcommands = {BenchCommand.Kernels.class, BenchCommand.Kv.class, BenchCommand.Fidelity.class, BenchCommand.Model.class,
                BenchCommand.Recurrent.class})
final class BenchCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Writes a sweep's JSON document, or says which file could not be written. */
    static void writeJson(Path json, java.util.Map<String, Object> doc) {
        try {
            Files.writeString(json, Json.write(doc));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot write " + json + ": " + e.getMessage(), e);
        }
    }

    /** 1 when measurements failed (after saying how many), else 0. */
    static int exitCode(java.io.PrintWriter err, long failed) {
        if (failed > 0) {
            err.println("attn4j: " + failed + " measurement(s) failed; see the table");
            return 1;
        }
        return 0;
    }

    /** {@code attn4j bench kernels}. */
    @Command(name = "kernels", mixinStandardHelpOptions = true,
            description = {"Time mechanisms over a length sweep for one pattern, against the machine's limits "
                    + "measured in the same run.",
                    "Shapes: NS/CS Lq = Lk = n; NC/CC Lq = n, Lk = 2n; decode 1 query against a cache of n.",
                    "--input captured: real Q/K/V of an encoder over real texts (./attn4j capture), from --capture DIR"
                            + " or else a default capture (all-MiniLM-L6-v2, 12 heads of 32, over Brown) made in the"
                            + " cache on first use; batch element b is layer b mod L of text b / L (docs/CAPTURE.md)."})
    static final class Kernels implements java.util.concurrent.Callable<Integer> {
        @Option(names = "--mechanisms", split = ",", paramLabel = "ID,...", description = "Catalog ids (default: ${DEFAULT-VALUE}).")
        List<String> mechanisms = List.of("flash", "naive");

        @Option(names = "--pattern", paramLabel = "NS|CS|NC|CC|decode", description = "Attention pattern (default: CS).")
        String pattern = "CS";

        @Option(names = "--lengths", split = ",", paramLabel = "N,...",
                description = "Query lengths; for decode, cache lengths (default: 1024,4096).")
        int[] lengths = {1024, 4096};

        @Option(names = "--head-dim", paramLabel = "D",
                description = "Head dimension (default: 64; with --input captured, the capture's).")
        Integer headDim;

        @Option(names = "--heads", paramLabel = "H",
                description = "Query heads (default: 8; with --input captured, the capture's).")
        Integer heads;

        @Option(names = "--kv-heads", paramLabel = "H", description = "Key/value heads (default: = --heads).")
        Integer kvHeads;

        @Option(names = "--batch", paramLabel = "B", description = "Batch size (default: ${DEFAULT-VALUE}).")
        int batch = 1;

        @Option(names = "--threads", paramLabel = "T", description = "Threads (default: available processors).")
        int threads = Runtime.getRuntime().availableProcessors();

        @Option(names = "--input", paramLabel = "random|structured|captured",
                description = "Standard input (default: ${DEFAULT-VALUE}).")
        String input = "random";

        @Option(names = "--capture", paramLabel = "DIR",
                description = "The capture of --input captured (default: one made once in the attn4j cache).")
        Path capture;

        @Option(names = "--window", paramLabel = "W",
                description = "Add a sliding-window mask |p - k| < W to the pattern's mask (default: none).")
        int window = 0;

        @Option(names = "--seed", description = "Base seed of the inputs (default: ${DEFAULT-VALUE}).")
        long seed = 1;

        @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON.")
        Path json;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws IOException {
            var err = spec.commandLine().getErr();
            int d = headDim != null ? headDim : 64, h = heads != null ? heads : 8;
            Path captureDir = null;
            if (input.equals("captured")) {
                captureDir = capture != null ? capture : CaptureCommand.defaultCapture(err);
                CaptureIndex index = CaptureIndex.read(captureDir);
                d = headDim != null ? headDim : index.headDim();
                h = heads != null ? heads : index.heads();
            } else if (capture != null) {
                throw new IllegalArgumentException("--capture is only read with --input captured");
            }
            KernelBench.Config config = new KernelBench.Config(mechanisms, Pattern.parse(pattern), lengths, d, h,
                    kvHeads == null ? h : kvHeads, batch, threads, input, window, seed, captureDir);
            KernelBench.checkInputs(config);
            err.println("measuring the machine (" + threads + " threads)...");
            MachinePeak peak = MachinePeak.measure(threads);
            List<KernelBench.Result> results = KernelBench.run(config, peak, line -> {
                err.println("  " + line);
                err.flush();
            });
            var out = spec.commandLine().getOut();
            out.print(KernelBench.table(peak, results));
            out.flush();
            if (json != null) {
                writeJson(json, KernelBench.toJson(peak, results));
            }
            return exitCode(err, results.stream().filter(r -> r.error() != null).count());
        }
    }

    /** {@code attn4j bench recurrent}. */
    @Command(name = "recurrent", mixinStandardHelpOptions = true,
            description = {"The linear and recurrent family: chunked prefill over a length sweep (causal, against "
                    + "causal flash up to --flash-max for the crossover length, and the cost per token against the "
                    + "first length), and the decode step's state bandwidth (the state read and written once per "
                    + "token, against the stream bandwidth measured in the same run).",
                    "Medians of timed calls after a JIT warm-up; docs/LINEAR.md explains the figures."})
    static final class Recurrent implements java.util.concurrent.Callable<Integer> {
        @Option(names = "--mechanisms", split = ",", paramLabel = "ID,...",
                description = "Recurrent members (default: all of them).")
        List<String> mechanisms;

        @Option(names = "--lengths", split = ",", paramLabel = "N,...",
                description = "Prefill lengths (default: 1024,2048,4096,8192).")
        int[] lengths = {1024, 2048, 4096, 8192};

        @Option(names = "--head-dim", paramLabel = "D", description = "Prefill head dimension (default: 64).")
        int headDim = 64;

        @Option(names = "--heads", paramLabel = "H", description = "Heads (default: 8).")
        int heads = 8;

        @Option(names = "--decode-head-dim", paramLabel = "D", description = "Decode head dimension (default: 128).")
        int decodeHeadDim = 128;

        @Option(names = "--decode-batch", paramLabel = "B",
                description = "Sequences decoded together (default: 128: at d = 128, 8 heads, 67 MB of state, past a 32 MB L3).")
        int decodeBatch = 128;

        @Option(names = "--flash-max", paramLabel = "N",
                description = "Longest prefill causal flash is timed at (default: 16384).")
        int flashMax = 16384;

        @Option(names = "--no-prefill", description = "Skip the prefill sweep.")
        boolean noPrefill;

        @Option(names = "--no-decode", description = "Skip the decode measurement.")
        boolean noDecode;

        @Option(names = "--threads", paramLabel = "T", description = "Threads (default: available processors).")
        int threads = Runtime.getRuntime().availableProcessors();

        @Option(names = "--seed", description = "Base seed of the inputs (default: ${DEFAULT-VALUE}).")
        long seed = 1;

        @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON.")
        Path json;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() {
            var err = spec.commandLine().getErr();
            var out = spec.commandLine().getOut();
            RecurrentBench.Config config = new RecurrentBench.Config(
                    mechanisms == null ? RecurrentBench.recurrentIds() : mechanisms, lengths, headDim, heads,
                    decodeHeadDim, decodeBatch, threads, flashMax, !noPrefill, !noDecode, seed);
            err.println("measuring the machine (" + threads + " threads)...");
            MachinePeak peak = MachinePeak.measure(threads);
            java.util.function.Consumer<String> progress = line -> {
                err.println("  " + line);
                err.flush();
            };
            List<RecurrentBench.Prefill> prefill = noPrefill ? List.of() : RecurrentBench.prefill(config, progress);
            List<RecurrentBench.Decode> decode = noDecode ? List.of() : RecurrentBench.decode(config, peak, progress);
            if (!prefill.isEmpty()) {
                out.println("prefill (causal, chunked form), d = " + headDim + ", " + heads + " heads:");
                out.print(RecurrentBench.prefillTable(prefill));
            }
            if (!decode.isEmpty()) {
                out.println("decode (recurrent step, state read and written once per token):");
                out.print(RecurrentBench.decodeTable(peak, decode));
            }
            out.flush();
            if (json != null) {
                writeJson(json, RecurrentBench.toJson(peak, config, prefill, decode));
            }
            return exitCode(err, prefill.stream().filter(r -> r.error() != null).count()
                    + decode.stream().filter(r -> r.error() != null).count());
        }
    }

    /** {@code attn4j bench kv}. */
    @Command(name = "kv", mixinStandardHelpOptions = true,
            description = {"KV-cache policies: decode fidelity after compression against the full cache (relative "
                    + "error, attention-mass recall), needle retrieval over a length x depth grid on structured "
                    + "inputs, and decode step time and bytes held against the budget.",
                    "docs/KV.md explains the protocols."})
    static final class Kv implements java.util.concurrent.Callable<Integer> {
        @Option(names = "--policies", split = ",", paramLabel = "ID,...",
                description = "KV policies (default: all of them).")
        List<String> policies;

        @Option(names = "--budget", paramLabel = "N|RATIO",
                description = "Rows per KV head after compression: tokens (2048) or a ratio (0.125, 1/8, 12.5%%) "
                        + "(default: 1/8).")
        String budget = "1/8";

        @Option(names = "--input", paramLabel = "structured|captured",
                description = "Input of the fidelity run (default: structured; needles always use structured).")
        String input = "structured";

        @Option(names = "--capture", paramLabel = "DIR", description = "The capture of --input captured.")
        Path capture;

        @Option(names = "--length", paramLabel = "N",
                description = "Tokens of the fidelity input (default: 4096; captured: the capture's longest text, "
                        + "at most 512).")
        Integer length;

        @Option(names = "--steps", paramLabel = "S", description = "Decoded tokens of the fidelity run (default: 64).")
        int steps = 64;

        @Option(names = "--compress-every", paramLabel = "N",
                description = "Decode steps between compressions (default: 16; 0: at prefill only).")
        int compressEvery = 16;

        @Option(names = "--needle-lengths", split = ",", paramLabel = "N,...",
                description = "Lengths of the needle grid (default: 4096,8192,16384,32768).")
        int[] needleLengths = {4096, 8192, 16384, 32768};

        @Option(names = "--speed-budgets", split = ",", paramLabel = "B,...",
                description = "Budgets of the decode speed measurement (default: 1024,4096,16384).")
        int[] speedBudgets = {1024, 4096, 16384};

        @Option(names = "--speed-context", paramLabel = "N",
                description = "Tokens cached before compression in the speed measurement (default: 32768).")
        int speedContext = 32768;

        @Option(names = "--speed-batch", paramLabel = "B", description = "Sequences in the speed measurement "
                + "(default: 4).")
        int speedBatch = 4;

        @Option(names = "--speed-formats", split = ",", paramLabel = "F,...",
                description = "Cache formats of the speed measurement (default: float32,int8,int4).")
        List<String> speedFormats = List.of("float32", "int8", "int4");

        @Option(names = "--heads", paramLabel = "H",
                description = "Query heads (default: 8; with --input captured, the capture's).")
        int heads = 8;

        @Option(names = "--kv-heads", paramLabel = "H",
                description = "KV heads (default: 2; with --input captured, the capture's).")
        int kvHeads = 2;

        @Option(names = "--head-dim", paramLabel = "D",
                description = "Head dimension (default: 64; with --input captured, the capture's).")
        int headDim = 64;

        @Option(names = "--no-fidelity", description = "Skip the fidelity run.")
        boolean noFidelity;

        @Option(names = "--no-needles", description = "Skip the needle grid.")
        boolean noNeedles;

        @Option(names = "--no-speed", description = "Skip the speed measurement.")
        boolean noSpeed;

        @Option(names = "--threads", paramLabel = "T", description = "Threads (default: available processors).")
        int threads = Runtime.getRuntime().availableProcessors();

        @Option(names = "--seed", description = "Base seed of the inputs (default: ${DEFAULT-VALUE}).")
        long seed = 1;

        @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON.")
        Path json;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws IOException {
            var err = spec.commandLine().getErr();
            var out = spec.commandLine().getOut();
            List<String> ids = policies != null ? policies
                    : io.attn4j.kv.KvPolicies.all().stream().map(io.attn4j.kv.KvPolicyDescriptor::id).toList();
            Path captureDir = null;
            int h = heads, hkv = kvHeads, d = headDim, n = length == null ? 4096 : length;
            io.attn4j.models.capture.CapturedInputs captured = null;
            if (input.equals("captured")) {
                captureDir = capture != null ? capture : CaptureCommand.defaultCapture(err);
                captured = io.attn4j.models.capture.CapturedInputs.open(captureDir);
                CaptureIndex index = captured.index();
                int longest = index.texts().stream().mapToInt(t -> t.tokens()).max().orElse(0);
                n = length == null ? Math.min(512, longest) : length;
                h = index.heads(); // the run's shape is the capture's (needles and speed use it too)
                hkv = index.heads();
                d = index.headDim();
            } else if (capture != null) {
                throw new IllegalArgumentException("--capture is only read with --input captured");
            }
            KvBench.Config config = new KvBench.Config(ids, io.attn4j.kv.Budget.parse(budget), input, captureDir, n,
                    steps, compressEvery, h, hkv, d, noNeedles ? new int[0] : needleLengths,
                    noSpeed ? new int[0] : speedBudgets, speedContext, speedBatch, threads, seed);
            java.util.function.Consumer<String> progress = line -> {
                err.println("  " + line);
                err.flush();
            };
            var structuredPolicies = KvBench.calibrated(KvBench.structuredCalibration(config), threads);
            List<KvBench.FidelityResult> fidelity = List.of();
            if (!noFidelity) {
                io.attn4j.inputs.AttentionInputs in = captured != null ? captured.inputs(n, 1)
                        : KvBench.structuredFidelity(config, n);
                fidelity = KvBench.fidelity(config, in, captured != null
                        ? KvBench.calibrated(KvBench.capturedCalibration(captured, n), threads)
                        : structuredPolicies, progress);
                out.println("decode fidelity after compression (" + in.kind() + ", budget " + config.budget()
                        + ", compress every " + compressEvery + " steps):");
                out.print(KvBench.fidelityTable(fidelity));
                out.flush();
            }
            if (captured != null) {
                captured.close();
            }
            List<KvBench.NeedleCell> needles = noNeedles ? List.of()
                    : KvBench.needles(config, structuredPolicies, progress);
            if (!needles.isEmpty()) {
                out.println("needles found (structured, 10 depths 5..95 %, budget " + config.budget() + "):");
                out.print(KvBench.needleTable(needles));
                out.flush();
            }
            List<KvBench.SpeedResult> speed = new java.util.ArrayList<>();
            if (!noSpeed) {
                for (String f : speedFormats) {
                    speed.addAll(KvBench.speed(config, io.attn4j.kv.KvFormat.parse(f), progress));
                }
                out.println("decode step: cache compressed to B rows per head vs an uncompressed cache of B rows ("
                        + speedBatch + " sequences, " + h + " query heads, " + hkv + " KV heads, d " + d + "):");
                out.print(KvBench.speedTable(speed));
                out.flush();
            }
            if (json != null) {
                writeJson(json, KvBench.toJson(config, fidelity, needles, speed));
            }
            return exitCode(err, fidelity.stream().filter(r -> r.error() != null).count()
                    + needles.stream().filter(r -> r.error() != null).count());
        }
    }

    /** {@code attn4j bench fidelity}. */
    @Command(name = "fidelity", mixinStandardHelpOptions = true,
            description = {"Fidelity of approximate mechanisms against the float64 reference on sampled query rows: "
                    + "relative L2 error, attention-mass recall (mean and minimum), row KL; and their speed-up over "
                    + "flash on the same input in the same run (median of 3 calls; --no-time skips it).",
                    "A mechanism whose configuration takes a key budget runs once per --budgets entry, unless its "
                    + "spec carries one (hip@10%)."})
    static final class Fidelity implements java.util.concurrent.Callable<Integer> {
        @Option(names = "--mechanisms", split = ",", paramLabel = "SPEC,...",
                description = "Catalog ids, optionally with a budget (hip@10%%); default: the sparse family.")
        List<String> mechanisms;

        @Option(names = "--input", paramLabel = "structured|captured|random",
                description = "Standard input (default: ${DEFAULT-VALUE}).")
        String input = "structured";

        @Option(names = "--pattern", paramLabel = "NS|CS|NC|CC", description = "Attention pattern (default: CS; "
                + "with --input captured, NS).")
        String pattern;

        @Option(names = "--budgets", split = ",", paramLabel = "B,...",
                description = "Key budgets: tokens (2048), ratios (0.1) or percentages (10%%) (default: 10%%,25%%).")
        List<String> budgets = List.of("10%", "25%");

        @Option(names = "--lengths", split = ",", paramLabel = "N,...",
                description = "Query lengths (default: 4096; with --input captured, 512).")
        int[] lengths;

        @Option(names = "--head-dim", paramLabel = "D", description = "Head dimension (default: 64; captured: the "
                + "capture's).")
        Integer headDim;

        @Option(names = "--heads", paramLabel = "H", description = "Query heads (default: 8; captured: the capture's).")
        Integer heads;

        @Option(names = "--kv-heads", paramLabel = "H", description = "Key/value heads (default: = --heads).")
        Integer kvHeads;

        @Option(names = "--batch", paramLabel = "B",
                description = "Batch size (default: 1; captured: the capture's layers, one text).")
        Integer batch;

        @Option(names = "--threads", paramLabel = "T", description = "Threads (default: available processors).")
        int threads = Runtime.getRuntime().availableProcessors();

        @Option(names = "--capture", paramLabel = "DIR",
                description = "The capture of --input captured (default: one made once in the attn4j cache).")
        Path capture;

        @Option(names = "--seed", description = "Base seed of the inputs (default: ${DEFAULT-VALUE}).")
        long seed = 1;

        @Option(names = "--no-time", description = "Measure fidelity only.")
        boolean noTime;

        @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON.")
        Path json;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws IOException {
            var err = spec.commandLine().getErr();
            List<String> ids = mechanisms != null ? mechanisms : io.attn4j.catalog.Catalog.all().stream()
                    .filter(m -> m.family() == io.attn4j.catalog.Family.SPARSE).map(m -> m.id()).toList();
            List<io.attn4j.sparse.KeyBudget> parsed = budgets.stream().map(io.attn4j.sparse.KeyBudget::parse).toList();
            int d = headDim != null ? headDim : 64, h = heads != null ? heads : 8, b = batch != null ? batch : 1;
            int[] ns = lengths != null ? lengths : new int[] {4096};
            String p = pattern != null ? pattern : "CS";
            Path captureDir = null;
            if (input.equals("captured")) {
                captureDir = capture != null ? capture : CaptureCommand.defaultCapture(err);
                CaptureIndex index = CaptureIndex.read(captureDir);
                d = headDim != null ? headDim : index.headDim();
                h = heads != null ? heads : index.heads();
                b = batch != null ? batch : index.layers();
                p = pattern != null ? pattern : "NS";
                ns = lengths != null ? lengths : new int[] {Math.min(512, index.texts().stream()
                        .mapToInt(t -> t.tokens()).max().orElse(1))};
            } else if (capture != null) {
                throw new IllegalArgumentException("--capture is only read with --input captured");
            }
            KernelBench.Config config = new KernelBench.Config(ids, Pattern.parse(p), ns, d, h,
                    kvHeads == null ? h : kvHeads, b, threads, input, 0, seed, captureDir);
            KernelBench.checkInputs(config);
            MachinePeak peak = null;
            if (!noTime) {
                err.println("measuring the machine (" + threads + " threads)...");
                peak = MachinePeak.measure(threads);
                err.println("machine: " + peak.line());
            }
            List<io.attn4j.bench.FidelityBench.Result> results = io.attn4j.bench.FidelityBench.run(config, parsed,
                    !noTime, line -> {
                        err.println("  " + line);
                        err.flush();
                    });
            var out = spec.commandLine().getOut();
            if (peak != null) {
                out.println("machine: " + peak.line());
            }
            out.print(io.attn4j.bench.FidelityBench.table(results));
            out.flush();
            if (json != null) {
                writeJson(json, io.attn4j.bench.FidelityBench.toJson(peak, results));
            }
            return exitCode(err, results.stream().filter(r -> r.error() != null).count());
        }
    }

    /** {@code attn4j bench model}. */
    @Command(name = "model", mixinStandardHelpOptions = true,
            description = {"End-to-end encoder throughput of attn4j against ONNX Runtime: same model file, same texts"
                    + " of exactly --tokens tokens from a real corpus, same thread count, one process.",
                    "Also the cosine of every text's embedding with ORT's."})
    static final class Model implements java.util.concurrent.Callable<Integer> {
        @Option(names = "--model", paramLabel = "M",
                description = "minilm (default), bge-small, Maven coordinates, or a model directory.")
        String model = io.attn4j.models.ModelSource.DEFAULT;

        @Option(names = "--peer", paramLabel = "ort|none", description = "The peer to run (default: ${DEFAULT-VALUE}).")
        String peer = "ort";

        @Option(names = "--batch", paramLabel = "B", description = "Texts per forward pass (default: ${DEFAULT-VALUE}).")
        int batch = 32;

        @Option(names = "--tokens", paramLabel = "N", description = "Tokens per text (default: ${DEFAULT-VALUE}).")
        int tokens = 128;

        @Option(names = "--texts", paramLabel = "N",
                description = "Texts in all, rounded down to whole batches (default: 8 batches).")
        Integer texts;

        @Option(names = "--corpus", paramLabel = "C", description = "brown (default) or a directory of .txt files.")
        String corpus = io.attn4j.models.corpus.Corpora.DEFAULT;

        @Option(names = "--attention", paramLabel = "PLAN",
                description = "attn4j's attention: an id for every layer, or 0-2:flash,3-5:naive (default: flash).")
        String attention = io.attn4j.models.bert.AttentionPlan.DEFAULT;

        @Option(names = "--threads", paramLabel = "T", description = "Threads, both sides (default: available processors).")
        int threads = Runtime.getRuntime().availableProcessors();

        @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON.")
        Path json;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws IOException {
            ModelBench.Config config = new ModelBench.Config(batch, tokens, texts == null ? 8 * batch : texts, threads,
                    peer);
            io.attn4j.models.bert.AttentionPlan plan = io.attn4j.models.bert.AttentionPlan.parse(attention);
            var err = spec.commandLine().getErr();
            io.attn4j.models.ModelSource source = io.attn4j.models.ModelSource.resolve(model);
            long loadStart = System.nanoTime();
            io.attn4j.models.Encoder encoder = io.attn4j.models.Encoder.load(source,
                    io.attn4j.runtime.Engine.defaults().withThreads(threads)).withAttention(plan);
            double loadMs = (System.nanoTime() - loadStart) / 1e6;
            err.println("attn4j: " + encoder);
            ModelBench.Result r = ModelBench.run(encoder, io.attn4j.models.corpus.Corpora.resolve(corpus), config,
                    line -> {
                        err.println("  " + line);
                        err.flush();
                    });
            var out = spec.commandLine().getOut();
            out.printf(java.util.Locale.ROOT, "model %s, batch %d x %d tokens, %d threads, %d texts, attention %s%n",
                    r.model(), batch, tokens, threads, r.texts(), r.attention());
            out.printf(java.util.Locale.ROOT, "load    %8.0f ms (mapped, checked and packed; this process's first load)%n",
                    loadMs);
            out.printf(java.util.Locale.ROOT, "attn4j  %8.0f tokens/s (median of %d rounds)%n", r.attn4j(),
                    ModelBench.ROUNDS);
            if (!Double.isNaN(r.ort())) {
                out.printf(java.util.Locale.ROOT, "ORT     %8.0f tokens/s   ratio %.2f   cosine min %.7f mean %.7f%n",
                        r.ort(), r.attn4j() / r.ort(), r.cosineMin(), r.cosineMean());
            }
            out.flush();
            if (json != null) {
                Files.writeString(json, Json.write(r.toJson()));
            }
            return 0;
        }
    }
}
