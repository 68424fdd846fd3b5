package io.attn4j.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tokenizer's API and the configurations it reads or refuses, on a tiny hand-made {@code tokenizer.json} and on
 * MiniLM's (ids checked by hand against Hugging Face; {@link BertTokenizerParityTest} compares in bulk).
 */
class BertTokenizerTest {
    @TempDir
    Path dir;

    private static BertTokenizer tiny(Consumer<Map<String, Object>> change) {
        Map<String, Object> json = TinyTokenizerJson.create();
        change.accept(json);
        return BertTokenizer.fromJson(TinyTokenizerJson.write(json), "tiny tokenizer.json");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> at(Map<String, Object> json, String key) {
        return (Map<String, Object>) json.get(key);
    }

    @Test
    void miniLmKnownIds() throws IOException {
        BertTokenizer t = BertTokenizer.load(HuggingFaceReference.miniLmJson());
        assertEquals(30522, t.vocabSize());
        assertEquals(101, t.id("[CLS]").orElseThrow());
        assertEquals("[SEP]", t.token(102));
        assertEquals(128, t.configuredMaxLength().orElseThrow());
        assertEquals(Padding.fixed(128), t.configuredPadding().orElseThrow());
        Encoding e = t.encode("Héllo wörld, [CLS] naïve!");
        assertArrayEquals(new int[] {101, 7592, 2088, 1010, 101, 15743, 999, 102}, e.ids());
        assertArrayEquals(new int[] {-1, 0, 1, 2, 3, 4, 5, -1}, e.wordIds());
        assertEquals(List.of("[CLS]", "hello", "world", ",", "[CLS]", "naive", "!", "[SEP]"), t.tokens(e));
        assertArrayEquals(new int[] {101, 102}, t.encode("").ids());
        assertArrayEquals(new int[] {101, 102}, t.encode(" \t\n\u0000 ").ids());
        // a word over max_input_chars_per_word (100) is one [UNK]
        assertArrayEquals(new int[] {101, 100, 102}, t.encode("a".repeat(101)).ids());
        // unpaired surrogates are U+FFFD, which clean_text drops; a valid pair beside them stays
        assertEquals(t.encode("ab 😀"), t.encode("a\uD800b \uDBFF😀"));
    }

    @Test
    void truncationKeepsRoomForTheSpecialTokens() throws IOException {
        BertTokenizer t = BertTokenizer.load(HuggingFaceReference.miniLmJson());
        String text = "one two three four five six seven";
        assertArrayEquals(new int[] {101, 2028, 2048, 2093, 102}, t.encode(text, 5).ids());
        assertArrayEquals(new int[] {101, 102}, t.encode(text, 2).ids());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.encode(text, 1));
        assertTrue(e.getMessage().contains("maxLength = 1; allowed: >= 2"), e.getMessage());
        assertEquals(512, t.encode("word ".repeat(1000)).length());
        assertThrows(IllegalArgumentException.class, () -> t.encode(null, 8));
    }

