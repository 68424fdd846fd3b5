package io.attn4j.kv;

import io.attn4j.tensor.Tensor;

import java.util.Random;

/** Shared helpers of the KV tests: random tensors and the float64 oracle of decode over a cache's rows. */
final class KvTesting {
    private KvTesting() {
    }

    static Tensor random(Random rng, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] a = t.array();
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) rng.nextGaussian();
        }
        return t;
    }

    /**
     * Exact attention of {@code q [S, Lq, Hq, D]} over whatever the cache holds, in float64, read row by row
     * through the public accessors (dequantised rows, positions, multiplicities): the oracle of {@link KvDecode}.
     */
    static Tensor expected(KvCache cache, Tensor q, float scale, io.attn4j.attention.ScoreMod mod) {
        int sequences = q.size(0), lq = q.size(1), hq = q.size(2), d = cache.headDim(), dv = cache.valueDim();
        int group = hq / cache.kvHeads();
        Tensor out = Tensor.zeros(sequences, lq, hq, dv);
        float[] k = new float[d], v = new float[dv];
        for (int b = 0; b < sequences; b++) {
            for (int h = 0; h < hq; h++) {
                int kvh = h / group, n = cache.length(b, kvh);
                for (int t = 0; t < lq; t++) {
                    int qPos = cache.tokensSeen(b) - lq + t;
                    double[] logits = new double[n];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int r = 0; r < n; r++) {
                        int pos = cache.position(b, kvh, r);
                        if (pos > qPos) {
                            logits[r] = Double.NEGATIVE_INFINITY;
                            continue;
                        }
                        cache.key(b, kvh, r, k, 0);
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) q.get(b, t, h, c) * k[c];
                        }
                        double s = scale * dot + Math.log(cache.multiplicity(b, kvh, r));
                        if (mod != null) {
                            s = mod.applyExact(s, b, h, qPos, pos);
                        }
                        logits[r] = s;
                        max = Math.max(max, s);
                    }
                    double sum = 0;
                    double[] acc = new double[dv];
                    for (int r = 0; r < n; r++) {
                        if (logits[r] == Double.NEGATIVE_INFINITY) {
                            continue;
                        }
                        double w = Math.exp(logits[r] - max);
                        sum += w;
                        cache.value(b, kvh, r, v, 0);
                        for (int c = 0; c < dv; c++) {
                            acc[c] += w * v[c];
                        }
                    }
                    for (int c = 0; c < dv; c++) {
                        out.set(sum == 0 ? 0f : (float) (acc[c] / sum), b, t, h, c);
                    }
                }
            }
        }
        return out;
    }
}
