package io.attn4j.models.capture;

import io.attn4j.models.Encoder;
import io.attn4j.models.corpus.Text;
import io.attn4j.models.format.SafeTensors;
import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A capture damaged in each way the reader must notice: every case opens a copy of a good capture with one fault
 * and expects an {@link IllegalArgumentException} whose message names the file, the tensor or field, and what was
 * expected.
 */
class MalformedCaptureTest {
    @TempDir
    static Path dir;
    static Path good;
    static CaptureIndex index;
    private static final AtomicInteger copies = new AtomicInteger();

    @BeforeAll
    static void captureOnce() throws IOException {
        Encoder encoder = Encoder.load("minilm").withMaxTokens(16);
        good = dir.resolve("good");
        index = Capture.write(encoder, List.of(new Text("first", "a", "A first text that is long enough to fill the"
                + " sixteen tokens of this test."), new Text("second", "b", "A second, short one.")), good, d -> { });
        CapturedInputs.open(good).close(); // the original is fine
    }

    /** A fresh copy of the good capture. */
    private static Path copy() throws IOException {
        Path to = dir.resolve("copy-" + copies.incrementAndGet());
        Files.createDirectories(to);
        try (var files = Files.list(good)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
        return to;
    }

    private static void refused(Path capture, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CapturedInputs.open(capture));
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
        }
    }

    /** The tensors of the first text's file, as heap copies, with its metadata. */
    private static Map<String, Tensor> firstText(Path capture, Map<String, String> metadata) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafeTensors st = SafeTensors.open(capture.resolve(index.texts().get(0).file()))) {
            st.tensors().keySet().forEach(name -> tensors.put(name, st.tensor(name).copy()));
            metadata.putAll(st.metadata());
        }
        return tensors;
    }

    private static void rewriteFirst(Path capture, Map<String, Tensor> tensors, Map<String, String> metadata)
            throws IOException {
        SafeTensors.write(capture.resolve(index.texts().get(0).file()), tensors, metadata);
    }

    private static void editIndex(Path capture, String from, String to) throws IOException {
        Path file = capture.resolve(CaptureIndex.FILE);
        String json = Files.readString(file);
        assertTrue(json.contains(from), from);
        Files.writeString(file, json.replace(from, to));
    }

    @Test
    void aMissingDirectoryOrIndex() throws IOException {
        refused(dir.resolve("nowhere"), "does not exist");
        Path c = copy();
        Files.delete(c.resolve(CaptureIndex.FILE));
        refused(c, "is not a capture", "index.json");
    }

    @Test
    void aMissingTextFile() throws IOException {
        Path c = copy();
        Files.delete(c.resolve(index.texts().get(1).file()));
        refused(c, index.texts().get(1).file(), "is missing", "'second'");
    }

    @Test
    void aWrongVersionOrFormat() throws IOException {
        Path v = copy();
        editIndex(v, "\"version\": 1", "\"version\": 2");
        refused(v, "index.json", "version 2", "reads version 1");
        Path f = copy();
        editIndex(f, "\"format\": \"attn4j-capture\"", "\"format\": \"something-else\"");
        refused(f, "format 'something-else'");
        Path m = copy();
        editIndex(m, "\"head_dim\": 32,", "");
        refused(m, "field 'head_dim' is missing");
        Path t = copy();
        editIndex(t, "\"tokens\": 16", "\"tokens\": 0");
        refused(t, "texts[0].tokens", ">= 1");
        Path escape = copy();
        editIndex(escape, "\"file\": \"" + index.texts().get(0).file(), "\"file\": \"../good/" + index.texts().get(0).file());
        refused(escape, "texts[0].file", "plain file name");
        Path broken = copy();
        Files.writeString(broken.resolve(CaptureIndex.FILE), "{\"format\": ");
        refused(broken, "index.json is not valid JSON");
    }

    @Test
    void anIndexThatDisagreesWithTheFiles() throws IOException {
        Path tokens = copy();
        editIndex(tokens, "\"tokens\": 16", "\"tokens\": 15");
        refused(tokens, index.texts().get(0).file(), "tensor 'layer.0.k'", "[16, 12, 32]", "expected F32 [15, 12, 32]");
        Path layers = copy();
        editIndex(layers, "\"layers\": 6", "\"layers\": 7");
        refused(layers, "missing tensors [layer.6.k, layer.6.q, layer.6.v]");
        Path ids = copy();
        editIndex(ids, "\"id\": \"first\"", "\"id\": \"third\"");
        refused(ids, "metadata names text 'first'", "expects text 'third'");
    }

    @Test
    void aTensorOfTheWrongShape() throws IOException {
        Path c = copy();
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, Tensor> tensors = firstText(c, metadata);
        tensors.put("layer.3.k", Tensor.zeros(16, 12, 31));
        rewriteFirst(c, tensors, metadata);
        refused(c, index.texts().get(0).file(), "tensor 'layer.3.k'", "F32 [16, 12, 31]", "expected F32 [16, 12, 32]");
    }

    @Test
    void aMissingOrExtraTensor() throws IOException {
        Path c = copy();
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, Tensor> tensors = firstText(c, metadata);
        tensors.remove("layer.2.v");
        tensors.put("layer.2.x", Tensor.zeros(16, 12, 32));
        rewriteFirst(c, tensors, metadata);
        refused(c, "missing tensors [layer.2.v]", "unexpected tensors [layer.2.x]");
    }

    @Test
    void aNonFiniteValue() throws IOException {
        Path c = copy();
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, Tensor> tensors = firstText(c, metadata);
        tensors.get("layer.1.v").set(Float.NaN, 5, 3, 17);
        rewriteFirst(c, tensors, metadata);
        refused(c, index.texts().get(0).file(), "tensor 'layer.1.v' holds NaN at [5, 3, 17]");
        Path inf = copy();
        tensors.get("layer.1.v").set(1f, 5, 3, 17);
        tensors.get("layer.4.q").set(Float.NEGATIVE_INFINITY, 0, 0, 0);
        rewriteFirst(inf, tensors, metadata);
        refused(inf, "tensor 'layer.4.q' holds -Infinity at [0, 0, 0]");
    }

    @Test
    void aTruncatedFile() throws IOException {
        Path c = copy();
        Path file = c.resolve(index.texts().get(1).file());
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 100);
        }
        refused(c, index.texts().get(1).file(), "is not a valid safetensors file", "data_offsets");
        Path empty = copy();
        Files.write(empty.resolve(index.texts().get(1).file()), new byte[3]);
        refused(empty, "is not a valid safetensors file", "shorter than the 8-byte header length");
    }

    @Test
    void anotherModelsFile() throws IOException {
        Path c = copy();
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, Tensor> tensors = firstText(c, metadata);
        metadata.put("model", "bge-small");
        rewriteFirst(c, tensors, metadata);
        refused(c, "of model 'bge-small'", "of model 'minilm'");
    }
}
