package io.attn4j.bench.compare;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Pattern;
import io.attn4j.bench.FidelityBench;
import io.attn4j.bench.KernelBench;
import io.attn4j.sparse.KeptKeys;
import io.attn4j.sparse.KeyBudget;
import io.attn4j.sparse.SparseAttention;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.catalog.Catalog;
import io.attn4j.catalog.Mechanism;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.models.capture.CapturedInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.util.Json;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The fidelity section of {@code compare}: each mechanism's output against {@code reference} (float64) on the
 * inputs where approximations differ — {@code structured} (sinks, locality, planted needles; NS and CS) and
 * {@code captured} (real Q/K/V of every layer of the default encoder over a real text; NS, the encoder's pattern).
 *
 * <p>Metrics (BENCHMARKS.md): relative L2 error {@code ‖o − o_ref‖ / ‖o_ref‖} on sampled query rows (all rows up to
 * 64, else 40 spread rows, of every batch element and head); attention-mass recall and row KL divergence need the
 * keys a mechanism kept: an exact mechanism keeps every key (recall 1 and KL 0 by construction, so they are
 * reported as such, marked {@code exact}); a sparse mechanism says which keys it kept ({@code KeptKeys}), and a
 * pooled one (agent attention) keeps none, so its recall is reported as not measured, with the reason. Budgeted
 * mechanisms run at 10 % and 25 % of the keys on structured inputs and at 25 % on captured ones. Each row also
 * times the mechanism against {@code flash} on the same input (median of 3 calls) for the Pareto chart.
 */
final class Fidelity {
    private final CompareConfig config;

    Fidelity(CompareConfig config) {
        this.config = config;
    }

    /** The inputs measured: name, pattern and shape. */
    record Case(String input, Pattern pattern, InputShape shape) {
    }

    List<Case> cases(CapturedInputs captured) {
        int n = config.quick() ? 2048 : 4096;
        List<Case> cases = new ArrayList<>();
        for (Pattern p : List.of(Pattern.NS, Pattern.CS)) {
            cases.add(new Case("structured", p, new InputShape(1, n, n, config.heads(), config.heads(),
                    config.headDim(), config.headDim())));
        }
        if (captured != null) {
            var index = captured.index();
            int longest = index.texts().stream().mapToInt(t -> t.tokens()).max().orElse(0);
            int lc = Math.min(longest, 512);
            cases.add(new Case("captured", Pattern.NS, new InputShape(index.layers(), lc, lc, index.heads(),
                    index.heads(), index.headDim(), index.headDim())));
        }
        return cases;
    }

    List<String> mechanisms(Pattern pattern) {
        return config.mechanismIds().stream().filter(id -> !id.equals("reference")
                && Catalog.get(id).patterns().contains(pattern)).toList();
    }

    int plannedPoints(boolean withCapture) {
        // progress counts mechanisms, whatever the number of budgets each runs
        int points = 0;
        for (Pattern p : List.of(Pattern.NS, Pattern.CS)) {
            points += mechanisms(p).size();
        }
        return points + (withCapture ? mechanisms(Pattern.NS).size() : 0);
    }

    /** Budgets of budgeted mechanisms per input: the issue's 10 % and 25 % on structured, 25 % on captured. */
    static List<KeyBudget> budgets(String input) {
        return input.equals("captured") ? List.of(KeyBudget.ratio(0.25))
                : List.of(KeyBudget.ratio(0.1), KeyBudget.ratio(0.25));
    }

    /** Measures every case; {@code step} after each mechanism. */
    List<Map<String, Object>> run(Path capture, Consumer<String> step) throws IOException {
        List<Map<String, Object>> rows = new ArrayList<>();
        CapturedInputs captured = capture == null ? null : CapturedInputs.open(capture);
        KernelBench.Protocol protocol = new KernelBench.Protocol(0, 1, 0, 3, 0, 3);
        try {
            Engine engine = Engine.defaults().withThreads(config.threads());
            for (Case c : cases(captured)) {
                AttentionInputs in = c.input().equals("captured") ? captured.inputs(c.shape())
                        : StandardInputs.generate("structured", 4242L + c.shape().queryLength(), c.shape());
                AttentionSpec spec = (c.pattern() == Pattern.CS ? AttentionSpec.causal() : AttentionSpec.noncausal());
                if (captured != null && c.input().equals("captured")) {
                    spec = spec.scale((float) captured.index().scale());
                }
                AttentionSpec s = spec;
                io.attn4j.analysis.Fidelity reference = new io.attn4j.analysis.Fidelity(in.q(), in.k(), in.v(), spec);
                Tensor out = Tensor.zeros(c.shape().batch(), c.shape().queryLength(), c.shape().heads(),
                        c.shape().valueDim());
                AttentionMechanism flash = Catalog.create("flash", engine);
                double flashMs = KernelBench.time(() -> flash.forward(in.q(), in.k(), in.v(), s, out), protocol)[1];
                for (String id : mechanisms(c.pattern())) {
                    Mechanism m = Catalog.get(id);
                    for (String mechanismSpec : FidelityBench.expand(List.of(id), budgets(c.input()))) {
                        rows.add(measure(c, m, mechanismSpec, in, s, reference, out, flashMs, engine, protocol));
                    }
                    step.accept(String.format(Locale.ROOT, "fidelity %s %s %s", id, c.input(), c.pattern().id()));
                }
            }
        } finally {
            if (captured != null) {
                captured.close();
            }
        }
        return rows;
    }

    private static Map<String, Object> measure(Case c, Mechanism m, String mechanismSpec, AttentionInputs in,
                                               AttentionSpec spec, io.attn4j.analysis.Fidelity reference, Tensor out,
                                               double flashMs, Engine engine, KernelBench.Protocol protocol) {
        Map<String, Object> row = Json.object();
        row.put("mechanism", m.id());
        row.put("spec", mechanismSpec);
        if (mechanismSpec.contains("@")) {
            row.put("budget", mechanismSpec.substring(mechanismSpec.indexOf('@') + 1));
        }
        row.put("input", c.input());
        row.put("pattern", c.pattern().id());
        row.put("n", c.shape().queryLength());
        row.put("batch", c.shape().batch());
        row.put("heads", c.shape().heads());
        row.put("d", c.shape().headDim());
        try {
            AttentionMechanism mechanism = Catalog.create(mechanismSpec, engine);
            Tensor queries = mechanism instanceof RecurrentMechanism recurrent
                    ? recurrent.referenceQueries(in.q(), spec) : in.q();
            if (queries != in.q()) {
                // Aaren reads one query token per sequence: measured against softmax attention of that token
                reference = new io.attn4j.analysis.Fidelity(queries, in.k(), in.v(), spec);
                row.put("reference", "exact softmax attention of each sequence's first query row");
            }
            mechanism.forward(in.q(), in.k(), in.v(), spec, out);
            KeptKeys kept = mechanism instanceof SparseAttention sparse
                    ? sparse.keptKeys(in.q(), in.k(), in.v(), spec) : null;
            io.attn4j.analysis.Fidelity.Measures f = reference.measure(out, kept);
            double ms = KernelBench.time(() -> mechanism.forward(in.q(), in.k(), in.v(), spec, out), protocol)[1];
            row.put("status", "ok");
            row.put("rel_error", f.relativeError());
            if (m.exact()) {
                row.put("mass_recall", 1.0);
                row.put("row_kl", 0.0);
                row.put("note", "exact: attends to every key");
            } else if (kept != null) {
                row.put("mass_recall", f.massRecall());
                row.put("min_mass_recall", f.minMassRecall());
                row.put("row_kl", Double.isNaN(f.rowKl()) ? null : f.rowKl());
                row.put("note", kept.exactOnKept() ? "exact softmax over the kept keys; row KL = −log recall"
                        : "kept keys plus an estimate of the rest; no row KL");
            } else if (m.family() == io.attn4j.catalog.Family.LINEAR) {
                row.put("mass_recall", null);
                row.put("row_kl", null);
                row.put("note", m.weights() == io.attn4j.catalog.Weights.FREE
                        ? "training-free " + m.id() + ": error against softmax attention is its fidelity"
                        : m.id() + " is trained and runs here with seeded parameters: its error against softmax "
                                + "attention is not its quality in a trained model");
            } else {
                row.put("mass_recall", null);
                row.put("row_kl", null);
                row.put("note", "approximate: " + m.id() + " keeps no subset of keys (pooled)");
            }
            row.put("ms", ms);
            row.put("flash_ms", flashMs);
            row.put("speedup_vs_flash", flashMs / ms);
        } catch (RuntimeException | OutOfMemoryError e) {
            row.put("status", "failed");
            row.put("reason", e.getClass().getSimpleName() + ": " + e.getMessage());
        }
        return row;
    }
}
