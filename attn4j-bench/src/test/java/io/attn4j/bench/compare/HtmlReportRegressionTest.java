package io.attn4j.bench.compare;

import io.attn4j.util.Json;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reports recorded by real runs render, in bounded time. */
class HtmlReportRegressionTest {

    @Test
    @SuppressWarnings("unchecked")
    void theLinearFamilysQuickReportRenders() throws Exception {
        // a compare --quick run over the linear family: errors from 5e-7 to 312 on one Pareto chart, many labels at
        // the same place; rendering it once looped forever placing labels
        Path recorded = Path.of("../docs/results/linear/compare-quick-report.json");
        Map<String, Object> report = (Map<String, Object>) Json.parse(Files.readString(recorded));
        String html = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> HtmlReport.render(report));
        assertTrue(html.contains("pareto-chart") && html.contains("aaren"), "the chart and its marks");
    }

    @Test
    @SuppressWarnings("unchecked")
    void theKvSectionOfARecordedReportRenders() throws Exception {
        // a compare --quick run (flash only) with the KV section: a needle heatmap per policy and the fidelity table
        Path recorded = Path.of("../docs/results/kv/compare-quick-report.json");
        Map<String, Object> report = (Map<String, Object>) Json.parse(Files.readString(recorded));
        String html = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> HtmlReport.render(report));
        for (String policy : java.util.List.of("full", "streaming", "h2o", "snapkv", "razor", "quantized")) {
            assertTrue(html.contains("id=\"needles-" + policy + "\""), policy + "'s heatmap");
        }
        assertTrue(html.contains("kv-fidelity-table"), "the fidelity table");
        // an older report without the section still renders, without it
        report.remove("kv");
        assertTrue(!HtmlReport.render(report).contains("id=\"kv\""));
    }
}
