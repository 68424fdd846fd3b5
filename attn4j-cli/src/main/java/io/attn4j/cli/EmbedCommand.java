package io.attn4j.cli;

import io.attn4j.models.Encoder;
import io.attn4j.models.ModelSource;
import io.attn4j.models.bert.AttentionPlan;
import io.attn4j.models.corpus.Corpora;
import io.attn4j.models.corpus.Corpus;
import io.attn4j.models.corpus.Text;
import io.attn4j.models.format.EmbeddingFiles;
import io.attn4j.runtime.Engine;
import io.attn4j.util.Progress;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code attn4j embed}: texts in, one embedding per text out. */
@Command(name = "embed", mixinStandardHelpOptions = true,
        description = {"Embed texts with a BERT-family encoder in pure Java, with any attention mechanism.",
                "Input: 'brown' (the Brown corpus), a directory of .txt files (both cut into passages), or a .txt"
                        + " file with one text per line. Output: .jsonl (id and vector per line) or .npy (float32,"
                        + " rows in input order)."})
final class EmbedCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "M",
            description = "minilm (default), bge-small, Maven coordinates group:artifact:version, or a directory.")
    String model = ModelSource.DEFAULT;

    @Option(names = "--input", paramLabel = "FILE|DIR|brown", description = "What to embed (default: brown).")
    String input = "brown";

    @Option(names = "--attention", paramLabel = "PLAN",
            description = "A mechanism for every layer (flash), or per layer/head: 0-2:flash,3-5/0-5:naive.")
    String attention = AttentionPlan.DEFAULT;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = "Output .jsonl or .npy file.")
    Path out;

    @Option(names = "--max-tokens", paramLabel = "N",
            description = "Truncate texts to N tokens (default: the tokenizer's length, else the model's positions).")
    Integer maxTokens;

    @Option(names = "--passage-words", paramLabel = "N",
            description = "Corpus passages of about N words; 0 embeds whole documents (default: ${DEFAULT-VALUE}).")
    int passageWords = 200;

    @Option(names = "--threads", paramLabel = "T", description = "Threads (default: available processors).")
    int threads = Runtime.getRuntime().availableProcessors();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (threads < 1) {
            throw new IllegalArgumentException("--threads " + threads + "; allowed: >= 1");
        }
        if (passageWords < 0) {
            throw new IllegalArgumentException("--passage-words " + passageWords + "; allowed: >= 0");
        }
        String name = out.getFileName().toString().toLowerCase(Locale.ROOT);
        if (!name.endsWith(".jsonl") && !name.endsWith(".npy")) {
            throw new IllegalArgumentException("--out " + out + "; allowed: a .jsonl or .npy file name");
        }
        AttentionPlan plan = AttentionPlan.parse(attention);
        List<Text> texts = texts();
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("--input " + input + " holds no text");
        }
        PrintWriter err = spec.commandLine().getErr();
        Encoder encoder = Encoder.load(ModelSource.resolve(model), Engine.defaults().withThreads(threads))
                .withAttention(plan);
        if (maxTokens != null) {
            encoder = encoder.withMaxTokens(maxTokens);
        }
        err.println("attn4j: " + encoder + ", " + texts.size() + " texts of " + input);
        List<String> strings = texts.stream().map(Text::text).toList();
        long start = System.nanoTime();
        int[][] ids = encoder.tokenize(strings);
        long tokens = 0;
        for (int[] row : ids) {
            tokens += row.length;
        }
        float[][] vectors;
        try (Progress progress = new Progress(err, "embed " + encoder.source().name(), texts.size(), "texts",
                Progress.isTerminal())) {
            vectors = encoder.embedIds(ids, progress::update);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        EmbeddingFiles.write(out, texts.stream().map(Text::id).toList(), vectors);
        spec.commandLine().getOut().printf(Locale.ROOT, "embedded %d texts (%d tokens) in %.1f s, %.0f tokens/s:"
                + " %d x %d -> %s%n", texts.size(), tokens, seconds, tokens / seconds, vectors.length,
                vectors[0].length, out);
        spec.commandLine().getOut().flush();
        return 0;
    }

    private List<Text> texts() throws IOException {
        Path path = Path.of(input);
        if (!input.equals(Corpora.DEFAULT) && Files.isRegularFile(path)) {
            return lines(path);
        }
        Corpus corpus = Corpora.resolve(input);
        return passageWords == 0 ? corpus.texts() : corpus.passages(passageWords).texts();
    }

    /** Each non-blank line of a UTF-8 file is a text, its id {@code file:line}. */
    private static List<Text> lines(Path file) throws IOException {
        String content;
        try {
            content = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(Files.readAllBytes(file))).toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("--input " + file + " is not UTF-8 text (" + e + ")");
        }
        List<Text> texts = new ArrayList<>();
        String[] lines = content.split("\r?\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (!lines[i].isBlank()) {
                texts.add(new Text(file.getFileName() + ":" + (i + 1), "", lines[i]));
            }
        }
        return texts;
    }
}
