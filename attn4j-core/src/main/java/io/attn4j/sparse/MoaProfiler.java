package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * MoA's offline search (Fu et al., "MoA: Mixture of Sparse Attention for Automatic Large Language Model
 * Compression", 2024): profile the real attention of a model on some text, then give every head of every layer the
 * elastic span {@code (α, β)} that keeps the most attention for an average density budget. Pure Java, no model: the
 * input is the Q, K and V each layer's attention received (captured from an encoder or decoder run), one
 * {@link AttentionInputs} of {@code [batch, n, heads, d]} per layer.
 *
 * <p><b>Algorithm.</b>
 * <ol>
 *   <li><em>Profile.</em> For every layer × head and every candidate span, the <em>attention-mass recall</em>: the
 *       exact softmax mass (float64, {@link ReferenceAttention#row}) that falls on the keys the span keeps (sinks
 *       plus window), averaged over sampled query rows and batch rows, and over the profiled lengths. One exact
 *       row costs O(n·d); a prefix sum of it prices every candidate in O(1).</li>
 *   <li><em>Density.</em> A span's density at length n is the mean over all query rows of kept / visible keys
 *       (exact, counted, not sampled), averaged over the profiled lengths. It does not depend on the head.</li>
 *   <li><em>Search.</em> Choose one candidate per head to maximise the total recall subject to
 *       {@code mean density over all heads and layers <= budget}: a multiple-choice knapsack. Solved greedily:
 *       each head's candidates are reduced to the upper convex hull of (density, recall); the hull steps of all
 *       heads are taken in order of marginal recall per unit of density up to the first that does not fit (the
 *       <em>critical</em> step, which the LP relaxation would take a fraction of: Sinha and Zoltners, 1979);
 *       then what is left of the budget buys, one at a time, the single upgrade of any head with the largest
 *       recall gain (at least {@value #MIN_GAIN}) that still fits. The total recall is therefore within the
 *       critical step's gain of the optimum. Stopping at the critical step matters: continuing with flatter
 *       steps would spend the budget on heads that gain almost nothing (a local head widening for 1e-7 recall)
 *       while a spread-out head, whose nearly straight recall curve is one long hull step, gets nothing. Greedy
 *       rather than an exact DP because it scales to thousands of heads and any grid, where a DP needs a finely
 *       discretised density axis.</li>
 * </ol>
 *
 * <p><b>Choices.</b> MoA ranks spans by the loss gradient times the attention matrix ("attention influence") over
 * a calibration set; with no model here, the criterion is attention-mass recall, the quantity sparse attention
 * loses directly. Noncausal inputs (encoders) are profiled with the symmetric windows of {@link Moa} on NS, causal
 * ones with causal windows: profile the pattern the configuration will run. With one profiled length, α and β only
 * matter through the window at that length, so ties between candidates of equal window go to the earlier one in
 * the grid (the default grid lists β = 0 first); profile at several lengths ({@link Config#lengths}, prefixes of
 * the inputs) to let the search see how a head's need grows with n, as MoA does. Query rows are sampled evenly
 * (deterministic), every row when there are at most {@link Config#queryRows}. Ties in the search go to the earlier
 * layer, head and candidate.
 *
 * <p><b>Complexity.</b> O(L·H·B·R·(n·d + C)) to profile (R sampled rows, C candidates, summed over the profiled
 * lengths), O(L·H·C·log(L·H·C)) for the hull steps, plus O(L·H·C) per upgrade of the final pass. Memory O(n)
 * per thread and O(L·H·C) recalls; no n × n buffer.
 */
public final class MoaProfiler {

    /**
     * @param candidates the spans every head may get, in order of preference for ties
     * @param budget     the mean key density over all heads and layers (and profiled lengths), {@code (0, 1]}
     * @param sinks      sinks of the resulting configurations (and of the profiled spans), {@code >= 0}
     * @param causal     profile causal attention with causal windows (decoders) or noncausal with symmetric ones
     * @param queryRows  query rows sampled per (batch row, head, length), {@code >= 1}
     * @param lengths    the lengths to profile at (prefixes of the inputs, each {@code <=} their length); empty for
     *                   the inputs' own length
     */
    public record Config(List<Moa.Span> candidates, double budget, int sinks, boolean causal, int queryRows,
                         List<Integer> lengths) {
        public Config {
            Objects.requireNonNull(candidates, "candidates");
            if (candidates.isEmpty() || candidates.size() > 4096) {
                throw new IllegalArgumentException("candidates has " + candidates.size() + " spans; allowed: 1 to "
                        + "4096");
            }
            candidates = List.copyOf(candidates);
            if (!(budget > 0 && budget <= 1)) {
                throw new IllegalArgumentException("budget = " + budget + "; allowed: a mean density 0 < budget <= 1");
            }
            if (sinks < 0) {
                throw new IllegalArgumentException("sinks = " + sinks + "; allowed: >= 0");
            }
            if (queryRows < 1) {
                throw new IllegalArgumentException("queryRows = " + queryRows + "; allowed: >= 1");
            }
            lengths = List.copyOf(Objects.requireNonNull(lengths, "lengths"));
            for (int length : lengths) {
                if (length < 1) {
                    throw new IllegalArgumentException("profiled length " + length + "; allowed: >= 1");
                }
            }
        }

        /** The default grid, {@code budget}, 4 sinks, 256 sampled rows, at the inputs' own length. */
        public static Config of(double budget, boolean causal) {
            return new Config(defaultGrid(), budget, 4, causal, 256, List.of());
        }

        /** This configuration profiling at the given lengths. */
        public Config withLengths(Integer... newLengths) {
            return new Config(candidates, budget, sinks, causal, queryRows, List.of(newLengths));
        }

        /** This configuration with other candidate spans. */
        public Config withCandidates(List<Moa.Span> newCandidates) {
            return new Config(newCandidates, budget, sinks, causal, queryRows, lengths);
        }

        /**
         * α ∈ {0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096} × β ∈ {0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1}
         * (α = β = 0 left out), β = 0 first: fixed windows from a few tokens to 4K, and windows that grow with n.
         */
        public static List<Moa.Span> defaultGrid() {
            List<Moa.Span> grid = new ArrayList<>();
            for (double beta : new double[] {0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1}) {
                for (int alpha : new int[] {0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}) {
                    if (alpha > 0 || beta > 0) {
                        grid.add(new Moa.Span(alpha, beta));
                    }
                }
            }
            return grid;
        }
    }

    /**
     * What the search chose.
     *
     * @param configs          one {@link Moa.Config} per layer, with one span per head
     * @param recall           [layer][head] the chosen span's attention-mass recall
     * @param density          [layer][head] the chosen span's density
     * @param candidateRecall  [layer][head][candidate] every candidate's recall
     * @param candidateDensity [candidate] every candidate's density
     * @param achievedDensity  the mean density over all heads (at most the budget)
     * @param meanRecall       the mean recall over all heads
     */
    public record Profile(List<Moa.Config> configs, double[][] recall, double[][] density,
                          double[][][] candidateRecall, double[] candidateDensity, double achievedDensity,
                          double meanRecall) {
    }

    /**
     * The least recall gain the final pass spends keys on: below it an upgrade only widens a head that already
     * keeps all its mass (float64 sums of a row's probabilities differ from 1 by about 1e-12).
     */
    static final double MIN_GAIN = 1e-6;

    private final Config config;
    private final Engine engine;

    public MoaProfiler(Config config, Engine engine) {
        this.config = Objects.requireNonNull(config, "config");
        this.engine = Objects.requireNonNull(engine, "engine");
    }

    public Config config() {
        return config;
    }

    /**
     * Profiles the attention of {@code layers} (Q, K, V of each layer's self-attention, BSHD, the same sequence
     * length in every layer) and chooses every head's span.
     *
     * @throws IllegalArgumentException if the inputs are not self-attention of one length, a profiled length is
     *                                  longer than the inputs, or the budget is below the narrowest candidate
     */
    public Profile profile(List<AttentionInputs> layers) {
        Objects.requireNonNull(layers, "layers");
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("layers is empty; allowed: one AttentionInputs per layer");
        }
        int n = layers.get(0).q().size(1);
        for (int l = 0; l < layers.size(); l++) {
            AttentionInputs in = layers.get(l);
            if (in.q().size(1) != in.k().size(1)) {
                throw new IllegalArgumentException("layer " + l + " has " + in.q().size(1) + " queries and "
                        + in.k().size(1) + " keys; allowed: self-attention inputs (Lq = Lk)");
            }
            if (in.q().size(1) != n) {
                throw new IllegalArgumentException("layer " + l + " has length " + in.q().size(1) + " but layer 0 has "
                        + n + "; allowed: one sequence length for every layer");
            }
        }
        int[] lengths = config.lengths().isEmpty() ? new int[] {n}
                : config.lengths().stream().mapToInt(Integer::intValue).toArray();
        for (int length : lengths) {
            if (length > n) {
                throw new IllegalArgumentException("profiled length " + length + " is longer than the inputs (" + n
                        + "); allowed: 1 to " + n);
            }
        }
        List<Moa.Span> candidates = config.candidates();
        int c = candidates.size();
        int[][] windows = new int[c][lengths.length];
        double[] candidateDensity = new double[c];
        for (int i = 0; i < c; i++) {
            for (int li = 0; li < lengths.length; li++) {
                windows[i][li] = candidates.get(i).window(lengths[li]);
                candidateDensity[i] += density(windows[i][li], config.sinks(), lengths[li], config.causal())
                        / lengths.length;
            }
        }

        // one validated problem per (layer, length): prefixes of the inputs
        AttentionSpec spec = config.causal() ? AttentionSpec.causal() : AttentionSpec.noncausal();
        AttentionProblem[][] problems = new AttentionProblem[layers.size()][lengths.length];
        int[] headBase = new int[layers.size() + 1];
        for (int l = 0; l < layers.size(); l++) {
            AttentionInputs in = layers.get(l);
            for (int li = 0; li < lengths.length; li++) {
                int length = lengths[li];
                Tensor q = in.q().slice(1, 0, length), k = in.k().slice(1, 0, length), v = in.v().slice(1, 0, length);
                problems[l][li] = AttentionProblem.of(q, k, v, spec, null);
            }
            headBase[l + 1] = headBase[l] + problems[l][0].heads();
        }
        int totalHeads = headBase[layers.size()];
        double[][] recall = new double[totalHeads][];
        engine.parallelFor(totalHeads, t -> {
            int layer = 0;
            while (headBase[layer + 1] <= t) {
                layer++;
            }
            recall[t] = headRecall(problems[layer], t - headBase[layer], windows, lengths);
        });

        int[] choice = search(recall, candidateDensity, totalHeads);

        List<Moa.Config> configs = new ArrayList<>();
        double[][] chosenRecall = new double[layers.size()][];
        double[][] chosenDensity = new double[layers.size()][];
        double[][][] candidateRecall = new double[layers.size()][][];
        double densitySum = 0, recallSum = 0;
        for (int l = 0; l < layers.size(); l++) {
            int heads = headBase[l + 1] - headBase[l];
            List<Moa.Span> spans = new ArrayList<>();
            chosenRecall[l] = new double[heads];
            chosenDensity[l] = new double[heads];
            candidateRecall[l] = new double[heads][];
            for (int h = 0; h < heads; h++) {
                int t = headBase[l] + h;
                spans.add(candidates.get(choice[t]));
                chosenRecall[l][h] = recall[t][choice[t]];
                chosenDensity[l][h] = candidateDensity[choice[t]];
                candidateRecall[l][h] = recall[t];
                densitySum += chosenDensity[l][h];
                recallSum += chosenRecall[l][h];
            }
            configs.add(Moa.Config.perHead(spans, config.sinks()));
        }
        return new Profile(List.copyOf(configs), chosenRecall, chosenDensity, candidateRecall, candidateDensity,
                densitySum / totalHeads, recallSum / totalHeads);
    }

    /** Every candidate's recall for head {@code h}: mean over lengths of the mean over batch and sampled rows. */
    private double[] headRecall(AttentionProblem[] problems, int h, int[][] windows, int[] lengths) {
        int c = windows.length, sinks = config.sinks();
        double[] recall = new double[c];
        double[] perLength = new double[c];
        for (int li = 0; li < lengths.length; li++) {
            AttentionProblem p = problems[li];
            int length = lengths[li];
            int rows = Math.min(length, config.queryRows());
            double[] probabilities = new double[length];
            double[] cumulative = new double[length + 1];
            double[] out = new double[p.valueDim()];
            Arrays.fill(perLength, 0);
            for (int b = 0; b < p.batch(); b++) {
                for (int r = 0; r < rows; r++) {
                    int i = (int) (((long) 2 * r + 1) * length / (2L * rows)); // row r of R evenly spaced rows
                    ReferenceAttention.row(p, b, h, i, probabilities, out);
                    for (int j = 0; j < length; j++) {
                        cumulative[j + 1] = cumulative[j] + probabilities[j];
                    }
                    for (int k = 0; k < c; k++) {
                        perLength[k] += keptMass(cumulative, i, windows[k][li], sinks, length, config.causal());
                    }
                }
            }
            for (int k = 0; k < c; k++) {
                recall[k] += perLength[k] / ((double) p.batch() * rows * lengths.length);
            }
        }
        return recall;
    }

    /** Σ p_ij over the sinks [0, s) and the window of query i: causal [i − w + 1, i], symmetric |i − j| < w. */
    private static double keptMass(double[] cumulative, int i, int window, int sinks, int length, boolean causal) {
        int lo = Math.max(0, i - window + 1);
        int hi = causal ? i + 1 : Math.min(length, i + window);
        double mass = cumulative[hi] - cumulative[lo];
        mass += cumulative[Math.min(sinks, lo)];                  // sinks before the window
        if (sinks > hi) {
            mass += cumulative[Math.min(sinks, length)] - cumulative[hi]; // sinks after it (noncausal)
        }
        return mass;
    }

    /** The mean over query rows of kept / visible keys for a window and sinks at one length. */
    static double density(int window, int sinks, int length, boolean causal) {
        double sum = 0;
        for (int i = 0; i < length; i++) {
            int visible = causal ? i + 1 : length;
            int lo = Math.max(0, i - window + 1);
            int hi = causal ? i + 1 : Math.min(length, i + window);
            int kept = hi - lo + Math.min(sinks, lo) + Math.max(0, Math.min(sinks, visible) - hi);
            sum += (double) kept / visible;
        }
        return sum / length;
    }

    /** One candidate per head: the hull greedy of the class comment, then single upgrades. */
    private int[] search(double[][] recall, double[] density, int heads) {
        double capacity = config.budget() * heads;
        double slack = 1e-12 * heads;
        int[][] hull = new int[heads][];
        double used = 0;
        int segments = 0;
        for (int t = 0; t < heads; t++) {
            hull[t] = hull(recall[t], density);
            used += density[hull[t][0]];
            segments += hull[t].length - 1;
        }
        if (used > capacity + slack) {
            double narrowest = Arrays.stream(density).min().orElseThrow();
            throw new IllegalArgumentException("budget = " + config.budget() + " is below the density of the "
                    + "narrowest candidate (" + narrowest + "); allowed: budget >= " + narrowest);
        }
        // hull steps of every head, by marginal recall per unit of density (ties: head, then step)
        long[] order = new long[segments];
        double[] slope = new double[segments];
        int[] stepHead = new int[segments];
        int s = 0;
        for (int t = 0; t < heads; t++) {
            for (int step = 0; step + 1 < hull[t].length; step++) {
                int from = hull[t][step], to = hull[t][step + 1];
                slope[s] = (recall[t][to] - recall[t][from]) / (density[to] - density[from]);
                stepHead[s] = t;
                s++;
            }
        }
        Integer[] sorted = new Integer[segments];
        for (int i = 0; i < segments; i++) {
            sorted[i] = i;
        }
        Arrays.sort(sorted, (a, b) -> {
            int bySlope = Double.compare(slope[b], slope[a]);
            return bySlope != 0 ? bySlope : Integer.compare(a, b); // segments were listed by head, then step
        });
        int[] position = new int[heads];
        for (int i : sorted) {
            int t = stepHead[i];
            double cost = density[hull[t][position[t] + 1]] - density[hull[t][position[t]]];
            if (used + cost > capacity + slack) {
                break; // the critical step: the LP optimum takes a fraction of it and nothing after it
            }
            used += cost;
            position[t]++; // a head's steps come in its own order: their slopes strictly decrease
        }
        int[] choice = new int[heads];
        for (int t = 0; t < heads; t++) {
            choice[t] = hull[t][position[t]];
        }
        // spend what is left on the single upgrade with the largest recall gain that fits, while one does
        while (true) {
            int bestHead = -1, bestCandidate = -1;
            double bestGain = MIN_GAIN;
            for (int t = 0; t < heads; t++) {
                for (int k = 0; k < density.length; k++) {
                    double gain = recall[t][k] - recall[t][choice[t]];
                    if (gain > bestGain && used + density[k] - density[choice[t]] <= capacity + slack) {
                        bestGain = gain;
                        bestHead = t;
                        bestCandidate = k;
                    }
                }
            }
            if (bestHead < 0) {
                return choice;
            }
            used += density[bestCandidate] - density[choice[bestHead]];
            choice[bestHead] = bestCandidate;
        }
    }

    /**
     * The upper convex hull of one head's (density, recall) points, from the least dense candidate (the best
     * recall among equally dense ones, then the earliest) up to the best recall: candidates in increasing density
     * and strictly increasing recall, with strictly decreasing marginal recall per unit of density.
     */
    private static int[] hull(double[] recall, double[] density) {
        Integer[] order = new Integer[density.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> {
            int byDensity = Double.compare(density[a], density[b]);
            if (byDensity != 0) {
                return byDensity;
            }
            int byRecall = Double.compare(recall[b], recall[a]);
            return byRecall != 0 ? byRecall : Integer.compare(a, b);
        });
        int[] stack = new int[order.length];
        int size = 0;
        for (int k : order) {
            if (size > 0 && (recall[k] <= recall[stack[size - 1]] || density[k] == density[stack[size - 1]])) {
                continue; // no more recall for at least as much density
            }
            while (size >= 2) {
                int a = stack[size - 2], b = stack[size - 1];
                // drop b if it is not above the chord from a to k
                double left = (recall[b] - recall[a]) * (density[k] - density[b]);
                double right = (recall[k] - recall[b]) * (density[b] - density[a]);
                if (left > right) {
                    break;
                }
                size--;
            }
            stack[size++] = k;
        }
        return Arrays.copyOf(stack, size);
    }
}
