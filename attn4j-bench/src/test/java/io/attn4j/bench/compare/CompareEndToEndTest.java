package io.attn4j.bench.compare;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import io.attn4j.bench.KernelBench;
import io.attn4j.bench.peers.OrtAttentionPeer;
import io.attn4j.bench.report.HeadlessBrowser;
import io.attn4j.bench.report.Page;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code compare} end to end on small settings (three lengths, two heads, 30 texts, short timing): the run
 * completes, report.json validates against the schema kept in the repository (and a broken one does not), the
 * figures hang together, and index.html holds a chart per pattern, the Pareto and efficiency charts and a table
 * row per measurement; and the page opens in headless Chromium without console errors, every chart drawn, every
 * table filled and sortable, its screenshot not blank.
 */
class CompareEndToEndTest {
    @TempDir
    static Path dir;
    static Compare.Outcome outcome;
    static String log;

    @BeforeAll
    static void run() throws IOException {
        CompareConfig config = CompareConfig.defaults(true, dir.resolve("report"))
                .withMechanisms(List.of("flash", "naive", "lean", "block-topk"))
                .withLengths(new int[] {256, 512, 2048}) // 2048: the structured fidelity length of --quick
                .withShape(2, 32)
                .withDecodeShape(4, 2, 32)
                .withModel("minilm", "brown", 30)
                .withTiming(2.0, new KernelBench.Protocol(0.2, 1, 0, 3, 0, 5));
        StringWriter err = new StringWriter();
        outcome = Compare.run(config, "./attn4j compare --test", List.of(new OrtAttentionPeer()),
                new PrintWriter(err, true));
        log = err.toString();
    }

    static JsonSchema schema() throws IOException {
        try (InputStream in = Compare.class.getResourceAsStream("report.schema.json")) {
            return JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(in);
        }
    }

    @Test
    void theReportValidatesAgainstItsSchemaAndABrokenOneDoesNot() throws IOException {
        JsonNode report = new ObjectMapper().readTree(Files.readString(outcome.json()));
        Set<ValidationMessage> errors = schema().validate(report);
        assertTrue(errors.isEmpty(), errors.toString());

        ObjectNode broken = report.deepCopy();
        broken.remove("kernels");
        ((ObjectNode) broken.get("model").get("rows").get(0)).put("status", "fine");
        Set<ValidationMessage> found = schema().validate(broken);
        assertTrue(found.stream().anyMatch(m -> m.getMessage().contains("kernels")), found.toString());
        assertTrue(found.stream().anyMatch(m -> m.getInstanceLocation().toString().contains("rows")), found.toString());
    }

    @Test
    @SuppressWarnings("unchecked")
    void everyMechanismIsMeasuredOnEveryPatternItSupports() {
        Map<String, Object> r = outcome.report();
        assertEquals(0, outcome.failures(), log);
        List<Map<String, Object>> kernels = (List<Map<String, Object>>) (List<?>) r.get("kernels");
        // flash, naive and ORT's operator on 5 patterns, lean on decode, block-topk on NS/CS/NC/CC: 20 series of 3
        // lengths; ORT's decode (grouped-query heads) is skipped with the reason
        assertEquals(60, kernels.size());
        List<Map<String, Object>> skipped = kernels.stream().filter(k -> !"ok".equals(k.get("status"))).toList();
        assertEquals(3, skipped.size(), skipped.toString());
        assertTrue(skipped.stream().allMatch(k -> "ort-attention".equals(k.get("mechanism"))
                && "decode".equals(k.get("pattern")) && "skipped".equals(k.get("status"))
                && ((String) k.get("reason")).contains("grouped-query")), skipped.toString());
        assertTrue(kernels.stream().filter(k -> "ok".equals(k.get("status")) && !"block-topk".equals(k.get("mechanism")))
                .allMatch(k -> ((Number) k.get("rel_error")).doubleValue() < 1e-5), kernels.toString());
        List<Map<String, Object>> efficiency = (List<Map<String, Object>>) (List<?>) r.get("efficiency");
        assertEquals(15, efficiency.size(), "naive and ORT on 5 patterns, lean on decode, block-topk on 4, against flash");
        // fidelity: block-topk by its kept keys at 10 % and 25 % on structured inputs, with same-run speed-ups
        List<Map<String, Object>> fidelity = (List<Map<String, Object>>) (List<?>) r.get("fidelity");
        List<Map<String, Object>> topk = fidelity.stream().filter(f -> "block-topk".equals(f.get("mechanism"))).toList();
        assertEquals(List.of("block-topk@10%", "block-topk@25%", "block-topk@10%", "block-topk@25%"),
                topk.stream().map(f -> f.get("spec")).toList());
        for (int i = 0; i < topk.size(); i += 2) {
            // on each input, the larger budget keeps at least the mass of the smaller
            assertTrue(((Number) topk.get(i + 1).get("mass_recall")).doubleValue()
                    >= ((Number) topk.get(i).get("mass_recall")).doubleValue() - 1e-9, topk.toString());
        }
        for (Map<String, Object> f : topk) {
            double recall = ((Number) f.get("mass_recall")).doubleValue();
            assertTrue(recall > 0 && recall < 1, f.toString());
            assertTrue(((Number) f.get("row_kl")).doubleValue() >= -Math.log(recall) - 1e-9, f.toString());
            assertTrue(((Number) f.get("speedup_vs_flash")).doubleValue() > 0, f.toString());
        }
        Map<String, Object> model = (Map<String, Object>) r.get("model");
        List<Map<String, Object>> rows = (List<Map<String, Object>>) (List<?>) model.get("rows");
        assertEquals(List.of("flash", "naive", "block-topk@25%"), rows.stream().map(m -> m.get("mechanism")).toList());
        assertEquals("ok", rows.get(2).get("status"), rows.get(2).toString());
        Map<String, Object> naive = rows.get(1);
        assertTrue(((Number) naive.get("cosine_min")).doubleValue() > 0.99999, naive.toString());
        Map<String, Object> ort = (Map<String, Object>) model.get("ort");
        assertEquals("ok", ort.get("status"), ort.toString());
        assertTrue(((Number) ort.get("cosine_min")).doubleValue() > 0.99999, ort.toString());
        assertEquals(15L, ((Number) model.get("genres")).longValue());
        assertFalse(((List<?>) r.get("summary")).isEmpty());
    }

