package io.attn4j.models.tokenizer;

import java.util.Arrays;

/**
 * One encoded text, ready for a BERT-family encoder: all four arrays have the same length.
 *
 * <p>The arrays are the record's own, not copied on access (an encoding is built once and read by a model
 * runtime); do not modify them. {@code equals} compares contents.
 *
 * @param ids           token ids, special tokens included ({@code [CLS] … [SEP]})
 * @param typeIds       segment (token type) ids from the post-processor's template, 0 for a single text
 * @param attentionMask 1 for a real token, 0 for padding
 * @param wordIds       the index of the word each token comes from (words as the pre-tokenizer splits them, added
 *                      tokens in the text counting as words), -1 for special tokens and padding; as Hugging
 *                      Face's {@code word_ids}
 */
public record Encoding(int[] ids, int[] typeIds, int[] attentionMask, int[] wordIds) {
    public Encoding {
        if (ids == null || typeIds == null || attentionMask == null || wordIds == null
                || typeIds.length != ids.length || attentionMask.length != ids.length
                || wordIds.length != ids.length) {
            throw new IllegalArgumentException("encoding arrays of lengths " + length(ids) + ", " + length(typeIds)
                    + ", " + length(attentionMask) + ", " + length(wordIds) + "; allowed: four arrays of one length");
        }
    }

    private static String length(int[] a) {
        return a == null ? "null" : Integer.toString(a.length);
    }

    /** The number of tokens, padding included. */
    public int length() {
        return ids.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Encoding e && Arrays.equals(ids, e.ids) && Arrays.equals(typeIds, e.typeIds)
                && Arrays.equals(attentionMask, e.attentionMask) && Arrays.equals(wordIds, e.wordIds);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(ids) * 31 + Arrays.hashCode(typeIds);
    }

    @Override
    public String toString() {
        return "Encoding[ids=" + Arrays.toString(ids) + ", typeIds=" + Arrays.toString(typeIds)
                + ", attentionMask=" + Arrays.toString(attentionMask) + ", wordIds=" + Arrays.toString(wordIds) + "]";
    }
}
