package io.attn4j.cli;

import io.attn4j.util.Json;
import io.attn4j.bench.MachinePeak;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code attn4j peak}: the machine's FMA throughput and memory bandwidth, in pure Java. */
@Command(name = "peak", mixinStandardHelpOptions = true,
        description = "Measure float32 FMA GFLOP/s and streaming memory GB/s in pure Java, on one thread and on all.")
final class PeakCommand implements Runnable {
    @Option(names = "--threads", description = "Threads for the all-threads figures (default: available processors).")
    int threads = Runtime.getRuntime().availableProcessors();

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the figures as JSON.")
    Path json;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        if (threads < 1) {
            throw new IllegalArgumentException("--threads " + threads + "; allowed: >= 1");
        }
        MachinePeak peak = MachinePeak.measure(threads);
        var out = spec.commandLine().getOut();
        out.printf("FMA float32   1 thread: %8.1f GFLOP/s   %d threads: %8.1f GFLOP/s%n", peak.fmaGflops1(), threads,
                peak.fmaGflops());
        out.printf("stream (r+w)  1 thread: %8.1f GB/s      %d threads: %8.1f GB/s%n", peak.streamGbs1(), threads,
                peak.streamGbs());
        out.printf("%s, %s%n", peak.jdk(), peak.simd());
        out.flush();
        if (json != null) {
            try {
                Files.writeString(json, Json.write(peak.toJson(true)));
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot write " + json + ": " + e.getMessage(), e);
            }
        }
    }
}
