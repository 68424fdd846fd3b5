package io.attn4j.bench.compare;

import io.attn4j.attention.Pattern;
import io.attn4j.bench.MachinePeak;
import io.attn4j.models.Encoder;
import io.attn4j.models.corpus.Corpora;
import io.attn4j.models.corpus.Corpus;
import io.attn4j.util.Json;
import io.attn4j.util.Progress;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * {@code attn4j compare}: every mechanism side by side on this machine — kernels over the patterns and a length
 * sweep, fidelity on structured and captured inputs, the default encoder on the real corpus with each mechanism in
 * every layer, every KV-cache policy (needle grid and decode fidelity, {@link KvSection}), and the peers (ONNX Runtime end to end and its attention operator, {@code naive}, PyTorch when
 * installed) in the same run — written as {@code report.json} (schema {@code report.schema.json}) and a
 * self-contained {@code index.html}.
 *
 * <p>Every section runs on the catalog, so a mechanism added later appears without changes here. A mechanism or
 * peer that fails is reported as failed with its error and the run goes on; the command's exit status says how
 * many failed.
 */
public final class Compare {
    /** {@code format} of report.json. */
    public static final String FORMAT = "attn4j-compare";
    /** {@code version} of report.json. */
    public static final int VERSION = 1;

    private Compare() {
    }

    /** What a run produced. */
    public record Outcome(Map<String, Object> report, Path json, Path html, int failures) {
    }

    /**
     * Runs the comparison and writes the report.
     *
     * @param config  what to measure
     * @param command the command line, recorded in the report
     * @param peers   kernel peers (each says whether it can run here)
     * @param err     progress and the machine line
     */
    public static Outcome run(CompareConfig config, String command, List<KernelPeer> peers, PrintWriter err)
            throws IOException {
        Objects.requireNonNull(config.out(), "out");
        Files.createDirectories(config.out());
        Encoder encoder = Encoder.load(config.model());
        Corpus corpus = Corpora.resolve(config.corpus());
        err.println("measuring the machine (" + config.threads() + " threads)...");
        err.flush();
        MachinePeak peak = MachinePeak.measure(config.threads());
        err.println("machine: " + peak.line());
        for (KernelPeer p : peers) {
            if (p.unavailableReason() != null) {
                err.println("peer " + p.name() + " skipped: " + p.unavailableReason());
            }
        }
        err.flush();

        KernelSweep sweep = new KernelSweep(config, peak, peers);
        Fidelity fidelity = new Fidelity(config);
        ModelLevel model = new ModelLevel(config);
        KvSection kv = new KvSection(config);
        long total = sweep.plannedPoints() + fidelity.plannedPoints(config.capture() != null)
                + model.mechanisms().size() + kv.plannedPoints(config.capture() != null) + 1;
        long[] done = {0};
        long started = System.nanoTime();
        List<KernelSweep.Point> points;
        List<Map<String, Object>> fidelityRows;
        Map<String, Object> modelSection;
        Map<String, Object> kvSection;
        try (Progress progress = new Progress(err, "compare", total, "steps", Progress.isTerminal())) {
            progress.update(0, "kernels");
            points = sweep.run(what -> progress.update(++done[0], what));
            fidelityRows = fidelity.run(config.capture(), what -> progress.update(++done[0], what));
            modelSection = model.run(encoder, corpus, what -> progress.update(++done[0], what));
            kvSection = kv.run(config.capture(), what -> progress.update(++done[0], what));
            progress.update(total);
        }
        double seconds = (System.nanoTime() - started) / 1e9;

        Map<String, Object> report = Json.object();
        report.put("format", FORMAT);
        report.put("version", VERSION);
        report.put("command", command);
        report.put("created", Instant.now().toString());
        report.put("seconds", seconds);
        report.put("versions", versions(peak));
        report.put("machine", peak.toJson(true));
        report.put("settings", settings(config));
        List<Object> kernelRows = new ArrayList<>();
        points.forEach(p -> kernelRows.add(p.toJson()));
        report.put("kernels", kernelRows);
        report.put("efficiency", new ArrayList<Object>(KernelSweep.efficiencyLengths(points)));
        report.put("fidelity", new ArrayList<Object>(fidelityRows));
        report.put("model", modelSection);
        report.put("kv", kvSection);
        report.put("peers", peers(peers, modelSection));
        report.put("summary", new ArrayList<Object>(Summary.of(points, fidelityRows, modelSection)));
        int failures = failures(points, fidelityRows, modelSection) + KvSection.failures(kvSection);
        report.put("failures", failures);

        Path json = config.out().resolve("report.json"), html = config.out().resolve("index.html");
        writeAtomically(json, Json.write(report));
        writeAtomically(html, HtmlReport.render(report));
        return new Outcome(report, json, html, failures);
    }

