package io.attn4j.models.corpus;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A named, ordered list of texts: whole documents as loaded, or their passages.
 *
 * @param name  what the texts are ({@code brown}, {@code brown passages of ~200 words}, a directory path)
 * @param texts the texts, in a stable order (file order)
 */
public record Corpus(String name, List<Text> texts) {
    public Corpus {
        if (name == null || texts == null) {
            throw new IllegalArgumentException("corpus name = " + name + ", texts = " + texts
                    + "; allowed: a name and a list of texts");
        }
        texts = List.copyOf(texts);
    }

    /** The number of texts. */
    public int size() {
        return texts.size();
    }

    /** How many texts each genre has, genres in alphabetical order. */
    public Map<String, Integer> genreCounts() {
        Map<String, Integer> counts = new TreeMap<>();
        for (Text t : texts) {
            counts.merge(t.genre(), 1, Integer::sum);
        }
        return counts;
    }

    /** The texts cut into passages of about {@value Passages#DEFAULT_TARGET_WORDS} words (see {@link Passages}). */
    public Corpus passages() {
        return passages(Passages.DEFAULT_TARGET_WORDS);
    }

    /** The texts cut into passages of about {@code targetWords} words (see {@link Passages}). */
    public Corpus passages(int targetWords) {
        return new Corpus(name + " passages of ~" + targetWords + " words", Passages.split(texts, targetWords));
    }
}
