package io.attn4j.bench.compare;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.DoubleFunction;

import static io.attn4j.bench.compare.Svg.esc;

/**
 * {@code index.html} of a comparison: one self-contained file (inline CSS, SVG and a few lines of script for
 * sorting; no fonts, scripts or images from anywhere) rendered from {@code report.json}'s content. Sections: the
 * summary, time against length per pattern (log–log, every mechanism and peer), speed-up against error (the
 * Pareto view), efficiency lengths, the model table, fidelity, and a sortable table of every kernel measurement.
 */
final class HtmlReport {
    private HtmlReport() {
    }

    @SuppressWarnings("unchecked")
    static String render(Map<String, Object> report) {
        List<Map<String, Object>> kernels = maps(report.get("kernels"));
        List<Map<String, Object>> fidelity = maps(report.get("fidelity"));
        List<Map<String, Object>> efficiency = maps(report.get("efficiency"));
        Map<String, Object> model = (Map<String, Object>) report.get("model");
        Map<String, Object> machine = (Map<String, Object>) report.get("machine");
        Map<String, Object> versions = (Map<String, Object>) report.get("versions");
        Map<String, String> colors = colors(kernels, model);

        StringBuilder sb = new StringBuilder(64 * 1024);
        sb.append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">")
                .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
                .append("<title>attn4j compare</title><style>").append(CSS).append("</style></head><body>");
        sb.append("<header><h1>attn4j compare</h1>");
        sb.append("<p class=\"machine\">").append(esc(String.format(Locale.ROOT, "%s threads · FMA %.1f GFLOP/s · "
                        + "stream %.1f GB/s · %s · JDK %s · ONNX Runtime %s", machine.get("threads"), num(machine.get("fma_gflops")),
                num(machine.get("stream_gbs")), versions.get("simd"), versions.get("jdk"), versions.get("onnxruntime"))))
                .append("</p>");
        sb.append("<p class=\"meta\"><code>").append(esc(String.valueOf(report.get("command")))).append("</code> · ")
                .append(esc(String.valueOf(report.get("created")))).append(" · ")
                .append(String.format(Locale.ROOT, "%.0f s", num(report.get("seconds")))).append(" · ")
                .append(esc(String.valueOf(report.get("failures")))).append(" failed</p></header>");

        sb.append("<section id=\"summary\"><h2>Summary</h2><ul>");
        for (Object line : (List<Object>) report.get("summary")) {
            sb.append("<li>").append(esc(String.valueOf(line))).append("</li>");
        }
        sb.append("</ul></section>");

        sb.append("<section id=\"kernels\"><h2>Time against length</h2><p>One chart per pattern and family of mechanisms, "
                + "with flash and the peers in each. Median time of one call on random inputs, "
                + "batch 1; prefill with the settings' heads and head dimension, decode one query against a cache of "
                + "n. Lower is faster; both axes are logarithmic. Hover a point for its value. NC and CC attend to "
                + "2n keys.</p><div class=\"grid\">");
        // one chart per pattern and family of the catalog; flash and the peers appear in every one as yardsticks
        Map<String, String> families = new LinkedHashMap<>();
        for (Map<String, Object> k : kernels) {
            String name = (String) k.get("mechanism");
            families.put(name, family(name));
        }
        List<String> familyOrder = families.values().stream().filter(f -> f != null).distinct().toList();
        for (var pattern : CompareConfig.PATTERNS) {
            for (String family : familyOrder) {
                List<Svg.Series> series = new ArrayList<>();
                List<String> names = kernels.stream().filter(k -> pattern.id().equals(k.get("pattern")))
                        .map(k -> (String) k.get("mechanism")).distinct()
                        .filter(n -> family.equals(families.get(n)) || n.equals("flash") || families.get(n) == null)
                        .toList();
                if (names.stream().noneMatch(n -> family.equals(families.get(n)))) {
                    continue;
                }
                for (String name : names) {
                    List<Map<String, Object>> rows = kernels.stream().filter(k -> pattern.id().equals(k.get("pattern"))
                            && name.equals(k.get("mechanism")) && "ok".equals(k.get("status"))).toList();
                    boolean decode = pattern == io.attn4j.attention.Pattern.DECODE; // x: the cache length
                    double[] x = rows.stream().mapToDouble(k -> num(k.get(decode ? "lk" : "n"))).toArray();
                    double[] y = rows.stream().mapToDouble(k -> num(((Map<String, Object>) k.get("ms")).get("median")))
                            .toArray();
                    series.add(new Svg.Series(name + (families.get(name) == null ? " (peer)" : ""), colors.get(name),
                            x, y));
                }
                String id = "time-" + pattern.id() + (familyOrder.size() > 1 ? "-" + family.replace(' ', '-') : "");
                sb.append("<figure>").append(Svg.lineChart(id, pattern.id() + ": " + describe(pattern.id()) + " · "
                                + family, pattern == io.attn4j.attention.Pattern.DECODE ? "cache length n (tokens)"
                                : "query length n (tokens)", "median time (ms)", series, HtmlReport::tokens,
                        HtmlReport::ms)).append("</figure>");
            }
        }
        sb.append("</div></section>");

