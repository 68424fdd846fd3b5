package io.attn4j.bench;

import io.attn4j.util.Json;
import io.attn4j.attention.Pattern;
import io.attn4j.models.Encoder;
import io.attn4j.models.capture.Capture;
import io.attn4j.models.corpus.Text;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sweep on tiny sizes: every field present, plausible and consistent; errors are checked, not timings. */
class KernelBenchTest {
    private static MachinePeak peak;

    @BeforeAll
    static void measureTheMachine() {
        peak = MachinePeak.measure(2);
    }

    @Test
    void theMachineFiguresArePlausible() {
        assertTrue(peak.fmaGflops1() > 1 && peak.fmaGflops() >= peak.fmaGflops1() * 0.5, peak.line());
        assertTrue(peak.streamGbs1() > 0.5 && peak.streamGbs() > 0.5, peak.line());
        assertTrue(peak.jdk().startsWith("25") || Runtime.version().feature() >= 25);
    }

    @Test
    void aSweepMeasuresEveryMechanismAtEveryLength() {
        KernelBench.Config config = new KernelBench.Config(List.of("flash", "naive"), Pattern.CS, new int[] {33, 130},
                32, 4, 2, 1, 2, "structured", 0, 7);
        List<KernelBench.Result> results = KernelBench.run(config, peak, line -> { });
        assertEquals(4, results.size());
        for (int i = 0; i < 4; i += 2) {
            // flash and naive at one length: flash's speed-up is 1, naive's is flash's time over its own
            assertEquals(1.0, results.get(i).speedupVsFlash(), 1e-12);
            assertEquals(results.get(i).msMedian() / results.get(i + 1).msMedian(),
                    results.get(i + 1).speedupVsFlash(), 1e-12);
        }
        for (KernelBench.Result r : results) {
            assertNull(r.error(), r.mechanism() + ": " + r.error());
            assertTrue(r.msMin() > 0 && r.msMin() <= r.msMedian() && r.msMedian() <= r.msMax());
            assertTrue(r.relError() < 1e-5, r.mechanism() + " is exact: " + r.relError());
            // causal area at n: n(n+1)/2 pairs, 2·(D + Dv) flops each, 4 heads
            double flops = 2.0 * 64 * (r.n() * (r.n() + 1L) / 2) * 4;
            assertEquals(flops, r.work().flops());
            assertEquals(0, r.work().selectionFlops());
            assertEquals(flops / (r.msMedian() / 1e3) / 1e9, r.gflops(), 1e-9 * r.gflops());
            assertEquals(100 * r.gflops() / peak.fmaGflops(), r.pctPeak(), 1e-9);
            assertEquals(100 * r.gbs() / r.bandwidthLimit(), r.pctBandwidth(), 1e-9);
            assertTrue(r.bandwidthLimit() >= peak.streamGbs(), "a working set is never slower than memory");
            assertTrue(r.extraBytes() >= 0);
        }
    }

    @Test
    void decodeAndWindowsCountOnlyVisibleWork() {
        KernelBench.Config config = new KernelBench.Config(List.of("lean"), Pattern.DECODE, new int[] {600}, 64, 8, 2,
                2, 2, "random", 100, 3);
        KernelBench.Result r = KernelBench.run(config, peak, line -> { }).get(0);
        assertNull(r.error(), r.error());
        assertEquals(1, r.n());
        assertEquals(600, r.lk());
        // one query sees the 100 keys within the window: bytes = K and V of 100 keys per KV head + q + output
        double bytes = 4.0 * (2.0 * 2 * 100 * 128 + 2.0 * 8 * 128);
        assertEquals(bytes / (r.msMedian() / 1e3) / 1e9, r.gbs(), 1e-9 * r.gbs());
        assertTrue(r.relError() < 1e-5);
    }

    @Test
    void failuresAreReportedAndTheSweepGoesOn() {
        KernelBench.Config config = new KernelBench.Config(List.of("lean", "flash"), Pattern.CS, new int[] {40},
                16, 2, 2, 1, 1, "random", 0, 1);
        List<KernelBench.Result> results = KernelBench.run(config, peak, line -> { });
        assertTrue(results.get(0).error().contains("at most 16 queries"), results.get(0).error());
        assertNull(results.get(1).error());
    }

