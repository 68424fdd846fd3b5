package io.attn4j.linear;

/**
 * The three equivalent forms every linear or recurrent mechanism computes (fla's {@code naive} / {@code chunk} /
 * {@code fused_recurrent} triple):
 * <ul>
 *   <li>{@link Kind#REFERENCE}: the recurrence token by token in float64 — the family's oracle;</li>
 *   <li>{@link Kind#CHUNKED}: block-parallel prefill — matrix products inside chunks of {@link #chunk} tokens, a
 *       running state between them, all cores over sequences × heads and, when those are fewer than the cores, over
 *       parts of the sequence whose states are computed in parallel and combined (LASP-2);</li>
 *   <li>{@link Kind#RECURRENT}: one token at a time on a float32 state — the decode step.</li>
 * </ul>
 *
 * @param kind  which form
 * @param chunk tokens per chunk of the chunked form (ignored by the others); {@code >= 1}
 */
public record Form(Kind kind, int chunk) {

    /** The forms. */
    public enum Kind { REFERENCE, CHUNKED, RECURRENT }

    /** The default chunk: 64 tokens, the size at which the intra-chunk products stay in L1 for d = 64. */
    public static final int DEFAULT_CHUNK = 64;

    public Form {
        java.util.Objects.requireNonNull(kind, "kind");
        if (chunk < 1 || chunk > 4096) {
            throw new IllegalArgumentException("chunk = " + chunk + "; allowed: 1 to 4096 tokens");
        }
    }

    public static Form reference() {
        return new Form(Kind.REFERENCE, DEFAULT_CHUNK);
    }

    public static Form chunked() {
        return new Form(Kind.CHUNKED, DEFAULT_CHUNK);
    }

    public static Form chunked(int chunk) {
        return new Form(Kind.CHUNKED, chunk);
    }

    public static Form recurrent() {
        return new Form(Kind.RECURRENT, DEFAULT_CHUNK);
    }

    /** Parses {@code reference}, {@code recurrent}, {@code chunked} or {@code chunked:N}. */
    public static Form parse(String text) {
        String t = text.trim().toLowerCase(java.util.Locale.ROOT);
        if (t.equals("reference")) {
            return reference();
        }
        if (t.equals("recurrent")) {
            return recurrent();
        }
        if (t.equals("chunked")) {
            return chunked();
        }
        if (t.startsWith("chunked:")) {
            try {
                return chunked(Integer.parseInt(t.substring(8)));
            } catch (NumberFormatException e) {
                // falls through to the refusal
            }
        }
        throw new IllegalArgumentException("form '" + text + "'; allowed: reference, chunked, chunked:N, recurrent");
    }

    @Override
    public String toString() {
        return kind == Kind.CHUNKED ? "chunked:" + chunk : kind.name().toLowerCase(java.util.Locale.ROOT);
    }
}