        sb.append("<section id=\"pareto\"><h2>Speed and fidelity</h2><p>Each mechanism (and budget) on each fidelity "
                + "input: speed-up over flash on the same input in the same run (up is faster) against the relative "
                + "error of its output against the float64 reference (left is more faithful).</p>");
        List<Svg.Mark> marks = new ArrayList<>();
        for (Map<String, Object> f : fidelity) {
            if (!"ok".equals(f.get("status"))) {
                continue;
            }
            if (!(f.get("speedup_vs_flash") instanceof Number speedupValue)) {
                continue;
            }
            double speedup = speedupValue.doubleValue();
            String label = f.get("spec") + " " + f.get("input") + " " + f.get("pattern");
            marks.add(new Svg.Mark(label, colors.get((String) f.get("mechanism")), num(f.get("rel_error")), speedup,
                    String.format(Locale.ROOT, "%s at n=%s: %.2f× flash, relative error %.2e", label, f.get("n"),
                            speedup, num(f.get("rel_error")))));
        }
        sb.append("<figure>").append(Svg.scatter("pareto-chart", "Speed-up over flash against error",
                "relative error against reference", "speed-up over flash (×)", marks, v -> String.format(Locale.ROOT,
                        "%.0e", v), v -> String.format(Locale.ROOT, "%.2g×", v))).append("</figure></section>");

        sb.append("<section id=\"efficiency\"><h2>Efficiency length</h2><p>CAB's measure: the length where a "
                + "mechanism's time curve crosses flash's (quadratic fits over the measured lengths). A bar is the "
                + "crossing; without one, the verdict says which is faster everywhere in range.</p>");
        List<Svg.Bar> bars = new ArrayList<>();
        for (Map<String, Object> e : efficiency) {
            String name = (String) e.get("mechanism");
            String verdict = String.valueOf(e.get("verdict"));
            bars.add(new Svg.Bar(name + " " + e.get("pattern"), colors.getOrDefault(name, "#7f7f7f"),
                    e.get("time_length") == null ? Double.NaN : num(e.get("time_length")),
                    verdict.split("; ")[0].replaceFirst("^time: ", "")));
        }
        sb.append("<figure>").append(Svg.bars("efficiency-chart", "Efficiency length (time) against flash",
                "tokens", bars, HtmlReport::tokens)).append("</figure>");
        table(sb, "efficiency-table", List.of("mechanism", "pattern", "lengths fitted", "time crossing (tokens)",
                "memory crossing (tokens)", "verdict"), efficiency, r -> List.of(cell(r.get("mechanism")),
                cell(r.get("pattern")), number(r.get("lengths"), "%.0f"), number(r.get("time_length"), "%.0f"),
                number(r.get("memory_length"), "%.0f"), cell(r.get("verdict"))));
        sb.append("</section>");

        sb.append("<section id=\"model\"><h2>The model</h2><p>").append(esc(String.format(Locale.ROOT,
                "%s on %s texts of %s (%s genres, %s tokens), each mechanism in every layer, against the exact "
                        + "embeddings (%s). k-NN: leave-one-out genre accuracy, k = %s, cosine.", model.get("model"),
                model.get("texts"), model.get("corpus"), model.get("genres"), model.get("tokens"), model.get("exact"),
                model.get("k")))).append("</p>");
        List<Map<String, Object>> modelRows = new ArrayList<>(maps(model.get("rows")));
        modelRows.add((Map<String, Object>) model.get("ort"));
        table(sb, "model-table", List.of("runtime / mechanism", "tokens/s", "cosine min", "cosine mean",
                "k-NN accuracy", "top-10 overlap", "status"), modelRows, r -> List.of(cell(r.get("mechanism")),
                number(r.get("tokens_per_s"), "%,.0f"), number(r.get("cosine_min"), "%.7f"),
                number(r.get("cosine_mean"), "%.7f"), number(r.get("knn_accuracy"), "%.3f"),
                number(r.get("top10_overlap"), "%.3f"), status(r)));
        sb.append("</section>");

