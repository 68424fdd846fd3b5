package io.attn4j.models.tokenizer;

import io.attn4j.util.Json;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * Reads a Hugging Face {@code tokenizer.json} into the parts of a {@link BertTokenizer}, checking every field it
 * uses: a malformed file is an {@link IllegalArgumentException} naming the field (as a JSON path), its value and
 * what is allowed; a configuration that is not implemented is an {@link UnsupportedTokenizerException}. The
 * {@code decoder} section is not read (decoding is not offered).
 */
final class TokenizerJson {
    /** Ids and vocabularies beyond this are refused (the largest real vocabularies hold a few hundred thousand). */
    static final int MAX_VOCAB = 1 << 24;

    private final String source;

    private TokenizerJson(String source) {
        this.source = source;
    }

    /** The parts of a tokenizer, as the file configures them. */
    record Parts(Map<String, Integer> vocab, String[] tokens, WordPiece wordPiece, BertNormalizer normalizer,
                 boolean bertPreTokenizer, AddedTokens rawAddedTokens, AddedTokens normalizedAddedTokens,
                 int[] prefixIds, int[] prefixTypeIds, int sequenceTypeId, int[] suffixIds, int[] suffixTypeIds,
                 OptionalInt truncationMaxLength, Padding padding, int padId, int padTypeId) {
    }

