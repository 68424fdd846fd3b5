package io.attn4j.bench;

import io.attn4j.analysis.Fidelity;
import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.catalog.Catalog;
import io.attn4j.catalog.Mechanism;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.models.capture.CapturedInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.sparse.BudgetedConfig;
import io.attn4j.sparse.KeptKeys;
import io.attn4j.sparse.KeyBudget;
import io.attn4j.sparse.SparseAttention;
import io.attn4j.tensor.Tensor;
import io.attn4j.util.Json;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * {@code attn4j bench fidelity}: how close each mechanism is to exact attention, and how much faster than
 * {@code flash} it is, on the same input in the same run — the two axes of a Pareto chart.
 *
 * <p>For each length, each mechanism spec ({@code hip}, {@code hip@10%}) and, for a spec without a budget whose
 * configuration takes one, each budget of {@code budgets}: relative L2 error, attention-mass recall (mean and
 * minimum over sampled rows) and row KL (see {@link Fidelity}), and optionally the median time of 3 calls after one
 * warm-up, next to {@code flash}'s median on the same input.
 */
public final class FidelityBench {

    /** A measured point. */
    public record Result(String mechanism, String spec, String budget, String input, String pattern, int n, int heads,
                         int d, int batch, double relError, double massRecall, double minMassRecall, double rowKl,
                         double ms, double flashMs, String error) {

        public Map<String, Object> toJson() {
            Map<String, Object> m = Json.object();
            m.put("mechanism", mechanism);
            m.put("spec", spec);
            m.put("budget", budget);
            m.put("input", input);
            m.put("pattern", pattern);
            m.put("n", n);
            m.put("batch", batch);
            m.put("heads", heads);
            m.put("d", d);
            if (error != null) {
                m.put("status", "failed");
                m.put("reason", error);
                return m;
            }
            m.put("status", "ok");
            m.put("rel_error", relError);
            m.put("mass_recall", nullIfNaN(massRecall));
            m.put("min_mass_recall", nullIfNaN(minMassRecall));
            m.put("row_kl", nullIfNaN(rowKl));
            m.put("ms", nullIfNaN(ms));
            m.put("flash_ms", nullIfNaN(flashMs));
            m.put("speedup_vs_flash", Double.isNaN(ms) || Double.isNaN(flashMs) ? null : flashMs / ms);
            return m;
        }
    }

    private static Object nullIfNaN(double x) {
        return Double.isNaN(x) ? null : x;
    }

    private FidelityBench() {
    }

    /** The mechanism specs measured: each spec as given, or once per budget when it takes one and has none. */
    public static List<String> expand(List<String> specs, List<KeyBudget> budgets) {
        List<String> out = new ArrayList<>();
        for (String spec : specs) {
            Mechanism m = Catalog.get(Catalog.idOf(spec));
            if (spec.contains("@") || budgets.isEmpty() || !(m.defaults() instanceof BudgetedConfig)) {
                out.add(spec);
            } else {
                for (KeyBudget b : budgets) {
                    out.add(spec + "@" + budgetText(b));
                }
            }
        }
        return out;
    }

    private static String budgetText(KeyBudget b) {
        return b.isRatio() ? b.toString() : Integer.toString(b.tokens());
    }

    /**
     * Runs the measurement. {@code config.mechanisms()} are the specs (expanded with {@code budgets}); timing when
     * {@code time}.
     */
    public static List<Result> run(KernelBench.Config config, List<KeyBudget> budgets, boolean time,
                                   Consumer<String> progress) {
        if (config.capture() == null) {
            return run(config, budgets, time, null, progress);
        }
        try (CapturedInputs captured = CapturedInputs.open(config.capture())) {
            return run(config, budgets, time, captured, progress);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the capture " + config.capture() + ": " + e.getMessage(), e);
        }
    }

