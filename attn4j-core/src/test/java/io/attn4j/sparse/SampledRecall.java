package io.attn4j.sparse;

import io.attn4j.inputs.AttentionInputs;

/** Fidelity measures of BENCHMARKS.md for the sparse mechanisms' own tests, computed in float64 from BSHD inputs. */
final class SampledRecall {
    private SampledRecall() {
    }

    /**
     * Attention-mass recall: the mean, over every {@code stride}-th query of every head (batch row 0) and the last
     * {@code tail} queries, of the exact softmax mass (scale {@code 1/√D}) that falls on the keys {@code kept} says
     * the mechanism attended to.
     */
    static double recall(AttentionInputs in, KeptKeys kept, boolean causal, int stride, int tail) {
        int lq = in.q().size(1), lk = in.k().size(1), heads = in.q().size(2), kvHeads = in.k().size(2);
        int d = in.q().size(3), group = heads / kvHeads;
        float[] q = in.q().copy().toArray(), k = in.k().copy().toArray();
        double scale = 1 / Math.sqrt(d), total = 0;
        int count = 0;
        double[] s = new double[lk];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < lq; i++) {
                if (i % stride != 0 && i < lq - tail) {
                    continue;
                }
                int position = i + lk - lq;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < lk; j++) {
                    if (causal && j > position) {
                        s[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    int qa = (i * heads + h) * d, ka = (j * kvHeads + h / group) * d;
                    for (int t = 0; t < d; t++) {
                        dot += (double) q[qa + t] * k[ka + t];
                    }
                    s[j] = dot * scale;
                    max = Math.max(max, s[j]);
                }
                if (max == Double.NEGATIVE_INFINITY) {
                    continue;
                }
                double all = 0, onKept = 0;
                for (int j = 0; j < lk; j++) {
                    double e = Math.exp(s[j] - max);
                    all += e;
                    if (kept.kept(0, h, i, j)) {
                        onKept += e;
                    }
                }
                total += onKept / all;
                count++;
            }
        }
        return total / count;
    }
}
