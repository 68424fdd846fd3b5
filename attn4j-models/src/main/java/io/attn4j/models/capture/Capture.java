package io.attn4j.models.capture;

import io.attn4j.models.Encoder;
import io.attn4j.models.ModelSource;
import io.attn4j.models.bert.BertConfig;
import io.attn4j.models.bert.BertModel;
import io.attn4j.models.corpus.Corpora;
import io.attn4j.models.corpus.Corpus;
import io.attn4j.models.corpus.Text;
import io.attn4j.models.format.SafeTensors;
import io.attn4j.models.hub.Cache;
import io.attn4j.tensor.Tensor;
import io.attn4j.util.FileTrees;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.IntConsumer;

/**
 * Captures the inputs of attention — per layer and head, Q (unscaled), K and V — of an encoder run over real texts,
 * into a directory that {@link CapturedInputs} reads back as the {@code captured} standard input of the benchmarks.
 * The format is described in {@code docs/CAPTURE.md}.
 *
 * <p><b>Texts</b> ({@link #selectTexts}): documents of the corpus, spread over its genres, each cut to its start
 * so that it fills the encoder's token limit.
 *
 * <p><b>Writing</b> ({@link #write}): each text is encoded alone; the {@link BertModel.Observer} sees each layer's
 * Q, K and V as strided views of the packed projection, and they are copied out whole as {@code [tokens, heads,
 * headDim]} float32 tensors into one safetensors file per text. Everything is written into a temporary sibling of
 * the target directory, {@code index.json} last, and the directory is then renamed into place: a capture
 * directory that exists is complete.
 */
public final class Capture {
    /** Texts in a capture made without saying how many. */
    public static final int DEFAULT_TEXTS = 16;
    /** Tokens per text when not said otherwise (BERT's positions). */
    public static final int DEFAULT_TOKENS = 512;
    /** The default capture's directory name under {@code <cache>/captured}: the model, the corpus, a version. */
    public static final String DEFAULT_NAME = "minilm-brown-v1";

    private Capture() {
    }

    /**
     * Where the default capture ({@link ModelSource#DEFAULT} over {@link Corpora#DEFAULT}, {@value #DEFAULT_TEXTS}
     * texts of {@value #DEFAULT_TOKENS} tokens) lives: {@code <cache>/captured/}{@value #DEFAULT_NAME}. Not created
     * here; {@link CaptureIndex#exists} says whether it has been.
     */
    public static Path defaultDirectory() {
        return Cache.dir("captured").resolve(DEFAULT_NAME);
    }

    /**
     * Picks {@code count} documents of {@code corpus} and cuts each to its start, so that the texts are long and
     * real.
     *
     * <ul>
     *   <li><b>Which documents.</b> Genres are taken in the order they first appear; each genre in turn gets one
     *       more text until {@code count} are allotted (a genre with no documents left is skipped), so
     *       {@code count >= } the number of genres covers every genre. A genre allotted {@code q} of its {@code c}
     *       documents takes those at {@code ⌊j·c/q⌋}, {@code j = 0 … q − 1}: evenly spaced from its first. The texts
     *       come out in corpus order. A corpus without genres thus gives evenly spaced documents.</li>
     *   <li><b>How much of each.</b> The shortest run of whole words from the document's start whose tokens fill
     *       {@code encoder.maxTokens()} (special tokens included); the encoder's truncation then drops at most the
     *       last word's trailing word pieces. A document that does not fill the limit is taken whole.</li>
     * </ul>
     * Ids and genres are the documents'.
     *
     * @throws IllegalArgumentException if {@code count < 1} or the corpus has fewer non-blank documents
     */
    public static List<Text> selectTexts(Corpus corpus, Encoder encoder, int count) {
        List<Text> documents = corpus.texts().stream().filter(t -> !t.text().isBlank()).toList();
        if (count < 1 || count > documents.size()) {
            throw new IllegalArgumentException("texts = " + count + "; allowed: 1 to " + documents.size()
                    + " (the documents of corpus " + corpus.name() + ")");
        }
        Map<String, List<Integer>> byGenre = new LinkedHashMap<>();
        for (int i = 0; i < documents.size(); i++) {
            byGenre.computeIfAbsent(documents.get(i).genre(), g -> new ArrayList<>()).add(i);
        }
        Map<String, Integer> quota = new LinkedHashMap<>();
        byGenre.keySet().forEach(g -> quota.put(g, 0));
        for (int allotted = 0; allotted < count; ) {
            for (Map.Entry<String, List<Integer>> g : byGenre.entrySet()) {
                if (allotted < count && quota.get(g.getKey()) < g.getValue().size()) {
                    quota.merge(g.getKey(), 1, Integer::sum);
                    allotted++;
                }
            }
        }
        List<Integer> chosen = new ArrayList<>();
        byGenre.forEach((genre, indices) -> {
            int q = quota.get(genre), c = indices.size();
            for (int j = 0; j < q; j++) {
                chosen.add(indices.get((int) ((long) j * c / q)));
            }
        });
        chosen.sort(Comparator.naturalOrder());
        List<Text> texts = new ArrayList<>();
        for (int i : chosen) {
            Text d = documents.get(i);
            texts.add(new Text(d.id(), d.genre(), start(d.text(), encoder)));
        }
        return texts;
    }

