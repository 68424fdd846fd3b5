package io.attn4j.bench.compare;

import io.attn4j.attention.Pattern;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The report's summary: which mechanism wins where, in sentences computed from the measurements (never written by
 * hand): per pattern, the ranking at the longest length where more than one series was measured; the fidelity of
 * exact mechanisms; the model section's throughput against ONNX Runtime and the quality of each mechanism.
 */
final class Summary {
    private Summary() {
    }

    @SuppressWarnings("unchecked")
    static List<String> of(List<KernelSweep.Point> points, List<Map<String, Object>> fidelity,
                           Map<String, Object> model) {
        List<String> lines = new ArrayList<>();
        for (Pattern pattern : CompareConfig.PATTERNS) {
            List<KernelSweep.Point> ok = points.stream().filter(p -> p.pattern() == pattern
                    && p.status().equals("ok")).toList();
            int longest = -1;
            for (KernelSweep.Point p : ok) {
                int n = p.n();
                if (ok.stream().filter(q -> q.n() == n).count() >= 2) {
                    longest = Math.max(longest, n);
                }
            }
            if (longest < 0) {
                if (!ok.isEmpty()) {
                    lines.add(String.format(Locale.ROOT, "%s: only %s measured.", pattern.id(), ok.getFirst()
                            .mechanism()));
                }
                continue;
            }
            int n = longest;
            List<KernelSweep.Point> at = ok.stream().filter(p -> p.n() == n)
                    .sorted(Comparator.comparingDouble(p -> p.result().msMedian())).toList();
            KernelSweep.Point best = at.getFirst();
            StringBuilder sb = new StringBuilder();
            boolean decode = pattern == Pattern.DECODE;
            sb.append(String.format(Locale.ROOT, "%s at %s: %s is fastest, %s ms (%s)", pattern.id(), tokens(n),
                    best.mechanism(), ms(best.result().msMedian()), decode
                            ? String.format(Locale.ROOT, "%.1f GB/s, %.0f %% of stream", best.result().gbs(),
                            best.result().pctBandwidth())
                            : String.format(Locale.ROOT, "%.0f GFLOP/s, %.0f %% of peak", best.result().gflops(),
                            best.result().pctPeak())));
            List<String> others = new ArrayList<>();
            for (KernelSweep.Point p : at.subList(1, at.size())) {
                others.add(String.format(Locale.ROOT, "%.2f× %s", p.result().msMedian() / best.result().msMedian(),
                        p.mechanism()));
            }
            sb.append(" — ").append(String.join(", ", others)).append('.');
            long skipped = points.stream().filter(p -> p.pattern() == pattern && p.status().equals("skipped")).count();
            if (skipped > 0) {
                sb.append(String.format(Locale.ROOT, " %d point(s) skipped (time cap or shape; the table says why).",
                        skipped));
            }
            lines.add(sb.toString());
        }
        double worst = 0;
        String worstWhere = null;
        for (Map<String, Object> r : fidelity) {
            if ("ok".equals(r.get("status")) && r.get("rel_error") instanceof Number e && e.doubleValue() >= worst) {
                worst = e.doubleValue();
                worstWhere = r.get("mechanism") + " on " + r.get("input") + " " + r.get("pattern");
            }
        }
        if (worstWhere != null) {
            lines.add(String.format(Locale.ROOT, "Fidelity: the largest relative error against the float64 reference "
                    + "is %.1e (%s).", worst, worstWhere));
        }
        List<Object> rows = (List<Object>) model.get("rows");
        Map<String, Object> ort = (Map<String, Object>) model.get("ort");
        Map<String, Object> exact = rows.stream().map(r -> (Map<String, Object>) r)
                .filter(r -> ModelLevel.EXACT.equals(r.get("mechanism")) && "ok".equals(r.get("status")))
                .findFirst().orElse(null);
        if (exact != null) {
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%s on %s texts of %s: attn4j (%s) %,.0f "
                            + "tokens/s, k-NN genre accuracy %.3f", model.get("model"), model.get("texts"),
                    model.get("corpus"), ModelLevel.EXACT, num(exact.get("tokens_per_s")),
                    num(exact.get("knn_accuracy"))));
            if ("ok".equals(ort.get("status"))) {
                sb.append(String.format(Locale.ROOT, "; ONNX Runtime %,.0f tokens/s (attn4j %.2f×), accuracy %.3f, "
                                + "cosine with attn4j ≥ %.6f", num(ort.get("tokens_per_s")),
                        num(exact.get("tokens_per_s")) / num(ort.get("tokens_per_s")), num(ort.get("knn_accuracy")),
                        num(ort.get("cosine_min"))));
            }
            sb.append('.');
            lines.add(sb.toString());
            for (Object o : rows) {
                Map<String, Object> r = (Map<String, Object>) o;
                if (r == exact || !"ok".equals(r.get("status"))) {
                    continue;
                }
                lines.add(String.format(Locale.ROOT, "%s in every layer: %,.0f tokens/s (%.2f× exact), cosine with exact "
                                + "≥ %.6f, accuracy %.3f, top-10 overlap %.3f.", r.get("mechanism"),
                        num(r.get("tokens_per_s")), num(r.get("tokens_per_s")) / num(exact.get("tokens_per_s")),
                        num(r.get("cosine_min")), num(r.get("knn_accuracy")), num(r.get("top10_overlap"))));
            }
        }
        return lines;
    }

    private static double num(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    static String tokens(int n) {
        return n >= 1024 && n % 1024 == 0 ? (n / 1024) + "K" : Integer.toString(n);
    }

    static String ms(double ms) {
        return ms >= 100 ? String.format(Locale.ROOT, "%.0f", ms) : ms >= 10 ? String.format(Locale.ROOT, "%.1f", ms)
                : String.format(Locale.ROOT, "%.2f", ms);
    }
}
