package io.attn4j.bench.compare;

import io.attn4j.attention.Pattern;
import io.attn4j.bench.KernelBench;
import io.attn4j.catalog.Catalog;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What {@code attn4j compare} measures.
 *
 * @param quick         the short run: lengths up to 8K, fewer texts, shorter timing
 * @param mechanisms    catalog ids to measure; empty means every mechanism of the catalog
 * @param lengths       the length sweep of the kernel section (query length; for decode the cache length)
 * @param heads         query heads of the prefill patterns (NS, CS, NC, CC), which have as many KV heads
 * @param headDim       head dimension of the prefill patterns
 * @param decodeHeads   query heads of decode
 * @param decodeKvHeads KV heads of decode (grouped-query attention)
 * @param decodeHeadDim head dimension of decode
 * @param model         the encoder of the fidelity and model sections ({@code Encoder.load} names)
 * @param corpus        the corpus of the model section ({@code Corpora.resolve} names)
 * @param texts         texts of the model section, spread over the corpus's genres
 * @param threads       threads of every measurement, attn4j's and the peers'
 * @param capSeconds    a mechanism's sweep stops before a length whose predicted call time exceeds this
 * @param protocol      warm-up and timing of each kernel measurement
 * @param capture       the capture directory of the {@code captured} fidelity input, or null for the default one
 * @param out           the report directory
 */
public record CompareConfig(boolean quick, List<String> mechanisms, int[] lengths, int heads, int headDim,
                            int decodeHeads, int decodeKvHeads, int decodeHeadDim, String model, String corpus,
                            int texts, int threads, double capSeconds, KernelBench.Protocol protocol, Path capture,
                            Path out) {

    /** Patterns in the order the report shows them. */
    public static final List<Pattern> PATTERNS = List.of(Pattern.NS, Pattern.CS, Pattern.NC, Pattern.CC,
            Pattern.DECODE);

    public CompareConfig {
        mechanisms = List.copyOf(mechanisms);
        mechanisms.forEach(Catalog::get);
        lengths = lengths.clone();
        if (lengths.length == 0) {
            throw new IllegalArgumentException("--lengths is empty");
        }
        for (int n : lengths) {
            if (n < 16) {
                throw new IllegalArgumentException("--lengths holds " + n + "; allowed: >= 16");
            }
        }
        Arrays.sort(lengths);
        if (heads < 1 || headDim < 1 || decodeHeads < 1 || decodeKvHeads < 1 || decodeHeadDim < 1
                || decodeHeads % decodeKvHeads != 0) {
            throw new IllegalArgumentException("heads " + heads + ", head dim " + headDim + ", decode heads "
                    + decodeHeads + "/" + decodeKvHeads + " of " + decodeHeadDim + ": all >= 1, decode heads a "
                    + "multiple of its KV heads");
        }
        if (texts < 10) {
            throw new IllegalArgumentException("--texts " + texts + "; allowed: >= 10 (k-NN needs neighbours)");
        }
        if (threads < 1) {
            throw new IllegalArgumentException("--threads " + threads + "; allowed: >= 1");
        }
        if (!(capSeconds > 0)) {
            throw new IllegalArgumentException("cap " + capSeconds + " s; allowed: > 0");
        }
    }

    /** The defaults of a run ({@code quick} or full) before options override them. */
    public static CompareConfig defaults(boolean quick, Path out) {
        int[] lengths = quick ? new int[] {1024, 2048, 4096, 8192}
                : new int[] {1024, 2048, 4096, 8192, 16384, 32768, 65536};
        KernelBench.Protocol protocol = quick ? new KernelBench.Protocol(0.5, 1, 0.1, 3, 0.3, 20)
                : new KernelBench.Protocol(1.0, 1, 0.5, 5, 1.0, 30);
        return new CompareConfig(quick, List.of(), lengths, quick ? 4 : 8, 64, 32, 8, 128, "minilm", "brown",
                quick ? 150 : 500, Runtime.getRuntime().availableProcessors(), quick ? 1.5 : 8.0, protocol, null, out);
    }

    /** The ids measured: {@link #mechanisms}, or every catalog id. */
    public List<String> mechanismIds() {
        if (!mechanisms.isEmpty()) {
            return mechanisms;
        }
        List<String> all = new ArrayList<>();
        Catalog.all().forEach(m -> all.add(m.id()));
        return all;
    }

    public CompareConfig withMechanisms(List<String> ids) {
        return new CompareConfig(quick, ids, lengths, heads, headDim, decodeHeads, decodeKvHeads, decodeHeadDim, model,
                corpus, texts, threads, capSeconds, protocol, capture, out);
    }

    public CompareConfig withLengths(int[] newLengths) {
        return new CompareConfig(quick, mechanisms, newLengths, heads, headDim, decodeHeads, decodeKvHeads,
                decodeHeadDim, model, corpus, texts, threads, capSeconds, protocol, capture, out);
    }

    public CompareConfig withShape(int newHeads, int newHeadDim) {
        return new CompareConfig(quick, mechanisms, lengths, newHeads, newHeadDim, decodeHeads, decodeKvHeads,
                decodeHeadDim, model, corpus, texts, threads, capSeconds, protocol, capture, out);
    }

    public CompareConfig withDecodeShape(int newHeads, int newKvHeads, int newHeadDim) {
        return new CompareConfig(quick, mechanisms, lengths, heads, headDim, newHeads, newKvHeads, newHeadDim, model,
                corpus, texts, threads, capSeconds, protocol, capture, out);
    }

    public CompareConfig withModel(String newModel, String newCorpus, int newTexts) {
        return new CompareConfig(quick, mechanisms, lengths, heads, headDim, decodeHeads, decodeKvHeads, decodeHeadDim,
                newModel, newCorpus, newTexts, threads, capSeconds, protocol, capture, out);
    }

    public CompareConfig withThreads(int newThreads) {
        return new CompareConfig(quick, mechanisms, lengths, heads, headDim, decodeHeads, decodeKvHeads, decodeHeadDim,
                model, corpus, texts, newThreads, capSeconds, protocol, capture, out);
    }

    public CompareConfig withTiming(double newCapSeconds, KernelBench.Protocol newProtocol) {
        return new CompareConfig(quick, mechanisms, lengths, heads, headDim, decodeHeads, decodeKvHeads, decodeHeadDim,
                model, corpus, texts, threads, newCapSeconds, newProtocol, capture, out);
    }

    public CompareConfig withCapture(Path newCapture) {
        return new CompareConfig(quick, mechanisms, lengths, heads, headDim, decodeHeads, decodeKvHeads, decodeHeadDim,
                model, corpus, texts, threads, capSeconds, protocol, newCapture, out);
    }
}
