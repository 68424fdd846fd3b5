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

    private static CliRun run(String... args) {
        return CliRun.run(args);
    }

    @Test
    void mechanismsPrintsTheCatalog() {
        CliRun table = run("mechanisms");
        assertEquals(0, table.code());
        for (String id : List.of("reference", "naive", "flash", "lean")) {
            assertTrue(table.out().contains(id), table.out());
        }
        CliRun json = run("mechanisms", "--json");
        assertEquals(0, json.code());
        List<?> all = (List<?>) ((Map<?, ?>) Json.parse(json.out())).get("mechanisms");
        assertEquals(io.attn4j.catalog.Catalog.all().size(), all.size());
        Map<?, ?> lean = (Map<?, ?>) all.get(3);
        assertEquals("lean", lean.get("id"));
        assertEquals(List.of("decode"), lean.get("patterns"));
        assertTrue(((String) lean.get("paper")).contains("Lean Attention"));
        List<?> policies = (List<?>) ((Map<?, ?>) Json.parse(json.out())).get("kv_policies");
        assertEquals(io.attn4j.kv.KvPolicies.all().size(), policies.size());
        for (Object o : policies) {
            assertEquals("kv policy", ((Map<?, ?>) o).get("family"), o.toString());
            assertTrue(table.out().contains((String) ((Map<?, ?>) o).get("id")), table.out());
        }
    }

    @Test
    void benchKernelsWritesItsTableAndJson(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("kernels.json");
        CliRun r = run("bench", "kernels", "--mechanisms", "flash,naive", "--pattern", "NC", "--lengths", "24",
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
    void benchRecurrentMeasuresPrefillAgainstFlashAndTheDecodeStep(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("recurrent.json");
        CliRun r = run("bench", "recurrent", "--mechanisms", "linear,lightning", "--lengths", "64,128", "--heads", "2",
                "--head-dim", "16", "--decode-head-dim", "16", "--decode-batch", "2", "--flash-max", "128",
                "--threads", "2", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("prefill") && r.out().contains("decode") && r.out().contains("%bw"), r.out());
        Map<?, ?> doc = (Map<?, ?>) Json.parse(Files.readString(json));
        List<?> prefill = (List<?>) doc.get("prefill");
        assertEquals(6, prefill.size(), "two members and flash at two lengths");
        for (Object o : prefill) {
            Map<?, ?> row = (Map<?, ?>) o;
            assertTrue((Double) ((Map<?, ?>) row.get("ms")).get("median") > 0, row.toString());
        }
        List<?> decode = (List<?>) doc.get("decode");
        assertEquals(2, decode.size());
        for (Object o : decode) {
            Map<?, ?> row = (Map<?, ?>) o;
            // state: batch 2 × heads 2 × D 16 × Dv 16 floats, plus linear's normaliser (D per head)
            long expected = row.get("mechanism").equals("linear") ? 2L * 2 * (16 * 16 + 16) * 4 : 2L * 2 * 16 * 16 * 4;
            assertEquals(expected, ((Number) row.get("state_bytes")).longValue(), row.toString());
            assertTrue((Double) row.get("gbs") > 0, row.toString());
        }
        assertTrue(((Map<?, ?>) doc.get("crossover_vs_flash")).containsKey("lightning"), doc.toString());
        CliRun notRecurrent = run("bench", "recurrent", "--mechanisms", "flash", "--no-decode", "--lengths", "64");
        assertEquals(2, notRecurrent.code(), notRecurrent.err());
        assertTrue(notRecurrent.err().contains("not a linear or recurrent member"), notRecurrent.err());
    }

    @Test
    void benchKvMeasuresFidelityNeedlesAndSpeed(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("kv.json");
        CliRun r = run("bench", "kv", "--policies", "full,streaming", "--budget", "64", "--length", "400", "--steps",
                "8", "--compress-every", "4", "--needle-lengths", "512", "--speed-budgets", "32", "--speed-context",
                "256", "--speed-batch", "2", "--speed-formats", "float32,int4", "--heads", "4", "--kv-heads", "2",
                "--head-dim", "16", "--threads", "2", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("fidelity") && r.out().contains("needles") && r.out().contains("ratio"), r.out());
        Map<?, ?> doc = (Map<?, ?>) Json.parse(Files.readString(json));
        List<?> fidelity = (List<?>) doc.get("fidelity");
        assertEquals(2, fidelity.size());
        Map<?, ?> full = (Map<?, ?>) fidelity.get(0), streaming = (Map<?, ?>) fidelity.get(1);
        assertEquals(0.0, (Double) full.get("relative_error"), 1e-6, "the full cache is exact decode");
        assertEquals(1.0, (Double) full.get("mass_recall"), 1e-9);
        assertTrue((Double) streaming.get("mass_recall") < 1, streaming.toString());
        // 64 rows per head of 2 heads, float32 d 16: 64 · 2 · 128 bytes, on 256-row pages: 256 · 2 · 128 held
        assertTrue(((Number) streaming.get("bytes_held")).longValue() < ((Number) full.get("bytes_held")).longValue());
        List<?> needles = (List<?>) doc.get("needles");
        long fullFound = needles.stream().map(o -> (Map<?, ?>) o).filter(c -> c.get("policy").equals("full"))
                .mapToLong(c -> ((Number) c.get("found")).longValue()).sum();
        long fullTotal = needles.stream().map(o -> (Map<?, ?>) o).filter(c -> c.get("policy").equals("full"))
                .mapToLong(c -> ((Number) c.get("total")).longValue()).sum();
        assertTrue(fullTotal > 0 && fullFound == fullTotal, "the full cache finds every needle: " + fullFound
                + " of " + fullTotal);
        List<?> speed = (List<?>) doc.get("speed");
        assertEquals(2, speed.size());
        for (Object o : speed) {
            Map<?, ?> row = (Map<?, ?>) o;
            assertTrue((Double) row.get("compressed_us") > 0 && (Double) row.get("uncompressed_us") > 0,
                    row.toString());
        }
        CliRun badBudget = run("bench", "kv", "--policies", "full", "--budget", "0");
        assertEquals(2, badBudget.code(), badBudget.err());
        assertTrue(badBudget.err().contains("budget"), badBudget.err());
        CliRun unknown = run("bench", "kv", "--policies", "nope");
        assertEquals(2, unknown.code(), unknown.err());
        assertTrue(unknown.err().contains("no KV policy 'nope'"), unknown.err());
    }

    @Test
    void benchFidelityMeasuresEveryMechanismAtEveryBudget(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("fidelity.json");
        CliRun r = run("bench", "fidelity", "--mechanisms", "flash,block-topk,hip,sliding-window@32", "--budgets",
                "10%,0.5", "--lengths", "300", "--heads", "2", "--head-dim", "16", "--threads", "2", "--json",
                json.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("block-topk@10%") && r.out().contains("hip@50%") && r.out().contains("speedup"),
                r.out());
        List<?> results = (List<?>) ((Map<?, ?>) Json.parse(Files.readString(json))).get("results");
        assertEquals(6, results.size(), "flash, block-topk and hip at two budgets, the window as given");
        for (Object o : results) {
            Map<?, ?> row = (Map<?, ?>) o;
            assertEquals("ok", row.get("status"), row.toString());
            double recall = (Double) row.get("mass_recall");
            assertTrue(recall > 0 && recall <= 1, row.toString());
            assertTrue((Double) row.get("speedup_vs_flash") > 0, row.toString());
            if (row.get("mechanism").equals("flash")) {
                assertEquals(1.0, recall, 1e-6);
                assertTrue((Double) row.get("rel_error") < 1e-5, row.toString());
            }
        }
        CliRun budgetless = run("bench", "fidelity", "--mechanisms", "flash@10%", "--lengths", "64", "--no-time");
        assertEquals(2, budgetless.code(), budgetless.err());
        assertTrue(budgetless.err().contains("takes no key budget"), budgetless.err());
        CliRun bad = run("bench", "fidelity", "--mechanisms", "hip", "--budgets", "120%", "--lengths", "64");
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("allowed"), bad.err());
    }

    /**
     * {@code capture} of two Brown texts of 64 tokens through all-MiniLM-L6-v2, then {@code bench kernels} on it:
     * the capture's 12 heads of 32 by default, flash exact on real Q/K/V, and one clear line for what it refuses.
     */
    @Test
    void captureThenBenchKernelsOnTheCapture(@TempDir Path dir) throws Exception {
        Path capture = dir.resolve("capture");
        CliRun c = run("capture", "--texts", "2", "--tokens", "64", "--out", capture.toString());
        assertEquals(0, c.code(), c.err());
        assertTrue(c.out().startsWith("captured 2 texts (128 tokens; 2 genres) of minilm, 6 layers of 12 heads of 32"
                + " dimensions"), c.out());
        assertTrue(c.err().contains("capture minilm") && c.err().contains("2/2 texts"), c.err());
        Map<?, ?> index = (Map<?, ?>) Json.parse(Files.readString(capture.resolve("index.json")));
        assertEquals("attn4j-capture", index.get("format"));
        assertEquals("brown", index.get("corpus"));
        List<?> texts = (List<?>) index.get("texts");
        assertEquals(List.of("ca01", "cb01"), texts.stream().map(t -> ((Map<?, ?>) t).get("id")).toList());
        assertEquals(List.of(64.0, 64.0), texts.stream().map(t -> ((Map<?, ?>) t).get("tokens")).toList());

        CliRun again = run("capture", "--texts", "2", "--tokens", "64", "--out", capture.toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("exists and is not empty") && again.err().contains("--force"), again.err());
        CliRun tooMany = run("capture", "--tokens", "600", "--out", dir.resolve("other").toString());
        assertEquals(2, tooMany.code());
        assertTrue(tooMany.err().contains("--tokens 600") && tooMany.err().contains("512"), tooMany.err());

        Path json = dir.resolve("kernels.json");
        CliRun bench = run("bench", "kernels", "--input", "captured", "--capture", capture.toString(), "--lengths", "64",
                "--mechanisms", "flash", "--pattern", "NS", "--batch", "6", "--threads", "2", "--json", json.toString());
        assertEquals(0, bench.code(), bench.err());
        Map<?, ?> row = (Map<?, ?>) ((List<?>) ((Map<?, ?>) Json.parse(Files.readString(json))).get("results")).get(0);
        assertEquals("flash", row.get("mechanism"));
        assertEquals(64.0, row.get("n"));
        assertEquals(32.0, row.get("d"), "the capture's head dim by default");
        assertEquals(12.0, row.get("heads"), "the capture's heads by default");
        assertEquals(6.0, row.get("batch"));
        assertTrue((Double) row.get("rel_error") < 1e-5, row.toString());

        CliRun heads = run("bench", "kernels", "--input", "captured", "--capture", capture.toString(), "--heads", "8",
                "--lengths", "64");
        assertEquals(2, heads.code());
        assertTrue(heads.err().contains("has 12 heads of 32"), heads.err());
        CliRun longer = run("bench", "kernels", "--input", "captured", "--capture", capture.toString(), "--lengths", "65");
        assertEquals(2, longer.code());
        assertTrue(longer.err().contains("exceeds the longest captured text (64 tokens)"), longer.err());
        CliRun missing = run("bench", "kernels", "--input", "captured", "--capture", dir.resolve("none").toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("does not exist"), missing.err());
        CliRun notCaptured = run("bench", "kernels", "--capture", capture.toString());
        assertEquals(2, notCaptured.code());
        assertTrue(notCaptured.err().contains("only read with --input captured"), notCaptured.err());
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
        CliRun unknown = run("bench", "kernels", "--mechanisms", "nope");
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().contains("no mechanism 'nope'"), unknown.err());
        CliRun pattern = run("bench", "kernels", "--pattern", "XX");
        assertEquals(2, pattern.code());
        assertTrue(pattern.err().contains("allowed: NS, CS, NC, CC, decode"), pattern.err());
        CliRun notANumber = run("bench", "kernels", "--lengths", "abc");
        assertEquals(2, notANumber.code());
        assertTrue(notANumber.err().contains("--lengths"), notANumber.err());
        CliRun noCommand = run("frobnicate");
        assertEquals(2, noCommand.code());
    }
}
