package io.attn4j.models.corpus;

/**
 * One text of a corpus: a whole document or a passage of one.
 *
 * @param id    unique within its corpus: the Brown file name ({@code ca01}), a passage of it ({@code ca01#3}), a
 *              file's path relative to a directory corpus, or {@code path:line} for one-document-per-line files
 * @param genre the Brown genre letter ({@code a} … {@code r}), the first directory of a directory corpus's file, or
 *              {@code ""} when there is none
 * @param text  readable text: sentences separated by spaces, paragraphs by a blank line ({@code "\n\n"})
 */
public record Text(String id, String genre, String text) {
    public Text {
        if (id == null || genre == null || text == null) {
            throw new IllegalArgumentException("text fields id = " + id + ", genre = " + genre + ", text "
                    + (text == null ? "= null" : "given") + "; allowed: non-null strings");
        }
    }

    /** The number of whitespace-separated words. */
    public int words() {
        return Passages.countWords(text);
    }
}
