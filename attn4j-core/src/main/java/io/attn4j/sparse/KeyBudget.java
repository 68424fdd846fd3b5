package io.attn4j.sparse;

import java.util.Locale;

/**
 * How many keys a sparse mechanism may keep per query: an absolute number of tokens, or a share of the keys the
 * query could see. A budget larger than what is visible keeps everything (the mechanism is then exact).
 *
 * @param tokens the number of keys, {@code >= 1}; 0 when this is a ratio budget
 * @param ratio  the share of visible keys, in {@code (0, 1]}; NaN when this is a token budget
 */
public record KeyBudget(int tokens, double ratio) {

    public KeyBudget {
        boolean isTokens = tokens != 0;
        if (isTokens && (tokens < 1 || !Double.isNaN(ratio))) {
            throw new IllegalArgumentException("key budget of " + tokens + " tokens; allowed: >= 1 (and no ratio)");
        }
        if (!isTokens && !(ratio > 0 && ratio <= 1)) {
            throw new IllegalArgumentException("key budget ratio = " + ratio + "; allowed: 0 < ratio <= 1");
        }
    }

    /** At most {@code tokens} keys per query ({@code >= 1}). */
    public static KeyBudget tokens(int tokens) {
        if (tokens < 1) {
            throw new IllegalArgumentException("key budget of " + tokens + " tokens; allowed: >= 1");
        }
        return new KeyBudget(tokens, Double.NaN);
    }

    /** A share {@code ratio} of the keys each query could see, {@code 0 < ratio <= 1}. */
    public static KeyBudget ratio(double ratio) {
        return new KeyBudget(0, ratio);
    }

    /** Parses {@code 2048} (tokens), {@code 0.1} or {@code 10%} (ratios). */
    public static KeyBudget parse(String text) {
        String t = text == null ? "" : text.strip();
        try {
            if (t.endsWith("%")) {
                return ratio(Double.parseDouble(t.substring(0, t.length() - 1)) / 100);
            }
            if (t.contains(".") || t.contains("e") || t.contains("E")) {
                return ratio(Double.parseDouble(t));
            }
            return tokens(Integer.parseInt(t));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("key budget '" + text + "'; allowed: a token count (2048), a ratio "
                    + "(0.1) or a percentage (10%)");
        }
    }

    /** Whether this budget is a share of the visible keys. */
    public boolean isRatio() {
        return tokens == 0;
    }

    /** The number of keys kept out of {@code visible} ({@code >= 1} when anything is visible, never more). */
    public int keysOf(int visible) {
        if (visible <= 0) {
            return 0;
        }
        if (!isRatio()) {
            return Math.min(tokens, visible);
        }
        return (int) Math.min(visible, Math.max(1, Math.ceil(ratio * visible - 1e-9)));
    }

    /**
     * The window length that spends this budget on a call of {@code queryLength} queries over {@code keyLength}
     * keys: a token budget is the window itself; a ratio is taken of the keys a query sees on average (about half
     * the keys of a causal self-attention call), so a window and a top-k selection at the same ratio compute the
     * same share of the mask's area. A noncausal window of w reaches w − 1 keys on each side (2w − 1 keys).
     */
    public int windowOf(int queryLength, int keyLength, boolean causal) {
        if (!isRatio()) {
            return tokens;
        }
        if (causal) {
            double meanVisible = keyLength - queryLength + (queryLength + 1) / 2.0;
            return (int) Math.max(1, Math.ceil(ratio * meanVisible - 1e-9));
        }
        return (int) Math.max(1, Math.ceil((ratio * keyLength + 1) / 2 - 1e-9));
    }

    @Override
    public String toString() {
        return isRatio() ? String.format(Locale.ROOT, "%s%%", trim(ratio * 100)) : tokens + " tokens";
    }

    private static String trim(double x) {
        return x == Math.rint(x) ? Long.toString((long) x) : Double.toString(x);
    }
}