    @Test
    void theJsonHasExactlyTheDocumentedShape() {
        KernelBench.Config config = new KernelBench.Config(List.of("flash"), Pattern.NS, new int[] {20}, 16, 2, 2, 1, 1,
                "random", 0, 1);
        Map<String, Object> doc = KernelBench.toJson(peak, KernelBench.run(config, peak, line -> { }));
        @SuppressWarnings("unchecked")
        Map<String, Object> parsed = (Map<String, Object>) Json.parse(Json.write(doc));
        assertEquals(Set.of("machine", "results"), parsed.keySet());
        assertEquals(List.of("threads", "fma_gflops", "stream_gbs", "jdk", "simd"),
                new ArrayList<>(((Map<?, ?>) parsed.get("machine")).keySet()));
        Map<?, ?> row = (Map<?, ?>) ((List<?>) parsed.get("results")).get(0);
        assertEquals(List.of("mechanism", "pattern", "n", "lk", "d", "heads", "kv_heads", "batch", "ms", "work",
                "gflops", "pct_peak", "gbs", "pct_bandwidth", "bandwidth_limit_gbs", "speedup_vs_flash", "extra_bytes",
                "rel_error"), new ArrayList<>(row.keySet()));
        assertEquals(List.of("min", "median", "max"), new ArrayList<>(((Map<?, ?>) row.get("ms")).keySet()));
        assertEquals(List.of("flops", "selection_flops", "bytes", "rule"),
                new ArrayList<>(((Map<?, ?>) row.get("work")).keySet()));
        assertEquals(1.0, ((Number) row.get("speedup_vs_flash")).doubleValue());
        assertEquals("NS", row.get("pattern"));
    }

    @Test
    void badConfigurationsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new KernelBench.Config(List.of("nope"), Pattern.CS,
                new int[] {8}, 16, 2, 2, 1, 1, "random", 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new KernelBench.Config(List.of("flash"), Pattern.CS,
                new int[] {0}, 16, 2, 2, 1, 1, "random", 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new KernelBench.Config(List.of("flash"), Pattern.CS,
                new int[] {8}, 16, 3, 2, 1, 1, "random", 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new KernelBench.Config(List.of("flash"), Pattern.CS,
                new int[] {8}, 16, 2, 2, 1, 1, "zeros", 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new KernelBench.Config(List.of("flash"), Pattern.CS,
                new int[] {8}, 32, 12, 12, 1, 1, "captured", 0, 1), "captured inputs need a capture directory");
        assertThrows(IllegalArgumentException.class, () -> new KernelBench.Config(List.of("flash"), Pattern.CS,
                new int[] {8}, 16, 2, 2, 1, 1, "random", 0, 1, Path.of("capture")), "a capture is for captured only");
    }

    /**
     * Real Q/K/V of all-MiniLM-L6-v2 (two short texts captured here): the patterns run on them with the model's
     * scale, exact mechanisms stay exact, and shapes the capture cannot provide are refused before measuring.
     */
    @Test
    void capturedInputsRunWithTheModelsScaleAndRefuseWhatTheyCannotProvide(@TempDir Path dir) throws IOException {
        Path capture = dir.resolve("capture");
        Capture.write(Encoder.load("minilm").withMaxTokens(40), List.of(new Text("one", "a", "The jury further said in"
                + " term-end presentments that the City Executive Committee, which had over-all charge of the election,"
                + " deserves the praise and thanks of the City of Atlanta for the manner in which the election was"
                + " conducted."), new Text("two", "b", "A short text.")),
                capture, done -> { });
        for (Pattern p : List.of(Pattern.NS, Pattern.CC, Pattern.DECODE)) {
            int n = p == Pattern.CC ? 20 : 40;
            KernelBench.Config config = new KernelBench.Config(List.of("flash"), p, new int[] {n}, 32, 12, 12, 7, 2,
                    "captured", 0, 1, capture);
            KernelBench.checkInputs(config);
            KernelBench.Result r = KernelBench.run(config, peak, line -> { }).get(0);
            assertNull(r.error(), p + ": " + r.error());
            assertEquals(7, r.batch());
            assertTrue(r.relError() < 1e-5, p + ": " + r.relError());
        }
        IllegalArgumentException heads = assertThrows(IllegalArgumentException.class, () -> KernelBench.checkInputs(
                new KernelBench.Config(List.of("flash"), Pattern.CS, new int[] {16}, 64, 8, 8, 1, 1, "captured", 0, 1,
                        capture)));
        assertTrue(heads.getMessage().contains("has 12 heads of 32"), heads.getMessage());
        IllegalArgumentException longer = assertThrows(IllegalArgumentException.class, () -> KernelBench.checkInputs(
                new KernelBench.Config(List.of("flash"), Pattern.NC, new int[] {21}, 32, 12, 12, 1, 1, "captured", 0,
                        1, capture)));
        assertTrue(longer.getMessage().contains("length 42 exceeds the longest captured text (40 tokens)"),
                longer.getMessage());
    }
}
