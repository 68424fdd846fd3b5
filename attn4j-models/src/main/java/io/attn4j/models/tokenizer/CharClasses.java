package io.attn4j.models.tokenizer;

/**
 * The character classes of Hugging Face's BERT normalizer and pre-tokenizer, on code points.
 *
 * <p>General categories are Unicode 8.0's ({@link Unicode80Categories}), the version of the tables Hugging Face's
 * code uses, not the JDK's, so a character added or re-categorised since is classed as Hugging Face classes it.
 * White space is Unicode's {@code White_Space} property, as Rust's {@code char::is_whitespace} has it, not
 * {@link Character#isWhitespace} (which leaves out no-break spaces and counts U+001C…U+001F).
 */
final class CharClasses {
    private CharClasses() {
    }

    /** Unicode {@code White_Space}: what the pre-tokenizer splits on and {@code clean_text} turns into a space. */
    static boolean isWhitespace(int c) {
        return switch (c) {
            case 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000 -> true;
            default -> c >= 0x2000 && c <= 0x200A;
        };
    }

    /**
     * What BERT's {@code clean_text} removes besides U+0000 and U+FFFD: the categories Cc, Cf, Co and Cs (Unicode
     * 8.0) except tab, newline and carriage return. Unassigned code points (Cn) are kept, as Hugging Face keeps them.
     */
    static boolean isControl(int c) {
        return c != '\t' && c != '\n' && c != '\r' && Unicode80Categories.contains(Unicode80Categories.OTHER, c);
    }

    /** ASCII punctuation or a Unicode 8.0 punctuation category (Pc, Pd, Ps, Pe, Pi, Pf, Po): each is a token. */
    static boolean isPunctuation(int c) {
        if (c < 0x80) {
            return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60)
                    || (c >= 0x7B && c <= 0x7E);
        }
        return Unicode80Categories.contains(Unicode80Categories.PUNCTUATION, c);
    }

    /** The CJK ideograph blocks of BERT's {@code handle_chinese_chars} (the ranges of Hugging Face's code). */
    static boolean isChinese(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
                || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
                || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }

    /** Non-spacing marks (Mn, Unicode 8.0): what {@code strip_accents} removes after NFD. */
    static boolean isNonspacingMark(int c) {
        return Unicode80Categories.contains(Unicode80Categories.NONSPACING_MARK, c);
    }
}