        sb.append("<section id=\"fidelity\"><h2>Fidelity</h2><p>Against the float64 reference on sampled rows: "
                + "relative L2 error, attention-mass recall and row KL divergence.</p>");
        table(sb, "fidelity-table", List.of("mechanism", "input", "pattern", "n", "batch", "heads", "d",
                "relative error", "mass recall", "row KL", "speed-up vs flash", "note"), fidelity, r -> List.of(
                cell(r.get("spec") != null ? r.get("spec") : r.get("mechanism")),
                cell(r.get("input")), cell(r.get("pattern")), number(r.get("n"), "%.0f"), number(r.get("batch"), "%.0f"),
                number(r.get("heads"), "%.0f"), number(r.get("d"), "%.0f"), number(r.get("rel_error"), "%.2e"),
                number(r.get("mass_recall"), "%.3f"), number(r.get("row_kl"), "%.2e"),
                number(r.get("speedup_vs_flash"), "%.2f"),
                cell(r.get("status").equals("ok") ? r.get("note") : r.get("reason"))));
        sb.append("</section>");

        if (report.get("kv") instanceof Map<?, ?> kvSection) {
            kv(sb, (Map<String, Object>) kvSection);
        }

        sb.append("<section id=\"numbers\"><h2>Every kernel measurement</h2><p>Click a column to sort.</p>");
        table(sb, "kernel-table", List.of("mechanism", "pattern", "n", "keys", "heads", "d", "ms median", "ms min",
                "ms max", "GFLOP/s", "% peak", "GB/s", "% stream", "extra MB", "rel. error", "status"), kernels, r -> {
            Map<String, Object> ms = (Map<String, Object>) r.get("ms");
            boolean ok = "ok".equals(r.get("status"));
            return List.of(cell(r.get("mechanism")), cell(r.get("pattern")), number(r.get("n"), "%.0f"),
                    number(r.get("lk"), "%.0f"), cell(r.get("heads") == null ? "" : r.get("heads") + "/"
                            + r.get("kv_heads")), number(r.get("d"), "%.0f"),
                    ok ? number(ms.get("median"), "%.3f") : blank(), ok ? number(ms.get("min"), "%.3f") : blank(),
                    ok ? number(ms.get("max"), "%.3f") : blank(), ok ? number(r.get("gflops"), "%.1f") : blank(),
                    ok ? number(r.get("pct_peak"), "%.1f") : blank(), ok ? number(r.get("gbs"), "%.2f") : blank(),
                    ok ? number(r.get("pct_bandwidth"), "%.1f") : blank(),
                    ok && num(r.get("extra_bytes")) >= 0 ? number(num(r.get("extra_bytes")) / 1e6, "%.2f") : blank(),
                    ok ? number(r.get("rel_error"), "%.2e") : blank(), status(r));
        });
        sb.append("</section>");

