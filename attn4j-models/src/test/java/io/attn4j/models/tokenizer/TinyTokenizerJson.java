package io.attn4j.models.tokenizer;

import io.attn4j.util.Json;
import java.util.Map;

/** A small, valid BERT {@code tokenizer.json} for tests, as a mutable JSON tree. */
final class TinyTokenizerJson {
    private TinyTokenizerJson() {
    }

    /** A fresh copy: special tokens 0-3, [MASK] 4, hello 5, ##s 6, a 7, ##b 8, e 9, ! 10, added <new> 11. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> create() {
        return (Map<String, Object>) (Map<?, ?>) Json.parse("""
                {
                  "version": "1.0",
                  "truncation": {"direction": "Right", "max_length": 16, "strategy": "LongestFirst", "stride": 0},
                  "padding": {"strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": null,
                              "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
                  "added_tokens": [
                    {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false,
                     "normalized": false, "special": true},
                    {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false,
                     "normalized": false, "special": true},
                    {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false,
                     "normalized": false, "special": true},
                    {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false,
                     "normalized": false, "special": true},
                    {"id": 11, "content": "<new>", "single_word": false, "lstrip": false, "rstrip": false,
                     "normalized": true, "special": false}
                  ],
                  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                                 "strip_accents": null, "lowercase": true},
                  "pre_tokenizer": {"type": "BertPreTokenizer"},
                  "post_processor": {"type": "TemplateProcessing",
                    "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                               {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                    "pair": [],
                    "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                       "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
                  "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
                  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                            "max_input_chars_per_word": 100,
                            "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "hello": 5,
                                      "##s": 6, "a": 7, "##b": 8, "e": 9, "!": 10}}
                }
                """);
    }

    /** A JSON object written as text. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> parse(String json) {
        return (Map<String, Object>) Json.parse(json);
    }

    /** The tree as JSON text. */
    static String write(Map<String, Object> json) {
        return Json.write(json);
    }
}
