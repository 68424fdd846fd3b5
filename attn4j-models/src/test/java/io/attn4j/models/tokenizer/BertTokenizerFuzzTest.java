package io.attn4j.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * Fuzzes {@link BertTokenizer#encode(String, int)} with the real MiniLM vocabulary: arbitrary text (any UTF-16, so
 * unpaired surrogates too) and any {@code maxLength}. Every call must give a valid encoding or, for a
 * {@code maxLength} with no room for the special tokens, an {@link IllegalArgumentException}; any other exception,
 * a hang or running out of memory is a finding. Without {@code JAZZER_FUZZ=1} the saved inputs replay as a
 * regression test.
 */
class BertTokenizerFuzzTest {
    private static final BertTokenizer TOKENIZER = load();

    private static BertTokenizer load() {
        try {
            return BertTokenizer.load(HuggingFaceReference.miniLmJson());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = "25s")
    void encode(FuzzedDataProvider data) {
        int maxLength = data.consumeInt(-1, 600);
        StringBuilder text = new StringBuilder();
        while (data.remainingBytes() > 0 && text.length() < 4000) {
            switch (data.consumeInt(0, 3)) {
                case 0 -> text.append(data.consumeString(64));
                case 1 -> text.append(data.consumeChar()); // any char, lone surrogates included
                case 2 -> text.appendCodePoint(data.consumeInt(0, Character.MAX_CODE_POINT));
                default -> text.append(data.pickValue(new String[] {"[CLS]", "[SEP]", "[MASK]", " ", "##", "é",
                        "\u0301", "日", "\u0000", "\t"}));
            }
        }
        Encoding e;
        try {
            e = TOKENIZER.encode(text.toString(), maxLength);
        } catch (IllegalArgumentException expected) {
            assertTrue(maxLength < 2, "refused maxLength " + maxLength + ": " + expected.getMessage());
            return;
        }
        int n = e.length();
        assertTrue(n >= 2 && n <= maxLength, "length " + n + " for maxLength " + maxLength);
        assertEquals(101, e.ids()[0]);
        assertEquals(102, e.ids()[n - 1]);
        int previousWord = -1;
        for (int i = 0; i < n; i++) {
            assertTrue(e.ids()[i] >= 0 && e.ids()[i] < TOKENIZER.vocabSize(), "id " + e.ids()[i]);
            assertEquals(0, e.typeIds()[i]);
            assertEquals(1, e.attentionMask()[i]);
            if (i > 0 && i < n - 1) {
                assertTrue(e.wordIds()[i] >= previousWord, "word ids go back at " + i);
                previousWord = e.wordIds()[i];
            }
        }
    }
}
