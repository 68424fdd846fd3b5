package io.attn4j.bench.compare;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Pattern;
import io.attn4j.bench.KernelBench;
import io.attn4j.bench.MachinePeak;
import io.attn4j.catalog.Catalog;
import io.attn4j.catalog.Mechanism;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.util.Json;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The kernel section of {@code compare}: every mechanism over every pattern it supports and the length sweep, on
 * {@code random} inputs, with {@link KernelBench}'s measurements (median time, mask-area GFLOP/s, % of peak, extra
 * memory, error against the float64 reference on sampled rows), plus the kernel peers at the same shapes.
 *
 * <p>A mechanism's sweep goes up the lengths and stops before a length whose call would take longer than the cap,
 * predicting from its last measured length ({@code n²} for prefill, {@code n} for decode); the skipped lengths are
 * reported as such. {@code reference} (float64, the oracle) is not swept: it is the yardstick of every error. A
 * mechanism that fails is reported with its error and its sweep of that pattern ends; the run goes on.
 */
final class KernelSweep {
    /** One measured, failed or skipped point. */
    record Point(String mechanism, Pattern pattern, int n, int lk, String status, String reason,
                 KernelBench.Result result) {
        Map<String, Object> toJson() {
            Map<String, Object> o = result != null ? result.toJson() : Json.object();
            if (result == null) {
                o.put("mechanism", mechanism);
                o.put("pattern", pattern.id());
                o.put("n", n);
                o.put("lk", lk);
            }
            o.put("status", status);
            if (reason != null) {
                o.put("reason", reason);
            }
            return o;
        }
    }

    private final CompareConfig config;
    private final MachinePeak peak;
    private final List<KernelPeer> peers;

    KernelSweep(CompareConfig config, MachinePeak peak, List<KernelPeer> peers) {
        this.config = config;
        this.peak = peak;
        this.peers = peers;
    }

    /** The mechanisms swept for {@code pattern}. */
    List<String> mechanisms(Pattern pattern) {
        List<String> ids = new ArrayList<>();
        for (String id : config.mechanismIds()) {
            Mechanism m = Catalog.get(id);
            if (!id.equals("reference") && m.patterns().contains(pattern)) {
                ids.add(id);
            }
        }
        return ids;
    }

    /** The number of points the sweep may measure (for the progress bar). */
    int plannedPoints() {
        int points = 0;
        for (Pattern p : CompareConfig.PATTERNS) {
            int series = mechanisms(p).size();
            for (KernelPeer peer : peers) {
                if (peer.unavailableReason() == null && peer.supports(p)) {
                    series++;
                }
            }
            points += series * config.lengths().length;
        }
        return points;
    }

    KernelBench.Config benchConfig(String mechanism, Pattern pattern, int n) {
        boolean decode = pattern == Pattern.DECODE;
        return new KernelBench.Config(List.of(mechanism), pattern, new int[] {n},
                decode ? config.decodeHeadDim() : config.headDim(), decode ? config.decodeHeads() : config.heads(),
                decode ? config.decodeKvHeads() : config.heads(), 1, config.threads(), "random", 0, 20261121L + n);
    }

    /** Runs the sweep; {@code step} is called after every point with what was done. */
    List<Point> run(Consumer<String> step) {
        List<Point> points = new ArrayList<>();
        for (Pattern pattern : CompareConfig.PATTERNS) {
            for (String id : mechanisms(pattern)) {
                sweepMechanism(id, pattern, points, step);
            }
            for (KernelPeer peer : peers) {
                if (peer.unavailableReason() == null && peer.supports(pattern)) {
                    sweepPeer(peer, pattern, points, step);
                }
            }
        }
        return withFlash(points);
    }

    /** Every measured point with its dense-equivalent speed-up: flash's median at the same pattern and length ÷ its. */
    static List<Point> withFlash(List<Point> points) {
        List<Point> out = new ArrayList<>();
        for (Point p : points) {
            Point flash = points.stream().filter(f -> f.mechanism().equals("flash") && f.pattern() == p.pattern()
                    && f.n() == p.n() && f.status().equals("ok")).findFirst().orElse(null);
            out.add(flash == null || !p.status().equals("ok") ? p : new Point(p.mechanism(), p.pattern(), p.n(),
                    p.lk(), p.status(), p.reason(), p.result().withFlash(flash.result().msMedian())));
        }
        return out;
    }

    private void sweepMechanism(String id, Pattern pattern, List<Point> points, Consumer<String> step) {
        double lastMs = 0;
        int lastN = 0;
        boolean stopped = false;
        for (int n : config.lengths()) {
            KernelBench.Config c = benchConfig(id, pattern, n);
            InputShape shape = KernelBench.shape(c, n);
            String label = String.format(Locale.ROOT, "%s %s n=%d", id, pattern.id(), n);
            if (stopped) {
                points.add(new Point(id, pattern, n, shape.keyLength(), "skipped", "an earlier length failed", null));
                step.accept(label);
                continue;
            }
            double predicted = lastN == 0 ? 0 : lastMs / 1e3 * growth(pattern, n, lastN);
            if (predicted > config.capSeconds()) {
                points.add(new Point(id, pattern, n, shape.keyLength(), "skipped", String.format(Locale.ROOT,
                        "predicted %.1f s per call, over the cap of %.1f s", predicted, config.capSeconds()), null));
                step.accept(label);
                continue;
            }
            KernelBench.Result r = KernelBench.run(c, config.protocol().warmJit(lastN == 0), peak, line -> { })
                    .getFirst();
            if (r.error() != null) {
                points.add(new Point(id, pattern, n, shape.keyLength(), "failed", r.error(), r));
                stopped = true;
            } else {
                points.add(new Point(id, pattern, n, shape.keyLength(), "ok", null, r));
                lastMs = r.msMedian();
                lastN = n;
            }
            step.accept(label);
        }
    }

