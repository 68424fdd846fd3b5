package io.attn4j.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.attn4j.util.Json;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Fuzzes the {@code tokenizer.json} loader: raw JSON text, or a small valid file with fields replaced by fuzzed
 * values of any JSON type (wrong types, nulls, negative, fractional and huge ids, deep or odd structures). Every
 * input must load, or be refused with an {@link IllegalArgumentException} (a malformed file) or its subclass
 * {@link UnsupportedTokenizerException}; a loaded tokenizer must then encode fuzzed text validly. Any other
 * exception, a hang or running out of memory is a finding.
 */
class TokenizerJsonFuzzTest {
    /** The JSON paths that get fuzzed values. */
    private static final String[][] PATHS = {
            {"model"}, {"model", "type"}, {"model", "vocab"}, {"model", "vocab", "hello"}, {"model", "vocab", "[UNK]"},
            {"model", "vocab", "##s"}, {"model", "unk_token"}, {"model", "continuing_subword_prefix"},
            {"model", "max_input_chars_per_word"}, {"normalizer"}, {"normalizer", "type"},
            {"normalizer", "lowercase"}, {"normalizer", "strip_accents"}, {"normalizer", "clean_text"},
            {"normalizer", "handle_chinese_chars"}, {"pre_tokenizer"}, {"pre_tokenizer", "type"}, {"post_processor"},
            {"post_processor", "type"}, {"post_processor", "single"}, {"post_processor", "special_tokens"},
            {"post_processor", "special_tokens", "[CLS]", "ids"}, {"added_tokens"}, {"truncation"},
            {"truncation", "max_length"}, {"truncation", "direction"}, {"truncation", "stride"}, {"padding"},
            {"padding", "strategy"}, {"padding", "pad_id"}, {"padding", "pad_to_multiple_of"}, {"version"}};

    @FuzzTest(maxDuration = "25s")
    void load(FuzzedDataProvider data) {
        String json;
        if (data.consumeInt(0, 3) == 0) {
            json = data.consumeString(2000);
        } else {
            Map<String, Object> root = TinyTokenizerJson.create();
            int mutations = data.consumeInt(1, 4);
            for (int i = 0; i < mutations; i++) {
                set(root, PATHS[data.consumeInt(0, PATHS.length - 1)], value(data, 0));
            }
            json = Json.write(root);
        }
        BertTokenizer tokenizer;
        try {
            tokenizer = BertTokenizer.fromJson(json, "fuzzed tokenizer.json");
        } catch (IllegalArgumentException refused) {
            assertTrue(refused.getMessage() != null && !refused.getMessage().isBlank(), "a refusal without a message");
            return;
        }
        int maxLength = data.consumeInt(0, 64);
        String text = data.consumeRemainingAsString();
        Encoding e;
        try {
            e = tokenizer.encode(text, maxLength);
        } catch (IllegalArgumentException refused) {
            assertTrue(maxLength < Math.max(1, tokenizer.specialTokenCount()), refused.getMessage());
            return;
        }
        assertTrue(e.length() <= maxLength, "length " + e.length() + " > maxLength " + maxLength);
        for (int id : e.ids()) {
            assertTrue(id >= 0 && id < tokenizer.vocabSize(), "id " + id + " outside the vocabulary");
        }
        tokenizer.encodeBatch(List.of(text, ""), Math.max(maxLength, tokenizer.specialTokenCount()),
                tokenizer.configuredPadding().orElse(Padding.LONGEST).strategy() == Padding.Strategy.FIXED
                        ? Padding.LONGEST : Padding.LONGEST.toMultipleOf(8));
    }

    /** A fuzzed JSON value of any type. */
    private static Object value(FuzzedDataProvider data, int depth) {
        return switch (data.consumeInt(0, depth > 2 ? 5 : 7)) {
            case 0 -> null;
            case 1 -> data.consumeBoolean();
            case 2 -> (double) data.consumeInt();
            case 3 -> data.pickValue(new Double[] {-1.0, 0.5, 1e300, -0.0, 2147483648.0, 9007199254740993.0,
                    (double) (1 << 24), 30522.0, 3.0});
            case 4 -> data.consumeString(16);
            case 5 -> data.pickValue(new String[] {"WordPiece", "BPE", "BertNormalizer", "BertPreTokenizer",
                    "TemplateProcessing", "BertProcessing", "Right", "Left", "BatchLongest", "[UNK]", "##", ""});
            case 6 -> {
                List<Object> list = new ArrayList<>();
                int n = data.consumeInt(0, 3);
                for (int i = 0; i < n; i++) {
                    list.add(value(data, depth + 1));
                }
                yield list;
            }
            default -> {
                Map<String, Object> map = new LinkedHashMap<>();
                int n = data.consumeInt(0, 3);
                for (int i = 0; i < n; i++) {
                    map.put(data.pickValue(new String[] {"type", "id", "ids", "content", "Fixed", "normalized",
                            "SpecialToken", "Sequence", "type_id", data.consumeString(8)}), value(data, depth + 1));
                }
                yield map;
            }
        };
    }

    @SuppressWarnings("unchecked")
    private static void set(Map<String, Object> root, String[] path, Object value) {
        Map<String, Object> at = root;
        for (int i = 0; i < path.length - 1; i++) {
            if (!(at.get(path[i]) instanceof Map)) {
                return; // an earlier mutation replaced a parent
            }
            at = (Map<String, Object>) at.get(path[i]);
        }
        at.put(path[path.length - 1], value);
    }
}
