package io.attn4j.bench.compare;

import io.attn4j.bench.KvBench;
import io.attn4j.kv.Budget;
import io.attn4j.kv.KvPolicies;
import io.attn4j.kv.KvPolicyDescriptor;
import io.attn4j.models.capture.CapturedInputs;
import io.attn4j.util.Json;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The report's KV-cache section: every policy of {@link KvPolicies#all()} at a 1/8 budget, through
 * {@link KvBench}'s protocols — the needle grid (the run's lengths from 1K to 32K × ten depths) on
 * {@code structured} inputs, and decode fidelity against the full cache on {@code structured} inputs without
 * needles (2048 tokens quick, 4096 full) and, when a capture is given, {@code captured} ones (its longest texts, at
 * most 512 tokens).
 * {@code razor} and {@code duo} score heads on a calibration input that is not the measured one.
 */
final class KvSection {
    static final Budget BUDGET = Budget.ratio(0.125);
    private final CompareConfig config;
    private final int[] needleLengths;
    private final int fidelityN, steps;

    KvSection(CompareConfig config) {
        this.config = config;
        // the run's lengths from 1K to 32K (bench kv sweeps further): quick 1K–8K, full 1K–32K
        this.needleLengths = java.util.Arrays.stream(config.lengths()).filter(n -> n >= 1024 && n <= 32768)
                .toArray();
        this.fidelityN = config.quick() ? 2048 : 4096;
        this.steps = config.quick() ? 32 : 64;
    }

    List<String> policies() {
        return KvPolicies.all().stream().map(KvPolicyDescriptor::id).toList();
    }

    long plannedPoints(boolean captured) {
        return (long) policies().size() * (needleLengths.length + (captured ? 2 : 1)) + needleLengths.length;
    }

    private KvBench.Config benchConfig(int n) {
        return new KvBench.Config(policies(), BUDGET, "structured", null, n, steps, 16, 8, 2, config.headDim(),
                needleLengths, new int[0], 1, 1, config.threads(), 1);
    }

    /** Runs the section; {@code progress} receives one line per policy and input. */
    Map<String, Object> run(Path capture, Consumer<String> progress) throws IOException {
        KvBench.Config c = benchConfig(fidelityN);
        var policies = KvBench.calibrated(KvBench.structuredCalibration(c), c.threads());
        List<KvBench.NeedleCell> needles = KvBench.needles(c, policies, progress);
        List<KvBench.FidelityResult> fidelity = new ArrayList<>(KvBench.fidelity(c,
                KvBench.structuredFidelity(c, fidelityN), policies, progress));
        if (capture != null) {
            try (CapturedInputs captured = CapturedInputs.open(capture)) {
                int longest = captured.index().texts().stream().mapToInt(t -> t.tokens()).max().orElse(0);
                int n = Math.min(512, longest);
                fidelity.addAll(KvBench.fidelity(benchConfig(n), captured.inputs(n, 1),
                        KvBench.calibrated(KvBench.capturedCalibration(captured, n), c.threads()), progress));
            }
        }
        Map<String, Object> o = Json.object();
        o.put("budget", BUDGET.toString());
        o.put("heads", c.heads());
        o.put("kv_heads", c.kvHeads());
        o.put("head_dim", c.headDim());
        List<Object> lengths = new ArrayList<>();
        for (int n : needleLengths) {
            lengths.add(n);
        }
        o.put("needle_lengths", lengths);
        o.put("needles", new ArrayList<Object>(needles.stream().map(KvBench.NeedleCell::toJson).toList()));
        o.put("fidelity", new ArrayList<Object>(fidelity.stream().map(KvBench.FidelityResult::toJson).toList()));
        return o;
    }

    /** Failed policy runs. */
    static int failures(Map<String, Object> section) {
        int failed = 0;
        for (String key : List.of("needles", "fidelity")) {
            for (Object row : (List<?>) section.get(key)) {
                failed += ((Map<?, ?>) row).get("error") != null ? 1 : 0;
            }
        }
        return failed;
    }
}
