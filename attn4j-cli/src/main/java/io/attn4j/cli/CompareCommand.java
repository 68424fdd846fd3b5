package io.attn4j.cli;

import io.attn4j.bench.compare.Compare;
import io.attn4j.bench.compare.CompareConfig;
import io.attn4j.bench.compare.KernelPeer;
import io.attn4j.bench.peers.OrtAttentionPeer;
import io.attn4j.bench.peers.TorchAttention;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code attn4j compare}: every mechanism side by side on this machine, written as a report. */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = {"Measure every attention mechanism side by side on this machine — kernels over the patterns "
                + "and a length sweep, fidelity against the float64 reference, the default encoder on the real corpus "
                + "with each mechanism in every layer, and the peers (ONNX Runtime, naive) in the same run — and write "
                + "report.json and a self-contained index.html.",
                "Default run: lengths 1K to 64K, about 20 minutes on 2 cores; --quick: up to 8K, about 3 minutes."})
final class CompareCommand implements Callable<Integer> {
    @Option(names = "--quick", description = "Lengths up to 8K, 4 heads, 150 texts, shorter timing.")
    boolean quick;

    @Option(names = "--mechanisms", split = ",", paramLabel = "ID,...",
            description = "Catalog ids to compare (default: all of ./attn4j mechanisms).")
    List<String> mechanisms = new ArrayList<>();

    @Option(names = "--lengths", split = ",", paramLabel = "N,...",
            description = "The kernel sweep's lengths (default: 1024 to 65536 by doubling; --quick: to 8192).")
    int[] lengths;

    @Option(names = "--model", paramLabel = "M", description = "The encoder (default: minilm).")
    String model = "minilm";

    @Option(names = "--corpus", paramLabel = "C", description = "brown (default) or a directory of .txt files.")
    String corpus = "brown";

    @Option(names = "--texts", paramLabel = "N",
            description = "Texts of the model section (default: 500; --quick: 150), spread over the genres.")
    Integer texts;

    @Option(names = "--heads", paramLabel = "H", description = "Prefill heads (default: 8; --quick: 4).")
    Integer heads;

    @Option(names = "--head-dim", paramLabel = "D", description = "Prefill head dimension (default: 64).")
    Integer headDim;

    @Option(names = "--threads", paramLabel = "T", description = "Threads (default: available processors).")
    Integer threads;

    @Option(names = "--cap-seconds", paramLabel = "S",
            description = "Skip lengths whose predicted call time exceeds S seconds (default: 8; --quick: 1.5).")
    Double capSeconds;

    @Option(names = "--capture", paramLabel = "DIR",
            description = "The captured input of the fidelity section (default: made once in the attn4j cache).")
    Path capture;

    @Option(names = "--no-capture", description = "Skip the captured fidelity input (no capture is made).")
    boolean noCapture;

    @Option(names = "--out", paramLabel = "DIR", description = "Report directory (default: ${DEFAULT-VALUE}).")
    Path out = Path.of("report");

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        CompareConfig c = CompareConfig.defaults(quick, out);
        if (!mechanisms.isEmpty()) {
            c = c.withMechanisms(mechanisms);
        }
        if (lengths != null) {
            c = c.withLengths(lengths);
        }
        if (heads != null || headDim != null) {
            c = c.withShape(heads != null ? heads : c.heads(), headDim != null ? headDim : c.headDim());
        }
        c = c.withModel(model, corpus, texts != null ? texts : c.texts());
        if (threads != null) {
            c = c.withThreads(threads);
        }
        if (capSeconds != null) {
            c = c.withTiming(capSeconds, c.protocol());
        }
        if (capture != null && noCapture) {
            throw new IllegalArgumentException("--capture and --no-capture exclude each other");
        }
        if (!noCapture) {
            c = c.withCapture(capture != null ? capture : CaptureCommand.defaultCapture(err));
        }
        List<KernelPeer> peers = new ArrayList<>(List.of(new OrtAttentionPeer(), new TorchAttention()));
        Compare.Outcome outcome = Compare.run(c, "./attn4j " + String.join(" ", spec.commandLine().getParseResult()
                .originalArgs()), peers, err);
        PrintWriter o = spec.commandLine().getOut();
        @SuppressWarnings("unchecked")
        List<Object> summary = (List<Object>) outcome.report().get("summary");
        summary.forEach(line -> o.println("  " + line));
        o.println("report: " + outcome.html().toAbsolutePath() + " (and " + outcome.json().getFileName() + ")");
        o.flush();
        if (outcome.failures() > 0) {
            err.println("attn4j: " + outcome.failures() + " measurement(s) failed; see the report");
            return 1;
        }
        return 0;
    }
}
