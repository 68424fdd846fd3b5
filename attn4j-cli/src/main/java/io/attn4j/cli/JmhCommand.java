package io.attn4j.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

import java.util.List;

/** {@code attn4j jmh}: runs the JMH micro-benchmarks of attn4j-bench with JMH's own options. */
@Command(name = "jmh", mixinStandardHelpOptions = false,
        description = {"Run the JMH micro-benchmarks (io.attn4j.bench.jmh); arguments go to JMH.",
                "Example: attn4j jmh MicroKernels -f 1 -wi 3 -i 5"})
final class JmhCommand implements Runnable {
    /** Everything after {@code jmh}, options included, in order: JMH parses it. */
    @Unmatched
    List<String> args = new java.util.ArrayList<>();

    @Override
    public void run() {
        try {
            org.openjdk.jmh.Main.main(args.toArray(String[]::new));
        } catch (Exception e) {
            throw new IllegalArgumentException("JMH failed: " + e.getMessage(), e);
        }
    }
}
