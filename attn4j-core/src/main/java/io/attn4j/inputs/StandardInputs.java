package io.attn4j.inputs;

import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The standard inputs of BENCHMARKS.md, reused by every test and benchmark.
 *
 * <ul>
 *   <li>{@code random}: i.i.d. N(0, 1) entries. For exactness and speed; never alone for fidelity, because
 *       random attention is nearly uniform and every approximation looks good on it.</li>
 *   <li>{@code structured}: the structure real attention has, with known ground truth (see {@link Structure}):
 *       a few <em>sink</em> tokens whose keys align with every query, <em>locality</em> (a slowly varying
 *       positional component shared by nearby queries and keys), and planted <em>needles</em> (a key and a later
 *       query that share a private direction).</li>
 * </ul>
 * Generation is counter-based: each row {@code (tensor, batch, position, head)} has its own seed, so any length up
 * to millions of tokens is generated in parallel, deterministically for a seed, and any part of a sequence can be
 * regenerated alone ({@link #structuredRow}). Positions follow the bottom-right alignment of the attention API: query
 * row {@code i} sits at position {@code i + Lk − Lq}.
 */
public final class StandardInputs {
    private static final long Q = 1, K = 2, V = 3, DIRECTIONS = 4;

    private StandardInputs() {
    }

    /** {@code random} or {@code structured} (with the default structure). */
    public static AttentionInputs generate(String kind, long seed, InputShape shape) {
        return switch (kind.toLowerCase(Locale.ROOT)) {
            case "random" -> random(seed, shape);
            case "structured" -> structured(seed, shape);
            default -> throw new IllegalArgumentException("input '" + kind + "'; allowed: random, structured");
        };
    }

    /** Gaussian Q, K, V. */
    public static AttentionInputs random(long seed, InputShape shape) {
        return generate("random", seed, shape, null);
    }

    /** Structured Q, K, V with the default {@link Structure}. */
    public static AttentionInputs structured(long seed, InputShape shape) {
        return structured(seed, shape, Structure.defaults());
    }

    /** Structured Q, K, V. */
    public static AttentionInputs structured(long seed, InputShape shape, Structure structure) {
        return generate("structured", seed, shape, new Plan(seed, shape, structure));
    }

    /** Q and K from the plan (plain noise without one), V always plain noise. */
    private static AttentionInputs generate(String kind, long seed, InputShape shape, Plan plan) {
        Tensor q = Tensor.zeros(shape.batch(), shape.queryLength(), shape.heads(), shape.headDim());
        Tensor k = Tensor.zeros(shape.batch(), shape.keyLength(), shape.kvHeads(), shape.headDim());
        Tensor v = Tensor.zeros(shape.batch(), shape.keyLength(), shape.kvHeads(), shape.valueDim());
        fill(q, seed, Q, plan);
        fill(k, seed, K, plan);
        fill(v, seed, V, null);
        return new AttentionInputs(kind, seed, shape, q, k, v, plan == null ? List.of() : plan.needles);
    }

    /**
     * One row of a structured input, without generating the rest: {@code which} is 'q', 'k' or 'v', {@code index}
     * the row (query row for 'q', key position otherwise). Equal to the same row of {@link #structured}.
     */
    public static void structuredRow(long seed, InputShape shape, Structure structure, char which, int b, int index,
                                     int head, float[] dst, int offset) {
        Plan plan = new Plan(seed, shape, structure);
        long tensor = switch (which) {
            case 'q' -> Q;
            case 'k' -> K;
            case 'v' -> V;
            default -> throw new IllegalArgumentException("which = '" + which + "'; allowed: 'q', 'k', 'v'");
        };
        int width = which == 'v' ? shape.valueDim() : shape.headDim();
        row(seed, tensor, b, index, head, dst, offset, width, which == 'v' ? null : plan);
    }

    /**
     * The structure of a {@code structured} input, as target shares of a typical query's attention mass; the
     * generator sets the strengths of the components from them and the key length.
     *
     * @param sinks       number of sink tokens at the start of the sequence
     * @param sinkMass    attention mass a typical query puts on the sinks (0 to 1)
     * @param localMass   mass a typical query puts on its neighbourhood
     * @param localWidth  neighbourhood width in positions (the locality kernel decays over about this distance)
     * @param needles     needles per (batch, KV head); the last {@code needles} query rows look for them
     * @param needleMass  mass a needle query puts on its needle key at the least: the needle's logit is set for
     *                    this mass plus three standard deviations of the logit noise, so needles are reliably found
     */
    public record Structure(int sinks, double sinkMass, double localMass, int localWidth, int needles,
                            double needleMass) {
        public Structure {
            if (sinks < 0 || needles < 0 || localWidth < 1) {
                throw new IllegalArgumentException("structure " + this + "; allowed: sinks >= 0, needles >= 0, "
                        + "localWidth >= 1");
            }
            for (double mass : new double[] {sinkMass, localMass, needleMass}) {
                if (!(mass >= 0 && mass < 1)) {
                    throw new IllegalArgumentException("structure " + this + "; masses must be in [0, 1)");
                }
            }
            if (sinkMass + localMass >= 1) {
                throw new IllegalArgumentException("structure " + this + "; sinkMass + localMass must be < 1");
            }
        }

        /**
         * 4 sinks with 30 % of the mass, 60 % within about 64 positions, 10 % spread over the rest, 8 needles
         * taking at least 90 % of their query: the concentration that makes long-context attention compressible.
         */
        public static Structure defaults() {
            return new Structure(4, 0.3, 0.6, 64, 8, 0.9);
        }
    }

    // ---------------------------------------------------------------------------------------------- generation

    private static void fill(Tensor t, long seed, long tensor, Plan plan) {
        int batch = t.size(0), length = t.size(1), heads = t.size(2), width = t.size(3);
        float[] data = t.array();
        int rows = batch * length;
        int chunk = 256;
        Engine.defaults().parallelFor((rows + chunk - 1) / chunk, c -> {
            for (int r = c * chunk; r < Math.min(rows, (c + 1) * chunk); r++) {
                int b = r / length, s = r % length;
                for (int h = 0; h < heads; h++) {
                    row(seed, tensor, b, s, h, data, ((b * length + s) * heads + h) * width, width, plan);
                }
            }
        });
    }

    /** Row (b, index, head) of tensor Q, K or V: Gaussian noise, or for a plan its structured row. */
    private static void row(long seed, long tensor, int b, int index, int head, float[] dst, int offset, int width,
                            Plan plan) {
        SplittableRandom random = new SplittableRandom(mix(mix(mix(mix(seed) ^ tensor) ^ b) ^ ((long) index << 20 ^ head)));
        if (plan == null) {
            for (int c = 0; c < width; c++) {
                dst[offset + c] = (float) random.nextGaussian();
            }
        } else {
            plan.row(random, tensor == Q, b, index, head, dst, offset);
        }
    }

    /** SplitMix64's finaliser: a bijective 64-bit mix. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /**
     * The structured components of Q and K. Each KV head has an orthonormal frame of its head dimension: one sink
     * direction, {@code 2M} locality directions ({@code M = min(16, D/8)} cosine/sine pairs), up to {@code D/4}
     * needle directions, and the rest for noise. Noise is confined to its own subspace, so signal and noise never
     * mix in a logit: a component of logit strength {@code L} (in units of {@code q·k/√D}) adds
     * {@code √(L·√D)} times its direction to both the query and the key, and noise is scaled so its logit has
     * variance 1.
     * <ul>
     *   <li><b>sinks</b>: every query and the first {@code sinks} keys share the sink direction;</li>
     *   <li><b>locality</b>: the query and key at positions {@code p, p'} carry {@code (cos(ω_m p + φ_m),
     *       sin(ω_m p + φ_m))} on the pairs, so their logit gains {@code L_loc · ρ(p − p')} with
     *       {@code ρ(Δ) = (1/M) Σ_m cos(ω_m Δ)}: 1 at distance 0, decaying over about {@code localWidth}
     *       positions (frequencies log-spaced in {@code [π/(8w), π/w]}), and fluctuating with variance
     *       {@code 1/(2M)} far away;</li>
     *   <li><b>needles</b>: a needle key and its query share a needle direction, strong enough to take
     *       {@code needleMass} of the query plus a margin of three noise standard deviations.</li>
     * </ul>
     * Strengths are solved from the target masses for a query that sees all {@code Lk} keys, on the actual kernel:
     * {@code L_loc} so that the neighbourhood ({@code |Δ| <= 2w}) and the background (the other keys, whose
     * {@code e^{L_loc ρ}} is averaged over a sample of distances) have the target ratio; then the sink and needle
     * strengths from the resulting partition function. The masses are targets, met approximately (the tests check
     * bands around them); causal queries see fewer keys and so put more mass on the sinks.
     */
    private static final class Plan {
        final InputShape shape;
        final Structure structure;
        final int d, pairs, noiseDims;
        final float[][][] frame;  // [kvHead][direction][d]: 0 sink, 1..2M locality, then needles, then noise
        final int needleBase, noiseBase;
        final double[] omega, phase;
        final float sinkAmplitude, localAmplitude, needleAmplitude, noiseScale;
        final List<Needle> needles = new ArrayList<>();
        final int[] needleKey;   // position of needle n
        final int[] needleQuery; // query row of needle n

        Plan(long seed, InputShape shape, Structure structure) {
            this.shape = shape;
            this.structure = structure;
            this.d = shape.headDim();
            this.pairs = Math.max(1, Math.min(16, d / 8));
            int offset = shape.keyLength() - shape.queryLength(); // query row i sits at position i + offset
            int needleCount = Math.min(structure.needles(), Math.max(0, d / 4));
            needleCount = Math.min(needleCount, Math.min(shape.queryLength(),
                    Math.max(0, shape.keyLength() - structure.sinks() - 1)));
            this.needleBase = 1 + 2 * pairs;
            this.noiseBase = needleBase + needleCount;
            if (noiseBase >= d) {
                throw new IllegalArgumentException("head dim " + d + " is too small for a structured input; "
                        + "allowed: >= 8");
            }
            this.noiseDims = d - noiseBase;
            SplittableRandom random = new SplittableRandom(mix(seed ^ DIRECTIONS));
            frame = new float[shape.kvHeads()][][];
            for (int h = 0; h < shape.kvHeads(); h++) {
                frame[h] = orthonormalFrame(random, d);
            }
            omega = new double[pairs];
            phase = new double[pairs];
            double w = structure.localWidth();
            for (int m = 0; m < pairs; m++) {
                double t = pairs == 1 ? 0.5 : (double) m / (pairs - 1);
                omega[m] = Math.PI / w * Math.pow(8, -t); // log-spaced in [π/(8w), π/w]
                phase[m] = random.nextDouble() * 2 * Math.PI;
            }

            // strengths from the target masses (see the class comment)
            double n = shape.keyLength();
            double background = 1 - structure.sinkMass() - structure.localMass();
            double[] far = farDistances(random, n);
            double localLogit = structure.localMass() == 0 ? 0
                    : solveLocal(structure.localMass() / background, far, n);
            double farWeight = mean(far, localLogit); // E_far[e^{L ρ + 1/2}]
            double zTotal = (far.length == 0 ? 1 : farKeys(n) * farWeight) / background;
            double sinkLogit = structure.sinks() == 0 || structure.sinkMass() == 0 ? 0
                    : Math.log(zTotal * structure.sinkMass() / (structure.sinks() * farWeight));
            // the needle key's logit also carries noise (variance 1) and the far-field locality fluctuation
            // (variance L_loc²/(2M)); a margin of three of their standard deviations makes every needle win
            double needleMargin = 3 * Math.sqrt(1 + localLogit * localLogit / (2.0 * pairs));
            double needleLogit = structure.needleMass() == 0 ? 0
                    : Math.log(zTotal * structure.needleMass() / (1 - structure.needleMass())) + needleMargin;
            double root = Math.sqrt(Math.sqrt(d));
            sinkAmplitude = (float) (Math.sqrt(Math.max(0, sinkLogit)) * root);
            localAmplitude = (float) (Math.sqrt(Math.max(0, localLogit)) * root);
            needleAmplitude = (float) (Math.sqrt(Math.max(0, needleLogit)) * root);
            noiseScale = (float) Math.pow((double) d / noiseDims, 0.25);

            // needles: depths (m + ½) / count of the span after the sinks and before the needle's query
            needleKey = new int[needleCount];
            needleQuery = new int[needleCount];
            for (int m = 0; m < needleCount; m++) {
                int query = shape.queryLength() - needleCount + m;
                int queryPosition = query + offset;
                int first = structure.sinks(), last = Math.max(first, Math.min(shape.keyLength(), queryPosition) - 1);
                double depth = (m + 0.5) / needleCount;
                int key = Math.min(last, first + (int) Math.floor(depth * (last - first)));
                needleKey[m] = key;
                needleQuery[m] = query;
                for (int b = 0; b < shape.batch(); b++) {
                    for (int h = 0; h < shape.kvHeads(); h++) {
                        needles.add(new Needle(b, h, key, query, depth));
                    }
                }
            }
        }

        /** ρ(Δ) of the locality kernel. */
        private double rho(double distance) {
            double sum = 0;
            for (double w : omega) {
                sum += Math.cos(w * distance);
            }
            return sum / pairs;
        }

        /** Keys outside the neighbourhood (|Δ| > 2w) of a query that sees n keys. */
        private double farKeys(double n) {
            return Math.max(0, n - (4.0 * structure.localWidth() + 1));
        }

        /** A sample of distances beyond the neighbourhood, where the background keys are. */
        private double[] farDistances(SplittableRandom random, double n) {
            if (farKeys(n) <= 0) {
                return new double[0];
            }
            double[] far = new double[2048];
            double reach = 2.0 * structure.localWidth();
            for (int i = 0; i < far.length; i++) {
                far[i] = reach + 1 + random.nextDouble() * (n - reach - 1);
            }
            return far;
        }

        /** E[e^{L ρ(Δ) + 1/2}] over the sampled distances (1/2: the noise logit's log-normal mean). */
        private double mean(double[] distances, double localLogit) {
            if (distances.length == 0) {
                return Math.exp(0.5);
            }
            double sum = 0;
            for (double distance : distances) {
                sum += Math.exp(localLogit * rho(distance) + 0.5);
            }
            return sum / distances.length;
        }

        /** L_loc with (neighbourhood sum) / (background sum) = {@code ratio}, by bisection. */
        private double solveLocal(double ratio, double[] far, double n) {
            int reach = 2 * structure.localWidth();
            double lo = 0, hi = 80;
            for (int i = 0; i < 50; i++) {
                double mid = (lo + hi) / 2, local = 0;
                for (int delta = -reach; delta <= reach; delta++) {
                    local += Math.exp(mid * rho(delta) + 0.5);
                }
                double backgroundSum = far.length == 0 ? 1 : farKeys(n) * mean(far, mid);
                if (local / backgroundSum < ratio) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            return lo;
        }

        private static float[][] orthonormalFrame(SplittableRandom random, int d) {
            double[][] basis = new double[d][d];
            for (int i = 0; i < d; i++) {
                for (int c = 0; c < d; c++) {
                    basis[i][c] = random.nextGaussian();
                }
                for (int j = 0; j < i; j++) { // Gram–Schmidt, twice for stability
                    for (int pass = 0; pass < 2; pass++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += basis[i][c] * basis[j][c];
                        }
                        for (int c = 0; c < d; c++) {
                            basis[i][c] -= dot * basis[j][c];
                        }
                    }
                }
                double norm = 0;
                for (int c = 0; c < d; c++) {
                    norm += basis[i][c] * basis[i][c];
                }
                norm = Math.sqrt(norm);
                for (int c = 0; c < d; c++) {
                    basis[i][c] /= norm;
                }
            }
            float[][] frame = new float[d][d];
            for (int i = 0; i < d; i++) {
                for (int c = 0; c < d; c++) {
                    frame[i][c] = (float) basis[i][c];
                }
            }
            return frame;
        }

        /** Row (b, index, head) of Q (isQuery) or K. */
        void row(SplittableRandom random, boolean isQuery, int b, int index, int head, float[] dst, int offset) {
            int kvh = isQuery ? head / (shape.heads() / shape.kvHeads()) : head;
            int position = isQuery ? index + shape.keyLength() - shape.queryLength() : index;
            float[][] f = frame[kvh];
            java.util.Arrays.fill(dst, offset, offset + d, 0f);
            for (int i = noiseBase; i < d; i++) {
                axpy(noiseScale * (float) random.nextGaussian(), f[i], dst, offset);
            }
            if (isQuery || index < structure.sinks()) {
                axpy(sinkAmplitude, f[0], dst, offset);
            }
            float perPair = (float) (localAmplitude / Math.sqrt(pairs));
            for (int m = 0; m < pairs; m++) {
                double angle = omega[m] * position + phase[m];
                axpy(perPair * (float) Math.cos(angle), f[1 + 2 * m], dst, offset);
                axpy(perPair * (float) Math.sin(angle), f[2 + 2 * m], dst, offset);
            }
            for (int n = 0; n < needleKey.length; n++) {
                if (isQuery ? index == needleQuery[n] : index == needleKey[n]) {
                    axpy(needleAmplitude, f[needleBase + n], dst, offset);
                }
            }
        }

        private void axpy(float a, float[] x, float[] dst, int offset) {
            for (int c = 0; c < d; c++) {
                dst[offset + c] += a * x[c];
            }
        }
    }
}
