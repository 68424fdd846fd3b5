package io.attn4j.models.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class PassagesTest {
    private static String sentence(int words, String first) {
        return first + " word".repeat(words - 1) + ".";
    }

    @Test
    void packsSentencesUpToTheTargetAndPrefersParagraphEnds() {
        String text = String.join(" ", sentence(4, "A"), sentence(4, "B"), sentence(4, "C")) + "\n\n"
                + String.join(" ", sentence(3, "D"), sentence(6, "E")) + "\n\n"
                + sentence(25, "F") + "\n\n"
                + sentence(2, "G");
        List<Text> passages = Passages.split(List.of(new Text("doc", "g", text)), 10);
        assertEquals(List.of(
                // A+B fit in 10 words, C would pass 10
                new Text("doc#1", "g", sentence(4, "A") + " " + sentence(4, "B")),
                // C ends its paragraph with only 4 words; D joins (7 words, >= 5) and the paragraph end closes it?
                // no: E would pass 10, so C + D close before E
                new Text("doc#2", "g", sentence(4, "C") + "\n\n" + sentence(3, "D")),
                // E (6 words) ends its paragraph with >= 5 words: closed there
                new Text("doc#3", "g", sentence(6, "E")),
                // a sentence longer than the target is a passage of its own
                new Text("doc#4", "g", sentence(25, "F")),
                new Text("doc#5", "g", sentence(2, "G"))), passages);
    }

    @Test
    void shortDocumentsAreOnePassageAndBlankOnesNone() {
        List<Text> passages = Passages.split(List.of(new Text("a", "", "One.\n\n\n  Two.\r\n\r\nThree."),
                new Text("b", "", "  \n\n ")), 200);
        assertEquals(List.of(new Text("a#1", "", "One.\n\nTwo.\n\nThree.")), passages);
    }

    @Test
    void refusesANonPositiveTarget() {
        assertThrows(IllegalArgumentException.class, () -> Passages.split(List.of(), 0));
    }

    @Test
    void countsWords() {
        assertEquals(0, Passages.countWords(" \t\n"));
        assertEquals(3, Passages.countWords(" a b\u00a0c "));
    }
}
