package io.attn4j.cli;

import io.attn4j.models.Encoder;
import io.attn4j.models.ModelSource;
import io.attn4j.models.capture.Capture;
import io.attn4j.models.capture.CaptureIndex;
import io.attn4j.models.corpus.Corpora;
import io.attn4j.models.corpus.Corpus;
import io.attn4j.models.corpus.Text;
import io.attn4j.util.Progress;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/** {@code attn4j capture}: the {@code captured} standard input, real Q/K/V of an encoder over real texts. */
@Command(name = "capture", mixinStandardHelpOptions = true,
        description = {"Capture the inputs of attention (Q unscaled, K, V of every layer and head) of an encoder run"
                + " over real texts, for bench kernels --input captured.",
                "Texts: corpus documents spread over its genres, each cut to its start to fill --tokens tokens. Output:"
                        + " a directory with index.json and one safetensors file per text (docs/CAPTURE.md)."})
final class CaptureCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "M",
            description = "minilm (default), bge-small, Maven coordinates group:artifact:version, or a directory.")
    String model = ModelSource.DEFAULT;

    @Option(names = "--corpus", paramLabel = "C", description = "brown (default) or a directory of .txt files.")
    String corpus = Corpora.DEFAULT;

    @Option(names = "--out", paramLabel = "DIR", required = true,
            description = "The capture directory to create (absent or empty, or a capture with --force).")
    Path out;

    @Option(names = "--texts", paramLabel = "N", description = "Texts to capture (default: ${DEFAULT-VALUE}).")
    int texts = Capture.DEFAULT_TEXTS;

    @Option(names = "--tokens", paramLabel = "N",
            description = "Tokens per text, special tokens included (default: 512, or the model's positions if fewer).")
    Integer tokens;

    @Option(names = "--force", description = "Replace --out if it is a capture already.")
    boolean force;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        long start = System.nanoTime();
        CaptureIndex index = capture(model, corpus, out, texts, tokens, force, err);
        spec.commandLine().getOut().printf(Locale.ROOT, "%s in %.1f s%n", summary(index, out),
                (System.nanoTime() - start) / 1e9);
        spec.commandLine().getOut().flush();
        return 0;
    }

    /**
     * Loads the model and the corpus, picks the texts and writes the capture, with a progress bar on {@code err}.
     *
     * @param tokens tokens per text, or {@code null} for {@value Capture#DEFAULT_TOKENS} (at most the model's
     *               positions)
     */
    static CaptureIndex capture(String model, String corpus, Path out, int texts, Integer tokens, boolean force,
                                PrintWriter err) throws IOException {
        if (texts < 1) {
            throw new IllegalArgumentException("--texts " + texts + "; allowed: >= 1");
        }
        Capture.checkOutput(out, force);
        Encoder encoder = Encoder.load(model);
        int positions = encoder.model().config().maxPositions();
        int limit = tokens != null ? tokens : Math.min(Capture.DEFAULT_TOKENS, positions);
        try {
            encoder = encoder.withMaxTokens(limit);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--tokens " + limit + ": " + e.getMessage(), e);
        }
        Corpus documents = Corpora.resolve(corpus);
        List<Text> chosen;
        try {
            chosen = Capture.selectTexts(documents, encoder, texts);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--texts: " + e.getMessage(), e);
        }
        err.println("capturing " + encoder + " over " + chosen.size() + " texts of " + documents.name() + " (up to "
                + limit + " tokens each) into " + out);
        err.flush();
        try (Progress progress = new Progress(err, "capture " + model, chosen.size(), "texts", Progress.isTerminal())) {
            return Capture.write(encoder, chosen, documents.name(), out, force, progress::update);
        }
    }

    /**
     * The default capture ({@link Capture#defaultDirectory()}), made on first use with a line on {@code err} saying
     * so; if another process finishes it first, theirs is used.
     */
    static Path defaultCapture(PrintWriter err) throws IOException {
        Path dir = Capture.defaultDirectory();
        if (CaptureIndex.exists(dir)) {
            return dir;
        }
        err.println("attn4j: no default captured input yet; capturing it once into " + dir + " ("
                + Capture.DEFAULT_TEXTS + " Brown texts of " + Capture.DEFAULT_TOKENS + " tokens through "
                + ModelSource.DEFAULT + ", about 230 MB)");
        try {
            capture(ModelSource.DEFAULT, Corpora.DEFAULT, dir, Capture.DEFAULT_TEXTS, null, false, err);
        } catch (IllegalArgumentException e) {
            if (!CaptureIndex.exists(dir)) {
                throw e;
            }
        }
        return dir;
    }

    /** One line: how many texts, tokens and bytes went where. */
    static String summary(CaptureIndex index, Path dir) throws IOException {
        long bytes;
        try (Stream<Path> files = Files.list(dir)) {
            bytes = files.mapToLong(p -> p.toFile().length()).sum();
        }
        long tokens = index.texts().stream().mapToLong(CaptureIndex.Entry::tokens).sum();
        return String.format(Locale.ROOT, "captured %d texts (%d tokens; %s) of %s, %s, in %s: %.1f MB",
                index.texts().size(), tokens, genres(index), index.model(), index.describeShape(), dir, bytes / 1e6);
    }

    private static String genres(CaptureIndex index) {
        long genres = index.texts().stream().map(CaptureIndex.Entry::genre).distinct().count();
        return genres + (genres == 1 ? " genre" : " genres");
    }
}
