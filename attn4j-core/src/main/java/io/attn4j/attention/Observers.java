package io.attn4j.attention;

/** Factories for {@link Observer}s. */
public final class Observers {
    private Observers() {
    }

    /** Per-key attention mass, {@code [batch, heads, Lk]}. */
    public static Observer columnMass() {
        return new Observer.ColumnMass();
    }

    /** Per-query entropy in nats, {@code [batch, heads, Lq]}. */
    public static Observer entropy() {
        return new Observer.Entropy();
    }

    /** The {@code k} most attended keys of each query. */
    public static Observer topK(int k) {
        return new Observer.TopK(k);
    }
}
