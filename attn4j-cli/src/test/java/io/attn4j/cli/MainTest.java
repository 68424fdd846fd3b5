package io.attn4j.cli;

import io.attn4j.util.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MainTest {

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void mechanismsPrintsTheCatalog() {
        Run table = run("mechanisms");
        assertEquals(0, table.code());
        for (String id : List.of("reference", "naive", "flash", "lean")) {
            assertTrue(table.out().contains(id), table.out());
        }
        Run json = run("mechanisms", "--json");
        assertEquals(0, json.code());
        List<?> all = (List<?>) ((Map<?, ?>) Json.parse(json.out())).get("mechanisms");
        assertEquals(4, all.size());
        Map<?, ?> lean = (Map<?, ?>) all.get(3);
        assertEquals("lean", lean.get("id"));
        assertEquals(List.of("decode"), lean.get("patterns"));
        assertTrue(((String) lean.get("paper")).contains("Lean Attention"));
    }

    @Test
    void benchKernelsWritesItsTableAndJson(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("kernels.json");
        Run r = run("bench", "kernels", "--mechanisms", "flash,naive", "--pattern", "NC", "--lengths", "24",
                "--head-dim", "16", "--heads", "4", "--kv-heads", "1", "--batch", "2", "--threads", "2", "--input",
                "structured", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("flash") && r.out().contains("naive") && r.out().contains("machine:"), r.out());
        Map<?, ?> doc = (Map<?, ?>) Json.parse(Files.readString(json));
        List<?> results = (List<?>) doc.get("results");
        assertEquals(2, results.size());
        Map<?, ?> first = (Map<?, ?>) results.get(0);
        assertEquals(24.0, first.get("n"));
        assertEquals(48.0, first.get("lk"), "NC runs Lq = n over Lk = 2n");
        assertEquals(1.0, first.get("kv_heads"));
        assertEquals(2.0, first.get("batch"));
    }

    @Test
    void jmhReceivesItsOwnOptions() {
        // -l lists the benchmarks JMH found (the annotation processor's list in attn4j-bench): nothing runs
        StringWriter out = new StringWriter();
        java.io.PrintStream saved = System.out;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(captured, true));
        try {
            assertEquals(0, Main.execute(new PrintWriter(out, true), new PrintWriter(new StringWriter(), true),
                    "jmh", "-l", "MicroKernels"));
        } finally {
            System.setOut(saved);
        }
        String listed = captured.toString();
        assertTrue(listed.contains("io.attn4j.bench.jmh.MicroKernels.scoresTransposed"), listed);
        assertTrue(listed.contains("io.attn4j.bench.jmh.MicroKernels.softmaxTile"), listed);
    }

    @Test
    void badOptionsGetOneClearLine() {
        Run unknown = run("bench", "kernels", "--mechanisms", "nope");
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().contains("no mechanism 'nope'"), unknown.err());
        Run pattern = run("bench", "kernels", "--pattern", "XX");
        assertEquals(2, pattern.code());
        assertTrue(pattern.err().contains("allowed: NS, CS, NC, CC, decode"), pattern.err());
        Run notANumber = run("bench", "kernels", "--lengths", "abc");
        assertEquals(2, notANumber.code());
        assertTrue(notANumber.err().contains("--lengths"), notANumber.err());
        Run noCommand = run("frobnicate");
        assertEquals(2, noCommand.code());
    }
}
