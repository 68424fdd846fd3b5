package io.attn4j.models.tokenizer;

import java.util.function.Consumer;

/**
 * Hugging Face's {@code BertPreTokenizer}: the normalized text is split on white space (which is dropped), then
 * every punctuation character (ASCII punctuation or a Unicode P* category) becomes a word of its own. O(length).
 */
final class BertPreTokenizer {
    private BertPreTokenizer() {
    }

    /** Passes each word of {@code normalized} to {@code words}, in order; words are never empty. */
    static void split(String normalized, Consumer<String> words) {
        int start = -1; // start of the current word, or -1 between words
        for (int i = 0; i < normalized.length(); ) {
            int c = normalized.codePointAt(i);
            int next = i + Character.charCount(c);
            if (CharClasses.isWhitespace(c)) {
                if (start >= 0) {
                    words.accept(normalized.substring(start, i));
                    start = -1;
                }
            } else if (CharClasses.isPunctuation(c)) {
                if (start >= 0) {
                    words.accept(normalized.substring(start, i));
                    start = -1;
                }
                words.accept(normalized.substring(i, next));
            } else if (start < 0) {
                start = i;
            }
            i = next;
        }
        if (start >= 0) {
            words.accept(normalized.substring(start));
        }
    }
}
