package io.attn4j.kv;

import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.Needle;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.TreeSet;

/**
 * A retrieval score per KV head of every layer: how much a head needs the far context. {@link Razor} keeps every
 * row of its retrieval heads and {@link Duo} gives them the full cache; the rest are cut to sinks and a recent
 * window. Scores come from a file or an array (DuoAttention's released {@code full_attention_heads.tsv}, one line
 * per layer and one gate value per KV head, reads as is), or from a calibration run ({@link #calibrate}).
 *
 * <p><b>The calibration score.</b> For KV head {@code h}, the mean over the calibration queries {@code i} (at
 * position {@code p_i}) and over the {@code G} query heads of its group of the attention mass that falls
 * <em>outside</em> the window a streaming head keeps:
 * <pre>
 *   s_h = mean_{i, g} Σ_{j ≤ p_i, j ∉ W(p_i)} softmax_j(scale · q_{i, hG+g} · k_{j, h}),
 *   W(p) = { j < sinks } ∪ { p − recent < j ≤ p }
 * </pre>
 * computed in float64 from the calibration tensors. {@code 1 − s} is the mass streaming attention keeps, and
 * {@code s} is exactly the total-variation distance between the head's full attention distribution and its
 * streaming one (the same distribution restricted to W and renormalised); the outputs differ by
 * {@code s · (v̄_outside − v̄_W)}, so {@code s} bounds the head's output error by {@code s · max_{a,b} |v_a − v_b|}
 * and is the value-independent factor of it.
 *
 * <p><b>Why this one proxy stands for both papers.</b> DuoAttention (arXiv:2410.10819) trains a gate per KV head
 * on synthetic passkey data to minimise the deviation of the model's output when that head attends only to
 * sinks + recent tokens; the heads whose gates stay high are retrieval heads. RazorAttention (arXiv:2407.15891)
 * protects the heads with the highest echo and induction scores (attention to an earlier copy of the current
 * token, or to the token after it, on repeated text): heads that put their mass on a far, content-matched token.
 * Both ask "does this head put attention mass outside sinks + recent, where it can find something the window
 * cannot give?". On calibration queries that must retrieve something far away (the needle queries of
 * {@code StandardInputs.structured}, or repeated text captured from a model) the mass outside the window is large
 * exactly for such heads, and measuring it needs neither training nor a model: only Q and K of one layer. It
 * measures per-head deviation, not DuoAttention's end-to-end output loss (heads interact through later layers),
 * and it is not the token-level echo/induction count; real gate values or echo/induction scores can be loaded
 * instead ({@link #of}, {@link #read}). Values do not enter the score.
 *
 * <p><b>Calibration queries.</b> The needle queries of each batch row when the inputs carry needles, otherwise
 * the last {@link Calibration#lastQueries} queries; every head is scored on the same queries. Query row {@code i}
 * sits at position {@code i + Lk − Lq} (bottom-right causal alignment) and sees keys {@code 0 ..} its position.
 *
 * <p><b>Selection.</b> {@link #retrievalHeads(double)} takes the top {@code ⌈fraction · total⌉} heads over all
 * layers (one global ranking, as DuoAttention's quantile over every gate); ties go to the earlier (layer, head).
 * {@link #retrievalHeadsAtLeast} takes every head scoring at least a threshold (DuoAttention's threshold 0.5 on gate
 * values).
 *
 * <p><b>Complexity.</b> Calibration O(B · queries · Lk · Hq · D), float64, in parallel over (batch, KV head);
 * memory O(Lk) per task.
 */
public final class HeadScores {
    private final double[][] scores; // [layer][kvHead]

    private HeadScores(double[][] scores) {
        this.scores = scores;
    }

    /** Scores given per layer: {@code layers[l][h]} for KV head {@code h} of layer {@code l} (copied). */
    public static HeadScores of(double[]... layers) {
        Objects.requireNonNull(layers, "layers");
        if (layers.length == 0) {
            throw new IllegalArgumentException("head scores have 0 layers; allowed: at least one layer");
        }
        double[][] copy = new double[layers.length][];
        for (int l = 0; l < layers.length; l++) {
            if (layers[l] == null || layers[l].length == 0) {
                throw new IllegalArgumentException("head scores of layer " + l + " are "
                        + (layers[l] == null ? "null" : "empty") + "; allowed: one score per KV head");
            }
            for (int h = 0; h < layers[l].length; h++) {
                if (!Double.isFinite(layers[l][h])) {
                    throw new IllegalArgumentException("head score of layer " + l + ", KV head " + h + " = "
                            + layers[l][h] + "; allowed: finite");
                }
            }
            copy[l] = layers[l].clone();
        }
        return new HeadScores(copy);
    }

