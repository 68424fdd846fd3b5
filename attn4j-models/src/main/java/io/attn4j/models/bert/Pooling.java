package io.attn4j.models.bert;

import java.util.Locale;

/** How a sequence's token states become one embedding. */
public enum Pooling {
    /** The mean of every token's last hidden state (sentence-transformers' default, all-MiniLM). */
    MEAN,
    /** The last hidden state of the first token ({@code [CLS]}; BGE). */
    CLS;

    /** {@code mean} or {@code cls}, any case. */
    public static Pooling parse(String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "mean" -> MEAN;
            case "cls" -> CLS;
            default -> throw new IllegalArgumentException("pooling '" + text + "'; allowed: mean, cls");
        };
    }

    /**
     * Pools packed token states into one embedding per text.
     *
     * @param states    {@code [T, width]}, the texts end to end
     * @param offsets   where each text starts, and {@code T} last
     * @param width     the hidden size
     * @param normalize whether to L2-normalise each embedding
     * @return {@code [texts][width]}
     */
    public float[][] apply(float[] states, int[] offsets, int width, boolean normalize) {
        int texts = offsets.length - 1;
        float[][] out = new float[texts][width];
        double[] sum = new double[width];
        for (int b = 0; b < texts; b++) {
            int from = offsets[b], to = offsets[b + 1];
            float[] e = out[b];
            if (this == CLS) {
                System.arraycopy(states, from * width, e, 0, width);
            } else {
                java.util.Arrays.fill(sum, 0);
                for (int t = from; t < to; t++) {
                    for (int c = 0; c < width; c++) {
                        sum[c] += states[t * width + c];
                    }
                }
                for (int c = 0; c < width; c++) {
                    e[c] = (float) (sum[c] / (to - from));
                }
            }
            if (normalize) {
                double norm = 0;
                for (float v : e) {
                    norm += (double) v * v;
                }
                float inverse = (float) (1 / Math.max(Math.sqrt(norm), 1e-12));
                for (int c = 0; c < width; c++) {
                    e[c] *= inverse;
                }
            }
        }
        return out;
    }
}
