package io.attn4j.bench;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.catalog.Catalog;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.linear.Form;
import io.attn4j.linear.LinearState;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.util.Json;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The linear and recurrent family's two costs, measured the way issue 6 states its targets:
 * <ul>
 *   <li><b>Prefill</b>: the chunked form's time over a length sweep (causal self-attention), its cost per token
 *       against the first length (flat means linear in n), and causal {@code flash} on the same inputs up to
 *       {@link Config#flashMax} tokens, for the crossover length (the shortest n from which the mechanism is faster
 *       at every measured length);</li>
 *   <li><b>Decode</b>: one recurrent step for a batch of sequences through {@link RecurrentMechanism#step}, the
 *       state read and written once per token: bytes moved = 2 × state bytes, against the bandwidth this machine
 *       reaches on a working set of that size with as many writes as reads ({@link MachinePeak#bandwidthLimit},
 *       measured in the same run: a state that fits in the caches is held to the caches' speed).</li>
 * </ul>
 * Times are medians of {@link KernelBench#time} after a JIT warm-up on a small input of the same configuration.
 */
public final class RecurrentBench {

    /**
     * @param mechanisms    catalog ids of recurrent members (and {@code flash} is added to prefill by itself)
     * @param lengths       prefill lengths
     * @param headDim       prefill head dimension
     * @param heads         heads (prefill and decode)
     * @param decodeHeadDim decode head dimension (= value dimension)
     * @param decodeBatch   sequences decoded together
     * @param threads       threads
     * @param flashMax      the longest prefill flash is timed at (it is quadratic)
     * @param prefill       whether to run the prefill sweep
     * @param decode        whether to run the decode measurement
     * @param seed          input seed
     */
    public record Config(List<String> mechanisms, int[] lengths, int headDim, int heads, int decodeHeadDim,
                         int decodeBatch, int threads, int flashMax, boolean prefill, boolean decode, long seed) {
        public Config {
            mechanisms = List.copyOf(mechanisms);
            for (String id : mechanisms) {
                if (!(Catalog.get(id).create() instanceof RecurrentMechanism)) {
                    throw new IllegalArgumentException("mechanism '" + id + "' is not a linear or recurrent member; "
                            + "allowed: " + String.join(", ", recurrentIds()));
                }
            }
            if (lengths.length == 0) {
                throw new IllegalArgumentException("lengths is empty; allowed: one or more lengths >= 1");
            }
            for (int n : lengths) {
                if (n < 1) {
                    throw new IllegalArgumentException("length " + n + "; allowed: >= 1");
                }
            }
            if (headDim < 1 || heads < 1 || decodeHeadDim < 1 || decodeBatch < 1 || threads < 1) {
                throw new IllegalArgumentException("head dims, heads, batch and threads must be >= 1");
            }
        }
    }

    /** Catalog ids of every recurrent member. */
    public static List<String> recurrentIds() {
        return Catalog.all().stream().filter(m -> m.create() instanceof RecurrentMechanism).map(m -> m.id()).toList();
    }

    /** One prefill measurement; {@code error} is null unless the call failed. */
    public record Prefill(String mechanism, int n, double msMin, double msMedian, double msMax, String error) {
        public Map<String, Object> toJson() {
            Map<String, Object> o = Json.object();
            o.put("mechanism", mechanism);
            o.put("n", n);
            Map<String, Object> ms = Json.object();
            ms.put("min", msMin);
            ms.put("median", msMedian);
            ms.put("max", msMax);
            o.put("ms", ms);
            o.put("error", error);
            return o;
        }
    }

    /** One decode measurement: microseconds per step of the whole batch. */
    public record Decode(String mechanism, int batch, int heads, int d, double usMedian, long stateBytes, double gbs,
                         double pctBandwidth, String error) {
        public Map<String, Object> toJson() {
            Map<String, Object> o = Json.object();
            o.put("mechanism", mechanism);
            o.put("batch", batch);
            o.put("heads", heads);
            o.put("d", d);
            o.put("us_per_step", usMedian);
            o.put("state_bytes", stateBytes);
            o.put("gbs", gbs);
            o.put("pct_bandwidth", pctBandwidth);
            o.put("error", error);
            return o;
        }
    }

    private RecurrentBench() {
    }

    /** The prefill sweep: every mechanism (chunked, its configured form) and flash up to {@code flashMax}. */
    public static List<Prefill> prefill(Config config, Consumer<String> progress) {
        Engine engine = Engine.defaults().withThreads(config.threads());
        List<String> ids = new ArrayList<>(config.mechanisms());
        ids.add("flash");
        List<Prefill> results = new ArrayList<>();
        for (String id : ids) {
            AttentionMechanism mechanism = Catalog.create(id, engine);
            warm(mechanism, InputShape.self(1, 1024, config.heads(), config.heads(), config.headDim()), config.seed());
            for (int n : config.lengths()) {
                if (id.equals("flash") && n > config.flashMax()) {
                    continue;
                }
                progress.accept(id + " prefill n=" + n);
                AttentionInputs in = StandardInputs.random(config.seed() + n,
                        InputShape.self(1, n, config.heads(), config.heads(), config.headDim()));
                Tensor out = Tensor.zeros(1, n, config.heads(), config.headDim());
                try {
                    double[] t = KernelBench.time(() -> mechanism.forward(in.q(), in.k(), in.v(),
                            AttentionSpec.causal(), out), KernelBench.Protocol.STANDARD.warmJit(false));
                    results.add(new Prefill(id, n, t[0], t[1], t[2], null));
                } catch (RuntimeException | OutOfMemoryError e) {
                    results.add(new Prefill(id, n, Double.NaN, Double.NaN, Double.NaN, e.toString()));
                }
            }
        }
        return results;
    }

    /** The decode step of every mechanism on a batch of sequences, against the stream bandwidth. */
    public static List<Decode> decode(Config config, MachinePeak peak, Consumer<String> progress) {
        Engine engine = Engine.defaults().withThreads(config.threads());
        int b = config.decodeBatch(), h = config.heads(), d = config.decodeHeadDim();
        List<Decode> results = new ArrayList<>();
        for (String id : config.mechanisms()) {
            progress.accept(id + " decode batch=" + b + " heads=" + h + " d=" + d);
            RecurrentMechanism mechanism = (RecurrentMechanism) Catalog.create(id, engine);
            try {
                // a state reached by a short prefill, then one token per sequence per step
                AttentionInputs context = StandardInputs.random(config.seed(), InputShape.self(b, 16, h, h, d));
                LinearState state = mechanism.run(context.q(), context.k(), context.v(), AttentionSpec.causal(), null,
                        Form.chunked()).state();
                AttentionInputs token = StandardInputs.random(config.seed() + 1, InputShape.self(b, 1, h, h, d));
                Tensor out = Tensor.zeros(b, 1, h, d);
                Runnable step = () -> mechanism.step(token.q(), token.k(), token.v(), AttentionSpec.causal(), state,
                        out);
                long start = System.nanoTime();
                while (System.nanoTime() - start < 1.0e9) {
                    step.run();
                }
                double[] t = KernelBench.time(step, new KernelBench.Protocol(0, 5, 0.5, 20, 1, 2000));
                long bytes = state.bytes();
                double gbs = 2.0 * bytes / (t[1] * 1e-3) / 1e9;
                double limit = peak.bandwidthLimit(2.0 * bytes, MachinePeak.Access.READ_WRITE);
                results.add(new Decode(id, b, h, d, t[1] * 1e3, bytes, gbs, 100 * gbs / limit, null));
            } catch (RuntimeException | OutOfMemoryError e) {
                results.add(new Decode(id, b, h, d, Double.NaN, 0, Double.NaN, Double.NaN, e.toString()));
            }
        }
        return results;
    }

    private static void warm(AttentionMechanism mechanism, InputShape shape, long seed) {
        AttentionInputs in = StandardInputs.random(seed, shape);
        long start = System.nanoTime();
        for (int calls = 0; calls < 200 && System.nanoTime() - start < 1.5e9; calls++) {
            mechanism.forward(in.q(), in.k(), in.v(), AttentionSpec.causal());
        }
    }

    /** The shortest measured n from which {@code id} beats flash at every measured length, or -1. */
    public static int crossover(List<Prefill> results, String id) {
        int crossover = -1;
        for (Prefill r : results) {
            if (!r.mechanism().equals(id)) {
                continue;
            }
            Prefill flash = find(results, "flash", r.n());
            if (flash == null) {
                continue;
            }
            if (r.msMedian() < flash.msMedian()) {
                crossover = crossover < 0 ? r.n() : crossover;
            } else {
                crossover = -1;
            }
        }
        return crossover;
    }

    private static Prefill find(List<Prefill> results, String id, int n) {
        for (Prefill r : results) {
            if (r.mechanism().equals(id) && r.n() == n && r.error() == null) {
                return r;
            }
        }
        return null;
    }

    /** The prefill table: ms, µs per token, growth against the first length, speed-up over flash. */
    public static String prefillTable(List<Prefill> results) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%-10s %8s %10s %10s %10s %12s %10s%n", "mechanism", "n", "ms med", "ms min",
                "us/token", "t(n)/t(n0)", "vs flash"));
        String previous = null;
        double first = Double.NaN;
        int firstN = 0;
        for (Prefill r : results) {
            if (!r.mechanism().equals(previous)) {
                previous = r.mechanism();
                first = r.msMedian();
                firstN = r.n();
            }
            if (r.error() != null) {
                sb.append(String.format("%-10s %8d  failed: %s%n", r.mechanism(), r.n(), r.error()));
                continue;
            }
            Prefill flash = find(results, "flash", r.n());
            String growth = String.format("%.2f (%dx)", r.msMedian() / first, r.n() / Math.max(1, firstN));
            sb.append(String.format("%-10s %8d %10.2f %10.2f %10.3f %12s %10s%n", r.mechanism(), r.n(), r.msMedian(),
                    r.msMin(), 1e3 * r.msMedian() / r.n(), growth,
                    flash == null || r.mechanism().equals("flash") ? "" :
                            String.format("%.2fx", flash.msMedian() / r.msMedian())));
        }
        for (String id : results.stream().map(Prefill::mechanism).distinct().toList()) {
            if (!id.equals("flash")) {
                int c = crossover(results, id);
                sb.append(String.format("%s: %s%n", id, c < 0 ? "not faster than causal flash from any measured length"
                        : "faster than causal flash from n = " + c + " on"));
            }
        }
        return sb.toString();
    }

    /** The decode table. */
    public static String decodeTable(MachinePeak peak, List<Decode> results) {
        StringBuilder sb = new StringBuilder();
        sb.append(peak.line()).append('\n');
        sb.append(String.format("%-10s %6s %6s %5s %12s %10s %8s %6s%n", "mechanism", "batch", "heads", "d",
                "us/step", "state MB", "GB/s", "%bw"));
        for (Decode r : results) {
            if (r.error() != null) {
                sb.append(String.format("%-10s failed: %s%n", r.mechanism(), r.error()));
                continue;
            }
            sb.append(String.format("%-10s %6d %6d %5d %12.1f %10.2f %8.1f %6.1f%n", r.mechanism(), r.batch(),
                    r.heads(), r.d(), r.usMedian(), r.stateBytes() / 1e6, r.gbs(), r.pctBandwidth()));
        }
        return sb.toString();
    }

    /** The JSON document of {@code bench recurrent --json}. */
    public static Map<String, Object> toJson(MachinePeak peak, Config config, List<Prefill> prefill,
                                             List<Decode> decode) {
        Map<String, Object> doc = Json.object();
        doc.put("machine", peak == null ? null : peak.toJson(false));
        doc.put("heads", config.heads());
        doc.put("head_dim", config.headDim());
        doc.put("prefill", prefill.stream().map(Prefill::toJson).toList());
        Map<String, Object> crossover = Json.object();
        for (String id : config.mechanisms()) {
            if (!prefill.isEmpty()) {
                crossover.put(id, crossover(prefill, id));
            }
        }
        doc.put("crossover_vs_flash", crossover);
        doc.put("decode", decode.stream().map(Decode::toJson).toList());
        return doc;
    }
}