    private static Map<String, Object> versions(MachinePeak peak) {
        Map<String, Object> v = Json.object();
        String attn4j = Compare.class.getPackage().getImplementationVersion();
        v.put("attn4j", attn4j == null ? "development build" : attn4j);
        v.put("jdk", Runtime.version().toString());
        v.put("simd", peak.simd());
        String ort;
        try {
            ort = ai.onnxruntime.OrtEnvironment.getEnvironment().getVersion();
        } catch (RuntimeException | LinkageError e) {
            ort = "unavailable: " + e.getMessage();
        }
        v.put("onnxruntime", ort);
        v.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        return v;
    }

    private static Map<String, Object> settings(CompareConfig c) {
        Map<String, Object> s = Json.object();
        s.put("quick", c.quick());
        s.put("mechanisms", new ArrayList<Object>(c.mechanismIds()));
        List<Object> lengths = new ArrayList<>();
        for (int n : c.lengths()) {
            lengths.add(n);
        }
        s.put("lengths", lengths);
        s.put("heads", c.heads());
        s.put("head_dim", c.headDim());
        s.put("decode_heads", c.decodeHeads());
        s.put("decode_kv_heads", c.decodeKvHeads());
        s.put("decode_head_dim", c.decodeHeadDim());
        s.put("batch", 1);
        s.put("input", "random");
        s.put("model", c.model());
        s.put("corpus", c.corpus());
        s.put("texts", c.texts());
        s.put("threads", c.threads());
        s.put("cap_seconds", c.capSeconds());
        s.put("capture", c.capture() == null ? null : c.capture().toString());
        return s;
    }

    private static List<Object> peers(List<KernelPeer> peers, Map<String, Object> model) {
        List<Object> out = new ArrayList<>();
        Map<String, Object> naive = Json.object();
        naive.put("name", "naive");
        naive.put("what", "attn4j's two-pass float32 attention with a full score row (what Jlama and llama3.java do)");
        naive.put("status", "ok");
        out.add(naive);
        for (KernelPeer p : peers) {
            Map<String, Object> o = Json.object();
            o.put("name", p.name());
            o.put("what", p.name() + ": attention kernel of another runtime, at the kernel section's shapes");
            String reason = p.unavailableReason();
            o.put("status", reason == null ? "ok" : "skipped");
            if (reason != null) {
                o.put("reason", reason);
            }
            out.add(o);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> ort = (Map<String, Object>) model.get("ort");
        Map<String, Object> o = Json.object();
        o.put("name", "ort");
        o.put("what", "ONNX Runtime end to end on the same model file and texts (model section)");
        o.put("status", ort.get("status"));
        if (ort.get("reason") != null) {
            o.put("reason", ort.get("reason"));
        }
        out.add(o);
        return out;
    }

    @SuppressWarnings("unchecked")
    private static int failures(List<KernelSweep.Point> points, List<Map<String, Object>> fidelity,
                                Map<String, Object> model) {
        int f = (int) points.stream().filter(p -> p.status().equals("failed")).count();
        f += (int) fidelity.stream().filter(r -> "failed".equals(r.get("status"))).count();
        f += (int) ((List<Object>) model.get("rows")).stream()
                .filter(r -> "failed".equals(((Map<String, Object>) r).get("status"))).count();
        f += "failed".equals(((Map<String, Object>) model.get("ort")).get("status")) ? 1 : 0;
        return f;
    }

    private static void writeAtomically(Path file, String text) throws IOException {
        // a plain new file (not createTempFile, which is owner-only) so the report gets the umask's permissions
        Path temp = file.toAbsolutePath().resolveSibling("." + file.getFileName() + "." + ProcessHandle.current().pid()
                + "." + System.nanoTime() + ".tmp");
        try {
            Files.writeString(temp, text, StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE_NEW,
                    java.nio.file.StandardOpenOption.WRITE);
            Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /** The patterns in report order, for renderers. */
    static List<Pattern> patterns() {
        return CompareConfig.PATTERNS;
    }

    /** Sorts rows by a key, for renderers. */
    static <T> List<T> sorted(List<T> rows, Comparator<T> order) {
        List<T> copy = new ArrayList<>(rows);
        copy.sort(order);
        return copy;
    }

    static String fmt(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
