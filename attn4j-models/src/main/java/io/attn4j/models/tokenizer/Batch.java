package io.attn4j.models.tokenizer;

/**
 * Encoded texts padded to one length, laid out for a model runtime: each array is {@code [size][length]} flattened
 * row-major (element {@code (row, position)} at {@code row * length + position}), the layout of a
 * {@code [batch, sequence]} tensor.
 *
 * <p>The arrays are the record's own, not copied on access; do not modify them.
 *
 * @param size          the number of texts (rows)
 * @param length        the padded length of every row
 * @param ids           token ids, padding included
 * @param typeIds       segment ids
 * @param attentionMask 1 for real tokens, 0 for padding
 * @param lengths       each row's number of real tokens (the sum of its attention mask)
 */
public record Batch(int size, int length, int[] ids, int[] typeIds, int[] attentionMask, int[] lengths) {
    public Batch {
        long cells = (long) size * length;
        if (size < 0 || length < 0 || ids == null || typeIds == null || attentionMask == null || lengths == null
                || ids.length != cells || typeIds.length != cells || attentionMask.length != cells
                || lengths.length != size) {
            throw new IllegalArgumentException("batch of size " + size + " and length " + length
                    + " with arrays that do not hold size * length elements (and size lengths)");
        }
    }

    /** The token id at {@code position} of {@code row}. */
    public int id(int row, int position) {
        return ids[index(row, position)];
    }

    private int index(int row, int position) {
        if (row < 0 || row >= size || position < 0 || position >= length) {
            throw new IndexOutOfBoundsException("(row, position) = (" + row + ", " + position + "); allowed: row < "
                    + size + ", position < " + length);
        }
        return row * length + position;
    }
}