    private void sweepPeer(KernelPeer peer, Pattern pattern, List<Point> points, Consumer<String> step) {
        double lastMs = 0;
        int lastN = 0;
        boolean stopped = false;
        for (int n : config.lengths()) {
            KernelBench.Config c = benchConfig("flash", pattern, n);
            InputShape shape = KernelBench.shape(c, n);
            String label = String.format(Locale.ROOT, "%s %s n=%d", peer.name(), pattern.id(), n);
            double predicted = lastN == 0 ? 0 : lastMs / 1e3 * growth(pattern, n, lastN);
            String skip = stopped ? "an earlier length failed" : predicted > config.capSeconds()
                    ? String.format(Locale.ROOT, "predicted %.1f s per call, over the cap of %.1f s", predicted,
                    config.capSeconds()) : peer.skipReason(shape);
            if (skip != null) {
                points.add(new Point(peer.name(), pattern, n, shape.keyLength(), "skipped", skip, null));
                step.accept(label);
                continue;
            }
            AttentionInputs in = StandardInputs.generate("random", c.seed(), shape);
            AttentionSpec spec = KernelBench.spec(c);
            boolean causal = pattern == Pattern.CS || pattern == Pattern.CC || pattern == Pattern.DECODE;
            float scale = (float) (1 / Math.sqrt(shape.headDim()));
            try (KernelPeer.Call call = peer.open(in, causal, scale, config.threads())) {
                double[] ms = call.time(config.protocol().warmJit(false));
                double relError = new io.attn4j.analysis.Fidelity(in.q(), in.k(), in.v(), spec.scale(scale))
                        .relativeError(call.output());
                KernelBench.Result r = KernelBench.Result.measured(peer.name(), shape, pattern, ms,
                        KernelBench.denseWork(spec, shape), peak, MachinePeak.Access.READ, -1, relError);
                points.add(new Point(peer.name(), pattern, n, shape.keyLength(), "ok", null, r));
                lastMs = ms[1];
                lastN = n;
            } catch (RuntimeException e) {
                points.add(new Point(peer.name(), pattern, n, shape.keyLength(), "failed",
                        e.getClass().getSimpleName() + ": " + e.getMessage(), null));
                stopped = true;
            }
            step.accept(label);
        }
    }

    private static double growth(Pattern pattern, int n, int lastN) {
        double ratio = (double) n / lastN;
        return pattern == Pattern.DECODE ? ratio : ratio * ratio;
    }

    /** Efficiency lengths (time and memory) of every swept series against flash, per pattern. */
    static List<Map<String, Object>> efficiencyLengths(List<Point> points) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Pattern pattern : CompareConfig.PATTERNS) {
            List<Point> flash = points.stream().filter(p -> p.pattern() == pattern && p.mechanism().equals("flash")
                    && p.status().equals("ok")).toList();
            List<String> names = points.stream().filter(p -> p.pattern() == pattern && !p.mechanism().equals("flash"))
                    .map(Point::mechanism).distinct().toList();
            for (String name : names) {
                List<int[]> common = new ArrayList<>();
                List<double[]> costs = new ArrayList<>();
                for (Point f : flash) {
                    points.stream().filter(p -> p.pattern() == pattern && p.mechanism().equals(name) && p.n() == f.n()
                            && p.status().equals("ok")).findFirst().ifPresent(p -> {
                                common.add(new int[] {f.n()});
                                costs.add(new double[] {f.result().msMedian(), p.result().msMedian(),
                                        f.result().extraBytes(), p.result().extraBytes()});
                            });
                }
                Map<String, Object> o = Json.object();
                o.put("mechanism", name);
                o.put("pattern", pattern.id());
                o.put("lengths", common.size());
                if (common.size() < EfficiencyLength.MIN_POINTS) {
                    o.put("time_length", null);
                    o.put("memory_length", null);
                    o.put("verdict", "fewer than " + EfficiencyLength.MIN_POINTS + " lengths measured for both");
                    out.add(o);
                    continue;
                }
                int[] ns = common.stream().mapToInt(a -> a[0]).toArray();
                EfficiencyLength time = EfficiencyLength.of(ns, costs.stream().mapToDouble(c -> c[0]).toArray(),
                        costs.stream().mapToDouble(c -> c[1]).toArray(), "time");
                boolean memoryKnown = costs.stream().allMatch(c -> c[2] >= 0 && c[3] >= 0);
                EfficiencyLength memory = memoryKnown ? EfficiencyLength.of(ns, costs.stream().mapToDouble(c -> c[2])
                        .toArray(), costs.stream().mapToDouble(c -> c[3]).toArray(), "memory") : null;
                o.put("time_length", time.length());
                o.put("time_cheaper_above", time.cheaperAbove());
                o.put("memory_length", memory == null ? null : memory.length());
                o.put("memory_cheaper_above", memory == null ? null : memory.cheaperAbove());
                o.put("verdict", time.verdict() + (memory == null ? "; memory: not measured for this peer"
                        : "; " + memory.verdict()));
                out.add(o);
            }
        }
        return out;
    }
}
