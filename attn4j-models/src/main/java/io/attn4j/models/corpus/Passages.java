package io.attn4j.models.corpus;

import java.text.BreakIterator;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Cuts documents into passages short enough for an encoder (BERT-family models see at most 512 tokens).
 *
 * <p>The rule, the same for every corpus: a document's paragraphs are separated by blank lines, its sentences are
 * found by {@link BreakIterator#getSentenceInstance(Locale)} (US English) within each paragraph, and words are
 * whitespace-separated. A passage is a run of whole sentences of one document, taken in order:
 * <ul>
 *   <li>a sentence that would take a non-empty passage past {@code targetWords} words starts the next passage (a
 *       sentence longer than {@code targetWords} on its own is a passage by itself);</li>
 *   <li>the end of a paragraph closes the passage once it holds at least {@code targetWords / 2} words, so
 *       passages end at paragraph ends where they can.</li>
 * </ul>
 * A passage keeps its paragraph breaks ({@code "\n\n"}) and the spacing within paragraphs. Its id is the document's
 * id, {@code #} and its number from 1 ({@code ca01#1}); its genre is the document's. With the default 200 words the
 * Brown corpus gives 7,368 passages, the longest 335 WordPiece tokens (all-MiniLM-L6-v2), within BERT's 512.
 * O(characters) per document.
 */
public final class Passages {
    /** The default passage length in words. */
    public static final int DEFAULT_TARGET_WORDS = 200;

    private static final Pattern PARAGRAPH_BREAK = Pattern.compile("\\R\\h*\\R\\s*");

    private Passages() {
    }

    /**
     * The passages of every text, in order.
     *
     * @throws IllegalArgumentException if {@code targetWords < 1}
     */
    public static List<Text> split(List<Text> documents, int targetWords) {
        if (targetWords < 1) {
            throw new IllegalArgumentException("targetWords = " + targetWords + "; allowed: >= 1");
        }
        List<Text> passages = new ArrayList<>();
        BreakIterator sentences = BreakIterator.getSentenceInstance(Locale.US);
        for (Text document : documents) {
            split(document, targetWords, sentences, passages);
        }
        return passages;
    }

    private static void split(Text document, int targetWords, BreakIterator sentences, List<Text> out) {
        PassageBuilder passage = new PassageBuilder(document, out);
        for (String paragraph : PARAGRAPH_BREAK.split(document.text().strip())) {
            if (paragraph.isBlank()) {
                continue;
            }
            sentences.setText(paragraph);
            int start = sentences.first();
            for (int end = sentences.next(); end != BreakIterator.DONE; start = end, end = sentences.next()) {
                String sentence = paragraph.substring(start, end);
                int words = countWords(sentence);
                if (passage.words > 0 && words > 0 && passage.words + words > targetWords) {
                    passage.emit();
                }
                passage.add(sentence, words);
            }
            passage.endParagraph();
            if (passage.words >= (targetWords + 1) / 2) {
                passage.emit();
            }
        }
        passage.emit();
    }

    /** The passage under construction: whole paragraphs so far and the part of the current one. */
    private static final class PassageBuilder {
        private final Text document;
        private final List<Text> out;
        private final StringBuilder text = new StringBuilder();
        private final StringBuilder paragraph = new StringBuilder();
        private int words;
        private int number;

        PassageBuilder(Text document, List<Text> out) {
            this.document = document;
            this.out = out;
        }

        void add(String sentence, int sentenceWords) {
            paragraph.append(sentence);
            words += sentenceWords;
        }

        void endParagraph() {
            String part = paragraph.toString().strip();
            paragraph.setLength(0);
            if (!part.isEmpty()) {
                text.append(text.isEmpty() ? "" : "\n\n").append(part);
            }
        }

        void emit() {
            endParagraph();
            if (!text.isEmpty()) {
                out.add(new Text(document.id() + "#" + ++number, document.genre(), text.toString()));
            }
            text.setLength(0);
            words = 0;
        }
    }

    /** The number of maximal runs of non-whitespace characters. */
    static int countWords(CharSequence s) {
        int words = 0;
        boolean inWord = false;
        for (int i = 0; i < s.length(); i++) {
            boolean space = Character.isWhitespace(s.charAt(i)) || Character.isSpaceChar(s.charAt(i));
            if (!space && !inWord) {
                words++;
            }
            inWord = !space;
        }
        return words;
    }
}
