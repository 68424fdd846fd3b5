package io.attn4j.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.attn4j.models.corpus.Corpora;
import io.attn4j.models.corpus.Corpus;
import io.attn4j.models.corpus.Text;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Parity with Hugging Face's own tokenizer (Rust {@code tokenizers} 0.20.0 through DJL 0.30.0's JNI binding, test
 * scope only) on the {@code tokenizer.json} of all-MiniLM-L6-v2: ids, type ids, attention masks and word ids must
 * be equal on every passage of the Brown corpus, on every Brown document truncated to 128 and 512 tokens, on every
 * Unicode code point in three contexts, and on hand-picked hard cases.
 *
 * <p>Unpaired surrogates: Hugging Face's Rust code only sees valid UTF-8, and DJL's JNI conversion of a Java string
 * that holds an unpaired surrogate replaces it with U+FFFD, but then also every supplementary character of that
 * string (its surrogate pairs no longer decode). Ours replaces only the unpaired surrogates; the cases here hold
 * unpaired surrogates or supplementary characters, not both ({@code BertTokenizerTest} covers the mix).
 */
class BertTokenizerParityTest {
    private static Path json;
    private static BertTokenizer ours;

    @BeforeAll
    static void load() throws IOException {
        json = HuggingFaceReference.miniLmJson();
        ours = BertTokenizer.load(json);
    }

    @Test
    void everyBrownPassage() throws IOException {
        Corpus passages = Corpora.resolve("brown").passages();
        int longest = compare(passages.texts(), Integer.MAX_VALUE);
        System.out.printf("tokenizer parity: %d Brown passages equal to Hugging Face's (longest %d tokens)%n",
                passages.size(), longest);
        assertEquals(7368, passages.size(), "the passage rule or the corpus changed");
    }

    @Test
    void everyBrownDocumentTruncated() throws IOException {
        Corpus documents = Corpora.resolve("brown");
        compare(documents.texts(), 512);
        compare(documents.texts(), 128);
        compare(documents.texts().subList(0, 20), 2);
    }

    @Test
    void everyCodePoint() throws IOException {
        List<Text> texts = new ArrayList<>();
        int compared = 0;
        for (int c = 0; c <= Character.MAX_CODE_POINT; c++) {
            if (c == Character.MIN_SURROGATE) {
                c = Character.MAX_SURROGATE + 1;
            }
            String s = Character.toString(c);
            // inside a word, alone, and after a capital (combining marks, lowercasing, accents)
            texts.add(new Text(String.format("U+%04X", c), "", "x" + s + "x " + s + " A" + s));
            if (texts.size() == 20_000 || c == Character.MAX_CODE_POINT) {
                compare(texts, Integer.MAX_VALUE);
                compared += texts.size();
                texts.clear();
            }
        }
        assertEquals(0x110000 - 0x800, compared);
    }

    @Test
    void hardCases() throws IOException {
        List<String> cases = List.of(
                "", " ", "\t\n\r \u00a0\u2003\u3000", "Héllo wörld, naïve café, Ångström, résumé",
                "ñandú, straße, STRASSE, Œuvre, æsir, ǅ, İstanbul, ΣΊΣΥΦΟΣ, ﬁne", "日本語のテキスト、中文字符和한국어",
                "emoji 😀👍🏽👨‍👩‍👧 🥰 ✓ ★ ♥ € £ ¥ © ® ™ ° ± × ÷ → ∞",
                "control \u0000 \u0001 \u0007 \u001f \u007f \u0085 \u200b \u200d \u2028 \u2029 \ufeff \ufffd chars",
                "supercalifragilisticexpialidocious " + "a".repeat(100) + " " + "b".repeat(101) + " "
                        + "é".repeat(101) + " " + "日".repeat(150),
                "mixed!!! punctuation??? ... ---- (a) [b] {c} <d> \"e\" 'f' `g` ~h~ @i #j $k %l ^m &n *o _p +q =r |s"
                        + " \\t /u ¿v? ¡w! «x» „y“ —z– …",
                "[CLS] [SEP] [MASK] [PAD] [UNK] [cls] [CLS[SEP]]x[MASK]y", "a\uD800b \uDC00 end \uDBFF",
                "e\u0301 a\u0308 n\u0303 \u1e9b\u0323 \u0345", "Ⅷ ① ² ½ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ｆｕｌｌｗｉｄｔｈ",
                "The quick brown fox. ".repeat(200));
        List<Text> texts = cases.stream().map(c -> new Text("case", "", c)).toList();
        compare(texts, Integer.MAX_VALUE);
        compare(texts, 512);
        compare(texts, 16);
    }

    /** Compares every text at {@code maxLength} (MAX_VALUE: untruncated); returns the longest encoding. */
    private static int compare(List<Text> texts, int maxLength) throws IOException {
        try (HuggingFaceTokenizer reference = maxLength == Integer.MAX_VALUE ? HuggingFaceReference.untruncated(json)
                : HuggingFaceReference.truncating(json, maxLength)) {
            List<String> strings = texts.stream().map(Text::text).toList();
            var expected = reference.batchEncode(strings);
            int longest = 0;
            for (int i = 0; i < texts.size(); i++) {
                Encoding actual = ours.encode(strings.get(i), maxLength);
                longest = Math.max(longest, actual.length());
                if (!Arrays.equals(expected[i].getIds(), longs(actual.ids()))
                        || !Arrays.equals(expected[i].getTypeIds(), longs(actual.typeIds()))
                        || !Arrays.equals(expected[i].getAttentionMask(), longs(actual.attentionMask()))
                        || !Arrays.equals(expected[i].getWordIds(), longs(actual.wordIds()))) {
                    fail("first mismatch with Hugging Face at maxLength " + maxLength + ": " + texts.get(i).id()
                            + " " + abbreviate(strings.get(i)) + "\n hf:   " + Arrays.toString(expected[i].getTokens())
                            + "\n      " + Arrays.toString(expected[i].getWordIds())
                            + "\n ours: " + ours.tokens(actual) + "\n      " + Arrays.toString(actual.wordIds()));
                }
            }
            return longest;
        }
    }

    private static long[] longs(int[] values) {
        return Arrays.stream(values).asLongStream().toArray();
    }

    /** The text for a message: shortened, with controls and surrogates escaped so reports stay readable. */
    private static String abbreviate(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (int i = 0; i < Math.min(s.length(), 200); i++) {
            char c = s.charAt(i);
            out.append(c < 0x20 || Character.isSurrogate(c) || (c >= 0x7f && c < 0xa0)
                    ? String.format("\\u%04x", (int) c) : String.valueOf(c));
        }
        return out.append(s.length() > 200 ? "…\"" : "\"").toString();
    }
}
