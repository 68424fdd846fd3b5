package io.attn4j.cli;

import io.attn4j.attention.Pattern;
import io.attn4j.util.Json;
import io.attn4j.bench.KernelBench;
import io.attn4j.bench.MachinePeak;
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
        subcommands = {BenchCommand.Kernels.class})
final class BenchCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
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
                try {
                    Files.writeString(json, Json.write(KernelBench.toJson(peak, results)));
                } catch (IOException e) {
                    throw new IllegalArgumentException("cannot write " + json + ": " + e.getMessage(), e);
                }
            }
            long failed = results.stream().filter(r -> r.error() != null).count();
            if (failed > 0) {
                err.println("attn4j: " + failed + " measurement(s) failed; see the table");
                return 1;
            }
            return 0;
        }
    }
}
