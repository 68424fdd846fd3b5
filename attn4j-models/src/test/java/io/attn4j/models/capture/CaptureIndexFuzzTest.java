package io.attn4j.models.capture;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Fuzzes the capture index reader ({@link CaptureIndex#read}): any bytes as {@code index.json} must be read or
 * refused with an {@link IllegalArgumentException} that names the file — never another exception, and never a file
 * name that leaves the directory. Seeds are a valid index and near misses. Fuzzed by the {@code fuzz-capture-index}
 * surefire execution; the default run replays the seeds.
 */
class CaptureIndexFuzzTest {
    private static final Path DIR;

    static {
        try {
            DIR = Files.createTempDirectory("attn4j-fuzz-capture");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Stream<byte[]> seeds() {
        String valid = "{\"format\":\"attn4j-capture\",\"version\":1,\"model\":\"minilm\",\"model_file\":\"model.onnx\","
                + "\"model_sha1\":\"16cdce5a\",\"attention\":\"flash\",\"corpus\":\"brown\",\"max_tokens\":512,"
                + "\"layers\":6,\"heads\":12,\"head_dim\":32,\"scale\":0.17677669529663687,\"texts\":[{\"id\":\"ca01\","
                + "\"genre\":\"a\",\"tokens\":512,\"file\":\"000-ca01.safetensors\",\"text\":\"The Fulton\"}]}";
        return Stream.of(valid, valid.replace("000-ca01", "../x"), valid.replace("\"version\":1", "\"version\":2"),
                        valid.replace("512", "-1"), "{}")
                .map(s -> s.getBytes(StandardCharsets.UTF_8));
    }

    @MethodSource("seeds")
    @DictionaryEntries({"\"format\"", "\"attn4j-capture\"", "\"version\"", "\"layers\"", "\"heads\"", "\"head_dim\"",
            "\"scale\"", "\"texts\"", "\"tokens\"", "\"file\"", ".safetensors", "../", "1e308", "2147483648"})
    @FuzzTest(maxDuration = "20s")
    void readAnyIndex(byte[] input) throws IOException {
        Files.write(DIR.resolve(CaptureIndex.FILE), input);
        try {
            CaptureIndex index = CaptureIndex.read(DIR);
            for (CaptureIndex.Entry e : index.texts()) {
                if (!DIR.resolve(e.file()).normalize().getParent().equals(DIR.normalize())) {
                    throw new AssertionError("file name leaves the directory: " + e.file());
                }
            }
        } catch (IllegalArgumentException e) {
            if (e.getMessage() == null || !e.getMessage().contains(CaptureIndex.FILE)) {
                throw new AssertionError("unclear error, its message should name " + CaptureIndex.FILE, e);
            }
        }
    }
}
