package io.attn4j.models.capture;

import io.attn4j.inputs.InputShape;
import io.attn4j.util.Json;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The {@code index.json} of a capture directory: which model produced the Q/K/V, its attention shape, and one entry
 * per captured text. The format is described in {@code docs/CAPTURE.md}.
 *
 * @param model      the model as it was named ({@code minilm}, Maven coordinates or a path)
 * @param modelFile  the file name of the model's weights ({@code model.onnx}, {@code model.safetensors})
 * @param modelSha1  the SHA-1 of that file, lower-case hex: which weights, however they were named
 * @param attention  the model's attention plan when capturing (Q/K/V of layer {@code l > 0} depend on it)
 * @param corpus     the corpus the texts come from
 * @param maxTokens  the truncation length the texts were tokenized with
 * @param layers     encoder layers: {@code layer.0} … {@code layer.<layers − 1>}
 * @param heads      attention heads per layer
 * @param headDim    dimensions per head
 * @param scale      the logit scale the model applies to {@code q·k} (Q is stored unscaled): {@code 1/√headDim}
 * @param texts      the captured texts, in capture order
 */
public record CaptureIndex(String model, String modelFile, String modelSha1, String attention, String corpus,
                           int maxTokens, int layers, int heads, int headDim, double scale, List<Entry> texts) {
    /** The value of the {@code format} field. */
    public static final String FORMAT = "attn4j-capture";
    /** The format version this code writes and reads. */
    public static final int VERSION = 1;
    /** The index's file name inside a capture directory. */
    public static final String FILE = "index.json";

    /** A file name a capture may hold: no directories, no leading dot. */
    private static final Pattern FILE_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]*\\.safetensors");

    /**
     * One captured text.
     *
     * @param id     the text's id in its corpus (for Brown, the sample: {@code ca01})
     * @param genre  its genre ({@code ""} when the corpus has none)
     * @param tokens its token count, special tokens included: the first axis of each of its tensors
     * @param file   the safetensors file holding its Q/K/V, relative to the capture directory
     * @param text   the text that was tokenized
     */
    public record Entry(String id, String genre, int tokens, String file, String text) {
    }

    public CaptureIndex {
        texts = List.copyOf(texts);
    }

    /** The name of the captured tensor of layer {@code layer}: {@code which} is {@code q}, {@code k} or {@code v}. */
    public static String tensorName(int layer, char which) {
        return "layer." + layer + "." + which;
    }

    /** Whether {@code directory} holds an index (the capture is complete: directories are moved into place whole). */
    public static boolean exists(Path directory) {
        return Files.isRegularFile(directory.resolve(FILE));
    }

    /** The longest text's token count: the longest sequence the capture can provide. */
    public int longestText() {
        return texts.stream().mapToInt(Entry::tokens).max().orElse(0);
    }

    /** How many texts have at least {@code tokens} tokens. */
    public int textsWithAtLeast(int tokens) {
        return (int) texts.stream().filter(t -> t.tokens() >= tokens).count();
    }

    /** The attention shape in a sentence: {@code 6 layers of 12 heads of 32 dimensions}. */
    public String describeShape() {
        return layers + " layers of " + heads + " heads of " + headDim + " dimensions";
    }

    /**
     * Checks that this capture can provide inputs of {@code shape}: its heads and head dimension, queries no more
     * than keys (queries are the last tokens of the key sequence), and keys no longer than the longest text.
     *
     * @throws IllegalArgumentException naming what differs and what the capture has
     */
    public void checkShape(InputShape shape) {
        if (shape.heads() != heads || shape.kvHeads() != heads || shape.headDim() != headDim
                || shape.valueDim() != headDim) {
            throw new IllegalArgumentException("the captured model (" + model + ") has " + heads + " heads of "
                    + headDim + " (query, key and value); requested " + shape.heads() + " query heads, "
                    + shape.kvHeads() + " KV heads, head dim " + shape.headDim() + ", value dim " + shape.valueDim()
                    + "; use --heads " + heads + " --head-dim " + headDim + " (the defaults with --input captured)");
        }
        if (shape.queryLength() > shape.keyLength()) {
            throw new IllegalArgumentException("captured inputs are self-attention: the queries are the last of the "
                    + "key tokens, so query length " + shape.queryLength() + " cannot exceed key length "
                    + shape.keyLength());
        }
        if (shape.keyLength() > longestText()) {
            throw new IllegalArgumentException("length " + shape.keyLength() + " exceeds the longest captured text ("
                    + longestText() + " tokens); allowed: at most " + longestText()
                    + " (capture longer texts with ./attn4j capture --tokens, up to the model's positions)");
        }
    }

    /** The JSON document (see {@code docs/CAPTURE.md}). */
    public Map<String, Object> toJson() {
        Map<String, Object> o = Json.object();
        o.put("format", FORMAT);
        o.put("version", VERSION);
        o.put("model", model);
        o.put("model_file", modelFile);
        o.put("model_sha1", modelSha1);
        o.put("attention", attention);
        o.put("corpus", corpus);
        o.put("max_tokens", maxTokens);
        o.put("layers", layers);
        o.put("heads", heads);
        o.put("head_dim", headDim);
        o.put("scale", scale);
        List<Object> list = new ArrayList<>();
        for (Entry e : texts) {
            Map<String, Object> t = Json.object();
            t.put("id", e.id());
            t.put("genre", e.genre());
            t.put("tokens", e.tokens());
            t.put("file", e.file());
            t.put("text", e.text());
            list.add(t);
        }
        o.put("texts", list);
        return o;
    }

    /** Writes {@code index.json} into {@code directory}. */
    void write(Path directory) throws IOException {
        Files.writeString(directory.resolve(FILE), Json.write(toJson()), StandardCharsets.UTF_8);
    }

    /**
     * Reads and checks {@code directory/index.json}: the format and version, every field present with its type, sizes
     * at least 1, a finite positive scale, a non-empty list of texts with distinct ids and files, and file names
     * that stay inside the directory. The tensors are checked by {@link CapturedInputs#open}.
     *
     * @throws IllegalArgumentException naming the file, the field and what is expected
     * @throws IOException              if the file cannot be read
     */
    public static CaptureIndex read(Path directory) throws IOException {
        Path file = directory.resolve(FILE);
        if (!Files.isDirectory(directory)) {
            throw new IllegalArgumentException("capture directory " + directory + " does not exist; create one with "
                    + "./attn4j capture --out " + directory);
        }
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(directory + " is not a capture: it has no " + FILE
                    + " (create one with ./attn4j capture --out DIR)");
        }
        Object json;
        try {
            json = Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException | java.nio.charset.MalformedInputException e) {
            throw new IllegalArgumentException(file + " is not valid JSON: " + e.getMessage(), e);
        }
        Fields f = new Fields(file, "", json);
        String format = f.string("format");
        if (!format.equals(FORMAT)) {
            throw new IllegalArgumentException(file + ": format '" + format + "'; expected '" + FORMAT + "'");
        }
        int version = f.integer("version", 0);
        if (version != VERSION) {
            throw new IllegalArgumentException(file + ": version " + version + "; this reader reads version "
                    + VERSION + " (recreate the capture with this attn4j's ./attn4j capture)");
        }
        int layers = f.integer("layers", 1), heads = f.integer("heads", 1), headDim = f.integer("head_dim", 1);
        double scale = f.number("scale");
        if (!(scale > 0) || Double.isInfinite(scale)) {
            throw new IllegalArgumentException(file + ": scale " + scale + "; expected a finite number > 0");
        }
        List<?> list = f.list("texts");
        if (list.isEmpty()) {
            throw new IllegalArgumentException(file + ": texts is empty; a capture holds at least one text");
        }
        List<Entry> texts = new ArrayList<>();
        Set<String> ids = new HashSet<>(), files = new HashSet<>();
        for (int i = 0; i < list.size(); i++) {
            Fields t = new Fields(file, "texts[" + i + "].", list.get(i));
            Entry e = new Entry(t.string("id"), t.string("genre"), t.integer("tokens", 1), t.string("file"),
                    t.string("text"));
            if (!FILE_NAME.matcher(e.file()).matches()) {
                throw new IllegalArgumentException(file + ": texts[" + i + "].file '" + e.file() + "'; expected a "
                        + "plain file name ending in .safetensors inside the capture directory");
            }
            if (!ids.add(e.id()) || !files.add(e.file())) {
                throw new IllegalArgumentException(file + ": texts[" + i + "] repeats the id '" + e.id()
                        + "' or the file '" + e.file() + "' of an earlier text");
            }
            texts.add(e);
        }
        return new CaptureIndex(f.string("model"), f.string("model_file"), f.string("model_sha1"),
                f.string("attention"), f.string("corpus"), f.integer("max_tokens", 1), layers, heads, headDim, scale,
                texts);
    }

    /** Typed access to the fields of one JSON object, with errors naming the file and the field. */
    private record Fields(Path file, String prefix, Map<?, ?> map) {
        Fields(Path file, String prefix, Object json) {
            this(file, prefix, object(file, prefix, json));
        }

        private static Map<?, ?> object(Path file, String prefix, Object json) {
            if (!(json instanceof Map<?, ?> m)) {
                throw new IllegalArgumentException(file + ": " + (prefix.isEmpty() ? "the document"
                        : prefix.substring(0, prefix.length() - 1)) + " is not a JSON object");
            }
            return m;
        }

        private Object required(String name) {
            Object value = map.get(name);
            if (value == null) {
                throw new IllegalArgumentException(file + ": field '" + prefix + name + "' is missing");
            }
            return value;
        }

        String string(String name) {
            if (!(required(name) instanceof String s)) {
                throw new IllegalArgumentException(file + ": field '" + prefix + name + "' is not a string");
            }
            return s;
        }

        double number(String name) {
            if (!(required(name) instanceof Number n)) {
                throw new IllegalArgumentException(file + ": field '" + prefix + name + "' is not a number");
            }
            return n.doubleValue();
        }

        int integer(String name, int min) {
            double d = number(name);
            if (d != Math.rint(d) || d < min || d > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(file + ": field '" + prefix + name + "' is " + d
                        + "; expected an integer >= " + min);
            }
            return (int) d;
        }

        List<?> list(String name) {
            if (!(required(name) instanceof List<?> l)) {
                throw new IllegalArgumentException(file + ": field '" + prefix + name + "' is not an array");
            }
            return l;
        }
    }
}