    private static List<Result> run(KernelBench.Config c, List<KeyBudget> budgets, boolean time,
                                    CapturedInputs captured, Consumer<String> progress) {
        Engine engine = Engine.defaults().withThreads(c.threads());
        List<String> specs = expand(c.mechanisms(), budgets);
        AttentionSpec spec = KernelBench.spec(c);
        if (captured != null) {
            spec = spec.scale((float) captured.index().scale());
        }
        KernelBench.Protocol protocol = new KernelBench.Protocol(0, 1, 0, 3, 0, 3);
        List<Result> results = new ArrayList<>();
        for (int li = 0; li < c.lengths().length; li++) {
            int n = c.lengths()[li];
            InputShape shape = KernelBench.shape(c, n);
            AttentionInputs in = captured != null ? captured.inputs(shape)
                    : StandardInputs.generate(c.input(), c.seed() + 7919L * li, shape);
            progress.accept(String.format(Locale.ROOT, "reference rows, n=%d", n));
            Fidelity fidelity = new Fidelity(in.q(), in.k(), in.v(), spec);
            double flashMs = Double.NaN;
            Tensor out = Tensor.zeros(shape.batch(), shape.queryLength(), shape.heads(), shape.valueDim());
            if (time) {
                progress.accept(String.format(Locale.ROOT, "flash (baseline), n=%d", n));
                AttentionMechanism flash = Catalog.create("flash", engine);
                AttentionSpec s = spec;
                flashMs = KernelBench.time(() -> flash.forward(in.q(), in.k(), in.v(), s, out), protocol)[1];
            }
            for (String id : specs) {
                progress.accept(String.format(Locale.ROOT, "%s, n=%d", id, n));
                String mechanism = Catalog.idOf(id);
                String budget = id.contains("@") ? id.substring(id.indexOf('@') + 1) : null;
                try {
                    AttentionMechanism m = Catalog.create(id, engine);
                    AttentionSpec s = spec;
                    m.forward(in.q(), in.k(), in.v(), s, out);
                    KeptKeys kept = m instanceof SparseAttention sparse ? sparse.keptKeys(in.q(), in.k(), in.v(), s)
                            : Catalog.get(mechanism).exact() ? (b, h, q, k) -> true : null;
                    Fidelity.Measures f = fidelity.measure(out, kept);
                    double ms = time ? KernelBench.time(() -> m.forward(in.q(), in.k(), in.v(), s, out), protocol)[1]
                            : Double.NaN;
                    results.add(new Result(mechanism, id, budget, c.input(), c.pattern().id(), n, shape.heads(),
                            shape.headDim(), shape.batch(), f.relativeError(), f.massRecall(), f.minMassRecall(),
                            f.rowKl(), ms, flashMs, null));
                } catch (RuntimeException | OutOfMemoryError e) {
                    results.add(new Result(mechanism, id, budget, c.input(), c.pattern().id(), n, shape.heads(),
                            shape.headDim(), shape.batch(), Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN,
                            flashMs, e.getClass().getSimpleName() + ": " + e.getMessage()));
                }
            }
        }
        return results;
    }

    /** The JSON document: {@code {"machine": {...}, "results": [...]}} ({@code peak} may be null). */
    public static Map<String, Object> toJson(MachinePeak peak, List<Result> results) {
        Map<String, Object> doc = Json.object();
        if (peak != null) {
            doc.put("machine", peak.toJson(false));
        }
        List<Object> rows = new ArrayList<>();
        results.forEach(r -> rows.add(r.toJson()));
        doc.put("results", rows);
        return doc;
    }

    /** The human-readable table. */
    public static String table(List<Result> results) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-22s %-10s %-7s %7s %10s %8s %8s %9s %10s %10s %8s%n", "mechanism",
                "input", "pattern", "n", "rel err", "recall", "min rec", "row KL", "ms", "flash ms", "speedup"));
        for (Result r : results) {
            if (r.error() != null) {
                sb.append(String.format(Locale.ROOT, "%-22s %-10s %-7s %7d  FAILED: %s%n", r.spec(), r.input(),
                        r.pattern(), r.n(), r.error()));
                continue;
            }
            sb.append(String.format(Locale.ROOT, "%-22s %-10s %-7s %7d %10.3e %8s %8s %9s %10s %10s %8s%n", r.spec(),
                    r.input(), r.pattern(), r.n(), r.relError(), fmt(r.massRecall(), "%.4f"),
                    fmt(r.minMassRecall(), "%.4f"), fmt(r.rowKl(), "%.2e"), fmt(r.ms(), "%.1f"),
                    fmt(r.flashMs(), "%.1f"), Double.isNaN(r.ms()) || Double.isNaN(r.flashMs()) ? "-"
                            : String.format(Locale.ROOT, "%.2fx", r.flashMs() / r.ms())));
        }
        return sb.toString();
    }

    private static String fmt(double x, String format) {
        return Double.isNaN(x) ? "-" : String.format(Locale.ROOT, format, x);
    }
}