        sb.append("<footer><h2>Peers and settings</h2><ul>");
        for (Map<String, Object> p : maps(report.get("peers"))) {
            sb.append("<li><b>").append(esc(String.valueOf(p.get("name")))).append("</b>: ")
                    .append(esc(String.valueOf(p.get("what")))).append(" — ").append(esc(String.valueOf(p.get("status"))))
                    .append(p.get("reason") == null ? "" : " (" + esc(String.valueOf(p.get("reason"))) + ")")
                    .append("</li>");
        }
        sb.append("</ul><pre>").append(esc(io.attn4j.util.Json.write(report.get("settings")))).append("</pre>")
                .append("<p>Every figure of this page is in <a href=\"report.json\">report.json</a>.</p></footer>");
        sb.append("<script>").append(SCRIPT).append("</script></body></html>\n");
        return sb.toString();
    }

    /** The KV-cache section: a needle heatmap per policy (length × depth) and the decode fidelity table. */
    private static void kv(StringBuilder sb, Map<String, Object> kv) {
        sb.append("<section id=\"kv\"><h2>KV-cache policies</h2><p>").append(esc(String.format(Locale.ROOT,
                "Each policy compresses the cache to a budget of %s of the tokens per KV head (%s query heads, %s KV "
                        + "heads, d = %s). Needles: structured inputs with ten needles per KV head (d/4 when d < 40) "
                        + "spread evenly over the depths of the context; after prefill compression a needle is found when its query's top-weighted row is the"
                        + " needle key (per query head). Fidelity: decode steps after compression against decode over "
                        + "the full cache.", kv.get("budget"), kv.get("heads"), kv.get("kv_heads"),
                kv.get("head_dim")))).append("</p><div class=\"grid\">");
        List<Map<String, Object>> needles = maps(kv.get("needles"));
        List<String> policies = needles.stream().map(c -> (String) c.get("policy")).distinct().toList();
        List<Double> lengths = needles.stream().filter(c -> c.get("error") == null).map(c -> num(c.get("n")))
                .distinct().sorted().toList();
        List<Double> depths = needles.stream().filter(c -> c.get("error") == null).map(c -> num(c.get("depth")))
                .distinct().sorted().toList();
        for (String policy : policies) {
            double[][] values = new double[lengths.size()][depths.size()];
            for (double[] row : values) {
                java.util.Arrays.fill(row, Double.NaN);
            }
            long found = 0, total = 0;
            for (Map<String, Object> c : needles) {
                if (!policy.equals(c.get("policy")) || c.get("error") != null) {
                    continue;
                }
                double share = num(c.get("found")) / num(c.get("total"));
                values[lengths.indexOf(num(c.get("n")))][depths.indexOf(num(c.get("depth")))] = share;
                found += (long) num(c.get("found"));
                total += (long) num(c.get("total"));
            }
            String title = total == 0 ? policy + ": failed" : String.format(Locale.ROOT, "%s: %.0f %% found", policy,
                    100.0 * found / total);
            sb.append("<figure>").append(Svg.heatmap("needles-" + policy, title, "length", "depth (%)",
                    lengths.stream().map(HtmlReport::tokens).toList(),
                    depths.stream().map(d -> String.format(Locale.ROOT, "%.0f", 100 * d)).toList(), values))
                    .append("</figure>");
        }
        sb.append("</div>");
        table(sb, "kv-fidelity-table", List.of("policy", "input", "n", "decode steps", "relative error",
                "mass recall", "min recall", "bytes held", "% of full", "status"), maps(kv.get("fidelity")), r -> {
            boolean ok = r.get("error") == null;
            return List.of(cell(r.get("policy")), cell(r.get("input")), number(r.get("n"), "%.0f"),
                    number(r.get("steps"), "%.0f"), ok ? number(r.get("relative_error"), "%.3f") : blank(),
                    ok ? number(r.get("mass_recall"), "%.3f") : blank(),
                    ok ? number(r.get("min_mass_recall"), "%.3f") : blank(),
                    ok ? number(r.get("bytes_held"), "%,.0f") : blank(),
                    ok ? number(100 * num(r.get("bytes_held")) / num(r.get("full_bytes")), "%.1f") : blank(),
                    cell(ok ? "ok" : "failed: " + r.get("error")));
        });
        sb.append("</section>");
    }

    private record Cell(String html, String sortValue) {
    }

    private interface RowRenderer {
        List<Cell> cells(Map<String, Object> row);
    }

    private static void table(StringBuilder sb, String id, List<String> headers, List<Map<String, Object>> rows,
                              RowRenderer renderer) {
        sb.append("<table class=\"sortable\" id=\"").append(id).append("\"><thead><tr>");
        for (String h : headers) {
            sb.append("<th>").append(esc(h)).append("</th>");
        }
        sb.append("</tr></thead><tbody>");
        for (Map<String, Object> r : rows) {
            sb.append("<tr>");
            for (Cell c : renderer.cells(r)) {
                sb.append("<td data-v=\"").append(esc(c.sortValue())).append("\">").append(c.html()).append("</td>");
            }
            sb.append("</tr>");
        }
        sb.append("</tbody></table>");
    }

    private static Cell cell(Object v) {
        String s = v == null ? "" : String.valueOf(v);
        return new Cell(esc(s), s);
    }

    private static Cell blank() {
        return new Cell("", "");
    }

    private static Cell number(Object v, String format) {
        if (!(v instanceof Number n) || !Double.isFinite(n.doubleValue())) {
            return blank();
        }
        return new Cell(esc(String.format(Locale.ROOT, format, n.doubleValue())), Double.toString(n.doubleValue()));
    }

    private static Cell status(Map<String, Object> r) {
        String s = String.valueOf(r.get("status"));
        String reason = r.get("reason") == null ? "" : String.valueOf(r.get("reason"));
        return new Cell("<span class=\"" + esc(s) + "\" title=\"" + esc(reason) + "\">" + esc(s) + "</span>"
                + (reason.isEmpty() ? "" : " <small>" + esc(reason) + "</small>"), s);
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> maps(Object o) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object e : (List<Object>) o) {
            out.add((Map<String, Object>) e);
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, String> colors(List<Map<String, Object>> kernels, Map<String, Object> model) {
        TreeSet<String> names = new TreeSet<>();
        kernels.forEach(k -> names.add((String) k.get("mechanism")));
        maps(model.get("rows")).forEach(r -> names.add((String) r.get("mechanism")));
        Map<String, String> colors = new LinkedHashMap<>();
        // flash first in blue, naive red: the two every chart has
        colors.put("flash", Svg.PALETTE[0]);
        colors.put("naive", Svg.PALETTE[1]);
        int i = 2;
        for (String n : names) {
            if (!colors.containsKey(n)) {
                colors.put(n, Svg.PALETTE[i++ % Svg.PALETTE.length]);
            }
        }
        return colors;
    }

    private static double num(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    /** The catalog family of a mechanism, or null for a peer (not in the catalog). */
    private static String family(String mechanism) {
        return io.attn4j.catalog.Catalog.all().stream().filter(m -> m.id().equals(mechanism)).findFirst()
                .map(m -> m.family().label()).orElse(null);
    }

    private static String describe(String pattern) {
        return switch (pattern) {
            case "NS" -> "noncausal self-attention";
            case "CS" -> "causal self-attention";
            case "NC" -> "noncausal, n queries over 2n keys";
            case "CC" -> "causal, n queries over 2n keys";
            default -> "one query against a KV cache";
        };
    }

    private static String tokens(double n) {
        long v = Math.round(n);
        return v >= 1024 && v % 1024 == 0 ? (v / 1024) + "K" : Long.toString(v);
    }

    private static String ms(double v) {
        return v >= 1 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.2g", v);
    }


    private static final String CSS = """
            body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1440px;
            padding:16px 24px;color:#1a1a1a;background:#fff}
            h1{margin:4px 0}h2{margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
            .machine{font-size:15px;margin:4px 0}.meta{color:#555;font-size:13px}
            .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
            figure{margin:0;border:1px solid #eee;border-radius:6px;padding:6px}svg.chart{width:100%;height:auto}
            #pareto figure,#efficiency figure{max-width:820px}
            table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border-bottom:1px solid #eee;
            padding:4px 8px;text-align:right}th{cursor:pointer;background:#f6f6f6;position:sticky;top:0}
            td:first-child,th:first-child{text-align:left}th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
            .ok{color:#1b7f1b}.failed{color:#b00020;font-weight:600}.skipped{color:#8a6d00}small{color:#666}
            pre{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto}footer{margin-top:24px}
            """;

    private static final String SCRIPT = """
            document.querySelectorAll('table.sortable').forEach(function (table) {
              table.querySelectorAll('th').forEach(function (th, column) {
                th.addEventListener('click', function () {
                  var asc = !th.classList.contains('asc');
                  table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
                  th.classList.add(asc ? 'asc' : 'desc');
                  var body = table.tBodies[0];
                  var rows = Array.prototype.slice.call(body.rows);
                  rows.sort(function (a, b) {
                    var x = a.cells[column].getAttribute('data-v'), y = b.cells[column].getAttribute('data-v');
                    var nx = parseFloat(x), ny = parseFloat(y);
                    var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : (x === '' ? 1 : y === '' ? -1 : x.localeCompare(y));
                    return asc ? c : -c;
                  });
                  rows.forEach(function (r) { body.appendChild(r); });
                });
              });
            });
            """;
}
