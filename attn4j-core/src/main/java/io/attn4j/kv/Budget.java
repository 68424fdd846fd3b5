package io.attn4j.kv;

import java.util.Locale;

/**
 * How many rows each KV head of a sequence may keep: an absolute token count, or a ratio of the tokens the
 * sequence has seen (kvpress accepts only ratios; users ask for absolute budgets, kvpress#102). A ratio keeps
 * {@code ⌈ratio · tokensSeen⌉} rows, at least 1.
 *
 * @param tokens the absolute budget, or 0 when {@code ratio} is used
 * @param ratio  the fraction of the sequence kept, in (0, 1], or 0 when {@code tokens} is used
 */
public record Budget(int tokens, double ratio) {

    public Budget {
        boolean absolute = tokens > 0 && ratio == 0, relative = tokens == 0 && ratio > 0 && ratio <= 1;
        if (!absolute && !relative) {
            throw new IllegalArgumentException("budget tokens = " + tokens + ", ratio = " + ratio
                    + "; allowed: tokens >= 1 (ratio 0), or a ratio in (0, 1] (tokens 0)");
        }
    }

    /** Keep at most {@code n} rows per head. */
    public static Budget tokens(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("budget tokens = " + n + "; allowed: >= 1");
        }
        return new Budget(n, 0);
    }

    /** Keep {@code ⌈r · tokensSeen⌉} rows per head. */
    public static Budget ratio(double r) {
        if (!(r > 0 && r <= 1)) {
            throw new IllegalArgumentException("budget ratio = " + r + "; allowed: (0, 1]");
        }
        return new Budget(0, r);
    }

    /** {@code 2048} (tokens), {@code 0.125}, {@code 1/8} or {@code 12.5%} (ratios). */
    public static Budget parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("budget is empty; allowed: N tokens, a ratio 0.125, 1/8 or 12.5%");
        }
        String t = text.trim().toLowerCase(Locale.ROOT);
        try {
            if (t.endsWith("%")) {
                return ratio(Double.parseDouble(t.substring(0, t.length() - 1)) / 100);
            }
            int slash = t.indexOf('/');
            if (slash > 0) {
                return ratio(Double.parseDouble(t.substring(0, slash)) / Double.parseDouble(t.substring(slash + 1)));
            }
            if (t.contains(".") || t.contains("e")) {
                return ratio(Double.parseDouble(t));
            }
            return tokens(Integer.parseInt(t));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("budget '" + text + "'; allowed: N tokens, a ratio 0.125, 1/8 or 12.5%");
        }
    }

    /** Whether this is a ratio. */
    public boolean relative() {
        return ratio > 0;
    }

    /** Rows a head may keep in a sequence that has seen {@code tokensSeen} tokens. */
    public int rows(int tokensSeen) {
        return relative() ? (int) Math.max(1, Math.ceil(ratio * tokensSeen - 1e-9)) : tokens;
    }

    @Override
    public String toString() {
        return relative() ? String.valueOf(ratio) : String.valueOf(tokens);
    }
}
