package io.attn4j.models.tokenizer;

/**
 * How a batch is padded to one length: to its longest encoding or to a fixed length, then up to a multiple of
 * {@code multipleOf} (1 for none). Padding goes on the right, with the tokenizer's pad id and pad type id (from the
 * {@code tokenizer.json}'s padding section, else the id of {@code [PAD]} and 0) and attention mask 0.
 *
 * @param strategy   {@link Strategy#LONGEST} or {@link Strategy#FIXED}
 * @param length     the fixed length (ignored for {@code LONGEST}, where it is 0)
 * @param multipleOf the padded length is rounded up to a multiple of this (tensor-core or SIMD friendly lengths)
 */
public record Padding(Strategy strategy, int length, int multipleOf) {
    /** Where the padded length comes from. */
    public enum Strategy {
        /** The longest encoding of the batch ({@code BatchLongest}). */
        LONGEST,
        /** A fixed length ({@code Fixed}); an encoding longer than it is an error rather than a ragged batch. */
        FIXED
    }

    /** Pad to the longest encoding of the batch. */
    public static final Padding LONGEST = new Padding(Strategy.LONGEST, 0, 1);

    public Padding {
        if (strategy == null) {
            throw new IllegalArgumentException("padding strategy = null; allowed: LONGEST or FIXED");
        }
        if (strategy == Strategy.FIXED ? length < 1 : length != 0) {
            throw new IllegalArgumentException("padding length = " + length + " for " + strategy + "; allowed: "
                    + (strategy == Strategy.FIXED ? ">= 1" : "0"));
        }
        if (multipleOf < 1) {
            throw new IllegalArgumentException("padding multipleOf = " + multipleOf + "; allowed: >= 1");
        }
    }

    /** Pad every encoding to {@code length} tokens. */
    public static Padding fixed(int length) {
        return new Padding(Strategy.FIXED, length, 1);
    }

    /** This padding, with the length rounded up to a multiple of {@code multiple}. */
    public Padding toMultipleOf(int multiple) {
        return new Padding(strategy, length, multiple);
    }

    /** The padded length of a batch whose longest encoding has {@code longest} tokens. */
    int paddedLength(int longest) {
        int target = strategy == Strategy.FIXED ? length : longest;
        if (longest > target) {
            throw new IllegalArgumentException("an encoding of " + longest + " tokens does not fit the fixed padding"
                    + " length " + length + "; allowed: maxLength <= the padding length, or Padding.LONGEST");
        }
        long rounded = (target + (long) multipleOf - 1) / multipleOf * multipleOf;
        if (rounded > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("padded length " + rounded + " is too large");
        }
        return (int) rounded;
    }
}