    /** The layers of {@code parts}, one after the other (per-layer calibrations stacked into a model's scores). */
    public static HeadScores stack(HeadScores... parts) {
        List<double[]> all = new ArrayList<>();
        for (HeadScores p : Objects.requireNonNull(parts, "parts")) {
            all.addAll(Arrays.asList(Objects.requireNonNull(p, "part").scores));
        }
        return of(all.toArray(new double[0][]));
    }

    /**
     * Reads scores from a text file: one line per layer, one number per KV head separated by tabs, spaces or
     * commas (DuoAttention's {@code full_attention_heads.tsv}); blank lines and lines starting with {@code #} are
     * skipped.
     */
    public static HeadScores read(Path file) throws IOException {
        return parse(Files.readString(Objects.requireNonNull(file, "file"), StandardCharsets.UTF_8));
    }

    /** Parses the text format of {@link #read}. */
    public static HeadScores parse(String text) {
        Objects.requireNonNull(text, "text");
        List<double[]> layers = new ArrayList<>();
        String[] lines = text.split("\\R");
        for (int n = 0; n < lines.length; n++) {
            String line = lines[n].strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] fields = line.split("[\\s,]+");
            double[] layer = new double[fields.length];
            for (int h = 0; h < fields.length; h++) {
                try {
                    layer[h] = Double.parseDouble(fields[h]);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("head scores line " + (n + 1) + ", field " + (h + 1) + " = '"
                            + fields[h] + "'; allowed: a number per KV head");
                }
                if (!Double.isFinite(layer[h])) {
                    throw new IllegalArgumentException("head scores line " + (n + 1) + ", field " + (h + 1) + " = "
                            + fields[h] + "; allowed: finite");
                }
            }
            layers.add(layer);
        }
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("head scores text has no layer; allowed: one line of scores per layer");
        }
        return of(layers.toArray(new double[0][]));
    }

    /** Writes the format {@link #read} reads (tab separated, full precision). */
    public void write(Path file) throws IOException {
        Files.writeString(Objects.requireNonNull(file, "file"), format(), StandardCharsets.UTF_8);
    }

    /** The text {@link #write} writes. */
    public String format() {
        StringBuilder sb = new StringBuilder();
        for (double[] layer : scores) {
            for (int h = 0; h < layer.length; h++) {
                sb.append(h == 0 ? "" : "\t").append(layer[h]);
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------------------------------------ access

    public int layers() {
        return scores.length;
    }

    /** KV heads of layer {@code layer}. */
    public int kvHeads(int layer) {
        return layer(layer).length;
    }

    /** KV heads over every layer. */
    public int total() {
        int n = 0;
        for (double[] layer : scores) {
            n += layer.length;
        }
        return n;
    }

    public double score(int layer, int head) {
        double[] l = layer(layer);
        if (head < 0 || head >= l.length) {
            throw new IllegalArgumentException("head = " + head + "; allowed: 0 to " + (l.length - 1)
                    + " (KV heads of layer " + layer + ")");
        }
        return l[head];
    }

    /** The scores of layer {@code layer}, a copy. */
    public double[] scores(int layer) {
        return layer(layer).clone();
    }

    private double[] layer(int layer) {
        if (layer < 0 || layer >= scores.length) {
            throw new IllegalArgumentException("layer = " + layer + "; allowed: 0 to " + (scores.length - 1)
                    + " (layers with head scores)");
        }
        return scores[layer];
    }

    // ------------------------------------------------------------------------------------------------ selection

    /**
     * The retrieval heads: the {@code ⌈fraction · total⌉} best-scoring KV heads over all layers, as
     * {@code [layer][head]} flags; ties go to the earlier (layer, head).
     *
     * @param fraction in [0, 1]
     */
    public boolean[][] retrievalHeads(double fraction) {
        if (!(fraction >= 0 && fraction <= 1)) {
            throw new IllegalArgumentException("retrieval fraction = " + fraction + "; allowed: [0, 1]");
        }
        int total = total(), count = (int) Math.min(total, Math.ceil(fraction * total - 1e-9));
        int[][] order = new int[total][];
        int i = 0;
        for (int l = 0; l < scores.length; l++) {
            for (int h = 0; h < scores[l].length; h++) {
                order[i++] = new int[] {l, h};
            }
        }
        // stable sort: equal scores keep (layer, head) order
        Arrays.sort(order, (a, b) -> Double.compare(scores[b[0]][b[1]], scores[a[0]][a[1]]));
        boolean[][] flags = emptyFlags();
        for (int r = 0; r < count; r++) {
            flags[order[r][0]][order[r][1]] = true;
        }
        return flags;
    }

    /** The heads scoring at least {@code threshold}, as {@code [layer][head]} flags. */
    public boolean[][] retrievalHeadsAtLeast(double threshold) {
        if (Double.isNaN(threshold)) {
            throw new IllegalArgumentException("retrieval threshold = NaN; allowed: a number");
        }
        boolean[][] flags = emptyFlags();
        for (int l = 0; l < scores.length; l++) {
            for (int h = 0; h < scores[l].length; h++) {
                flags[l][h] = scores[l][h] >= threshold;
            }
        }
        return flags;
    }

    private boolean[][] emptyFlags() {
        boolean[][] flags = new boolean[scores.length][];
        for (int l = 0; l < scores.length; l++) {
            flags[l] = new boolean[scores[l].length];
        }
        return flags;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HeadScores other && Arrays.deepEquals(scores, other.scores);
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(scores);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("HeadScores[");
        for (int l = 0; l < scores.length; l++) {
            sb.append(l == 0 ? "" : "; ");
            for (int h = 0; h < scores[l].length; h++) {
                sb.append(h == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.4g", scores[l][h]));
            }
        }
        return sb.append(']').toString();
    }

    // ------------------------------------------------------------------------------------------------ calibration

    /**
     * The window a streaming head would keep, and which queries to score with.
     *
     * @param sinks       first positions kept ({@code >= 0}); use the policy's own
     * @param recent      positions up to and including the query's own kept ({@code >= 1}); use the window the
     *                    policy will keep (its budget minus the sinks)
     * @param lastQueries queries scored when the inputs carry no needles ({@code >= 1})
     * @param scale       logit scale; NaN for {@code 1/√D}
     */
    public record Calibration(int sinks, int recent, int lastQueries, float scale) {
        public Calibration {
            if (sinks < 0) {
                throw new IllegalArgumentException("calibration sinks = " + sinks + "; allowed: >= 0");
            }
            if (recent < 1) {
                throw new IllegalArgumentException("calibration recent = " + recent + "; allowed: >= 1");
            }
            if (lastQueries < 1) {
                throw new IllegalArgumentException("calibration lastQueries = " + lastQueries + "; allowed: >= 1");
            }
            if (!Float.isNaN(scale) && !(Float.isFinite(scale) && scale > 0)) {
                throw new IllegalArgumentException("calibration scale = " + scale
                        + "; allowed: finite and > 0 (NaN: 1/sqrt(d))");
            }
        }

        /** StreamingLLM's 4 sinks, a 64-position window (the locality width of the structured inputs), 64 queries. */
        public static Calibration defaults() {
            return new Calibration(4, 64, 64, Float.NaN);
        }

        /** The window of a policy: {@code sinks} and {@code recent}, other settings as {@link #defaults}. */
        public static Calibration window(int sinks, int recent) {
            return new Calibration(sinks, recent, 64, Float.NaN);
        }
    }

    /**
     * Scores one layer from its calibration inputs: the needle queries of each batch row when there are needles,
     * the last {@code lastQueries} queries otherwise. {@code v} is not used (see the class comment).
     */
    public static HeadScores calibrate(AttentionInputs inputs, Calibration calibration, Engine engine) {
        Objects.requireNonNull(inputs, "inputs");
        int batch = inputs.q().size(0);
        int[][] rows = new int[batch][];
        for (int b = 0; b < batch; b++) {
            TreeSet<Integer> needleRows = new TreeSet<>();
            for (Needle n : inputs.needles()) {
                if (n.batch() == b) {
                    needleRows.add(n.queryIndex());
                }
            }
            rows[b] = needleRows.stream().mapToInt(Integer::intValue).toArray();
        }
        return calibrate(inputs.q(), inputs.k(), rows, calibration, engine);
    }

    /** {@link #calibrate(AttentionInputs, Calibration, Engine)} on the default engine. */
    public static HeadScores calibrate(AttentionInputs inputs, Calibration calibration) {
        return calibrate(inputs, calibration, Engine.defaults());
    }

    /**
     * Scores one layer from {@code q [B, Lq, Hq, D]} and {@code k [B, Lk, Hkv, D]} (captured from a model or
     * generated), scoring query rows {@code queryRows[b]} of batch row {@code b} (null, or an empty entry: the last
     * {@code lastQueries} rows).
     */
    public static HeadScores calibrate(Tensor q, Tensor k, int[][] queryRows, Calibration calibration,
                                       Engine engine) {
        Objects.requireNonNull(q, "q");
        Objects.requireNonNull(k, "k");
        Objects.requireNonNull(calibration, "calibration");
        Objects.requireNonNull(engine, "engine");
        if (q.rank() != 4 || k.rank() != 4 || q.size(0) != k.size(0) || q.size(3) != k.size(3)
                || q.size(2) % k.size(2) != 0 || q.size(1) < 1 || q.size(1) > k.size(1)) {
            throw new IllegalArgumentException("calibration q " + Arrays.toString(q.shape()) + " and k "
                    + Arrays.toString(k.shape()) + "; expected q [B, Lq, Hq, D] and k [B, Lk, Hkv, D] with Hq a "
                    + "multiple of Hkv and 1 <= Lq <= Lk");
        }
        int batch = q.size(0), lq = q.size(1), hq = q.size(2), d = q.size(3), lk = k.size(1), hkv = k.size(2);
        if (queryRows != null && queryRows.length != batch) {
            throw new IllegalArgumentException("queryRows has " + queryRows.length + " entries for " + batch
                    + " batch rows");
        }
        int[][] rows = new int[batch][];
        for (int b = 0; b < batch; b++) {
            int[] r = queryRows == null ? null : queryRows[b];
            if (r == null || r.length == 0) {
                int take = Math.min(lq, calibration.lastQueries());
                r = new int[take];
                Arrays.setAll(r, i -> lq - take + i);
            }
            for (int i : r) {
                if (i < 0 || i >= lq) {
                    throw new IllegalArgumentException("calibration query row " + i + " of batch row " + b
                            + "; allowed: 0 to " + (lq - 1));
                }
            }
            rows[b] = r.clone();
        }
        double scale = Float.isNaN(calibration.scale()) ? 1 / Math.sqrt(d) : calibration.scale();
        float[] qa = q.toArray(), ka = k.toArray();
        int group = hq / hkv;
        double[][] sums = new double[batch][hkv];
        engine.parallelFor(batch * hkv, task -> {
            int b = task / hkv, h = task % hkv;
            double[] logits = new double[lk];
            double total = 0;
            for (int i : rows[b]) {
                int p = i + lk - lq;
                for (int g = 0; g < group; g++) {
                    int qAt = ((b * lq + i) * hq + h * group + g) * d;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= p; j++) {
                        int kAt = ((b * lk + j) * hkv + h) * d;
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) qa[qAt + c] * ka[kAt + c];
                        }
                        logits[j] = scale * dot;
                        max = Math.max(max, logits[j]);
                    }
                    double all = 0, outside = 0;
                    for (int j = 0; j <= p; j++) {
                        double w = Math.exp(logits[j] - max);
                        all += w;
                        if (j >= calibration.sinks() && j <= p - calibration.recent()) {
                            outside += w;
                        }
                    }
                    total += outside / all;
                }
            }
            sums[b][h] = total / ((double) rows[b].length * group);
        });
        double[] layer = new double[hkv];
        for (int h = 0; h < hkv; h++) {
            double s = 0;
            for (int b = 0; b < batch; b++) {
                s += sums[b][h];
            }
            layer[h] = s / batch;
        }
        return of(layer);
    }
}
