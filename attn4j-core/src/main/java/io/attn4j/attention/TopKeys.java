package io.attn4j.attention;

/**
 * The result of the {@link Observer.TopK} observer: for each (batch, query head, query) the {@code k} most attended
 * keys in descending order of weight. Entry {@code r} of query {@code q} is at
 * {@code ((batch · heads + head) · queries + q) · k + r} in {@link #indices} and {@link #weights}; missing entries
 * (the query sees fewer than {@code k} keys) have index −1 and weight 0.
 */
public record TopKeys(int batch, int heads, int queries, int k, int[] indices, float[] weights) {

    public TopKeys {
        long n = (long) batch * heads * queries * k;
        if (indices.length != n || weights.length != n) {
            throw new IllegalArgumentException("top-k arrays must hold batch·heads·queries·k = " + n + " entries");
        }
    }

    /** The key index of entry {@code rank} (0 = most attended) of a query. */
    public int index(int b, int h, int q, int rank) {
        return indices[at(b, h, q, rank)];
    }

    /** The attention weight of entry {@code rank} of a query. */
    public float weight(int b, int h, int q, int rank) {
        return weights[at(b, h, q, rank)];
    }

    private int at(int b, int h, int q, int rank) {
        return ((b * heads + h) * queries + q) * k + rank;
    }
}