    @Test
    @SuppressWarnings("unchecked")
    void everyKvPolicyHasItsNeedleGridAndFidelity() {
        Map<String, Object> kv = (Map<String, Object>) outcome.report().get("kv");
        List<Map<String, Object>> needles = (List<Map<String, Object>>) kv.get("needles");
        List<Map<String, Object>> fidelity = (List<Map<String, Object>>) kv.get("fidelity");
        assertEquals("[2048]", String.valueOf(kv.get("needle_lengths")), "the run's lengths from 1K: 2048");
        for (io.attn4j.kv.KvPolicyDescriptor d : io.attn4j.kv.KvPolicies.all()) {
            List<Map<String, Object>> cells = needles.stream().filter(c -> d.id().equals(c.get("policy"))).toList();
            // ten needles per KV head, at most d/4 of them (the generator's cap): 8 at d = 32
            assertEquals(8, cells.size(), d.id() + ": eight depths at one length " + cells);
            assertTrue(cells.stream().allMatch(c -> c.get("error") == null), cells.toString());
            assertEquals(1, fidelity.stream().filter(f -> d.id().equals(f.get("policy"))).count(), d.id());
        }
        for (Map<String, Object> c : needles) {
            if (c.get("policy").equals("full")) {
                assertEquals(c.get("total"), c.get("found"), "the full cache finds every needle: " + c);
            }
        }
        Map<String, Object> full = fidelity.stream().filter(f -> "full".equals(f.get("policy"))).findFirst()
                .orElseThrow();
        assertEquals(0.0, ((Number) full.get("relative_error")).doubleValue(), 1e-6, full.toString());
        Map<String, Object> streaming = fidelity.stream().filter(f -> "streaming".equals(f.get("policy")))
                .findFirst().orElseThrow();
        assertTrue(((Number) streaming.get("bytes_held")).doubleValue()
                < 0.2 * ((Number) streaming.get("full_bytes")).doubleValue(), "1/8 budget: " + streaming);
    }

    @Test
    void thePageHoldsItsChartsAndTables() throws IOException {
        String html = Files.readString(outcome.html());
        assertEquals(11, count(html, "<svg class=\"chart\""), "5 patterns, 4 of them for 2 families, Pareto, "
                + "efficiency");
        assertEquals(60, count(html.substring(html.indexOf("id=\"kernel-table\"")), "<tr><td"),
                "a kernel table row per measurement");
        assertEquals(4, count(html.substring(html.indexOf("id=\"model-table\""), html.indexOf("id=\"fidelity\"")),
                "<tr><td"), "flash, naive, block-topk, ORT");
        String withoutNamespaces = html.replace("http://www.w3.org/2000/svg", "");
        assertFalse(withoutNamespaces.contains("http://") || withoutNamespaces.contains("https://"), "nothing external");
        assertFalse(html.contains("<script src") || html.contains("<link"), "self-contained");
    }

    @Test
    @SuppressWarnings("unchecked")
    void thePageOpensInABrowserWithoutErrorsAndEveryChartDrawn() throws IOException {
        try (HeadlessBrowser browser = HeadlessBrowser.launchForTests(); Page page = browser.open(outcome.html())) {
            assertEquals(List.of(), page.consoleErrors());
            assertEquals(11 + io.attn4j.kv.KvPolicies.all().size(), page.count("svg.chart"),
                    "11 charts and a needle heatmap per KV policy");
            Object undrawn = page.evaluate("Array.from(document.querySelectorAll('svg.chart')).filter(function (s) {"
                    + " return s.querySelectorAll('path.series, circle.mark, rect.bar, rect.cell').length === 0; })"
                    + ".map(function (s) { return s.id; })");
            assertEquals(List.of(), undrawn, "charts without marks");
            assertEquals(60, page.count("#kernel-table tbody tr"));
            assertEquals(4, page.count("#model-table tbody tr"));
            // click "ms median" (column 6): the rows come back in ascending order of that column
            List<Object> medians = (List<Object>) page.evaluate("(function () {"
                    + " var t = document.getElementById('kernel-table'); t.querySelectorAll('th')[6].click();"
                    + " return Array.from(t.tBodies[0].rows).map(function (r) {"
                    + " return parseFloat(r.cells[6].getAttribute('data-v')); }); })()");
            for (int i = 1; i < medians.size(); i++) {
                Object a = medians.get(i - 1), b = medians.get(i); // skipped rows (no median: NaN → null) sort last
                assertTrue(b == null || (a != null && (Double) a <= (Double) b), "sorted at row " + i + ": " + medians);
            }
            assertTrue(Page.nonBlank(page.screenshotPng()), "the screenshot is not blank");
        }
    }

    private static int count(String s, String what) {
        return s.split(java.util.regex.Pattern.quote(what), -1).length - 1;
    }
}
