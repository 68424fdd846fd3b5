package io.attn4j.cli;

import io.attn4j.util.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code embed} and {@code bench model} on the default model (all-MiniLM-L6-v2, resolved offline from ~/.m2). */
class ModelCommandsTest {
    private static CliRun run(String... args) {
        return CliRun.run(args);
    }

    @Test
    void embedWritesJsonlAndNpyWithTheSameVectors(@TempDir Path dir) throws Exception {
        Path input = dir.resolve("texts.txt");
        Files.writeString(input, "The first text.\n\n  \nA second one, \"quoted\".\nthird\n");
        Path jsonl = dir.resolve("out.jsonl"), npy = dir.resolve("out.npy");
        CliRun r = run("embed", "--input", input.toString(), "--out", jsonl.toString(), "--threads", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("embedded 3 texts"), r.out());
        List<String> lines = Files.readAllLines(jsonl);
        assertEquals(3, lines.size());
        float[][] vectors = new float[3][];
        List<String> ids = List.of("texts.txt:1", "texts.txt:4", "texts.txt:5");
        for (int i = 0; i < 3; i++) {
            Map<?, ?> line = (Map<?, ?>) Json.parse(lines.get(i));
            assertEquals(ids.get(i), line.get("id"));
            List<?> v = (List<?>) line.get("vector");
            assertEquals(384, v.size());
            vectors[i] = new float[384];
            double norm = 0;
            for (int c = 0; c < 384; c++) {
                vectors[i][c] = ((Double) v.get(c)).floatValue();
                norm += vectors[i][c] * vectors[i][c];
            }
            assertEquals(1, norm, 1e-5);
        }

        assertEquals(0, run("embed", "--input", input.toString(), "--out", npy.toString()).code());
        byte[] file = Files.readAllBytes(npy);
        assertEquals(0x93, file[0] & 0xff);
        assertEquals("NUMPY", new String(file, 1, 5, StandardCharsets.US_ASCII));
        int headerLength = ByteBuffer.wrap(file, 8, 2).order(ByteOrder.LITTLE_ENDIAN).getShort();
        assertEquals(0, (10 + headerLength) % 64, "NumPy aligns the data to 64 bytes");
        String header = new String(file, 10, headerLength, StandardCharsets.US_ASCII);
        assertTrue(header.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 384), }"), header);
        assertEquals(10 + headerLength + 3 * 384 * 4, file.length);
        ByteBuffer data = ByteBuffer.wrap(file, 10 + headerLength, 3 * 384 * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 3; i++) {
            for (int c = 0; c < 384; c++) {
                assertEquals(vectors[i][c], data.getFloat(), "the shortest decimal form reads back exactly");
            }
        }
    }

    @Test
    void badEmbedArgumentsGetOneClearLineAndWriteNothing(@TempDir Path dir) throws Exception {
        Path input = dir.resolve("in.txt");
        Files.writeString(input, "text\n");
        Map<List<String>, String> cases = Map.of(
                List.of("--input", input.toString(), "--out", dir.resolve("x.csv").toString()), "allowed: a .jsonl or .npy",
                List.of("--input", input.toString(), "--out", dir.resolve("x.npy").toString(), "--attention", "lean"),
                "lean",
                List.of("--input", dir.resolve("missing").toString(), "--out", dir.resolve("x.npy").toString()),
                "neither 'brown' nor a directory",
                List.of("--input", input.toString(), "--out", dir.resolve("x.npy").toString(), "--max-tokens", "9999"),
                "max tokens = 9999",
                List.of("--model", "nothing", "--input", input.toString(), "--out", dir.resolve("x.npy").toString()),
                "not a known name");
        for (Map.Entry<List<String>, String> c : cases.entrySet()) {
            String[] args = java.util.stream.Stream.concat(java.util.stream.Stream.of("embed"), c.getKey().stream())
                    .toArray(String[]::new);
            CliRun r = run(args);
            assertEquals(2, r.code(), c.getKey() + ": " + r.err());
            assertTrue(r.err().contains(c.getValue()), c.getKey() + ": " + r.err());
            assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(input), files.toList(), "nothing written");
        }
    }

    @Test
    void benchModelWritesTheIssueJson(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("model.json");
        CliRun r = run("bench", "model", "--batch", "2", "--tokens", "32", "--texts", "4", "--threads", "2", "--json",
                json.toString());
        assertEquals(0, r.code(), r.err());
        Map<?, ?> doc = (Map<?, ?>) Json.parse(Files.readString(json));
        assertEquals(List.of("model", "batch", "tokens", "threads", "texts", "attn4j", "ort", "ratio", "cosine_min",
                "cosine_mean"), List.copyOf(doc.keySet()));
        assertEquals("minilm", doc.get("model"));
        assertEquals(4.0, doc.get("texts"));
        double ours = (Double) ((Map<?, ?>) doc.get("attn4j")).get("tokens_per_s");
        double theirs = (Double) ((Map<?, ?>) doc.get("ort")).get("tokens_per_s");
        assertTrue(ours > 0 && theirs > 0, doc.toString());
        assertEquals(ours / theirs, (Double) doc.get("ratio"), 1e-9);
        assertTrue((Double) doc.get("cosine_min") >= 0.99999, doc.toString());
        assertTrue((Double) doc.get("cosine_mean") >= (Double) doc.get("cosine_min"), doc.toString());

        CliRun bad = run("bench", "model", "--tokens", "2");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--tokens 2; allowed: >= 3"), bad.err());
    }
}