    /** The shortest whole-word prefix of {@code text} that fills the encoder's token limit, or all of it. */
    static String start(String text, Encoder encoder) {
        int limit = encoder.maxTokens();
        List<Integer> wordEnds = new ArrayList<>();
        for (int i = 0; i < text.length(); i++) {
            boolean space = Character.isWhitespace(text.charAt(i));
            boolean nextSpace = i + 1 == text.length() || Character.isWhitespace(text.charAt(i + 1));
            if (!space && nextSpace) {
                wordEnds.add(i + 1);
            }
        }
        if (tokens(text, encoder) < limit) {
            return text.strip();
        }
        // every word is at least one token, so `limit` words always fill the limit: search [1, min(words, limit)]
        int lo = 1, hi = Math.min(wordEnds.size(), limit);
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (tokens(text.substring(0, wordEnds.get(mid - 1)), encoder) >= limit) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return text.substring(0, wordEnds.get(lo - 1)).strip();
    }

    private static int tokens(String text, Encoder encoder) {
        return encoder.tokenizer().encode(text, encoder.maxTokens()).length();
    }

    /** {@link #write(Encoder, List, Path, boolean, IntConsumer)} refusing to replace a non-empty directory. */
    public static CaptureIndex write(Encoder encoder, List<Text> texts, Path out, IntConsumer progress)
            throws IOException {
        return write(encoder, texts, out, false, progress);
    }

