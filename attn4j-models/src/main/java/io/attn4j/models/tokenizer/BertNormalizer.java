package io.attn4j.models.tokenizer;

import java.text.Normalizer;

/**
 * Hugging Face's {@code BertNormalizer}, applied in its order: {@code clean_text} (drop U+0000, U+FFFD and the
 * "other" categories Cc/Cf/Cn/Co/Cs except tab, newline and carriage return; turn white space into a space),
 * {@code handle_chinese_chars} (a space on both sides of every CJK ideograph), {@code strip_accents} (NFD, then drop
 * non-spacing marks; when the file says {@code null} it follows {@code lowercase}), {@code lowercase} (the full
 * lower-case mapping of each character on its own, so U+0130 becomes {@code i} + U+0307 and a final sigma stays σ).
 * O(length).
 *
 * @param cleanText          {@code clean_text}
 * @param handleChineseChars {@code handle_chinese_chars}
 * @param stripAccents       {@code strip_accents}, already resolved from {@code null}
 * @param lowercase          {@code lowercase}
 */
record BertNormalizer(boolean cleanText, boolean handleChineseChars, boolean stripAccents, boolean lowercase) {

    /** The normalized form of {@code text} (which holds no unpaired surrogate). */
    String normalize(String text) {
        StringBuilder out = new StringBuilder(text.length() + 8);
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            i += Character.charCount(c);
            if (cleanText) {
                if (c == 0 || c == 0xFFFD || CharClasses.isControl(c)) {
                    continue;
                }
                if (CharClasses.isWhitespace(c)) {
                    c = ' ';
                }
            }
            if (handleChineseChars && CharClasses.isChinese(c)) {
                out.append(' ').appendCodePoint(c).append(' ');
            } else {
                out.appendCodePoint(c);
            }
        }
        String s = out.toString();
        if (stripAccents) {
            String nfd = Normalizer.normalize(s, Normalizer.Form.NFD);
            out.setLength(0);
            for (int i = 0; i < nfd.length(); ) {
                int c = nfd.codePointAt(i);
                i += Character.charCount(c);
                if (!CharClasses.isNonspacingMark(c)) {
                    out.appendCodePoint(c);
                }
            }
            s = out.toString();
        }
        if (lowercase) {
            out.setLength(0);
            for (int i = 0; i < s.length(); ) {
                int c = s.codePointAt(i);
                i += Character.charCount(c);
                if (c == 0x130) { // the one unconditional multi-character lower-case mapping (SpecialCasing.txt)
                    out.append('i').append('\u0307');
                } else {
                    out.appendCodePoint(Character.toLowerCase(c));
                }
            }
            s = out.toString();
        }
        return s;
    }
}