    /** Parses {@code json}; {@code source} names the file in messages. */
    static Parts parse(String json, String source) {
        Object root;
        try {
            root = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source + " is not valid JSON: " + e.getMessage(), e);
        }
        return new TokenizerJson(source).parts(object(root, "", source));
    }

    private Parts parts(Map<String, Object> root) {
        Map<String, Object> model = object(root.get("model"), "model", source);
        String type = string(model, "type", "model");
        if (!type.equals("WordPiece")) {
            throw unsupported("model.type", type, "WordPiece");
        }
        Map<String, Object> vocabJson = object(model.get("vocab"), "model.vocab", source);
        if (vocabJson.isEmpty()) {
            throw invalid("model.vocab", "{}", "a non-empty object of token → id");
        }
        if (vocabJson.size() > MAX_VOCAB) {
            throw invalid("model.vocab", vocabJson.size() + " entries", "at most " + MAX_VOCAB);
        }
        Map<String, Integer> vocab = new HashMap<>(vocabJson.size() * 2);
        String[] idToToken = new String[vocabJson.size()];
        for (Map.Entry<String, Object> e : vocabJson.entrySet()) {
            String path = "model.vocab[" + quoted(e.getKey()) + "]";
            checkUnicode(e.getKey(), path);
            int id = integer(e.getValue(), path, 0, vocabJson.size() - 1);
            if (idToToken[id] != null) {
                throw invalid(path, Integer.toString(id), "an id no other entry has (it is also "
                        + quoted(idToToken[id]) + "'s)");
            }
            idToToken[id] = e.getKey();
            vocab.put(e.getKey(), id);
        }
        String unk = string(model, "unk_token", "model");
        if (!vocab.containsKey(unk)) {
            throw invalid("model.unk_token", quoted(unk), "a token of model.vocab");
        }
        String prefix = string(model, "continuing_subword_prefix", "model");
        int maxChars = integer(model.get("max_input_chars_per_word"), "model.max_input_chars_per_word", 0,
                Integer.MAX_VALUE);

        BertNormalizer normalizer = normalizer(root.get("normalizer"));
        boolean bertPreTokenizer = preTokenizer(root.get("pre_tokenizer"));
        List<String> tokens = new ArrayList<>(List.of(idToToken));
        Map<String, Integer> raw = new LinkedHashMap<>();
        Map<String, Integer> normalized = new LinkedHashMap<>();
        addedTokens(root.get("added_tokens"), vocab, tokens, normalizer, raw, normalized);
        String[] allTokens = tokens.toArray(String[]::new);

        PostProcessor post = postProcessor(root.get("post_processor"), allTokens.length);
        OptionalInt truncation = truncation(root.get("truncation"));
        Map<String, Object> paddingJson = root.get("padding") == null ? null : object(root.get("padding"), "padding",
                source);
        Padding padding = paddingJson == null ? null : padding(paddingJson);
        int padId = paddingJson == null ? vocab.getOrDefault("[PAD]", 0)
                : integer(paddingJson.get("pad_id"), "padding.pad_id", 0, allTokens.length - 1);
        int padTypeId = paddingJson == null ? 0
                : integer(paddingJson.get("pad_type_id"), "padding.pad_type_id", 0, Integer.MAX_VALUE);
        return new Parts(vocab, allTokens, new WordPiece(vocab, vocab.get(unk), prefix, maxChars), normalizer,
                bertPreTokenizer, new AddedTokens(raw), new AddedTokens(normalized), post.prefixIds,
                post.prefixTypeIds, post.sequenceTypeId, post.suffixIds, post.suffixTypeIds, truncation, padding,
                padId, padTypeId);
    }

    private BertNormalizer normalizer(Object json) {
        if (json == null) {
            return null;
        }
        Map<String, Object> n = object(json, "normalizer", source);
        String type = string(n, "type", "normalizer");
        if (!type.equals("BertNormalizer")) {
            throw unsupported("normalizer.type", type, "BertNormalizer or null");
        }
        boolean lowercase = bool(n, "lowercase", "normalizer", true);
        Object strip = n.get("strip_accents");
        boolean stripAccents = strip == null ? lowercase : bool(n, "strip_accents", "normalizer", lowercase);
        return new BertNormalizer(bool(n, "clean_text", "normalizer", true),
                bool(n, "handle_chinese_chars", "normalizer", true), stripAccents,
                lowercase);
    }

    private boolean preTokenizer(Object json) {
        if (json == null) {
            return false;
        }
        Map<String, Object> p = object(json, "pre_tokenizer", source);
        String type = string(p, "type", "pre_tokenizer");
        if (!type.equals("BertPreTokenizer")) {
            throw unsupported("pre_tokenizer.type", type, "BertPreTokenizer or null");
        }
        return true;
    }

    /**
     * Added tokens: those already in the vocabulary must have its id; new ones extend it densely. Tokens matched on
     * the raw text go to {@code raw}, those matched on normalized text (normalized with the file's normalizer, as
     * Hugging Face does) to {@code normalized}.
     */
    private void addedTokens(Object json, Map<String, Integer> vocab, List<String> tokens, BertNormalizer normalizer,
                             Map<String, Integer> raw, Map<String, Integer> normalized) {
        if (json == null) {
            return;
        }
        List<Object> list = list(json, "added_tokens");
        Map<Integer, String> beyondVocab = new HashMap<>();
        for (int i = 0; i < list.size(); i++) {
            String path = "added_tokens[" + i + "]";
            Map<String, Object> t = object(list.get(i), path, source);
            String content = string(t, "content", path);
            checkUnicode(content, path + ".content");
            if (content.isEmpty()) {
                throw invalid(path + ".content", "\"\"", "a non-empty string");
            }
            int id = integer(t.get("id"), path + ".id", 0, MAX_VOCAB - 1);
            for (String flag : new String[] {"single_word", "lstrip", "rstrip"}) {
                if (bool(t, flag, path, false)) {
                    throw unsupported(path + "." + flag, "true", "false");
                }
            }
            bool(t, "special", path, false);
            if (!t.containsKey("normalized")) {
                throw invalid(path + ".normalized", "missing", "true or false");
            }
            boolean isNormalized = bool(t, "normalized", path, false);
            if (id < vocab.size()) {
                if (!tokens.get(id).equals(content)) {
                    throw invalid(path + ".id", Integer.toString(id), "the vocabulary id of " + quoted(content)
                            + " (id " + id + " is " + quoted(tokens.get(id)) + ")");
                }
            } else {
                String previous = beyondVocab.putIfAbsent(id, content);
                if (previous != null && !previous.equals(content)) {
                    throw invalid(path + ".id", Integer.toString(id), "an id no other added token has");
                }
            }
            String match = isNormalized && normalizer != null ? normalizer.normalize(content) : content;
            if (match.isEmpty()) {
                throw invalid(path + ".content", quoted(content), "a token that is not empty once normalized");
            }
            Map<String, Integer> target = isNormalized ? normalized : raw;
            Integer other = target.putIfAbsent(match, id);
            if (other != null && other != id) {
                throw invalid(path + ".content", quoted(content), "a token no other added token has");
            }
        }
        for (int id = vocab.size(); id < vocab.size() + beyondVocab.size(); id++) {
            String content = beyondVocab.get(id);
            if (content == null) {
                throw invalid("added_tokens", "ids " + beyondVocab.keySet(), "new tokens numbered on from the"
                        + " vocabulary's " + vocab.size() + " without gaps");
            }
            tokens.add(content);
        }
    }

    /** The single-sequence template: special ids before and after the text, and the text's type id. */
    private record PostProcessor(int[] prefixIds, int[] prefixTypeIds, int sequenceTypeId, int[] suffixIds,
                                 int[] suffixTypeIds) {
    }

    private PostProcessor postProcessor(Object json, int vocabSize) {
        if (json == null) {
            return new PostProcessor(new int[0], new int[0], 0, new int[0], new int[0]);
        }
        Map<String, Object> p = object(json, "post_processor", source);
        String type = string(p, "type", "post_processor");
        return switch (type) {
            case "BertProcessing" -> {
                int cls = pairId(p.get("cls"), "post_processor.cls", vocabSize);
                int sep = pairId(p.get("sep"), "post_processor.sep", vocabSize);
                yield new PostProcessor(new int[] {cls}, new int[] {0}, 0, new int[] {sep}, new int[] {0});
            }
            case "TemplateProcessing" -> template(p, vocabSize);
            default -> throw unsupported("post_processor.type", type, "TemplateProcessing, BertProcessing or null");
        };
    }

    /** {@code ["[CLS]", 101]}: the id. */
    private int pairId(Object json, String path, int vocabSize) {
        List<Object> pair = list(json, path);
        if (pair.size() != 2 || !(pair.get(0) instanceof String)) {
            throw invalid(path, String.valueOf(json), "[token, id]");
        }
        return integer(pair.get(1), path + "[1]", 0, vocabSize - 1);
    }

    private PostProcessor template(Map<String, Object> p, int vocabSize) {
        Map<String, Object> specials = object(p.get("special_tokens"), "post_processor.special_tokens", source);
        List<Object> single = list(p.get("single"), "post_processor.single");
        IntList prefixIds = new IntList();
        IntList prefixTypes = new IntList();
        IntList suffixIds = new IntList();
        IntList suffixTypes = new IntList();
        int sequenceType = -1;
        for (int i = 0; i < single.size(); i++) {
            String path = "post_processor.single[" + i + "]";
            Map<String, Object> piece = object(single.get(i), path, source);
            if (piece.size() != 1) {
                throw invalid(path, String.valueOf(piece), "{\"SpecialToken\": …} or {\"Sequence\": …}");
            }
            String kind = piece.keySet().iterator().next();
            Map<String, Object> body = object(piece.get(kind), path + "." + kind, source);
            int typeId = integer(body.get("type_id"), path + "." + kind + ".type_id", 0, Integer.MAX_VALUE);
            String id = string(body, "id", path + "." + kind);
            switch (kind) {
                case "Sequence" -> {
                    if (!id.equals("A")) {
                        throw unsupported(path + ".Sequence.id", id, "A in a single-sequence template");
                    }
                    if (sequenceType >= 0) {
                        throw invalid(path, "a second Sequence", "one Sequence A");
                    }
                    sequenceType = typeId;
                }
                case "SpecialToken" -> {
                    String specialPath = "post_processor.special_tokens[" + quoted(id) + "]";
                    Map<String, Object> special = object(specials.get(id), specialPath, source);
                    List<Object> ids = list(special.get("ids"), specialPath + ".ids");
                    for (int k = 0; k < ids.size(); k++) {
                        int tokenId = integer(ids.get(k), specialPath + ".ids[" + k + "]", 0, vocabSize - 1);
                        (sequenceType < 0 ? prefixIds : suffixIds).add(tokenId);
                        (sequenceType < 0 ? prefixTypes : suffixTypes).add(typeId);
                    }
                }
                default -> throw invalid(path, kind, "SpecialToken or Sequence");
            }
        }
        if (sequenceType < 0) {
            throw invalid("post_processor.single", String.valueOf(single), "a template with Sequence A");
        }
        return new PostProcessor(prefixIds.toArray(), prefixTypes.toArray(), sequenceType, suffixIds.toArray(),
                suffixTypes.toArray());
    }

    private OptionalInt truncation(Object json) {
        if (json == null) {
            return OptionalInt.empty();
        }
        Map<String, Object> t = object(json, "truncation", source);
        String direction = t.containsKey("direction") ? string(t, "direction", "truncation") : "Right";
        if (!direction.equals("Right")) {
            throw unsupported("truncation.direction", direction, "Right");
        }
        int stride = t.containsKey("stride") ? integer(t.get("stride"), "truncation.stride", 0, Integer.MAX_VALUE) : 0;
        if (stride != 0) {
            throw unsupported("truncation.stride", Integer.toString(stride), "0");
        }
        String strategy = t.containsKey("strategy") ? string(t, "strategy", "truncation") : "LongestFirst";
        if (!strategy.equals("LongestFirst") && !strategy.equals("OnlyFirst")) {
            throw unsupported("truncation.strategy", strategy, "LongestFirst or OnlyFirst (one sequence)");
        }
        return OptionalInt.of(integer(t.get("max_length"), "truncation.max_length", 0, Integer.MAX_VALUE));
    }

    private Padding padding(Map<String, Object> p) {
        String direction = p.containsKey("direction") ? string(p, "direction", "padding") : "Right";
        if (!direction.equals("Right")) {
            throw unsupported("padding.direction", direction, "Right");
        }
        Object strategy = p.get("strategy");
        Padding padding;
        if ("BatchLongest".equals(strategy)) {
            padding = Padding.LONGEST;
        } else if (strategy instanceof Map<?, ?> m && m.size() == 1 && m.containsKey("Fixed")) {
            padding = Padding.fixed(integer(m.get("Fixed"), "padding.strategy.Fixed", 1, Integer.MAX_VALUE));
        } else {
            throw invalid("padding.strategy", String.valueOf(strategy), "\"BatchLongest\" or {\"Fixed\": n}");
        }
        Object multiple = p.get("pad_to_multiple_of");
        return multiple == null ? padding
                : padding.toMultipleOf(integer(multiple, "padding.pad_to_multiple_of", 1, Integer.MAX_VALUE));
    }

    // ---- typed access with messages that name the field ----

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object json, String path, String source) {
        if (json instanceof Map<?, ?> m) {
            return (Map<String, Object>) m;
        }
        throw new IllegalArgumentException(source + ": " + (path.isEmpty() ? "the document" : path) + " = "
                + describe(json) + "; allowed: a JSON object");
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object json, String path) {
        if (json instanceof List<?> l) {
            return (List<Object>) l;
        }
        throw invalid(path, describe(json), "a JSON array");
    }

    private String string(Map<String, Object> object, String key, String path) {
        Object v = object.get(key);
        if (v instanceof String s) {
            return s;
        }
        throw invalid(path.isEmpty() ? key : path + "." + key, describe(v), "a string");
    }

    private boolean bool(Map<String, Object> object, String key, String path, boolean absent) {
        if (!object.containsKey(key)) {
            return absent;
        }
        Object v = object.get(key);
        if (v instanceof Boolean b) {
            return b;
        }
        throw invalid(path + "." + key, describe(v), "true or false");
    }

    private int integer(Object json, String path, int min, int max) {
        if (json instanceof Double d && d == Math.rint(d) && d >= min && d <= max) {
            return (int) (double) d;
        }
        throw invalid(path, describe(json), "an integer in [" + min + ", " + max + "]");
    }

    private void checkUnicode(String s, String path) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw invalid(path, quoted(s), "text without unpaired surrogates (\\u" + Integer.toHexString(c)
                        + " at " + i + ")");
            }
        }
    }

    private static String describe(Object json) {
        if (json == null) {
            return "null (or missing)";
        }
        String s = json instanceof String str ? quoted(str)
                : json instanceof Map ? "an object"
                : json instanceof List ? "an array"
                : json instanceof Double d && d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString(d.longValue())
                : Objects.toString(json);
        return s.length() > 80 ? s.substring(0, 80) + "…" : s;
    }

    private static String quoted(String s) {
        return "\"" + (s.length() > 60 ? s.substring(0, 60) + "…" : s) + "\"";
    }

    private IllegalArgumentException invalid(String path, String value, String allowed) {
        return new IllegalArgumentException(source + ": " + path + " = " + value + "; allowed: " + allowed);
    }

    private UnsupportedTokenizerException unsupported(String path, String value, String implemented) {
        return new UnsupportedTokenizerException(source + ": " + path + " = " + value + " is not implemented;"
                + " implemented: " + implemented);
    }
}