    /**
     * Encodes each text (truncated to {@code encoder.maxTokens()}) and writes the Q, K and V every layer's attention
     * receives into the capture directory {@code out}.
     *
     * @param corpusName what the texts are, for the index ({@code brown})
     * @param replace    replace {@code out} if it is a capture already (anything else non-empty is refused)
     * @param progress   called with the number of texts written so far
     * @return the index written
     * @throws IllegalArgumentException if there are no texts, two share an id, or {@code out} is a file, a
     *                                  non-empty directory without {@code replace}, or a non-empty directory that
     *                                  is not a capture
     */
    public static CaptureIndex write(Encoder encoder, List<Text> texts, String corpusName, Path out, boolean replace,
                                     IntConsumer progress) throws IOException {
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("no texts to capture");
        }
        Set<String> ids = new HashSet<>();
        for (Text t : texts) {
            if (!ids.add(t.id())) {
                throw new IllegalArgumentException("two texts have the id '" + t.id() + "'; a capture needs distinct ids");
            }
        }
        Path target = out.toAbsolutePath().normalize();
        checkOutput(target, replace);
        Path parent = target.getParent();
        Files.createDirectories(parent);
        Path temp = newSibling(target, "tmp");
        try {
            CaptureIndex index = writeInto(temp, encoder, texts, corpusName, progress);
            moveIntoPlace(temp, target, replace);
            return index;
        } finally {
            FileTrees.delete(temp); // nothing left when the move succeeded
        }
    }

    /** {@link #write(Encoder, List, String, Path, boolean, IntConsumer)} with the corpus unnamed. */
    public static CaptureIndex write(Encoder encoder, List<Text> texts, Path out, boolean replace, IntConsumer progress)
            throws IOException {
        return write(encoder, texts, "", out, replace, progress);
    }

    /**
     * Checks that {@link #write} may write to {@code out}: it is absent, an empty directory, or (with
     * {@code replace}) a capture. {@code write} checks this itself, before and after the work; callers check early
     * to fail before loading a model.
     *
     * @throws IllegalArgumentException if {@code out} is a file, a non-empty directory without {@code replace}, or
     *                                  a non-empty directory that is not a capture
     */
    public static void checkOutput(Path out, boolean replace) throws IOException {
        Path target = out.toAbsolutePath().normalize();
        if (!Files.exists(target)) {
            return;
        }
        if (!Files.isDirectory(target)) {
            throw new IllegalArgumentException("capture output " + target + " exists and is not a directory");
        }
        if (isEmpty(target)) {
            return;
        }
        if (!replace) {
            throw new IllegalArgumentException("capture output " + target + " exists and is not empty; choose another"
                    + " directory or replace it (--force)");
        }
        if (!CaptureIndex.exists(target)) {
            throw new IllegalArgumentException("capture output " + target + " is not empty and is not a capture (no "
                    + CaptureIndex.FILE + "); refusing to replace it even with --force");
        }
    }

    private static boolean isEmpty(Path directory) throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory)) {
            return !entries.iterator().hasNext();
        }
    }

    private static CaptureIndex writeInto(Path dir, Encoder encoder, List<Text> texts, String corpusName,
                                          IntConsumer progress) throws IOException {
        BertModel model = encoder.model();
        BertConfig c = model.config();
        ModelSource source = encoder.source();
        Path weights = source.weights() != null ? source.weights() : source.onnx();
        int digits = Math.max(3, Integer.toString(texts.size() - 1).length());
        List<CaptureIndex.Entry> entries = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            Text text = texts.get(i);
            int[] ids = encoder.tokenize(List.of(text.text()))[0];
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            model.forward(new int[][] {ids}, null, new BertModel.Observer() {
                @Override
                public void attentionInputs(int layer, Tensor q, Tensor k, Tensor v, int[] offsets) {
                    // one text per pass: [1, T, heads, headDim] views of the projection buffer, copied before the
                    // next layer overwrites it
                    tensors.put(CaptureIndex.tensorName(layer, 'q'), q.select(0, 0).copy());
                    tensors.put(CaptureIndex.tensorName(layer, 'k'), k.select(0, 0).copy());
                    tensors.put(CaptureIndex.tensorName(layer, 'v'), v.select(0, 0).copy());
                }
            });
            String file = String.format("%0" + digits + "d-%s.safetensors", i, safeName(text.id()));
            Map<String, String> metadata = new LinkedHashMap<>();
            metadata.put("format", CaptureIndex.FORMAT);
            metadata.put("model", source.name());
            metadata.put("text_id", text.id());
            metadata.put("tokens", Integer.toString(ids.length));
            SafeTensors.write(dir.resolve(file), tensors, metadata);
            entries.add(new CaptureIndex.Entry(text.id(), text.genre(), ids.length, file, text.text()));
            progress.accept(i + 1);
        }
        CaptureIndex index = new CaptureIndex(source.name(), weights.getFileName().toString(), sha1(weights),
                model.attention().toString(), corpusName, encoder.maxTokens(), c.layers(), c.heads(), c.headDim(),
                1.0 / Math.sqrt(c.headDim()), entries);
        index.write(dir);
        return index;
    }

    /** An id usable in a file name: letters, digits, {@code . _ -}; anything else becomes {@code _}. */
    private static String safeName(String id) {
        String s = id.replaceAll("[^A-Za-z0-9._-]", "_");
        s = s.length() > 60 ? s.substring(0, 60) : s;
        return s.isEmpty() || s.startsWith(".") ? "_" + s : s;
    }

    private static String sha1(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-1", e);
        }
        byte[] buffer = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                md.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * Renames the finished {@code temp} directory to {@code target}. An absent or empty target is replaced in one
     * rename; a capture being replaced is first renamed aside and deleted after the new one is in place.
     */
    private static void moveIntoPlace(Path temp, Path target, boolean replace) throws IOException {
        checkOutput(target, replace); // again: something may have appeared while we worked
        Path old = null;
        if (Files.exists(target) && !isEmpty(target)) {
            old = newSibling(target, "old");
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            if (old != null) {
                Files.move(old, target, StandardCopyOption.ATOMIC_MOVE); // put the previous capture back
            }
            throw e;
        }
        if (old != null) {
            FileTrees.delete(old);
        }
    }

    /**
     * A new empty hidden directory beside {@code target}: {@code .<name>.<what>-<random>}. Made with
     * {@link Files#createDirectory} so its permissions follow the umask, as the capture's will.
     */
    private static Path newSibling(Path target, String what) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path p = target.resolveSibling("." + target.getFileName() + "." + what + "-"
                    + Long.toHexString(ThreadLocalRandom.current().nextLong()));
            try {
                return Files.createDirectory(p);
            } catch (FileAlreadyExistsException e) {
                if (attempt == 100) {
                    throw e;
                }
            }
        }
    }

}