    @Test
    void batchesArePaddedRowMajor() {
        BertTokenizer t = tiny(json -> { });
        Batch longest = t.encodeBatch(List.of("hello", "hellos a!", ""), 16, Padding.LONGEST);
        assertEquals(3, longest.size());
        assertEquals(6, longest.length());
        assertArrayEquals(new int[] {
                2, 5, 3, 0, 0, 0,
                2, 5, 6, 7, 10, 3,
                2, 3, 0, 0, 0, 0}, longest.ids());
        assertArrayEquals(new int[] {
                1, 1, 1, 0, 0, 0,
                1, 1, 1, 1, 1, 1,
                1, 1, 0, 0, 0, 0}, longest.attentionMask());
        assertArrayEquals(new int[] {3, 6, 2}, longest.lengths());
        assertEquals(7, longest.id(1, 3));
        assertEquals(8, t.encodeBatch(List.of("hello"), 16, Padding.LONGEST.toMultipleOf(8)).length());
        assertEquals(16, t.encodeBatch(List.of("hello"), 16, t.configuredPadding().orElseThrow()).length());
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                () -> t.encodeBatch(List.of("hellos a!"), 16, Padding.fixed(4)));
        assertTrue(tooLong.getMessage().contains("does not fit the fixed padding length 4"), tooLong.getMessage());
        assertEquals(0, t.encodeBatch(List.of(), 16, Padding.LONGEST).size());
    }

    @Test
    void addedTokensMatchRawOrNormalizedText() {
        BertTokenizer t = tiny(json -> { });
        // [CLS] is matched on raw text only (normalized: false); <new> on normalized text (normalized: true)
        assertArrayEquals(new int[] {2, 5, 2, 1, 1, 1, 11, 3}, t.encode("hello[CLS][cls]<NEW>").ids());
        assertEquals(12, t.vocabSize());
        assertEquals("<new>", t.token(11));
        assertEquals(11, t.id("<new>").orElseThrow());
        assertFalse(t.contains("absent"));
    }

    @Test
    void normalizerAndPreTokenizerOptions() {
        BertTokenizer cased = tiny(json -> {
            at(json, "normalizer").put("lowercase", false);
            json.put("post_processor", null);
        });
        assertArrayEquals(new int[] {1, 5, 1, 9}, cased.encode("Hello hello é e").ids(), "no lowercase, no accents strip");
        BertTokenizer stripped = tiny(json -> {
            at(json, "normalizer").put("lowercase", false);
            at(json, "normalizer").put("strip_accents", true);
        });
        assertArrayEquals(new int[] {2, 9, 3}, stripped.encode("é").ids());
        BertTokenizer raw = tiny(json -> {
            json.put("normalizer", null);
            json.put("pre_tokenizer", null);
        });
        assertArrayEquals(new int[] {2, 1, 3}, raw.encode("hello hello").ids(), "one word with a space: [UNK]");
        BertTokenizer bertProcessing = tiny(json -> json.put("post_processor",
                TinyTokenizerJson.parse("{\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", 3], \"cls\": [\"[CLS]\", 2]}")));
        assertArrayEquals(new int[] {2, 5, 3}, bertProcessing.encode("hello").ids());
        BertTokenizer typed = tiny(json -> ((Map<String, Object>) ((Map<?, ?>) ((List<?>) at(json, "post_processor")
                .get("single")).get(1)).get("Sequence")).put("type_id", 1.0));
        assertArrayEquals(new int[] {0, 1, 0}, typed.encode("hello").typeIds());
    }

    @Test
    void refusesWhatItDoesNotImplement() {
        assertUnsupported("model.type = BPE", json -> at(json, "model").put("type", "BPE"));
        assertUnsupported("normalizer.type = Lowercase", json -> at(json, "normalizer").put("type", "Lowercase"));
        assertUnsupported("pre_tokenizer.type = Whitespace", json -> at(json, "pre_tokenizer").put("type", "Whitespace"));
        assertUnsupported("post_processor.type = RobertaProcessing",
                json -> at(json, "post_processor").put("type", "RobertaProcessing"));
        assertUnsupported("truncation.direction = Left", json -> at(json, "truncation").put("direction", "Left"));
        assertUnsupported("truncation.stride = 2", json -> at(json, "truncation").put("stride", 2.0));
        assertUnsupported("padding.direction = Left", json -> at(json, "padding").put("direction", "Left"));
        assertUnsupported("added_tokens[0].lstrip = true",
                json -> ((Map<String, Object>) ((List<?>) json.get("added_tokens")).get(0)).put("lstrip", true));
    }

    @Test
    void refusesMalformedFilesNamingTheField() {
        assertInvalid("model.vocab[\"hello\"] = 1.0E300", json -> at(at(json, "model"), "vocab").put("hello", 1e300));
        assertInvalid("model.vocab[\"hello\"] = -1", json -> at(at(json, "model"), "vocab").put("hello", -1.0));
        assertInvalid("model.vocab[\"hello\"] = 0.5", json -> at(at(json, "model"), "vocab").put("hello", 0.5));
        assertInvalid("an id no other entry has", json -> at(at(json, "model"), "vocab").put("hello", 6.0));
        assertInvalid("model.unk_token = \"[NOPE]\"", json -> at(json, "model").put("unk_token", "[NOPE]"));
        assertInvalid("model.max_input_chars_per_word = \"many\"",
                json -> at(json, "model").put("max_input_chars_per_word", "many"));
        assertInvalid("normalizer.lowercase = \"yes\"", json -> at(json, "normalizer").put("lowercase", "yes"));
        assertInvalid("model = null", json -> json.remove("model"));
        assertInvalid("post_processor.special_tokens[\"[CLS]\"].ids[0] = 99",
                json -> at(at(at(json, "post_processor"), "special_tokens"), "[CLS]").put("ids", List.of(99.0)));
        assertInvalid("padding.pad_id = 12", json -> at(json, "padding").put("pad_id", 12.0));
        assertInvalid("added_tokens = ids [13]", json -> ((Map<String, Object>) ((List<?>) json.get("added_tokens"))
                .get(4)).put("id", 13.0));
        assertInvalid("added_tokens[0].id = 0; allowed: the vocabulary id of \"[UNK]\"", json -> ((Map<String, Object>) ((List<?>) json
                .get("added_tokens")).get(0)).put("content", "[UNK]"));
        IllegalArgumentException notJson = assertThrows(IllegalArgumentException.class,
                () -> BertTokenizer.fromJson("{\"model\": ", "broken.json"));
        assertTrue(notJson.getMessage().startsWith("broken.json is not valid JSON"), notJson.getMessage());
        assertThrows(IllegalArgumentException.class, () -> BertTokenizer.fromJson("[]", "array.json"));
    }

    @Test
    void loadRefusesBytesThatAreNotUtf8() throws IOException {
        Path file = Files.write(dir.resolve("tokenizer.json"), new byte[] {'{', (byte) 0xff, '}'});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BertTokenizer.load(file));
        assertTrue(e.getMessage().contains("is not UTF-8"), e.getMessage());
        Files.writeString(file, TinyTokenizerJson.write(TinyTokenizerJson.create()), StandardCharsets.UTF_8);
        assertEquals(12, BertTokenizer.load(file).vocabSize());
    }

    private static void assertUnsupported(String expected, Consumer<Map<String, Object>> change) {
        UnsupportedTokenizerException e = assertThrows(UnsupportedTokenizerException.class, () -> tiny(change));
        assertTrue(e.getMessage().contains(expected) && e.getMessage().contains("implemented:"), e.getMessage());
    }

    private static void assertInvalid(String expected, Consumer<Map<String, Object>> change) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tiny(change));
        assertFalse(e instanceof UnsupportedTokenizerException, e.getMessage());
        assertTrue(e.getMessage().contains(expected) && e.getMessage().contains("allowed:"), e.getMessage());
    }
}
