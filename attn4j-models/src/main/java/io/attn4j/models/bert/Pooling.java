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
}
